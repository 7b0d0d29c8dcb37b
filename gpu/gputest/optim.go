package gputest

import (
	"math"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
)

// slices returns the views [off, off+n) of a twin on both sides.
func (p *pair) slices(tw *twin, off, n int) [2]gpu.Buffer {
	p.t.Helper()
	var out [2]gpu.Buffer
	for s := range out {
		v, err := gpu.Slice(tw.b[s], off, n)
		if err != nil {
			p.t.Fatalf("slice [%d, %d) of %d: %v", off, off+n, tw.n, err)
		}
		out[s] = v
	}
	return out
}

// TestViews covers gpu.Slice views: reads and writes land in the parent's
// range, ops take views for vector parameters and accumulated gradients
// (as gpumodel's flat parameter storage passes them), a view of a view,
// and errors (out of range, after the parent is freed).
func TestViews(t *testing.T, dut gpu.Backend) {
	p := newPair(t, dut, 90)
	ctx := p.ctx
	if _, err := gpu.Slice(nil, 0, 1); err == nil {
		t.Error("Slice(nil) gave no error")
	}
	flat := p.floats(gpu.F32, 96, uniform(0.5, 1.5))
	if _, err := gpu.Slice(flat.b[1], 90, 7); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("Slice past the end: %v, want an error saying outside", err)
	}
	// Write and Read through a view of a view.
	outer := p.slices(flat, 8, 40)
	inner, err := gpu.Slice(outer[1], 4, 8) // elements [12, 20) of flat
	if err != nil {
		t.Fatal(err)
	}
	before := p.read(flat, 1)
	src := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	if err := dut.Write(inner, 0, src); err != nil {
		t.Fatal(err)
	}
	if err := p.be[0].Write(flat.b[0], 12, src); err != nil { // the reference, directly
		t.Fatal(err)
	}
	got := make([]float32, 8)
	if err := dut.Read(got, inner, 0); err != nil {
		t.Fatal(err)
	}
	after := p.read(flat, 1)
	for i := range after {
		want := before[i]
		if i >= 12 && i < 20 {
			want = src[i-12]
		}
		if after[i] != want {
			t.Fatalf("after writing a view of [12, 20): flat[%d] = %v, want %v", i, after[i], want)
		}
	}
	for i := range got {
		if got[i] != src[i] {
			t.Fatalf("read through the view: [%d] = %v, want %v", i, got[i], src[i])
		}
	}
	if err := dut.Write(inner, 5, src); err == nil {
		t.Error("writing 8 values at 5 into a view of 8 gave no error")
	}
	// Ops on views: the same arithmetic on both sides, then whole buffers
	// compared, so elements outside the views must be untouched too.
	const rows, dim = 5, 16
	x := p.floats(gpu.F32, rows*dim, normal(1))
	dout := p.floats(gpu.F32, rows*dim, normal(1))
	res := p.floats(gpu.F32, rows*dim, nil)
	out := p.floats(gpu.F32, rows*dim, nil)
	dx := p.floats(gpu.F32, rows*dim, nil)
	rstd := p.floats(gpu.F32, rows, nil)
	grads := p.floats(gpu.F32, 64, normal(0.1)) // accumulated into at [24, 40)
	w, dw := p.slices(flat, 24, dim), p.slices(grads, 24, dim)
	fillV, scaleV := p.slices(flat, 60, 10), p.slices(grads, 3, 9)
	p.run("ops on views", func(s int, be gpu.Backend) error {
		na := &gpu.AddRMSNormArgs{Rows: rows, Dim: dim, Eps: 1e-5, X: x.m(s, dim), Weight: w[s], Out: out.m(s, dim),
			ResidualOut: res.m(s, dim), Rstd: rstd.b[s], DOut: dout.m(s, dim), DX: dx.m(s, dim), DWeight: dw[s]}
		return errs(func() error { return be.AddRMSNorm(ctx, na) }, func() error { return be.AddRMSNormBackward(ctx, na) },
			func() error { return be.Fill(ctx, fillV[s], -2) }, func() error { return be.Scale(ctx, scaleV[s], 3) })
	})
	p.check("norm out (weight a view)", out, TolF32)
	p.check("grads (DWeight a view, Scale of a view)", grads, TolF32)
	p.check("flat (Fill of a view)", flat, TolF32)
	var ss [2]float64
	p.run("sum_squares of views", func(s int, be gpu.Backend) (err error) {
		ss[s], err = be.SumSquares(ctx, []gpu.Buffer{dw[s], scaleV[s]})
		return err
	})
	if math.Abs(ss[1]-ss[0]) > 1e-4*ss[0] {
		t.Errorf("sum_squares of views: got %v, want %v", ss[1], ss[0])
	}
	// Freeing a view frees nothing; a view of a freed buffer is an error.
	dut.Free(inner)
	if err := dut.Read(got, outer[1], 0); err != nil {
		t.Errorf("parent view after freeing a view of it: %v", err)
	}
	tmp, err := dut.Alloc(gpu.F32, 16)
	if err != nil {
		t.Fatal(err)
	}
	tv, err := gpu.Slice(tmp, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	dut.Free(tmp)
	if err := dut.Fill(ctx, tv, 1); err == nil {
		t.Error("Fill of a view of a freed buffer gave no error")
	}
}

// TestFlatOptimizer covers gpu.FlatOptimizer (skipped when the backend does
// not have it): GradNormClip against the reference and ClipGradNorm,
// AdamWFlat against the reference and against the per-tensor path it
// replaces (ClipGradNorm, then AdamW per tensor), AccumulateSum against a
// float64 sum, and argument errors.
func TestFlatOptimizer(t *testing.T, dut gpu.Backend) {
	if _, ok := dut.(gpu.FlatOptimizer); !ok {
		t.Skipf("%s has no gpu.FlatOptimizer", dut.Name())
	}
	fo := func(be gpu.Backend) gpu.FlatOptimizer { return be.(gpu.FlatOptimizer) }
	p := newPair(t, dut, 91)
	ctx := p.ctx
	// Several partial-sum blocks and a ragged end; three tensors in it, the
	// first two with working copies.
	const n, copyN = 3 * 1031, 2 * 1031
	for _, c := range []struct {
		name    string
		maxNorm float64
	}{{"clipped", 0.5}, {"not clipped", 1e6}, {"measure only", 0}} {
		t.Run(c.name, func(t *testing.T) {
			p.t = t
			param := p.floats(gpu.F32, n, normal(0.5))
			grad := p.floats(gpu.F32, n, normal(0.02))
			m, v := p.floats(gpu.F32, n, normal(0.01)), p.floats(gpu.F32, n, uniform(0, 1e-4))
			cp := p.floats(gpu.BF16, n, uniform(7, 8)) // beyond copyN must stay
			stats := p.floats(gpu.F32, 6, nil)
			outV := p.slices(stats, 2, gpu.GradNormOutLen)
			wantSS := 0.0
			for _, g := range p.read(grad, 0) {
				wantSS += float64(g) * float64(g)
			}
			for step := 1; step <= 2; step++ {
				p.run("grad_norm_clip + adamw_flat", func(s int, be gpu.Backend) error {
					if err := fo(be).GradNormClip(ctx, &gpu.GradNormClipArgs{N: n, MaxNorm: c.maxNorm, Grad: grad.b[s], Out: outV[s]}); err != nil {
						return err
					}
					return fo(be).AdamWFlat(ctx, &gpu.AdamWFlatArgs{N: n, Step: step, LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
						WeightDecay: 0.1, Scale: outV[s], ScaleIndex: gpu.GradNormOutCoef, Param: param.b[s], Grad: grad.b[s],
						M: m.b[s], V: v.b[s], Copy: cp.b[s], CopyN: copyN})
				})
			}
			st := p.read(stats, 1)
			if st[0] != 0 || st[1] != 0 {
				t.Errorf("GradNormClip wrote outside its Out view: %v", st[:2])
			}
			ss := gpu.PairValue(st[2+gpu.GradNormOutSSHi], st[2+gpu.GradNormOutSSLo])
			if math.Abs(ss-wantSS) > 1e-12*wantSS {
				t.Errorf("sum of squares %v, want %v (float64)", ss, wantSS)
			}
			norm := math.Sqrt(wantSS)
			if got := float64(st[2+gpu.GradNormOutNorm]); math.Abs(got-norm) > 1e-6*norm {
				t.Errorf("norm %v, want %v", got, norm)
			}
			wantCoef := 1.0
			if c.maxNorm > 0 && c.maxNorm/(norm+1e-6) < 1 {
				wantCoef = c.maxNorm / (norm + 1e-6)
			}
			if got := float64(st[2+gpu.GradNormOutCoef]); math.Abs(got-wantCoef) > 1e-6*wantCoef {
				t.Errorf("clip coefficient %v, want %v", got, wantCoef)
			}
			p.check("stats", stats, TolF32)
			p.check("param", param, TolF32)
			p.check("m", m, TolF32)
			p.check("v", v, TolF32)
			p.check("grad (not scaled in place)", grad, TolF32)
			p.check("bf16 copy", cp, TolBF16)
			got := p.read(cp, 1)
			pw := p.read(param, 1)
			for i, g := range got {
				want := gpu.RoundBF16(pw[i])
				if i >= copyN && (g < 7 || g > 8) {
					t.Fatalf("copy[%d] = %v beyond CopyN %d: overwritten", i, g, copyN)
				}
				if i < copyN && g != want {
					t.Fatalf("copy[%d] = %v, want bf16(param) %v", i, g, want)
				}
			}
		})
	}
	p.t = t

	// The per-tensor path on the backend under test: the same result.
	t.Run("vs per-tensor", func(t *testing.T) {
		p.t = t
		twins := func(seed *twin) [2]*twin {
			data := p.read(seed, 1)
			var out [2]*twin
			for k := range out {
				out[k] = p.floats(seed.dt, seed.n, nil)
				for s := range out[k].b {
					if err := p.be[s].Write(out[k].b[s], 0, data); err != nil {
						t.Fatal(err)
					}
				}
			}
			return out
		}
		param := twins(p.floats(gpu.F32, n, normal(0.5)))
		grad := twins(p.floats(gpu.F32, n, normal(0.05)))
		m := twins(p.floats(gpu.F32, n, nil))
		v := twins(p.floats(gpu.F32, n, nil))
		cp := twins(p.floats(gpu.BF16, n, nil))
		out, err := dut.Alloc(gpu.F32, gpu.GradNormOutLen)
		if err != nil {
			t.Fatal(err)
		}
		defer dut.Free(out)
		bounds := []int{0, 1031, copyN, n}
		var norms [2]float64
		for step := 1; step <= 2; step++ {
			// Fresh gradients each step: the per-tensor path scales them in place.
			gnew := make([]float32, n)
			for i := range gnew {
				gnew[i] = float32(p.rng.NormFloat64() * 0.05)
			}
			for k := range grad {
				if err := dut.Write(grad[k].b[1], 0, gnew); err != nil {
					t.Fatal(err)
				}
			}
			if err := fo(dut).GradNormClip(ctx, &gpu.GradNormClipArgs{N: n, MaxNorm: 1, Grad: grad[0].b[1], Out: out}); err != nil {
				t.Fatal(err)
			}
			if err := fo(dut).AdamWFlat(ctx, &gpu.AdamWFlatArgs{N: n, Step: step, LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
				WeightDecay: 0.1, Scale: out, ScaleIndex: gpu.GradNormOutCoef, Param: param[0].b[1], Grad: grad[0].b[1],
				M: m[0].b[1], V: v[0].b[1], Copy: cp[0].b[1], CopyN: copyN}); err != nil {
				t.Fatal(err)
			}
			st := make([]float32, gpu.GradNormOutLen)
			if err := dut.Read(st, out, 0); err != nil {
				t.Fatal(err)
			}
			norms[0] = math.Sqrt(gpu.PairValue(st[gpu.GradNormOutSSHi], st[gpu.GradNormOutSSLo]))
			var gs []gpu.Buffer
			views := func(tw *twin, k int) gpu.Buffer {
				b, err := gpu.Slice(tw.b[1], bounds[k], bounds[k+1]-bounds[k])
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			for k := 0; k < 3; k++ {
				gs = append(gs, views(grad[1], k))
			}
			if norms[1], err = gpu.ClipGradNorm(ctx, dut, gs, 1); err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 3; k++ {
				a := &gpu.AdamWArgs{N: bounds[k+1] - bounds[k], Step: step, LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
					WeightDecay: 0.1, GradScale: 1, Param: views(param[1], k), Grad: gs[k], M: views(m[1], k), V: views(v[1], k)}
				if k < 2 {
					a.Copy = views(cp[1], k)
				}
				if err := dut.AdamW(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			if math.Abs(norms[0]-norms[1]) > 1e-6*norms[1] {
				t.Errorf("step %d: flat norm %v, ClipGradNorm %v", step, norms[0], norms[1])
			}
		}
		for _, c := range []struct {
			name string
			tw   [2]*twin
			tol  Tol
		}{{"param", param, TolF32}, {"m", m, TolF32}, {"v", v, TolF32}, {"copy", cp, TolBF16}} {
			if err := Compare(p.read(c.tw[0], 1), p.read(c.tw[1], 1), c.tol); err != nil {
				t.Errorf("%s: flat vs per-tensor: %v", c.name, err)
			}
		}
	})
	p.t = t

	t.Run("AccumulateSum", func(t *testing.T) {
		p.t = t
		acc := p.floats(gpu.F32, 2, nil)
		want := 0.0
		for k, sc := range []float64{1.0 / 3, 1.0 / 7000} {
			for _, dt := range bothFloats {
				src := p.floats(dt, 700+300*k, uniform(0, 9))
				for _, x := range p.read(src, 0) {
					want += sc * float64(x)
				}
				p.run("accumulate_sum", func(s int, be gpu.Backend) error {
					return fo(be).AccumulateSum(ctx, &gpu.AccumulateSumArgs{N: src.n, Scale: sc, Src: src.b[s], Out: acc.b[s]})
				})
			}
		}
		for s := range acc.b {
			st := p.read(acc, s)
			if got := gpu.PairValue(st[0], st[1]); math.Abs(got-want) > 1e-12*want {
				t.Errorf("%s: accumulated %v, want %v", p.be[s].Name(), got, want)
			}
		}
	})
	p.t = t

	t.Run("BadArgs", func(t *testing.T) {
		small, err := dut.Alloc(gpu.F32, 10)
		if err != nil {
			t.Fatal(err)
		}
		defer dut.Free(small)
		f := fo(dut)
		for name, c := range map[string]struct {
			call func() error
			want string
		}{
			"norm N 0":        {func() error { return f.GradNormClip(ctx, &gpu.GradNormClipArgs{Grad: small, Out: small}) }, "N must be > 0"},
			"norm short grad": {func() error { return f.GradNormClip(ctx, &gpu.GradNormClipArgs{N: 11, Grad: small, Out: small}) }, "Grad"},
			"norm nil out":    {func() error { return f.GradNormClip(ctx, &gpu.GradNormClipArgs{N: 4, Grad: small}) }, "Out"},
			"norm NaN max": {func() error {
				return f.GradNormClip(ctx, &gpu.GradNormClipArgs{N: 4, MaxNorm: math.NaN(), Grad: small, Out: small})
			}, "MaxNorm"},
			"adamw CopyN > N": {func() error {
				return f.AdamWFlat(ctx, &gpu.AdamWFlatArgs{N: 4, Step: 1, Param: small, Grad: small, M: small, V: small, Copy: small, CopyN: 5})
			}, "CopyN"},
			"adamw CopyN, nil": {func() error {
				return f.AdamWFlat(ctx, &gpu.AdamWFlatArgs{N: 4, Step: 1, Param: small, Grad: small, M: small, V: small, CopyN: 2})
			}, "CopyN"},
			"adamw scale index": {func() error {
				return f.AdamWFlat(ctx, &gpu.AdamWFlatArgs{N: 4, Step: 1, Param: small, Grad: small, M: small, V: small, Scale: small, ScaleIndex: 10})
			}, "Scale"},
			"adamw step 0": {func() error {
				return f.AdamWFlat(ctx, &gpu.AdamWFlatArgs{N: 4, Param: small, Grad: small, M: small, V: small})
			}, "Step"},
			"sum short out": {func() error {
				s, _ := gpu.Slice(small, 0, 1)
				return f.AccumulateSum(ctx, &gpu.AccumulateSumArgs{N: 4, Src: small, Out: s})
			}, "Out"},
			"sum Inf scale": {func() error {
				return f.AccumulateSum(ctx, &gpu.AccumulateSumArgs{N: 4, Scale: math.Inf(1), Src: small, Out: small})
			}, "Scale"},
		} {
			err := c.call()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: error %v, want one naming %q", name, err, c.want)
			}
		}
	})
}
