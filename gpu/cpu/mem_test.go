package cpu_test

import (
	"context"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
)

func TestMemoryStats(t *testing.T) {
	be := cpu.New()
	var _ gpu.MemoryReporter = be
	a, _ := be.Alloc(gpu.F32, 10)  // 40 bytes
	b, _ := be.Alloc(gpu.BF16, 10) // 20 bytes at the device size
	c, _ := be.Alloc(gpu.I32, 5)   // 20 bytes
	if s := be.MemoryStats(); s.InUse != 80 || s.Peak != 80 {
		t.Fatalf("after 3 allocs: %+v, want InUse 80 Peak 80", s)
	}
	be.Free(b)
	be.Free(b) // twice: no double count
	if s := be.MemoryStats(); s.InUse != 60 || s.Peak != 80 {
		t.Fatalf("after a free: %+v, want InUse 60 Peak 80", s)
	}
	be.ResetPeak()
	if s := be.MemoryStats(); s.Peak != 60 {
		t.Fatalf("after ResetPeak: %+v, want Peak 60", s)
	}
	if err := be.Fill(context.Background(), b, 1); err == nil {
		t.Fatal("filling a freed buffer succeeded")
	}
	be.Free(a)
	be.Free(c)
	if s := be.MemoryStats(); s.InUse != 0 {
		t.Fatalf("after freeing all: %+v", s)
	}
}
