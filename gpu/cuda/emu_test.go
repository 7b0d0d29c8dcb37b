//go:build cudaemu && !cuda

package cuda_test

import (
	"testing"

	_ "github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/gpu/cuda"
	"github.com/netssm/netssm/gpu/gputest"
)

// TestEmulatedConformance runs the conformance suite on the CUDA backend with
// its kernels compiled for the host: the kernels' indexing, the launch
// shapes and the Go argument marshalling are checked without a GPU.
func TestEmulatedConformance(t *testing.T) {
	be := cuda.OpenEmulator()
	gputest.RunAll(t, be)
	t.Run("SequentialScan", func(t *testing.T) {
		be.SequentialScan = true
		defer func() { be.SequentialScan = false }()
		gputest.TestSSD(t, be)
		gputest.TestGenerate(t, be)
	})
}
