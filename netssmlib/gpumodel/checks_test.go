package gpumodel_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
	"github.com/netssm/netssm/netssmlib/train"
)

// variant is one small model shape of the checks.
type variant struct {
	name     string
	tied     bool
	convBias bool
	ngroups  int
}

var variants = []variant{
	{"tied_convbias", true, true, 1},
	{"untied_nobias_2groups", false, false, 2},
}

// smallConfig is d_model 32, 2 layers, d_state 16, headdim 16 (4 heads),
// chunk 8, vocabulary 30 padded to 32.
func smallConfig(v variant) mamba.Config {
	c := mamba.DefaultConfig()
	c.DModel, c.NLayer, c.VocabSize = 32, 2, 30
	c.SSMCfg.DState, c.SSMCfg.HeadDim, c.SSMCfg.ChunkSize = 16, 16, 8
	c.SSMCfg.NGroups, c.SSMCfg.ConvBias, c.TieEmbeddings = v.ngroups, v.convBias, v.tied
	return c
}

func newMamba(t *testing.T, cfg mamba.Config, seed uint64, dt gpu.DType) *mamba.Model {
	t.Helper()
	m, err := mamba.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	// Less uniform weights than the init (norm weights 1, D 1), so that a
	// mix-up of parameters shows.
	r := rand.New(rand.NewPCG(seed, 7))
	for _, p := range m.Params {
		for i := range p.Data {
			p.Data[i] += float32(r.NormFloat64() * 0.05)
		}
	}
	if dt == gpu.BF16 {
		if err := m.SetComputeDType("BF16"); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func tokens(seed uint64, n, vocab int) []int32 {
	r := rand.New(rand.NewPCG(seed, 1))
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(vocab))
	}
	return ids
}

// targetsOf is ids shifted by one with a few positions ignored.
func targetsOf(ids []int32) []int32 {
	t := make([]int32, len(ids))
	for i := range t {
		t[i] = mamba.IgnoreIndex
		if i+1 < len(ids) && i%5 != 3 {
			t[i] = ids[i+1]
		}
	}
	return t
}

// closeTo checks max|got-want| <= tol * max(1, max|want|).
func closeTo(what string, got, want []float32, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale, worst float64
	at := 0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= worst) { // NaN counts as worst
			worst, at = d, i
			if math.IsNaN(d) {
				worst = math.Inf(1)
			}
		}
	}
	if worst > tol*math.Max(1, scale) {
		return fmt.Errorf("%s: max |diff| %.3g at %d (got %v want %v) exceeds %.3g x max(1, %.3g)", what, worst, at, got[at], want[at], tol, scale)
	}
	return nil
}

// tols are the tolerances against mamba, relative to the largest reference
// magnitude (of the logits, of each parameter's gradient).
// gradL2 bounds each gradient's relative L2 error, a steadier measure than
// the largest element's.
type tols struct{ logits, loss, grad, gradL2 float64 }

// f32 on the float64 reference backend: measured worst cases are 7e-7
// (logits), 1e-8 (loss sum), 2.3e-6 (largest gradient element) and 3.4e-6
// (relative L2 of a gradient): fp32 rounding in mamba's float32 arithmetic.
var cpuF32 = tols{logits: 1e-5, loss: 1e-6, grad: 2e-5, gradL2: 2e-5}

// bf16 activations and matrix-product weights, against mamba's bf16
// compute mode (which rounds only the matrix-product inputs): measured
// worst cases 7.5e-3 (logits), 1.2e-5 (loss sum), 3.4e-2 (largest gradient
// element, dt_bias) and 3.5e-2 (relative L2, A_log, 4 heads) on the
// reference and the emulator. The margin leaves room for kernels that round
// more operands to bf16 (as mamba-ssm's tensor-core scan does); a wrong term
// gives errors of order 1.
var bf16Tols = tols{logits: 2e-2, loss: 1e-3, grad: 0.12, gradL2: 0.08}

// tolsFor picks bf16Tols for bf16 and f32 (the backend's fp32 tolerance)
// otherwise.
func tolsFor(dt gpu.DType, f32 tols) tols {
	if dt == gpu.F32 {
		return f32
	}
	return bf16Tols
}

// runChecks runs the model checks on be against netssmlib/mamba. T is the
// sequence length (not a multiple of the chunk size 8).
// f32 is the backend's fp32 tolerance; exact asks for bitwise-equal results
// where the same computation is repeated (a deterministic backend).
func runChecks(t *testing.T, open func() gpu.Backend, dtypes []gpu.DType, T int, f32 tols, exact bool) {
	for _, v := range variants {
		for _, dt := range dtypes {
			t.Run(v.name+"/"+dt.String(), func(t *testing.T) {
				cfg := smallConfig(v)
				tol := tolsFor(dt, f32)
				t.Run("ParityWithMamba", func(t *testing.T) { checkParity(t, open(), cfg, dt, T, tol) })
				t.Run("RecomputeEqualsKeepAll", func(t *testing.T) { checkRecompute(t, open(), cfg, dt, T, exact) })
				t.Run("StepMatchesHostAdamW", func(t *testing.T) { checkStep(t, open(), cfg, dt, T) })
				t.Run("AsyncMatchesSync", func(t *testing.T) { checkAsync(t, open(), cfg, dt, T, exact) })
				t.Run("RoundTrips", func(t *testing.T) { checkRoundTrips(t, open(), cfg, dt, T, exact) })
				t.Run("Decoder", func(t *testing.T) { checkDecoder(t, open(), cfg, dt, tol) })
			})
		}
	}
}

func checkParity(t *testing.T, be gpu.Backend, cfg mamba.Config, dt gpu.DType, T int, tol tols) {
	ctx := context.Background()
	m := newMamba(t, cfg, 11, dt)
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ids := tokens(12, T, cfg.VocabSize)
	want, err := m.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if err := closeTo("logits", got, want, tol.logits); err != nil {
		t.Error(err)
	}
	targets := targetsOf(ids)
	const scale = 0.5
	m.ZeroGrad()
	wantLoss, wantN, err := m.ForwardBackward(ctx, ids, targets)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.ZeroGrad(ctx); err != nil {
		t.Fatal(err)
	}
	loss, n, err := g.ForwardBackward(ctx, ids, targets, scale)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss sum %.6f over %d targets (mamba %.6f over %d)", loss, n, wantLoss, wantN)
	if n != wantN {
		t.Errorf("counted %d targets, mamba %d", n, wantN)
	}
	if d := math.Abs(loss - wantLoss); !(d <= tol.loss*math.Abs(wantLoss)) {
		t.Errorf("loss sum %v, mamba %v (|diff| %.3g)", loss, wantLoss, d)
	}
	grads, err := g.Grads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	worstL2, worstName := 0.0, ""
	for i, p := range m.Params {
		want := make([]float32, len(p.Grad))
		for j, v := range p.Grad {
			want[j] = scale * v
		}
		if err := closeTo("grad "+p.Name, grads[i], want, tol.grad*maxAbs(want)); err != nil {
			t.Error(err)
		}
		if maxAbs(want) == 0 {
			t.Errorf("grad %s is zero in mamba: the check would not see a bug", p.Name)
		}
		if e := relL2(grads[i], want); !(e <= worstL2) {
			worstL2, worstName = e, p.Name
		}
	}
	t.Logf("worst relative L2 gradient error %.3g (%s)", worstL2, worstName)
	if !(worstL2 <= tol.gradL2) {
		t.Errorf("grad %s: relative L2 error %.3g exceeds %.3g", worstName, worstL2, tol.gradL2)
	}
}

// relL2 is ||got-want|| / ||want||.
func relL2(got, want []float32) float64 {
	var d, w float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		w += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / w)
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

// checkRecompute trains the same steps with every layer's activations kept
// and with every layer recomputed: the results must agree (exactly on a
// deterministic backend).
func checkRecompute(t *testing.T, be gpu.Backend, cfg mamba.Config, dt gpu.DType, T int, exact bool) {
	ctx := context.Background()
	ids := tokens(21, T, cfg.VocabSize)
	run := func(budget int64) (float64, [][]float32) {
		m := newMamba(t, cfg, 22, dt)
		g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: dt, ActivationBudget: budget})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		loss, _, err := g.ForwardBackward(ctx, ids, targetsOf(ids), 1)
		if err != nil {
			t.Fatal(err)
		}
		gr, err := g.Grads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return loss, gr
	}
	keepLoss, keepGrads := run(1 << 40)
	recLoss, recGrads := run(-1)
	// The plan must really differ between the two.
	pk, _ := gpumodel.PlanMemory(cfg, gpumodel.Options{DType: dt, ActivationBudget: 1 << 40}, T)
	pr, _ := gpumodel.PlanMemory(cfg, gpumodel.Options{DType: dt, ActivationBudget: -1}, T)
	if pk.KeptLayers != cfg.NLayer || pr.KeptLayers != 0 {
		t.Fatalf("kept layers %d and %d, want %d and 0", pk.KeptLayers, pr.KeptLayers, cfg.NLayer)
	}
	tol := 0.0
	if !exact {
		tol = 1e-5
	}
	if d := math.Abs(keepLoss - recLoss); d > tol*math.Abs(keepLoss) {
		t.Errorf("loss %v keeping activations, %v recomputing", keepLoss, recLoss)
	}
	for i := range keepGrads {
		if err := closeTo(fmt.Sprintf("grad %d", i), recGrads[i], keepGrads[i], tol); err != nil {
			t.Error(err)
		}
	}
}

var stepOpts = gpumodel.StepOptions{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 0.5}

// checkStep runs three training steps and repeats each optimizer update on
// the host with train.ClipGradNorm and train.AdamW from the device's own
// gradients: the weights, moments and the reported norm must agree.
func checkStep(t *testing.T, be gpu.Backend, cfg mamba.Config, dt gpu.DType, T int) {
	ctx := context.Background()
	m := newMamba(t, cfg, 31, dt)
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	host := make([][]float32, len(m.Params))
	sizes := make([]int, len(m.Params))
	for i, p := range m.Params {
		host[i] = append([]float32(nil), p.Data...)
		sizes[i] = len(p.Data)
	}
	opt := train.NewAdamW(sizes, stepOpts.WeightDecay)
	clipped := false
	for step := 1; step <= 3; step++ {
		ids := tokens(uint64(32+step), T, cfg.VocabSize)
		if err := g.ZeroGrad(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.ForwardBackward(ctx, ids, targetsOf(ids), 0.25); err != nil {
			t.Fatal(err)
		}
		grads, err := g.Grads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([][]float32, len(grads))
		for i := range grads {
			raw[i] = append([]float32(nil), grads[i]...)
		}
		wantNorm := train.ClipGradNorm(grads, stepOpts.MaxGradNorm)
		clipped = clipped || wantNorm > stepOpts.MaxGradNorm
		opt.Update(stepOpts.LR, host, grads)
		norm, err := g.Step(ctx, stepOpts)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(norm-wantNorm) > 1e-5*wantNorm {
			t.Errorf("step %d: grad norm %v, host %v", step, norm, wantNorm)
		}
		after, err := g.Grads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Step clips as AdamW reads the gradients: they stay as accumulated.
		for i := range after {
			if err := closeTo(fmt.Sprintf("step %d grad %s after Step", step, m.Params[i].Name), after[i], raw[i], 0); err != nil {
				t.Error(err)
			}
		}
	}
	if !clipped {
		t.Error("MaxGradNorm never clipped: lower it so that clipping is tested")
	}
	if g.OptimizerSteps() != 3 {
		t.Errorf("OptimizerSteps %d, want 3", g.OptimizerSteps())
	}
	if err := g.Download(ctx); err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params {
		// An AdamW update moves a weight by about LR; fp32 rounding of the
		// same arithmetic in another order stays far below that.
		if err := closeTo("weights "+p.Name, p.Data, host[i], 1e-3*stepOpts.LR); err != nil {
			t.Error(err)
		}
		if err := closeTo("moved "+p.Name, p.Data, m.Params[i].Data, 0); err != nil {
			t.Error(err)
		}
	}
	mom, vel := shapedLike(m), shapedLike(m)
	steps, err := g.ReadOptimizer(ctx, mom, vel)
	if err != nil {
		t.Fatal(err)
	}
	if steps != opt.Steps {
		t.Errorf("optimizer steps %d, host %d", steps, opt.Steps)
	}
	for i, p := range m.Params {
		if err := closeTo("exp_avg "+p.Name, mom[i], opt.M[i], 1e-5*maxAbs(opt.M[i])); err != nil {
			t.Error(err)
		}
		// gpu.AdamWArgs carries Beta2 as float32: 1-float32(0.999) differs
		// from train's float32(1-0.999) by 4e-5 relative.
		if err := closeTo("exp_avg_sq "+p.Name, vel[i], opt.V[i], 1e-4*maxAbs(opt.V[i])); err != nil {
			t.Error(err)
		}
	}
}

func shapedLike(m *mamba.Model) [][]float32 {
	s := make([][]float32, len(m.Params))
	for i, p := range m.Params {
		s[i] = make([]float32, len(p.Data))
	}
	return s
}

// checkRoundTrips: Upload/Download return the weights; a model rebuilt from
// downloaded weights and the read optimizer state continues training
// exactly as the original.
func checkRoundTrips(t *testing.T, be gpu.Backend, cfg mamba.Config, dt gpu.DType, T int, exact bool) {
	ctx := context.Background()
	m := newMamba(t, cfg, 41, dt)
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ids := tokens(42, T, cfg.VocabSize)
	trainStep := func(g *gpumodel.Model) {
		t.Helper()
		if err := g.ZeroGrad(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.ForwardBackward(ctx, ids, targetsOf(ids), 0.1); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Step(ctx, stepOpts); err != nil {
			t.Fatal(err)
		}
	}
	trainStep(g)
	trainStep(g)
	// Download into the host model, rebuild, and copy the optimizer state.
	if err := g.Download(ctx); err != nil {
		t.Fatal(err)
	}
	mom, vel := shapedLike(m), shapedLike(m)
	steps, err := g.ReadOptimizer(ctx, mom, vel)
	if err != nil {
		t.Fatal(err)
	}
	m2 := newMamba(t, cfg, 99, dt) // other weights, replaced by Upload below
	for i, p := range m.Params {
		copy(m2.Params[i].Data, p.Data)
	}
	g2, err := gpumodel.New(ctx, be, m2, gpumodel.Options{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if err := g2.WriteOptimizer(ctx, steps, mom, vel); err != nil {
		t.Fatal(err)
	}
	trainStep(g)
	trainStep(g2)
	a, err := g.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g2.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	tol := 0.0
	if !exact {
		tol = 1e-5
	}
	if err := closeTo("logits after resuming from downloaded state", b, a, tol); err != nil {
		t.Error(err)
	}
	// Upload: new host values reach the masters and the working copies.
	for _, p := range m2.Params {
		for i := range p.Data {
			p.Data[i] *= 0.5
		}
	}
	if err := g2.Upload(ctx); err != nil {
		t.Fatal(err)
	}
	want := make([][]float32, len(m2.Params))
	for i, p := range m2.Params {
		want[i] = append([]float32(nil), p.Data...)
		clear(p.Data)
	}
	if err := g2.Download(ctx); err != nil {
		t.Fatal(err)
	}
	for i, p := range m2.Params {
		if err := closeTo("round trip "+p.Name, p.Data, want[i], 0); err != nil {
			t.Error(err)
		}
	}
	got, err := g2.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	g3, err := gpumodel.New(ctx, be, m2, gpumodel.Options{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	defer g3.Close()
	fresh, err := g3.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if err := closeTo("logits after Upload vs a fresh model", got, fresh, tol); err != nil {
		t.Error(err)
	}
}

// checkDecoder prefills two rows and steps greedily, against mamba's
// Prefill and Step.
func checkDecoder(t *testing.T, be gpu.Backend, cfg mamba.Config, dt gpu.DType, tols tols) {
	ctx := context.Background()
	m := newMamba(t, cfg, 51, dt)
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: dt})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const batch, steps = 2, 6
	V := cfg.PaddedVocab()
	tol := tols.logits
	prompts := [][]int32{tokens(52, 11, cfg.VocabSize), tokens(53, 2, cfg.VocabSize)} // longer and shorter than d_conv-1
	_, hasFused := be.(gpu.FusedDecoder)
	for _, v := range []struct{ useGraph, unfused bool }{{false, false}, {true, false}, {false, true}} {
		useGraph := v.useGraph
		if v.unfused && !hasFused {
			continue // the unfused path was the only one
		}
		t.Run(fmt.Sprintf("graph=%v/unfused=%v", useGraph, v.unfused), func(t *testing.T) {
			dec, err := g.NewDecoder(batch, useGraph)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			if v.unfused {
				gpumodel.UseUnfusedDecode(dec)
			}
			st := m.NewState(batch)
			next := make([]int32, batch)
			for row, p := range prompts {
				want, err := m.Prefill(ctx, st, row, p)
				if err != nil {
					t.Fatal(err)
				}
				got, err := dec.Prefill(ctx, row, p)
				if err != nil {
					t.Fatal(err)
				}
				if err := closeTo(fmt.Sprintf("prefill row %d logits", row), got, want, tol); err != nil {
					t.Error(err)
				}
				next[row] = int32(argmax(want))
			}
			got, want := make([]float32, batch*V), make([]float32, batch*V)
			var seq []int32
			for s := 0; s < steps; s++ {
				if err := m.Step(st, next, want); err != nil {
					t.Fatal(err)
				}
				if err := dec.Step(ctx, next, got); err != nil {
					t.Fatal(err)
				}
				if err := closeTo(fmt.Sprintf("step %d logits", s), got, want, tol); err != nil {
					t.Error(err)
				}
				for b := range next {
					gb, wb := argmax(got[b*V:(b+1)*V]), argmax(want[b*V:(b+1)*V])
					if gb != wb {
						t.Fatalf("step %d row %d: greedy token %d, mamba %d", s, b, gb, wb)
					}
					next[b] = int32(wb)
				}
				seq = append(seq, next[0])
			}
			// A reset row starts again from the zero state.
			st.Reset(1)
			if err := dec.Reset(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := m.Step(st, next, want); err != nil {
				t.Fatal(err)
			}
			if err := dec.Step(ctx, next, got); err != nil {
				t.Fatal(err)
			}
			if err := closeTo("logits after resetting row 1", got, want, tol); err != nil {
				t.Error(err)
			}
			t.Logf("greedy row 0: %v (graph in use: %v, %v)", seq, dec.UsingGraph(), dec.GraphErr())
		})
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// checkErrors: bad inputs are errors naming what is wrong, not panics.
func checkErrors(t *testing.T, be gpu.Backend) {
	ctx := context.Background()
	cfg := smallConfig(variants[0])
	m := newMamba(t, cfg, 61, gpu.F32)
	if _, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: gpu.I32}); err == nil {
		t.Error("New accepted DType I32")
	}
	if _, err := gpumodel.New(ctx, nil, m, gpumodel.Options{}); err == nil {
		t.Error("New accepted a nil backend")
	}
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: gpu.F32, MaxSeq: 8})
	if err != nil {
		t.Fatal(err)
	}
	V := int32(cfg.PaddedVocab())
	expect := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}
	_, err = g.Forward(ctx, []int32{1, V})
	expect("id outside the vocabulary", err)
	_, err = g.Forward(ctx, []int32{-1})
	expect("negative id", err)
	_, err = g.Forward(ctx, nil)
	expect("empty sequence", err)
	_, err = g.Forward(ctx, make([]int32, 9))
	expect("sequence over MaxSeq", err)
	_, _, err = g.ForwardBackward(ctx, []int32{1, 2}, []int32{3}, 1)
	expect("targets of another length", err)
	_, _, err = g.ForwardBackward(ctx, []int32{1, 2}, []int32{3, V}, 1)
	expect("target outside the vocabulary", err)
	_, _, err = g.ForwardBackward(ctx, []int32{1, 2}, []int32{3, -100}, float32(math.NaN()))
	expect("NaN gradScale", err)
	_, err = g.Step(ctx, gpumodel.StepOptions{LR: 1e-3, Beta1: 1, Beta2: 0.999})
	expect("Beta1 1", err)
	_, err = g.ReadOptimizer(ctx, make([][]float32, 1), make([][]float32, 1))
	expect("ReadOptimizer with wrong shapes", err)
	_, err = g.NewDecoder(0, false)
	expect("decoder batch 0", err)
	dec, err := g.NewDecoder(2, false)
	if err != nil {
		t.Fatal(err)
	}
	expect("step with 1 token for batch 2", dec.Step(ctx, []int32{1}, make([]float32, 2*int(V))))
	expect("step with short logits", dec.Step(ctx, []int32{1, 2}, make([]float32, int(V))))
	expect("step with a token outside the vocabulary", dec.Step(ctx, []int32{1, V}, make([]float32, 2*int(V))))
	_, err = dec.Prefill(ctx, 2, []int32{1})
	expect("prefill row outside the batch", err)
	_, err = dec.Prefill(ctx, 0, make([]int32, 9))
	expect("prefill over MaxSeq", err)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = g.Forward(ctx, []int32{1})
	if !errors.Is(err, gpumodel.ErrClosed) {
		t.Errorf("Forward after Close: %v, want ErrClosed", err)
	}
	expect("decoder step after the model closed", dec.Step(ctx, []int32{1, 2}, make([]float32, 2*int(V))))
	_, err = g.Step(ctx, stepOpts)
	expect("Step after Close", err)
}
