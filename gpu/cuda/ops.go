//go:build cuda || cudaemu

package cuda

import (
	"context"
	"fmt"
	"math"
	"unsafe"

	"github.com/netssm/netssm/gpu"
)

const (
	normMaxDim  = 4096 // longest row of the norm kernels' register layout
	convThreads = 64
	// embedMaxSmem bounds k_embed_bwd's shared copy of 32 table columns
	// (vocabularies up to 384 rows); taller tables take the atomic form.
	embedMaxSmem = 48 << 10
	convMaxW     = 8 // CONV_MAXW in conv.cu
	ssdMaxS      = 8 // MAXS in ssd.cu
	gemvMaxM     = 8 // GEMV_MAXM in gemm.cu
)

func begin(ctx context.Context, validate error, owned error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if validate != nil {
		return validate
	}
	return owned
}

func notImpl(op, why string) error {
	return fmt.Errorf("%w: cuda: %s: %s", gpu.ErrNotImplemented, op, why)
}

func (b *Backend) floatBuf(op string, g gpu.Buffer) (*buffer, error) {
	buf, err := b.own(g)
	if err != nil {
		return nil, err
	}
	if !buf.dt.IsFloat() {
		return nil, fmt.Errorf("cuda: %s: %v buffer", op, buf.dt)
	}
	return buf, nil
}

// Fill implements gpu.Ops.
func (b *Backend) Fill(ctx context.Context, g gpu.Buffer, v float32) error {
	buf, err := b.floatBuf("fill", g)
	if err != nil || buf.n == 0 {
		return err
	}
	return b.do(func() error {
		p, dt := b.vec(g)
		return b.launch("k_fill", b.gridFor(int64(buf.n/4+1), 256), 1, 1, 256, 0, p, i64Arg(buf.n), dt, f32Arg(v), intArg(flatVec(vvec(p, dt))))
	})
}

// Scale implements gpu.Ops.
func (b *Backend) Scale(ctx context.Context, g gpu.Buffer, s float32) error {
	buf, err := b.floatBuf("scale", g)
	if err != nil || buf.n == 0 {
		return err
	}
	return b.do(func() error {
		p, dt := b.vec(g)
		return b.launch("k_scale", b.gridFor(int64(buf.n/4+1), 256), 1, 1, 256, 0, p, i64Arg(buf.n), dt, f32Arg(s), intArg(flatVec(vvec(p, dt))))
	})
}

// Convert implements gpu.Ops.
func (b *Backend) Convert(ctx context.Context, dst, src gpu.Buffer) error {
	d, err := b.floatBuf("convert", dst)
	if err != nil {
		return err
	}
	s, err := b.floatBuf("convert", src)
	if err != nil {
		return err
	}
	if d.n != s.n {
		return fmt.Errorf("cuda: convert: %v[%d] to %v[%d]", s.dt, s.n, d.dt, d.n)
	}
	if d.n == 0 {
		return nil
	}
	return b.do(func() error {
		dp, ddt := b.vec(dst)
		sp, sdt := b.vec(src)
		return b.launch("k_convert", b.gridFor(int64(d.n/4+1), 256), 1, 1, 256, 0,
			dp, ddt, sp, sdt, i64Arg(d.n), intArg(flatVec(vvec(dp, ddt), vvec(sp, sdt))))
	})
}

// flatVec is the vector width of Fill, Scale and Convert: 4 when every
// pointer allows 4-element accesses, else 1 (the kernels do the n%4 tail
// one by one).
func flatVec(ops ...vop) int {
	if vecWidth(4, ops...) == 4 {
		return 4
	}
	return 1
}

// SumSquares implements gpu.Ops.
func (b *Backend) SumSquares(ctx context.Context, bufs []gpu.Buffer) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var res float64
	err := b.do(func() error {
		acc, err := b.scratch(8)
		if err != nil {
			return err
		}
		if err := b.dev.memsetD8(acc, 0, 8); err != nil {
			return fmt.Errorf("cuda: sum_squares: %v", err)
		}
		for _, g := range bufs {
			buf, err := b.floatBuf("sum_squares", g)
			if err != nil {
				return err
			}
			if buf.n == 0 {
				continue
			}
			if err := b.launch("k_sumsq", b.gridFor(int64(buf.n), 256), 1, 1, 256, 0, ptrArg(buf.ptr), i64Arg(buf.n), intArg(int(buf.dt)), ptrArg(acc)); err != nil {
				return err
			}
		}
		if err := b.dev.dtoh(unsafe.Pointer(&res), acc, 8); err != nil {
			return fmt.Errorf("cuda: sum_squares: %v", err)
		}
		return nil
	})
	return res, err
}

// Embedding implements gpu.Ops.
func (b *Backend) Embedding(ctx context.Context, a *gpu.EmbeddingArgs) error {
	if err := begin(ctx, a.Validate(false), b.owned(a.IDs, a.Table, a.Out.Buf)); err != nil {
		return err
	}
	return b.do(func() error {
		tp, tdt := b.vec(a.Table)
		op, os, odt := b.mat(a.Out)
		v := 1
		if vecWidth(a.Dim, vmat(tp, uint64(a.Dim), tdt), vmat(op, os, odt)) == 4 {
			v = 4
		}
		return b.launch("k_embed", a.Rows, 1, 1, 128, 0, b.ptr(a.IDs), tp, tdt, op, os, odt,
			intArg(a.Rows), intArg(a.Dim), intArg(a.Vocab(a.Table)), intArg(v))
	})
}

// EmbeddingBackward implements gpu.Ops.
func (b *Backend) EmbeddingBackward(ctx context.Context, a *gpu.EmbeddingArgs) error {
	if err := begin(ctx, a.Validate(true), b.owned(a.IDs, a.DTable, a.DOut.Buf)); err != nil {
		return err
	}
	return b.do(func() error {
		dp, ds, ddt := b.mat(a.DOut)
		vocab := a.Vocab(a.DTable)
		if smem := vocab * 32 * 4; smem <= embedMaxSmem {
			// column slices of 32 x spans of rows, about 8 blocks per SM
			gx := (a.Dim + 31) / 32
			spans := min(a.Rows, max(1, (b.sms*8+gx-1)/gx))
			span := (a.Rows + spans - 1) / spans
			return b.launch("k_embed_bwd", gx, (a.Rows+span-1)/span, 1, 256, smem, b.ptr(a.IDs), dp, ds, ddt, b.ptr(a.DTable),
				intArg(a.Rows), intArg(a.Dim), intArg(vocab), intArg(span))
		}
		return b.launch("k_embed_bwd", a.Rows, 1, 1, 128, 0, b.ptr(a.IDs), dp, ds, ddt, b.ptr(a.DTable),
			intArg(a.Rows), intArg(a.Dim), intArg(vocab), intArg(0))
	})
}

func optMat(b *Backend, m *gpu.Mat) (uint64, uint64, uint64) {
	if m == nil {
		return 0, 0, intArg(int(gpu.F32))
	}
	return b.mat(*m)
}

func optBuf(m *gpu.Mat) gpu.Buffer {
	if m == nil {
		return nil
	}
	return m.Buf
}

// normLayout is the norm kernels' vector width and block size for rows of
// dim elements split into chunks of v (vec 0: the kernels' two-pass loop of
// 256 threads, for rows over 4096 or unaligned rows over 2048).
func normLayout(dim, v int) (vec, threads int) {
	if dim > normMaxDim || (v == 1 && dim > 2048) {
		// the two-pass loop: 1024 threads (the scalar layout's 4 elements
		// each) would need more registers than an SM has
		return 0, 256
	}
	chunks := 4 // per thread: NCH_OF(v) in norm.cu
	if v == 4 {
		chunks = 2
	}
	return v, ((dim/v+chunks-1)/chunks + 31) / 32 * 32 // <= 1024
}

// normLoopSmem is the dynamic shared memory of a backward norm launch: the
// two-pass loop (vec 0) keeps its weight-gradient partials there (dim
// floats, at most 16 KiB).
func normLoopSmem(vec, dim int) int {
	if vec == 0 {
		return 4 * dim
	}
	return 0
}

// normRowsPerBlock spreads rows over enough blocks of the backward norm
// kernels to fill every SM (2048 threads each); each block then adds its
// weight-gradient partials with one atomic per column.
func (b *Backend) normRowsPerBlock(rows, threads int) int {
	blocks := b.sms * max(1, 2048/threads)
	return max(1, (rows+blocks-1)/blocks)
}

// AddRMSNorm implements gpu.Ops.
func (b *Backend) AddRMSNorm(ctx context.Context, a *gpu.AddRMSNormArgs) error {
	if err := begin(ctx, a.Validate(false), b.owned(a.X.Buf, optBuf(a.Residual), a.Weight, a.Out.Buf, a.ResidualOut.Buf, a.Rstd)); err != nil {
		return err
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		rp, rs, rdt := optMat(b, a.Residual)
		wp, wdt := b.vec(a.Weight)
		op, os, odt := b.mat(a.Out)
		rop, ros, _ := b.mat(a.ResidualOut)
		v, threads := normLayout(a.Dim, vecWidth(a.Dim, vmat(xp, xs, xdt), vmat(rp, rs, rdt), vvec(wp, wdt), vmat(op, os, odt),
			vmat(rop, ros, intArg(int(gpu.F32)))))
		return b.launch("k_add_rmsnorm", a.Rows, 1, 1, threads, 0, xp, xs, xdt, rp, rs, rdt, wp, wdt, op, os, odt,
			rop, ros, b.ptr(a.Rstd), intArg(a.Rows), intArg(a.Dim), f32Arg(a.Eps), intArg(v))
	})
}

// AddRMSNormBackward implements gpu.Ops.
func (b *Backend) AddRMSNormBackward(ctx context.Context, a *gpu.AddRMSNormArgs) error {
	if err := begin(ctx, a.Validate(true), b.owned(a.DOut.Buf, optBuf(a.DResidualOut), a.DX.Buf, optBuf(a.DXCopy), a.DWeight, a.Weight, a.ResidualOut.Buf, a.Rstd)); err != nil {
		return err
	}
	if a.Dim > normMaxDim {
		return notImpl("add_rmsnorm backward", fmt.Sprintf("Dim %d > %d", a.Dim, normMaxDim))
	}
	return b.do(func() error {
		dp, ds, ddt := b.mat(a.DOut)
		rp, rs, rdt := optMat(b, a.DResidualOut)
		rop, ros, _ := b.mat(a.ResidualOut)
		wp, wdt := b.vec(a.Weight)
		xp, xs, xdt := b.mat(a.DX)
		cp, cs, cdt := optMat(b, a.DXCopy)
		v, threads := normLayout(a.Dim, vecWidth(a.Dim, vmat(dp, ds, ddt), vmat(rp, rs, rdt), vmat(rop, ros, intArg(int(gpu.F32))),
			vvec(wp, wdt), vmat(xp, xs, xdt), vmat(cp, cs, cdt)))
		rpb := b.normRowsPerBlock(a.Rows, threads)
		return b.launch("k_add_rmsnorm_bwd", (a.Rows+rpb-1)/rpb, 1, 1, threads, normLoopSmem(v, a.Dim), dp, ds, ddt, rp, rs, rdt, rop, ros,
			b.ptr(a.Rstd), wp, wdt, xp, xs, xdt, cp, cs, cdt, b.ptr(a.DWeight), intArg(a.Rows), intArg(a.Dim), intArg(rpb), intArg(v))
	})
}

// GatedRMSNorm implements gpu.Ops.
func (b *Backend) GatedRMSNorm(ctx context.Context, a *gpu.GatedRMSNormArgs) error {
	if err := begin(ctx, a.Validate(false), b.owned(a.X.Buf, a.Z.Buf, a.Weight, a.Out.Buf, a.Rstd)); err != nil {
		return err
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		zp, zs, zdt := b.mat(a.Z)
		wp, wdt := b.vec(a.Weight)
		op, os, odt := b.mat(a.Out)
		v, threads := normLayout(a.Dim, vecWidth(a.GroupSize, vmat(xp, xs, xdt), vmat(zp, zs, zdt), vvec(wp, wdt), vmat(op, os, odt)))
		return b.launch("k_gated_rmsnorm", a.Rows, 1, 1, threads, 0, xp, xs, xdt, zp, zs, zdt, wp, wdt, op, os, odt,
			b.ptr(a.Rstd), intArg(a.Rows), intArg(a.Dim), intArg(a.GroupSize), f32Arg(a.Eps), intArg(v))
	})
}

// GatedRMSNormBackward implements gpu.Ops.
func (b *Backend) GatedRMSNormBackward(ctx context.Context, a *gpu.GatedRMSNormArgs) error {
	if err := begin(ctx, a.Validate(true), b.owned(a.X.Buf, a.Z.Buf, a.Weight, a.Rstd, a.DOut.Buf, a.DX.Buf, a.DZ.Buf, a.DWeight)); err != nil {
		return err
	}
	if a.Dim > normMaxDim {
		return notImpl("gated_rmsnorm backward", fmt.Sprintf("Dim %d > %d", a.Dim, normMaxDim))
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		zp, zs, zdt := b.mat(a.Z)
		wp, wdt := b.vec(a.Weight)
		dop, dos, dodt := b.mat(a.DOut)
		dxp, dxs, dxdt := b.mat(a.DX)
		dzp, dzs, dzdt := b.mat(a.DZ)
		v, threads := normLayout(a.Dim, vecWidth(a.GroupSize, vmat(xp, xs, xdt), vmat(zp, zs, zdt), vvec(wp, wdt),
			vmat(dop, dos, dodt), vmat(dxp, dxs, dxdt), vmat(dzp, dzs, dzdt)))
		rpb := b.normRowsPerBlock(a.Rows, threads)
		return b.launch("k_gated_rmsnorm_bwd", (a.Rows+rpb-1)/rpb, 1, 1, threads, normLoopSmem(v, a.Dim), xp, xs, xdt, zp, zs, zdt, wp, wdt,
			b.ptr(a.Rstd), dop, dos, dodt, dxp, dxs, dxdt, dzp, dzs, dzdt, b.ptr(a.DWeight),
			intArg(a.Rows), intArg(a.Dim), intArg(a.GroupSize), intArg(rpb), intArg(v))
	})
}

// Conv1d implements gpu.Ops.
func (b *Backend) Conv1d(ctx context.Context, a *gpu.Conv1dArgs) error {
	if err := begin(ctx, a.Validate(false), b.owned(a.X.Buf, a.Weight, a.Bias, a.Out.Buf)); err != nil {
		return err
	}
	if a.Width > convMaxW {
		return notImpl("conv1d", fmt.Sprintf("Width %d > %d", a.Width, convMaxW))
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		wp, wdt := b.vec(a.Weight)
		bp, bdt := b.vec(a.Bias)
		op, os, odt := b.mat(a.Out)
		v := convVec(a, vmat(xp, xs, xdt), vmat(op, os, odt))
		gx, gy, tile := b.convGrid(a.Batch*a.Seq, a.Channels, v)
		return b.launch("k_conv1d", gx, gy, 1, convThreads, 0, xp, xs, xdt, wp, wdt, bp, bdt, op, os, odt,
			intArg(a.Batch), intArg(a.Seq), intArg(a.Channels), intArg(a.Width), boolArg(a.SiLU), intArg(v), intArg(tile))
	})
}

// convVec is the conv kernels' channels per thread: 1 for widths over 4
// (k_conv1d's vector variants keep 4 taps per channel in registers).
func convVec(a *gpu.Conv1dArgs, ops ...vop) int {
	if a.Width > 4 {
		return 1
	}
	return vecWidth(a.Channels, ops...)
}

// convGrid lays the conv kernels out: convThreads threads of v channels
// each along x, tiles of rows along y, the tile long enough for the halo of
// Width-1 rows to be small and short enough for about 32 blocks per SM.
func (b *Backend) convGrid(rows, channels, v int) (gx, gy, tile int) {
	gx = (channels/v + convThreads - 1) / convThreads
	want := max(1, b.sms*32/gx)
	tile = min(max((rows+want-1)/want, 32), 256)
	tile = max(tile, (rows+65534)/65535) // grid y <= 65535
	return gx, (rows + tile - 1) / tile, tile
}

// vop is an operand of a vectorised kernel as the kernel sees it: the
// resolved pointer of its first element, its row stride in elements (0 for
// a vector) and its dtype code.
type vop struct{ p, s, dt uint64 }

func vmat(p, s, dt uint64) vop { return vop{p, s, dt} }

func vvec(p, dt uint64) vop { return vop{p: p, dt: dt} }

// vecWidth is the widest vector (4, 2 or 1 elements) that every row of the
// operands can be read with: each one's first element and row stride, and
// the row length cols, a multiple of it (so 16-byte accesses at most for
// f32, 8 for bf16). A null operand (an absent optional one) does not count.
func vecWidth(cols int, ops ...vop) int {
	for v := uint64(4); v > 1; v /= 2 {
		ok := uint64(cols)%v == 0
		for _, o := range ops {
			if o.p == 0 {
				continue
			}
			size := uint64(gpu.DType(o.dt).Size())
			ok = ok && o.s%v == 0 && o.p%(v*size) == 0
		}
		if ok {
			return int(v)
		}
	}
	return 1
}

func boolArg(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

// Conv1dBackward implements gpu.Ops.
func (b *Backend) Conv1dBackward(ctx context.Context, a *gpu.Conv1dArgs) error {
	if err := begin(ctx, a.Validate(true), b.owned(a.X.Buf, a.Weight, a.Bias, a.DOut.Buf, a.DX.Buf, a.DWeight, a.DBias)); err != nil {
		return err
	}
	if a.Width > convMaxW {
		return notImpl("conv1d backward", fmt.Sprintf("Width %d > %d", a.Width, convMaxW))
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		wp, wdt := b.vec(a.Weight)
		bp, bdt := b.vec(a.Bias)
		dp, ds, ddt := b.mat(a.DOut)
		dxp, dxs, dxdt := b.mat(a.DX)
		var db uint64
		if a.Bias != nil {
			db = b.ptr(a.DBias)
		}
		v := convVec(a, vmat(xp, xs, xdt), vmat(dp, ds, ddt), vmat(dxp, dxs, dxdt))
		gx, gy, tile := b.convGrid(a.Batch*a.Seq, a.Channels, v)
		return b.launch("k_conv1d_bwd", gx, gy, 1, convThreads, 0, xp, xs, xdt, wp, wdt, bp, bdt, dp, ds, ddt,
			dxp, dxs, dxdt, b.ptr(a.DWeight), db, intArg(a.Batch), intArg(a.Seq), intArg(a.Channels), intArg(a.Width),
			boolArg(a.SiLU), intArg(v), intArg(tile))
	})
}

// Conv1dStep implements gpu.Ops.
func (b *Backend) Conv1dStep(ctx context.Context, a *gpu.Conv1dStepArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.X.Buf, a.State, a.Weight, a.Bias, a.Out.Buf)); err != nil {
		return err
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		wp, wdt := b.vec(a.Weight)
		bp, bdt := b.vec(a.Bias)
		op, os, odt := b.mat(a.Out)
		n := a.Batch * a.Channels
		return b.launch("k_conv1d_step", (n+255)/256, 1, 1, 256, 0, xp, xs, xdt, b.ptr(a.State), wp, wdt, bp, bdt, op, os, odt,
			intArg(a.Batch), intArg(a.Channels), intArg(a.Width), boolArg(a.SiLU))
	})
}

// CrossEntropy implements gpu.Ops.
func (b *Backend) CrossEntropy(ctx context.Context, a *gpu.CrossEntropyArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.Logits.Buf, a.Labels, a.Losses, a.DLogits.Buf)); err != nil {
		return err
	}
	return b.do(func() error {
		lp, ls, ldt := b.mat(a.Logits)
		var dp, ds, ddt uint64
		if a.DLogits.Buf != nil {
			dp, ds, ddt = b.mat(a.DLogits)
		}
		return b.launch("k_xent", (a.Rows+7)/8, 1, 1, 256, 0, lp, ls, ldt, b.ptr(a.Labels), b.ptr(a.Losses), dp, ds, ddt,
			intArg(a.Rows), intArg(a.Vocab), f32Arg(a.GradScale))
	})
}

// AdamW implements gpu.Ops.
func (b *Backend) AdamW(ctx context.Context, a *gpu.AdamWArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.Param, a.Grad, a.M, a.V, a.Copy)); err != nil {
		return err
	}
	bc1 := float32(1 - math.Pow(float64(a.Beta1), float64(a.Step)))
	bc2 := float32(1 - math.Pow(float64(a.Beta2), float64(a.Step)))
	return b.do(func() error {
		cp, cdt := b.vec(a.Copy)
		return b.launch("k_adamw", b.gridFor(int64(a.N), 256), 1, 1, 256, 0, b.ptr(a.Param), b.ptr(a.Grad), b.ptr(a.M), b.ptr(a.V),
			cp, cdt, i64Arg(a.N), f32Arg(a.LR), f32Arg(a.Beta1), f32Arg(a.Beta2), f32Arg(a.Eps), f32Arg(a.WeightDecay),
			f32Arg(a.GradScale), f32Arg(bc1), f32Arg(bc2))
	})
}
