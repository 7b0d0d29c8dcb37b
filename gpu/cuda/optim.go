//go:build cuda || cudaemu

package cuda

import (
	"context"
	"fmt"
	"math"

	"github.com/netssm/netssm/gpu"
)

// optThreads is OPT_THREADS in optim.cu; optMaxBlocks bounds the partial
// sums of the gradient norm (a fixed grid: the summation order depends on
// N only, so the norm is reproducible on any device).
const (
	optThreads   = 256
	optMaxBlocks = 1024
)

// ownView resolves a gpu.View to a buffer at its parent's pointer plus the
// view's offset, so that every op works on views unchanged.
func (b *Backend) ownView(v *gpu.View) (*buffer, error) {
	pb, ok := v.Parent().(*buffer)
	if !ok || pb == nil || pb.owner != b.id {
		return nil, fmt.Errorf("cuda: view of buffer %T, which was not allocated by this backend", v.Parent())
	}
	off, n := v.Offset(), v.Len()
	if off < 0 || n < 0 || off+n > pb.n {
		return nil, fmt.Errorf("cuda: view [%d, %d) outside its %v buffer of %d elements (freed?)", off, off+n, pb.dt, pb.n)
	}
	return &buffer{owner: b.id, ptr: pb.ptr + dptr(off*pb.dt.Size()), dt: pb.dt, n: n}, nil
}

// f32Pair passes a float64 as two fp32 kernel arguments (hi, lo).
func f32Pair(v float64) (uint64, uint64) {
	hi, lo := gpu.SplitPair(v)
	return f32Arg(hi), f32Arg(lo)
}

// GradNormClip implements gpu.FlatOptimizer: k_gradnorm_partial over a fixed
// grid (at most optMaxBlocks blocks, fp64 partials in the scratch arena),
// then k_gradnorm_final in one block. Nothing is read back.
func (b *Backend) GradNormClip(ctx context.Context, a *gpu.GradNormClipArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.Grad, a.Out)); err != nil {
		return err
	}
	nb := int(min(int64(optMaxBlocks), (int64(a.N)+optThreads-1)/optThreads))
	return b.do(func() error {
		partial, err := b.scratch(int64(nb) * 8)
		if err != nil {
			return err
		}
		gp, gdt := b.vec(a.Grad)
		if err := b.launch("k_gradnorm_partial", nb, 1, 1, optThreads, 0, gp, gdt, i64Arg(a.N), ptrArg(partial)); err != nil {
			return err
		}
		hi, lo := f32Pair(a.MaxNorm)
		return b.launch("k_gradnorm_final", 1, 1, 1, optThreads, 0, ptrArg(partial), intArg(nb), hi, lo, b.ptr(a.Out))
	})
}

// AdamWFlat implements gpu.FlatOptimizer: one k_adamw_flat launch.
func (b *Backend) AdamWFlat(ctx context.Context, a *gpu.AdamWFlatArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.Param, a.Grad, a.M, a.V, a.Copy, a.Scale)); err != nil {
		return err
	}
	bc1 := float32(1 - math.Pow(float64(a.Beta1), float64(a.Step)))
	bc2 := float32(1 - math.Pow(float64(a.Beta2), float64(a.Step)))
	return b.do(func() error {
		sp := uint64(0)
		if a.Scale != nil {
			s, _ := b.own(a.Scale)
			sp = ptrArg(s.ptr + dptr(a.ScaleIndex*4))
		}
		cp, cdt := b.vec(a.Copy)
		return b.launch("k_adamw_flat", b.gridFor(int64(a.N), 256), 1, 1, 256, 0, b.ptr(a.Param), b.ptr(a.Grad), b.ptr(a.M), b.ptr(a.V),
			sp, cp, cdt, i64Arg(a.CopyN), i64Arg(a.N), f32Arg(a.LR), f32Arg(a.Beta1), f32Arg(a.Beta2), f32Arg(a.Eps),
			f32Arg(a.WeightDecay), f32Arg(bc1), f32Arg(bc2))
	})
}

// AccumulateSum implements gpu.FlatOptimizer: one k_accum_sum block.
func (b *Backend) AccumulateSum(ctx context.Context, a *gpu.AccumulateSumArgs) error {
	if err := begin(ctx, a.Validate(), b.owned(a.Src, a.Out)); err != nil {
		return err
	}
	return b.do(func() error {
		sp, sdt := b.vec(a.Src)
		hi, lo := f32Pair(a.Scale)
		return b.launch("k_accum_sum", 1, 1, 1, optThreads, 0, sp, sdt, i64Arg(a.N), hi, lo, b.ptr(a.Out))
	})
}

var _ gpu.FlatOptimizer = (*Backend)(nil)
