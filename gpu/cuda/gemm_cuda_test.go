//go:build cuda

package cuda_test

import (
	"fmt"
	"testing"

	"github.com/netssm/netssm/gpu/gputest"
)

// TestConformanceGemmWarps4 runs the GEMM conformance cases on the 4-warp
// tensor-core variant (TestConformance covers the default 8-warp one). Its
// name matches bench/gpu/run.sh's conformance step.
func TestConformanceGemmWarps4(t *testing.T) {
	be := open(t)
	be.GemmWarps = 4
	gputest.TestGemm(t, be)
}

// TestConformanceGemmLarge checks the tensor-core GEMM against the fallback
// kernel at the model's shapes (4,096 or 8,192 tokens; the weight gradients
// split K)
// and at a large one ragged against the tiles, for both variants. Its name matches bench/gpu/run.sh's conformance step.
func TestConformanceGemmLarge(t *testing.T) {
	be := open(t)
	for _, warps := range []int{8, 4} {
		t.Run(fmt.Sprintf("warps=%d", warps), func(t *testing.T) {
			be.GemmWarps = warps
			defer func() { be.GemmWarps = 0 }()
			gemmVsFallback(t, be, [][3]int{{4096, 3352, 768}, {768, 1536, 8192}, {272, 768, 8192}, {1800, 280, 5000}})
		})
	}
}
