//go:build cuda || cudaemu

package cuda

import (
	"context"
	"fmt"

	"github.com/netssm/netssm/gpu"
)

// The fused decode ops (gpu.FusedDecoder); kernels in kernels/decode.cu.

var _ gpu.FusedDecoder = (*Backend)(nil)

const (
	decThreads  = 128      // 4 warps per block, one output column per warp
	decMaxM     = 8        // DEC_MAXM in decode.cu: rows per block
	decSmemMax  = 47 << 10 // dynamic shared memory: 48 KiB without an opt-in, less the kernels' static 128 bytes
	decSSDWarps = decThreads / 32
)

// decTiling returns the rows per block and the grid of a fused GEMV over
// rows x n outputs with k-wide inputs, and its dynamic shared memory: one
// row of k floats (the prologue's raw values) and the block's normalised
// rows, k elements each in the weights' dtype (wsz bytes).
func (b *Backend) decTiling(op string, rows, n, k, wsz int) (mb, gx, gy, smem int, err error) {
	mb = min(decMaxM, rows, (decSmemMax-4*k)/(wsz*k))
	if mb < 1 {
		return 0, 0, 0, 0, notImpl(op, fmt.Sprintf("input width %d > %d", k, decSmemMax/(4+wsz)))
	}
	gy = (rows + mb - 1) / mb
	if gy > 65535 {
		return 0, 0, 0, 0, notImpl(op, fmt.Sprintf("Rows %d > %d", rows, 65535*mb))
	}
	warps := decThreads / 32
	gx = min((n+warps-1)/warps, b.sms*64)
	return mb, gx, gy, 4*k + mb*k*wsz, nil
}

// vec16 reports whether every row of the weight view w (k columns) starts
// on a 16-byte boundary and spans whole 16-byte words, so the kernels can
// load it with 16-byte loads (the resolved pointer: w.Buf may be a gpu.View).
func (b *Backend) vec16(w gpu.Mat, k int) uint64 {
	sz := w.Buf.DType().Size()
	p, _, _ := b.mat(w)
	if p%16 == 0 && (w.Stride*sz)%16 == 0 && (k*sz)%16 == 0 {
		return 1
	}
	return 0
}

// DecodeInProj implements gpu.FusedDecoder.
func (b *Backend) DecodeInProj(ctx context.Context, a *gpu.DecodeInProjArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.X.Buf, a.NormWeight, a.W.Buf, a.Out.Buf, a.ConvState, a.ConvWeight, a.ConvBias, a.ConvOut.Buf)); err != nil {
		return err
	}
	mb, gx, gy, smem, err := b.decTiling("decode_in_proj", a.Rows, a.N, a.Dim, a.W.Buf.DType().Size())
	if err != nil {
		return err
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		nwp, nwdt := b.vec(a.NormWeight)
		wp, ws, wdt := b.mat(a.W)
		op, os, odt := b.mat(a.Out)
		var cst, cwp, cwdt, cbp, cbdt, cop, cos, codt uint64
		cwdt, cbdt, codt = intArg(int(gpu.F32)), intArg(int(gpu.F32)), intArg(int(gpu.F32))
		if a.ConvDim > 0 {
			cst = b.ptr(a.ConvState)
			cwp, cwdt = b.vec(a.ConvWeight)
			cbp, cbdt = b.vec(a.ConvBias)
			cop, cos, codt = b.mat(a.ConvOut)
		}
		return b.launch("k_dec_in", gx, gy, 1, decThreads, smem, xp, xs, xdt, nwp, nwdt, wp, ws, wdt, op, os, odt,
			intArg(a.Rows), intArg(a.N), intArg(a.Dim), intArg(mb), f32Arg(a.Eps), b.vec16(a.W, a.Dim),
			cst, cwp, cwdt, cbp, cbdt, cop, cos, codt, intArg(a.ConvDim), intArg(a.ConvOff), intArg(a.ConvWidth), boolArg(a.ConvSiLU))
	})
}

// DecodeMixer implements gpu.FusedDecoder.
func (b *Backend) DecodeMixer(ctx context.Context, a *gpu.DecodeMixerArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.X.Buf, a.DT.Buf, a.DTBias, a.ALog, a.B.Buf, a.C.Buf, a.D, a.Y.Buf, a.State)); err != nil {
		return err
	}
	if a.Batch > 65535 || a.Heads > 65535 {
		return notImpl("decode_mixer", fmt.Sprintf("Batch %d or Heads %d > 65535", a.Batch, a.Heads))
	}
	if 8*a.StateDim > decSmemMax {
		return notImpl("decode_mixer", fmt.Sprintf("StateDim %d > %d", a.StateDim, decSmemMax/8))
	}
	return b.do(func() error {
		xp, xs, xdt := b.mat(a.X)
		dp, ds, ddt := b.mat(a.DT)
		bp, bs, bdt := b.mat(a.B)
		cp, cs, cdt := b.mat(a.C)
		yp, ys, ydt := b.mat(a.Y)
		return b.launch("k_dec_ssd", (a.HeadDim+decSSDWarps-1)/decSSDWarps, a.Heads, a.Batch, decThreads, 8*a.StateDim,
			xp, xs, xdt, dp, ds, ddt, b.ptr(a.DTBias), b.ptr(a.ALog), bp, bs, bdt, cp, cs, cdt, b.ptr(a.D), yp, ys, ydt,
			b.ptr(a.State), intArg(a.Heads), intArg(a.HeadDim), intArg(a.Groups), intArg(a.StateDim))
	})
}

// DecodeOutProj implements gpu.FusedDecoder.
func (b *Backend) DecodeOutProj(ctx context.Context, a *gpu.DecodeOutProjArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.Y.Buf, a.Z.Buf, a.NormWeight, a.W.Buf, a.Out.Buf, optBuf(a.Residual))); err != nil {
		return err
	}
	mb, gx, gy, smem, err := b.decTiling("decode_out_proj", a.Rows, a.N, a.Dim, a.W.Buf.DType().Size())
	if err != nil {
		return err
	}
	return b.do(func() error {
		yp, ys, ydt := b.mat(a.Y)
		zp, zs, zdt := b.mat(a.Z)
		nwp, nwdt := b.vec(a.NormWeight)
		wp, ws, wdt := b.mat(a.W)
		op, os, odt := b.mat(a.Out)
		var rp, rs uint64
		if a.Residual != nil {
			rp, rs, _ = b.mat(*a.Residual)
		}
		return b.launch("k_dec_out", gx, gy, 1, decThreads, smem, yp, ys, ydt, zp, zs, zdt, nwp, nwdt, wp, ws, wdt,
			op, os, odt, rp, rs, intArg(a.Rows), intArg(a.N), intArg(a.Dim), intArg(a.GroupSize), intArg(mb),
			f32Arg(a.Eps), b.vec16(a.W, a.Dim))
	})
}
