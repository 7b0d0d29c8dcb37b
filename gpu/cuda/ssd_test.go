//go:build cuda || cudaemu

package cuda_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
)

// TestSSDScratchBytes checks the scan's scratch against the layout its doc
// states (so that a memory plan can trust it), the numbers the doc quotes for
// NetSSM's layer, and the errors for shapes the kernels do not take.
func TestSSDScratchBytes(t *testing.T) {
	const H, P, N, L = 24, 64, 128, 256
	for _, T := range []int{8192, 8193, 100000} {
		a := &gpu.SSDArgs{Batch: 1, Seq: T, Heads: H, HeadDim: P, Groups: 1, State: N, ChunkSize: L}
		nc := int64((T + L - 1) / L)
		ll := int64(min(T, L))
		states, perChunk, cb := nc*H*P*N, nc*H, nc*ll*ll // one group
		wantF := 4 * (states + perChunk + cb)
		wantB := wantF + 4*(states+perChunk+4*int64(T)*H+2*int64(T)*N+2*H)
		for _, c := range []struct {
			bwd  bool
			want int64
		}{{false, wantF}, {true, wantB}} {
			got, err := cuda.SSDScratchBytes(a, c.bwd)
			if err != nil || got != c.want {
				t.Errorf("T=%d backward=%v: SSDScratchBytes = %d, %v; want %d", T, c.bwd, got, err, c.want)
			}
		}
	}
	// the doc's figures: 34 MB / 70 MB at 8,192 tokens, 0.41 GB / 0.86 GB at 100,000
	for _, c := range []struct {
		T       int
		bwd     bool
		lo, top float64 // MB
	}{{8192, false, 33.5, 34}, {8192, true, 70, 70.5}, {100000, false, 405, 415}, {100000, true, 855, 865}} {
		a := &gpu.SSDArgs{Batch: 1, Seq: c.T, Heads: H, HeadDim: P, Groups: 1, State: N, ChunkSize: L}
		got, _ := cuda.SSDScratchBytes(a, c.bwd)
		if mb := float64(got) / 1e6; mb < c.lo || mb > c.top {
			t.Errorf("T=%d backward=%v: %.1f MB, the doc says %v..%v", c.T, c.bwd, mb, c.lo, c.top)
		}
	}
	big := &gpu.SSDArgs{Batch: 1, Seq: 4096, Heads: H, HeadDim: P, Groups: 1, State: N, ChunkSize: 2048}
	if _, err := cuda.SSDScratchBytes(big, false); !errors.Is(err, gpu.ErrNotImplemented) || !strings.Contains(err.Error(), "ChunkSize") {
		t.Errorf("ChunkSize 2048: err = %v, want ErrNotImplemented naming ChunkSize", err)
	}
	bad := &gpu.SSDArgs{Batch: 1, Seq: 16, Heads: 0, HeadDim: P, Groups: 1, State: N, ChunkSize: L}
	if _, err := cuda.SSDScratchBytes(bad, true); err == nil || !strings.Contains(err.Error(), "Heads") {
		t.Errorf("Heads 0: err = %v, want an error naming Heads", err)
	}
}
