//go:build cuda

package cuda_test

import (
	"context"
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

// TestGraphReplayFusedDecode checks that a decode step on the fused ops
// (gputest.Decoder on a backend with gpu.FusedDecoder) replayed from a CUDA
// graph gives the same logits as launching it directly, step after step
// (the states advance in place in both), on a small model in bf16.
func TestGraphReplayFusedDecode(t *testing.T) {
	be := open(t)
	ctx := context.Background()
	cfg := gputest.Config{V: 40, Dm: 64, Layers: 2, Inner: 128, HeadDim: 32, Groups: 1, State: 32, Conv: 4, Chunk: 16}
	const batch, steps = 2, 5
	var dec [2]*gputest.Decoder
	for i := range dec {
		m, err := gputest.NewModel(be, cfg, 1, gpu.BF16, 3)
		if err != nil {
			t.Fatal(err)
		}
		if dec[i], err = gputest.NewDecoder(m, batch); err != nil {
			t.Fatal(err)
		}
	}
	g, err := be.Capture(func() error { return dec[1].Step(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	defer g.Destroy()
	toks := []int32{3, 17}
	for s := 0; s < steps; s++ {
		var lg [2][]float32
		for i, d := range dec {
			if err := d.SetTokens(toks); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				err = d.Step(ctx)
			} else {
				err = g.Launch()
			}
			if err == nil {
				err = be.Sync(ctx)
			}
			if err != nil {
				t.Fatalf("step %d: %v", s, err)
			}
			lg[i] = make([]float32, batch*cfg.V)
			if err := be.Read(lg[i], d.Logits, 0); err != nil {
				t.Fatal(err)
			}
		}
		for j := range lg[0] {
			if lg[0][j] != lg[1][j] {
				t.Fatalf("step %d: logit %d is %v replayed, %v launched directly", s, j, lg[1][j], lg[0][j])
			}
		}
		if toks, err = dec[0].Greedy(); err != nil {
			t.Fatal(err)
		}
	}
}
