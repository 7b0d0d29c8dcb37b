package cpu

import (
	"context"
	"math"

	"github.com/netssm/netssm/gpu"
)

// ssdHead holds the inputs of one (sequence, head) pair, widened to float64.
type ssdHead struct {
	T, P, N int
	a       float64   // A = -exp(A_log)
	raw     []float64 // dt + dt_bias before softplus [T]
	dt      []float64 // softplus(raw) [T]
	x       []float64 // [T*P]
	b, c    []float64 // [T*N]
	d       float64
}

func (be *Backend) loadHead(a *gpu.SSDArgs, h *ssdHead, bi, hi int) {
	T, P, N := a.Seq, a.HeadDim, a.State
	g := hi / (a.Heads / a.Groups)
	x, dt, bm, cm := be.mat(a.X), be.mat(a.DT), be.mat(a.B), be.mat(a.C)
	h.T, h.P, h.N = T, P, N
	h.a = -math.Exp(float64(be.vec(a.ALog)[hi]))
	h.d = float64(be.vec(a.D)[hi])
	bias := float64(be.vec(a.DTBias)[hi])
	for t := 0; t < T; t++ {
		r := bi*T + t
		h.raw[t] = dt.at(r, hi) + bias
		h.dt[t] = softplus(h.raw[t])
		for p := 0; p < P; p++ {
			h.x[t*P+p] = x.at(r, hi*P+p)
		}
		for n := 0; n < N; n++ {
			h.b[t*N+n] = bm.at(r, g*N+n)
			h.c[t*N+n] = cm.at(r, g*N+n)
		}
	}
}

func newHead(a *gpu.SSDArgs) *ssdHead {
	T, P, N := a.Seq, a.HeadDim, a.State
	return &ssdHead{
		raw: make([]float64, T), dt: make([]float64, T),
		x: make([]float64, T*P), b: make([]float64, T*N), c: make([]float64, T*N),
	}
}

// chunked computes y [T*P] and the final state [P*N] with the SSD chunked
// algorithm of mamba-ssm: per chunk, the intra-chunk (diagonal) term through
// C_t.B_s * exp(cum_t - cum_s), the inter-chunk term through the state
// entering the chunk, then the state passed on to the next chunk.
func (h *ssdHead) chunked(L int, y, state []float64) {
	T, P, N := h.T, h.P, h.N
	clear(state)
	cum := make([]float64, L)
	next := make([]float64, P*N)
	for c0 := 0; c0 < T; c0 += L {
		c1 := min(c0+L, T)
		acc := 0.0
		for t := c0; t < c1; t++ {
			acc += h.dt[t] * h.a
			cum[t-c0] = acc
		}
		for t := c0; t < c1; t++ {
			ct := h.c[t*N : t*N+N]
			// inter-chunk: exp(cum_t) * C_t . state_in
			et := math.Exp(cum[t-c0])
			for p := 0; p < P; p++ {
				var s float64
				for n, cv := range ct {
					s += cv * state[p*N+n]
				}
				y[t*P+p] = et*s + h.d*h.x[t*P+p]
			}
			// intra-chunk
			for s := c0; s <= t; s++ {
				var cb float64
				for n, cv := range ct {
					cb += cv * h.b[s*N+n]
				}
				wgt := cb * math.Exp(cum[t-c0]-cum[s-c0]) * h.dt[s]
				for p := 0; p < P; p++ {
					y[t*P+p] += wgt * h.x[s*P+p]
				}
			}
		}
		last := cum[c1-1-c0]
		el := math.Exp(last)
		for i := range next {
			next[i] = el * state[i]
		}
		for s := c0; s < c1; s++ {
			wgt := math.Exp(last-cum[s-c0]) * h.dt[s]
			for p := 0; p < P; p++ {
				xp := wgt * h.x[s*P+p]
				for n := 0; n < N; n++ {
					next[p*N+n] += xp * h.b[s*N+n]
				}
			}
		}
		copy(state, next)
	}
}

// step advances the recurrence by one step t: state = exp(dt*A) state + dt x B^T.
func (h *ssdHead) step(t int, state []float64) {
	P, N := h.P, h.N
	decay := math.Exp(h.dt[t] * h.a)
	for p := 0; p < P; p++ {
		xp := h.dt[t] * h.x[t*P+p]
		for n := 0; n < N; n++ {
			state[p*N+n] = decay*state[p*N+n] + xp*h.b[t*N+n]
		}
	}
}

// Sequential computes y [T*P] and the final state by the plain recurrence.
// It is the definition the chunked form is tested against.
func (h *ssdHead) sequential(y, state []float64) {
	P, N := h.P, h.N
	clear(state)
	for t := 0; t < h.T; t++ {
		h.step(t, state)
		for p := 0; p < P; p++ {
			var s float64
			for n := 0; n < N; n++ {
				s += state[p*N+n] * h.c[t*N+n]
			}
			y[t*P+p] = s + h.d*h.x[t*P+p]
		}
	}
}

// SSD implements gpu.Ops.
func (be *Backend) SSD(ctx context.Context, a *gpu.SSDArgs) error {
	if err := begin(ctx, a.Validate(false), be.owned(a.X.Buf, a.DT.Buf, a.DTBias, a.ALog, a.B.Buf, a.C.Buf, a.D, a.Y.Buf, a.FinalState)); err != nil {
		return err
	}
	return be.ssdForward(ctx, a, false)
}

// ssdForward runs the chunked (or, for tests, sequential) forward pass.
func (be *Backend) ssdForward(ctx context.Context, a *gpu.SSDArgs, sequential bool) error {
	T, P, N := a.Seq, a.HeadDim, a.State
	h := newHead(a)
	y := make([]float64, T*P)
	state := make([]float64, P*N)
	out := be.mat(a.Y)
	fs := be.vec(a.FinalState)
	for bi := 0; bi < a.Batch; bi++ {
		for hi := 0; hi < a.Heads; hi++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			be.loadHead(a, h, bi, hi)
			if sequential {
				h.sequential(y, state)
			} else {
				h.chunked(a.ChunkSize, y, state)
			}
			for t := 0; t < T; t++ {
				for p := 0; p < P; p++ {
					out.set(bi*T+t, hi*P+p, y[t*P+p])
				}
			}
			if fs != nil {
				base := (bi*a.Heads + hi) * P * N
				for i, v := range state {
					fs[base+i] = float32(v)
				}
			}
		}
	}
	return nil
}

// SSDBackward implements gpu.Ops: reverse-mode through the recurrence, with
// the state checkpointed at every chunk start and recomputed chunk by chunk.
func (be *Backend) SSDBackward(ctx context.Context, a *gpu.SSDArgs) error {
	if err := begin(ctx, a.Validate(true), be.owned(a.X.Buf, a.DT.Buf, a.DTBias, a.ALog, a.B.Buf, a.C.Buf, a.D,
		a.DY.Buf, a.DX.Buf, a.DDT.Buf, a.DB.Buf, a.DC.Buf, a.DDTBias, a.DALog, a.DD)); err != nil {
		return err
	}
	T, P, N, L := a.Seq, a.HeadDim, a.State, a.ChunkSize
	G := a.Groups
	nc := (T + L - 1) / L
	h := newHead(a)
	dyM, dxM, ddtM, dbM, dcM := be.mat(a.DY), be.mat(a.DX), be.mat(a.DDT), be.mat(a.DB), be.mat(a.DC)
	ddtb, dalog, ddv := be.vec(a.DDTBias), be.vec(a.DALog), be.vec(a.DD)
	ckpt := make([]float64, nc*P*N)
	hs := make([]float64, L*P*N)
	dH := make([]float64, P*N)
	dy := make([]float64, P)
	for bi := 0; bi < a.Batch; bi++ {
		// dB, dC are sums over the heads of a group: accumulate, then store.
		dB := make([]float64, T*G*N)
		dC := make([]float64, T*G*N)
		for hi := 0; hi < a.Heads; hi++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			g := hi / (a.Heads / G)
			be.loadHead(a, h, bi, hi)
			state := ckpt[:P*N]
			clear(state)
			for c := 0; c < nc; c++ {
				if c > 0 {
					copy(ckpt[c*P*N:(c+1)*P*N], ckpt[(c-1)*P*N:c*P*N])
					for t := (c - 1) * L; t < c*L; t++ {
						h.step(t, ckpt[c*P*N:(c+1)*P*N])
					}
				}
			}
			clear(dH)
			var dA, dD, dBias float64
			for c := nc - 1; c >= 0; c-- {
				c0, c1 := c*L, min((c+1)*L, T)
				// recompute H_t for t in the chunk
				prev := ckpt[c*P*N : (c+1)*P*N]
				for t := c0; t < c1; t++ {
					cur := hs[(t-c0)*P*N : (t-c0+1)*P*N]
					copy(cur, prev)
					h.step(t, cur)
					prev = cur
				}
				for t := c1 - 1; t >= c0; t-- {
					r := bi*T + t
					cur := hs[(t-c0)*P*N : (t-c0+1)*P*N]
					var hprev []float64
					if t == c0 {
						hprev = ckpt[c*P*N : (c+1)*P*N]
					} else {
						hprev = hs[(t-c0-1)*P*N : (t-c0)*P*N]
					}
					for p := 0; p < P; p++ {
						dy[p] = dyM.at(r, hi*P+p)
					}
					bt, ct, xt := h.b[t*N:t*N+N], h.c[t*N:t*N+N], h.x[t*P:t*P+P]
					dtt := h.dt[t]
					// y_t = H_t C_t + D x_t
					for p := 0; p < P; p++ {
						for n := 0; n < N; n++ {
							dH[p*N+n] += dy[p] * ct[n]
							dC[(t*G+g)*N+n] += cur[p*N+n] * dy[p]
						}
					}
					// H_t = a_t H_{t-1} + dt_t x_t B_t^T
					decay := math.Exp(dtt * h.a)
					var ddt, sh float64
					for p := 0; p < P; p++ {
						var sb float64
						for n := 0; n < N; n++ {
							gh := dH[p*N+n]
							sb += gh * bt[n]
							dB[(t*G+g)*N+n] += dtt * gh * xt[p]
							sh += gh * hprev[p*N+n]
						}
						ddt += sb * xt[p]
						dxM.set(r, hi*P+p, h.d*dy[p]+dtt*sb)
						dD += dy[p] * xt[p]
					}
					ddt += sh * decay * h.a
					dA += sh * decay * dtt
					for i := range dH {
						dH[i] *= decay
					}
					draw := ddt * dsoftplus(h.raw[t])
					ddtM.set(r, hi, draw)
					dBias += draw
				}
			}
			ddtb[hi] = float32(float64(ddtb[hi]) + dBias)
			dalog[hi] = float32(float64(dalog[hi]) + dA*h.a) // dA/dA_log = A
			ddv[hi] = float32(float64(ddv[hi]) + dD)
		}
		for t := 0; t < T; t++ {
			for j := 0; j < G*N; j++ {
				dbM.set(bi*T+t, j, dB[t*G*N+j])
				dcM.set(bi*T+t, j, dC[t*G*N+j])
			}
		}
	}
	return nil
}

// SSDStep implements gpu.Ops.
func (be *Backend) SSDStep(ctx context.Context, a *gpu.SSDStepArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.X.Buf, a.DT.Buf, a.DTBias, a.ALog, a.B.Buf, a.C.Buf, a.D, a.Y.Buf, a.State)); err != nil {
		return err
	}
	P, N := a.HeadDim, a.StateDim
	x, dtm, bm, cm, y := be.mat(a.X), be.mat(a.DT), be.mat(a.B), be.mat(a.C), be.mat(a.Y)
	bias, alog, dv, st := be.vec(a.DTBias), be.vec(a.ALog), be.vec(a.D), be.vec(a.State)
	for b := 0; b < a.Batch; b++ {
		for hi := 0; hi < a.Heads; hi++ {
			g := hi / (a.Heads / a.Groups)
			dt := softplus(dtm.at(b, hi) + float64(bias[hi]))
			decay := math.Exp(dt * -math.Exp(float64(alog[hi])))
			s := st[(b*a.Heads+hi)*P*N:][:P*N]
			for p := 0; p < P; p++ {
				xp := x.at(b, hi*P+p)
				var acc float64
				for n := 0; n < N; n++ {
					v := decay*float64(s[p*N+n]) + dt*xp*bm.at(b, g*N+n)
					s[p*N+n] = float32(v)
					acc += v * cm.at(b, g*N+n)
				}
				y.set(b, hi*P+p, acc+float64(dv[hi])*xp)
			}
		}
	}
	return nil
}
