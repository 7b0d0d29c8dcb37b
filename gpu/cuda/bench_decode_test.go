//go:build cuda

package cuda_test

import (
	"fmt"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/gputest"
)

// BenchmarkDecodeUnfused is BenchmarkDecode (which takes the fused decode
// ops, gpu.FusedDecoder, since the backend has them: 3 launches per layer)
// on the unfused path (6 per layer), both replayed as CUDA graphs, on
// NetSSM's default model in bf16: the two side by side give the fused ops'
// gain. Run by bench/gpu/run.sh (-test.bench Decode).
func BenchmarkDecodeUnfused(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d/graph=true", batch), func(b *testing.B) {
			be := open(b)
			capture := func(step func() error) (func() error, error) {
				g, err := be.Capture(step)
				if err != nil {
					return nil, err
				}
				b.Cleanup(g.Destroy)
				return g.Launch, nil
			}
			gputest.BenchDecodeUnfused(b, be, gputest.NetSSMDefault, batch, gpu.BF16, capture)
		})
	}
}
