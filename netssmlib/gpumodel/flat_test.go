package gpumodel_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// perTensor hides a backend's optional interfaces (gpu.FlatOptimizer among
// them), so that the model takes its per-tensor optimizer path.
type perTensor struct{ gpu.Backend }

// checkAsync trains three models from the same weights for two optimizer
// steps of two sequences each: the synchronous calls (ForwardBackward,
// Step), the asynchronous ones (ForwardBackwardAsync, StepAsync, TakeLoss,
// LastGradNorm) and, on a backend that hides gpu.FlatOptimizer, the
// per-tensor optimizer. The loss, norm, weights and moments must agree:
// exactly between the first two (the same kernels), within fp32 rounding of
// the clip scale for the third.
func checkAsync(t *testing.T, be gpu.Backend, cfg mamba.Config, dt gpu.DType, T int, exact bool) {
	ctx := context.Background()
	if _, ok := be.(gpu.FlatOptimizer); !ok {
		t.Skipf("%s has no gpu.FlatOptimizer", be.Name())
	}
	type run struct {
		g            *gpumodel.Model
		m            *mamba.Model
		loss, norm   [2]float64
		weights, mom [][]float32
	}
	runs := make([]*run, 3)
	for k := range runs {
		m := newMamba(t, cfg, 41, dt)
		b := be
		if k == 2 {
			b = perTensor{be}
		}
		g, err := gpumodel.New(ctx, b, m, gpumodel.Options{DType: dt})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		runs[k] = &run{g: g, m: m}
	}
	for step := 0; step < 2; step++ {
		seqs := [][]int32{tokens(uint64(50+step), T, cfg.VocabSize), tokens(uint64(60+step), T-3, cfg.VocabSize)}
		for k, r := range runs {
			if err := r.g.ZeroGrad(ctx); err != nil {
				t.Fatal(err)
			}
			for _, ids := range seqs {
				tg := targetsOf(ids)
				n := 0
				for _, y := range tg {
					if y != gpu.IgnoreIndex {
						n++
					}
				}
				scale := 1 / (2 * float64(n))
				if k == 0 {
					sum, _, err := r.g.ForwardBackward(ctx, ids, tg, float32(scale))
					if err != nil {
						t.Fatal(err)
					}
					r.loss[step] += scale * sum
					continue
				}
				got, err := r.g.ForwardBackwardAsync(ctx, ids, tg, float32(scale), scale)
				if err != nil {
					t.Fatal(err)
				}
				if got != n {
					t.Errorf("ForwardBackwardAsync counted %d targets, want %d", got, n)
				}
			}
			var err error
			if k == 0 {
				r.norm[step], err = r.g.Step(ctx, stepOpts)
			} else {
				if r.loss[step], err = r.g.TakeLoss(ctx); err != nil {
					t.Fatal(err)
				}
				if again, err := r.g.TakeLoss(ctx); err != nil || again != 0 {
					t.Errorf("second TakeLoss %v, %v; want 0 (reset)", again, err)
				}
				if err := r.g.StepAsync(ctx, stepOpts); err != nil {
					t.Fatal(err)
				}
				r.norm[step], err = r.g.LastGradNorm(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// A GPU's gradients may differ in the last bits between runs
		// (atomics), hence the step-2 loss and the norms: exact only on a
		// deterministic backend.
		lossTol, normTol := 1e-12, 1e-12
		if !exact {
			lossTol, normTol = 1e-5, 1e-5
		}
		for k, r := range runs[1:] {
			if d := math.Abs(r.loss[step] - runs[0].loss[step]); d > lossTol*runs[0].loss[step] {
				t.Errorf("run %d step %d: loss %v, synchronous %v", k+1, step, r.loss[step], runs[0].loss[step])
			}
			// The per-tensor path's SumSquares may sum fp32 partials (CUDA).
			if d := math.Abs(r.norm[step] - runs[0].norm[step]); d > max(1e-6, normTol)*runs[0].norm[step] || (k == 0 && d > normTol*runs[0].norm[step]) {
				t.Errorf("run %d step %d: norm %v, synchronous %v", k+1, step, r.norm[step], runs[0].norm[step])
			}
		}
	}
	for _, r := range runs {
		if err := r.g.Download(ctx); err != nil {
			t.Fatal(err)
		}
		r.mom = make([][]float32, len(r.m.Params))
		vel := make([][]float32, len(r.m.Params))
		for i, p := range r.m.Params {
			r.weights = append(r.weights, p.Data)
			r.mom[i], vel[i] = make([]float32, len(p.Data)), make([]float32, len(p.Data))
		}
		if steps, err := r.g.ReadOptimizer(ctx, r.mom, vel); err != nil || steps != 2 {
			t.Fatalf("ReadOptimizer: %d steps, %v", steps, err)
		}
	}
	if !exact {
		// AdamW's update is about LR in size whatever the gradient's: last-bit
		// differences of tiny gradients can flip it. The optimizer's
		// arithmetic on equal gradients is gputest.TestFlatOptimizer's.
		t.Log("weights not compared: the backend is not deterministic")
		return
	}
	for k, r := range runs[1:] {
		tol := 1e-6 // the per-tensor path rounds the clip scale differently
		if k == 0 && exact {
			tol = 0
		}
		for i, p := range r.m.Params {
			if err := closeTo(fmt.Sprintf("run %d %s", k+1, p.Name), r.weights[i], runs[0].weights[i], tol); err != nil {
				t.Error(err)
			}
			if err := closeTo(fmt.Sprintf("run %d %s first moment", k+1, p.Name), r.mom[i], runs[0].mom[i], tol); err != nil {
				t.Error(err)
			}
		}
	}
}

// counting counts the calls a model makes to a backend that matter for the
// fixed cost of a step: optimizer launches, fills and host round trips.
type counting struct {
	gpu.Backend
	n map[string]int
}

// countingFlat is counting with the gpu.FlatOptimizer of the backend.
type countingFlat struct {
	*counting
	fo gpu.FlatOptimizer
}

func (c *counting) Fill(ctx context.Context, b gpu.Buffer, v float32) error {
	c.n["Fill"]++
	return c.Backend.Fill(ctx, b, v)
}
func (c *counting) Scale(ctx context.Context, b gpu.Buffer, s float32) error {
	c.n["Scale"]++
	return c.Backend.Scale(ctx, b, s)
}
func (c *counting) AdamW(ctx context.Context, a *gpu.AdamWArgs) error {
	c.n["AdamW"]++
	return c.Backend.AdamW(ctx, a)
}
func (c *counting) SumSquares(ctx context.Context, b []gpu.Buffer) (float64, error) {
	c.n["SumSquares"]++
	return c.Backend.SumSquares(ctx, b)
}
func (c *counting) Read(dst []float32, b gpu.Buffer, off int) error {
	c.n["Read"]++
	return c.Backend.Read(dst, b, off)
}
func (c *counting) ReadInt32(dst []int32, b gpu.Buffer, off int) error {
	c.n["Read"]++
	return c.Backend.ReadInt32(dst, b, off)
}
func (c *counting) Write(b gpu.Buffer, off int, src []float32) error {
	c.n["Write"]++
	return c.Backend.Write(b, off, src)
}
func (c *counting) WriteInt32(b gpu.Buffer, off int, src []int32) error {
	c.n["Write"]++
	return c.Backend.WriteInt32(b, off, src)
}
func (c *counting) Sync(ctx context.Context) error {
	c.n["Sync"]++
	return c.Backend.Sync(ctx)
}
func (c countingFlat) GradNormClip(ctx context.Context, a *gpu.GradNormClipArgs) error {
	c.n["GradNormClip"]++
	return c.fo.GradNormClip(ctx, a)
}
func (c countingFlat) AdamWFlat(ctx context.Context, a *gpu.AdamWFlatArgs) error {
	c.n["AdamWFlat"]++
	return c.fo.AdamWFlat(ctx, a)
}
func (c countingFlat) AccumulateSum(ctx context.Context, a *gpu.AccumulateSumArgs) error {
	c.n["AccumulateSum"]++
	return c.fo.AccumulateSum(ctx, a)
}

// TestStepCalls pins down the fixed cost of a training step in calls: a
// micro-batch sequence is one host-to-device copy (ids and labels) and no
// read; ZeroGrad two fills; StepAsync two launches; TakeLoss and
// LastGradNorm one read each. With the per-tensor path (no
// gpu.FlatOptimizer) a step is one AdamW per parameter.
func TestStepCalls(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(variants[1])
	ref := cpu.New()
	be := countingFlat{&counting{Backend: ref, n: map[string]int{}}, ref}
	m := newMamba(t, cfg, 43, gpu.BF16)
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ids := tokens(44, 20, cfg.VocabSize)
	if _, err := g.ForwardBackwardAsync(ctx, ids, targetsOf(ids), 0.1, 0.1); err != nil { // allocates
		t.Fatal(err)
	}
	expect := func(what string, f func() error, want map[string]int) {
		t.Helper()
		clear(be.n)
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for k, v := range want {
			if be.n[k] != v {
				t.Errorf("%s: %d %s calls, want %d (all: %v)", what, be.n[k], k, v, be.n)
			}
		}
		for k, v := range be.n {
			if _, ok := want[k]; !ok && v != 0 {
				t.Errorf("%s: %d unexpected %s calls (all: %v)", what, v, k, be.n)
			}
		}
	}
	expect("ZeroGrad", func() error { return g.ZeroGrad(ctx) }, map[string]int{"Fill": 2})
	expect("ForwardBackwardAsync", func() error {
		_, err := g.ForwardBackwardAsync(ctx, ids, targetsOf(ids), 0.1, 0.1)
		return err
	}, map[string]int{"Write": 1, "AccumulateSum": 1})
	expect("TakeLoss", func() error { _, err := g.TakeLoss(ctx); return err }, map[string]int{"Read": 1, "Fill": 1})
	expect("StepAsync", func() error { return g.StepAsync(ctx, stepOpts) }, map[string]int{"GradNormClip": 1, "AdamWFlat": 1})
	expect("Step", func() error { _, err := g.Step(ctx, stepOpts); return err }, map[string]int{"GradNormClip": 1, "AdamWFlat": 1, "Read": 1})

	pt := &counting{Backend: perTensor{ref}, n: map[string]int{}}
	m2 := newMamba(t, cfg, 43, gpu.BF16)
	g2, err := gpumodel.New(ctx, pt, m2, gpumodel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if _, err := g2.ForwardBackwardAsync(ctx, ids, targetsOf(ids), 0.1, 0.1); err != nil {
		t.Fatal(err)
	}
	clear(pt.n)
	if _, err := g2.Step(ctx, stepOpts); err != nil {
		t.Fatal(err)
	}
	if pt.n["AdamW"] != len(m2.Params) || pt.n["SumSquares"] != 1 {
		t.Errorf("per-tensor step: %v, want %d AdamW and 1 SumSquares", pt.n, len(m2.Params))
	}
}
