package gpumodel_test

import (
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
)

// TestCPU runs the checks on the float64 reference backend (exact
// comparisons where the backend is deterministic).
func TestCPU(t *testing.T) {
	runChecks(t, func() gpu.Backend { return cpu.New() }, []gpu.DType{gpu.F32, gpu.BF16}, 20, cpuF32, true)
}

func TestErrorsCPU(t *testing.T) { checkErrors(t, cpu.New()) }

// TestMambaSSMFixtureCPU: all 700 positions of the mamba-ssm fixture.
func TestMambaSSMFixtureCPU(t *testing.T) { checkMambaSSM(t, cpu.New(), 1<<30) }
