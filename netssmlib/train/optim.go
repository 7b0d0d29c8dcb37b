package train

import "math"

// AdamW is torch.optim.AdamW (the HF Trainer's default optimizer,
// "adamw_torch") with its defaults: betas (0.9, 0.999), eps 1e-8, decoupled
// weight decay, bias correction. Moments are float32 like PyTorch's.
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	// Steps is the number of updates done (PyTorch's state["step"]).
	Steps int
	// M and V are the first and second moments (exp_avg, exp_avg_sq), one
	// slice per parameter.
	M, V [][]float32
}

// NewAdamW returns an AdamW with HF's defaults for parameters of the given
// sizes.
func NewAdamW(sizes []int, weightDecay float64) *AdamW {
	o := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
	for _, n := range sizes {
		o.M = append(o.M, make([]float32, n))
		o.V = append(o.V, make([]float32, n))
	}
	return o
}

// Update applies one step with learning rate lr to params given their
// gradients (same shapes as at construction), following PyTorch's
// single-tensor AdamW:
//
//	p  *= 1 - lr*wd
//	m   = lerp(m, g, 1-beta1)
//	v   = beta2*v + (1-beta2)*g*g
//	p  -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)
func (o *AdamW) Update(lr float64, params, grads [][]float32) {
	o.Steps++
	t := float64(o.Steps)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	stepSize := float32(lr / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	decay := float32(1 - lr*o.WeightDecay)
	w1 := float32(1 - o.Beta1)
	b2, w2 := float32(o.Beta2), float32(1-o.Beta2)
	eps := float32(o.Eps)
	for i, p := range params {
		g, m, v := grads[i], o.M[i], o.V[i]
		g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
		for j := range p {
			if decay != 1 {
				p[j] *= decay
			}
			gj := g[j]
			m[j] += w1 * (gj - m[j]) // lerp with weight < 0.5, as PyTorch
			v[j] = v[j]*b2 + w2*gj*gj
			denom := float32(math.Sqrt(float64(v[j])))/bc2Sqrt + eps
			p[j] -= stepSize * m[j] / denom
		}
	}
}

// LinearLR is HF's get_linear_schedule_with_warmup without warmup: the
// learning rate of update step (0-based) decays linearly from base to 0
// over total steps.
func LinearLR(base float64, step, total int) float64 {
	if total <= 0 {
		return base
	}
	f := float64(total-step) / float64(total)
	if f < 0 {
		f = 0
	}
	return base * f
}

// GradNorm is the global L2 norm over all gradients (accumulated in
// float64).
func GradNorm(grads [][]float32) float64 {
	var s float64
	for _, g := range grads {
		for _, x := range g {
			s += float64(x) * float64(x)
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm scales the gradients so their global L2 norm is at most
// maxNorm, as torch.nn.utils.clip_grad_norm_ does (coefficient
// maxNorm/(norm+1e-6), applied only when below 1), and returns the norm
// before clipping (what HF logs as grad_norm).
func ClipGradNorm(grads [][]float32, maxNorm float64) float64 {
	norm := GradNorm(grads)
	if maxNorm <= 0 {
		return norm
	}
	coef := maxNorm / (norm + 1e-6)
	if coef < 1 {
		c := float32(coef)
		for _, g := range grads {
			for j := range g {
				g[j] *= c
			}
		}
	}
	return norm
}
