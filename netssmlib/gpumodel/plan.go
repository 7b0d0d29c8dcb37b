package gpumodel

import (
	"fmt"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// minAutoBudget is the least ActivationBudget of 0 (see autoBudget).
const minAutoBudget = 1 << 30

// allocator allocates buffers on a backend and remembers them so that a
// group can be freed at once. With a nil backend it only adds up the bytes
// (a dry run): PlanMemory runs the very code that allocates, so the plan
// cannot drift from what the model does.
type allocator struct {
	be    gpu.Backend
	bytes int64
	bufs  []gpu.Buffer
	err   error
}

func (a *allocator) buf(dt gpu.DType, n int) gpu.Buffer {
	a.bytes += int64(n) * int64(dt.Size())
	if a.be == nil || a.err != nil {
		return nil
	}
	b, err := a.be.Alloc(dt, n)
	if err != nil {
		a.err = fmt.Errorf("gpumodel: allocating %d %v elements: %w", n, dt, err)
		return nil
	}
	a.bufs = append(a.bufs, b)
	return b
}

// free frees every buffer of the group.
func (a *allocator) free() {
	if a == nil || a.be == nil {
		return
	}
	for _, b := range a.bufs {
		a.be.Free(b)
	}
	a.bufs = nil
}

// dims are the model's sizes.
type dims struct {
	D, V, L, DI, H, P, G, N, K, Q, CD, DP int
	convBias, tied                        bool
}

func dimsOf(c mamba.Config) dims {
	s := c.SSMCfg
	return dims{D: c.DModel, V: c.PaddedVocab(), L: c.NLayer, DI: c.DInner(), H: c.NHeads(), P: s.HeadDim,
		G: s.NGroups, N: s.DState, K: s.DConv, Q: s.ChunkSize, CD: c.ConvDim(), DP: c.DInProj(),
		convBias: s.ConvBias, tied: c.TieEmbeddings}
}

// spec is one parameter as mamba.Model lays it out.
type spec struct {
	name string
	n    int
	gemm bool // read by a matrix product (gets a working copy in bf16)
}

// specs lists mamba.Model's parameters in its order (state_dict order).
func specs(c mamba.Config) []spec {
	d := dimsOf(c)
	out := []spec{{"backbone.embedding.weight", d.V * d.D, d.tied}}
	for i := 0; i < d.L; i++ {
		pre := fmt.Sprintf("backbone.layers.%d.", i)
		out = append(out, spec{pre + "norm.weight", d.D, false}, spec{pre + "mixer.dt_bias", d.H, false},
			spec{pre + "mixer.A_log", d.H, false}, spec{pre + "mixer.D", d.H, false},
			spec{pre + "mixer.in_proj.weight", d.DP * d.D, true}, spec{pre + "mixer.conv1d.weight", d.CD * d.K, false})
		if d.convBias {
			out = append(out, spec{pre + "mixer.conv1d.bias", d.CD, false})
		}
		out = append(out, spec{pre + "mixer.norm.weight", d.DI, false}, spec{pre + "mixer.out_proj.weight", d.D * d.DI, true})
	}
	out = append(out, spec{"backbone.norm_f.weight", d.D, false})
	if !d.tied {
		out = append(out, spec{"lm_head.weight", d.V * d.D, true})
	}
	return out
}

// param is one trainable tensor on the device: views of the flat buffers.
type param struct {
	spec
	off        int          // offset in the flat buffers
	host       *mamba.Param // nil in a dry run
	w          gpu.Buffer   // fp32 master
	work       gpu.Buffer   // what matrix products read: w, or its bf16 copy
	g, mom, vl gpu.Buffer   // fp32 gradient and AdamW moments (training state)
}

// flatAlign is the alignment, in elements, of every parameter's offset in
// the flat buffers: 16 bytes in bf16 (32 in fp32), so that the weight views
// take the GEMM's tensor-core path and the decode GEMVs' 16-byte loads
// (gpu/cuda: rows starting 16-byte aligned).
const flatAlign = 8

// The elements of flat.stats: GradNormClip's output, then the loss
// accumulator (an fp32 pair, gpu.AccumulateSumArgs).
const (
	statsNorm = 0
	statsLoss = gpu.GradNormOutLen
	statsLen  = statsLoss + 2
)

// flat is the model's parameter storage: every parameter is a view (at
// param.off) of one buffer per kind, so that zeroing the gradients, the
// global norm and AdamW are one launch each over all of them. The
// matrix-product weights come first, so their bf16 working copies are one
// prefix [0, copyN) of the layout.
type flat struct {
	n, copyN int
	w, work  gpu.Buffer // F32 [n]; dt [copyN] (nil in f32 mode)
	g, m, v  gpu.Buffer // F32 [n] gradients and AdamW moments (training)
	stats    gpu.Buffer // F32 [statsLen] (training)
	normOut  gpu.Buffer // view of stats: GradNormClip's Out
	lossAcc  gpu.Buffer // view of stats: the loss accumulator
}

// layout assigns each parameter its offset: the matrix-product weights
// (those with working copies) first, each offset a multiple of flatAlign.
func layout(ps []*param, dt gpu.DType) (n, copyN int) {
	align := func(x int) int { return (x + flatAlign - 1) / flatAlign * flatAlign }
	for pass := 0; pass < 2; pass++ {
		for _, p := range ps {
			if p.gemm == (pass == 0) {
				n = align(n)
				p.off = n
				n += p.n
			}
		}
		if pass == 0 && dt != gpu.F32 {
			copyN = n
		}
	}
	return n, copyN
}

// view is the view [off, off+n) of b (nil in a dry run).
func (a *allocator) view(b gpu.Buffer, off, n int) gpu.Buffer {
	if b == nil || a.err != nil {
		return nil
	}
	v, err := gpu.Slice(b, off, n)
	if err != nil {
		a.err = fmt.Errorf("gpumodel: %w", err)
		return nil
	}
	return v
}

func allocParams(a *allocator, sp []spec, dt gpu.DType) ([]*param, *flat) {
	ps := make([]*param, len(sp))
	for i, s := range sp {
		ps[i] = &param{spec: s}
	}
	f := &flat{}
	f.n, f.copyN = layout(ps, dt)
	f.w = a.buf(gpu.F32, f.n)
	if f.copyN > 0 {
		f.work = a.buf(dt, f.copyN)
	}
	for _, p := range ps {
		p.w = a.view(f.w, p.off, p.n)
		p.work = p.w
		if p.gemm && f.copyN > 0 {
			p.work = a.view(f.work, p.off, p.n)
		}
	}
	return ps, f
}

func allocTrain(a *allocator, f *flat, ps []*param) {
	f.g, f.m, f.v = a.buf(gpu.F32, f.n), a.buf(gpu.F32, f.n), a.buf(gpu.F32, f.n)
	f.stats = a.buf(gpu.F32, statsLen)
	f.normOut, f.lossAcc = a.view(f.stats, statsNorm, gpu.GradNormOutLen), a.view(f.stats, statsLoss, 2)
	for _, p := range ps {
		p.g, p.mom, p.vl = a.view(f.g, p.off, p.n), a.view(f.m, p.off, p.n), a.view(f.v, p.off, p.n)
	}
}

// lacts are the buffers one layer's forward pass writes.
type lacts struct {
	res       gpu.Buffer // F32 [T, D] residual entering the layer (norm's ResidualOut)
	zx        gpu.Buffer // dt [T, DP] in_proj output: z | xBC | dt
	u         gpu.Buffer // dt [T, D] norm output (in_proj input)
	rstd      gpu.Buffer // F32 [T]
	xbc       gpu.Buffer // dt [T, CD] conv output after SiLU: x | B | C
	y         gpu.Buffer // dt [T, DI] SSD output
	g         gpu.Buffer // dt [T, DI] gated-norm output (out_proj input)
	grstd     gpu.Buffer // F32 [T, G]
	recompute bool       // u..grstd are the shared buffers: recompute them in backward
}

// acts are the activation and gradient buffers of passes over up to T tokens.
type acts struct {
	T        int
	training bool
	keep     int // layers whose u..grstd are kept (training)
	layers   []lacts
	shared   lacts // u..grstd shared by the recomputed layers (nil buffers if none)

	tok                 gpu.Buffer // I32 [2T]: ids and labels, written with one copy
	ids, labels, losses gpu.Buffer // I32 [T] (view of tok), I32 view of tok, F32 [T]
	h                   gpu.Buffer // F32 [T, D] embedding / mixer output
	fin                 gpu.Buffer // dt [T, D] final norm output
	finRes              gpu.Buffer // F32 [T, D]
	finRstd             gpu.Buffer // F32 [T]
	logits              gpu.Buffer // F32 [T, V], dlogits in place in training

	// training only
	dlogitsW    gpu.Buffer // dt [T, V] bf16 copy of dlogits (bf16 mode; else nil)
	carry, next gpu.Buffer // F32 [T, D] residual-stream gradient
	carryW      gpu.Buffer // dt [T, D] bf16 copy of carry (bf16 mode; else nil)
	dnorm       gpu.Buffer // F32 [T, D] gradient of a norm's output
	dzx         gpu.Buffer // dt [T, DP]
	dxbc        gpu.Buffer // dt [T, CD]
	dy, dg      gpu.Buffer // dt [T, DI]

	saved, scratch int64 // bytes (per-layer saved activations; the rest)
	al             *allocator
}

// keptBytes is what keeping one layer's recomputable activations costs.
func keptBytes(d dims, T int, dt gpu.DType) int64 {
	s, f := int64(dt.Size()), int64(4)
	t := int64(T)
	return t*(int64(d.D)+int64(d.CD)+2*int64(d.DI))*s + t*(1+int64(d.G))*f
}

// autoBudget is the ActivationBudget of 0: half of what the always-kept
// activations (residual and in_proj output of every layer) take, and at
// least 1 GiB. Recomputing costs forward work of the cheap ops only, and the
// memory it saves grows with the sequence, so the budget does too: for
// NetSSM's model it keeps 11 of 24 layers at 8,192 tokens (1 GiB) and 10 at
// 100,000 (10.9 GiB).
func autoBudget(d dims, T int, dt gpu.DType) int64 {
	always := int64(d.L) * int64(T) * (4*int64(d.D) + int64(dt.Size())*int64(d.DP))
	return max(minAutoBudget, always/2)
}

// keepLayers is how many layers keep their recomputable activations.
func keepLayers(d dims, T int, dt gpu.DType, budget int64) int {
	if budget == 0 {
		budget = autoBudget(d, T, dt)
	}
	if budget < 0 {
		return 0
	}
	return int(min(int64(d.L), budget/keptBytes(d, T, dt)))
}

func allocLayerActs(a *allocator, d dims, T int, dt gpu.DType, l *lacts) {
	l.u, l.rstd = a.buf(dt, T*d.D), a.buf(gpu.F32, T)
	l.xbc, l.y, l.g = a.buf(dt, T*d.CD), a.buf(dt, T*d.DI), a.buf(dt, T*d.DI)
	l.grstd = a.buf(gpu.F32, T*d.G)
}

// allocActs lays out the buffers for passes over up to T tokens. Training
// keeps every layer's residual and in_proj output and, for the first keep
// layers, the rest of its activations; inference keeps one layer's.
func allocActs(a *allocator, d dims, T int, dt gpu.DType, training bool, budget int64) *acts {
	x := &acts{T: T, training: training, al: a}
	start := a.bytes
	nl := 1
	if training {
		nl = d.L
		x.keep = keepLayers(d, T, dt, budget)
	}
	x.layers = make([]lacts, nl)
	for i := range x.layers {
		l := &x.layers[i]
		l.res, l.zx = a.buf(gpu.F32, T*d.D), a.buf(dt, T*d.DP)
		if i < x.keep {
			allocLayerActs(a, d, T, dt, l)
		}
	}
	x.saved = a.bytes - start
	start = a.bytes
	if x.keep < nl {
		allocLayerActs(a, d, T, dt, &x.shared)
	}
	x.tok = a.buf(gpu.I32, 2*T)
	x.ids, x.labels, x.losses = a.view(x.tok, 0, T), a.view(x.tok, T, T), a.buf(gpu.F32, T)
	x.h, x.fin, x.finRes, x.finRstd = a.buf(gpu.F32, T*d.D), a.buf(dt, T*d.D), a.buf(gpu.F32, T*d.D), a.buf(gpu.F32, T)
	x.logits = a.buf(gpu.F32, T*d.V)
	if training {
		if dt != gpu.F32 {
			x.dlogitsW, x.carryW = a.buf(dt, T*d.V), a.buf(dt, T*d.D)
		}
		x.carry, x.next, x.dnorm = a.buf(gpu.F32, T*d.D), a.buf(gpu.F32, T*d.D), a.buf(gpu.F32, T*d.D)
		x.dzx, x.dxbc = a.buf(dt, T*d.DP), a.buf(dt, T*d.CD)
		x.dy, x.dg = a.buf(dt, T*d.DI), a.buf(dt, T*d.DI)
	}
	x.scratch = a.bytes - start
	return x
}

// view is the buffers layer l writes: in training its own residual and
// in_proj output and (kept or shared) the rest; in inference slot 0.
func (x *acts) view(l int) lacts {
	if !x.training {
		l = 0
	}
	v := x.layers[l]
	if x.training && l < x.keep {
		return v
	}
	if !x.training && x.keep > 0 {
		return v
	}
	s := x.shared
	s.res, s.zx, s.recompute = v.res, v.zx, true
	return s
}

// MemoryPlan is the device memory a Model allocates to train on sequences
// of a given length, in bytes at the device's element sizes (fp32 4, bf16 2,
// int32 4). The backend's own scratch (the CUDA backend's SSD arena) is not
// included.
type MemoryPlan struct {
	Params      int64 // fp32 masters + bf16 working copies of the matrix-product weights
	Optimizer   int64 // fp32 gradients + AdamW moments (+ 24 bytes of step statistics)
	Saved       int64 // per-layer activations kept from the forward to the backward pass
	Scratch     int64 // buffers shared by all layers (activations of recomputed layers, gradients, logits)
	Total       int64
	KeptLayers  int // layers whose recomputable activations are kept (the rest are recomputed)
	TotalLayers int
	// BackendScratch is the backend's own scratch for the largest op (the
	// SSD scan), from PlanMemoryOn when the backend can tell; not in Total.
	BackendScratch int64
}

// SSDScratcher is implemented by backends whose SSD scan takes scratch
// memory of its own (the CUDA backend's chunk states and accumulators).
type SSDScratcher interface {
	SSDScratchBytes(a *gpu.SSDArgs, backward bool) (int64, error)
}

// PlanMemoryOn is PlanMemory plus, when be implements SSDScratcher, the
// scratch of the SSD scan over seqLen tokens in BackendScratch (the larger of
// forward and backward: the backend's arena is reused by every op).
func PlanMemoryOn(be gpu.Backend, cfg mamba.Config, o Options, seqLen int) (MemoryPlan, error) {
	p, err := PlanMemory(cfg, o, seqLen)
	if err != nil {
		return p, err
	}
	if s, ok := be.(SSDScratcher); ok {
		d := dimsOf(cfg)
		a := &gpu.SSDArgs{Batch: 1, Seq: seqLen, Heads: d.H, HeadDim: d.P, Groups: d.G, State: d.N, ChunkSize: d.Q}
		fwd, err := s.SSDScratchBytes(a, false)
		if err != nil {
			return p, fmt.Errorf("gpumodel: %w", err)
		}
		bwd, err := s.SSDScratchBytes(a, true)
		if err != nil {
			return p, fmt.Errorf("gpumodel: %w", err)
		}
		p.BackendScratch = max(fwd, bwd)
	}
	return p, nil
}

func (p MemoryPlan) String() string {
	gib := func(b int64) float64 { return float64(b) / (1 << 30) }
	return fmt.Sprintf("%.3f GiB (params %.3f, optimizer %.3f, saved activations %.3f, scratch %.3f; %d of %d layers keep all activations)",
		gib(p.Total), gib(p.Params), gib(p.Optimizer), gib(p.Saved), gib(p.Scratch), p.KeptLayers, p.TotalLayers)
}

// PlanMemory returns the bytes New plus training on sequences of seqLen
// tokens allocate (with MaxSeq set, seqLen should be MaxSeq), without
// allocating anything. The formula, with T tokens, s the activation dtype's
// size and k the kept layers:
//
//	params    = 4*nflat + s*ncopy     (nflat: nparams plus alignment padding, < 8 elements per parameter;
//	                                   ncopy: the padded in_proj + out_proj + lm_head prefix, bf16 only)
//	optimizer = 12*nflat + 24          (the 24: grad norm, clip coefficient and loss on the device)
//	saved     = L*T*(4*D + s*DInProj) + k*T*(s*(D + ConvDim + 2*DInner) + 4*(1 + ngroups))
//	scratch   = (k < L ? T*(s*(D+ConvDim+2*DInner) + 4*(1+ngroups)) : 0)
//	          + T*(12 + 4*D + s*D + 4*D + 4 + 4*V)                 (ids, labels, losses, h, fin, finRes, finRstd, logits)
//	          + T*(s*V + s*D if bf16) + T*(12*D + s*(DInProj + ConvDim + 2*DInner))   (gradients)
func PlanMemory(cfg mamba.Config, o Options, seqLen int) (MemoryPlan, error) {
	if err := cfg.Validate(); err != nil {
		return MemoryPlan{}, err
	}
	dt, err := o.dtype()
	if err != nil {
		return MemoryPlan{}, err
	}
	if seqLen <= 0 {
		return MemoryPlan{}, fmt.Errorf("gpumodel: plan: seqLen must be > 0, got %d", seqLen)
	}
	d := dimsOf(cfg)
	var pa, ta, aa allocator
	ps, f := allocParams(&pa, specs(cfg), dt)
	allocTrain(&ta, f, ps)
	x := allocActs(&aa, d, seqLen, dt, true, o.ActivationBudget)
	p := MemoryPlan{Params: pa.bytes, Optimizer: ta.bytes, Saved: x.saved, Scratch: x.scratch, KeptLayers: x.keep, TotalLayers: d.L}
	p.Total = p.Params + p.Optimizer + p.Saved + p.Scratch
	return p, nil
}

func (o Options) dtype() (gpu.DType, error) {
	switch o.DType {
	case 0:
		return gpu.BF16, nil
	case gpu.BF16, gpu.F32:
		return o.DType, nil
	}
	return 0, fmt.Errorf("gpumodel: Options.DType %v: want gpu.BF16 or gpu.F32", o.DType)
}
