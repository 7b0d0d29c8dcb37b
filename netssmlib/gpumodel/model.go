package gpumodel

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// Options configure a Model.
type Options struct {
	// DType is the dtype of activations and of the working copies of the
	// matrix-product weights: gpu.BF16 (the default when 0) or gpu.F32.
	// Master weights, gradients and AdamW moments are always fp32, and so
	// are the residual stream, the mixer outputs added to it and the logits.
	DType gpu.DType
	// MaxSeq is the longest sequence: the activation buffers are sized for
	// it once, on first use, and longer sequences are refused. 0 sizes them
	// for the sequence at hand and grows them when a longer one comes.
	MaxSeq int
	// ActivationBudget is the bytes of recomputable activations (norm
	// output, conv output, SSD output, gated-norm output and their
	// statistics) that training may keep between the forward and the
	// backward pass; layers beyond it recompute them in the backward pass
	// from the always-kept residual and in_proj output. 0 means half the
	// bytes of the always-kept activations, at least 1 GiB; negative means
	// recompute every layer.
	ActivationBudget int64
}

// ErrClosed is returned by a closed Model or Decoder.
var ErrClosed = errors.New("gpumodel: model is closed")

// Model is a mamba.Model's weights on a gpu.Backend. It is not safe for
// concurrent use (nor is the backend).
type Model struct {
	be  gpu.Backend
	m   *mamba.Model
	o   Options
	dt  gpu.DType
	d   dims
	eps float32

	params []*param // in m.Params order
	flat   *flat    // the buffers the params are views of
	emb    *param
	normF  *param
	head   *param // == emb when tied
	layers []layerParams

	pal, tal *allocator // params, training state (nil until training)
	acts     *acts
	steps    int
	hostLoss float64 // loss accumulated on the host (backends without gpu.FlatOptimizer)
	hostNorm float64 // the last Step's norm, from the host path
	closed   bool
	decoders map[*Decoder]bool
}

type layerParams struct {
	norm, dtBias, aLog, dd, in, convW, convB, gnorm, out *param // convB nil without conv bias
}

// New uploads m's parameters to be. m must stay alive: Download and Upload
// copy between the device and m.Params.
func New(ctx context.Context, be gpu.Backend, m *mamba.Model, o Options) (*Model, error) {
	if be == nil {
		return nil, errors.New("gpumodel: New: nil backend")
	}
	if m == nil {
		return nil, errors.New("gpumodel: New: nil model")
	}
	if err := m.Config.Validate(); err != nil {
		return nil, fmt.Errorf("gpumodel: New: %w", err)
	}
	dt, err := o.dtype()
	if err != nil {
		return nil, err
	}
	if o.MaxSeq < 0 {
		return nil, fmt.Errorf("gpumodel: Options.MaxSeq must not be negative, got %d", o.MaxSeq)
	}
	sp := specs(m.Config)
	if len(sp) != len(m.Params) {
		return nil, fmt.Errorf("gpumodel: New: the model has %d parameters, its config implies %d", len(m.Params), len(sp))
	}
	for i, s := range sp {
		if p := m.Params[i]; p.Name != s.name || len(p.Data) != s.n {
			return nil, fmt.Errorf("gpumodel: New: parameter %d is %s with %d values, the config implies %s with %d", i, p.Name, len(p.Data), s.name, s.n)
		}
	}
	g := &Model{be: be, m: m, o: o, dt: dt, d: dimsOf(m.Config), eps: 1e-5, pal: &allocator{be: be}, decoders: map[*Decoder]bool{}}
	g.params, g.flat = allocParams(g.pal, sp, dt)
	if g.pal.err != nil {
		g.pal.free()
		return nil, g.pal.err
	}
	by := map[string]*param{}
	for i, p := range g.params {
		p.host = m.Params[i]
		by[p.name] = p
	}
	g.emb, g.normF, g.head = by["backbone.embedding.weight"], by["backbone.norm_f.weight"], by["lm_head.weight"]
	if g.d.tied {
		g.head = g.emb
	}
	for i := 0; i < g.d.L; i++ {
		pre := fmt.Sprintf("backbone.layers.%d.", i)
		g.layers = append(g.layers, layerParams{norm: by[pre+"norm.weight"], dtBias: by[pre+"mixer.dt_bias"], aLog: by[pre+"mixer.A_log"],
			dd: by[pre+"mixer.D"], in: by[pre+"mixer.in_proj.weight"], convW: by[pre+"mixer.conv1d.weight"], convB: by[pre+"mixer.conv1d.bias"],
			gnorm: by[pre+"mixer.norm.weight"], out: by[pre+"mixer.out_proj.weight"]})
	}
	if err := g.Upload(ctx); err != nil {
		g.pal.free()
		return nil, err
	}
	return g, nil
}

// Backend is the backend the model lives on.
func (g *Model) Backend() gpu.Backend { return g.be }

// Config is the model's configuration.
func (g *Model) Config() mamba.Config { return g.m.Config }

// MemoryPlan is PlanMemoryOn for this model's backend, configuration and
// options: what training on seqLen tokens allocates.
func (g *Model) MemoryPlan(seqLen int) (MemoryPlan, error) {
	return PlanMemoryOn(g.be, g.m.Config, g.o, seqLen)
}

// Close frees the model's device memory and its decoders' (not the
// backend). Using the model afterwards returns ErrClosed.
func (g *Model) Close() error {
	if g.closed {
		return nil
	}
	for d := range g.decoders {
		_ = d.Close()
	}
	g.freeActs()
	g.tal.free()
	g.pal.free()
	g.closed = true
	return nil
}

func (g *Model) check() error {
	if g == nil || g.closed {
		return ErrClosed
	}
	return nil
}

func (g *Model) freeActs() {
	if g.acts != nil {
		g.acts.al.free()
		g.acts = nil
	}
}

// ensureTrain allocates the gradients and AdamW moments (zero).
func (g *Model) ensureTrain() error {
	if g.tal != nil {
		return nil
	}
	a := &allocator{be: g.be}
	allocTrain(a, g.flat, g.params)
	if a.err != nil {
		a.free()
		for _, p := range g.params {
			p.g, p.mom, p.vl = nil, nil, nil
		}
		f := g.flat
		f.g, f.m, f.v, f.stats, f.normOut, f.lossAcc = nil, nil, nil, nil, nil, nil
		return a.err
	}
	g.tal = a
	return nil
}

// ensureActs makes the activation buffers hold T tokens (for training:
// with every layer's saved activations).
func (g *Model) ensureActs(T int, training bool) (*acts, error) {
	if T <= 0 {
		return nil, errors.New("gpumodel: empty sequence")
	}
	if g.o.MaxSeq > 0 && T > g.o.MaxSeq {
		return nil, fmt.Errorf("gpumodel: sequence of %d tokens is longer than Options.MaxSeq %d", T, g.o.MaxSeq)
	}
	if x := g.acts; x != nil && x.T >= T && (x.training || !training) {
		return x, nil
	}
	// Growing while training: stay laid out for training, so that
	// alternating training and evaluation does not reallocate every call.
	training = training || (g.acts != nil && g.acts.training)
	capT := T
	if g.o.MaxSeq > 0 {
		capT = g.o.MaxSeq
	} else if g.acts != nil {
		capT = max(capT, g.acts.T)
	}
	g.freeActs()
	a := &allocator{be: g.be}
	x := allocActs(a, g.d, capT, g.dt, training, g.o.ActivationBudget)
	if a.err != nil {
		a.free()
		return nil, a.err
	}
	g.acts = x
	return x, nil
}

func (g *Model) checkIDs(what string, ids []int32, ignoreOK bool) error {
	V := g.d.V
	for t, id := range ids {
		if ignoreOK && id == gpu.IgnoreIndex {
			continue
		}
		if id < 0 || int(id) >= V {
			if ignoreOK {
				return fmt.Errorf("gpumodel: %s[%d] = %d is outside the vocabulary [0, %d) and not %d", what, t, id, V, gpu.IgnoreIndex)
			}
			return fmt.Errorf("gpumodel: %s[%d] = %d is outside the vocabulary [0, %d)", what, t, id, V)
		}
	}
	return nil
}

// Forward returns the logits [len(ids), PaddedVocab] of one sequence (read
// back to the host), for parity checks and scoring.
func (g *Model) Forward(ctx context.Context, ids []int32) (logits []float32, err error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	if err := g.checkIDs("ids", ids, false); err != nil {
		return nil, err
	}
	x, err := g.ensureActs(len(ids), false)
	if err != nil {
		return nil, err
	}
	if err := g.forward(ctx, x, ids, nil, nil); err != nil {
		return nil, err
	}
	out := make([]float32, len(ids)*g.d.V)
	if err := g.be.Read(out, x.logits, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// ForwardBackward runs one sequence forward and backward: targets[t] is the
// next-token target of position t (gpu.IgnoreIndex = -100: not counted). It
// returns the summed cross-entropy and the number of counted targets, and
// adds gradScale * d(lossSum)/dθ into the device gradients. It waits for the
// device to read the loss back; ForwardBackwardAsync does not. After an
// error (a cancelled ctx included) the gradients may hold part of the pass:
// zero them before trying again.
func (g *Model) ForwardBackward(ctx context.Context, ids, targets []int32, gradScale float32) (lossSum float64, n int, err error) {
	x, n, err := g.forwardBackward(ctx, ids, targets, gradScale)
	if err != nil {
		return 0, 0, err
	}
	losses := make([]float32, len(ids))
	if err := g.be.Read(losses, x.losses, 0); err != nil {
		return 0, 0, err
	}
	for _, l := range losses {
		lossSum += float64(l)
	}
	return lossSum, n, nil
}

// ForwardBackwardAsync is ForwardBackward without waiting for the device:
// it adds lossScale times the sequence's summed cross-entropy to a loss
// accumulator on the device (for a micro-batch's mean loss: lossScale =
// gradScale = 1/(counted targets x micro-batches)), which TakeLoss reads
// once per optimizer step, and returns the number of counted targets
// (counted on the host). On a backend without gpu.FlatOptimizer the loss is
// read back here and accumulated on the host instead.
func (g *Model) ForwardBackwardAsync(ctx context.Context, ids, targets []int32, gradScale float32, lossScale float64) (n int, err error) {
	if math.IsNaN(lossScale) || math.IsInf(lossScale, 0) {
		return 0, fmt.Errorf("gpumodel: forward-backward: lossScale %v is not finite", lossScale)
	}
	fo, ok := g.be.(gpu.FlatOptimizer)
	if !ok {
		sum, n, err := g.ForwardBackward(ctx, ids, targets, gradScale)
		if err != nil {
			return 0, err
		}
		g.hostLoss += lossScale * sum
		return n, nil
	}
	x, n, err := g.forwardBackward(ctx, ids, targets, gradScale)
	if err != nil {
		return 0, err
	}
	if err := fo.AccumulateSum(ctx, &gpu.AccumulateSumArgs{N: len(ids), Scale: lossScale, Src: x.losses, Out: g.flat.lossAcc}); err != nil {
		return 0, fmt.Errorf("gpumodel: accumulating the loss: %w", err)
	}
	return n, nil
}

// TakeLoss returns the loss ForwardBackwardAsync accumulated since the last
// TakeLoss or ZeroGrad (waiting for the device) and resets it to zero.
func (g *Model) TakeLoss(ctx context.Context) (float64, error) {
	if err := g.check(); err != nil {
		return 0, err
	}
	if err := g.ensureTrain(); err != nil {
		return 0, err
	}
	if _, ok := g.be.(gpu.FlatOptimizer); !ok {
		l := g.hostLoss
		g.hostLoss = 0
		return l, nil
	}
	var pair [2]float32
	if err := g.be.Read(pair[:], g.flat.lossAcc, 0); err != nil {
		return 0, fmt.Errorf("gpumodel: reading the loss: %w", err)
	}
	if err := g.be.Fill(ctx, g.flat.lossAcc, 0); err != nil {
		return 0, fmt.Errorf("gpumodel: resetting the loss: %w", err)
	}
	return gpu.PairValue(pair[0], pair[1]), nil
}

// forwardBackward checks the arguments and queues one sequence's forward
// and backward pass.
func (g *Model) forwardBackward(ctx context.Context, ids, targets []int32, gradScale float32) (x *acts, n int, err error) {
	if err := g.check(); err != nil {
		return nil, 0, err
	}
	if len(targets) != len(ids) {
		return nil, 0, fmt.Errorf("gpumodel: forward-backward: %d targets for %d ids", len(targets), len(ids))
	}
	if math.IsNaN(float64(gradScale)) || math.IsInf(float64(gradScale), 0) {
		return nil, 0, fmt.Errorf("gpumodel: forward-backward: gradScale %v is not finite", gradScale)
	}
	if err := g.checkIDs("ids", ids, false); err != nil {
		return nil, 0, err
	}
	if err := g.checkIDs("targets", targets, true); err != nil {
		return nil, 0, err
	}
	if err := g.ensureTrain(); err != nil {
		return nil, 0, err
	}
	x, err = g.ensureActs(len(ids), true)
	if err != nil {
		return nil, 0, err
	}
	for _, t := range targets {
		if t != gpu.IgnoreIndex {
			n++
		}
	}
	if err := g.forward(ctx, x, ids, targets, nil); err != nil {
		return nil, 0, err
	}
	if err := g.backward(ctx, x, len(ids), gradScale); err != nil {
		return nil, 0, err
	}
	return x, n, nil
}

// ZeroGrad sets the device gradients to zero (one Fill of the flat
// gradient buffer) and resets the loss accumulator (ForwardBackwardAsync).
func (g *Model) ZeroGrad(ctx context.Context) error {
	if err := g.check(); err != nil {
		return err
	}
	if err := g.ensureTrain(); err != nil {
		return err
	}
	g.hostLoss = 0
	if err := g.be.Fill(ctx, g.flat.g, 0); err != nil {
		return fmt.Errorf("gpumodel: zero the gradients: %w", err)
	}
	if err := g.be.Fill(ctx, g.flat.lossAcc, 0); err != nil {
		return fmt.Errorf("gpumodel: zero the loss: %w", err)
	}
	return nil
}

// StepOptions are one optimizer step's hyper-parameters.
type StepOptions struct{ LR, Beta1, Beta2, Eps, WeightDecay, MaxGradNorm float64 }

func (o StepOptions) validate() error {
	bad := func(name string, v float64, ok bool) error {
		if ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return nil
		}
		return fmt.Errorf("gpumodel: step: StepOptions.%s = %v is out of range", name, v)
	}
	for _, e := range []error{bad("LR", o.LR, o.LR >= 0), bad("Beta1", o.Beta1, o.Beta1 >= 0 && o.Beta1 < 1),
		bad("Beta2", o.Beta2, o.Beta2 >= 0 && o.Beta2 < 1), bad("Eps", o.Eps, o.Eps >= 0),
		bad("WeightDecay", o.WeightDecay, o.WeightDecay >= 0), bad("MaxGradNorm", o.MaxGradNorm, true)} {
		if e != nil {
			return e
		}
	}
	return nil
}

// Step clips the global gradient norm to MaxGradNorm (when > 0, as
// train.ClipGradNorm) and applies AdamW exactly as train.AdamW.Update (decay
// on every parameter, bias correction, fp32 moments). It returns the norm
// before clipping, waiting for the device only to read it back. The
// gradients are left as accumulated (the clip coefficient is applied as
// AdamW reads them) and nothing is zeroed.
func (g *Model) Step(ctx context.Context, o StepOptions) (gradNorm float64, err error) {
	if err := g.StepAsync(ctx, o); err != nil {
		return 0, err
	}
	return g.LastGradNorm(ctx)
}

// StepAsync is Step without waiting for the device: with a
// gpu.FlatOptimizer backend two launches (GradNormClip, AdamWFlat over the
// flat buffers) and no host round trip; LastGradNorm reads the norm later.
// On other backends the norm is read back (SumSquares) and AdamW runs per
// parameter.
func (g *Model) StepAsync(ctx context.Context, o StepOptions) error {
	if err := g.check(); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if err := g.ensureTrain(); err != nil {
		return err
	}
	step, f := g.steps+1, g.flat
	fo, ok := g.be.(gpu.FlatOptimizer)
	if !ok {
		return g.stepPerTensor(ctx, o, step)
	}
	if err := fo.GradNormClip(ctx, &gpu.GradNormClipArgs{N: f.n, MaxNorm: o.MaxGradNorm, Grad: f.g, Out: f.normOut}); err != nil {
		return fmt.Errorf("gpumodel: step: %w", err)
	}
	a := &gpu.AdamWFlatArgs{N: f.n, Step: step, LR: float32(o.LR), Beta1: float32(o.Beta1), Beta2: float32(o.Beta2),
		Eps: float32(o.Eps), WeightDecay: float32(o.WeightDecay), Scale: f.normOut, ScaleIndex: gpu.GradNormOutCoef,
		Param: f.w, Grad: f.g, M: f.m, V: f.v}
	if f.work != nil {
		a.Copy, a.CopyN = f.work, f.copyN
	}
	if err := fo.AdamWFlat(ctx, a); err != nil {
		return fmt.Errorf("gpumodel: step: %w", err)
	}
	g.steps = step
	return nil
}

// LastGradNorm is the gradient norm (before clipping) of the last Step or
// StepAsync, waiting for the device.
func (g *Model) LastGradNorm(ctx context.Context) (float64, error) {
	if err := g.check(); err != nil {
		return 0, err
	}
	if err := g.ensureTrain(); err != nil {
		return 0, err
	}
	if _, ok := g.be.(gpu.FlatOptimizer); !ok {
		return g.hostNorm, nil
	}
	out := make([]float32, gpu.GradNormOutLen)
	if err := g.be.Read(out, g.flat.normOut, 0); err != nil {
		return 0, fmt.Errorf("gpumodel: reading the gradient norm: %w", err)
	}
	return math.Sqrt(gpu.PairValue(out[gpu.GradNormOutSSHi], out[gpu.GradNormOutSSLo])), nil
}

// stepPerTensor is StepAsync on a backend without gpu.FlatOptimizer: the
// norm from SumSquares, then AdamW per parameter with the clip coefficient
// as its GradScale (the same arithmetic as AdamWFlat).
func (g *Model) stepPerTensor(ctx context.Context, o StepOptions, step int) error {
	ss, err := g.be.SumSquares(ctx, []gpu.Buffer{g.flat.g})
	if err != nil {
		return fmt.Errorf("gpumodel: step: %w", err)
	}
	norm, scale := math.Sqrt(ss), float32(1)
	if o.MaxGradNorm > 0 {
		if c := o.MaxGradNorm / (norm + 1e-6); c < 1 {
			scale = float32(c)
		}
	}
	for _, p := range g.params {
		a := &gpu.AdamWArgs{N: p.n, Step: step, LR: float32(o.LR), Beta1: float32(o.Beta1), Beta2: float32(o.Beta2),
			Eps: float32(o.Eps), WeightDecay: float32(o.WeightDecay), GradScale: scale, Param: p.w, Grad: p.g, M: p.mom, V: p.vl}
		if p.work != p.w {
			a.Copy = p.work
		}
		if err := g.be.AdamW(ctx, a); err != nil {
			return fmt.Errorf("gpumodel: step: %s: %w", p.name, err)
		}
	}
	g.steps, g.hostNorm = step, norm
	return nil
}

// OptimizerSteps is the number of AdamW steps taken (train.AdamW.Steps).
func (g *Model) OptimizerSteps() int { return g.steps }

// Download copies the device fp32 master weights into m.Params[i].Data.
func (g *Model) Download(ctx context.Context) error {
	if err := g.check(); err != nil {
		return err
	}
	if err := g.be.Sync(ctx); err != nil {
		return err
	}
	for _, p := range g.params {
		if len(p.host.Data) != p.n {
			return fmt.Errorf("gpumodel: download: %s has %d values on the host, %d on the device (was the model resized?)", p.name, len(p.host.Data), p.n)
		}
		if err := g.be.Read(p.host.Data, p.w, 0); err != nil {
			return fmt.Errorf("gpumodel: download %s: %w", p.name, err)
		}
	}
	return nil
}

// Upload copies m.Params[i].Data into the device master weights and their
// working copies.
func (g *Model) Upload(ctx context.Context) error {
	if err := g.check(); err != nil {
		return err
	}
	if len(g.m.Params) != len(g.params) {
		return fmt.Errorf("gpumodel: upload: the model has %d parameters, the device %d", len(g.m.Params), len(g.params))
	}
	for i, p := range g.params {
		if g.m.Params[i] != p.host || len(p.host.Data) != p.n {
			return fmt.Errorf("gpumodel: upload: %s changed shape on the host (was the model resized?); build a new gpumodel.Model", p.name)
		}
		if err := g.be.Write(p.w, 0, p.host.Data); err != nil {
			return fmt.Errorf("gpumodel: upload %s: %w", p.name, err)
		}
		if p.work != p.w {
			if err := g.be.Write(p.work, 0, p.host.Data); err != nil {
				return fmt.Errorf("gpumodel: upload %s: %w", p.name, err)
			}
		}
	}
	return g.be.Sync(ctx)
}

func (g *Model) checkShaped(what string, s [][]float32) error {
	if len(s) != len(g.params) {
		return fmt.Errorf("gpumodel: %s has %d slices, the model has %d parameters", what, len(s), len(g.params))
	}
	for i, p := range g.params {
		if len(s[i]) != p.n {
			return fmt.Errorf("gpumodel: %s[%d] has %d values, %s has %d", what, i, len(s[i]), p.name, p.n)
		}
	}
	return nil
}

// ReadOptimizer copies the AdamW moments into mom and vel (shaped like
// m.Params: one slice of each parameter's size) and returns the step count.
func (g *Model) ReadOptimizer(ctx context.Context, mom, vel [][]float32) (steps int, err error) {
	if err := g.check(); err != nil {
		return 0, err
	}
	if err := g.checkShaped("mom", mom); err != nil {
		return 0, err
	}
	if err := g.checkShaped("vel", vel); err != nil {
		return 0, err
	}
	if err := g.ensureTrain(); err != nil {
		return 0, err
	}
	for i, p := range g.params {
		if err := g.be.Read(mom[i], p.mom, 0); err != nil {
			return 0, err
		}
		if err := g.be.Read(vel[i], p.vl, 0); err != nil {
			return 0, err
		}
	}
	return g.steps, nil
}

// WriteOptimizer sets the AdamW moments and step count (to resume training).
func (g *Model) WriteOptimizer(ctx context.Context, steps int, mom, vel [][]float32) error {
	if err := g.check(); err != nil {
		return err
	}
	if steps < 0 {
		return fmt.Errorf("gpumodel: write optimizer: steps must not be negative, got %d", steps)
	}
	if err := g.checkShaped("mom", mom); err != nil {
		return err
	}
	if err := g.checkShaped("vel", vel); err != nil {
		return err
	}
	if err := g.ensureTrain(); err != nil {
		return err
	}
	for i, p := range g.params {
		if err := g.be.Write(p.mom, 0, mom[i]); err != nil {
			return err
		}
		if err := g.be.Write(p.vl, 0, vel[i]); err != nil {
			return err
		}
	}
	g.steps = steps
	return g.be.Sync(ctx)
}

// Grads returns host copies of the gradients, shaped like m.Params (zeros
// before any backward pass).
func (g *Model) Grads(ctx context.Context) ([][]float32, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	out := make([][]float32, len(g.params))
	for i, p := range g.params {
		out[i] = make([]float32, p.n)
		if p.g == nil {
			continue
		}
		if err := g.be.Read(out[i], p.g, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}
