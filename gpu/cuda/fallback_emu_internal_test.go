//go:build cudaemu && !cuda

package cuda

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	_ "github.com/netssm/netssm/gpu/cpu" // gputest's reference
	"github.com/netssm/netssm/gpu/gputest"
)

// refusingEmulator is the emulator whose device refuses the named kernels
// with the given CUresult, and lowers the block limit of others (both as
// a GPU would after a JIT with more registers), with the kernel attributes
// re-read.
func refusingEmulator(refuse, maxThreads map[string]int) *Backend {
	be := OpenEmulator()
	d := be.dev.(*emuDevice)
	d.refuse, d.maxThreads = refuse, maxThreads
	be.loadKernelInfo()
	return be
}

// tcKernels are the four kernels (transposes) of tensor-core variant vi.
func tcKernels(vi int) []string {
	var out []string
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			out = append(out, tcVariants[vi].Kernel(ta, tb))
		}
	}
	return out
}

func hasLine(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestGemmFallsBackToBF16 refuses every tensor-core kernel (701 for the
// default variant, 1 for a forced one): gputest.TestGemm must still pass,
// on k_gemm_bf16, and the report must say so.
func TestGemmFallsBackToBF16(t *testing.T) {
	refuse := map[string]int{}
	for _, k := range tcKernels(0) {
		refuse[k] = 701
	}
	for _, k := range tcKernels(5) {
		refuse[k] = 1
	}
	be := refusingEmulator(refuse, nil)
	be.GemmKernel = tcVariants[5].Name
	gputest.TestGemm(t, be)
	fb := be.Fallbacks()
	if !hasLine(fb, "unusable k_gemm_tc_128x256_", "CUDA_ERROR_INVALID_VALUE") ||
		!hasLine(fb, "unusable k_gemm_tc_", "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES") ||
		!hasLine(fb, "-> 128x128s3w8") || !hasLine(fb, "-> k_gemm_bf16") {
		t.Errorf("fallbacks reported:\n%s", strings.Join(fb, "\n"))
	}
	if !strings.Contains(be.KernelReport(), "-> k_gemm_bf16") {
		t.Errorf("KernelReport lacks the fallbacks:\n%s", be.KernelReport())
	}
}

// TestGemmUnfitVariantNotLaunched lowers a forced variant's block limit
// below its 256 threads: the backend must not launch it (the unusable
// entry is its own refusal, CUresult 0), run the default variant instead,
// and get C right, with beta != 0 (C accumulated into exactly once).
func TestGemmUnfitVariantNotLaunched(t *testing.T) {
	be := refusingEmulator(nil, map[string]int{tcVariants[5].Kernel(false, true): 128})
	be.GemmKernel = tcVariants[5].Name
	f := &tuneFixture{t: t, be: be}
	f.gemm(40, 48, 64, 48, 0.5)
	var le *LaunchError
	err := be.unusable[tcVariants[5].Kernel(false, true)]
	if !errors.As(err, &le) || le.Code != 0 || !strings.Contains(le.Reason, "at most 128") || !errors.Is(err, ErrKernelUnfit) {
		t.Fatalf("unusable entry %v, want the backend's own refusal naming the 128-thread limit", err)
	}
	if !hasLine(be.Fallbacks(), "gemm 128x256s3w8", "-> 128x128s3w8") {
		t.Errorf("fallbacks: %q", be.Fallbacks())
	}
	if hasLine(be.Fallbacks(), "k_gemm_bf16") {
		t.Errorf("fell back further than the default variant: %q", be.Fallbacks())
	}
}

// TestGemmTuneSkipsRefused refuses the variant the stub timer makes
// fastest: tuning must finish, pick another variant, leave C right (beta
// != 0), report the refusal, and not launch the refused kernel again.
func TestGemmTuneSkipsRefused(t *testing.T) {
	f := newTuneFixture(t, tcCost)
	refused := tcVariants[6].Kernel(false, true) // 256x128s3w8, the stub's fastest
	f.be.dev.(*stubTimerDev).device.(*emuDevice).refuse = map[string]int{refused: 701}
	f.gemm(48, 40, 64, 41, 0.25)
	ch := f.be.GemmChoices()
	if len(ch) != 1 {
		t.Fatalf("%d choices, want 1", len(ch))
	}
	if ch[0].Variant == tcVariants[6].Name {
		t.Fatalf("the refused variant won: %v", ch[0])
	}
	var failed bool
	for _, c := range ch[0].Candidates {
		if c.Variant == tcVariants[6].Name {
			failed = strings.Contains(c.Err, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES")
		}
	}
	if !failed {
		t.Fatalf("the refused candidate is not reported as failed: %v", ch[0])
	}
	// A new key tunes again: the refused kernel is skipped, not launched.
	f.dev.timed = nil
	f.gemm(100, 90, 64, 90, 0)
	for _, l := range f.dev.timed {
		if strings.Contains(l, refused) {
			t.Fatalf("refused kernel launched again: %q", f.dev.timed)
		}
	}
	ch = f.be.GemmChoices()
	if n := len(ch); n != 2 || !strings.Contains(ch[1].String(), "skipped: ") {
		t.Fatalf("second tuning: %v", ch)
	}
}

// ssdFixture is a small SSD problem on one backend.
type ssdFixture struct {
	args       *gpu.SSDArgs
	y, fs      gpu.Buffer
	ny, nstate int
}

func newSSDFixture(t *testing.T, be *Backend) *ssdFixture {
	const B, T, H, P, G, N, L = 1, 20, 2, 8, 1, 16, 8
	conv := H*P + 2*G*N
	up := func(dt gpu.DType, n int, f func(i int) float64) gpu.Buffer {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(f(i))
		}
		b, err := be.Alloc(dt, n)
		if err == nil {
			err = be.Write(b, 0, v)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wave := func(i int) float64 { return math.Sin(float64(i)*0.37) * 0.8 }
	x := up(gpu.F32, B*T*conv, wave)
	dt := up(gpu.F32, B*T*H, func(i int) float64 { return 0.5 + 0.3*math.Cos(float64(i)) })
	bias := up(gpu.F32, H, func(i int) float64 { return -1 + 0.5*float64(i) })
	alog := up(gpu.F32, H, func(i int) float64 { return 0.3 + float64(i) })
	d := up(gpu.F32, H, func(i int) float64 { return 0.1 * float64(i+1) })
	f := &ssdFixture{ny: B * T * H * P, nstate: B * H * P * N}
	f.y = up(gpu.F32, f.ny, func(int) float64 { return 0 })
	f.fs = up(gpu.F32, f.nstate, func(int) float64 { return 0 })
	f.args = &gpu.SSDArgs{Batch: B, Seq: T, Heads: H, HeadDim: P, Groups: G, State: N, ChunkSize: L,
		X: gpu.Cols(x, conv, 0), B: gpu.Cols(x, conv, H*P), C: gpu.Cols(x, conv, H*P+G*N),
		DT: gpu.Dense(dt, H), DTBias: bias, ALog: alog, D: d, Y: gpu.Dense(f.y, H*P), FinalState: f.fs}
	return f
}

func (f *ssdFixture) read(t *testing.T, be *Backend) []float32 {
	out := make([]float32, f.ny+f.nstate)
	if err := be.Read(out[:f.ny], f.y, 0); err != nil {
		t.Fatal(err)
	}
	if err := be.Read(out[f.ny:], f.fs, 0); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSSDFallsBackToSequential refuses k_ssd_chunk_out: the forward must
// give exactly what SequentialScan gives (the same kernel), the fallback
// must be reported, and with k_ssd_fwd refused too the error must name
// both kernels; a refused backward kernel gives ErrKernelUnfit naming it.
func TestSSDFallsBackToSequential(t *testing.T) {
	ctx := context.Background()
	ref := OpenEmulator()
	ref.SequentialScan = true
	rf := newSSDFixture(t, ref)
	if err := ref.SSD(ctx, rf.args); err != nil {
		t.Fatal(err)
	}
	want := rf.read(t, ref)

	be := refusingEmulator(map[string]int{"k_ssd_chunk_out": 701, "k_ssd_bwd_dstate": 1}, nil)
	f := newSSDFixture(t, be)
	if err := be.SSD(ctx, f.args); err != nil {
		t.Fatalf("ssd with k_ssd_chunk_out refused: %v", err)
	}
	got := f.read(t, be)
	nonzero := false
	for i := range want {
		nonzero = nonzero || want[i] != 0
		if got[i] != want[i] {
			t.Fatalf("output %d: %v, want %v (the sequential scan's)", i, got[i], want[i])
		}
	}
	if !nonzero {
		t.Fatal("the reference output is all zero")
	}
	if !hasLine(be.Fallbacks(), "ssd forward: k_ssd_chunk_out unusable -> sequential scan k_ssd_fwd") {
		t.Errorf("fallbacks: %q", be.Fallbacks())
	}

	a := *f.args
	dy, _ := be.Alloc(gpu.F32, f.ny)
	ddt, _ := be.Alloc(gpu.F32, 20*2)
	g1, _ := be.Alloc(gpu.F32, 2)
	g2, _ := be.Alloc(gpu.F32, 2)
	g3, _ := be.Alloc(gpu.F32, 2)
	conv := 2*8 + 2*16
	dxb, _ := be.Alloc(gpu.F32, 20*conv)
	a.DY, a.DX, a.DB, a.DC = gpu.Dense(dy, 16), gpu.Cols(dxb, conv, 0), gpu.Cols(dxb, conv, 16), gpu.Cols(dxb, conv, 32)
	a.DDT, a.DDTBias, a.DALog, a.DD = gpu.Dense(ddt, 2), g1, g2, g3
	err := be.SSDBackward(ctx, &a)
	if !errors.Is(err, ErrKernelUnfit) || !strings.Contains(err.Error(), "k_ssd_bwd_dstate") || !strings.Contains(err.Error(), "no fallback") {
		t.Errorf("backward with k_ssd_bwd_dstate refused: %v", err)
	}

	both := refusingEmulator(map[string]int{"k_ssd_chunk_state": 701, "k_ssd_fwd": 701}, nil)
	f2 := newSSDFixture(t, both)
	err = both.SSD(ctx, f2.args)
	if err == nil || !strings.Contains(err.Error(), "k_ssd_chunk_state") || !strings.Contains(err.Error(), "k_ssd_fwd") {
		t.Errorf("ssd with both forwards refused: %v, want an error naming both kernels", err)
	}
}

// TestStickyLaunchError makes a kernel fault (700): the error must say the
// context is lost, and every later call fail with ErrContextLost without
// falling back or launching; Close must still succeed.
func TestStickyLaunchError(t *testing.T) {
	be := refusingEmulator(map[string]int{tcVariants[0].Kernel(false, true): 700}, nil)
	f := newSSDFixture(t, be) // allocations before the fault
	a, _ := be.Alloc(gpu.BF16, 64*32)
	b, _ := be.Alloc(gpu.BF16, 64*32)
	c, _ := be.Alloc(gpu.F32, 64*64)
	err := be.Gemm(context.Background(), &gpu.GemmArgs{TransB: true, M: 64, N: 64, K: 32, Alpha: 1,
		A: gpu.Dense(a, 32), B: gpu.Dense(b, 32), C: gpu.Dense(c, 64)})
	if !errors.Is(err, ErrContextLost) || errors.Is(err, ErrKernelUnfit) || !strings.Contains(err.Error(), "context is lost") {
		t.Fatalf("gemm with a faulting kernel: %v", err)
	}
	if len(be.unusable) != 0 || len(be.fallbacks) != 0 {
		t.Errorf("fell back after a sticky error: %q", be.Fallbacks())
	}
	if err := be.SSD(context.Background(), f.args); !errors.Is(err, ErrContextLost) {
		t.Errorf("ssd after the fault: %v, want ErrContextLost", err)
	}
	if _, err := be.Alloc(gpu.F32, 4); !errors.Is(err, ErrContextLost) {
		t.Errorf("alloc after the fault: %v, want ErrContextLost", err)
	}
	if err := be.Sync(context.Background()); !errors.Is(err, ErrContextLost) {
		t.Errorf("sync after the fault: %v, want ErrContextLost", err)
	}
	if !hasLine(be.Fallbacks(), "context lost") {
		t.Errorf("report: %q", be.Fallbacks())
	}
	if err := be.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestKernelInfo checks the emulator's attribute table and the report.
func TestKernelInfo(t *testing.T) {
	be := refusingEmulator(nil, map[string]int{"k_ssd_bwd": 256})
	ki := be.KernelInfo()
	if len(ki) < 40 {
		t.Fatalf("%d kernels reported", len(ki))
	}
	for _, k := range ki {
		want := 1024
		if k.Name == "k_ssd_bwd" {
			want = 256
		}
		if k.MaxThreadsPerBlock != want {
			t.Errorf("%s: MaxThreadsPerBlock %d, want %d", k.Name, k.MaxThreadsPerBlock, want)
		}
	}
	if be.MaxSharedOptin() != emuMaxDynSmem {
		t.Errorf("opt-in shared memory %d, want %d", be.MaxSharedOptin(), emuMaxDynSmem)
	}
	r := be.KernelReport()
	if !strings.Contains(r, "kernel k_ssd_bwd ") || !strings.Contains(r, "block <= 256") || strings.Contains(r, "fallback") {
		t.Errorf("report:\n%s", r)
	}
	if why := be.fits("k_gemm_tc_nt", 256, emuMaxDynSmem+1); why == "" {
		t.Error("a launch over the opt-in shared memory fits")
	}
}
