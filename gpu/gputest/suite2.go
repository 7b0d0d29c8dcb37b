package gputest

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/netssm/netssm/gpu"
)

// ssdShape is one SSD test case.
type ssdShape struct{ B, T, H, P, G, N, L int }

// TestSSD covers the chunked scan forward (with its final state) and
// backward, with x, B, C read as column slices of one conv output and dt as
// a column slice of the in_proj output, as in the Mamba2 mixer.
func TestSSD(t *testing.T, dut gpu.Backend) {
	shapes := []ssdShape{
		{B: 1, T: 37, H: 4, P: 8, G: 2, N: 16, L: 16}, // ragged last chunk
		{B: 2, T: 64, H: 2, P: 16, G: 1, N: 32, L: 32},
		{B: 1, T: 5, H: 3, P: 4, G: 3, N: 8, L: 8},     // one partial chunk
		{B: 2, T: 6, H: 2, P: 4, G: 1, N: 8, L: 1},     // chunks of one step
		{B: 1, T: 100, H: 2, P: 8, G: 1, N: 16, L: 64}, // chunks longer than a GPU kernel's 32-step tile
		// several 64-step tiles per chunk, a ragged last chunk shorter than
		// one tile, HeadDim and State over one 64-wide strip, two heads per group
		{B: 2, T: 150, H: 4, P: 72, G: 2, N: 80, L: 128},
		{B: 1, T: 300, H: 1, P: 8, G: 1, N: 16, L: 256},   // NetSSM's chunk: four 64-step tiles
		{B: 2, T: 100, H: 1, P: 8, G: 1, N: 16, L: 256},   // one chunk, shorter than ChunkSize, two tiles
		{B: 1, T: 20, H: 2, P: 256, G: 1, N: 256, L: 16},  // the largest HeadDim and State the issue asks for
		{B: 1, T: 1100, H: 1, P: 8, G: 1, N: 72, L: 1024}, // the largest ChunkSize; the bf16 backward keeps no G tiles
	}
	for _, dt := range bothFloats {
		for si, sh := range shapes {
			t.Run(fmt.Sprintf("%v/%+v", dt, sh), func(t *testing.T) {
				p := newPair(t, dut, int64(30+si))
				rows, hp, gn := sh.B*sh.T, sh.H*sh.P, sh.G*sh.N
				conv := hp + 2*gn // [x | B | C]
				inW := 5 + sh.H   // a few other columns, then dt
				xbc := p.floats(dt, rows*conv, normal(1))
				dtIn := p.floats(dt, rows*inW, normal(1))
				bias := p.floats(gpu.F32, sh.H, func(r *rand.Rand) float64 {
					d := math.Exp(math.Log(0.001) + r.Float64()*(math.Log(0.1)-math.Log(0.001)))
					return d + math.Log(-math.Expm1(-d)) // inverse softplus, as Mamba2's init
				})
				alog := p.floats(gpu.F32, sh.H, func(r *rand.Rand) float64 { return math.Log(1 + 15*r.Float64()) })
				d := p.floats(gpu.F32, sh.H, normal(1))
				y := p.floats(dt, rows*hp, nil)
				fs := p.floats(gpu.F32, sh.B*hp*sh.N, nil)
				dy := p.floats(dt, rows*hp, normal(1))
				dxbc := p.floats(dt, rows*conv, nil)
				ddt := p.floats(dt, rows*inW, nil)
				ddtb := p.floats(gpu.F32, sh.H, normal(0.1))
				dal := p.floats(gpu.F32, sh.H, normal(0.1))
				dd := p.floats(gpu.F32, sh.H, normal(0.1))
				mk := func(s int) *gpu.SSDArgs {
					return &gpu.SSDArgs{Batch: sh.B, Seq: sh.T, Heads: sh.H, HeadDim: sh.P, Groups: sh.G, State: sh.N, ChunkSize: sh.L,
						X: xbc.view(s, conv, 0), B: xbc.view(s, conv, hp), C: xbc.view(s, conv, hp+gn),
						DT: dtIn.view(s, inW, 5), DTBias: bias.b[s], ALog: alog.b[s], D: d.b[s], Y: y.m(s, hp), FinalState: fs.b[s],
						DY: dy.m(s, hp), DX: dxbc.view(s, conv, 0), DB: dxbc.view(s, conv, hp), DC: dxbc.view(s, conv, hp+gn),
						DDT: ddt.view(s, inW, 5), DDTBias: ddtb.b[s], DALog: dal.b[s], DD: dd.b[s]}
				}
				p.run("ssd", func(s int, be gpu.Backend) error { return be.SSD(p.ctx, mk(s)) })
				p.check("y", y, scanTol(dt))
				p.check("final state", fs, scanTol(dt))
				p.run("ssd backward", func(s int, be gpu.Backend) error { return be.SSDBackward(p.ctx, mk(s)) })
				p.check("dx|dB|dC", dxbc, scanTol(dt))
				p.check("ddt", ddt, scanTol(dt))
				p.check("ddt_bias", ddtb, scanTol(dt))
				p.check("dA_log", dal, scanTol(dt))
				p.check("dD", dd, scanTol(dt))
			})
		}
	}
}

// TestSSDStep checks the decode step against the reference and, on the
// backend alone, that stepping through a sequence reproduces the scan's
// outputs and final state.
func TestSSDStep(t *testing.T, dut gpu.Backend) {
	sh := ssdShape{B: 3, T: 12, H: 4, P: 8, G: 2, N: 16, L: 4}
	for _, dt := range bothFloats {
		t.Run(dt.String(), func(t *testing.T) {
			p := newPair(t, dut, 40)
			rows, hp, gn := sh.B*sh.T, sh.H*sh.P, sh.G*sh.N
			x := p.floats(dt, rows*hp, normal(1))
			dtIn := p.floats(dt, rows*sh.H, normal(1))
			bm := p.floats(dt, rows*gn, normal(1))
			cm := p.floats(dt, rows*gn, normal(1))
			bias := p.floats(gpu.F32, sh.H, uniform(-4, -1))
			alog := p.floats(gpu.F32, sh.H, uniform(0, 2.7))
			d := p.floats(gpu.F32, sh.H, normal(1))
			y := p.floats(dt, rows*hp, nil)
			fs := p.floats(gpu.F32, sh.B*hp*sh.N, nil)
			p.run("ssd", func(s int, be gpu.Backend) error {
				return be.SSD(p.ctx, &gpu.SSDArgs{Batch: sh.B, Seq: sh.T, Heads: sh.H, HeadDim: sh.P, Groups: sh.G, State: sh.N, ChunkSize: sh.L,
					X: x.m(s, hp), DT: dtIn.m(s, sh.H), B: bm.m(s, gn), C: cm.m(s, gn), DTBias: bias.b[s], ALog: alog.b[s], D: d.b[s],
					Y: y.m(s, hp), FinalState: fs.b[s]})
			})
			// Step the batch through time: row (b, t) of the sequence inputs is
			// row b of the step inputs, read through a view with stride T*cols.
			state := p.floats(gpu.F32, sh.B*hp*sh.N, nil)
			ys := p.floats(dt, rows*hp, nil)
			for step := 0; step < sh.T; step++ {
				p.run("ssd step", func(s int, be gpu.Backend) error {
					v := func(tw *twin, cols int) gpu.Mat { return gpu.Cols(tw.b[s], sh.T*cols, step*cols) }
					return be.SSDStep(p.ctx, &gpu.SSDStepArgs{Batch: sh.B, Heads: sh.H, HeadDim: sh.P, Groups: sh.G, StateDim: sh.N,
						X: v(x, hp), DT: v(dtIn, sh.H), B: v(bm, gn), C: v(cm, gn), DTBias: bias.b[s], ALog: alog.b[s], D: d.b[s],
						Y: v(ys, hp), State: state.b[s]})
				})
			}
			p.check("step outputs", ys, scanTol(dt))
			p.check("step state", state, scanTol(dt))
			if err := Compare(p.read(ys, 1), p.read(y, 1), scanTol(dt)); err != nil {
				t.Errorf("stepped outputs differ from the scan on %s: %v", dut.Name(), err)
			}
			if err := Compare(p.read(state, 1), p.read(fs, 1), scanTol(dt)); err != nil {
				t.Errorf("stepped state differs from the scan's final state on %s: %v", dut.Name(), err)
			}
		})
	}
}

// gnormShape is one TestGatedRMSNorm case: Z (and DZ) are columns
// [ZOff, ZOff+Dim) of rows of ZStride elements, as z in the in_proj output.
type gnormShape struct{ Rows, Dim, Group, ZStride, ZOff int }

// TestGatedRMSNorm covers one group and several groups, z as a view that
// allows a backend 4-, 2- or 1-element vector accesses, and NetSSM's width.
func TestGatedRMSNorm(t *testing.T, dut gpu.Backend) {
	shapes := []gnormShape{
		{Rows: 21, Dim: 96, Group: 96, ZStride: 130, ZOff: 7},
		{Rows: 21, Dim: 96, Group: 32, ZStride: 130, ZOff: 7},
		{Rows: 13, Dim: 96, Group: 32, ZStride: 136, ZOff: 8}, // aligned as zx's z columns
		{Rows: 13, Dim: 60, Group: 30, ZStride: 130, ZOff: 2}, // 2-wide
		{Rows: 5, Dim: 1536, Group: 1536, ZStride: 3352, ZOff: 0},
		{Rows: 3, Dim: 2100, Group: 700, ZStride: 2203, ZOff: 3}, // long unaligned rows
	}
	for _, dt := range bothFloats {
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("%v/%+v", dt, sh), func(t *testing.T) {
				p := newPair(t, dut, 50)
				rows, dim, gs, zs, zoff := sh.Rows, sh.Dim, sh.Group, sh.ZStride, sh.ZOff
				x := p.floats(dt, rows*dim, normal(1))
				z := p.floats(dt, rows*zs, normal(2))
				w := p.floats(gpu.F32, dim, uniform(0.5, 1.5))
				out := p.floats(dt, rows*dim, nil)
				rstd := p.floats(gpu.F32, rows*dim/gs, nil)
				dout := p.floats(dt, rows*dim, normal(1))
				dx := p.floats(dt, rows*dim, nil)
				dz := p.floats(dt, rows*zs, nil)
				dw := p.floats(gpu.F32, dim, normal(0.1))
				mk := func(s int) *gpu.GatedRMSNormArgs {
					return &gpu.GatedRMSNormArgs{Rows: rows, Dim: dim, GroupSize: gs, Eps: 1e-5, X: x.m(s, dim), Z: z.view(s, zs, zoff),
						Weight: w.b[s], Out: out.m(s, dim), Rstd: rstd.b[s], DOut: dout.m(s, dim), DX: dx.m(s, dim),
						DZ: dz.view(s, zs, zoff), DWeight: dw.b[s]}
				}
				p.run("gated_rmsnorm", func(s int, be gpu.Backend) error { return be.GatedRMSNorm(p.ctx, mk(s)) })
				p.check("out", out, tolFor(dt))
				p.check("rstd", rstd, tolFor(dt))
				p.run("gated_rmsnorm backward", func(s int, be gpu.Backend) error { return be.GatedRMSNormBackward(p.ctx, mk(s)) })
				p.check("dx", dx, tolFor(dt))
				p.check("dz (and the untouched columns around it)", dz, tolFor(dt))
				p.check("dweight", dw, tolFor(dt))
			})
		}
	}
}

// TestCrossEntropy covers ignored rows, a vocabulary that is not a multiple
// of a block size, gradient in place of the logits, f32 logits with a bf16
// gradient (the LM head's backward GEMM input), and a vocabulary too long
// for a backend to hold a row in registers.
func TestCrossEntropy(t *testing.T, dut gpu.Backend) {
	type xcase struct {
		ldt, dldt gpu.DType
		inPlace   bool
		vocab     int
	}
	var cases []xcase
	for _, dt := range bothFloats {
		cases = append(cases, xcase{dt, dt, false, 275}, xcase{dt, dt, true, 275})
	}
	cases = append(cases, xcase{gpu.F32, gpu.BF16, false, 272}, xcase{gpu.F32, gpu.F32, true, 600}, xcase{gpu.BF16, gpu.BF16, false, 600})
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v->%v/inplace=%v/vocab=%d", c.ldt, c.dldt, c.inPlace, c.vocab), func(t *testing.T) {
			p := newPair(t, dut, 60)
			rows, vocab := 45, c.vocab
			logits := p.floats(c.ldt, rows*vocab, normal(3))
			labels := make([]int32, rows)
			for i := range labels {
				labels[i] = int32(p.rng.Intn(vocab))
			}
			labels[3], labels[17] = gpu.IgnoreIndex, gpu.IgnoreIndex
			lab := p.ints(labels)
			losses := p.floats(gpu.F32, rows, normal(1))
			dl := p.floats(c.dldt, rows*vocab, nil)
			if c.inPlace {
				dl = logits
			}
			p.run("cross_entropy", func(s int, be gpu.Backend) error {
				return be.CrossEntropy(p.ctx, &gpu.CrossEntropyArgs{Rows: rows, Vocab: vocab, GradScale: 1.0 / 43,
					Logits: logits.m(s, vocab), Labels: lab.b[s], Losses: losses.b[s], DLogits: dl.m(s, vocab)})
			})
			p.check("losses", losses, tolFor(c.ldt))
			p.check("dlogits", dl, tolFor(c.ldt, c.dldt))
		})
	}
}

// TestAdamW covers a few steps with weight decay, grad scaling and a bf16
// copy of the weights.
func TestAdamW(t *testing.T, dut gpu.Backend) {
	p := newPair(t, dut, 70)
	const n = 1037
	param := p.floats(gpu.F32, n, normal(0.5))
	m := p.floats(gpu.F32, n, nil)
	v := p.floats(gpu.F32, n, nil)
	cp := p.floats(gpu.BF16, n, nil)
	for step := 1; step <= 3; step++ {
		g := p.floats(gpu.F32, n, normal(1))
		p.run("adamw", func(s int, be gpu.Backend) error {
			return be.AdamW(p.ctx, &gpu.AdamWArgs{N: n, Step: step, LR: 5e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
				WeightDecay: 0.1, GradScale: 0.7, Param: param.b[s], Grad: g.b[s], M: m.b[s], V: v.b[s], Copy: cp.b[s]})
		})
	}
	p.check("param", param, TolF32)
	p.check("m", m, TolF32)
	p.check("v", v, TolF32)
	p.check("bf16 copy", cp, TolBF16)
}

// TestBadArgs checks that malformed arguments give errors, not panics or
// memory corruption.
func TestBadArgs(t *testing.T, dut gpu.Backend) {
	ctx := newPair(t, dut, 0).ctx
	small, err := dut.Alloc(gpu.F32, 10)
	if err != nil {
		t.Fatal(err)
	}
	ints, err := dut.Alloc(gpu.I32, 10)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func() error{
		"gemm short C": func() error {
			return dut.Gemm(ctx, &gpu.GemmArgs{M: 4, N: 4, K: 2, Alpha: 1, A: gpu.Dense(small, 2), B: gpu.Dense(small, 4), C: gpu.Dense(small, 4)})
		},
		"gemm int A": func() error {
			return dut.Gemm(ctx, &gpu.GemmArgs{M: 1, N: 1, K: 1, Alpha: 1, A: gpu.Dense(ints, 1), B: gpu.Dense(small, 1), C: gpu.Dense(small, 1)})
		},
		"gemm zero M": func() error {
			return dut.Gemm(ctx, &gpu.GemmArgs{M: 0, N: 1, K: 1, A: gpu.Dense(small, 1), B: gpu.Dense(small, 1), C: gpu.Dense(small, 1)})
		},
		"gemm stride < cols": func() error {
			return dut.Gemm(ctx, &gpu.GemmArgs{M: 2, N: 2, K: 2, Alpha: 1, A: gpu.Dense(small, 1), B: gpu.Dense(small, 2), C: gpu.Dense(small, 2)})
		},
		"embedding float ids": func() error {
			return dut.Embedding(ctx, &gpu.EmbeddingArgs{Rows: 1, Dim: 2, IDs: small, Table: small, Out: gpu.Dense(small, 2)})
		},
		"ssd heads not multiple of groups": func() error {
			return dut.SSD(ctx, &gpu.SSDArgs{Batch: 1, Seq: 1, Heads: 3, HeadDim: 1, Groups: 2, State: 1, ChunkSize: 1})
		},
		"ssd nil buffers": func() error {
			return dut.SSD(ctx, &gpu.SSDArgs{Batch: 1, Seq: 1, Heads: 1, HeadDim: 1, Groups: 1, State: 1, ChunkSize: 1})
		},
		"rmsnorm zero eps": func() error {
			return dut.AddRMSNorm(ctx, &gpu.AddRMSNormArgs{Rows: 1, Dim: 2, X: gpu.Dense(small, 2), Weight: small,
				Out: gpu.Dense(small, 2), ResidualOut: gpu.Dense(small, 2), Rstd: small})
		},
		"adamw short grad": func() error {
			return dut.AdamW(ctx, &gpu.AdamWArgs{N: 11, Step: 1, Param: small, Grad: small, M: small, V: small})
		},
		"convert length mismatch": func() error {
			other, err := dut.Alloc(gpu.F32, 3)
			if err != nil {
				return nil // reported as "no error" below
			}
			return dut.Convert(ctx, other, small)
		},
		"write past end":      func() error { return dut.Write(small, 5, make([]float32, 6)) },
		"read ints as floats": func() error { return dut.Read(make([]float32, 1), ints, 0) },
		"negative offset": func() error {
			return dut.Conv1dStep(ctx, &gpu.Conv1dStepArgs{Batch: 1, Channels: 1, Width: 1, X: gpu.Mat{Buf: small, Off: -1, Stride: 1},
				State: small, Weight: small, Out: gpu.Dense(small, 1)})
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panicked: %v", r)
					}
				}()
				err = f()
			}()
			if err == nil {
				t.Fatalf("no error")
			}
		})
	}
}
