//go:build cudaemu && !cuda

package cuda_test

import (
	"context"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
)

// TestEmulatedMemoryStats checks the byte accounting of buffers and of the
// scratch arena (SumSquares takes 8 bytes of it).
func TestEmulatedMemoryStats(t *testing.T) {
	be := cuda.OpenEmulator()
	defer be.Close()
	var r gpu.MemoryReporter = be
	a, err := be.Alloc(gpu.BF16, 100) // 200 bytes
	if err != nil {
		t.Fatal(err)
	}
	b, err := be.Alloc(gpu.F32, 10) // 40 bytes
	if err != nil {
		t.Fatal(err)
	}
	if s := r.MemoryStats(); s.InUse != 240 || s.Peak != 240 || s.DeviceTotal != 0 {
		t.Fatalf("after allocs: %+v, want InUse 240 Peak 240, no device figures", s)
	}
	if _, err := be.SumSquares(context.Background(), []gpu.Buffer{b}); err != nil {
		t.Fatal(err)
	}
	withScratch := r.MemoryStats().InUse
	if withScratch <= 240 {
		t.Fatalf("scratch not counted: InUse %d after SumSquares", withScratch)
	}
	be.Free(a)
	if s := r.MemoryStats(); s.InUse != withScratch-200 || s.Peak != withScratch {
		t.Fatalf("after Free: %+v, want InUse %d Peak %d", s, withScratch-200, withScratch)
	}
	r.ResetPeak()
	if s := r.MemoryStats(); s.Peak != s.InUse {
		t.Fatalf("after ResetPeak: %+v", s)
	}
}
