package mamba

import (
	"math"
)

// refModel is a plain float64 implementation of the same network, written
// from the definitions (sequential recurrence, no chunks, no kernels), used
// as the reference for parity and finite-difference gradient checks.
type refModel struct {
	cfg Config
	p   map[string][]float64
}

func newRef(m *Model) *refModel {
	r := &refModel{cfg: m.Config, p: map[string][]float64{}}
	for _, p := range m.Params {
		v := make([]float64, len(p.Data))
		for i, x := range p.Data {
			v[i] = float64(x)
		}
		r.p[p.Name] = v
	}
	if m.Config.TieEmbeddings {
		r.p["lm_head.weight"] = r.p["backbone.embedding.weight"]
	}
	return r
}

func rsilu(x float64) float64 { return x / (1 + math.Exp(-x)) }

func rsoftplus(x float64) float64 {
	if x > 20 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

func rrms(x, w []float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+1e-5)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * r * w[i]
	}
	return out
}

// linear returns W·x for W [o, len(x)].
func rlinear(w, x []float64) []float64 {
	n := len(x)
	out := make([]float64, len(w)/n)
	for o := range out {
		var s float64
		for i, v := range x {
			s += w[o*n+i] * v
		}
		out[o] = s
	}
	return out
}

// layer runs one Mamba2 mixer over the sequence u [T][D] (already normed).
func (r *refModel) mixer(li int, u [][]float64) [][]float64 {
	cfg := r.cfg
	s := cfg.SSMCfg
	pre := "backbone.layers." + itoa(li) + ".mixer."
	DI, H, G, N, P, K, CD := cfg.DInner(), cfg.NHeads(), s.NGroups, s.DState, s.HeadDim, s.DConv, cfg.ConvDim()
	T := len(u)
	zx := make([][]float64, T)
	for t := range u {
		zx[t] = rlinear(r.p[pre+"in_proj.weight"], u[t])
	}
	convW, convB := r.p[pre+"conv1d.weight"], r.p[pre+"conv1d.bias"]
	dtBias, aLog, dD := r.p[pre+"dt_bias"], r.p[pre+"A_log"], r.p[pre+"D"]
	normW, outW := r.p[pre+"norm.weight"], r.p[pre+"out_proj.weight"]
	state := make([]float64, H*P*N)
	out := make([][]float64, T)
	for t := 0; t < T; t++ {
		xbc := make([]float64, CD)
		for ch := 0; ch < CD; ch++ {
			v := 0.0
			if convB != nil {
				v = convB[ch]
			}
			for k := 0; k < K; k++ {
				if tt := t - (K - 1) + k; tt >= 0 {
					v += convW[ch*K+k] * zx[tt][DI+ch]
				}
			}
			xbc[ch] = rsilu(v)
		}
		y := make([]float64, DI)
		for h := 0; h < H; h++ {
			g := h / (H / G)
			dt := rsoftplus(zx[t][DI+CD+h] + dtBias[h])
			a := -math.Exp(aLog[h])
			dA := math.Exp(dt * a)
			for p := 0; p < P; p++ {
				x := xbc[h*P+p]
				var acc float64
				for n := 0; n < N; n++ {
					i := (h*P+p)*N + n
					state[i] = state[i]*dA + dt*x*xbc[DI+g*N+n]
					acc += state[i] * xbc[DI+G*N+g*N+n]
				}
				y[h*P+p] = acc + dD[h]*x
			}
		}
		gs := DI / G
		yn := make([]float64, DI)
		for g := 0; g < G; g++ {
			gv := make([]float64, gs)
			for i := range gv {
				gv[i] = y[g*gs+i] * rsilu(zx[t][g*gs+i])
			}
			copy(yn[g*gs:], rrms(gv, normW[g*gs:(g+1)*gs]))
		}
		out[t] = rlinear(outW, yn)
	}
	return out
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// logits returns [T][V].
func (r *refModel) logits(ids []int32) [][]float64 {
	cfg := r.cfg
	D := cfg.DModel
	emb := r.p["backbone.embedding.weight"]
	resid := make([][]float64, len(ids))
	for t, id := range ids {
		resid[t] = append([]float64(nil), emb[int(id)*D:(int(id)+1)*D]...)
	}
	for li := 0; li < cfg.NLayer; li++ {
		u := make([][]float64, len(ids))
		for t := range resid {
			u[t] = rrms(resid[t], r.p["backbone.layers."+itoa(li)+".norm.weight"])
		}
		out := r.mixer(li, u)
		for t := range resid {
			for i := range resid[t] {
				resid[t][i] += out[t][i]
			}
		}
	}
	lg := make([][]float64, len(ids))
	for t := range resid {
		lg[t] = rlinear(r.p["lm_head.weight"], rrms(resid[t], r.p["backbone.norm_f.weight"]))
	}
	return lg
}

// loss is the summed next-token cross-entropy.
func (r *refModel) loss(ids, targets []int32) float64 {
	var sum float64
	for t, row := range r.logits(ids) {
		if targets[t] == IgnoreIndex {
			continue
		}
		mx := row[0]
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range row {
			z += math.Exp(v - mx)
		}
		sum += math.Log(z) + mx - row[targets[t]]
	}
	return sum
}

func sqrt(x float64) float64     { return math.Sqrt(x) }
func exp(x float64) float64      { return math.Exp(x) }
func log1pexp(x float64) float64 { return rsoftplus(x) }
