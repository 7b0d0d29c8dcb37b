//go:build cuda

package cuda_test

import (
	"context"
	"testing"
	"time"

	"github.com/netssm/netssm/gpu"
)

// BenchmarkElem times each memory-bound kernel of a training step at NetSSM's
// shapes (d_model 768, in_proj width 3352, conv width 1792, d_inner 1536,
// vocab 272, bf16 activations, fp32 residual stream) on 8,192 tokens, with
// the operands laid out as netssmlib/gpumodel lays them out (x of the conv
// and z of the gated norm as column slices of the in_proj output). GB/s is
// the op's minimum traffic (each operand element read or written once, the
// "min" column of docs/gpu.md's byte model) over the time, so it is directly
// comparable with the device's bandwidth (~4.8 TB/s peak on an H200, ~3.35
// on an H100).
func BenchmarkElem(b *testing.B) {
	const T, D, DP, CD, DI, V, W = 8192, 768, 3352, 1792, 1536, 272, 4
	be := open(b)
	ctx := context.Background()
	al := func(dt gpu.DType, n int, v float32) gpu.Buffer {
		buf, err := be.Alloc(dt, n)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { be.Free(buf) })
		if err := be.Fill(ctx, buf, v); err != nil {
			b.Fatal(err)
		}
		return buf
	}
	ids := func(n, vocab int) gpu.Buffer {
		buf, err := be.Alloc(gpu.I32, n)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { be.Free(buf) })
		v := make([]int32, n)
		for i := range v {
			v[i] = int32((i*7919 + i/3) % vocab)
		}
		if err := be.WriteInt32(buf, 0, v); err != nil {
			b.Fatal(err)
		}
		return buf
	}
	f32, bf16 := gpu.F32, gpu.BF16
	// the layer's buffers
	h, res, ro, carry, next, dnorm := al(f32, T*D, 0.1), al(f32, T*D, 0.2), al(f32, T*D, 0.3), al(f32, T*D, 0.01), al(f32, T*D, 0), al(f32, T*D, 0.02)
	u, carryW := al(bf16, T*D, 0), al(bf16, T*D, 0)
	zx, dzx := al(bf16, T*DP, 0.1), al(bf16, T*DP, 0)
	xbc, dxbc := al(bf16, T*CD, 0), al(bf16, T*CD, 0.01)
	y, g, dy, dg := al(bf16, T*DI, 0.1), al(bf16, T*DI, 0), al(bf16, T*DI, 0), al(bf16, T*DI, 0.01)
	rstd, grstd := al(f32, T, 0), al(f32, T, 0)
	logits, dlW, losses := al(f32, T*V, 0.5), al(bf16, T*V, 0), al(f32, T, 0)
	labels, tok := ids(T, V), ids(T, V)
	nw, gw, cw, cb := al(f32, D, 1), al(f32, DI, 1), al(f32, CD*W, 0.25), al(f32, CD, 0)
	dnw, dgw, dcw, dcb := al(f32, D, 0), al(f32, DI, 0), al(f32, CD*W, 0), al(f32, CD, 0)
	emb, demb := al(f32, V*D, 0.02), al(f32, V*D, 0)

	resM := gpu.Dense(res, D)
	carryM := gpu.Dense(carry, D)
	norm := &gpu.AddRMSNormArgs{Rows: T, Dim: D, Eps: 1e-5, X: gpu.Dense(h, D), Residual: &resM, Weight: nw, Out: gpu.Dense(u, D),
		ResidualOut: gpu.Dense(ro, D), Rstd: rstd, DOut: gpu.Dense(dnorm, D), DResidualOut: &carryM, DX: gpu.Dense(next, D), DWeight: dnw}
	recompute := &gpu.AddRMSNormArgs{Rows: T, Dim: D, Eps: 1e-5, X: gpu.Dense(ro, D), Weight: nw, Out: gpu.Dense(u, D),
		ResidualOut: gpu.Dense(ro, D), Rstd: rstd}
	conv := &gpu.Conv1dArgs{Batch: 1, Seq: T, Channels: CD, Width: W, SiLU: true, X: gpu.Cols(zx, DP, DI), Weight: cw, Bias: cb,
		Out: gpu.Dense(xbc, CD), DOut: gpu.Dense(dxbc, CD), DX: gpu.Cols(dzx, DP, DI), DWeight: dcw, DBias: dcb}
	gnorm := &gpu.GatedRMSNormArgs{Rows: T, Dim: DI, GroupSize: DI, Eps: 1e-5, X: gpu.Dense(y, DI), Z: gpu.Cols(zx, DP, 0), Weight: gw,
		Out: gpu.Dense(g, DI), Rstd: grstd, DOut: gpu.Dense(dg, DI), DX: gpu.Dense(dy, DI), DZ: gpu.Cols(dzx, DP, 0), DWeight: dgw}
	embed := &gpu.EmbeddingArgs{Rows: T, Dim: D, IDs: tok, Table: emb, Out: gpu.Dense(h, D), DOut: gpu.Dense(carry, D), DTable: demb}
	xent := func(dl gpu.Buffer) *gpu.CrossEntropyArgs {
		return &gpu.CrossEntropyArgs{Rows: T, Vocab: V, GradScale: 1.0 / T, Logits: gpu.Dense(logits, V), Labels: labels,
			Losses: losses, DLogits: gpu.Dense(dl, V)}
	}
	t := int64(T)
	for _, c := range []struct {
		name  string
		bytes int64
		op    func() error
	}{
		{"embedding.fwd", t * (4*D + 4), func() error { return be.Embedding(ctx, embed) }},
		{"embedding.bwd", t * 4 * D, func() error { return be.EmbeddingBackward(ctx, embed) }},
		{"add_rmsnorm.fwd", t * (14*D + 4), func() error { return be.AddRMSNorm(ctx, norm) }},
		{"add_rmsnorm.fwd.recompute", t * (6*D + 4), func() error { return be.AddRMSNorm(ctx, recompute) }},
		{"add_rmsnorm.bwd", t * (16*D + 4), func() error { return be.AddRMSNormBackward(ctx, norm) }},
		{"conv1d.fwd", t * 4 * CD, func() error { return be.Conv1d(ctx, conv) }},
		{"conv1d.bwd", t * 6 * CD, func() error { return be.Conv1dBackward(ctx, conv) }},
		{"gated_rmsnorm.fwd", t * (6*DI + 4), func() error { return be.GatedRMSNorm(ctx, gnorm) }},
		{"gated_rmsnorm.bwd", t * (10*DI + 4), func() error { return be.GatedRMSNormBackward(ctx, gnorm) }},
		{"cross_entropy.inplace", t * (8*V + 8), func() error { return be.CrossEntropy(ctx, xent(logits)) }},
		{"cross_entropy.bf16grad", t * (6*V + 8), func() error { return be.CrossEntropy(ctx, xent(dlW)) }},
		{"convert.f32-bf16", t * 6 * D, func() error { return be.Convert(ctx, carryW, carry) }},
		{"fill.f32", t * 4 * D, func() error { return be.Fill(ctx, next, 0) }},
		{"scale.f32", t * 8 * D, func() error { return be.Scale(ctx, next, 0.5) }},
	} {
		b.Run(c.name+"/T=8192", func(b *testing.B) {
			if err := c.op(); err != nil {
				b.Fatal(err)
			}
			if err := be.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
			}
			if err := be.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			sec := time.Since(start).Seconds()
			b.ReportMetric(float64(c.bytes)*float64(b.N)/sec/1e9, "GB/s")
			b.ReportMetric(sec/float64(b.N)*1e6, "us/op")
		})
	}
}
