package mamba

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// refSSD is the SSD as its definition, in float64: per head the recurrence
// h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_tᵀ, y_t = h_t C_t; heads of a group
// share B and C. xbc is [T, ConvDim] (x | B | C), dt [T, H].
func refSSD(cfg Config, T int, xbc, dt, A []float64) []float64 {
	s := cfg.SSMCfg
	DI, H, G, N, P, CD := cfg.DInner(), cfg.NHeads(), s.NGroups, s.DState, s.HeadDim, cfg.ConvDim()
	y := make([]float64, T*DI)
	h := make([]float64, H*P*N)
	for t := 0; t < T; t++ {
		for hd := 0; hd < H; hd++ {
			g := hd / (H / G)
			da := math.Exp(dt[t*H+hd] * A[hd])
			for p := 0; p < P; p++ {
				x := xbc[t*CD+hd*P+p]
				var acc float64
				for n := 0; n < N; n++ {
					i := (hd*P+p)*N + n
					h[i] = h[i]*da + dt[t*H+hd]*x*xbc[t*CD+DI+g*N+n]
					acc += h[i] * xbc[t*CD+DI+G*N+g*N+n]
				}
				y[t*DI+hd*P+p] = acc
			}
		}
	}
	return y
}

// TestSSDGradients checks the chunked scan's backward pass on its own: the
// gradients of Σ y∘R with respect to x, B, C, dt and A against central
// differences of refSSD, over several chunks with a partial last one.
func TestSSDGradients(t *testing.T) {
	cfg := tinyConfig()
	cfg.SSMCfg.ChunkSize = 5
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	const T = 13
	s := cfg.SSMCfg
	DI, H, CD := cfg.DInner(), cfg.NHeads(), cfg.ConvDim()
	rng := rand.New(rand.NewPCG(3, 4))
	ws := m.workspace(T, true)
	c := ws.caches[0]
	A := make([]float32, H)
	for i := range A {
		A[i] = -float32(0.5 + rng.Float64()*3)
	}
	for i := range c.xbc[:T*CD] {
		c.xbc[i] = float32(rng.NormFloat64())
	}
	for i := range c.dt[:T*H] {
		c.dt[i] = float32(0.05 + rng.Float64()*0.5)
	}
	R := randSlice(rng, T*DI)
	ctx := context.Background()
	if err := m.ssdForward(ctx, T, c, A, nil); err != nil {
		t.Fatal(err)
	}
	dxbc := make([]float32, T*CD)
	ddt := make([]float32, T*H)
	dy := append([]float32(nil), R...)
	if err := m.ssdBackward(ctx, T, c, A, dy, dxbc, ddt); err != nil {
		t.Fatal(err)
	}
	to64 := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	xbc, dt, A64 := to64(c.xbc[:T*CD]), to64(c.dt[:T*H]), to64(A)
	y := refSSD(cfg, T, xbc, dt, A64)
	for i := range y {
		if math.Abs(y[i]-float64(c.y[i])) > 1e-5 {
			t.Fatalf("chunked y[%d] = %g, reference %g", i, c.y[i], y[i])
		}
	}
	loss := func() float64 {
		var l float64
		for i, v := range refSSD(cfg, T, xbc, dt, A64) {
			l += v * float64(R[i])
		}
		return l
	}
	check := func(name string, vals []float64, grad []float32) {
		t.Helper()
		const eps = 1e-6
		var num, den float64
		for i := range vals {
			old := vals[i]
			vals[i] = old + eps
			lp := loss()
			vals[i] = old - eps
			lm := loss()
			vals[i] = old
			fd := (lp - lm) / (2 * eps)
			num += (float64(grad[i]) - fd) * (float64(grad[i]) - fd)
			den += fd * fd
		}
		rel := math.Sqrt(num / den)
		t.Logf("%s: relative error %.2g", name, rel)
		if rel > 1e-4 || den == 0 {
			t.Errorf("%s: relative gradient error %.3g", name, rel)
		}
	}
	// Split the xbc gradient into x, B and C by masking the other columns.
	pick := func(lo, hi int) []float32 {
		g := make([]float32, len(dxbc))
		for t := 0; t < T; t++ {
			copy(g[t*CD+lo:t*CD+hi], dxbc[t*CD+lo:t*CD+hi])
		}
		return g
	}
	GN := s.NGroups * s.DState
	for _, part := range []struct {
		name   string
		lo, hi int
	}{{"x", 0, DI}, {"B", DI, DI + GN}, {"C", DI + GN, CD}} {
		g := pick(part.lo, part.hi)
		vals := xbc
		var num, den float64
		const eps = 1e-6
		for t := 0; t < T; t++ {
			for j := part.lo; j < part.hi; j++ {
				i := t*CD + j
				old := vals[i]
				vals[i] = old + eps
				lp := loss()
				vals[i] = old - eps
				lm := loss()
				vals[i] = old
				fd := (lp - lm) / (2 * eps)
				num += (float64(g[i]) - fd) * (float64(g[i]) - fd)
				den += fd * fd
			}
		}
		rel := math.Sqrt(num / den)
		t.Logf("%s: relative error %.2g", part.name, rel)
		if rel > 1e-4 || den == 0 {
			t.Errorf("%s: relative gradient error %.3g", part.name, rel)
		}
	}
	check("dt", dt, ddt)
	check("A", A64, ws.dA)
}
