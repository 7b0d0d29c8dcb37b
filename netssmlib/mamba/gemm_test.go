package mamba

import (
	"math"
	"math/rand/v2"
	"testing"
)

func naiveNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[i*lda+p]) * float64(b[j*ldb+p])
			}
			if acc {
				s += float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(s)
		}
	}
}

// TestGemmNT checks the blocked, parallel kernel against a float64 loop over
// shapes that hit every tail (odd m, n not a multiple of 4, k not a multiple
// of 8, k across the depth block) and padded strides.
func TestGemmNT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 64, 130}
	ks := []int{0, 1, 7, 8, 9, 15, 16, 33, 520, 1100}
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range ks {
				if m*n*k > 3_000_000 {
					continue
				}
				lda, ldb, ldc := k+3, k+1, n+2
				a := randSlice(rng, m*lda)
				b := randSlice(rng, n*ldb)
				for _, acc := range []bool{false, true} {
					c := randSlice(rng, m*ldc)
					want := append([]float32(nil), c...)
					naiveNT(m, n, k, a, lda, b, ldb, want, ldc, acc)
					gemmNT(m, n, k, a, lda, b, ldb, c, ldc, acc)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							g, w := c[i*ldc+j], want[i*ldc+j]
							if math.Abs(float64(g-w)) > 1e-4*math.Sqrt(float64(k+1)) {
								t.Fatalf("m=%d n=%d k=%d acc=%v: c[%d,%d] = %g, want %g", m, n, k, acc, i, j, g, w)
							}
						}
						// Padding columns must be untouched.
						if ldc > n && c[i*ldc+n] != want[i*ldc+n] {
							t.Fatalf("m=%d n=%d k=%d: wrote outside C", m, n, k)
						}
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func BenchmarkGemmNT(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, n, k := 2048, 1168, 256
	a, w, c := randSlice(rng, m*k), randSlice(rng, n*k), make([]float32, m*n)
	b.SetBytes(0)
	for b.Loop() {
		gemmNT(m, n, k, a, k, w, k, c, n, false)
	}
	b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
