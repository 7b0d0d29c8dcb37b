//go:build cudaemu && !cuda

package cuda_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
	"github.com/netssm/netssm/gpu/gputest"
)

// TestGemmPaths checks on the emulator which kernel each kind of GEMM runs
// (so that gputest's aligned cases really exercise the tensor-core path and
// its split-K) and that its ldmatrix reads are free of bank conflicts
// (results are checked against the CPU by gputest.TestGemm).
func TestGemmPaths(t *testing.T) {
	be := cuda.OpenEmulator()
	ctx := context.Background()
	alloc := func(dt gpu.DType, n int, seed int) gpu.Buffer {
		b, err := be.Alloc(dt, n)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((i*7+seed)%13-6) / 8
		}
		if err := be.Write(b, 0, v); err != nil {
			t.Fatal(err)
		}
		return b
	}
	var tcKernels []string
	for _, v := range cuda.GemmVariants() {
		tcKernels = append(tcKernels, v.Kernel(false, true))
	}
	for _, v := range cuda.GemmVariants() {
		for _, c := range []struct {
			name    string
			M, N, K int
			aStride int // A is [M, K] at offset aOff of rows of aStride
			aOff    int
			want    []string // kernels launched
		}{
			{"aligned", 70, 40, 48, 48, 0, []string{"tc"}},
			{"aligned split-K", 20, 30, 4104, 4112, 8, []string{"tc", "k_gemm_splitk_reduce"}},
			{"odd stride", 70, 40, 48, 51, 0, []string{"k_gemm_bf16"}},
			{"odd offset", 70, 40, 48, 56, 3, []string{"k_gemm_bf16"}},
			{"decode", 4, 40, 48, 48, 0, []string{"k_gemv_tb"}},
			{"decode batch 64, no split", 64, 40, 1536, 1536, 0, []string{"tc"}},
		} {
			t.Run(fmt.Sprintf("%s/%s", c.name, v.Name), func(t *testing.T) {
				be.GemmKernel = v.Name
				tc := v.Kernel(false, true)
				if v.BlocksPerSM == 1 && c.name == "aligned split-K" {
					// one tile fills the emulator's one slot: no split
					c.want = []string{"tc"}
				}
				a := alloc(gpu.BF16, c.M*c.aStride, 1)
				b := alloc(gpu.BF16, c.N*c.K, 2)
				out := alloc(gpu.F32, c.M*c.N, 3)
				kernels := append([]string{"k_gemm_splitk_reduce", "k_gemm_bf16", "k_gemv_tb"}, tcKernels...)
				before := map[string]int64{}
				for _, k := range kernels {
					before[k] = cuda.EmuLaunches(k)
				}
				conflicts := cuda.EmuLdmatrixConflicts()
				args := &gpu.GemmArgs{TransB: true, M: c.M, N: c.N, K: c.K, Alpha: 1, Beta: 1,
					A: gpu.Cols(a, c.aStride, c.aOff), B: gpu.Dense(b, c.K), C: gpu.Dense(out, c.N)}
				if err := be.Gemm(ctx, args); err != nil {
					t.Fatal(err)
				}
				for _, k := range kernels {
					n := cuda.EmuLaunches(k) - before[k]
					want := int64(0)
					for _, w := range c.want {
						if w == "tc" {
							w = tc
						}
						if w == k {
							want = 1
						}
					}
					if n != want {
						t.Errorf("%s launched %d times, want %d", k, n, want)
					}
				}
				if d := cuda.EmuLdmatrixConflicts() - conflicts; d != 0 {
					t.Errorf("%d ldmatrix bank conflicts", d)
				}
			})
		}
	}
}

// TestGemmVariants runs all of TestGemm on every tensor-core variant but
// the default (which TestEmulatedConformance covers), forced with
// Backend.GemmKernel, and checks that a bad GemmKernel or GemmWarps is an
// error naming it, not a launch; GemmWarps 4 is the 128x128s3w4 variant.
func TestGemmVariants(t *testing.T) {
	for _, v := range cuda.GemmVariants()[1:] {
		t.Run(v.Name, func(t *testing.T) {
			be := cuda.OpenEmulator()
			be.GemmKernel = v.Name
			gputest.TestGemm(t, be)
		})
	}
	be := cuda.OpenEmulator()
	x, _ := be.Alloc(gpu.BF16, 64)
	gemm := func() error {
		return be.Gemm(context.Background(), &gpu.GemmArgs{M: 8, N: 8, K: 8, Alpha: 1, A: gpu.Dense(x, 8), B: gpu.Dense(x, 8), C: gpu.Dense(x, 8)})
	}
	for _, c := range []struct {
		warps  int
		kernel string
		want   string // "" = no error
	}{
		{6, "", "GemmWarps"},
		{0, "128x128s9w8", "GemmKernel"},
		{8, "128x256s3w8", "disagree"},
		{4, "128x128s3w4", ""},
	} {
		be.GemmWarps, be.GemmKernel = c.warps, c.kernel
		err := gemm()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("GemmWarps %d, GemmKernel %q: got %v, want an error containing %q", c.warps, c.kernel, err, c.want)
		}
	}
	before := cuda.EmuLaunches("k_gemm_tc4_nn")
	be.GemmWarps, be.GemmKernel = 4, ""
	if err := gemm(); err != nil || cuda.EmuLaunches("k_gemm_tc4_nn") != before+1 {
		t.Errorf("GemmWarps 4 did not run k_gemm_tc4_nn (err %v)", err)
	}
}

// TestGemmVsFallback runs the GPU's large-shape comparison
// (TestConformanceGemmLarge) at emulator-sized shapes, so that the test
// itself is known to work before a GPU runs it; 1160 rows are 10 tile rows,
// a full group of 8 in the grouped tile order and a partial one (5 rows of
// the 256-row tiles, one partial group).
func TestGemmVsFallback(t *testing.T) {
	be := cuda.OpenEmulator()
	tc, fb := cuda.EmuLaunches("k_gemm_tc_nt")+cuda.EmuLaunches("k_gemm_tc_tn"), cuda.EmuLaunches("k_gemm_bf16")
	gemmVsFallback(t, be, []string{"", "128x256s3w8", "256x128s3w8", "128x128k64s3w4"}, [][3]int{{136, 40, 72}, {16, 24, 264}, {1160, 136, 16}})
	if cuda.EmuLaunches("k_gemm_tc_nt")+cuda.EmuLaunches("k_gemm_tc_tn") < tc+4 || cuda.EmuLaunches("k_gemm_bf16") < fb+8 {
		t.Errorf("the comparison did not run both kernels")
	}
}
