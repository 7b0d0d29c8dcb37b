package gputest

import (
	"context"
	"fmt"
	"testing"

	"github.com/netssm/netssm/gpu"
)

// TestFusedDecode checks a backend's gpu.FusedDecoder ops against the
// unfused sequences they stand for, run on the reference (batch 1, 3 and
// more rows than one block tile; f32 and bf16; two steps so that the
// in-place states are checked after a shift), their argument checks, and
// the Decoder's fused path against its unfused path on the same backend.
// Backends without the interface skip it.
func TestFusedDecode(t *testing.T, dut gpu.Backend) {
	if _, ok := dut.(gpu.FusedDecoder); !ok {
		t.Skipf("%s does not implement gpu.FusedDecoder", dut.Name())
	}
	t.Run("InProj", func(t *testing.T) { testDecodeInProj(t, dut) })
	t.Run("Mixer", func(t *testing.T) { testDecodeMixer(t, dut) })
	t.Run("OutProj", func(t *testing.T) { testDecodeOutProj(t, dut) })
	t.Run("BadArgs", func(t *testing.T) { testDecodeBadArgs(t, dut) })
	t.Run("Decoder", func(t *testing.T) { testFusedDecoder(t, dut) })
}

type inProjCase struct {
	rows, dim, n            int
	convOff, convDim, width int
	wOff, wPad              int  // W as a view: offset and extra row stride
	xBF16, noBias           bool // X in bf16 (when dt is), conv without bias
}

func testDecodeInProj(t *testing.T, dut gpu.Backend) {
	cases := []inProjCase{
		{rows: 1, dim: 64, n: 72, convOff: 16, convDim: 40, width: 4},
		{rows: 1, dim: 64, n: 24, wOff: 8, wPad: 8},                                     // LM head: no conv, W a view
		{rows: 3, dim: 36, n: 50, convOff: 10, convDim: 24, width: 3, xBF16: true},      // no 16-byte rows in bf16
		{rows: 21, dim: 48, n: 40, convOff: 8, convDim: 24, width: 4, noBias: true},     // 3 row tiles, last partial
		{rows: 64, dim: 32, n: 20, convOff: 4, convDim: 12, width: 2, wOff: 3, wPad: 1}, // unaligned W view
		{rows: 1, dim: 768, n: 3352, convOff: 1536, convDim: 1792, width: 4},            // NetSSM's in_proj
	}
	for _, dt := range bothFloats {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%v/rows=%d/dim=%d/n=%d/conv=%d", dt, c.rows, c.dim, c.n, c.convDim), func(t *testing.T) {
				p := newPair(t, dut, int64(7+c.rows+c.dim))
				xdt := gpu.F32
				if c.xBF16 {
					xdt = dt
				}
				ws := c.dim + c.wPad
				x := p.floats(xdt, c.rows*c.dim, normal(2))
				nw := p.floats(gpu.F32, c.dim, uniform(0.5, 1.5))
				w := p.floats(dt, c.wOff+c.n*ws, normal(0.2))
				out := p.floats(dt, c.rows*c.n, normal(1)) // overwritten
				u := p.floats(dt, c.rows*c.dim, nil)
				rtmp, rstd := p.floats(gpu.F32, c.rows*c.dim, nil), p.floats(gpu.F32, c.rows, nil)
				var cst, cw, cb, cout *twin
				if c.convDim > 0 {
					cst = p.floats(gpu.F32, c.rows*c.convDim*c.width, normal(1))
					cw = p.floats(gpu.F32, c.convDim*c.width, normal(0.5))
					if !c.noBias {
						cb = p.floats(gpu.F32, c.convDim, normal(0.5))
					}
					cout = p.floats(dt, c.rows*c.convDim, nil)
				}
				for step := 0; step < 2; step++ {
					if step == 1 { // a new token: new residual rows
						x2 := p.floats(xdt, c.rows*c.dim, normal(1))
						x = x2
					}
					p.run("decode_in_proj", func(s int, be gpu.Backend) error {
						wm := gpu.Mat{Buf: w.b[s], Off: c.wOff, Stride: ws}
						if s == 0 { // the unfused sequence on the reference
							err := errs(func() error {
								return be.AddRMSNorm(p.ctx, &gpu.AddRMSNormArgs{Rows: c.rows, Dim: c.dim, Eps: 1e-5, X: x.m(s, c.dim), Weight: nw.b[s],
									Out: u.m(s, c.dim), ResidualOut: rtmp.m(s, c.dim), Rstd: rstd.b[s]})
							}, func() error {
								return be.Gemm(p.ctx, &gpu.GemmArgs{TransB: true, M: c.rows, N: c.n, K: c.dim, Alpha: 1, A: u.m(s, c.dim), B: wm, C: out.m(s, c.n)})
							})
							if err != nil || c.convDim == 0 {
								return err
							}
							return be.Conv1dStep(p.ctx, &gpu.Conv1dStepArgs{Batch: c.rows, Channels: c.convDim, Width: c.width, SiLU: true,
								X: out.view(s, c.n, c.convOff), State: cst.b[s], Weight: cw.b[s], Bias: cb.at(s), Out: cout.m(s, c.convDim)})
						}
						a := &gpu.DecodeInProjArgs{Rows: c.rows, Dim: c.dim, N: c.n, Eps: 1e-5, X: x.m(s, c.dim), NormWeight: nw.b[s], W: wm, Out: out.m(s, c.n)}
						if c.convDim > 0 {
							a.ConvDim, a.ConvOff, a.ConvWidth, a.ConvSiLU = c.convDim, c.convOff, c.width, true
							a.ConvState, a.ConvWeight, a.ConvBias, a.ConvOut = cst.b[s], cw.b[s], cb.at(s), cout.m(s, c.convDim)
						}
						return be.(gpu.FusedDecoder).DecodeInProj(p.ctx, a)
					})
					p.check(fmt.Sprintf("step %d out", step), out, tolFor(dt))
					if c.convDim > 0 {
						p.check(fmt.Sprintf("step %d conv out", step), cout, tolFor(dt))
						p.check(fmt.Sprintf("step %d conv state", step), cst, tolFor(dt))
					}
				}
			})
		}
	}
}

func testDecodeMixer(t *testing.T, dut gpu.Backend) {
	for _, dt := range bothFloats {
		for _, sh := range []struct{ B, H, P, G, N int }{{1, 4, 8, 2, 16}, {3, 6, 6, 3, 12}, {64, 2, 4, 1, 40}, {1, 24, 64, 1, 128}} {
			t.Run(fmt.Sprintf("%v/batch=%d/H=%d/P=%d/G=%d/N=%d", dt, sh.B, sh.H, sh.P, sh.G, sh.N), func(t *testing.T) {
				p := newPair(t, dut, int64(50+sh.B))
				hp, gn := sh.H*sh.P, sh.G*sh.N
				cd := hp + 2*gn // the conv output: x | B | C
				ipw := sh.H + 5 // dt is the last H columns of a wider row
				bias := p.floats(gpu.F32, sh.H, uniform(-4, -1))
				alog := p.floats(gpu.F32, sh.H, uniform(0, 2.7))
				d := p.floats(gpu.F32, sh.H, normal(1))
				state := p.floats(gpu.F32, sh.B*hp*sh.N, normal(0.5))
				y := p.floats(dt, sh.B*hp, nil)
				for step := 0; step < 2; step++ {
					xbc := p.floats(dt, sh.B*cd, normal(1))
					zx := p.floats(dt, sh.B*ipw, normal(1))
					p.run("decode_mixer", func(s int, be gpu.Backend) error {
						a := &gpu.DecodeMixerArgs{Batch: sh.B, Heads: sh.H, HeadDim: sh.P, Groups: sh.G, StateDim: sh.N,
							X: xbc.view(s, cd, 0), B: xbc.view(s, cd, hp), C: xbc.view(s, cd, hp+gn), DT: zx.view(s, ipw, ipw-sh.H),
							DTBias: bias.b[s], ALog: alog.b[s], D: d.b[s], Y: y.m(s, hp), State: state.b[s]}
						if s == 0 {
							return be.SSDStep(p.ctx, a.StepArgs())
						}
						return be.(gpu.FusedDecoder).DecodeMixer(p.ctx, a)
					})
					p.check(fmt.Sprintf("step %d y", step), y, scanTol(dt))
					p.check(fmt.Sprintf("step %d state", step), state, scanTol(dt))
				}
			})
		}
	}
}

func testDecodeOutProj(t *testing.T, dut gpu.Backend) {
	cases := []struct {
		rows, dim, n, gs int
		residual         bool
	}{{1, 64, 40, 64, true}, {3, 48, 36, 16, true}, {21, 32, 24, 32, false}, {9, 20, 12, 10, true}, {9, 1536, 768, 1536, true}} // the last: NetSSM's out_proj, 2 row tiles in f32
	for _, dt := range bothFloats {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%v/rows=%d/dim=%d/n=%d/group=%d/residual=%v", dt, c.rows, c.dim, c.n, c.gs, c.residual), func(t *testing.T) {
				p := newPair(t, dut, int64(70+c.rows))
				zw := c.dim + 7 // z is the first columns of a wider row
				y := p.floats(dt, c.rows*c.dim, normal(1))
				z := p.floats(dt, c.rows*zw, normal(1.5))
				nw := p.floats(gpu.F32, c.dim, uniform(0.5, 1.5))
				w := p.floats(dt, c.n*c.dim, normal(0.2))
				out := p.floats(dt, c.rows*c.n, normal(1))
				res := p.floats(gpu.F32, c.rows*c.n, normal(3))
				g := p.floats(dt, c.rows*c.dim, nil)
				grstd := p.floats(gpu.F32, c.rows*(c.dim/c.gs), nil)
				tmp, rstd := p.floats(dt, c.rows*c.n, nil), p.floats(gpu.F32, c.rows, nil)
				p.run("decode_out_proj", func(s int, be gpu.Backend) error {
					var rm *gpu.Mat
					if c.residual {
						m := res.m(s, c.n)
						rm = &m
					}
					if s == 0 {
						return errs(func() error {
							return be.GatedRMSNorm(p.ctx, &gpu.GatedRMSNormArgs{Rows: c.rows, Dim: c.dim, GroupSize: c.gs, Eps: 1e-5,
								X: y.m(s, c.dim), Z: z.view(s, zw, 0), Weight: nw.b[s], Out: g.m(s, c.dim), Rstd: grstd.b[s]})
						}, func() error {
							return be.Gemm(p.ctx, &gpu.GemmArgs{TransB: true, M: c.rows, N: c.n, K: c.dim, Alpha: 1, A: g.m(s, c.dim), B: w.m(s, c.dim), C: out.m(s, c.n)})
						}, func() error {
							if rm == nil {
								return nil
							}
							// the residual half of the next layer's AddRMSNorm, in place
							return be.AddRMSNorm(p.ctx, &gpu.AddRMSNormArgs{Rows: c.rows, Dim: c.n, Eps: 1e-5, X: out.m(s, c.n), Residual: rm,
								Weight: nw.b[s], Out: tmp.m(s, c.n), ResidualOut: *rm, Rstd: rstd.b[s]})
						})
					}
					return be.(gpu.FusedDecoder).DecodeOutProj(p.ctx, &gpu.DecodeOutProjArgs{Rows: c.rows, Dim: c.dim, N: c.n, GroupSize: c.gs,
						Eps: 1e-5, Y: y.m(s, c.dim), Z: z.view(s, zw, 0), NormWeight: nw.b[s], W: w.m(s, c.dim), Out: out.m(s, c.n), Residual: rm})
				})
				p.check("out", out, tolFor(dt))
				p.check("residual", res, tolFor(dt))
			})
		}
	}
}

func testDecodeBadArgs(t *testing.T, dut gpu.Backend) {
	fd := dut.(gpu.FusedDecoder)
	ctx := context.Background()
	f, err := dut.Alloc(gpu.F32, 64)
	if err != nil {
		t.Fatal(err)
	}
	h, err := dut.Alloc(gpu.BF16, 64)
	if err != nil {
		t.Fatal(err)
	}
	in := func() *gpu.DecodeInProjArgs {
		return &gpu.DecodeInProjArgs{Rows: 1, Dim: 4, N: 4, Eps: 1e-5, X: gpu.Dense(f, 4), NormWeight: f, W: gpu.Dense(f, 4), Out: gpu.Mat{Buf: f, Off: 16, Stride: 4}}
	}
	out := func() *gpu.DecodeOutProjArgs {
		return &gpu.DecodeOutProjArgs{Rows: 1, Dim: 4, N: 4, GroupSize: 4, Eps: 1e-5, Y: gpu.Dense(f, 4), Z: gpu.Dense(f, 4), NormWeight: f,
			W: gpu.Dense(f, 4), Out: gpu.Mat{Buf: f, Off: 16, Stride: 4}}
	}
	cases := map[string]struct {
		f    func() error
		want string
	}{
		"in_proj nil W":    {func() error { a := in(); a.W = gpu.Mat{}; return fd.DecodeInProj(ctx, a) }, "W"},
		"in_proj zero eps": {func() error { a := in(); a.Eps = 0; return fd.DecodeInProj(ctx, a) }, "Eps"},
		"in_proj conv past N": {func() error {
			a := in()
			a.ConvDim, a.ConvOff, a.ConvWidth, a.ConvState, a.ConvWeight, a.ConvOut = 3, 2, 2, f, f, gpu.Dense(f, 3)
			return fd.DecodeInProj(ctx, a)
		}, "conv columns"},
		"in_proj bf16 conv state": {func() error {
			a := in()
			a.ConvDim, a.ConvWidth, a.ConvState, a.ConvWeight, a.ConvOut = 2, 2, h, f, gpu.Dense(f, 2)
			return fd.DecodeInProj(ctx, a)
		}, "ConvState"},
		"in_proj short out":      {func() error { a := in(); a.Rows = 20; return fd.DecodeInProj(ctx, a) }, "X"},
		"in_proj out overlaps x": {func() error { a := in(); a.Out = gpu.Mat{Buf: f, Off: 2, Stride: 4}; return fd.DecodeInProj(ctx, a) }, "overlap"},
		"out_proj residual is out": {func() error {
			a := out()
			a.Y, a.Z, a.Out = gpu.Dense(h, 4), gpu.Mat{Buf: h, Off: 4, Stride: 4}, gpu.Mat{Buf: f, Off: 8, Stride: 4}
			m := gpu.Mat{Buf: f, Off: 8, Stride: 4}
			a.Residual = &m
			return fd.DecodeOutProj(ctx, a)
		}, "overlap"},
		"mixer heads not multiple of groups": {func() error {
			return fd.DecodeMixer(ctx, &gpu.DecodeMixerArgs{Batch: 1, Heads: 3, HeadDim: 1, Groups: 2, StateDim: 1})
		}, "Groups"},
		"mixer short state": {func() error {
			return fd.DecodeMixer(ctx, &gpu.DecodeMixerArgs{Batch: 1, Heads: 2, HeadDim: 4, Groups: 1, StateDim: 16, X: gpu.Dense(f, 8),
				DT: gpu.Dense(f, 2), B: gpu.Dense(f, 16), C: gpu.Dense(f, 16), Y: gpu.Dense(f, 8), DTBias: f, ALog: f, D: f, State: f})
		}, "State"},
		"out_proj group does not divide": {func() error { a := out(); a.GroupSize = 3; return fd.DecodeOutProj(ctx, a) }, "GroupSize"},
		"out_proj bf16 residual":         {func() error { a := out(); m := gpu.Dense(h, 4); a.Residual = &m; return fd.DecodeOutProj(ctx, a) }, "Residual"},
		"out_proj W mixed dtype":         {func() error { a := out(); a.W = gpu.Mat{Buf: h, Off: 60, Stride: 4}; return fd.DecodeOutProj(ctx, a) }, "W"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panicked: %v", r)
					}
				}()
				err = c.f()
			}()
			if err == nil {
				t.Fatalf("no error")
			}
			if !containsFold(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
		})
	}
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// testFusedDecoder runs the tiny model's Decoder on dut with the fused ops
// and with the unfused ones (batch 3, 8 tokens, each path fed its own greedy
// tokens) and requires the same tokens and close logits.
func testFusedDecoder(t *testing.T, dut gpu.Backend) {
	const steps, batch = 8, 3
	ctx := context.Background()
	for _, dt := range bothFloats {
		t.Run(dt.String(), func(t *testing.T) {
			init := modelInit(tiny, 93)
			var toks [2][]int32
			var logits [2][]float32
			for s, unfused := range []bool{true, false} {
				m, err := newModel(dut, tiny, 1, dt, init)
				if err != nil {
					t.Fatal(err)
				}
				d, err := NewDecoder(m, batch)
				if err != nil {
					t.Fatal(err)
				}
				d.Unfused = unfused
				mr, _ := dut.(gpu.MemoryReporter)
				var before int64
				if mr != nil {
					before = mr.MemoryStats().InUse
				}
				cur := []int32{1, 7, 19}
				for i := 0; i < steps; i++ {
					if err := d.SetTokens(cur); err != nil {
						t.Fatal(err)
					}
					if err := d.Step(ctx); err != nil {
						t.Fatalf("unfused=%v step %d: %v", unfused, i, err)
					}
					if cur, err = d.Greedy(); err != nil {
						t.Fatal(err)
					}
					toks[s] = append(toks[s], cur...)
					lg := make([]float32, batch*tiny.V)
					if err := dut.Read(lg, d.Logits, 0); err != nil {
						t.Fatal(err)
					}
					logits[s] = append(logits[s], lg...)
				}
				if mr != nil && !unfused {
					if after := mr.MemoryStats().InUse; after != before {
						t.Errorf("fused decode steps changed the memory in use from %d to %d bytes", before, after)
					}
				}
			}
			for i := range toks[0] {
				if toks[0][i] != toks[1][i] {
					t.Fatalf("step %d sequence %d: fused token %d, unfused %d", i/batch, i%batch, toks[1][i], toks[0][i])
				}
			}
			if err := Compare(logits[1], logits[0], scanTol(dt)); err != nil {
				t.Errorf("fused decode logits vs unfused on %s: %v", dut.Name(), err)
			}
		})
	}
}
