package gpumodel_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/netssmlib/gpumodel"
)

// TestCPU runs the checks on the float64 reference backend (exact
// comparisons where the backend is deterministic).
func TestCPU(t *testing.T) {
	runChecks(t, func() gpu.Backend { return cpu.New() }, []gpu.DType{gpu.F32, gpu.BF16}, 20, cpuF32, true)
}

func TestErrorsCPU(t *testing.T) { checkErrors(t, cpu.New()) }

// TestMambaSSMFixtureCPU: all 700 positions of the mamba-ssm fixture.
func TestMambaSSMFixtureCPU(t *testing.T) { checkMambaSSM(t, cpu.New(), 1<<30) }

// TestGrowingSequences: with MaxSeq 0 the buffers grow with the sequence
// (training and inference interleaved) and results stay those of mamba.
func TestGrowingSequences(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(variants[0])
	m := newMamba(t, cfg, 81, gpu.F32)
	be := cpu.New()
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: gpu.F32})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, T := range []int{5, 17, 9, 26} {
		ids := tokens(uint64(82+T), T, cfg.VocabSize)
		if T%2 == 0 { // inference
			got, err := g.Forward(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			want, err := m.Forward(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if err := closeTo(fmt.Sprintf("T=%d logits", T), got, want, cpuF32.logits); err != nil {
				t.Error(err)
			}
			continue
		}
		loss, _, err := g.ForwardBackward(ctx, ids, targetsOf(ids), 1)
		if err != nil {
			t.Fatal(err)
		}
		m.ZeroGrad()
		want, _, err := m.ForwardBackward(ctx, ids, targetsOf(ids))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(loss-want) > cpuF32.loss*want {
			t.Errorf("T=%d: loss %v, mamba %v", T, loss, want)
		}
	}
}
