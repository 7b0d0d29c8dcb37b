//go:build cuda || cudaemu

package cuda_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda"
	"github.com/netssm/netssm/gpu/gputest"
)

// gemmVsFallback runs each case on be with A copied into rows one element
// longer (the fallback k_gemm_bf16) and then, for each of variants (a
// Backend.GemmKernel value; "" for the backend's own choice, tuned or
// default), with A's rows 16-byte aligned (the tensor-core kernels,
// split-K where the plan says so), and checks that they agree. Both accumulate the same bf16 products in
// fp32, so they differ only by summation order. This reaches shapes too
// big for the CPU reference: many tile rows in the grouped order, ragged
// tiles, split-K with many splits. M, N and K must be multiples of 8 (so
// that the unpadded rows are aligned in every transpose).
func gemmVsFallback(t *testing.T, be *cuda.Backend, variants []string, cases [][3]int) {
	defer func(k string) { be.GemmKernel = k }(be.GemmKernel)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(7))
	upload := func(dt gpu.DType, v []float32) gpu.Buffer {
		b, err := be.Alloc(dt, len(v))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { be.Free(b) })
		if err := be.Write(b, 0, v); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tr := range [][2]bool{{false, true}, {false, false}, {true, false}, {true, true}} {
		for _, c := range cases {
			M, N, K := c[0], c[1], c[2]
			t.Run(fmt.Sprintf("ta=%v,tb=%v/%dx%dx%d", tr[0], tr[1], M, N, K), func(t *testing.T) {
				ar, ac := M, K
				if tr[0] {
					ar, ac = K, M
				}
				br, bc := K, N
				if tr[1] {
					br, bc = N, K
				}
				a := make([]float32, ar*ac)
				for i := range a {
					a[i] = 2*rng.Float32() - 1
				}
				pad := make([]float32, ar*(ac+1))
				for r := 0; r < ar; r++ {
					copy(pad[r*(ac+1):], a[r*ac:(r+1)*ac])
				}
				b := make([]float32, br*bc)
				for i := range b {
					b[i] = 2*rng.Float32() - 1
				}
				c0 := make([]float32, M*N)
				for i := range c0 {
					c0[i] = 2*rng.Float32() - 1
				}
				bb := upload(gpu.BF16, b)
				gemm := func(av gpu.Mat) []float32 {
					cb := upload(gpu.F32, c0)
					if err := be.Gemm(ctx, &gpu.GemmArgs{TransA: tr[0], TransB: tr[1], M: M, N: N, K: K, Alpha: 0.5, Beta: 1,
						A: av, B: gpu.Dense(bb, bc), C: gpu.Dense(cb, N)}); err != nil {
						t.Fatal(err)
					}
					out := make([]float32, M*N)
					if err := be.Read(out, cb, 0); err != nil {
						t.Fatal(err)
					}
					be.Free(cb)
					return out
				}
				want := gemm(gpu.Dense(upload(gpu.BF16, pad), ac+1))
				aligned := gpu.Dense(upload(gpu.BF16, a), ac)
				for _, v := range variants {
					be.GemmKernel = v
					if err := gputest.Compare(gemm(aligned), want, gputest.Tol{Atol: 1e-5, Rtol: 1e-4}); err != nil {
						t.Errorf("tensor-core kernel (GemmKernel %q) vs fallback: %v", v, err)
					}
				}
			})
		}
	}
}
