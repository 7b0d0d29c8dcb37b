//go:build cudaemu && !cuda

package generate

import (
	"context"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
)

// TestDeviceGenerationOnEmulator: greedy decoding through the CUDA
// backend's kernels compiled for the host (CGO_ENABLED=1 go test -tags
// cudaemu), with the graph asked for, gives the CPU path's tokens (f32).
func TestDeviceGenerationOnEmulator(t *testing.T) {
	m := tinyModel(t, 14)
	req := Request{Prompts: [][]int32{{3, 1, 4, 1, 5}, {9}}, MaxTokens: 10, EOS: -1, Pkt: -1, Options: DefaultOptions()}
	want, err := Generate(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	be := cuda.OpenEmulator()
	defer be.Close()
	req.Device, req.DeviceDType = be, gpu.F32
	got, err := Generate(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	for r := range want {
		if !equal(got[r], want[r]) {
			t.Errorf("row %d: emulator %v\n                cpu %v", r, got[r], want[r])
		}
	}
}
