package mamba

import (
	"context"
	"fmt"
	"math"
)

const normEps = 1e-5

func silu(x float32) float32 { return x / (1 + expf(-x)) }

func sigmoid(x float32) float32 { return 1 / (1 + expf(-x)) }

// softplus as torch.nn.functional.softplus (threshold 20).
func softplus(x float32) float32 {
	if x > 20 {
		return x
	}
	return float32(math.Log1p(math.Exp(float64(x))))
}

// rmsNorm writes out[t] = x[t] * rstd[t] * w for rows of width d.
func rmsNorm(T, d int, x, w, out, rstd []float32) {
	parallelFor(T, 16, func(_, lo, hi int) {
		for t := lo; t < hi; t++ {
			row := x[t*d : (t+1)*d]
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			r := float32(1 / math.Sqrt(ss/float64(d)+normEps))
			rstd[t] = r
			o := out[t*d : (t+1)*d]
			for i, v := range row {
				o[i] = v * r * w[i]
			}
		}
	})
}

func (m *Model) checkIDs(ids []int32, what string) error {
	V := m.Config.PaddedVocab()
	for t, id := range ids {
		if id < 0 || int(id) >= V {
			return fmt.Errorf("%s[%d] = %d is outside the vocabulary [0, %d)", what, t, id, V)
		}
	}
	return nil
}

// embed writes the embedding rows of ids into out [T, D].
func (m *Model) embedTokens(ids []int32, out []float32) {
	D := m.Config.DModel
	for t, id := range ids {
		copy(out[t*D:(t+1)*D], m.embed.Data[int(id)*D:(int(id)+1)*D])
	}
}

// layerForward runs block li's mixer on the residual x [T, D] and writes the
// mixer output to out [T, D], keeping activations in c. init is the SSM
// state to start from ([H, P, N], nil = zeros); convInit the d_conv-1 xBC
// rows before the sequence ([d_conv-1, ConvDim], nil = zeros).
func (m *Model) layerForward(ctx context.Context, li, T int, x, out []float32, c *layerCache, init, convInit []float32) error {
	cfg := m.Config
	s := cfg.SSMCfg
	l := &m.layers[li]
	D, DI, H, G, P := cfg.DModel, cfg.DInner(), cfg.NHeads(), s.NGroups, s.HeadDim
	CD, DP, K := cfg.ConvDim(), cfg.DInProj(), s.DConv

	rmsNorm(T, D, x, l.norm.Data, c.u, c.rstd1)
	m.roundInput(c.u[:T*D])
	gemmNT(T, DP, D, c.u, D, m.linW(l.inProj), D, c.zx, DP, false)

	// Depthwise causal conv1d + SiLU over xBC; softplus(dt + dt_bias).
	parallelFor(T, 16, func(_, lo, hi int) {
		for t := lo; t < hi; t++ {
			pre := c.cpre[t*CD : (t+1)*CD]
			if l.convB != nil {
				copy(pre, l.convB.Data)
			} else {
				clear(pre)
			}
			for k := 0; k < K; k++ {
				tt := t - (K - 1) + k
				var in []float32
				switch {
				case tt >= 0:
					in = c.zx[tt*DP+DI : tt*DP+DI+CD]
				case convInit != nil:
					in = convInit[(K-1+tt)*CD : (K+tt)*CD]
				default:
					continue
				}
				w := l.convW.Data
				for ch, v := range in {
					pre[ch] += w[ch*K+k] * v
				}
			}
			post := c.xbc[t*CD : (t+1)*CD]
			for ch, v := range pre {
				post[ch] = silu(v)
			}
			for h := 0; h < H; h++ {
				c.dt[t*H+h] = softplus(c.zx[t*DP+DI+CD+h] + l.dtBias.Data[h])
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}

	A := make([]float32, H) // tiny; per call
	for h := range A {
		A[h] = -float32(math.Exp(float64(l.aLog.Data[h])))
	}
	if err := m.ssdForward(ctx, T, c, A, init); err != nil {
		return err
	}

	// y += D*x, then gated RMSNorm: rmsnorm(y * silu(z)) * weight per group.
	gs := DI / G
	parallelFor(T, 16, func(_, lo, hi int) {
		for t := lo; t < hi; t++ {
			y := c.y[t*DI : (t+1)*DI]
			xs := c.xbc[t*CD : t*CD+DI]
			for h := 0; h < H; h++ {
				dh := l.d.Data[h]
				for p := h * P; p < (h+1)*P; p++ {
					y[p] += dh * xs[p]
				}
			}
			z := c.zx[t*DP : t*DP+DI]
			yn := c.yn[t*DI : (t+1)*DI]
			for g := 0; g < G; g++ {
				var ss float64
				for i := g * gs; i < (g+1)*gs; i++ {
					v := y[i] * silu(z[i])
					yn[i] = v
					ss += float64(v) * float64(v)
				}
				r := float32(1 / math.Sqrt(ss/float64(gs)+normEps))
				c.rstd2[t*G+g] = r
				for i := g * gs; i < (g+1)*gs; i++ {
					yn[i] *= r * l.normW.Data[i]
				}
			}
		}
	})
	m.roundInput(c.yn[:T*DI])
	gemmNT(T, D, DI, c.yn, DI, m.linW(l.outProj), DI, out, D, false)
	return ctx.Err()
}

// ssdForward is the chunked state-space-dual scan of mamba-ssm
// (mamba_chunk_scan_combined) for one sequence: per chunk, the intra-chunk
// part as a masked (C·Bᵀ ∘ decay) matrix times dt*x, plus the contribution of
// the state entering the chunk; then the state is carried to the next chunk.
// It writes c.y and c.states.
func (m *Model) ssdForward(ctx context.Context, T int, c *layerCache, A, init []float32) error {
	cfg := m.Config
	s := cfg.SSMCfg
	DI, H, G, N, P, Q, CD := cfg.DInner(), cfg.NHeads(), s.NGroups, s.DState, s.HeadDim, s.ChunkSize, cfg.ConvDim()
	hpg := H / G
	ws := m.ws
	HS := H * P * N
	if init != nil {
		copy(c.states[:HS], init)
	} else {
		clear(c.states[:HS])
	}
	nc := (T + Q - 1) / Q
	// Heads run in parallel when a chunk has enough work to pay for it.
	par := H*min(Q, T)*min(Q, T)*(P+N) >= ssdParallelMin
	for ci := 0; ci < nc; ci++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := ci * Q
		q := min(Q, T-t0)
		// C·Bᵀ per group.
		parallelItemsIf(par, G, func(_, g int) {
			cOff := t0*CD + DI + G*N + g*N
			bOff := t0*CD + DI + g*N
			gemmNTSerial(q, q, N, c.xbc[cOff:], CD, c.xbc[bOff:], CD, ws.cb[g*Q*Q:], Q, false)
		})
		prev := c.states[ci*HS : (ci+1)*HS]
		next := c.states[(ci+1)*HS : (ci+2)*HS]
		zeroPrev := ci == 0 && init == nil
		parallelItemsIf(par, H, func(w, h int) {
			sc := ws.scratch[w]
			g := h / hpg
			ssdChunkPrep(sc, c, h, t0, q, cfg, A[h])
			// M = (C·Bᵀ) ∘ exp(acum_t - acum_s), causal.
			ssdDecayM(sc, ws.cb[g*Q*Q:], q, Q)
			yh := c.y[t0*DI+h*P:]
			gemmNNSerial(q, P, q, sc.m, Q, sc.xdt, P, yh, DI, false)
			hp := prev[h*P*N : (h+1)*P*N]
			hn := next[h*P*N : (h+1)*P*N]
			cOff := t0*CD + DI + G*N + g*N
			bOff := t0*CD + DI + g*N
			if !zeroPrev {
				// y_t += exp(acum_t) C_t·h_prev
				gemmNTSerial(q, P, N, c.xbc[cOff:], CD, hp, N, sc.z, P, false)
				for t := 0; t < q; t++ {
					e := expf(sc.acum[t])
					yr := yh[t*DI : t*DI+P]
					for p, v := range sc.z[t*P : (t+1)*P] {
						yr[p] += e * v
					}
				}
			}
			// h_next = exp(acum_last) h_prev + Σ_s exp(acum_last-acum_s) dt_s x_s B_sᵀ
			last := sc.acum[q-1]
			eL := expf(last)
			for i := range hn {
				if zeroPrev {
					hn[i] = 0
				} else {
					hn[i] = eL * hp[i]
				}
			}
			for s := 0; s < q; s++ {
				w := expf(last - sc.acum[s])
				br := c.xbc[bOff+s*CD : bOff+s*CD+N]
				for n, v := range br {
					sc.bw[s*N+n] = v * w
				}
			}
			gemmTNSerial(P, N, q, sc.xdt, P, sc.bw, N, hn, N, true)
		})
	}
	return nil
}

// ssdDecayM fills sc.m with M = (C·Bᵀ) ∘ exp(acum_t - acum_s) for s <= t, 0
// above the diagonal, and sc.decay with the decay factors exp(acum_t - acum_s).
func ssdDecayM(sc *ssdScratch, cb []float32, q, Q int) {
	l := sc.lrow[:q]
	clear(l)
	lo := 0
	prev := float32(0)
	for t := 0; t < q; t++ {
		decayRow(l, t, expf(sc.acum[t]-prev), &lo)
		prev = sc.acum[t]
		mrow := sc.m[t*Q : t*Q+q]
		drow := sc.decay[t*Q : t*Q+q]
		crow := cb[t*Q : t*Q+q]
		for s := 0; s <= t; s++ {
			drow[s] = l[s]
			mrow[s] = crow[s] * l[s]
		}
		clear(mrow[t+1:])
	}
}

// ssdChunkPrep fills acum (cumulative dt*A within the chunk), and xdt
// (x*dt of head h) for positions t0..t0+q-1.
func ssdChunkPrep(sc *ssdScratch, c *layerCache, h, t0, q int, cfg Config, a float32) {
	s := cfg.SSMCfg
	H, P, CD := cfg.NHeads(), s.HeadDim, cfg.ConvDim()
	var acc float32
	for t := 0; t < q; t++ {
		dt := c.dt[(t0+t)*H+h]
		acc += dt * a
		sc.acum[t] = acc
		xr := c.xbc[(t0+t)*CD+h*P : (t0+t)*CD+(h+1)*P]
		xd := sc.xdt[t*P : (t+1)*P]
		for p, v := range xr {
			xd[p] = v * dt
		}
	}
}

// forwardAll runs the whole network on ids, leaving logits [T, V] in the
// workspace. With training, every layer's input residual is kept (and every
// layer's activations when they fit in the budget).
func (m *Model) forwardAll(ctx context.Context, ids []int32, training bool) (*workspace, error) {
	return m.forwardWith(ctx, ids, training, nil)
}

// forwardWith is forwardAll with a hook called after each layer's forward.
func (m *Model) forwardWith(ctx context.Context, ids []int32, training bool, onLayer func(li int, c *layerCache)) (*workspace, error) {
	T := len(ids)
	if T == 0 {
		return nil, fmt.Errorf("empty sequence")
	}
	if err := m.checkIDs(ids, "ids"); err != nil {
		return nil, err
	}
	m.RefreshComputeWeights()
	ws := m.workspace(T, training)
	cfg := m.Config
	D, V := cfg.DModel, cfg.PaddedVocab()
	r := ws.resid[0][:T*D]
	m.embedTokens(ids, r)
	for li := range m.layers {
		c := ws.caches[0]
		if training && len(ws.caches) > 1 {
			c = ws.caches[li]
		}
		if err := m.layerForward(ctx, li, T, r, ws.h, c, nil, nil); err != nil {
			return nil, err
		}
		if onLayer != nil {
			onLayer(li, c)
		}
		next := r
		if training {
			next = ws.resid[li+1][:T*D]
			copy(next, r)
		}
		for i, v := range ws.h[:T*D] {
			next[i] += v
		}
		r = next
	}
	rmsNorm(T, D, r, m.normF.Data, ws.hf, ws.rstdF)
	m.roundInput(ws.hf[:T*D])
	gemmNT(T, V, D, ws.hf, D, m.linW(m.lmHead), D, ws.logits, V, false)
	return ws, ctx.Err()
}

// Forward returns the logits [T, PaddedVocab] for ids (a fresh slice),
// computed with the chunked SSD scan.
func (m *Model) Forward(ctx context.Context, ids []int32) ([]float32, error) {
	ws, err := m.forwardAll(ctx, ids, false)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), ws.logits[:len(ids)*m.Config.PaddedVocab()]...), nil
}
