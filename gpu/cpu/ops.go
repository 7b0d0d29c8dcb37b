package cpu

import (
	"context"
	"fmt"
	"math"

	"github.com/netssm/netssm/gpu"
)

// Embedding implements gpu.Ops.
func (be *Backend) Embedding(ctx context.Context, a *gpu.EmbeddingArgs) error {
	if err := begin(ctx, a.Validate(false), be.owned(a.IDs, a.Table, a.Out.Buf)); err != nil {
		return err
	}
	ids, _ := be.own(a.IDs)
	table, out := be.vec(a.Table), be.mat(a.Out)
	vocab := a.Vocab(a.Table)
	for r := 0; r < a.Rows; r++ {
		id := int(ids.i[r])
		if id < 0 || id >= vocab {
			return fmt.Errorf("cpu: embedding: row %d: token id %d outside vocabulary of %d", r, id, vocab)
		}
		for d := 0; d < a.Dim; d++ {
			out.set(r, d, float64(table[id*a.Dim+d]))
		}
	}
	return nil
}

// EmbeddingBackward implements gpu.Ops.
func (be *Backend) EmbeddingBackward(ctx context.Context, a *gpu.EmbeddingArgs) error {
	if err := begin(ctx, a.Validate(true), be.owned(a.IDs, a.DTable, a.DOut.Buf)); err != nil {
		return err
	}
	ids, _ := be.own(a.IDs)
	dt, dout := be.vec(a.DTable), be.mat(a.DOut)
	vocab := a.Vocab(a.DTable)
	for r := 0; r < a.Rows; r++ {
		id := int(ids.i[r])
		if id < 0 || id >= vocab {
			return fmt.Errorf("cpu: embedding backward: row %d: token id %d outside vocabulary of %d", r, id, vocab)
		}
		for d := 0; d < a.Dim; d++ {
			dt[id*a.Dim+d] = float32(float64(dt[id*a.Dim+d]) + dout.at(r, d))
		}
	}
	return nil
}

// AddRMSNorm implements gpu.Ops.
func (be *Backend) AddRMSNorm(ctx context.Context, a *gpu.AddRMSNormArgs) error {
	var resBuf gpu.Buffer
	if a.Residual != nil {
		resBuf = a.Residual.Buf
	}
	if err := begin(ctx, a.Validate(false), be.owned(a.X.Buf, resBuf, a.Weight, a.Out.Buf, a.ResidualOut.Buf, a.Rstd)); err != nil {
		return err
	}
	x, out, ro := be.mat(a.X), be.mat(a.Out), be.mat(a.ResidualOut)
	w, rstd := be.vec(a.Weight), be.vec(a.Rstd)
	r := make([]float64, a.Dim)
	for i := 0; i < a.Rows; i++ {
		var ss float64
		for d := range r {
			v := x.at(i, d)
			if a.Residual != nil {
				v += be.mat(*a.Residual).at(i, d)
			}
			v = float64(float32(v)) // the residual stream is fp32
			r[d] = v
			ss += v * v
		}
		rs := 1 / math.Sqrt(ss/float64(a.Dim)+float64(a.Eps))
		rstd[i] = float32(rs)
		for d, v := range r {
			ro.set(i, d, v)
			out.set(i, d, v*rs*float64(w[d]))
		}
	}
	return nil
}

// AddRMSNormBackward implements gpu.Ops.
func (be *Backend) AddRMSNormBackward(ctx context.Context, a *gpu.AddRMSNormArgs) error {
	var drBuf, dcBuf gpu.Buffer
	if a.DResidualOut != nil {
		drBuf = a.DResidualOut.Buf
	}
	if a.DXCopy != nil {
		dcBuf = a.DXCopy.Buf
	}
	if err := begin(ctx, a.Validate(true), be.owned(a.DOut.Buf, drBuf, a.DX.Buf, dcBuf, a.DWeight, a.Weight, a.ResidualOut.Buf, a.Rstd)); err != nil {
		return err
	}
	dout, dx, ro := be.mat(a.DOut), be.mat(a.DX), be.mat(a.ResidualOut)
	w, dw, rstd := be.vec(a.Weight), be.vec(a.DWeight), be.vec(a.Rstd)
	dwAcc := make([]float64, a.Dim)
	g := make([]float64, a.Dim)
	rh := make([]float64, a.Dim)
	for i := 0; i < a.Rows; i++ {
		rs := float64(rstd[i])
		var dot float64
		for d := range g {
			rh[d] = ro.at(i, d) * rs
			g[d] = dout.at(i, d) * float64(w[d])
			dot += g[d] * rh[d]
			dwAcc[d] += dout.at(i, d) * rh[d]
		}
		mean := dot / float64(a.Dim)
		for d := range g {
			v := rs * (g[d] - rh[d]*mean)
			if a.DResidualOut != nil {
				v += be.mat(*a.DResidualOut).at(i, d)
			}
			dx.set(i, d, v)
			if a.DXCopy != nil {
				be.mat(*a.DXCopy).set(i, d, dx.at(i, d))
			}
		}
	}
	for d, v := range dwAcc {
		dw[d] = float32(float64(dw[d]) + v)
	}
	return nil
}

// Gemm implements gpu.Ops.
func (be *Backend) Gemm(ctx context.Context, a *gpu.GemmArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.A.Buf, a.B.Buf, a.C.Buf)); err != nil {
		return err
	}
	am, bm, cm := be.mat(a.A), be.mat(a.B), be.mat(a.C)
	for i := 0; i < a.M; i++ {
		for j := 0; j < a.N; j++ {
			var s float64
			for k := 0; k < a.K; k++ {
				var av, bv float64
				if a.TransA {
					av = am.at(k, i)
				} else {
					av = am.at(i, k)
				}
				if a.TransB {
					bv = bm.at(j, k)
				} else {
					bv = bm.at(k, j)
				}
				s += av * bv
			}
			v := float64(a.Alpha) * s
			if a.Beta != 0 {
				v += float64(a.Beta) * cm.at(i, j)
			}
			cm.set(i, j, v)
		}
		if i%64 == 63 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Conv1d implements gpu.Ops.
func (be *Backend) Conv1d(ctx context.Context, a *gpu.Conv1dArgs) error {
	if err := begin(ctx, a.Validate(false), be.owned(a.X.Buf, a.Weight, a.Bias, a.Out.Buf)); err != nil {
		return err
	}
	x, out := be.mat(a.X), be.mat(a.Out)
	w, bias := be.vec(a.Weight), be.vec(a.Bias)
	W := a.Width
	for b := 0; b < a.Batch; b++ {
		for t := 0; t < a.Seq; t++ {
			for c := 0; c < a.Channels; c++ {
				var pre float64
				if bias != nil {
					pre = float64(bias[c])
				}
				for k := 0; k < W; k++ {
					if s := t - (W - 1) + k; s >= 0 {
						pre += float64(w[c*W+k]) * x.at(b*a.Seq+s, c)
					}
				}
				if a.SiLU {
					pre = silu(pre)
				}
				out.set(b*a.Seq+t, c, pre)
			}
		}
	}
	return nil
}

// Conv1dBackward implements gpu.Ops.
func (be *Backend) Conv1dBackward(ctx context.Context, a *gpu.Conv1dArgs) error {
	if err := begin(ctx, a.Validate(true), be.owned(a.X.Buf, a.Weight, a.Bias, a.DOut.Buf, a.DX.Buf, a.DWeight, a.DBias)); err != nil {
		return err
	}
	x, dout, dx := be.mat(a.X), be.mat(a.DOut), be.mat(a.DX)
	w, bias, dw, db := be.vec(a.Weight), be.vec(a.Bias), be.vec(a.DWeight), be.vec(a.DBias)
	W := a.Width
	dxAcc := make([]float64, a.Seq)
	dwAcc := make([]float64, W)
	dpre := make([]float64, a.Seq)
	for c := 0; c < a.Channels; c++ {
		clear(dwAcc)
		var dbAcc float64
		for b := 0; b < a.Batch; b++ {
			row := b * a.Seq
			for t := 0; t < a.Seq; t++ {
				var pre float64
				if bias != nil {
					pre = float64(bias[c])
				}
				for k := 0; k < W; k++ {
					if s := t - (W - 1) + k; s >= 0 {
						pre += float64(w[c*W+k]) * x.at(row+s, c)
					}
				}
				d := dout.at(row+t, c)
				if a.SiLU {
					d *= dsilu(pre)
				}
				dpre[t] = d
				dbAcc += d
			}
			clear(dxAcc)
			for t := 0; t < a.Seq; t++ {
				for k := 0; k < W; k++ {
					if s := t - (W - 1) + k; s >= 0 {
						dxAcc[s] += dpre[t] * float64(w[c*W+k])
						dwAcc[k] += dpre[t] * x.at(row+s, c)
					}
				}
			}
			for s, v := range dxAcc {
				dx.set(row+s, c, v)
			}
		}
		for k, v := range dwAcc {
			dw[c*W+k] = float32(float64(dw[c*W+k]) + v)
		}
		if bias != nil {
			db[c] = float32(float64(db[c]) + dbAcc)
		}
	}
	return nil
}

// Conv1dStep implements gpu.Ops.
func (be *Backend) Conv1dStep(ctx context.Context, a *gpu.Conv1dStepArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.X.Buf, a.State, a.Weight, a.Bias, a.Out.Buf)); err != nil {
		return err
	}
	x, out := be.mat(a.X), be.mat(a.Out)
	st, w, bias := be.vec(a.State), be.vec(a.Weight), be.vec(a.Bias)
	W := a.Width
	for b := 0; b < a.Batch; b++ {
		for c := 0; c < a.Channels; c++ {
			s := st[(b*a.Channels+c)*W:][:W]
			copy(s, s[1:])
			s[W-1] = float32(x.at(b, c))
			var pre float64
			if bias != nil {
				pre = float64(bias[c])
			}
			for k := 0; k < W; k++ {
				pre += float64(w[c*W+k]) * float64(s[k])
			}
			if a.SiLU {
				pre = silu(pre)
			}
			out.set(b, c, pre)
		}
	}
	return nil
}

// GatedRMSNorm implements gpu.Ops.
func (be *Backend) GatedRMSNorm(ctx context.Context, a *gpu.GatedRMSNormArgs) error {
	if err := begin(ctx, a.Validate(false), be.owned(a.X.Buf, a.Z.Buf, a.Weight, a.Out.Buf, a.Rstd)); err != nil {
		return err
	}
	x, z, out := be.mat(a.X), be.mat(a.Z), be.mat(a.Out)
	w, rstd := be.vec(a.Weight), be.vec(a.Rstd)
	G := a.Dim / a.GroupSize
	g := make([]float64, a.GroupSize)
	for i := 0; i < a.Rows; i++ {
		for j := 0; j < G; j++ {
			var ss float64
			for k := range g {
				d := j*a.GroupSize + k
				g[k] = x.at(i, d) * silu(z.at(i, d))
				ss += g[k] * g[k]
			}
			rs := 1 / math.Sqrt(ss/float64(a.GroupSize)+float64(a.Eps))
			rstd[i*G+j] = float32(rs)
			for k, v := range g {
				d := j*a.GroupSize + k
				out.set(i, d, v*rs*float64(w[d]))
			}
		}
	}
	return nil
}

// GatedRMSNormBackward implements gpu.Ops.
func (be *Backend) GatedRMSNormBackward(ctx context.Context, a *gpu.GatedRMSNormArgs) error {
	if err := begin(ctx, a.Validate(true), be.owned(a.X.Buf, a.Z.Buf, a.Weight, a.Rstd, a.DOut.Buf, a.DX.Buf, a.DZ.Buf, a.DWeight)); err != nil {
		return err
	}
	x, z, dout, dx, dz := be.mat(a.X), be.mat(a.Z), be.mat(a.DOut), be.mat(a.DX), be.mat(a.DZ)
	w, rstd, dw := be.vec(a.Weight), be.vec(a.Rstd), be.vec(a.DWeight)
	G := a.Dim / a.GroupSize
	dwAcc := make([]float64, a.Dim)
	gh := make([]float64, a.GroupSize)
	u := make([]float64, a.GroupSize)
	for i := 0; i < a.Rows; i++ {
		for j := 0; j < G; j++ {
			rs := float64(rstd[i*G+j])
			var dot float64
			for k := range gh {
				d := j*a.GroupSize + k
				gh[k] = x.at(i, d) * silu(z.at(i, d)) * rs
				u[k] = dout.at(i, d) * float64(w[d])
				dot += u[k] * gh[k]
				dwAcc[d] += dout.at(i, d) * gh[k]
			}
			mean := dot / float64(a.GroupSize)
			for k := range gh {
				d := j*a.GroupSize + k
				dg := rs * (u[k] - gh[k]*mean)
				zv, xv := z.at(i, d), x.at(i, d)
				dx.set(i, d, dg*silu(zv))
				dz.set(i, d, dg*xv*dsilu(zv))
			}
		}
	}
	for d, v := range dwAcc {
		dw[d] = float32(float64(dw[d]) + v)
	}
	return nil
}

// CrossEntropy implements gpu.Ops.
func (be *Backend) CrossEntropy(ctx context.Context, a *gpu.CrossEntropyArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.Logits.Buf, a.Labels, a.Losses, a.DLogits.Buf)); err != nil {
		return err
	}
	logits := be.mat(a.Logits)
	labels, _ := be.own(a.Labels)
	losses := be.vec(a.Losses)
	row := make([]float64, a.Vocab)
	for i := 0; i < a.Rows; i++ {
		lab := int(labels.i[i])
		ignored := lab == gpu.IgnoreIndex
		if !ignored && (lab < 0 || lab >= a.Vocab) {
			return fmt.Errorf("cpu: cross_entropy: row %d: label %d outside vocabulary of %d", i, lab, a.Vocab)
		}
		mx := math.Inf(-1)
		for v := range row {
			row[v] = logits.at(i, v)
			mx = math.Max(mx, row[v])
		}
		var se float64
		for _, l := range row {
			se += math.Exp(l - mx)
		}
		lse := mx + math.Log(se)
		if ignored {
			losses[i] = 0
		} else {
			losses[i] = float32(lse - row[lab])
		}
		if a.DLogits.Buf == nil {
			continue
		}
		dl := be.mat(a.DLogits)
		for v, l := range row {
			g := 0.0
			if !ignored {
				g = math.Exp(l - lse)
				if v == lab {
					g--
				}
				g *= float64(a.GradScale)
			}
			dl.set(i, v, g)
		}
	}
	return nil
}

// adamw is PyTorch's AdamW in float64 over n elements, with gradient i
// given by grad (so callers decide how it is scaled), storing the first
// copyN updated weights into cp rounded to its dtype.
func adamw(n, step int, lr32, beta1, beta2, eps, wd float32, p, m, v []float32, cp *buffer, copyN int, grad func(i int) float64) {
	lr, b1, b2 := float64(lr32), float64(beta1), float64(beta2)
	bc1 := 1 - math.Pow(b1, float64(step))
	bc2 := 1 - math.Pow(b2, float64(step))
	for i := 0; i < n; i++ {
		gi := grad(i)
		pi := float64(p[i]) * (1 - lr*float64(wd))
		mi := b1*float64(m[i]) + (1-b1)*gi
		vi := b2*float64(v[i]) + (1-b2)*gi*gi
		pi -= lr * (mi / bc1) / (math.Sqrt(vi/bc2) + float64(eps))
		p[i], m[i], v[i] = float32(pi), float32(mi), float32(vi)
		if i < copyN {
			cp.f[i] = round(cp.dt, float64(p[i]))
		}
	}
}

// AdamW implements gpu.Ops.
func (be *Backend) AdamW(ctx context.Context, a *gpu.AdamWArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.Param, a.Grad, a.M, a.V, a.Copy)); err != nil {
		return err
	}
	p, g, m, v := be.vec(a.Param), be.vec(a.Grad), be.vec(a.M), be.vec(a.V)
	var cp *buffer
	if a.Copy != nil {
		cp, _ = be.own(a.Copy)
	}
	n := a.N
	if cp == nil {
		n = 0
	}
	adamw(a.N, a.Step, a.LR, a.Beta1, a.Beta2, a.Eps, a.WeightDecay, p, m, v, cp, n,
		func(i int) float64 { return float64(a.GradScale) * float64(g[i]) })
	return nil
}
