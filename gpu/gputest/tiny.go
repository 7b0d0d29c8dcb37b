package gputest

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
)

// Config is the shape of a Mamba2 language model built from the ops (the
// model of the conformance and benchmark code here, not netssmlib's):
// embedding, per layer add+RMSNorm, in_proj, conv1d+SiLU, SSD scan, gated
// RMSNorm, out_proj; final norm; LM head tied to the embedding. V is the
// (padded) vocabulary, Dm d_model, Inner d_inner = expand*d_model, State
// d_state, Conv d_conv, Chunk the scan's chunk size.
type Config struct {
	V, Dm, Layers, Inner, HeadDim, Groups, State, Conv, Chunk int
}

// NetSSMDefault is NetSSM's default model: d_model 768, 24 layers, vocab 272,
// Mamba2 defaults (expand 2, headdim 64, d_state 128, d_conv 4, chunk 256).
var NetSSMDefault = Config{V: 272, Dm: 768, Layers: 24, Inner: 1536, HeadDim: 64, Groups: 1, State: 128, Conv: 4, Chunk: 256}

func (c Config) heads() int   { return c.Inner / c.HeadDim }
func (c Config) convDim() int { return c.Inner + 2*c.Groups*c.State }
func (c Config) inProj() int  { return 2*c.Inner + 2*c.Groups*c.State + c.heads() }

// tiny is small enough for a unit test but has every piece of the real model.
var tiny = Config{V: 24, Dm: 32, Layers: 2, Inner: 64, HeadDim: 16, Groups: 1, State: 16, Conv: 4, Chunk: 8}

// param is one trainable tensor: fp32 master, optimizer state, gradient and,
// for GEMM weights in bf16 mode, the bf16 working copy.
type param struct {
	name       string
	w, g, m, v gpu.Buffer
	work       gpu.Buffer // what the forward pass reads (w itself in f32 mode)
	n          int
}

type tinyLayer struct {
	norm, in, convW, convB, dtBias, aLog, d, gnorm, out *param
	// activations saved for backward
	res, u, zx, xbc, y, g gpu.Buffer
	rstd, grstd           gpu.Buffer
	convState, ssdState   gpu.Buffer
}

// Model is a Mamba2 LM on one backend, with fp32 master weights, AdamW
// state, and (in bf16 mode) bf16 working copies of the GEMM weights.
type Model struct {
	be     gpu.Backend
	cfg    Config
	T      int
	dt     gpu.DType // activation / GEMM dtype
	emb    *param
	normF  *param
	layers []*tinyLayer
	params []*param
	// scratch
	ids, labels, losses                    gpu.Buffer
	h, fin, finRes, finRstd, logits        gpu.Buffer
	dres, dres2, dh, du, dzx, dxbc, dy, dg gpu.Buffer
	dfin                                   gpu.Buffer
}

func modelInit(cfg Config, seed int64) map[string][]float32 {
	r := rand.New(rand.NewSource(seed))
	vals := map[string][]float32{}
	fill := func(name string, n int, f func() float64) {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(f())
		}
		vals[name] = v
	}
	H := cfg.heads()
	fill("emb", cfg.V*cfg.Dm, func() float64 { return r.NormFloat64() * 0.1 })
	fill("norm_f", cfg.Dm, func() float64 { return 1 })
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("l%d.", l)
		fill(p+"norm", cfg.Dm, func() float64 { return 1 })
		fill(p+"in", cfg.inProj()*cfg.Dm, func() float64 { return (r.Float64()*2 - 1) / math.Sqrt(float64(cfg.Dm)) })
		fill(p+"conv_w", cfg.convDim()*cfg.Conv, func() float64 { return (r.Float64()*2 - 1) / 2 })
		fill(p+"conv_b", cfg.convDim(), func() float64 { return (r.Float64()*2 - 1) / 2 })
		fill(p+"dt_bias", H, func() float64 {
			d := math.Exp(math.Log(0.001) + r.Float64()*(math.Log(0.1)-math.Log(0.001)))
			return d + math.Log(-math.Expm1(-d))
		})
		fill(p+"A_log", H, func() float64 { return math.Log(1 + 15*r.Float64()) })
		fill(p+"D", H, func() float64 { return 1 })
		fill(p+"gnorm", cfg.Inner, func() float64 { return 1 })
		fill(p+"out", cfg.Dm*cfg.Inner, func() float64 { return (r.Float64()*2 - 1) / math.Sqrt(float64(cfg.Inner)) })
	}
	return vals
}

type allocator struct {
	be  gpu.Backend
	err error
}

func (a *allocator) buf(dt gpu.DType, n int) gpu.Buffer {
	if a.err != nil {
		return nil
	}
	b, err := a.be.Alloc(dt, n)
	if err != nil {
		a.err = err
	}
	return b
}

// NewModel builds a model on be for sequences of T tokens, activations and
// GEMM weights in dt, initialised from seed (identically on every backend).
func NewModel(be gpu.Backend, cfg Config, T int, dt gpu.DType, seed int64) (*Model, error) {
	return newModel(be, cfg, T, dt, modelInit(cfg, seed))
}

func newModel(be gpu.Backend, cfg Config, T int, dt gpu.DType, init map[string][]float32) (*Model, error) {
	al := &allocator{be: be}
	m := &Model{be: be, cfg: cfg, T: T, dt: dt}
	mk := func(name string, gemm bool) *param {
		n := len(init[name])
		p := &param{name: name, n: n, w: al.buf(gpu.F32, n), g: al.buf(gpu.F32, n), m: al.buf(gpu.F32, n), v: al.buf(gpu.F32, n)}
		p.work = p.w
		if gemm && dt != gpu.F32 {
			p.work = al.buf(dt, n)
		}
		if al.err == nil {
			al.err = be.Write(p.w, 0, init[name])
		}
		if al.err == nil && p.work != p.w {
			al.err = be.Write(p.work, 0, init[name])
		}
		m.params = append(m.params, p)
		return p
	}
	m.emb, m.normF = mk("emb", true), mk("norm_f", false)
	H, D, I, CD, IP := cfg.heads(), cfg.Dm, cfg.Inner, cfg.convDim(), cfg.inProj()
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("l%d.", l)
		L := &tinyLayer{norm: mk(p+"norm", false), in: mk(p+"in", true), convW: mk(p+"conv_w", false), convB: mk(p+"conv_b", false),
			dtBias: mk(p+"dt_bias", false), aLog: mk(p+"A_log", false), d: mk(p+"D", false), gnorm: mk(p+"gnorm", false), out: mk(p+"out", true)}
		L.res, L.u, L.zx = al.buf(gpu.F32, T*D), al.buf(dt, T*D), al.buf(dt, T*IP)
		L.xbc, L.y, L.g = al.buf(dt, T*CD), al.buf(dt, T*I), al.buf(dt, T*I)
		L.rstd, L.grstd = al.buf(gpu.F32, T), al.buf(gpu.F32, T*cfg.Groups)
		L.convState, L.ssdState = al.buf(gpu.F32, CD*cfg.Conv), al.buf(gpu.F32, I*cfg.State)
		m.layers = append(m.layers, L)
	}
	m.ids, m.labels, m.losses = al.buf(gpu.I32, T), al.buf(gpu.I32, T), al.buf(gpu.F32, T)
	m.h, m.fin, m.finRes, m.finRstd = al.buf(dt, T*D), al.buf(dt, T*D), al.buf(gpu.F32, T*D), al.buf(gpu.F32, T)
	m.logits = al.buf(dt, T*cfg.V)
	m.dres, m.dres2, m.dh, m.du = al.buf(dt, T*D), al.buf(dt, T*D), al.buf(dt, T*D), al.buf(dt, T*D)
	m.dzx, m.dxbc, m.dy, m.dg = al.buf(dt, T*IP), al.buf(dt, T*CD), al.buf(dt, T*I), al.buf(dt, T*I)
	m.dfin = al.buf(dt, T*D)
	_ = H
	return m, al.err
}

// errs runs steps until the first error.
func errs(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// TrainStep runs forward, backward, clipping and AdamW on one sequence and
// returns the mean loss.
func (m *Model) TrainStep(ctx context.Context, tokens []int32, step int) (float64, error) {
	be, c, T := m.be, m.cfg, m.T
	D, I, CD, IP, H, GN := c.Dm, c.Inner, c.convDim(), c.inProj(), c.heads(), c.Groups*c.State
	if len(tokens) < T {
		return 0, fmt.Errorf("train step: %d tokens for a model of sequence length %d", len(tokens), T)
	}
	labels := make([]int32, T)
	for i := range labels {
		labels[i] = gpu.IgnoreIndex
		if i+1 < len(tokens) {
			labels[i] = tokens[i+1]
		}
	}
	if err := errs(func() error { return be.WriteInt32(m.ids, 0, tokens[:T]) },
		func() error { return be.WriteInt32(m.labels, 0, labels) }); err != nil {
		return 0, err
	}
	for _, p := range m.params {
		if err := be.Fill(ctx, p.g, 0); err != nil {
			return 0, err
		}
	}
	ssd := func(L *tinyLayer) *gpu.SSDArgs {
		return &gpu.SSDArgs{Batch: 1, Seq: T, Heads: H, HeadDim: c.HeadDim, Groups: c.Groups, State: c.State, ChunkSize: c.Chunk,
			X: gpu.Cols(L.xbc, CD, 0), B: gpu.Cols(L.xbc, CD, I), C: gpu.Cols(L.xbc, CD, I+GN), DT: gpu.Cols(L.zx, IP, IP-H),
			DTBias: L.dtBias.w, ALog: L.aLog.w, D: L.d.w, Y: gpu.Dense(L.y, I),
			DY: gpu.Dense(m.dy, I), DX: gpu.Cols(m.dxbc, CD, 0), DB: gpu.Cols(m.dxbc, CD, I), DC: gpu.Cols(m.dxbc, CD, I+GN),
			DDT: gpu.Cols(m.dzx, IP, IP-H), DDTBias: L.dtBias.g, DALog: L.aLog.g, DD: L.d.g}
	}
	conv := func(L *tinyLayer) *gpu.Conv1dArgs {
		return &gpu.Conv1dArgs{Batch: 1, Seq: T, Channels: CD, Width: c.Conv, SiLU: true, X: gpu.Cols(L.zx, IP, I),
			Weight: L.convW.w, Bias: L.convB.w, Out: gpu.Dense(L.xbc, CD),
			DOut: gpu.Dense(m.dxbc, CD), DX: gpu.Cols(m.dzx, IP, I), DWeight: L.convW.g, DBias: L.convB.g}
	}
	gnorm := func(L *tinyLayer) *gpu.GatedRMSNormArgs {
		return &gpu.GatedRMSNormArgs{Rows: T, Dim: I, GroupSize: I / c.Groups, Eps: 1e-5, X: gpu.Dense(L.y, I), Z: gpu.Cols(L.zx, IP, 0),
			Weight: L.gnorm.w, Out: gpu.Dense(L.g, I), Rstd: L.grstd,
			DOut: gpu.Dense(m.dg, I), DX: gpu.Dense(m.dy, I), DZ: gpu.Cols(m.dzx, IP, 0), DWeight: L.gnorm.g}
	}
	norm := func(l int) *gpu.AddRMSNormArgs {
		L := m.layers[l]
		a := &gpu.AddRMSNormArgs{Rows: T, Dim: D, Eps: 1e-5, X: gpu.Dense(m.h, D), Weight: L.norm.w, Out: gpu.Dense(L.u, D),
			ResidualOut: gpu.Dense(L.res, D), Rstd: L.rstd, DWeight: L.norm.g}
		if l > 0 {
			r := gpu.Dense(m.layers[l-1].res, D)
			a.Residual = &r
		}
		return a
	}
	// forward
	if err := be.Embedding(ctx, &gpu.EmbeddingArgs{Rows: T, Dim: D, IDs: m.ids, Table: m.emb.work, Out: gpu.Dense(m.h, D)}); err != nil {
		return 0, err
	}
	for l, L := range m.layers {
		if err := errs(
			func() error { return be.AddRMSNorm(ctx, norm(l)) },
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: T, N: IP, K: D, Alpha: 1, A: gpu.Dense(L.u, D), B: gpu.Dense(L.in.work, D), C: gpu.Dense(L.zx, IP)})
			},
			func() error { return be.Conv1d(ctx, conv(L)) },
			func() error { return be.SSD(ctx, ssd(L)) },
			func() error { return be.GatedRMSNorm(ctx, gnorm(L)) },
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: T, N: D, K: I, Alpha: 1, A: gpu.Dense(L.g, I), B: gpu.Dense(L.out.work, I), C: gpu.Dense(m.h, D)})
			},
		); err != nil {
			return 0, fmt.Errorf("layer %d forward: %w", l, err)
		}
	}
	last := m.layers[len(m.layers)-1]
	lastRes := gpu.Dense(last.res, D)
	dres := gpu.Dense(m.dres, D)
	fin := &gpu.AddRMSNormArgs{Rows: T, Dim: D, Eps: 1e-5, X: gpu.Dense(m.h, D), Residual: &lastRes, Weight: m.normF.w,
		Out: gpu.Dense(m.fin, D), ResidualOut: gpu.Dense(m.finRes, D), Rstd: m.finRstd,
		DOut: gpu.Dense(m.dfin, D), DX: dres, DWeight: m.normF.g}
	count := 0
	for _, l := range labels {
		if l != gpu.IgnoreIndex {
			count++
		}
	}
	if err := errs(
		func() error { return be.AddRMSNorm(ctx, fin) },
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: T, N: c.V, K: D, Alpha: 1, A: gpu.Dense(m.fin, D), B: gpu.Dense(m.emb.work, D), C: gpu.Dense(m.logits, c.V)})
		},
		func() error {
			return be.CrossEntropy(ctx, &gpu.CrossEntropyArgs{Rows: T, Vocab: c.V, GradScale: 1 / float32(count),
				Logits: gpu.Dense(m.logits, c.V), Labels: m.labels, Losses: m.losses, DLogits: gpu.Dense(m.logits, c.V)})
		},
		// backward: tied head (input grad and embedding grad), final norm
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{M: T, N: D, K: c.V, Alpha: 1, A: gpu.Dense(m.logits, c.V), B: gpu.Dense(m.emb.work, D), C: gpu.Dense(m.dfin, D)})
		},
		func() error {
			return be.Gemm(ctx, &gpu.GemmArgs{TransA: true, M: c.V, N: D, K: T, Alpha: 1, Beta: 1, A: gpu.Dense(m.logits, c.V), B: gpu.Dense(m.fin, D), C: gpu.Dense(m.emb.g, D)})
		},
		func() error { return be.AddRMSNormBackward(ctx, fin) },
	); err != nil {
		return 0, fmt.Errorf("head: %w", err)
	}
	cur, next := m.dres, m.dres2
	for l := len(m.layers) - 1; l >= 0; l-- {
		L := m.layers[l]
		na := norm(l)
		carry := gpu.Dense(cur, D)
		na.DOut, na.DResidualOut, na.DX = gpu.Dense(m.du, D), &carry, gpu.Dense(next, D)
		if err := errs(
			// out_proj: dg = dh Wout; dWout += dh^T g   (dh = the residual-stream gradient)
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{M: T, N: I, K: D, Alpha: 1, A: carry, B: gpu.Dense(L.out.work, I), C: gpu.Dense(m.dg, I)})
			},
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{TransA: true, M: D, N: I, K: T, Alpha: 1, Beta: 1, A: carry, B: gpu.Dense(L.g, I), C: gpu.Dense(L.out.g, I)})
			},
			func() error { return be.GatedRMSNormBackward(ctx, gnorm(L)) },
			func() error { return be.SSDBackward(ctx, ssd(L)) },
			func() error { return be.Conv1dBackward(ctx, conv(L)) },
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{M: T, N: D, K: IP, Alpha: 1, A: gpu.Dense(m.dzx, IP), B: gpu.Dense(L.in.work, D), C: gpu.Dense(m.du, D)})
			},
			func() error {
				return be.Gemm(ctx, &gpu.GemmArgs{TransA: true, M: IP, N: D, K: T, Alpha: 1, Beta: 1, A: gpu.Dense(m.dzx, IP), B: gpu.Dense(L.u, D), C: gpu.Dense(L.in.g, D)})
			},
			// The gradient of the norm's input r_l is its own plus carry, which
			// reaches r_l directly through r_{l+1} = hidden_l + r_l.
			func() error { return be.AddRMSNormBackward(ctx, na) },
		); err != nil {
			return 0, fmt.Errorf("layer %d backward: %w", l, err)
		}
		cur, next = next, cur
	}
	if err := be.EmbeddingBackward(ctx, &gpu.EmbeddingArgs{Rows: T, Dim: D, IDs: m.ids, DOut: gpu.Dense(cur, D), DTable: m.emb.g}); err != nil {
		return 0, err
	}
	grads := make([]gpu.Buffer, len(m.params))
	for i, p := range m.params {
		grads[i] = p.g
	}
	if _, err := gpu.ClipGradNorm(ctx, be, grads, 1.0); err != nil {
		return 0, err
	}
	for _, p := range m.params {
		a := &gpu.AdamWArgs{N: p.n, Step: step, LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, GradScale: 1,
			Param: p.w, Grad: p.g, M: p.m, V: p.v}
		if p.work != p.w {
			a.Copy = p.work
		}
		if err := be.AdamW(ctx, a); err != nil {
			return 0, err
		}
	}
	losses := make([]float32, T)
	if err := be.Read(losses, m.losses, 0); err != nil {
		return 0, err
	}
	var sum float64
	for _, l := range losses {
		sum += float64(l)
	}
	return sum / float64(count), nil
}

// TestTinyModel trains a two-layer model for a few steps on the reference
// and on dut from the same initialisation and compares the loss curves:
// within 1e-3 relative per step in f32, 3e-2 in bf16 (relative to the
// loss or 0.5, whichever is larger). The loss must also
// fall, so that a backend computing zero gradients cannot pass.
func TestTinyModel(t *testing.T, dut gpu.Backend) {
	const T, steps = 40, 6
	r := rand.New(rand.NewSource(80))
	tokens := make([]int32, T)
	for i := range tokens { // a learnable pattern with some noise
		tokens[i] = int32((i*7)%tiny.V+r.Intn(2)) % int32(tiny.V)
	}
	init := modelInit(tiny, 81)
	for _, dt := range bothFloats {
		t.Run(dt.String(), func(t *testing.T) {
			ctx := context.Background()
			var curves [2][]float64
			for s, be := range []gpu.Backend{cpu.New(), dut} {
				m, err := newModel(be, tiny, T, dt, init)
				if err != nil {
					t.Fatalf("%s: %v", be.Name(), err)
				}
				for step := 1; step <= steps; step++ {
					loss, err := m.TrainStep(ctx, tokens, step)
					if err != nil {
						t.Fatalf("%s: step %d: %v", be.Name(), step, err)
					}
					curves[s] = append(curves[s], loss)
				}
			}
			tol := 1e-3
			if dt == gpu.BF16 {
				tol = 3e-2
			}
			t.Logf("loss curves: reference %.5f, %s %.5f", curves[0], dut.Name(), curves[1])
			for i := range curves[0] {
				if d := math.Abs(curves[1][i] - curves[0][i]); !(d <= tol*math.Max(curves[0][i], 0.5)) {
					t.Errorf("step %d: loss %v on %s, %v on the reference", i+1, curves[1][i], dut.Name(), curves[0][i])
				}
			}
			if !(curves[1][steps-1] < 0.9*curves[1][0]) {
				t.Errorf("loss did not fall on %s: %v", dut.Name(), curves[1])
			}
		})
	}
}
