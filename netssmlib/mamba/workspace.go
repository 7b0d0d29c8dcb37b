package mamba

// layerCache holds one layer's activations for one sequence, everything the
// backward pass needs. Shapes are [T, width] row-major.
type layerCache struct {
	u      []float32 // [T, D]        RMSNorm(residual) * norm.weight, in_proj input
	rstd1  []float32 // [T]           1/rms of the residual
	zx     []float32 // [T, DInProj]  in_proj output: z | xBC (pre-conv) | dt (raw)
	cpre   []float32 // [T, ConvDim]  conv output before SiLU
	xbc    []float32 // [T, ConvDim]  after SiLU: x | B | C
	dt     []float32 // [T, H]        softplus(dt + dt_bias)
	y      []float32 // [T, DInner]   SSD output + D*x
	rstd2  []float32 // [T, G]        1/rms of y*silu(z) per group
	yn     []float32 // [T, DInner]   gated RMSNorm output, out_proj input
	states []float32 // [nchunks+1, H, P, N] SSM state at each chunk start (last: final)
}

func newLayerCache(cfg Config, T int) *layerCache {
	s := cfg.SSMCfg
	nc := (T + s.ChunkSize - 1) / s.ChunkSize
	return &layerCache{
		u:      make([]float32, T*cfg.DModel),
		rstd1:  make([]float32, T),
		zx:     make([]float32, T*cfg.DInProj()),
		cpre:   make([]float32, T*cfg.ConvDim()),
		xbc:    make([]float32, T*cfg.ConvDim()),
		dt:     make([]float32, T*cfg.NHeads()),
		y:      make([]float32, T*cfg.DInner()),
		rstd2:  make([]float32, T*s.NGroups),
		yn:     make([]float32, T*cfg.DInner()),
		states: make([]float32, (nc+1)*cfg.DInner()*s.DState),
	}
}

// ssdScratch is one worker's buffers for one (chunk, head) of the SSD.
type ssdScratch struct {
	m, dm       []float32 // [Q, Q] M = CB∘decay and its gradient
	decay       []float32 // [Q, Q] exp(acum_t - acum_s), s <= t
	lrow, wst   []float32 // [Q]
	xdt, dxdt   []float32 // [Q, P] x*dt and its gradient
	bw, dbw     []float32 // [Q, N] B*exp(acum_last - acum_s) and its gradient
	z, dy       []float32 // [Q, P]
	dhNew       []float32 // [P, N]
	acum, dacum []float32 // [Q]
}

func newSSDScratch(cfg Config) *ssdScratch {
	s := cfg.SSMCfg
	Q, P, N := s.ChunkSize, s.HeadDim, s.DState
	f := func(n int) []float32 { return make([]float32, n) }
	return &ssdScratch{
		m: f(Q * Q), dm: f(Q * Q), decay: f(Q * Q), lrow: f(Q), wst: f(Q),
		xdt: f(Q * P), dxdt: f(Q * P), bw: f(Q * N), dbw: f(Q * N),
		z: f(Q * P), dy: f(Q * P), dhNew: f(N * P), acum: f(Q), dacum: f(Q),
	}
}

// workspace is every buffer a forward or backward pass over T tokens needs,
// allocated once and reused while T does not grow.
type workspace struct {
	T        int
	training bool
	resid    [][]float32 // NLayer+1 of [T, D]: input residual of each layer, then the final one
	caches   []*layerCache
	h        []float32 // [T, D] mixer output
	hf       []float32 // [T, D] norm_f output
	rstdF    []float32 // [T]
	logits   []float32 // [T, V]
	scratch  []*ssdScratch
	cb       []float32 // [G, Q, Q] C·Bᵀ of the current chunk
	dcb      []float32 // [H, Q, Q] per-head gradient of C·Bᵀ
	dbPart   []float32 // [H, Q, N] per-head gradient of B
	dcPart   []float32 // [H, Q, N] per-head gradient of C
	dA       []float32 // [H] per-head gradient of A (one chunk)
	dstate   []float32 // [H, P, N] gradient of the state carried backwards
	// backward
	dresid []float32   // [T, D]
	dbuf   []float32   // [T, max(DInProj, V)]
	dbuf2  []float32   // [T, max(ConvDim, DInner, D)]
	dbuf3  []float32   // [T, ConvDim]
	ddt    []float32   // [T, H]
	part   [][]float32 // per worker partial sums of parameter gradients
}

// cacheAllBudget: when one sequence's activations for all layers fit in
// this many float32s, the backward pass keeps them instead of recomputing
// each layer's forward pass from its input (activation checkpointing).
var cacheAllBudget = 256 << 20 // 1 GiB of float32s; a var so tests can force recomputation

func (cfg Config) cacheFloatsPerToken() int {
	return cfg.DModel + 1 + cfg.DInProj() + 2*cfg.ConvDim() + cfg.NHeads() + 2*cfg.DInner() + cfg.SSMCfg.NGroups +
		cfg.DInner()*cfg.SSMCfg.DState/cfg.SSMCfg.ChunkSize
}

func (m *Model) workspace(T int, training bool) *workspace {
	ws := m.ws
	if ws != nil && ws.T >= T && (ws.training || !training) {
		return ws
	}
	if ws != nil && ws.T > T {
		T = ws.T
	}
	training = training || (ws != nil && ws.training)
	m.ws = nil // let the old one be collected before allocating
	cfg := m.Config
	s := cfg.SSMCfg
	D, V, H, Q, N := cfg.DModel, cfg.PaddedVocab(), cfg.NHeads(), s.ChunkSize, s.DState
	ws = &workspace{T: T, training: training}
	f := func(n int) []float32 { return make([]float32, n) }
	ncache := 1
	if training {
		ws.resid = make([][]float32, cfg.NLayer+1)
		for i := range ws.resid {
			ws.resid[i] = f(T * D)
		}
		budget := cacheAllBudget
		if m.ActivationBudget != 0 {
			budget = int(max(m.ActivationBudget/4, 0))
		}
		if T*cfg.NLayer*cfg.cacheFloatsPerToken() <= budget {
			ncache = cfg.NLayer
		}
	} else {
		ws.resid = [][]float32{f(T * D)}
	}
	for range ncache {
		ws.caches = append(ws.caches, newLayerCache(cfg, T))
	}
	ws.h, ws.hf, ws.rstdF, ws.logits = f(T*D), f(T*D), f(T), f(T*V)
	for range workers() {
		ws.scratch = append(ws.scratch, newSSDScratch(cfg))
	}
	ws.cb = f(s.NGroups * Q * Q)
	if training {
		ws.dcb, ws.dbPart, ws.dcPart = f(H*Q*Q), f(H*Q*N), f(H*Q*N)
		ws.dA, ws.dstate = f(H), f(cfg.DInner()*N)
		ws.dresid = f(T * D)
		ws.dbuf = f(T * max(cfg.DInProj(), V))
		ws.dbuf2 = f(T * max(cfg.ConvDim(), cfg.DInner(), D))
		ws.dbuf3, ws.ddt = f(T*cfg.ConvDim()), f(T*H)
		for range workers() {
			ws.part = append(ws.part, f(max(cfg.DInner()+H, cfg.ConvDim()*(s.DConv+1)+H, D)))
		}
	}
	m.ws = ws
	return ws
}
