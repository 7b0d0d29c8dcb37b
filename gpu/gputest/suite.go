package gputest

import (
	"fmt"
	"math"
	"testing"

	"github.com/netssm/netssm/gpu"
)

// RunAll runs the whole conformance suite against dut.
func RunAll(t *testing.T, dut gpu.Backend) {
	t.Run("Basics", func(t *testing.T) { TestBasics(t, dut) })
	t.Run("Embedding", func(t *testing.T) { TestEmbedding(t, dut) })
	t.Run("AddRMSNorm", func(t *testing.T) { TestAddRMSNorm(t, dut) })
	t.Run("Gemm", func(t *testing.T) { TestGemm(t, dut) })
	t.Run("Conv1d", func(t *testing.T) { TestConv1d(t, dut) })
	t.Run("SSD", func(t *testing.T) { TestSSD(t, dut) })
	t.Run("SSDStep", func(t *testing.T) { TestSSDStep(t, dut) })
	t.Run("GatedRMSNorm", func(t *testing.T) { TestGatedRMSNorm(t, dut) })
	t.Run("CrossEntropy", func(t *testing.T) { TestCrossEntropy(t, dut) })
	t.Run("AdamW", func(t *testing.T) { TestAdamW(t, dut) })
	t.Run("BadArgs", func(t *testing.T) { TestBadArgs(t, dut) })
	t.Run("TinyModel", func(t *testing.T) { TestTinyModel(t, dut) })
	t.Run("Generate", func(t *testing.T) { TestGenerate(t, dut) })
	t.Run("FusedDecode", func(t *testing.T) { TestFusedDecode(t, dut) })
	t.Run("Views", func(t *testing.T) { TestViews(t, dut) })
	t.Run("FlatOptimizer", func(t *testing.T) { TestFlatOptimizer(t, dut) })
}

var bothFloats = []gpu.DType{gpu.F32, gpu.BF16}

// TestBasics covers Fill, Scale, Convert, SumSquares and ClipGradNorm.
func TestBasics(t *testing.T, dut gpu.Backend) {
	for _, dt := range bothFloats {
		t.Run(dt.String(), func(t *testing.T) {
			p := newPair(t, dut, 1)
			a := p.floats(dt, 1000, normal(1))
			f := p.floats(dt, 77, nil)
			c := p.floats(gpu.F32, 1000, nil)
			c2 := p.floats(gpu.BF16, 1000, nil)
			p.run("fill", func(s int, be gpu.Backend) error { return be.Fill(p.ctx, f.b[s], 0.3) })
			p.run("scale", func(s int, be gpu.Backend) error { return be.Scale(p.ctx, a.b[s], -1.7) })
			p.run("convert", func(s int, be gpu.Backend) error {
				if err := be.Convert(p.ctx, c.b[s], a.b[s]); err != nil {
					return err
				}
				return be.Convert(p.ctx, c2.b[s], a.b[s])
			})
			p.check("fill", f, tolFor(dt))
			p.check("scale", a, tolFor(dt))
			p.check("convert f32", c, tolFor(dt))
			p.check("convert bf16", c2, TolBF16)
			var ss [2]float64
			p.run("sum_squares", func(s int, be gpu.Backend) (err error) {
				ss[s], err = be.SumSquares(p.ctx, []gpu.Buffer{a.b[s], f.b[s]})
				return err
			})
			if math.Abs(ss[1]-ss[0]) > 1e-4*ss[0] {
				t.Errorf("sum_squares: got %v, want %v", ss[1], ss[0])
			}
			g := p.floats(gpu.F32, 300, normal(2))
			var norm [2]float64
			p.run("clip", func(s int, be gpu.Backend) (err error) {
				norm[s], err = gpu.ClipGradNorm(p.ctx, be, []gpu.Buffer{g.b[s]}, 1.0)
				return err
			})
			if math.Abs(norm[1]-norm[0]) > 1e-4*norm[0] {
				t.Errorf("clip: norm %v, want %v", norm[1], norm[0])
			}
			p.check("clipped grads", g, TolF32)
			after, err := dut.SumSquares(p.ctx, []gpu.Buffer{g.b[1]})
			if err != nil || math.Abs(math.Sqrt(after)-1) > 1e-4 {
				t.Errorf("clip: norm after clipping %v (err %v), want 1", math.Sqrt(after), err)
			}
		})
	}
}

// TestEmbedding covers the gather and its gradient with repeated ids, a
// width that is not a multiple of 32 (or of 4), and a vocabulary too tall
// for a backend to hold 32 columns of the table in shared memory.
func TestEmbedding(t *testing.T, dut gpu.Backend) {
	for _, dt := range bothFloats {
		for _, sh := range [][3]int{{53, 96, 40}, {70, 50, 12}, {9, 40, 500}} {
			t.Run(fmt.Sprintf("%v/rows=%d,dim=%d,vocab=%d", dt, sh[0], sh[1], sh[2]), func(t *testing.T) {
				p := newPair(t, dut, 2)
				rows, dim, vocab := sh[0], sh[1], sh[2]
				ids := make([]int32, rows)
				for i := range ids {
					ids[i] = int32(p.rng.Intn(vocab))
				}
				ids[5], ids[7] = 3, 3
				idb := p.ints(ids)
				table := p.floats(dt, vocab*dim, normal(0.02))
				out := p.floats(dt, rows*dim, nil)
				dout := p.floats(dt, rows*dim, normal(1))
				dtab := p.floats(gpu.F32, vocab*dim, normal(0.1))
				mk := func(s int) *gpu.EmbeddingArgs {
					return &gpu.EmbeddingArgs{Rows: rows, Dim: dim, IDs: idb.b[s], Table: table.b[s],
						Out: out.m(s, dim), DOut: dout.m(s, dim), DTable: dtab.b[s]}
				}
				p.run("embedding", func(s int, be gpu.Backend) error { return be.Embedding(p.ctx, mk(s)) })
				p.run("embedding backward", func(s int, be gpu.Backend) error { return be.EmbeddingBackward(p.ctx, mk(s)) })
				p.check("out", out, tolFor(dt))
				p.check("dtable", dtab, tolFor(dt))
			})
		}
	}
}

// TestAddRMSNorm covers the fused add+norm with and without residual input,
// with the residual gradient, in both dtypes; widths and a strided X that
// allow a backend 4-, 2- or 1-element vector accesses, NetSSM's width, a
// long unaligned row, and the backward pass's recompute form (X is
// ResidualOut itself).
func TestAddRMSNorm(t *testing.T, dut gpu.Backend) {
	type nshape struct{ rows, dim, xStride, xOff int }
	shapes := []nshape{{19, 200, 200, 0}, {7, 768, 776, 8}, {9, 202, 205, 1}, {9, 198, 204, 2}, {3, 2050, 2051, 1}}
	for _, dt := range bothFloats {
		for _, withRes := range []bool{false, true} {
			for _, sh := range shapes {
				t.Run(fmt.Sprintf("%v/residual=%v/%+v", dt, withRes, sh), func(t *testing.T) {
					p := newPair(t, dut, 3)
					rows, dim := sh.rows, sh.dim
					x := p.floats(dt, rows*sh.xStride, normal(1))
					res := p.floats(gpu.F32, rows*dim, normal(1))
					w := p.floats(gpu.F32, dim, uniform(0.5, 1.5))
					out := p.floats(dt, rows*dim, nil)
					ro := p.floats(gpu.F32, rows*dim, nil)
					rstd := p.floats(gpu.F32, rows, nil)
					dout := p.floats(dt, rows*dim, normal(1))
					dro := p.floats(gpu.F32, rows*dim, normal(1))
					dx := p.floats(dt, rows*dim, nil)
					dxc := p.floats(gpu.BF16, rows*dim, nil) // DXCopy (with the residual gradient)
					dw := p.floats(gpu.F32, dim, normal(0.1))
					mk := func(s int) *gpu.AddRMSNormArgs {
						a := &gpu.AddRMSNormArgs{Rows: rows, Dim: dim, Eps: 1e-5, X: x.view(s, sh.xStride, sh.xOff), Weight: w.b[s],
							Out: out.m(s, dim), ResidualOut: ro.m(s, dim), Rstd: rstd.b[s],
							DOut: dout.m(s, dim), DX: dx.m(s, dim), DWeight: dw.b[s]}
						if withRes {
							r, d, c := res.m(s, dim), dro.m(s, dim), dxc.m(s, dim)
							a.Residual, a.DResidualOut, a.DXCopy = &r, &d, &c
						}
						return a
					}
					p.run("add_rmsnorm", func(s int, be gpu.Backend) error { return be.AddRMSNorm(p.ctx, mk(s)) })
					p.check("out", out, tolFor(dt))
					p.check("residual_out", ro, TolF32)
					p.check("rstd", rstd, TolF32)
					p.run("add_rmsnorm backward", func(s int, be gpu.Backend) error { return be.AddRMSNormBackward(p.ctx, mk(s)) })
					p.check("dx", dx, tolFor(dt))
					p.check("dweight", dw, tolFor(dt))
					if withRes {
						p.check("dx copy", dxc, TolBF16)
						// the copy is DX as stored, rounded to bf16 (what Convert would give)
						got, want := p.read(dxc, 1), p.read(dx, 1)
						for i := range want {
							want[i] = gpu.RoundBF16(want[i])
						}
						if err := Compare(got, want, Tol{Atol: 0, Rtol: 1e-6}); err != nil {
							t.Errorf("dx copy is not dx rounded to bf16 on %s: %v", dut.Name(), err)
						}
						return
					}
					// Recompute form: the norm of the residual alone, read from
					// and "written" to the same buffer, which must not change.
					p.run("add_rmsnorm, X = ResidualOut", func(s int, be gpu.Backend) error {
						if err := be.Fill(p.ctx, out.b[s], 0); err != nil {
							return err
						}
						return be.AddRMSNorm(p.ctx, &gpu.AddRMSNormArgs{Rows: rows, Dim: dim, Eps: 1e-5, X: ro.m(s, dim), Weight: w.b[s],
							Out: out.m(s, dim), ResidualOut: ro.m(s, dim), Rstd: rstd.b[s]})
					})
					p.check("out (recompute)", out, tolFor(dt))
					p.check("residual_out (recompute)", ro, TolF32)
					p.check("rstd (recompute)", rstd, TolF32)
				})
			}
		}
	}
}

// TestGemm covers the four transpose cases, both input dtypes, both output
// dtypes, Beta 0 and 1, ragged and tile-aligned shapes, and strided views.
func TestGemm(t *testing.T, dut gpu.Backend) {
	shapes := [][3]int{{37, 45, 70}, {64, 128, 64}, {1, 272, 96}, {130, 33, 17}, {3, 200, 150}, {8, 64, 33}}
	for _, in := range bothFloats {
		for _, cdt := range bothFloats {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for si, sh := range shapes {
					name := fmt.Sprintf("%v->%v/ta=%v,tb=%v/%dx%dx%d", in, cdt, tr[0], tr[1], sh[0], sh[1], sh[2])
					t.Run(name, func(t *testing.T) {
						p := newPair(t, dut, int64(10+si))
						M, N, K := sh[0], sh[1], sh[2]
						ar, ac := M, K
						if tr[0] {
							ar, ac = K, M
						}
						br, bc := K, N
						if tr[1] {
							br, bc = N, K
						}
						// A is a column slice of a wider matrix (stride ac+3, offset 2).
						a := p.floats(in, ar*(ac+3), normal(1))
						b := p.floats(in, br*bc, normal(1))
						beta := float32(0)
						if si%2 == 1 {
							beta = 1
						}
						c := p.floats(cdt, M*N, normal(1))
						if beta == 0 {
							for s := range c.b { // NaN must not leak through Beta 0
								if err := p.be[s].Fill(p.ctx, c.b[s], float32(math.NaN())); err != nil {
									t.Fatal(err)
								}
							}
						}
						p.run("gemm", func(s int, be gpu.Backend) error {
							return be.Gemm(p.ctx, &gpu.GemmArgs{TransA: tr[0], TransB: tr[1], M: M, N: N, K: K,
								Alpha: 0.5, Beta: beta, A: a.view(s, ac+3, 2), B: b.m(s, bc), C: c.m(s, N)})
						})
						p.check("C", c, tolFor(in, cdt))
					})
				}
			}
		}
	}
	testGemmAligned(t, dut)
}

// testGemmAligned covers bf16 GEMMs whose operand rows start 16-byte
// aligned (pointer and stride a multiple of 8 elements), as the model's
// are: the shapes a CUDA backend runs on its pipelined tensor-core kernels
// (128x128x32 tiles, K split when tiles are few). M, N, K are ragged against
// the tiles and against the 8-element copy chunks, K spans one to many K
// tiles, N is 272 (the vocabulary) in one case, A and B are column slices
// of wider matrices (as in_proj's output zx is sliced), and C is strided
// when Beta is 1. The two cases with K > 4096 and one output tile are split
// along K on a backend with few SMs (the emulator).
func testGemmAligned(t *testing.T, dut gpu.Backend) {
	type gcase struct {
		M, N, K int
		beta    float32
	}
	type run struct {
		cdt gpu.DType
		tr  [2]bool
		gcase
	}
	var runs []run
	for _, cdt := range bothFloats {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, gc := range []gcase{{130, 136, 72, 0}, {37, 45, 70, 1}, {9, 272, 5, 0}, {256, 24, 160, 1}, {20, 33, 600, 0}} {
				runs = append(runs, run{cdt, tr, gc})
			}
		}
	}
	// K split in two on a backend with few SMs: the weight-gradient form
	// (TransA, Beta 1, C f32) and another, K ragged against the chunks.
	runs = append(runs, run{gpu.F32, [2]bool{true, false}, gcase{40, 50, 4104, 1}},
		run{gpu.BF16, [2]bool{false, true}, gcase{20, 33, 4100, 0}})
	up8 := func(n int) int { return (n + 7) / 8 * 8 }
	for ci, r := range runs {
		cdt, tr, gc := r.cdt, r.tr, r.gcase
		name := fmt.Sprintf("aligned/bf16->%v/ta=%v,tb=%v/%dx%dx%d/beta=%v", cdt, tr[0], tr[1], gc.M, gc.N, gc.K, gc.beta)
		t.Run(name, func(t *testing.T) {
			p := newPair(t, dut, int64(40+ci%7))
			M, N, K := gc.M, gc.N, gc.K
			ar, ac := M, K
			if tr[0] {
				ar, ac = K, M
			}
			br, bc := K, N
			if tr[1] {
				br, bc = N, K
			}
			// A: columns [8, 8+ac) of rows of up8(ac)+16; B: columns
			// [boff, boff+bc) of rows of up8(bc)+8.
			as, bs, boff := up8(ac)+16, up8(bc)+8, 8*(ci%2)
			a := p.floats(gpu.BF16, ar*as, normal(1))
			b := p.floats(gpu.BF16, br*bs, normal(1))
			cs, coff := N, 0
			if gc.beta != 0 {
				cs, coff = N+3, 1
			}
			c := p.floats(cdt, M*cs, normal(1))
			if gc.beta == 0 {
				for s := range c.b { // NaN must not leak through Beta 0
					if err := p.be[s].Fill(p.ctx, c.b[s], float32(math.NaN())); err != nil {
						t.Fatal(err)
					}
				}
			}
			p.run("gemm", func(s int, be gpu.Backend) error {
				return be.Gemm(p.ctx, &gpu.GemmArgs{TransA: tr[0], TransB: tr[1], M: M, N: N, K: K,
					Alpha: 0.5, Beta: gc.beta, A: a.view(s, as, 8), B: b.view(s, bs, boff), C: c.view(s, cs, coff)})
			})
			p.check("C (and the untouched columns around it)", c, tolFor(gpu.BF16, cdt))
		})
	}
}

// convShape is one TestConv1d case: X (and DX) are columns [Off, Off+C) of
// rows of Stride elements.
type convShape struct{ B, T, C, W, Stride, Off int }

// TestConv1d covers the causal depthwise conv forward, backward and decode
// step, with X as a column slice of a wider matrix (as xBC in zxbcdt). The
// shapes hit a backend's vector paths (views 16-byte aligned as the model's
// are, or only 8-byte, or not at all), sequences shorter than the kernel,
// several sequences per batch, and widths other than 4.
func TestConv1d(t *testing.T, dut gpu.Backend) {
	shapes := []convShape{
		{B: 2, T: 23, C: 40, W: 4, Stride: 57, Off: 9},  // odd stride and offset: scalar
		{B: 3, T: 45, C: 48, W: 4, Stride: 72, Off: 16}, // aligned as zx's xBC columns: 4-wide
		{B: 2, T: 37, C: 22, W: 4, Stride: 30, Off: 2},  // 2-wide
		{B: 7, T: 2, C: 8, W: 4, Stride: 8, Off: 0},     // sequences shorter than the kernel
		{B: 2, T: 40, C: 12, W: 3, Stride: 16, Off: 4},
		{B: 1, T: 70, C: 9, W: 7, Stride: 11, Off: 1},
	}
	for _, dt := range bothFloats {
		for _, act := range []bool{true, false} {
			for si, sh := range shapes {
				if !act && si > 1 {
					continue
				}
				t.Run(fmt.Sprintf("%v/silu=%v/%+v", dt, act, sh), func(t *testing.T) { testConv1d(t, dut, dt, act, sh, si == 0) })
			}
		}
	}
}

func testConv1d(t *testing.T, dut gpu.Backend, dt gpu.DType, act bool, sh convShape, steps bool) {
	p := newPair(t, dut, 20)
	B, T, C, W, stride, off := sh.B, sh.T, sh.C, sh.W, sh.Stride, sh.Off
	x := p.floats(dt, B*T*stride, normal(1))
	w := p.floats(gpu.F32, C*W, normal(0.5))
	bias := p.floats(gpu.F32, C, normal(0.5))
	out := p.floats(dt, B*T*C, nil)
	dout := p.floats(dt, B*T*C, normal(1))
	dx := p.floats(dt, B*T*stride, normal(1))
	dw := p.floats(gpu.F32, C*W, normal(0.1))
	db := p.floats(gpu.F32, C, normal(0.1))
	mk := func(s int) *gpu.Conv1dArgs {
		return &gpu.Conv1dArgs{Batch: B, Seq: T, Channels: C, Width: W, SiLU: act,
			X: x.view(s, stride, off), Weight: w.b[s], Bias: bias.b[s], Out: out.m(s, C),
			DOut: dout.m(s, C), DX: dx.view(s, stride, off), DWeight: dw.b[s], DBias: db.b[s]}
	}
	p.run("conv1d", func(s int, be gpu.Backend) error { return be.Conv1d(p.ctx, mk(s)) })
	p.check("out", out, tolFor(dt))
	p.run("conv1d backward", func(s int, be gpu.Backend) error { return be.Conv1dBackward(p.ctx, mk(s)) })
	p.check("dx (and the untouched columns around it)", dx, tolFor(dt))
	p.check("dweight", dw, tolFor(dt))
	p.check("dbias", db, tolFor(dt))
	if !steps {
		return
	}
	// Decode: feeding the sequence step by step gives the same outputs.
	state := p.floats(gpu.F32, B*C*W, nil)
	xs := p.floats(dt, B*C, nil)
	ys := p.floats(dt, B*C, nil)
	fwd := p.read(out, 1)
	xv := p.read(x, 1)
	for step := 0; step < T; step++ {
		row := make([]float32, B*C)
		for b := 0; b < B; b++ {
			copy(row[b*C:(b+1)*C], xv[(b*T+step)*stride+off:])
		}
		for s := range xs.b {
			if err := p.be[s].Write(xs.b[s], 0, row); err != nil {
				t.Fatal(err)
			}
		}
		p.run("conv1d step", func(s int, be gpu.Backend) error {
			return be.Conv1dStep(p.ctx, &gpu.Conv1dStepArgs{Batch: B, Channels: C, Width: W, SiLU: act,
				X: xs.m(s, C), State: state.b[s], Weight: w.b[s], Bias: bias.b[s], Out: ys.m(s, C)})
		})
		p.check(fmt.Sprintf("step %d out", step), ys, tolFor(dt))
		got := p.read(ys, 1)
		want := make([]float32, B*C)
		for b := 0; b < B; b++ {
			copy(want[b*C:(b+1)*C], fwd[(b*T+step)*C:])
		}
		if err := Compare(got, want, tolFor(dt)); err != nil {
			t.Fatalf("step %d differs from the full conv: %v", step, err)
		}
	}
	p.check("state", state, tolFor(dt))
}
