//go:build cuda

package gpumodel_test

import (
	"testing"

	"github.com/netssm/netssm/gpu"
)

// TestPersistentDecodeGPU: the persistent kernel on a real GPU (a
// cooperative launch of as many blocks as fit at once) against the fused
// path.
func TestPersistentDecodeGPU(t *testing.T) {
	be := openGPU(t)
	be.Close()
	checkPersistent(t, func() gpu.Backend { return openGPU(t) }, false)
}
