//go:build cudaemu && !cuda

package cuda

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/netssm/netssm/gpu"
)

// barrierRun launches k_grid_barrier_test over nphase rounds (cooperative or
// not) and returns the per-round counts and checks and the barrier words.
func barrierRun(t *testing.T, be *Backend, coop bool, grid, nphase int) (cnt, ok, bar []uint32, err error) {
	t.Helper()
	d := be.dev.(*emuDevice)
	bufs := make([]dptr, 3)
	sizes := []int{2, nphase, nphase}
	for i := range bufs {
		p, aerr := d.alloc(int64(4 * sizes[i]))
		if aerr != nil {
			t.Fatal(aerr)
		}
		defer d.free(p)
		bufs[i] = p
	}
	args := []uint64{uint64(bufs[0]), uint64(bufs[1]), uint64(bufs[2]), intArg(nphase)}
	if coop {
		err = d.coopLaunch("k_grid_barrier_test", grid, 128, 0, args)
	} else {
		err = d.launch("k_grid_barrier_test", grid, 1, 1, 128, 0, args)
	}
	read := func(p dptr, n int) []uint32 {
		out := make([]uint32, n)
		_ = d.dtoh(unsafe.Pointer(&out[0]), p, int64(4*n))
		return out
	}
	return read(bufs[1], nphase), read(bufs[2], nphase), read(bufs[0], 2), err
}

// TestGridBarrierEmu: many barriers over several co-resident blocks; every
// round sees every block's arrival, and the barrier ends each launch with
// its count back at zero (so the next launch can reuse it).
func TestGridBarrierEmu(t *testing.T) {
	be := OpenEmulator()
	defer be.Close()
	be.dev.(*emuDevice).coopBlocks = 8
	for _, grid := range []int{1, 2, 5, 8} {
		const nphase = 40
		cnt, ok, bar, err := barrierRun(t, be, true, grid, nphase)
		if err != nil {
			t.Fatalf("grid %d: %v", grid, err)
		}
		for r := 0; r < nphase; r++ {
			if cnt[r] != uint32(grid) || ok[r] != 1 {
				t.Fatalf("grid %d round %d: count %d (want %d), seen complete after the barrier: %d", grid, r, cnt[r], grid, ok[r])
			}
		}
		if bar[0] != 0 || bar[1] != nphase {
			t.Errorf("grid %d: barrier words after %d barriers: count %d generation %d, want 0 and %d", grid, nphase, bar[0], bar[1], nphase)
		}
	}
}

// TestGridBarrierNotCooperativeEmu: the same kernel launched the ordinary
// way (blocks one after another) cannot pass its first barrier; the
// emulator reports that as a fault rather than hanging.
func TestGridBarrierNotCooperativeEmu(t *testing.T) {
	be := OpenEmulator()
	defer be.Close()
	_, _, _, err := barrierRun(t, be, false, 2, 3)
	if err == nil || !strings.Contains(err.Error(), "spin-wait") {
		t.Fatalf("non-cooperative launch of a grid barrier: %v, want a spin-wait fault", err)
	}
	// A too-large cooperative grid fails as the driver's would (720).
	if _, _, _, err := barrierRun(t, be, true, emuCoopBlocks+1, 3); err == nil {
		t.Fatal("a cooperative grid above the co-resident limit launched")
	} else if c, ok := codeOf(err); !ok || c != 720 {
		t.Fatalf("too-large cooperative grid: %v, want CUresult 720", err)
	}
}

// TestPersistentDecodeErrorsEmu: what cannot become a persistent decode is
// an error naming it; a refused launch is ErrKernelUnfit, and the decode
// launches again once the refusal is lifted.
func TestPersistentDecodeErrorsEmu(t *testing.T) {
	ctx := context.Background()
	be := refusingEmulator(map[string]int{"k_dec_persistent": 701}, nil)
	defer be.Close()
	buf, err := be.Alloc(gpu.F32, 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.NewPersistentDecode(func() error { return be.Fill(ctx, buf, 1) }); err == nil || !strings.Contains(err.Error(), "k_fill") {
		t.Errorf("recording a fill: %v, want an error naming k_fill", err)
	}
	if _, err := be.NewPersistentDecode(func() error { return nil }); err == nil {
		t.Error("an empty recording was accepted")
	}
	want := errors.New("from record")
	if _, err := be.NewPersistentDecode(func() error { return want }); !errors.Is(err, want) {
		t.Errorf("a failing recording: %v, want it wrapped", err)
	}
	// an embedding alone is a valid one-phase program
	ids, _ := be.Alloc(gpu.I32, 2)
	table, _ := be.Alloc(gpu.F32, 4*8)
	out, _ := be.Alloc(gpu.F32, 2*8)
	if err := be.Write(table, 0, []float32{0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 32, 33, 34, 35, 36, 37}); err != nil {
		t.Fatal(err)
	}
	if err := be.WriteInt32(ids, 0, []int32{3, 1}); err != nil {
		t.Fatal(err)
	}
	p, err := be.NewPersistentDecode(func() error {
		return be.Embedding(ctx, &gpu.EmbeddingArgs{Rows: 2, Dim: 8, IDs: ids, Table: table, Out: gpu.Dense(out, 8)})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Destroy()
	if err := p.Launch(); err == nil || !errors.Is(err, ErrKernelUnfit) {
		t.Fatalf("refused launch: %v, want ErrKernelUnfit", err)
	}
	delete(be.dev.(*emuDevice).refuse, "k_dec_persistent")
	if err := p.Launch(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 16)
	if err := be.Read(got, out, 0); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if w := float32(10*[]int{3, 1}[i/8] + i%8); v != w {
			t.Fatalf("embedding[%d] = %g, want %g", i, v, w)
		}
	}
}
