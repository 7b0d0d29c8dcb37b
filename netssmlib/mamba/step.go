package mamba

import (
	"context"
	"fmt"
	"math"
)

// State is the recurrent state of a batch of sequences for step-mode
// decoding: per layer, the last d_conv-1 inputs of the convolution and the
// SSM state [H, P, N] of every row, plus the step buffers.
type State struct {
	Batch int
	conv  [][]float32 // per layer [batch, d_conv-1, ConvDim]
	ssm   [][]float32 // per layer [batch, H, P, N]

	resid, u, h, hf []float32 // [batch, D]
	zx              []float32 // [batch, DInProj]
	xbc             []float32 // [batch, ConvDim]
	y, yn           []float32 // [batch, DInner]
	a               []float32 // [H]
	rstd            []float32 // [batch]
}

// NewState allocates a zeroed state for batch rows.
func (m *Model) NewState(batch int) *State {
	cfg := m.Config
	s := cfg.SSMCfg
	f := func(n int) []float32 { return make([]float32, n) }
	st := &State{Batch: batch}
	for range cfg.NLayer {
		st.conv = append(st.conv, f(batch*(s.DConv-1)*cfg.ConvDim()))
		st.ssm = append(st.ssm, f(batch*cfg.DInner()*s.DState))
	}
	D := cfg.DModel
	st.resid, st.u, st.h, st.hf = f(batch*D), f(batch*D), f(batch*D), f(batch*D)
	st.zx, st.xbc = f(batch*cfg.DInProj()), f(batch*cfg.ConvDim())
	st.y, st.yn, st.a = f(batch*cfg.DInner()), f(batch*cfg.DInner()), f(cfg.NHeads())
	st.rstd = f(batch)
	return st
}

// Reset zeroes the state of one row (a new sequence).
func (st *State) Reset(row int) {
	for li := range st.conv {
		n := len(st.conv[li]) / st.Batch
		clear(st.conv[li][row*n : (row+1)*n])
		n = len(st.ssm[li]) / st.Batch
		clear(st.ssm[li][row*n : (row+1)*n])
	}
}

// Step feeds one token per batch row (tokens[b] for row b), advances the
// state and writes the next-token logits [batch, PaddedVocab] to logits.
// Its cost per token does not depend on how many tokens came before.
func (m *Model) Step(st *State, tokens []int32, logits []float32) error {
	cfg := m.Config
	s := cfg.SSMCfg
	B, V := st.Batch, cfg.PaddedVocab()
	if len(tokens) != B {
		return fmt.Errorf("step: %d tokens for a batch of %d", len(tokens), B)
	}
	if len(logits) < B*V {
		return fmt.Errorf("step: logits buffer holds %d values, need %d", len(logits), B*V)
	}
	if len(st.conv) != cfg.NLayer || len(st.u) != B*cfg.DModel || len(st.zx) != B*cfg.DInProj() {
		return fmt.Errorf("step: state was made for another model configuration")
	}
	if err := m.checkIDs(tokens, "tokens"); err != nil {
		return fmt.Errorf("step: %w", err)
	}
	D, DI, H, G, N, P := cfg.DModel, cfg.DInner(), cfg.NHeads(), s.NGroups, s.DState, s.HeadDim
	CD, DP, K := cfg.ConvDim(), cfg.DInProj(), s.DConv
	hpg, gs := H/G, DI/G
	m.embedTokens(tokens, st.resid)
	rstd := st.rstd
	for li := range m.layers {
		l := &m.layers[li]
		rmsNorm(B, D, st.resid, l.norm.Data, st.u, rstd)
		m.roundInput(st.u)
		gemmNT(B, DP, D, st.u, D, m.linW(l.inProj), D, st.zx, DP, false)
		for h := range st.a {
			st.a[h] = -float32(math.Exp(float64(l.aLog.Data[h])))
		}
		conv, ssm := st.conv[li], st.ssm[li]
		for b := 0; b < B; b++ {
			in := st.zx[b*DP+DI : b*DP+DI+CD]
			hist := conv[b*(K-1)*CD : (b+1)*(K-1)*CD]
			out := st.xbc[b*CD : (b+1)*CD]
			for ch := range out {
				var v float32
				if l.convB != nil {
					v = l.convB.Data[ch]
				}
				w := l.convW.Data[ch*K : (ch+1)*K]
				for k := 0; k < K-1; k++ {
					v += w[k] * hist[k*CD+ch]
				}
				v += w[K-1] * in[ch]
				out[ch] = silu(v)
			}
			if K > 1 {
				copy(hist, hist[CD:])
				copy(hist[(K-2)*CD:], in)
			}
		}
		parallelItems(B*H, func(_, i int) {
			b, h := i/H, i%H
			g := h / hpg
			dt := softplus(st.zx[b*DP+DI+CD+h] + l.dtBias.Data[h])
			dA := float32(math.Exp(float64(dt * st.a[h])))
			x := st.xbc[b*CD+h*P : b*CD+(h+1)*P]
			bv := st.xbc[b*CD+DI+g*N : b*CD+DI+(g+1)*N]
			cv := st.xbc[b*CD+DI+G*N+g*N : b*CD+DI+G*N+(g+1)*N]
			hs := ssm[(b*H+h)*P*N : (b*H+h+1)*P*N]
			y := st.y[b*DI+h*P : b*DI+(h+1)*P]
			dd := l.d.Data[h]
			for p := 0; p < P; p++ {
				y[p] = ssmStep(hs[p*N:(p+1)*N], dA, x[p]*dt, bv, cv) + dd*x[p]
			}
		})
		for b := 0; b < B; b++ {
			y := st.y[b*DI : (b+1)*DI]
			z := st.zx[b*DP : b*DP+DI]
			yn := st.yn[b*DI : (b+1)*DI]
			for g := 0; g < G; g++ {
				var ss float64
				for i := g * gs; i < (g+1)*gs; i++ {
					v := y[i] * silu(z[i])
					yn[i] = v
					ss += float64(v) * float64(v)
				}
				r := float32(1 / math.Sqrt(ss/float64(gs)+normEps))
				for i := g * gs; i < (g+1)*gs; i++ {
					yn[i] *= r * l.normW.Data[i]
				}
			}
		}
		m.roundInput(st.yn)
		gemmNT(B, D, DI, st.yn, DI, m.linW(l.outProj), DI, st.h, D, false)
		for i, v := range st.h {
			st.resid[i] += v
		}
	}
	rmsNorm(B, D, st.resid, m.normF.Data, st.hf, rstd)
	m.roundInput(st.hf)
	gemmNT(B, V, D, st.hf, D, m.linW(m.lmHead), D, logits, V, false)
	return nil
}

// Prefill resets row of st, runs the chunked forward pass over prompt and
// leaves the row's state where step mode would have it after feeding every
// prompt token. It returns the logits after the last prompt token (a fresh
// slice of PaddedVocab values).
func (m *Model) Prefill(ctx context.Context, st *State, row int, prompt []int32) ([]float32, error) {
	if row < 0 || row >= st.Batch {
		return nil, fmt.Errorf("prefill: row %d outside a batch of %d", row, st.Batch)
	}
	if len(st.conv) != m.Config.NLayer {
		return nil, fmt.Errorf("prefill: state was made for another model configuration")
	}
	cfg := m.Config
	s := cfg.SSMCfg
	T, K, CD, DP, DI := len(prompt), s.DConv, cfg.ConvDim(), cfg.DInProj(), cfg.DInner()
	HS := DI * s.DState
	nc := (T + s.ChunkSize - 1) / s.ChunkSize
	st.Reset(row)
	ws, err := m.forwardWith(ctx, prompt, false, func(li int, c *layerCache) {
		copy(st.ssm[li][row*HS:(row+1)*HS], c.states[nc*HS:(nc+1)*HS])
		hist := st.conv[li][row*(K-1)*CD : (row+1)*(K-1)*CD]
		for k := 0; k < K-1; k++ {
			tt := T - (K - 1) + k
			if tt >= 0 {
				copy(hist[k*CD:(k+1)*CD], c.zx[tt*DP+DI:tt*DP+DI+CD])
			}
		}
	})
	if err != nil {
		return nil, err
	}
	V := cfg.PaddedVocab()
	return append([]float32(nil), ws.logits[(T-1)*V:T*V]...), nil
}

// ssmStepGo is the portable ssmStep.
func ssmStepGo(h []float32, da, xd float32, b, c []float32) float32 {
	b, c = b[:len(h)], c[:len(h)]
	var acc float32
	for n, bn := range b {
		v := h[n]*da + xd*bn
		h[n] = v
		acc += v * c[n]
	}
	return acc
}
