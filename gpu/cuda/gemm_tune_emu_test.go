//go:build cudaemu && !cuda

package cuda

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
)

// stubTimerDev is the emulator with a deterministic stub timer and a
// settable capture state, so that the autotuner's whole path runs on the
// emulator: timeRuns really launches the candidate (once) and "times" it
// by a fixed cost per launched kernel (cost), so the winner is known in
// advance.
type stubTimerDev struct {
	device
	capture  bool
	cost     func(kernel string, gz int) float64
	timed    []string // the launches of each timed candidate, joined by "+"
	launched []string
	inTimer  bool
}

func (d *stubTimerDev) launch(name string, gx, gy, gz, block, smem int, args []uint64) error {
	if d.inTimer {
		d.launched = append(d.launched, fmt.Sprintf("%s/z%d", name, gz))
	}
	return d.device.launch(name, gx, gy, gz, block, smem, args)
}

func (d *stubTimerDev) capturing() (bool, error) { return d.capture, nil }

func (d *stubTimerDev) timeRuns(warmup, reps int, f func() error) (float64, error) {
	if warmup < 1 || reps < 1 {
		return 0, fmt.Errorf("stub timer: %d warm-up runs, %d repetitions", warmup, reps)
	}
	d.inTimer, d.launched = true, nil
	err := f()
	d.inTimer = false
	us := 0.0
	for _, l := range d.launched {
		var z int
		name := l[:strings.LastIndex(l, "/z")]
		fmt.Sscanf(l[len(name)+2:], "%d", &z)
		us += d.cost(name, z)
	}
	d.timed = append(d.timed, strings.Join(d.launched, "+"))
	return us, err
}

// tuneFixture is a tuning emulator backend and bf16 operands with their
// host values (bf16-rounded) for checking results.
type tuneFixture struct {
	t   *testing.T
	be  *Backend
	dev *stubTimerDev
}

func newTuneFixture(t *testing.T, cost func(string, int) float64) *tuneFixture {
	be := OpenEmulator()
	d := &stubTimerDev{device: be.dev, cost: cost}
	be.dev = d
	be.GemmTune = true
	return &tuneFixture{t: t, be: be, dev: d}
}

func (f *tuneFixture) upload(dt gpu.DType, n, seed int) (gpu.Buffer, []float64) {
	v := make([]float32, n)
	h := make([]float64, n)
	for i := range v {
		v[i] = float32((i*7+seed*3)%17-8) / 8
		h[i] = float64(v[i]) // exact in bf16
	}
	b, err := f.be.Alloc(dt, n)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.be.Write(b, 0, v); err != nil {
		f.t.Fatal(err)
	}
	return b, h
}

// gemm runs C = alpha A B^T + beta C (A [M,K], B [N,K], C [M,N] f32 in
// rows of ldc, at column 1 when ldc > N) and checks C against the host,
// including the columns outside the view.
func (f *tuneFixture) gemm(M, N, K, ldc int, beta float32) {
	f.t.Helper()
	a, ah := f.upload(gpu.BF16, M*K, 1)
	b, bh := f.upload(gpu.BF16, N*K, 2)
	c, ch := f.upload(gpu.F32, M*ldc, 3)
	off := 0
	if ldc > N {
		off = 1
	}
	const alpha = 0.5
	if err := f.be.Gemm(context.Background(), &gpu.GemmArgs{TransB: true, M: M, N: N, K: K, Alpha: alpha, Beta: beta,
		A: gpu.Dense(a, K), B: gpu.Dense(b, K), C: gpu.Cols(c, ldc, off)}); err != nil {
		f.t.Fatal(err)
	}
	got := make([]float32, M*ldc)
	if err := f.be.Read(got, c, 0); err != nil {
		f.t.Fatal(err)
	}
	for m := 0; m < M; m++ {
		for j := 0; j < ldc; j++ {
			want := ch[m*ldc+j]
			if n := j - off; n >= 0 && n < N {
				s := 0.0
				for k := 0; k < K; k++ {
					s += ah[m*K+k] * bh[n*K+k]
				}
				want = alpha*s + float64(beta)*want
			}
			if math.Abs(float64(got[m*ldc+j])-want) > 1e-4*(1+math.Abs(want)) {
				f.t.Fatalf("C[%d][%d] = %v, want %v", m, j, got[m*ldc+j], want)
			}
		}
	}
	for _, x := range []gpu.Buffer{a, b, c} {
		f.be.Free(x)
	}
}

// tcCost makes 256x128s3w8 the fastest variant and splitting slower.
func tcCost(kernel string, gz int) float64 {
	switch {
	case strings.HasPrefix(kernel, "k_gemm_tc_256x128_"):
		return 3 + float64(gz)
	case strings.HasPrefix(kernel, "k_gemm_tc"):
		return 10 + float64(gz) + float64(len(kernel))/100 // distinct, deterministic
	}
	return 1
}

// TestGemmTune runs the autotuner on the emulator with the stub timer: the
// first call of a key times every candidate on the call's operands and
// caches the fastest; later calls of the key (and of shapes in the same
// buckets) launch it without timing; with Beta 1 C is saved and restored
// around the timings, so the caller's C is accumulated into exactly once
// (checked with a C whose every candidate run would change it); a capture or
// NETSSM_GEMM_TUNE=0 runs the default untimed and caches nothing; and the
// choices are reported with every candidate's time.
func TestGemmTune(t *testing.T) {
	f := newTuneFixture(t, tcCost)
	winner, def := "k_gemm_tc_256x128_nt", "k_gemm_tc_nt"
	nv := len(tcVariants)

	w0, d0 := EmuLaunches(winner), EmuLaunches(def)
	f.gemm(40, 24, 48, 24, 0)
	if len(f.dev.timed) != nv {
		t.Fatalf("first call timed %d candidates, want %d (one per variant): %v", len(f.dev.timed), nv, f.dev.timed)
	}
	if got := EmuLaunches(winner) - w0; got != 2 { // timed once, then the real run
		t.Errorf("%s launched %d times, want 2", winner, got)
	}
	if got := EmuLaunches(def) - d0; got != 1 { // timed only
		t.Errorf("%s launched %d times, want 1", def, got)
	}
	ch := f.be.GemmChoices()
	if len(ch) != 1 || ch[0].Variant != "256x128s3w8" || ch[0].Splits != 1 || len(ch[0].Candidates) != nv {
		t.Fatalf("choices %+v, want one key won by 256x128s3w8 over %d candidates", ch, nv)
	}
	if ch[0].Candidates[0].Variant != tcVariants[0].Name {
		t.Errorf("first candidate %s, want the default %s", ch[0].Candidates[0].Variant, tcVariants[0].Name)
	}
	for _, c := range ch[0].Candidates {
		if c.Err != "" || c.Micros <= 0 {
			t.Errorf("candidate %+v has no time", c)
		}
	}
	rep := f.be.GemmReport()
	wantRep := fmt.Sprintf("gemm nt bf16->f32 beta=0 M<=40 N<=24 K<=48: 256x128s3w8 %.1fus (default %.1fus, %.2fx) <- 128x128s3w8 %.1fus,",
		tcCost(winner, 1), tcCost(def, 1), tcCost(def, 1)/tcCost(winner, 1), tcCost(def, 1))
	if !strings.HasPrefix(rep, wantRep) || !strings.Contains(rep, fmt.Sprintf("128x256s3w8 %.1fus", tcCost("k_gemm_tc_128x256_nt", 1))) {
		t.Errorf("report %q, want it to start %q and list every candidate's time", rep, wantRep)
	}

	// Same key: the same shape and one in the same buckets (M 38 -> 40).
	w0 = EmuLaunches(winner)
	f.gemm(40, 24, 48, 24, 0)
	f.gemm(38, 24, 48, 24, 0)
	if len(f.dev.timed) != nv || len(f.be.GemmChoices()) != 1 {
		t.Errorf("a cached key was timed again: %d timings, %d keys", len(f.dev.timed), len(f.be.GemmChoices()))
	}
	if got := EmuLaunches(winner) - w0; got != 2 {
		t.Errorf("cached calls launched %s %d times, want 2", winner, got)
	}

	// Beta 1 into a strided C: a new key, every candidate accumulating
	// into C, which is restored before the final run; the check in gemm
	// sees C = alpha A B^T + C0, accumulated once.
	w0 = EmuLaunches(winner)
	f.be.ResetPeak()
	peak0 := int64(2*(40*48+24*48) + 4*40*27) // the fixture's A, B (bf16) and C (f32)
	f.gemm(40, 24, 48, 27, 1)
	if len(f.dev.timed) != 2*nv || len(f.be.GemmChoices()) != 2 {
		t.Errorf("beta=1: %d timings, %d keys; want %d and 2", len(f.dev.timed), len(f.be.GemmChoices()), 2*nv)
	}
	if got := EmuLaunches(winner) - w0; got != 2 {
		t.Errorf("beta=1: %s launched %d times, want 2", winner, got)
	}
	if f.be.inUse != 0 || f.be.peak != peak0 {
		// tuning allocates no device memory (no split here: no arena)
		t.Errorf("tuning used device memory: %d bytes in use, peak %d (was %d)", f.be.inUse, f.be.peak, peak0)
	}

	// Capturing: a new key runs the default, untimed, uncached.
	f.dev.capture = true
	d0 = EmuLaunches(def)
	f.gemm(72, 24, 48, 24, 0)
	if len(f.dev.timed) != 2*nv || len(f.be.GemmChoices()) != 2 || EmuLaunches(def)-d0 != 1 {
		t.Errorf("capturing: %d timings, %d keys, default launched %d times; want %d, 2, 1",
			len(f.dev.timed), len(f.be.GemmChoices()), EmuLaunches(def)-d0, 2*nv)
	}
	// ... and a cached key still dispatches to its winner.
	w0 = EmuLaunches(winner)
	f.gemm(40, 24, 48, 24, 0)
	if EmuLaunches(winner)-w0 != 1 {
		t.Errorf("capturing: a cached key did not run its winner")
	}
	f.dev.capture = false
	f.gemm(72, 24, 48, 24, 0)
	if len(f.dev.timed) != 3*nv || len(f.be.GemmChoices()) != 3 {
		t.Errorf("after the capture the key was not tuned: %d timings, %d keys", len(f.dev.timed), len(f.be.GemmChoices()))
	}

	// NETSSM_GEMM_TUNE=0 disables tuning even with GemmTune set.
	t.Setenv("NETSSM_GEMM_TUNE", "0")
	d0 = EmuLaunches(def)
	f.gemm(104, 24, 48, 24, 0)
	if len(f.dev.timed) != 3*nv || len(f.be.GemmChoices()) != 3 || EmuLaunches(def)-d0 != 1 {
		t.Errorf("NETSSM_GEMM_TUNE=0: %d timings, %d keys, default launched %d times", len(f.dev.timed),
			len(f.be.GemmChoices()), EmuLaunches(def)-d0)
	}
	t.Setenv("NETSSM_GEMM_TUNE", "1")

	// GemmKernel forces a variant and skips tuning.
	f.be.GemmKernel = "128x128s4w4"
	f0 := EmuLaunches("k_gemm_tc4_s4_nt")
	f.gemm(136, 24, 48, 24, 0)
	if len(f.dev.timed) != 3*nv || EmuLaunches("k_gemm_tc4_s4_nt")-f0 != 1 {
		t.Errorf("GemmKernel: %d timings, forced kernel launched %d times", len(f.dev.timed), EmuLaunches("k_gemm_tc4_s4_nt")-f0)
	}
	f.be.GemmKernel = ""

	// The emulator's own device has no timer: GemmTune alone tunes nothing.
	plain := OpenEmulator()
	plain.GemmTune = true
	if plain.tuneWanted() {
		t.Errorf("tuning wanted on a device without a timer")
	}
}

// TestGemmTuneSplitK checks that K splits are candidates (the heuristic's
// count and twice it, per variant that splits) and that a winning split is
// cached with its reduction.
func TestGemmTuneSplitK(t *testing.T) {
	// splitting is cheaper here: the most splits win
	f := newTuneFixture(t, func(k string, gz int) float64 {
		if strings.HasPrefix(k, "k_gemm_tc") {
			return 100/float64(gz) + float64(len(k))/100
		}
		return 1
	})
	const M, N, K = 16, 24, 4104
	a := &gpu.GemmArgs{TransB: true, M: M, N: N, K: K}
	var want []string
	for _, c := range f.be.gemmCandidates(a) {
		want = append(want, fmt.Sprintf("%s/%d", tcVariants[c.variant].Name, c.splits))
	}
	// On the emulator's one SM: the 2-blocks-per-SM variants split 2 ways
	// (and 4); the others have one slot, filled by the one tile.
	if got := strings.Join(want, " "); got != "128x128s3w8/2 128x128s3w8/1 128x128s3w8/4 128x128s3w4/1 128x128s3w4/2 128x128s3w4/4 "+
		"128x128s4w8/1 128x128s4w8/2 128x128s4w8/4 128x128s4w4/1 128x128s4w4/2 128x128s4w4/4 "+
		"128x128k64s3w4/1 128x128k64s3w4/2 128x128k64s3w4/4 128x256s3w8/1 256x128s3w8/1" {
		t.Fatalf("candidates %s", got)
	}
	r0 := EmuLaunches("k_gemm_splitk_reduce")
	f.gemm(M, N, K, N, 1)
	ch := f.be.GemmChoices()
	if len(ch) != 1 || ch[0].Splits != 4 || ch[0].Variant != "128x128s3w8" {
		t.Fatalf("choices %+v, want 128x128s3w8 split 4 ways", ch)
	}
	f.gemm(M, N, K, N, 1)
	if len(f.dev.timed) != len(want) {
		t.Errorf("%d timings, want %d", len(f.dev.timed), len(want))
	}
	// 10 candidates split (10 reductions), then two real runs
	if got := EmuLaunches("k_gemm_splitk_reduce") - r0; got != 12 {
		t.Errorf("k_gemm_splitk_reduce launched %d times, want 12", got)
	}
}
