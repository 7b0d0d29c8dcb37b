package gpumodel_test

import (
	"context"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// TestPlanIsWhatNewAllocates trains on the reference backend, which counts
// every byte allocated, and requires its peak to equal PlanMemory's total:
// the plan and the model cannot drift apart.
func TestPlanIsWhatNewAllocates(t *testing.T) {
	const T = 20
	ctx := context.Background()
	cfg := smallConfig(variants[1])
	keepAll, _ := gpumodel.PlanMemory(cfg, gpumodel.Options{ActivationBudget: 1 << 40}, T)
	none, _ := gpumodel.PlanMemory(cfg, gpumodel.Options{ActivationBudget: -1}, T)
	perLayer := (keepAll.Saved - none.Saved) / int64(cfg.NLayer)
	for _, c := range []struct {
		name   string
		o      gpumodel.Options
		kept   int
		seqLen int
	}{
		{"bf16_keep_all", gpumodel.Options{ActivationBudget: 1 << 40}, cfg.NLayer, T},
		{"bf16_recompute_all", gpumodel.Options{ActivationBudget: -1}, 0, T},
		{"bf16_one_layer_kept", gpumodel.Options{ActivationBudget: perLayer + 1}, 1, T},
		{"f32_default", gpumodel.Options{DType: gpu.F32}, cfg.NLayer, T},
		{"f32_maxseq", gpumodel.Options{DType: gpu.F32, MaxSeq: 32}, cfg.NLayer, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, err := gpumodel.PlanMemory(cfg, c.o, c.seqLen)
			if err != nil {
				t.Fatal(err)
			}
			if plan.KeptLayers != c.kept {
				t.Errorf("plan keeps %d layers, want %d", plan.KeptLayers, c.kept)
			}
			be := cpu.New()
			m := newMamba(t, cfg, 71, c.o.DType)
			g, err := gpumodel.New(ctx, be, m, c.o)
			if err != nil {
				t.Fatal(err)
			}
			ids := tokens(72, T, cfg.VocabSize)
			if _, _, err := g.ForwardBackward(ctx, ids, targetsOf(ids), 1); err != nil {
				t.Fatal(err)
			}
			if _, err := g.Step(ctx, stepOpts); err != nil {
				t.Fatal(err)
			}
			if _, err := g.Forward(ctx, ids); err != nil { // reuses the training buffers
				t.Fatal(err)
			}
			if mp, err := g.MemoryPlan(c.seqLen); err != nil || mp != plan {
				t.Errorf("Model.MemoryPlan %v, %v; PlanMemory %v", mp, err, plan)
			}
			if got := be.MemoryStats().Peak; got != plan.Total {
				t.Errorf("peak %d bytes, plan %d (%v)", got, plan.Total, plan)
			}
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if s := be.MemoryStats(); s.InUse != 0 {
				t.Errorf("%d bytes still allocated after Close", s.InUse)
			}
		})
	}
}

// TestNetSSMMemoryBar: with NetSSM's default model (d_model 768, 24 layers,
// vocabulary 272) and default options, training at 8,192 and 100,000 tokens
// must allocate less than NetSSM's own stack peaks at (5.3 and 57.6 GiB on
// an H200). The plan is what New and ForwardBackward allocate (see
// TestPlanIsWhatNewAllocates), computed without allocating. The CUDA
// backend's SSD scratch comes on top and is allowed for with a margin: the
// chunked SSD stores the chunk-entering states, B*chunks*H*P*N fp32 (25 MB
// at 8,192 tokens, 0.3 GB at 100,000) plus per-row accumulators of
// rows*(H+2*G*N) fp32 (9 MB and 0.11 GB).
func TestNetSSMMemoryBar(t *testing.T) {
	cfg := mamba.DefaultConfig()
	cfg.VocabSize = 272
	for _, c := range []struct {
		T           int
		bar, margin float64 // GiB
	}{{8192, 5.3, 0.25}, {100000, 57.6, 2}} {
		plan, err := gpumodel.PlanMemory(cfg, gpumodel.Options{}, c.T)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d tokens: %v", c.T, plan)
		if gib := float64(plan.Total) / (1 << 30); gib+c.margin > c.bar {
			t.Errorf("%d tokens: %.3f GiB planned + %.2f GiB scratch margin exceeds NetSSM's %.1f GiB", c.T, gib, c.margin, c.bar)
		}
	}
}
