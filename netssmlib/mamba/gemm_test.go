package mamba

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naive computes C (+)= op(A)·op(B) in float64; km: A stored [k,m], kn: B
// stored [k,n] (otherwise [m,k] and [n,k]).
func naive(km, kn bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if km {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if kn {
					bv = b[p*ldb+j]
				} else {
					bv = b[j*ldb+p]
				}
				s += float64(av) * float64(bv)
			}
			if acc {
				s += float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(s)
		}
	}
}

// TestGemm checks the blocked, parallel kernels (NT, NN, TN; dot-product
// and packed paths; serial and parallel) against a float64 loop over shapes
// that hit every tail (m not a multiple of 6, n not of 16, k not of 8, k
// across the depth block) and padded strides.
func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 5, 7, 12, 13, 17, 31, 80}
	ks := []int{0, 1, 7, 9, 16, 33, 300, 600}
	type kernel struct {
		name   string
		km, kn bool
		f      func(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool)
	}
	kernels := []kernel{
		{"NT", false, false, gemmNT}, {"NTSerial", false, false, gemmNTSerial},
		{"NN", false, true, gemmNN}, {"NNSerial", false, true, gemmNNSerial},
		{"TN", true, true, gemmTN}, {"TNSerial", true, true, gemmTNSerial},
	}
	for _, kern := range kernels {
		for _, m := range sizes {
			for _, n := range sizes {
				for _, k := range ks {
					if m*n*k > 1_000_000 {
						continue
					}
					lda, ldb, ldc := k+3, k+1, n+2
					if kern.km {
						lda = m + 3
					}
					if kern.kn {
						ldb = n + 1
					}
					arows, brows := m, n
					if kern.km {
						arows = k
					}
					if kern.kn {
						brows = k
					}
					a := randSlice(rng, arows*lda)
					b := randSlice(rng, brows*ldb)
					for _, acc := range []bool{false, true} {
						c := randSlice(rng, m*ldc)
						want := append([]float32(nil), c...)
						naive(kern.km, kern.kn, m, n, k, a, lda, b, ldb, want, ldc, acc)
						kern.f(m, n, k, a, lda, b, ldb, c, ldc, acc)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								g, w := c[i*ldc+j], want[i*ldc+j]
								if math.Abs(float64(g-w)) > 1e-4*math.Sqrt(float64(k+1)) {
									t.Fatalf("%s m=%d n=%d k=%d acc=%v: c[%d,%d] = %g, want %g", kern.name, m, n, k, acc, i, j, g, w)
								}
							}
							if c[i*ldc+n] != want[i*ldc+n] {
								t.Fatalf("%s m=%d n=%d k=%d: wrote outside C", kern.name, m, n, k)
							}
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

func TestSSMStepKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for n := 1; n <= 41; n++ {
		h := randSlice(rng, n)
		h2 := append([]float32(nil), h...)
		b, c := randSlice(rng, n), randSlice(rng, n)
		got := ssmStep(h, 0.9, 0.3, b, c)
		want := ssmStepGo(h2, 0.9, 0.3, b, c)
		if math.Abs(float64(got-want)) > 1e-5*float64(n) {
			t.Fatalf("n=%d: %g, want %g", n, got, want)
		}
		for i := range h {
			if math.Abs(float64(h[i]-h2[i])) > 1e-6 {
				t.Fatalf("n=%d: state[%d] = %g, want %g", n, i, h[i], h2[i])
			}
		}
	}
}
