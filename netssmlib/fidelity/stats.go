package fidelity

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
)

// Num is a float64 that marshals NaN (an undefined value) as JSON null.
type Num float64

// MarshalJSON writes null for NaN and infinities.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// UnmarshalJSON reads null as NaN.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// JSD returns the Jensen-Shannon divergence, base 2, between two
// histograms over the same bins (counts or probabilities; each is
// normalised by its sum). It is in [0,1]; NaN when either sums to zero or
// the lengths differ, or a value is negative.
func JSD(p, q []float64) float64 {
	if len(p) != len(q) {
		return math.NaN()
	}
	hp, hq := map[int]float64{}, map[int]float64{}
	for i := range p {
		if p[i] < 0 || q[i] < 0 {
			return math.NaN()
		}
		hp[i], hq[i] = p[i], q[i]
	}
	return jsd(hp, hq)
}

// jsd is JSD over sparse histograms keyed by bin.
func jsd[K comparable, V int | float64](p, q map[K]V) float64 {
	np, nq := total(p), total(q)
	if np == 0 || nq == 0 {
		return math.NaN()
	}
	var d float64
	term := func(a, m float64) float64 {
		if a == 0 {
			return 0
		}
		return a * math.Log2(a/m)
	}
	for k, c := range p {
		a := float64(c) / np
		b := float64(q[k]) / nq
		m := (a + b) / 2
		d += term(a, m) + term(b, m)
	}
	for k, c := range q {
		if _, seen := p[k]; seen {
			continue
		}
		b := float64(c) / nq
		d += term(b, b/2)
	}
	return math.Min(math.Max(d/2, 0), 1)
}

func total[K comparable, V int | float64](h map[K]V) float64 {
	var n float64
	for _, c := range h {
		n += float64(c)
	}
	return n
}

// EMD returns the earth mover's distance (1-D Wasserstein-1) between two
// empirical distributions given as counts per value: the area between their
// cumulative distribution functions, in the values' units. NaN when either
// is empty.
func EMD(p, q map[int]int) float64 {
	np, nq := total(p), total(q)
	if np == 0 || nq == 0 {
		return math.NaN()
	}
	xs := make([]int, 0, len(p)+len(q))
	for v := range p {
		xs = append(xs, v)
	}
	for v := range q {
		if _, ok := p[v]; !ok {
			xs = append(xs, v)
		}
	}
	sort.Ints(xs)
	var d, cp, cq float64
	for i := 0; i+1 < len(xs); i++ {
		cp += float64(p[xs[i]]) / np
		cq += float64(q[xs[i]]) / nq
		d += math.Abs(cp-cq) * float64(xs[i+1]-xs[i])
	}
	return d
}

// valueRange is max-min over the values of both histograms.
func valueRange(p, q map[int]int) int {
	lo, hi, any := 0, 0, false
	for _, h := range []map[int]int{p, q} {
		for v := range h {
			if !any || v < lo {
				lo = v
			}
			if !any || v > hi {
				hi = v
			}
			any = true
		}
	}
	return hi - lo
}
