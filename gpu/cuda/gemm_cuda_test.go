//go:build cuda

package cuda_test

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
	"github.com/netssm/netssm/gpu/gputest"
)

// variantNames is every tensor-core variant's GemmKernel name.
func variantNames() []string {
	var names []string
	for _, v := range cuda.GemmVariants() {
		names = append(names, v.Name)
	}
	return names
}

// TestConformanceGemmVariants runs the GEMM conformance cases on every
// tensor-core variant, forced with Backend.GemmKernel (TestConformance
// covers the backend's own choice). Its name matches bench/gpu/run.sh's
// conformance step.
func TestConformanceGemmVariants(t *testing.T) {
	be := open(t)
	for _, v := range variantNames() {
		t.Run(v, func(t *testing.T) {
			be.GemmKernel = v
			defer func() { be.GemmKernel = "" }()
			gputest.TestGemm(t, be)
		})
	}
}

// TestConformanceGemmLarge checks the tensor-core GEMM against the fallback
// kernel at the model's shapes (4,096 or 8,192 tokens; the weight gradients
// split K) and at a large one ragged against the tiles: every variant and
// the autotuner's choice on the smaller ones, the default and the tuned
// choice on the 4096x3352 one (the largest result to read back and
// compare, kept out of the per-variant loop to bound the step's time).
// Its name matches bench/gpu/run.sh's conformance step.
func TestConformanceGemmLarge(t *testing.T) {
	be := open(t)
	gemmVsFallback(t, be, append(variantNames(), ""), [][3]int{{768, 1536, 8192}, {272, 768, 8192}, {1800, 280, 5000}})
	gemmVsFallback(t, be, []string{variantNames()[0], ""}, [][3]int{{4096, 3352, 768}})
}

// TestConformanceGemmTune checks the autotuner on the GPU: tuned GEMMs
// (Beta 1, so the candidates run on a scratch C) agree with the fallback
// kernel, every tuned key has a time for every candidate, and a GEMM
// captured into a CUDA graph is neither timed (which would break the
// capture) nor cached, and replays correctly. The choices are logged.
func TestConformanceGemmTune(t *testing.T) {
	be := open(t)
	be.GemmTune = true
	if os.Getenv("NETSSM_GEMM_TUNE") == "0" {
		t.Skip("NETSSM_GEMM_TUNE=0")
	}
	gemmVsFallback(t, be, []string{""}, [][3]int{{1024, 3352, 768}, {768, 1536, 8192}})
	ch := be.GemmChoices()
	if len(ch) == 0 {
		t.Fatal("no GEMM was tuned")
	}
	for _, c := range ch {
		if len(c.Candidates) < len(cuda.GemmVariants()) {
			t.Errorf("%s: %d candidates, want at least one per variant", c.Key, len(c.Candidates))
		}
		for _, w := range c.Candidates {
			if w.Err != "" || !(w.Micros > 0) {
				t.Errorf("%s: candidate %v", c.Key, w)
			}
		}
	}
	t.Logf("choices:\n%s", be.GemmReport())

	// A new key inside a capture: no tuning, and the graph replays it.
	ctx := context.Background()
	const M, N, K = 96, 200, 256
	vals := func(n int, seed float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(float64(seed) + float64(i)*0.37))
		}
		return v
	}
	up := func(dt gpu.DType, v []float32) gpu.Buffer {
		b, err := be.Alloc(dt, len(v))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { be.Free(b) })
		if err := be.Write(b, 0, v); err != nil {
			t.Fatal(err)
		}
		return b
	}
	av, bv := vals(M*K, 1), vals(N*K, 2)
	a, b := up(gpu.BF16, av), up(gpu.BF16, bv)
	c := up(gpu.F32, make([]float32, M*N))
	n0 := len(be.GemmChoices())
	g, err := be.Capture(func() error {
		return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: M, N: N, K: K, Alpha: 1, A: gpu.Dense(a, K), B: gpu.Dense(b, K), C: gpu.Dense(c, N)})
	})
	if err != nil {
		t.Fatalf("capturing a GEMM with tuning on: %v", err)
	}
	defer g.Destroy()
	if n := len(be.GemmChoices()); n != n0 {
		t.Errorf("a captured GEMM was tuned: %d keys, was %d", n, n0)
	}
	if err := g.Launch(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, M*N)
	if err := be.Read(got, c, 0); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, M*N)
	for m := 0; m < M; m++ {
		for n := 0; n < N; n++ {
			s := 0.0
			for k := 0; k < K; k++ {
				s += float64(gpu.FromBF16Bits(gpu.BF16Bits(av[m*K+k]))) * float64(gpu.FromBF16Bits(gpu.BF16Bits(bv[n*K+k])))
			}
			want[m*N+n] = float32(s)
		}
	}
	if err := gputest.Compare(got, want, gputest.Tol{Atol: 1e-5, Rtol: 1e-4}); err != nil {
		t.Errorf("replayed GEMM: %v", err)
	}
}
