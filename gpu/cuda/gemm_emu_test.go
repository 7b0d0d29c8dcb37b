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
	for _, warps := range []int{0, 4} {
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
			t.Run(fmt.Sprintf("%s/warps=%d", c.name, warps), func(t *testing.T) {
				be.GemmWarps = warps
				tc := "k_gemm_tc_nt"
				if warps == 4 {
					tc = "k_gemm_tc4_nt"
				}
				a := alloc(gpu.BF16, c.M*c.aStride, 1)
				b := alloc(gpu.BF16, c.N*c.K, 2)
				out := alloc(gpu.F32, c.M*c.N, 3)
				kernels := []string{"k_gemm_tc_nt", "k_gemm_tc4_nt", "k_gemm_splitk_reduce", "k_gemm_bf16", "k_gemv_tb"}
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

// TestGemmWarpsOption checks the 4-warp tensor-core variant against the CPU
// (the whole TestGemm; the default variant runs in TestEmulatedConformance)
// and that a bad Backend.GemmWarps is an error, not a launch.
func TestGemmWarpsOption(t *testing.T) {
	be := cuda.OpenEmulator()
	be.GemmWarps = 4
	gputest.TestGemm(t, be)
	be.GemmWarps = 6
	x, _ := be.Alloc(gpu.BF16, 64)
	err := be.Gemm(context.Background(), &gpu.GemmArgs{M: 8, N: 8, K: 8, Alpha: 1, A: gpu.Dense(x, 8), B: gpu.Dense(x, 8), C: gpu.Dense(x, 8)})
	if err == nil || !strings.Contains(err.Error(), "GemmWarps") {
		t.Errorf("GemmWarps 6: got %v, want an error naming GemmWarps", err)
	}
}

// TestGemmVsFallback runs the GPU's large-shape comparison
// (TestConformanceGemmLarge) at emulator-sized shapes, so that the test
// itself is known to work before a GPU runs it; 1160 rows are 10 tile rows,
// a full group of 8 in the grouped tile order and a partial one.
func TestGemmVsFallback(t *testing.T) {
	be := cuda.OpenEmulator()
	tc, fb := cuda.EmuLaunches("k_gemm_tc_nt")+cuda.EmuLaunches("k_gemm_tc_tn"), cuda.EmuLaunches("k_gemm_bf16")
	gemmVsFallback(t, be, [][3]int{{136, 40, 72}, {16, 24, 264}, {1160, 136, 16}})
	if cuda.EmuLaunches("k_gemm_tc_nt")+cuda.EmuLaunches("k_gemm_tc_tn") < tc+4 || cuda.EmuLaunches("k_gemm_bf16") < fb+8 {
		t.Errorf("the comparison did not run both kernels")
	}
}
