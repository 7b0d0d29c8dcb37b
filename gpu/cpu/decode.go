package cpu

import (
	"context"
	"fmt"

	"github.com/netssm/netssm/gpu"
)

// The fused decode ops of gpu.FusedDecoder, composed from the unfused ops
// exactly as their documentation states, so that the reference defines them.

var _ gpu.FusedDecoder = (*Backend)(nil)

// temp is a buffer for an op's intermediates: owned by be (so the ops accept
// it) but outside the memory accounting, as a device backend's fused kernel
// keeps them on chip.
func (be *Backend) temp(dt gpu.DType, n int) gpu.Buffer {
	return &buffer{owner: be.id, dt: dt, f: make([]float32, n)}
}

// DecodeInProj implements gpu.FusedDecoder.
func (be *Backend) DecodeInProj(ctx context.Context, a *gpu.DecodeInProjArgs) error {
	if err := begin(ctx, a.Validate(), be.owned(a.X.Buf, a.NormWeight, a.W.Buf, a.Out.Buf, a.ConvState, a.ConvWeight, a.ConvBias, a.ConvOut.Buf)); err != nil {
		return err
	}
	u, rstd, res := be.temp(a.W.Buf.DType(), a.Rows*a.Dim), be.temp(gpu.F32, a.Rows), be.temp(gpu.F32, a.Rows*a.Dim)
	if err := be.AddRMSNorm(ctx, &gpu.AddRMSNormArgs{Rows: a.Rows, Dim: a.Dim, Eps: a.Eps, X: a.X, Weight: a.NormWeight,
		Out: gpu.Dense(u, a.Dim), ResidualOut: gpu.Dense(res, a.Dim), Rstd: rstd}); err != nil {
		return fmt.Errorf("decode_in_proj: %w", err)
	}
	if err := be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: a.Rows, N: a.N, K: a.Dim, Alpha: 1, A: gpu.Dense(u, a.Dim), B: a.W, C: a.Out}); err != nil {
		return fmt.Errorf("decode_in_proj: %w", err)
	}
	if a.ConvDim == 0 {
		return nil
	}
	x := a.Out
	x.Off += a.ConvOff
	if err := be.Conv1dStep(ctx, &gpu.Conv1dStepArgs{Batch: a.Rows, Channels: a.ConvDim, Width: a.ConvWidth, SiLU: a.ConvSiLU,
		X: x, State: a.ConvState, Weight: a.ConvWeight, Bias: a.ConvBias, Out: a.ConvOut}); err != nil {
		return fmt.Errorf("decode_in_proj: %w", err)
	}
	return nil
}

// DecodeMixer implements gpu.FusedDecoder.
func (be *Backend) DecodeMixer(ctx context.Context, a *gpu.DecodeMixerArgs) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return be.SSDStep(ctx, a.StepArgs())
}

// DecodeOutProj implements gpu.FusedDecoder.
func (be *Backend) DecodeOutProj(ctx context.Context, a *gpu.DecodeOutProjArgs) error {
	var resBuf gpu.Buffer
	if a.Residual != nil {
		resBuf = a.Residual.Buf
	}
	if err := begin(ctx, a.Validate(), be.owned(a.Y.Buf, a.Z.Buf, a.NormWeight, a.W.Buf, a.Out.Buf, resBuf)); err != nil {
		return err
	}
	g, rstd := be.temp(a.W.Buf.DType(), a.Rows*a.Dim), be.temp(gpu.F32, a.Rows*(a.Dim/a.GroupSize))
	if err := be.GatedRMSNorm(ctx, &gpu.GatedRMSNormArgs{Rows: a.Rows, Dim: a.Dim, GroupSize: a.GroupSize, Eps: a.Eps,
		X: a.Y, Z: a.Z, Weight: a.NormWeight, Out: gpu.Dense(g, a.Dim), Rstd: rstd}); err != nil {
		return fmt.Errorf("decode_out_proj: %w", err)
	}
	if err := be.Gemm(ctx, &gpu.GemmArgs{TransB: true, M: a.Rows, N: a.N, K: a.Dim, Alpha: 1, A: gpu.Dense(g, a.Dim), B: a.W, C: a.Out}); err != nil {
		return fmt.Errorf("decode_out_proj: %w", err)
	}
	if a.Residual == nil {
		return nil
	}
	out, res := be.mat(a.Out), be.mat(*a.Residual)
	for r := 0; r < a.Rows; r++ {
		for n := 0; n < a.N; n++ {
			res.set(r, n, float64(float32(res.at(r, n)+out.at(r, n))))
		}
	}
	return nil
}
