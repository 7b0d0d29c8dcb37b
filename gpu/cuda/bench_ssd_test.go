//go:build cuda

package cuda_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
)

// BenchmarkSSDChunked times one layer's chunked scan (NetSSM: 24 heads of 64,
// d_state 128, one group, chunk 256, bf16, batch 1) forward and backward at
// 8,192 tokens and at the 100,000-token target, and reports the
// scan's scratch (cuda.SSDScratchBytes), tokens per second, and the rates
// its work model (ssdWork: tensor-core FLOPs as executed, minimum DRAM
// bytes) implies, to set against the roofline in docs/gpu.md. Run by
// bench/gpu/run.sh with the other benchmarks of this package.
func BenchmarkSSDChunked(b *testing.B) {
	const H, P, N, L = 24, 64, 128, 256
	for _, T := range []int{8192, 100000} {
		b.Run(fmt.Sprintf("T=%d", T), func(b *testing.B) {
			be := open(b)
			ctx := context.Background()
			al := func(dt gpu.DType, n int) gpu.Buffer {
				buf, err := be.Alloc(dt, n)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { be.Free(buf) })
				return buf
			}
			// x, B, C as column slices of one conv output, dt of the in_proj output, as in the mixer
			conv := H*P + 2*N
			xbc, dtIn := al(gpu.BF16, T*conv), al(gpu.BF16, T*(H+8))
			dtb, alog, d := al(gpu.F32, H), al(gpu.F32, H), al(gpu.F32, H)
			be.Fill(ctx, xbc, 0.05)
			be.Fill(ctx, dtIn, 0.1)
			be.Fill(ctx, dtb, -3)
			be.Fill(ctx, alog, 1)
			be.Fill(ctx, d, 1)
			dxbc := al(gpu.BF16, T*conv)
			dy := al(gpu.BF16, T*H*P)
			be.Fill(ctx, dy, 0.01)
			a := &gpu.SSDArgs{Batch: 1, Seq: T, Heads: H, HeadDim: P, Groups: 1, State: N, ChunkSize: L,
				X: gpu.Cols(xbc, conv, 0), B: gpu.Cols(xbc, conv, H*P), C: gpu.Cols(xbc, conv, H*P+N),
				DT: gpu.Cols(dtIn, H+8, 8), DTBias: dtb, ALog: alog, D: d, Y: gpu.Dense(al(gpu.BF16, T*H*P), H*P),
				FinalState: al(gpu.F32, H*P*N), DY: gpu.Dense(dy, H*P),
				DX: gpu.Cols(dxbc, conv, 0), DB: gpu.Cols(dxbc, conv, H*P), DC: gpu.Cols(dxbc, conv, H*P+N),
				DDT: gpu.Dense(al(gpu.BF16, T*H), H), DDTBias: al(gpu.F32, H), DALog: al(gpu.F32, H), DD: al(gpu.F32, H)}
			for _, dir := range []string{"fwd", "bwd"} {
				b.Run(dir, func(b *testing.B) {
					op := func() error { return be.SSD(ctx, a) }
					if dir == "bwd" {
						op = func() error { return be.SSDBackward(ctx, a) }
					}
					scratch, err := cuda.SSDScratchBytes(a, dir == "bwd")
					if err != nil {
						b.Fatal(err)
					}
					if err := op(); err != nil {
						b.Fatal(err)
					}
					if err := be.Sync(ctx); err != nil {
						b.Fatal(err)
					}
					b.ResetTimer()
					start := time.Now()
					for i := 0; i < b.N; i++ {
						if err := op(); err != nil {
							b.Fatal(err)
						}
					}
					if err := be.Sync(ctx); err != nil {
						b.Fatal(err)
					}
					sec := time.Since(start).Seconds() / float64(b.N)
					flops, bytes := ssdWork(a, dir == "bwd")
					b.ReportMetric(float64(T)/sec, "tokens/s")
					b.ReportMetric(flops/sec/1e12, "TFLOP/s")
					b.ReportMetric(bytes/sec/1e9, "GB/s")
					b.ReportMetric(float64(scratch)/1e6, "scratch-MB")
				})
			}
		})
	}
}
