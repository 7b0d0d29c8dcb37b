//go:build cuda

package gpumodel_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	_ "github.com/netssm/netssm/gpu/cuda" // registers "cuda"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// gpuF32 is the fp32 tolerance on a GPU: ten times the emulator's, for
// parallel reductions in another order (no TF32: fp32 GEMMs run on CUDA
// cores).
var gpuF32 = tols{logits: 1e-4, loss: 1e-5, grad: 2e-4, gradL2: 2e-4}

// openGPU opens the first CUDA device, skipping the test without one unless
// NETSSM_REQUIRE_GPU=1.
func openGPU(t *testing.T) gpu.Backend {
	t.Helper()
	be, err := gpu.Open("cuda")
	if err != nil {
		if errors.Is(err, gpu.ErrNoDevice) && os.Getenv("NETSSM_REQUIRE_GPU") != "1" {
			t.Skipf("no CUDA device (set NETSSM_REQUIRE_GPU=1 to make this a failure): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// TestGPU runs the model checks on a real GPU (go test -c -tags cuda
// ./netssmlib/gpumodel, then run the binary there), at a sequence of 40
// tokens (five chunks). GPU reductions may use atomics, so repeated
// computations are compared with a tolerance, not bitwise.
func TestGPU(t *testing.T) {
	be := openGPU(t)
	runChecks(t, func() gpu.Backend { return be }, []gpu.DType{gpu.F32, gpu.BF16}, 40, gpuF32, false)
}

func TestErrorsGPU(t *testing.T) { checkErrors(t, openGPU(t)) }

// TestGPUNetSSMStep trains NetSSM's default model (d_model 768, 24 layers,
// vocabulary 272) for two steps at 2,048 tokens in bf16 on the GPU: the loss
// must be finite and fall on a repeated sequence, and the backend's peak
// memory must not exceed the plan plus the SSD scratch allowance.
func TestGPUNetSSMStep(t *testing.T) {
	be := openGPU(t)
	ctx := context.Background()
	cfg := mamba.DefaultConfig()
	cfg.VocabSize = 272
	m, err := mamba.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	const T = 2048
	if r, ok := be.(gpu.MemoryReporter); ok {
		r.ResetPeak()
	}
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{MaxSeq: T})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ids := tokens(5, T, cfg.VocabSize)
	var losses []float64
	for step := 0; step < 3; step++ {
		if err := g.ZeroGrad(ctx); err != nil {
			t.Fatal(err)
		}
		loss, n, err := g.ForwardBackward(ctx, ids, targetsOf(ids), 1/float32(T))
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss/float64(n))
		if _, err := g.Step(ctx, gpumodel.StepOptions{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("mean losses %v", losses)
	if !(losses[2] < losses[0]) {
		t.Errorf("loss did not fall: %v", losses)
	}
	plan, _ := gpumodel.PlanMemoryOn(be, cfg, gpumodel.Options{MaxSeq: T}, T)
	if r, ok := be.(gpu.MemoryReporter); ok {
		s := r.MemoryStats()
		t.Logf("peak %.3f GiB (plan %v); device used %.3f of %.3f GiB", float64(s.Peak)/(1<<30), plan,
			float64(s.DeviceUsed)/(1<<30), float64(s.DeviceTotal)/(1<<30))
		if s.Peak < plan.Total {
			t.Errorf("backend peak %d bytes is below the plan's %d: the plan counts buffers that were not allocated", s.Peak, plan.Total)
		}
		if plan.BackendScratch > 0 && s.Peak > plan.Total+plan.BackendScratch+(1<<20) {
			t.Errorf("backend peak %d bytes exceeds the plan's %d + SSD scratch %d", s.Peak, plan.Total, plan.BackendScratch)
		}
	}
}

func TestMambaSSMFixtureGPU(t *testing.T) { checkMambaSSM(t, openGPU(t), 1<<30) }

// benchModel is NetSSM's default model (vocabulary 272) in bf16 on the GPU.
func benchModel(b *testing.B, maxSeq int) (*gpumodel.Model, mamba.Config) {
	b.Helper()
	be, err := gpu.Open("cuda")
	if err != nil {
		b.Skipf("no CUDA device: %v", err)
	}
	b.Cleanup(func() { be.Close() })
	cfg := mamba.DefaultConfig()
	cfg.VocabSize = 272
	m, err := mamba.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	g, err := gpumodel.New(context.Background(), be, m, gpumodel.Options{MaxSeq: maxSeq})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	return g, cfg
}

// BenchmarkGPUTrain is one training step of NetSSM's default model in bf16
// at batch 1 as train's device path runs it (ForwardBackwardAsync,
// TakeLoss, Step, ZeroGrad; go test -tags cuda -bench GPUTrain); tokens/s
// and the backend's peak memory are reported.
func BenchmarkGPUTrain(b *testing.B) {
	for _, T := range []int{8192, 100000} {
		b.Run(fmt.Sprintf("T=%d", T), func(b *testing.B) {
			g, cfg := benchModel(b, T)
			ctx := context.Background()
			ids := tokens(9, T, cfg.VocabSize)
			targets := targetsOf(ids)
			step := func() {
				if _, err := g.ForwardBackwardAsync(ctx, ids, targets, 1/float32(T), 1/float64(T)); err != nil {
					b.Fatal(err)
				}
				if _, err := g.TakeLoss(ctx); err != nil {
					b.Fatal(err)
				}
				if _, err := g.Step(ctx, gpumodel.StepOptions{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1}); err != nil {
					b.Fatal(err)
				}
				if err := g.ZeroGrad(ctx); err != nil {
					b.Fatal(err)
				}
			}
			step() // allocate and warm up
			if err := g.Backend().Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			if err := g.Backend().Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(T)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			if r, ok := g.Backend().(gpu.MemoryReporter); ok {
				b.ReportMetric(float64(r.MemoryStats().Peak)/(1<<30), "peak-GiB")
			}
		})
	}
}

// BenchmarkGPUOptimizerStep is the fixed cost of an optimizer step of
// NetSSM's default model in bf16 (90.6M parameters in 218 tensors): ZeroGrad
// + Step (the norm read back), three ways: "flat" with gpu.FlatOptimizer
// (2 fills, 3 launches, one read); "per-tensor", the model's fallback (2
// fills, SumSquares over the flat gradient with a read, 218 AdamW
// launches); and "separate", the step before flat storage reproduced with
// the ops on 218 separately allocated tensors of the model's shapes (218
// fills, SumSquares with 218 launches and a read, 218 Scale and 218 AdamW
// launches). All stream about the same bytes (AdamW: ~2.7 GB per step), so
// the differences are the launches and round trips.
func BenchmarkGPUOptimizerStep(b *testing.B) {
	b.Run("separate", benchSeparateStep)
	for _, flat := range []bool{true, false} {
		name := map[bool]string{true: "flat", false: "per-tensor"}[flat]
		b.Run(name, func(b *testing.B) {
			be, err := gpu.Open("cuda")
			if err != nil {
				b.Skipf("no CUDA device: %v", err)
			}
			b.Cleanup(func() { be.Close() })
			cfg := mamba.DefaultConfig()
			cfg.VocabSize = 272
			m, err := mamba.New(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			on := be
			if !flat {
				on = perTensor{be}
			}
			ctx := context.Background()
			g, err := gpumodel.New(ctx, on, m, gpumodel.Options{MaxSeq: 64})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { g.Close() })
			ids := tokens(9, 64, cfg.VocabSize)
			if _, err := g.ForwardBackwardAsync(ctx, ids, targetsOf(ids), 1.0/64, 1.0/64); err != nil { // gradients to clip
				b.Fatal(err)
			}
			opts := gpumodel.StepOptions{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1e-3}
			if _, err := g.Step(ctx, opts); err != nil { // warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := g.Step(ctx, opts); err != nil {
					b.Fatal(err)
				}
				if err := g.ZeroGrad(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if err := be.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/step")
		})
	}
}

// BenchmarkGPUDecode is one Decoder.Step (logits read back) of NetSSM's
// default model in bf16, per batch size, with and without a CUDA graph.
func BenchmarkGPUDecode(b *testing.B) {
	for _, batch := range []int{1, 64} {
		for _, graph := range []bool{false, true} {
			b.Run(fmt.Sprintf("batch=%d/graph=%v", batch, graph), func(b *testing.B) {
				g, cfg := benchModel(b, 0)
				ctx := context.Background()
				dec, err := g.NewDecoder(batch, graph)
				if err != nil {
					b.Fatal(err)
				}
				defer dec.Close()
				next := tokens(3, batch, cfg.VocabSize)
				logits := make([]float32, batch*cfg.PaddedVocab())
				if err := dec.Step(ctx, next, logits); err != nil { // captures the graph
					b.Fatal(err)
				}
				if graph && !dec.UsingGraph() {
					b.Fatalf("graph requested but not in use: %v", dec.GraphErr())
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := dec.Step(ctx, next, logits); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}

// benchSeparateStep is BenchmarkGPUOptimizerStep's "separate" case: the
// previous Step's launch pattern on one buffer per tensor.
func benchSeparateStep(b *testing.B) {
	be, err := gpu.Open("cuda")
	if err != nil {
		b.Skipf("no CUDA device: %v", err)
	}
	b.Cleanup(func() { be.Close() })
	cfg := mamba.DefaultConfig()
	cfg.VocabSize = 272
	m, err := mamba.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	type tensor struct{ w, g, m, v, work gpu.Buffer }
	var ts []tensor
	var grads []gpu.Buffer
	for _, p := range m.Params {
		var t tensor
		for _, dst := range []*gpu.Buffer{&t.w, &t.g, &t.m, &t.v} {
			if *dst, err = be.Alloc(gpu.F32, len(p.Data)); err != nil {
				b.Fatal(err)
			}
			defer be.Free(*dst)
		}
		if strings.Contains(p.Name, "proj") || strings.Contains(p.Name, "embedding") || strings.HasPrefix(p.Name, "lm_head") { // bf16 working copies
			if t.work, err = be.Alloc(gpu.BF16, len(p.Data)); err != nil {
				b.Fatal(err)
			}
			defer be.Free(t.work)
		}
		if err := be.Fill(ctx, t.g, 1e-3); err != nil {
			b.Fatal(err)
		}
		ts = append(ts, t)
		grads = append(grads, t.g)
	}
	step := func(n int) {
		if _, err := gpu.ClipGradNorm(ctx, be, grads, 1e-3); err != nil {
			b.Fatal(err)
		}
		for _, t := range ts {
			a := &gpu.AdamWArgs{N: t.w.Len(), Step: n, LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, GradScale: 1,
				Param: t.w, Grad: t.g, M: t.m, V: t.v, Copy: t.work}
			if err := be.AdamW(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	}
	step(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(i + 2)
		for _, g := range grads {
			if err := be.Fill(ctx, g, 1e-3); err != nil { // ZeroGrad, with gradients to clip
				b.Fatal(err)
			}
		}
	}
	if err := be.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/step")
}
