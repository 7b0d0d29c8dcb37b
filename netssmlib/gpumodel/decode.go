package gpumodel

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/netssm/netssm/gpu"
)

// Decoder generates with a Model's weights one token per row at a time:
// per layer it keeps each row's conv window (the last d_conv inputs,
// [batch, ConvDim, d_conv]) and SSM state ([batch, H, P, N]), fp32. It sees
// the model's current weights (an optimizer step or Upload in between is
// picked up by the next Step).
type Decoder struct {
	g     *Model
	batch int
	al    *allocator

	ids         gpu.Buffer   // I32 [batch]
	h, res      gpu.Buffer   // F32 [batch, D]
	u           gpu.Buffer   // dt [batch, D]
	zx          gpu.Buffer   // dt [batch, DP]
	xbc         gpu.Buffer   // dt [batch, CD]
	y, gated    gpu.Buffer   // dt [batch, DI]
	rstd, grstd gpu.Buffer   // F32 [batch], [batch, G]
	conv, ssm   []gpu.Buffer // per layer
	fin         gpu.Buffer   // dt [batch, D]
	fres        gpu.Buffer   // F32 [batch, D]
	frstd       gpu.Buffer   // F32 [batch]
	logits      gpu.Buffer   // F32 [batch, V]
	state       gpu.Buffer   // F32 [H*P*N] prefill's final SSM state, allocated on first Prefill

	// fused: the backend has gpu.FusedDecoder, and a layer's step is three
	// launches (in_proj with norm and conv, SSD step, gated norm with
	// out_proj and the residual add) instead of six.
	fused    gpu.FusedDecoder
	useGraph bool
	graph    gpu.Graph
	graphErr error
	closed   bool

	// persistent decode (DecoderOptions.Persistent): pstate is what the
	// first Step found: 0 not yet checked, 1 in use, 2 fell back (persistErr
	// says why).
	persist    bool
	pcheck     int
	pgraph     gpu.Graph
	pstate     int
	persistErr error
}

// DecoderOptions configures NewDecoderOptions.
type DecoderOptions struct {
	// Graph captures the per-token step into a graph on the first Step
	// (see NewDecoder).
	Graph bool
	// Persistent runs the whole per-token step as one persistent kernel
	// when the backend implements gpu.PersistentRecorder and
	// gpu.FusedDecoder (default off). The first Step verifies it: from the
	// same saved state it runs CheckTokens tokens (greedy) both ways, the
	// fused path (through the graph with Graph) and the persistent one,
	// compares the logits and the final states, restores the state and
	// uses the persistent kernel only if they agree; otherwise (or if it
	// cannot be recorded or launched) it goes on with the fused path and
	// PersistentErr says why.
	Persistent bool
	// CheckTokens is the number of tokens of that check (0: 3).
	CheckTokens int
}

// persistTol bounds |persistent - fused| / (1 + |fused|) in the check: both
// run the same per-block code (the same arithmetic in the same order), so
// they agree exactly unless something is wrong; the bound leaves room only
// for a JIT's contraction choices.
const persistTol = 1e-4

// NewDecoder allocates the recurrent state of batch rows (zero). With
// useGraph and a backend implementing gpu.GraphCapturer, the whole per-token
// step is captured into a graph on the first Step and replayed after (if
// the capture fails, stepping goes on op by op: see GraphErr).
func (g *Model) NewDecoder(batch int, useGraph bool) (*Decoder, error) {
	return g.NewDecoderOptions(batch, DecoderOptions{Graph: useGraph})
}

// NewDecoderOptions is NewDecoder with options (persistent decode).
func (g *Model) NewDecoderOptions(batch int, o DecoderOptions) (*Decoder, error) {
	useGraph := o.Graph
	if o.CheckTokens < 0 {
		return nil, fmt.Errorf("gpumodel: decoder CheckTokens must be >= 0, got %d", o.CheckTokens)
	}
	if err := g.check(); err != nil {
		return nil, err
	}
	if batch <= 0 {
		return nil, fmt.Errorf("gpumodel: decoder batch must be > 0, got %d", batch)
	}
	d, B := g.d, batch
	a := &allocator{be: g.be}
	dec := &Decoder{g: g, batch: B, al: a, useGraph: useGraph, persist: o.Persistent, pcheck: o.CheckTokens}
	if dec.pcheck == 0 {
		dec.pcheck = 3
	}
	dec.fused, _ = g.be.(gpu.FusedDecoder)
	dec.ids = a.buf(gpu.I32, B)
	dec.h, dec.res, dec.u = a.buf(gpu.F32, B*d.D), a.buf(gpu.F32, B*d.D), a.buf(g.dt, B*d.D)
	dec.zx, dec.xbc = a.buf(g.dt, B*d.DP), a.buf(g.dt, B*d.CD)
	dec.y, dec.gated = a.buf(g.dt, B*d.DI), a.buf(g.dt, B*d.DI)
	dec.rstd, dec.grstd = a.buf(gpu.F32, B), a.buf(gpu.F32, B*d.G)
	for range g.layers {
		dec.conv = append(dec.conv, a.buf(gpu.F32, B*d.CD*d.K))
		dec.ssm = append(dec.ssm, a.buf(gpu.F32, B*d.DI*d.N))
	}
	dec.fin, dec.fres, dec.frstd = a.buf(g.dt, B*d.D), a.buf(gpu.F32, B*d.D), a.buf(gpu.F32, B)
	dec.logits = a.buf(gpu.F32, B*d.V)
	if a.err != nil {
		a.free()
		return nil, a.err
	}
	g.decoders[dec] = true
	return dec, nil
}

// Batch is the number of rows.
func (dec *Decoder) Batch() int { return dec.batch }

// UsingGraph reports whether steps replay a captured graph.
func (dec *Decoder) UsingGraph() bool { return dec.graph != nil }

// GraphErr is why a requested graph capture failed (nil if it did not).
func (dec *Decoder) GraphErr() error { return dec.graphErr }

// UsingPersistent reports whether steps run the persistent kernel (after
// the first Step verified it).
func (dec *Decoder) UsingPersistent() bool { return dec.pstate == 1 }

// PersistentErr is why a requested persistent decode is not in use (nil if
// it is, or before the first Step).
func (dec *Decoder) PersistentErr() error { return dec.persistErr }

// Path names how steps run: "persistent", "graph" or "ops" (before the
// first Step: what has been decided so far).
func (dec *Decoder) Path() string {
	switch {
	case dec.pstate == 1:
		return "persistent"
	case dec.graph != nil:
		return "graph"
	}
	return "ops"
}

func (dec *Decoder) check() error {
	if dec == nil || dec.closed {
		return errors.New("gpumodel: decoder is closed")
	}
	return dec.g.check()
}

// Reset zeroes row's state (a new sequence).
func (dec *Decoder) Reset(ctx context.Context, row int) error {
	if err := dec.check(); err != nil {
		return err
	}
	if row < 0 || row >= dec.batch {
		return fmt.Errorf("gpumodel: reset: row %d outside a batch of %d", row, dec.batch)
	}
	d := dec.g.d
	zc, zs := make([]float32, d.CD*d.K), make([]float32, d.DI*d.N)
	for l := range dec.conv {
		if err := dec.g.be.Write(dec.conv[l], row*len(zc), zc); err != nil {
			return err
		}
		if err := dec.g.be.Write(dec.ssm[l], row*len(zs), zs); err != nil {
			return err
		}
	}
	return nil
}

// Prefill resets row, runs the prompt through the chunked forward pass (the
// training path's scan with its final state, not token by token) and leaves
// the row's state as if every prompt token had been stepped: the SSM state
// is the scan's final state, the conv window the prompt's last d_conv-1
// conv inputs. It returns the logits after the last prompt token
// [PaddedVocab]. It uses the model's activation buffers (Options.MaxSeq
// bounds the prompt).
func (dec *Decoder) Prefill(ctx context.Context, row int, prompt []int32) (logits []float32, err error) {
	if err := dec.check(); err != nil {
		return nil, err
	}
	g, d := dec.g, dec.g.d
	if row < 0 || row >= dec.batch {
		return nil, fmt.Errorf("gpumodel: prefill: row %d outside a batch of %d", row, dec.batch)
	}
	if len(prompt) == 0 {
		return nil, errors.New("gpumodel: prefill: empty prompt")
	}
	if err := g.checkIDs("prompt", prompt, false); err != nil {
		return nil, err
	}
	x, err := g.ensureActs(len(prompt), false)
	if err != nil {
		return nil, err
	}
	if dec.state == nil {
		a := &allocator{be: g.be}
		dec.state = a.buf(gpu.F32, d.DI*d.N)
		if a.err != nil {
			return nil, a.err
		}
		dec.al.bufs = append(dec.al.bufs, a.bufs...)
	}
	T, K := len(prompt), d.K
	hs := make([]float32, d.DI*d.N)
	rows := min(T, K-1)
	zx := make([]float32, rows*d.DP)
	win := make([]float32, d.CD*K)
	hook := &prefillHook{finalState: dec.state, after: func(l int, la lacts) error {
		if err := g.be.Read(hs, dec.state, 0); err != nil {
			return err
		}
		if err := g.be.Write(dec.ssm[l], row*len(hs), hs); err != nil {
			return err
		}
		// The window before the next step holds inputs T-K+1..T-1 at
		// positions 1..K-1 (position 0 is shifted out by the step).
		if err := g.be.Read(zx, la.zx, (T-rows)*d.DP); err != nil {
			return err
		}
		clear(win)
		for k := 1; k < K; k++ {
			t := T - K + k // prompt position at window slot k
			if t < 0 {
				continue
			}
			src := zx[(t-(T-rows))*d.DP+d.DI:]
			for c := 0; c < d.CD; c++ {
				win[c*K+k] = src[c]
			}
		}
		return g.be.Write(dec.conv[l], row*len(win), win)
	}}
	if err := g.forward(ctx, x, prompt, nil, hook); err != nil {
		return nil, fmt.Errorf("gpumodel: prefill: %w", err)
	}
	out := make([]float32, d.V)
	if err := g.be.Read(out, x.logits, (T-1)*d.V); err != nil {
		return nil, err
	}
	return out, nil
}

// Step feeds next[b] to row b, advances every row's state and writes the
// next-token logits [batch*PaddedVocab] into logits.
func (dec *Decoder) Step(ctx context.Context, next []int32, logits []float32) error {
	if err := dec.check(); err != nil {
		return err
	}
	g, V := dec.g, dec.g.d.V
	if len(next) != dec.batch {
		return fmt.Errorf("gpumodel: step: %d tokens for a batch of %d", len(next), dec.batch)
	}
	if len(logits) != dec.batch*V {
		return fmt.Errorf("gpumodel: step: logits holds %d values, want batch*PaddedVocab = %d", len(logits), dec.batch*V)
	}
	if err := g.checkIDs("next", next, false); err != nil {
		return err
	}
	if dec.persist && dec.pstate == 0 {
		if err := dec.checkPersistent(ctx, next); err != nil {
			return err
		}
	}
	if err := g.be.WriteInt32(dec.ids, 0, next); err != nil {
		return err
	}
	if dec.pstate == 1 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := dec.pgraph.Launch(); err != nil {
			return fmt.Errorf("gpumodel: persistent decode: %w", err)
		}
		return g.be.Read(logits, dec.logits, 0)
	}
	if err := dec.run(ctx); err != nil {
		return err
	}
	return g.be.Read(logits, dec.logits, 0)
}

// run queues one step: through the graph when there is one.
func (dec *Decoder) run(ctx context.Context) error {
	if dec.useGraph && dec.graph == nil && dec.graphErr == nil {
		if gc, ok := dec.g.be.(gpu.GraphCapturer); ok {
			gr, err := gc.CaptureGraph(func() error { return dec.record(ctx) })
			if err != nil {
				dec.graphErr = err
			} else {
				dec.graph = gr
			}
		} else {
			dec.graphErr = fmt.Errorf("gpumodel: backend %s cannot capture graphs", dec.g.be.Name())
		}
	}
	if dec.graph != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		return dec.graph.Launch()
	}
	return dec.record(ctx)
}

// record queues the ops of one step (device work only, no host
// synchronisation: it can be captured).
func (dec *Decoder) record(ctx context.Context) error {
	if dec.fused != nil {
		return dec.recordFused(ctx)
	}
	g, d, B := dec.g, dec.g.d, dec.batch
	if err := g.be.Embedding(ctx, &gpu.EmbeddingArgs{Rows: B, Dim: d.D, IDs: dec.ids, Table: g.emb.w, Out: gpu.Dense(dec.h, d.D)}); err != nil {
		return fmt.Errorf("gpumodel: decode embedding: %w", err)
	}
	for l := range g.layers {
		if err := dec.layerStep(ctx, l); err != nil {
			return fmt.Errorf("gpumodel: decode layer %d: %w", l, err)
		}
	}
	res := gpu.Dense(dec.res, d.D)
	return errs(
		func() error {
			return g.be.AddRMSNorm(ctx, &gpu.AddRMSNormArgs{Rows: B, Dim: d.D, Eps: g.eps, X: gpu.Dense(dec.h, d.D), Residual: &res,
				Weight: g.normF.w, Out: gpu.Dense(dec.fin, d.D), ResidualOut: gpu.Dense(dec.fres, d.D), Rstd: dec.frstd})
		},
		func() error {
			return g.be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: B, N: d.V, K: d.D, Alpha: 1,
				A: gpu.Dense(dec.fin, d.D), B: gpu.Dense(g.head.work, d.D), C: gpu.Dense(dec.logits, d.V)})
		},
	)
}

// layerStep is layer l's whole decode step for every row: the residual
// (dec.res, updated in place) and the mixer input dec.h in, the mixer output
// in dec.h. Fused decode ops can replace its body.
func (dec *Decoder) layerStep(ctx context.Context, l int) error {
	g, d, B, L := dec.g, dec.g.d, dec.batch, dec.g.layers[l]
	be, GN := g.be, d.G*d.N
	res := gpu.Dense(dec.res, d.D)
	na := &gpu.AddRMSNormArgs{Rows: B, Dim: d.D, Eps: g.eps, X: gpu.Dense(dec.h, d.D), Weight: L.norm.w, Out: gpu.Dense(dec.u, d.D),
		ResidualOut: res, Rstd: dec.rstd}
	if l > 0 {
		na.Residual = &res // in place: r_l = h_{l-1} + r_{l-1}
	}
	return errs(
		func() error { return be.AddRMSNorm(ctx, na) },
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: B, N: d.DP, K: d.D, Alpha: 1, A: gpu.Dense(dec.u, d.D), B: gpu.Dense(L.in.work, d.D), C: gpu.Dense(dec.zx, d.DP)})
		},
		func() error {
			return be.Conv1dStep(ctx, &gpu.Conv1dStepArgs{Batch: B, Channels: d.CD, Width: d.K, SiLU: true, X: gpu.Cols(dec.zx, d.DP, d.DI),
				State: dec.conv[l], Weight: L.convW.w, Bias: bias(L.convB), Out: gpu.Dense(dec.xbc, d.CD)})
		},
		func() error {
			return be.SSDStep(ctx, &gpu.SSDStepArgs{Batch: B, Heads: d.H, HeadDim: d.P, Groups: d.G, StateDim: d.N,
				X: gpu.Cols(dec.xbc, d.CD, 0), B: gpu.Cols(dec.xbc, d.CD, d.DI), C: gpu.Cols(dec.xbc, d.CD, d.DI+GN), DT: gpu.Cols(dec.zx, d.DP, d.DI+d.CD),
				DTBias: L.dtBias.w, ALog: L.aLog.w, D: L.dd.w, Y: gpu.Dense(dec.y, d.DI), State: dec.ssm[l]})
		},
		func() error {
			return be.GatedRMSNorm(ctx, &gpu.GatedRMSNormArgs{Rows: B, Dim: d.DI, GroupSize: d.DI / d.G, Eps: g.eps, X: gpu.Dense(dec.y, d.DI),
				Z: gpu.Cols(dec.zx, d.DP, 0), Weight: L.gnorm.w, Out: gpu.Dense(dec.gated, d.DI), Rstd: dec.grstd})
		},
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: B, N: d.D, K: d.DI, Alpha: 1, A: gpu.Dense(dec.gated, d.DI), B: gpu.Dense(L.out.work, d.DI), C: gpu.Dense(dec.h, d.D)})
		},
	)
}

// recordFused is record with the fused decode ops. The residual stream is
// carried differently: the embedding writes it (fp32), DecodeInProj only
// reads it, and DecodeOutProj adds each layer's output into it. Every
// intermediate is rounded as in the unfused sequence (the ops are defined
// as that sequence), so both paths give the same tokens.
func (dec *Decoder) recordFused(ctx context.Context) error {
	g, d, B, fd := dec.g, dec.g.d, dec.batch, dec.fused
	GN := d.G * d.N
	res := gpu.Dense(dec.res, d.D)
	if err := g.be.Embedding(ctx, &gpu.EmbeddingArgs{Rows: B, Dim: d.D, IDs: dec.ids, Table: g.emb.w, Out: res}); err != nil {
		return fmt.Errorf("gpumodel: decode embedding: %w", err)
	}
	for l, L := range g.layers {
		if err := errs(
			func() error {
				return fd.DecodeInProj(ctx, &gpu.DecodeInProjArgs{Rows: B, Dim: d.D, N: d.DP, Eps: g.eps, X: res, NormWeight: L.norm.w,
					W: gpu.Dense(L.in.work, d.D), Out: gpu.Dense(dec.zx, d.DP),
					ConvDim: d.CD, ConvOff: d.DI, ConvWidth: d.K, ConvSiLU: true, ConvState: dec.conv[l],
					ConvWeight: L.convW.w, ConvBias: bias(L.convB), ConvOut: gpu.Dense(dec.xbc, d.CD)})
			},
			func() error {
				return fd.DecodeMixer(ctx, &gpu.DecodeMixerArgs{Batch: B, Heads: d.H, HeadDim: d.P, Groups: d.G, StateDim: d.N,
					X: gpu.Cols(dec.xbc, d.CD, 0), B: gpu.Cols(dec.xbc, d.CD, d.DI), C: gpu.Cols(dec.xbc, d.CD, d.DI+GN), DT: gpu.Cols(dec.zx, d.DP, d.DI+d.CD),
					DTBias: L.dtBias.w, ALog: L.aLog.w, D: L.dd.w, Y: gpu.Dense(dec.y, d.DI), State: dec.ssm[l]})
			},
			func() error {
				return fd.DecodeOutProj(ctx, &gpu.DecodeOutProjArgs{Rows: B, Dim: d.DI, N: d.D, GroupSize: d.DI / d.G, Eps: g.eps,
					Y: gpu.Dense(dec.y, d.DI), Z: gpu.Cols(dec.zx, d.DP, 0), NormWeight: L.gnorm.w,
					W: gpu.Dense(L.out.work, d.DI), Out: gpu.Dense(dec.h, d.D), Residual: &res})
			},
		); err != nil {
			return fmt.Errorf("gpumodel: decode layer %d (fused): %w", l, err)
		}
	}
	if err := fd.DecodeInProj(ctx, &gpu.DecodeInProjArgs{Rows: B, Dim: d.D, N: d.V, Eps: g.eps, X: res, NormWeight: g.normF.w,
		W: gpu.Dense(g.head.work, d.D), Out: gpu.Dense(dec.logits, d.V)}); err != nil {
		return fmt.Errorf("gpumodel: decode head (fused): %w", err)
	}
	return nil
}

// checkPersistent records the persistent step and compares it with the
// fused path over dec.pcheck tokens from the current state (first token
// next, then each row's argmax), then restores the state. It sets pstate;
// an error is returned only for failures of the fused path or of the
// state's save and restore (the persistent path's own failures are a
// fallback with persistErr).
func (dec *Decoder) checkPersistent(ctx context.Context, next []int32) error {
	g, d, B := dec.g, dec.g.d, dec.batch
	fail := func(err error) error {
		dec.pstate, dec.persistErr = 2, err
		if dec.pgraph != nil {
			dec.pgraph.Destroy()
			dec.pgraph = nil
		}
		return nil
	}
	pr, ok := g.be.(gpu.PersistentRecorder)
	switch {
	case !ok:
		return fail(fmt.Errorf("gpumodel: backend %s has no persistent decode", g.be.Name()))
	case dec.fused == nil:
		return fail(fmt.Errorf("gpumodel: backend %s has no fused decode ops (the persistent kernel runs them)", g.be.Name()))
	}
	pg, err := pr.RecordPersistent(func() error { return dec.recordFused(ctx) })
	if err != nil {
		return fail(fmt.Errorf("gpumodel: persistent decode: %w", err))
	}
	dec.pgraph = pg
	// save the state
	saved := make([][]float32, 0, 2*len(dec.conv))
	for l := range dec.conv {
		c, s := make([]float32, B*d.CD*d.K), make([]float32, B*d.DI*d.N)
		if err := errs(func() error { return g.be.Read(c, dec.conv[l], 0) }, func() error { return g.be.Read(s, dec.ssm[l], 0) }); err != nil {
			return err
		}
		saved = append(saved, c, s)
	}
	restore := func() error {
		for l := range dec.conv {
			if err := errs(func() error { return g.be.Write(dec.conv[l], 0, saved[2*l]) }, func() error { return g.be.Write(dec.ssm[l], 0, saved[2*l+1]) }); err != nil {
				return err
			}
		}
		return nil
	}
	// run n tokens one way, returning the logits of each and the final state
	type out struct{ logits, state []float32 }
	runWay := func(step func() error) (out, error) {
		var o out
		ids := append([]int32(nil), next...)
		lg := make([]float32, B*d.V)
		for t := 0; t < dec.pcheck; t++ {
			if err := g.be.WriteInt32(dec.ids, 0, ids); err != nil {
				return o, err
			}
			if err := step(); err != nil {
				return o, err
			}
			if err := g.be.Read(lg, dec.logits, 0); err != nil {
				return o, err
			}
			o.logits = append(o.logits, lg...)
			for b := range ids {
				ids[b] = argmax(lg[b*d.V : (b+1)*d.V])
			}
		}
		for l := range dec.conv {
			c, s := make([]float32, B*d.CD*d.K), make([]float32, B*d.DI*d.N)
			if err := errs(func() error { return g.be.Read(c, dec.conv[l], 0) }, func() error { return g.be.Read(s, dec.ssm[l], 0) }); err != nil {
				return o, err
			}
			o.state = append(append(o.state, c...), s...)
		}
		return o, nil
	}
	ref, err := runWay(func() error { return dec.run(ctx) })
	if err != nil {
		return err
	}
	if err := restore(); err != nil {
		return err
	}
	got, perr := runWay(func() error { return dec.pgraph.Launch() })
	if err := restore(); err != nil {
		return err
	}
	if perr != nil {
		return fail(fmt.Errorf("gpumodel: persistent decode: %w", perr))
	}
	for _, c := range []struct {
		what   string
		ref, x []float32
	}{{"logits", ref.logits, got.logits}, {"state", ref.state, got.state}} {
		if i, diff := worst(c.ref, c.x); diff > persistTol {
			return fail(fmt.Errorf("gpumodel: persistent decode disagrees with the fused path over %d tokens: %s[%d] = %g, fused %g (relative difference %.3g > %g)",
				dec.pcheck, c.what, i, c.x[i], c.ref[i], diff, persistTol))
		}
	}
	dec.pstate = 1
	return nil
}

// worst returns the index and size of the largest |x - ref| / (1 + |ref|)
// (NaN counts as infinite).
func worst(ref, x []float32) (int, float64) {
	wi, wd := 0, 0.0
	for i := range ref {
		r, v := float64(ref[i]), float64(x[i])
		d := math.Abs(v-r) / (1 + math.Abs(r))
		if d != d || math.IsInf(v, 0) != math.IsInf(r, 0) {
			d = math.Inf(1)
		}
		if d > wd {
			wi, wd = i, d
		}
	}
	return wi, wd
}

// argmax is the index of the largest value (inside the padded vocabulary,
// which Step accepts).
func argmax(v []float32) int32 {
	bi := 0
	for i := 1; i < len(v); i++ {
		if v[i] > v[bi] {
			bi = i
		}
	}
	return int32(bi)
}

// Close frees the decoder's device memory (and its graph).
func (dec *Decoder) Close() error {
	if dec == nil || dec.closed {
		return nil
	}
	if dec.pgraph != nil {
		dec.pgraph.Destroy()
		dec.pgraph = nil
	}
	if dec.graph != nil {
		dec.graph.Destroy()
		dec.graph = nil
	}
	dec.al.free()
	dec.closed = true
	delete(dec.g.decoders, dec)
	return nil
}
