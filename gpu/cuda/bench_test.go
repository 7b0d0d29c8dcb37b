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

// gemmCase is one GEMM of NetSSM's default model (d_model 768, in_proj
// 768->3352, d_inner 1536, tied LM head over a vocabulary of 272) at T
// tokens, as gputest.Model issues it: forward y = x W^T (TransB, C bf16),
// input gradient dx = dy W (C bf16), weight gradient dW += dy^T x (TransA,
// Beta 1, C f32).
type gemmCase struct {
	name           string
	transA, transB bool
	M, N, K        int
	beta           float32
	cdt            gpu.DType
}

func gemmCases(T int) []gemmCase {
	const D, IP, I, V = 768, 3352, 1536, 272
	var cs []gemmCase
	for _, l := range []struct {
		name      string
		outF, inF int // weight [outF, inF]
	}{{"in_proj", IP, D}, {"out_proj", D, I}, {"lm_head", V, D}} {
		cs = append(cs,
			gemmCase{l.name + ".fwd", false, true, T, l.outF, l.inF, 0, gpu.BF16},
			gemmCase{l.name + ".dgrad", false, false, T, l.inF, l.outF, 0, gpu.BF16},
			gemmCase{l.name + ".wgrad", true, false, l.outF, l.inF, T, 1, gpu.F32})
	}
	return cs
}

// BenchmarkGemm times every GEMM of a training step at 8,192 and 100,000
// tokens in bf16 as the backend runs it (autotuned unless
// NETSSM_GEMM_TUNE=0; the first call of each shape tunes, before the timer
// starts), plus, at in_proj's forward shape, the fallback bf16 kernel (A's
// rows made unaligned) and fp32, and reports TFLOP/s (2*M*N*K per call).
// At the end it logs the autotuner's choices, with every variant's and
// split's time per shape: the per-variant comparison.
func BenchmarkGemm(b *testing.B) {
	be := open(b)
	defer func() { b.Logf("GEMM autotuning choices:\n%s", be.GemmReport()) }()
	ctx := context.Background()
	alloc := func(dt gpu.DType, n int, v float32) gpu.Buffer {
		buf, err := be.Alloc(dt, n)
		if err != nil {
			b.Fatal(err)
		}
		if err := be.Fill(ctx, buf, v); err != nil {
			b.Fatal(err)
		}
		return buf
	}
	run := func(b *testing.B, c gemmCase, in gpu.DType, pad int) {
		ar, ac := c.M, c.K
		if c.transA {
			ar, ac = c.K, c.M
		}
		br, bc := c.K, c.N
		if c.transB {
			br, bc = c.N, c.K
		}
		x, w, y := alloc(in, ar*(ac+pad), 0.01), alloc(in, br*bc, 0.02), alloc(c.cdt, c.M*c.N, 0)
		defer func() { be.Free(x); be.Free(w); be.Free(y) }()
		a := &gpu.GemmArgs{TransA: c.transA, TransB: c.transB, M: c.M, N: c.N, K: c.K, Alpha: 1, Beta: c.beta,
			A: gpu.Dense(x, ac+pad), B: gpu.Dense(w, bc), C: gpu.Dense(y, c.N)}
		if err := be.Gemm(ctx, a); err != nil {
			b.Fatal(err)
		}
		if err := be.Sync(ctx); err != nil {
			b.Fatal(err)
		}
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
		b.ReportMetric(2*float64(c.M)*float64(c.N)*float64(c.K)*float64(b.N)/time.Since(start).Seconds()/1e12, "TFLOP/s")
	}
	for _, T := range []int{8192, 100000} {
		for _, c := range gemmCases(T) {
			b.Run(fmt.Sprintf("%s/T=%d", c.name, T), func(b *testing.B) { run(b, c, gpu.BF16, 0) })
		}
	}
	inFwd := gemmCases(8192)[0]
	b.Run("in_proj.fwd/T=8192/bf16-unaligned", func(b *testing.B) { run(b, inFwd, gpu.BF16, 1) })
	inFwd.cdt = gpu.F32
	b.Run("in_proj.fwd/T=8192/f32", func(b *testing.B) { run(b, inFwd, gpu.F32, 0) })
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
