//go:build cuda

package cuda_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
	"github.com/netssm/netssm/gpu/gputest"
)

// Benchmarks on NetSSM's default model (d_model 768, 24 layers, vocab 272),
// bf16, batch 1 -- the configuration of the bar in docs/gpu.md. Run by
// bench/gpu/run.sh.

func used(be *cuda.Backend) func() int64 {
	return func() int64 {
		free, total, err := be.MemInfo()
		if err != nil {
			return 0
		}
		return total - free
	}
}

func BenchmarkTrain(b *testing.B) {
	for _, T := range []int{2048, 8192} {
		b.Run(fmt.Sprintf("T=%d", T), func(b *testing.B) {
			be := open(b)
			gputest.BenchTrain(b, be, gputest.NetSSMDefault, T, gpu.BF16, used(be))
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		batch int
		graph bool
	}{{1, false}, {1, true}, {64, true}} {
		b.Run(fmt.Sprintf("batch=%d/graph=%v", c.batch, c.graph), func(b *testing.B) {
			be := open(b)
			var capture func(func() error) (func() error, error)
			if c.graph {
				capture = func(step func() error) (func() error, error) {
					g, err := be.Capture(step)
					if err != nil {
						return nil, err
					}
					b.Cleanup(g.Destroy)
					return g.Launch, nil
				}
			}
			gputest.BenchDecode(b, be, gputest.NetSSMDefault, c.batch, gpu.BF16, capture)
		})
	}
}

// BenchmarkGemm times in_proj's forward GEMM at 8,192 tokens
// (8192x3352x768) in bf16 on tensor cores and in fp32.
func BenchmarkGemm(b *testing.B) {
	const M, N, K = 8192, 3352, 768
	for _, dt := range []gpu.DType{gpu.BF16, gpu.F32} {
		b.Run(dt.String(), func(b *testing.B) {
			be := open(b)
			ctx := context.Background()
			x, _ := be.Alloc(dt, M*K)
			w, _ := be.Alloc(dt, N*K)
			y, err := be.Alloc(dt, M*N)
			if err != nil {
				b.Fatal(err)
			}
			be.Fill(ctx, x, 0.01)
			be.Fill(ctx, w, 0.02)
			a := &gpu.GemmArgs{TransB: true, M: M, N: N, K: K, Alpha: 1, A: gpu.Dense(x, K), B: gpu.Dense(w, K), C: gpu.Dense(y, N)}
			if err := be.Gemm(ctx, a); err != nil {
				b.Fatal(err)
			}
			be.Sync(ctx)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := be.Gemm(ctx, a); err != nil {
					b.Fatal(err)
				}
			}
			if err := be.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(2*M*N*K*float64(b.N)/time.Since(start).Seconds()/1e12, "TFLOP/s")
		})
	}
}

// BenchmarkSSD times one layer's scan forward and backward at 8,192 tokens
// (24 heads of 64, d_state 128).
func BenchmarkSSD(b *testing.B) {
	const T, H, P, N = 8192, 24, 64, 128
	be := open(b)
	ctx := context.Background()
	al := func(dt gpu.DType, n int) gpu.Buffer {
		buf, err := be.Alloc(dt, n)
		if err != nil {
			b.Fatal(err)
		}
		return buf
	}
	x, dt, bm, cm := al(gpu.BF16, T*H*P), al(gpu.BF16, T*H), al(gpu.BF16, T*N), al(gpu.BF16, T*N)
	dtb, alog, d := al(gpu.F32, H), al(gpu.F32, H), al(gpu.F32, H)
	be.Fill(ctx, x, 0.1)
	be.Fill(ctx, bm, 0.1)
	be.Fill(ctx, cm, 0.1)
	be.Fill(ctx, dtb, -3)
	a := &gpu.SSDArgs{Batch: 1, Seq: T, Heads: H, HeadDim: P, Groups: 1, State: N, ChunkSize: 256,
		X: gpu.Dense(x, H*P), DT: gpu.Dense(dt, H), B: gpu.Dense(bm, N), C: gpu.Dense(cm, N), DTBias: dtb, ALog: alog, D: d,
		Y: gpu.Dense(al(gpu.BF16, T*H*P), H*P), DY: gpu.Dense(al(gpu.BF16, T*H*P), H*P), DX: gpu.Dense(al(gpu.BF16, T*H*P), H*P),
		DDT: gpu.Dense(al(gpu.BF16, T*H), H), DB: gpu.Dense(al(gpu.BF16, T*N), N), DC: gpu.Dense(al(gpu.BF16, T*N), N),
		DDTBias: al(gpu.F32, H), DALog: al(gpu.F32, H), DD: al(gpu.F32, H)}
	for _, dir := range []string{"fwd", "bwd", "fwd-sequential", "bwd-sequential"} {
		b.Run(dir, func(b *testing.B) {
			be.SequentialScan = strings.HasSuffix(dir, "-sequential")
			defer func() { be.SequentialScan = false }()
			op := func() error { return be.SSD(ctx, a) }
			if strings.HasPrefix(dir, "bwd") {
				op = func() error { return be.SSDBackward(ctx, a) }
			}
			if err := op(); err != nil {
				b.Fatal(err)
			}
			be.Sync(ctx)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
			if err := be.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
