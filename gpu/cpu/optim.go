package cpu

import (
	"context"
	"fmt"
	"math"

	"github.com/netssm/netssm/gpu"
)

// ownView resolves a gpu.View to a buffer sharing its parent's memory (the
// slice [off, off+n) of its elements), so that every op reads and writes the
// parent through it.
func (be *Backend) ownView(v *gpu.View) (*buffer, error) {
	pb, ok := v.Parent().(*buffer)
	if !ok || pb == nil || pb.owner != be.id {
		return nil, fmt.Errorf("cpu: view of buffer %T, which was not allocated by this backend", v.Parent())
	}
	if pb.freed {
		return nil, fmt.Errorf("cpu: view of a %v buffer used after Free", pb.dt)
	}
	off, n := v.Offset(), v.Len()
	if off < 0 || n < 0 || off+n > pb.Len() {
		return nil, fmt.Errorf("cpu: view [%d, %d) outside its buffer of %d elements", off, off+n, pb.Len())
	}
	b := &buffer{owner: pb.owner, dt: pb.dt}
	if pb.dt == gpu.I32 {
		b.i = pb.i[off : off+n : off+n]
	} else {
		b.f = pb.f[off : off+n : off+n]
	}
	return b, nil
}

// GradNormClip implements gpu.FlatOptimizer (float64 throughout).
func (be *Backend) GradNormClip(ctx context.Context, a *gpu.GradNormClipArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.Grad, a.Out)); err != nil {
		return err
	}
	g, out := be.vec(a.Grad), be.vec(a.Out)
	var ss float64
	for _, v := range g[:a.N] {
		ss += float64(v) * float64(v)
	}
	norm := math.Sqrt(ss)
	coef := 1.0
	if a.MaxNorm > 0 {
		if c := a.MaxNorm / (norm + 1e-6); c < 1 {
			coef = c
		}
	}
	out[gpu.GradNormOutNorm], out[gpu.GradNormOutCoef] = float32(norm), float32(coef)
	out[gpu.GradNormOutSSHi], out[gpu.GradNormOutSSLo] = gpu.SplitPair(ss)
	return nil
}

// AdamWFlat implements gpu.FlatOptimizer: AdamW's float64 arithmetic with
// the scale read from Scale.
func (be *Backend) AdamWFlat(ctx context.Context, a *gpu.AdamWFlatArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.Param, a.Grad, a.M, a.V, a.Copy, a.Scale)); err != nil {
		return err
	}
	scale := float32(1)
	if a.Scale != nil {
		scale = be.vec(a.Scale)[a.ScaleIndex]
	}
	p, g, m, v := be.vec(a.Param), be.vec(a.Grad), be.vec(a.M), be.vec(a.V)
	var cp *buffer
	if a.Copy != nil {
		cp, _ = be.own(a.Copy)
	}
	copyN := a.CopyN
	if cp == nil {
		copyN = 0
	}
	adamw(a.N, a.Step, a.LR, a.Beta1, a.Beta2, a.Eps, a.WeightDecay, p, m, v, cp, copyN,
		func(i int) float64 { return float64(scale * g[i]) }) // the clipped gradient as stored in fp32 by an in-place Scale
	return nil
}

// AccumulateSum implements gpu.FlatOptimizer.
func (be *Backend) AccumulateSum(ctx context.Context, a *gpu.AccumulateSumArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.Src, a.Out)); err != nil {
		return err
	}
	src, out := be.vec(a.Src), be.vec(a.Out)
	var s float64
	for _, v := range src[:a.N] {
		s += float64(v)
	}
	out[0], out[1] = gpu.SplitPair(gpu.PairValue(out[0], out[1]) + a.Scale*s)
	return nil
}

var _ gpu.FlatOptimizer = (*Backend)(nil)
