package mamba

import (
	"context"
	"fmt"
	"math"
)

// IgnoreIndex marks a target position that does not count in the loss
// (PyTorch's CrossEntropyLoss ignore_index).
const IgnoreIndex = -100

// ForwardBackward runs the forward pass on ids and back-propagates the
// summed next-token cross-entropy over the padded vocabulary: targets[t] is
// the target for position t (IgnoreIndex = ignored). It returns the summed
// loss and the number of counted targets, and ADDS the gradient of lossSum
// (not of the mean) to every Param.Grad, allocating them on first use.
func (m *Model) ForwardBackward(ctx context.Context, ids, targets []int32) (lossSum float64, nTargets int, err error) {
	T := len(ids)
	if len(targets) != T {
		return 0, 0, fmt.Errorf("forward-backward: %d targets for %d ids", len(targets), T)
	}
	cfg := m.Config
	V, D := cfg.PaddedVocab(), cfg.DModel
	for t, y := range targets {
		if y != IgnoreIndex && (y < 0 || int(y) >= V) {
			return 0, 0, fmt.Errorf("forward-backward: targets[%d] = %d is outside the vocabulary [0, %d) and not %d", t, y, V, IgnoreIndex)
		}
	}
	ws, err := m.forwardAll(ctx, ids, true)
	if err != nil {
		return 0, 0, err
	}
	m.ensureGrads()

	// Cross-entropy: dlogits = softmax - onehot on counted rows, in place.
	dl := ws.logits[:T*V]
	lossPart := make([]float64, workers())
	countPart := make([]int, workers())
	parallelFor(T, 16, func(w, lo, hi int) {
		for t := lo; t < hi; t++ {
			row := dl[t*V : (t+1)*V]
			y := targets[t]
			if y == IgnoreIndex {
				clear(row)
				continue
			}
			mx := row[0]
			for _, v := range row {
				mx = max(mx, v)
			}
			var sum float64
			for i, v := range row {
				e := math.Exp(float64(v - mx))
				row[i] = float32(e)
				sum += e
			}
			lossPart[w] += math.Log(sum) - math.Log(float64(row[y]))
			countPart[w]++
			inv := float32(1 / sum)
			for i := range row {
				row[i] *= inv
			}
			row[y] -= 1
		}
	})
	for w := range lossPart {
		lossSum += lossPart[w]
		nTargets += countPart[w]
	}

	// LM head: dhf = dlogits·E, dE += dlogitsᵀ·hf.
	dhf := ws.h[:T*D]
	gemmNN(T, D, V, dl, V, m.linW(m.lmHead), D, dhf, D, false)
	m.weightGrad(T, V, D, dl, ws.hf, m.lmHead.Grad)

	dresid := ws.dresid[:T*D]
	clear(dresid)
	m.rmsNormBackward(T, D, ws.resid[cfg.NLayer], m.normF, ws.rstdF, dhf, dresid)

	for li := cfg.NLayer - 1; li >= 0; li-- {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		var c *layerCache
		if len(ws.caches) == cfg.NLayer {
			c = ws.caches[li]
		} else {
			c = ws.caches[0]
			if err := m.layerForward(ctx, li, T, ws.resid[li], ws.h, c, nil, nil); err != nil {
				return 0, 0, err
			}
		}
		if err := m.layerBackward(ctx, li, T, c, ws.resid[li], dresid); err != nil {
			return 0, 0, err
		}
	}
	for t, id := range ids {
		g := m.embed.Grad[int(id)*D : (int(id)+1)*D]
		for i, v := range dresid[t*D : (t+1)*D] {
			g[i] += v
		}
	}
	return lossSum, nTargets, nil
}

// weightGrad adds dyᵀ·x to grad [O, I] for dy [T, O] and x [T, I]: the
// weight gradient of y = x·Wᵀ summed over positions.
func (m *Model) weightGrad(T, O, I int, dy, x, grad []float32) {
	gemmTN(O, I, T, dy, O, x, I, grad, I, true)
}

// rmsNormBackward adds to dx the gradient through out = x*rstd*w given
// dout, and adds w's gradient to p.Grad.
func (m *Model) rmsNormBackward(T, d int, x []float32, p *Param, rstd, dout, dx []float32) {
	ws := m.ws
	for _, part := range ws.part {
		clear(part[:d])
	}
	w := p.Data
	parallelFor(T, 16, func(wk, lo, hi int) {
		part := ws.part[wk][:d]
		for t := lo; t < hi; t++ {
			xr, dr, gx := x[t*d:(t+1)*d], dout[t*d:(t+1)*d], dx[t*d:(t+1)*d]
			r := rstd[t]
			var dot float64
			for i, v := range xr {
				part[i] += dr[i] * v * r
				dot += float64(w[i] * dr[i] * v)
			}
			k := float32(dot) * r * r * r / float32(d)
			for i, v := range xr {
				gx[i] += r*w[i]*dr[i] - v*k
			}
		}
	})
	for _, part := range ws.part {
		for i, v := range part[:d] {
			p.Grad[i] += v
		}
	}
}

func dsilu(x float32) float32 {
	s := sigmoid(x)
	return s * (1 + x*(1-s))
}

// layerBackward back-propagates block li given dresid, the gradient of the
// block's output residual (= of its mixer output); it adds the gradient of
// the block's input residual x to dresid in place and the parameter
// gradients to Grad.
func (m *Model) layerBackward(ctx context.Context, li, T int, c *layerCache, x, dresid []float32) error {
	cfg := m.Config
	s := cfg.SSMCfg
	l := &m.layers[li]
	ws := m.ws
	D, DI, H, G, P := cfg.DModel, cfg.DInner(), cfg.NHeads(), s.NGroups, s.HeadDim
	CD, DP, K := cfg.ConvDim(), cfg.DInProj(), s.DConv
	gs := DI / G
	dh := dresid[:T*D]
	dzx := ws.dbuf[:T*DP]
	dy := ws.dbuf2[:T*DI]
	dxbc := ws.dbuf3[:T*CD]
	ddt := ws.ddt[:T*H]

	// out_proj.
	gemmNN(T, DI, D, dh, D, m.linW(l.outProj), DI, dy, DI, false)
	m.weightGrad(T, D, DI, dh, c.yn, l.outProj.Grad)

	// Gated RMSNorm and y = ssd + D*x.
	for _, part := range ws.part {
		clear(part[:DI+H])
	}
	parallelFor(T, 16, func(wk, lo, hi int) {
		part := ws.part[wk]
		dW, dD := part[:DI], part[DI:DI+H]
		for t := lo; t < hi; t++ {
			y := c.y[t*DI : (t+1)*DI]
			z := c.zx[t*DP : t*DP+DI]
			dyr := dy[t*DI : (t+1)*DI]
			dz := dzx[t*DP : t*DP+DI]
			for g := 0; g < G; g++ {
				r := c.rstd2[t*G+g]
				var sum float64
				// dz[i] temporarily holds sigmoid(z[i]).
				for i := g * gs; i < (g+1)*gs; i++ {
					sg := sigmoid(z[i])
					dz[i] = sg
					gv := y[i] * z[i] * sg
					dW[i] += dyr[i] * gv * r
					sum += float64(l.normW.Data[i] * dyr[i] * gv)
				}
				k := float32(sum) * r * r * r / float32(gs)
				for i := g * gs; i < (g+1)*gs; i++ {
					sg, zi := dz[i], z[i]
					sz := zi * sg
					gv := y[i] * sz
					dg := r*l.normW.Data[i]*dyr[i] - gv*k
					dz[i] = dg * y[i] * sg * (1 + zi*(1-sg))
					dyr[i] = dg * sz
				}
			}
			xs := c.xbc[t*CD : t*CD+DI]
			dxr := dxbc[t*CD : (t+1)*CD]
			for h := 0; h < H; h++ {
				dd := l.d.Data[h]
				var acc float32
				for p := h * P; p < (h+1)*P; p++ {
					acc += dyr[p] * xs[p]
					dxr[p] = dd * dyr[p]
				}
				dD[h] += acc
			}
			clear(dxr[DI:])
			clear(ddt[t*H : (t+1)*H])
		}
	})
	for _, part := range ws.part {
		for i, v := range part[:DI] {
			l.normW.Grad[i] += v
		}
		for h, v := range part[DI : DI+H] {
			l.d.Grad[h] += v
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	A := make([]float32, H)
	for h := range A {
		A[h] = -float32(math.Exp(float64(l.aLog.Data[h])))
	}
	if err := m.ssdBackward(ctx, T, c, A, dy, dxbc, ddt); err != nil {
		return err
	}
	for h := range A {
		l.aLog.Grad[h] += ws.dA[h] * A[h]
	}

	// dt = softplus(dt_raw + dt_bias); xBC = silu(conv(xBC_raw)).
	for _, part := range ws.part {
		clear(part[:CD*(K+1)+H])
	}
	parallelFor(T, 16, func(wk, lo, hi int) {
		part := ws.part[wk]
		dW, dB, dBias := part[:CD*K], part[CD*K:CD*(K+1)], part[CD*(K+1):CD*(K+1)+H]
		for t := lo; t < hi; t++ {
			for h := 0; h < H; h++ {
				g := ddt[t*H+h] * sigmoid(c.zx[t*DP+DI+CD+h]+l.dtBias.Data[h])
				dzx[t*DP+DI+CD+h] = g
				dBias[h] += g
			}
			pre := c.cpre[t*CD : (t+1)*CD]
			dr := dxbc[t*CD : (t+1)*CD]
			for ch, v := range pre {
				dr[ch] *= dsilu(v)
				dB[ch] += dr[ch]
			}
			for k := 0; k < K; k++ {
				tt := t - (K - 1) + k
				if tt < 0 {
					continue
				}
				in := c.zx[tt*DP+DI : tt*DP+DI+CD]
				for ch, v := range in {
					dW[ch*K+k] += dr[ch] * v
				}
			}
		}
	})
	for _, part := range ws.part {
		for i, v := range part[:CD*K] {
			l.convW.Grad[i] += v
		}
		if l.convB != nil {
			for i, v := range part[CD*K : CD*(K+1)] {
				l.convB.Grad[i] += v
			}
		}
		for h, v := range part[CD*(K+1) : CD*(K+1)+H] {
			l.dtBias.Grad[h] += v
		}
	}
	// Gradient of the conv input: din[t'] = Σ_k dpre[t'+K-1-k] * w[k].
	parallelFor(T, 16, func(_, lo, hi int) {
		w := l.convW.Data
		for t := lo; t < hi; t++ {
			din := dzx[t*DP+DI : t*DP+DI+CD]
			clear(din)
			for k := 0; k < K; k++ {
				tt := t + K - 1 - k
				if tt >= T {
					continue
				}
				dr := dxbc[tt*CD : (tt+1)*CD]
				for ch, v := range dr {
					din[ch] += v * w[ch*K+k]
				}
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}

	// in_proj.
	du := ws.h[:T*D]
	gemmNN(T, D, DP, dzx, DP, m.linW(l.inProj), D, du, D, false)
	m.weightGrad(T, DP, D, dzx, c.u, l.inProj.Grad)

	m.rmsNormBackward(T, D, x, l.norm, c.rstd1, du, dresid)
	return nil
}

// ssdBackward back-propagates ssdForward: given dy [T, DInner] (gradient of
// the SSD output), it adds the gradients of x, B, C to dxbc [T, ConvDim],
// of dt to ddt [T, H] and leaves the gradient of A in ws.dA.
func (m *Model) ssdBackward(ctx context.Context, T int, c *layerCache, A, dy, dxbc, ddt []float32) error {
	cfg := m.Config
	s := cfg.SSMCfg
	DI, H, G, N, P, Q, CD := cfg.DInner(), cfg.NHeads(), s.NGroups, s.DState, s.HeadDim, s.ChunkSize, cfg.ConvDim()
	hpg := H / G
	ws := m.ws
	HS := H * P * N
	clear(ws.dstate)
	clear(ws.dA)
	nc := (T + Q - 1) / Q
	// Heads run in parallel when a chunk has enough work to pay for it.
	par := H*min(Q, T)*min(Q, T)*(P+N) >= ssdParallelMin
	for ci := nc - 1; ci >= 0; ci-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := ci * Q
		q := min(Q, T-t0)
		parallelItemsIf(par, G, func(_, g int) {
			cOff := t0*CD + DI + G*N + g*N
			bOff := t0*CD + DI + g*N
			gemmNTSerial(q, q, N, c.xbc[cOff:], CD, c.xbc[bOff:], CD, ws.cb[g*Q*Q:], Q, false)
		})
		prev := c.states[ci*HS : (ci+1)*HS]
		zeroPrev := ci == 0
		parallelItemsIf(par, H, func(w, h int) {
			sc := ws.scratch[w]
			g := h / hpg
			a := A[h]
			ssdChunkPrep(sc, c, h, t0, q, cfg, a)
			ssdDecayM(sc, ws.cb[g*Q*Q:], q, Q)
			for t := 0; t < q; t++ {
				copy(sc.dy[t*P:(t+1)*P], dy[(t0+t)*DI+h*P:(t0+t)*DI+(h+1)*P])
			}
			dacum := sc.dacum[:q]
			clear(dacum)
			last := sc.acum[q-1]
			eL := expf(last)
			dHn := ws.dstate[h*P*N : (h+1)*P*N]
			hp := prev[h*P*N : (h+1)*P*N]
			cOff := t0*CD + DI + G*N + g*N
			bOff := t0*CD + DI + g*N

			// (a) dM = dy·xdtᵀ, causal.
			gemmNTSerial(q, q, P, sc.dy, P, sc.xdt, P, sc.dm, Q, false)
			// (b) dxdt = Mᵀ·dy.
			gemmTNSerial(q, P, q, sc.m, Q, sc.dy, P, sc.dxdt, P, false)
			// (c), (d) the state leaving the chunk.
			for s := 0; s < q; s++ {
				w := expf(last - sc.acum[s])
				sc.wst[s] = w
				br := c.xbc[bOff+s*CD : bOff+s*CD+N]
				for n, v := range br {
					sc.bw[s*N+n] = v * w
				}
			}
			gemmNTSerial(q, P, N, sc.bw, N, dHn, N, sc.dxdt, P, true)
			gemmNNSerial(q, N, P, sc.xdt, P, dHn, N, sc.dbw, N, false)
			dbp := ws.dbPart[h*Q*N:]
			for s := 0; s < q; s++ {
				w := sc.wst[s]
				br := c.xbc[bOff+s*CD : bOff+s*CD+N]
				var dw float32
				for n, v := range sc.dbw[s*N : (s+1)*N] {
					dbp[s*N+n] = w * v
					dw += v * br[n]
				}
				dacum[q-1] += dw * w
				dacum[s] -= dw * w
			}
			// (e) the state entering the chunk.
			dcp := ws.dcPart[h*Q*N:]
			dHnew := sc.dhNew
			if zeroPrev {
				clear(dcp[:q*N])
			} else {
				gemmNTSerial(q, P, N, c.xbc[cOff:], CD, hp, N, sc.z, P, false)
				for t := 0; t < q; t++ {
					e := expf(sc.acum[t])
					var de float32
					for p := 0; p < P; p++ {
						de += sc.dy[t*P+p] * sc.z[t*P+p]
						sc.dy[t*P+p] *= e // dy becomes dye
					}
					dacum[t] += de * e
				}
				gemmNNSerial(q, N, P, sc.dy, P, hp, N, dcp, N, false)
				gemmTNSerial(P, N, q, sc.dy, P, c.xbc[cOff:], CD, dHnew, N, false)
				var dot float64
				for i, v := range dHn {
					dot += float64(v * hp[i])
					dHnew[i] += eL * v
				}
				dacum[q-1] += float32(dot) * eL
			}
			// (f) through M = CB ∘ L.
			dcb := ws.dcb[h*Q*Q:]
			colsum := sc.wst[:q] // free again: the state part is done
			clear(colsum)
			for t := 0; t < q; t++ {
				drow := sc.decay[t*Q : t*Q+t+1]
				dmr := sc.dm[t*Q : t*Q+t+1]
				mr := sc.m[t*Q : t*Q+t+1]
				dcbr := dcb[t*Q : t*Q+t+1]
				cs := colsum[:t+1]
				var rowsum float32
				for s, dmv := range dmr {
					dcbr[s] = dmv * drow[s]
					wv := dmv * mr[s]
					rowsum += wv
					cs[s] += wv
				}
				dacum[t] += rowsum
				clear(dcb[t*Q+t+1 : t*Q+q])
			}
			for s, v := range colsum {
				dacum[s] -= v
			}
			// (g) xdt = x*dt.
			for s := 0; s < q; s++ {
				dt := c.dt[(t0+s)*H+h]
				xr := c.xbc[(t0+s)*CD+h*P : (t0+s)*CD+(h+1)*P]
				dxr := dxbc[(t0+s)*CD+h*P : (t0+s)*CD+(h+1)*P]
				var acc float32
				for p, v := range sc.dxdt[s*P : (s+1)*P] {
					dxr[p] += v * dt
					acc += v * xr[p]
				}
				ddt[(t0+s)*H+h] += acc
			}
			// (h) acum = cumsum(dt*A).
			var run, dA float32
			for s := q - 1; s >= 0; s-- {
				run += dacum[s]
				dt := c.dt[(t0+s)*H+h]
				ddt[(t0+s)*H+h] += a * run
				dA += dt * run
			}
			ws.dA[h] += dA
			if !zeroPrev {
				copy(dHn, dHnew)
			}
		})
		// Per group: sum the heads' C·Bᵀ gradients and apply them, in blocks
		// of rows so that a single group still uses every core.
		const rb = 32
		nb := (q + rb - 1) / rb
		parallelItemsIf(par, G*nb, func(_, it int) {
			g, r0 := it/nb, (it%nb)*rb
			r1 := min(r0+rb, q)
			dcb := ws.cb[g*Q*Q:]
			cOff := t0*CD + DI + G*N + g*N
			bOff := t0*CD + DI + g*N
			for t := r0; t < r1; t++ {
				row := dcb[t*Q : t*Q+q]
				clear(row)
				dB := dxbc[bOff+t*CD : bOff+t*CD+N]
				dC := dxbc[cOff+t*CD : cOff+t*CD+N]
				for h := g * hpg; h < (g+1)*hpg; h++ {
					for s, v := range ws.dcb[h*Q*Q+t*Q : h*Q*Q+t*Q+q] {
						row[s] += v
					}
					for n := 0; n < N; n++ {
						dB[n] += ws.dbPart[h*Q*N+t*N+n]
						dC[n] += ws.dcPart[h*Q*N+t*N+n]
					}
				}
			}
		})
		parallelItemsIf(par, G*nb, func(_, it int) {
			g, r0 := it/nb, (it%nb)*rb
			r1 := min(r0+rb, q)
			dcb := ws.cb[g*Q*Q:]
			cOff := t0*CD + DI + G*N + g*N
			bOff := t0*CD + DI + g*N
			// dC[t] += Σ_s dCB[t,s] B[s];  dB[s] += Σ_t dCB[t,s] C[t].
			gemmNNSerial(r1-r0, N, q, dcb[r0*Q:], Q, c.xbc[bOff:], CD, dxbc[cOff+r0*CD:], CD, true)
			gemmTNSerial(r1-r0, N, q, dcb[r0:], Q, c.xbc[cOff:], CD, dxbc[bOff+r0*CD:], CD, true)
		})
	}
	return nil
}
