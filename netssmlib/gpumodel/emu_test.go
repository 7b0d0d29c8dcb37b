//go:build cudaemu && !cuda

package gpumodel_test

import (
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// emuF32 is the fp32 tolerance of the emulated CUDA kernels (fp32 in
// another order than mamba's): measured worst cases 4.7e-7 (logits), 4.6e-8
// (loss sum), 2.7e-6 (gradients of A_log; relative L2 1.9e-6).
var emuF32 = tols{logits: 1e-5, loss: 1e-6, grad: 2e-5, gradL2: 2e-5}

// TestEmulated runs the model checks on the CUDA backend with its kernels
// compiled for the host (CGO_ENABLED=1 go test -tags cudaemu): the model's
// argument plumbing through the real kernels, at a short sequence (12
// tokens, one and a half chunks) since the emulator runs every CUDA thread
// as a fiber on one core. The emulator is deterministic, so repeated
// computations (recompute vs keep, resumed training) must agree exactly.
func TestEmulated(t *testing.T) {
	runChecks(t, func() gpu.Backend { return cuda.OpenEmulator() }, []gpu.DType{gpu.F32, gpu.BF16}, 12, emuF32, true)
}

func TestErrorsEmulated(t *testing.T) { checkErrors(t, cuda.OpenEmulator()) }

// TestMambaSSMFixtureEmulated: the first 80 positions (three chunks).
func TestMambaSSMFixtureEmulated(t *testing.T) { checkMambaSSM(t, cuda.OpenEmulator(), 80) }

// TestNetSSMMemoryBarCUDA: the plan for NetSSM's model on the CUDA backend,
// with the SSD scan's own scratch (what the backend itself reports), stays
// under NetSSM's peaks at both of issue 5's lengths.
func TestNetSSMMemoryBarCUDA(t *testing.T) {
	cfg := mamba.DefaultConfig()
	cfg.VocabSize = 272
	be := cuda.OpenEmulator()
	defer be.Close()
	for _, c := range []struct {
		T   int
		bar float64 // GiB
	}{{8192, 5.3}, {100000, 57.6}} {
		plan, err := gpumodel.PlanMemoryOn(be, cfg, gpumodel.Options{}, c.T)
		if err != nil {
			t.Fatal(err)
		}
		if plan.BackendScratch <= 0 {
			t.Fatalf("%d tokens: the CUDA backend reported no SSD scratch", c.T)
		}
		gib := float64(plan.Total+plan.BackendScratch) / (1 << 30)
		t.Logf("%d tokens: %v + SSD scratch %.3f GiB = %.3f GiB", c.T, plan, float64(plan.BackendScratch)/(1<<30), gib)
		if gib > c.bar {
			t.Errorf("%d tokens: %.3f GiB exceeds NetSSM's %.1f GiB", c.T, gib, c.bar)
		}
	}
}
