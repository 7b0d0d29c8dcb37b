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

// ssdWork is the work of one chunked scan (ssd.cu) at shape a with bf16
// operands: the tensor-core FLOPs its tile kernels execute (2 per
// multiply-add, whole 64x64 tiles, K rounded up to the 32-wide k step,
// diagonal tiles in full) and the DRAM bytes it must move at least (every
// tensor read once per kernel that needs it, the scratch written and read,
// fp32 accumulators read and written once), so that a benchmark can report
// rates and the docs a roofline. backward: the whole SSDBackward, which
// recomputes the chunk states first.
func ssdWork(a *gpu.SSDArgs, backward bool) (flops, bytes float64) {
	ru := func(v, m int) float64 { return float64((v + m - 1) / m * m) }
	const t = 64.0
	nP, nN := float64((a.HeadDim+63)/64), float64((a.State+63)/64)
	rP, rN := ru(a.HeadDim, 32), ru(a.State, 32)
	nc := (a.Seq + a.ChunkSize - 1) / a.ChunkSize
	H, G := float64(a.Heads), float64(a.Groups)
	for c := 0; c < nc; c++ {
		lc := min(a.ChunkSize, a.Seq-c*a.ChunkSize)
		ns := float64((lc + 63) / 64)
		pairs := ns * (ns + 1) / 2
		first, last := 0.0, 0.0
		if c == 0 {
			first = 1
		}
		if c == nc-1 {
			last = 1
		}
		state := H * 2 * t * t * ru(lc, 32) * nP * nN // chunk_state (and bwd_dstate)
		cb := G * pairs * 2 * t * t * rN
		if !backward {
			out := H * ((1-first)*ns*nP*2*t*t*rN + pairs*nP*2*t*t*t)
			flops += float64(a.Batch) * (state + cb + out)
			continue
		}
		dx := (1-last)*ns*nP*2*t*t*rN + pairs*nP*2*t*t*t
		db := pairs*2*t*t*rP + (1-last)*ns*nN*2*t*t*rP + pairs*nN*2*t*t*t
		dc := pairs*2*t*t*rP + (1-first)*ns*nN*2*t*t*rP + pairs*nN*2*t*t*t
		flops += float64(a.Batch) * (2*state + cb + H*(dx+db+dc))
	}
	rows := float64(a.Batch) * float64(a.Seq)
	x, bc, dt := rows*H*float64(a.HeadDim)*2, rows*G*float64(a.State)*2, rows*H*2 // bf16 activations
	ll := float64(min(a.ChunkSize, a.Seq))
	states := float64(a.Batch) * float64(nc) * H * float64(a.HeadDim) * float64(a.State) * 4
	cbB := float64(a.Batch) * float64(nc) * G * ll * ll * 4
	// chunk_state (x, B, C, dt in; S, CB out), chunk_pass (S in, Hin out)
	fwdStates := x + 2*bc + dt + states + cbB + 2*states
	if !backward {
		return flops, fwdStates + x + bc + dt + states + cbB/2 + x // chunk_out: x, C, dt, Hin, CB's lower half in; y out
	}
	accH, accG := rows*H*4, rows*G*float64(a.State)*4
	bytes = fwdStates +
		x + bc + dt + states + // bwd_dstate: dy, C, dt in; dS out
		3*states + // bwd_pass: dS, Hin in; dHend out
		4*x + 2*bc + dt + 2*states + cbB/2 + 2*(4*accH+2*accG) + // k_ssd_bwd: x, dy in, dx out (+x in DB/DC); B, C; Hin, dHend; accumulators
		4*accH + dt + dt + // bwd_dt: accumulators and dt in, ddt out
		2*accG + 2*bc // k_copy2d: dB, dC
	return flops, bytes
}

// TestSSDWork pins the work model to the figures docs/gpu.md quotes for
// NetSSM's layer (24 heads of 64, d_state 128, one group, chunk 256): 10.7
// GFLOP / 0.19 GB forward and 44.3 GFLOP / 0.44 GB backward at 8,192
// tokens; 132 GFLOP / 2.4 GB and 544 GFLOP / 5.4 GB at 100,000.
func TestSSDWork(t *testing.T) {
	for _, c := range []struct {
		T                 int
		bwd               bool
		gflop, gflopTop   float64
		mbytes, mbytesTop float64
	}{
		{8192, false, 10.6, 10.8, 190, 200},
		{8192, true, 44, 44.6, 430, 450},
		{100000, false, 131, 133, 2350, 2400},
		{100000, true, 540, 548, 5330, 5420},
	} {
		a := &gpu.SSDArgs{Batch: 1, Seq: c.T, Heads: 24, HeadDim: 64, Groups: 1, State: 128, ChunkSize: 256}
		f, b := ssdWork(a, c.bwd)
		t.Logf("T=%d backward=%v: %.1f GFLOP, %.0f MB", c.T, c.bwd, f/1e9, b/1e6)
		if f/1e9 < c.gflop || f/1e9 > c.gflopTop || b/1e6 < c.mbytes || b/1e6 > c.mbytesTop {
			t.Errorf("T=%d backward=%v: %.2f GFLOP, %.0f MB; the doc says %v..%v GFLOP, %v..%v MB", c.T, c.bwd, f/1e9, b/1e6,
				c.gflop, c.gflopTop, c.mbytes, c.mbytesTop)
		}
	}
}
