package mamba

import "math"

// expf is a float32 exp accurate to about 2 ulp: Cody-Waite range reduction
// to |r| <= ln2/2 and a degree-6 polynomial, without the float64 detour of
// math.Exp. Inputs below -87.3 give 0, above 88 go through math.Exp; NaN stays NaN.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	if x != x {
		return x
	}
	if x < -87.3 {
		return 0
	}
	if x > 88 {
		return float32(math.Exp(float64(x)))
	}
	// floor(x*log2e + 0.5), via truncation of a positive number.
	n := float32(int32(x*log2e+0.5+128)) - 128
	r := x - n*ln2hi - n*ln2lo
	// e^r on [-0.35, 0.35] (Taylor to r^6; the truncation error is < 2e-8).
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// decayRow advances the causal decay matrix by one row: on entry l[s] =
// exp(acum[t-1]-acum[s]) for s < t, on return l[s] = exp(acum[t]-acum[s])
// for s <= t (l[t] = 1), using the product of the per-step decays e =
// exp(acum[t]-acum[t-1]) instead of one exp per entry. *lo is the first
// entry that has not underflowed; entries below it are kept at zero so that
// the products never turn into slow subnormals.
func decayRow(l []float32, t int, e float32, lo *int) {
	s := *lo
	for ; s < t; s++ {
		l[s] *= e
	}
	for *lo < t && l[*lo] < 1e-30 {
		l[*lo] = 0
		*lo++
	}
	l[t] = 1
}
