//go:build cuda

package cuda_test

import (
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
