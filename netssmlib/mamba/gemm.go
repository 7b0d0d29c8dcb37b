package mamba

// gemmNT computes C = A·Bᵀ (acc false) or C += A·Bᵀ (acc true) for row-major
// A [m,k] (row stride lda), B [n,k] (row stride ldb) and C [m,n] (row
// stride ldc): every output is a dot product of two contiguous rows, which
// is the layout of nn.Linear (y = x·Wᵀ). The other products (x·W, dWᵀ) are
// reduced to it by transposing one operand first.
//
// It splits the work over all workers; gemmNTSerial is the single-goroutine
// version for callers that are already parallel.
func gemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	flops := m * n * k
	if usePacked(m, n, k) {
		gemmPar(false, false, m, n, k, a, lda, b, ldb, c, ldc, acc)
		return
	}
	if flops < 1<<17 || workers() == 1 {
		gemmNTSerial(m, n, k, a, lda, b, ldb, c, ldc, acc)
		return
	}
	if m >= 2*gemmMB*workers() || m >= 4*n {
		// Split rows of C (blocks of A).
		parallelFor(m, gemmMB, func(_, lo, hi int) {
			gemmNTSerial(hi-lo, n, k, a[lo*lda:], lda, b, ldb, c[lo*ldc:], ldc, acc)
		})
		return
	}
	// Split columns of C (rows of B), for short A such as decoding.
	parallelFor(n, 4*((n/workers()/4/4)+1), func(_, lo, hi int) {
		gemmNTSerial(m, hi-lo, k, a, lda, b[lo*ldb:], ldb, c[lo:], ldc, acc)
	})
}

const (
	gemmMB = 64  // rows of A per block (kept in L2)
	gemmKB = 512 // depth per block
)

// usePacked picks the packed 6x16 path for products with enough rows and
// columns to fill its tiles; short products (decoding) use dot products.
func usePacked(m, n, k int) bool { return havePacked() && m >= 12 && n >= 16 && k >= 16 }

func gemmNTSerial(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	if m == 0 || n == 0 {
		return
	}
	if usePacked(m, n, k) {
		gemmPacked(false, false, m, n, k, a, lda, b, ldb, c, ldc, acc, false)
		return
	}
	if k == 0 {
		if !acc {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	var out [8]float32
	for k0 := 0; k0 < k; k0 += gemmKB {
		kb := min(gemmKB, k-k0)
		add := acc || k0 > 0
		for i0 := 0; i0 < m; i0 += gemmMB {
			mb := min(gemmMB, m-i0)
			j := 0
			for ; j+4 <= n; j += 4 {
				bj := b[j*ldb+k0:]
				i := i0
				for ; i+2 <= i0+mb; i += 2 {
					dot2x4(kb, a[i*lda+k0:], lda, bj, ldb, &out)
					c0 := c[i*ldc+j : i*ldc+j+4]
					c1 := c[(i+1)*ldc+j : (i+1)*ldc+j+4]
					if add {
						c0[0] += out[0]
						c0[1] += out[1]
						c0[2] += out[2]
						c0[3] += out[3]
						c1[0] += out[4]
						c1[1] += out[5]
						c1[2] += out[6]
						c1[3] += out[7]
					} else {
						copy(c0, out[:4])
						copy(c1, out[4:])
					}
				}
				for ; i < i0+mb; i++ {
					// A single row: the 2x4 kernel with both rows the same
					// (lda 0) still reads each B row once for 4 columns.
					dot2x4(kb, a[i*lda+k0:], 0, bj, ldb, &out)
					ci := c[i*ldc+j : i*ldc+j+4]
					if add {
						ci[0] += out[0]
						ci[1] += out[1]
						ci[2] += out[2]
						ci[3] += out[3]
					} else {
						copy(ci, out[:4])
					}
				}
			}
			for ; j < n; j++ {
				bj := b[j*ldb+k0 : j*ldb+k0+kb]
				for i := i0; i < i0+mb; i++ {
					s := dot(a[i*lda+k0:i*lda+k0+kb], bj)
					if add {
						c[i*ldc+j] += s
					} else {
						c[i*ldc+j] = s
					}
				}
			}
		}
	}
}

// gemmNN computes C (+)= A·B for A [m,k] and B stored [k,n] (row stride
// ldb), as in x·W for nn.Linear's weight W [out, in].
func gemmNN(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	gemmPar(false, true, m, n, k, a, lda, b, ldb, c, ldc, acc)
}

// gemmTN computes C (+)= Aᵀ·B for A stored [k,m] and B stored [k,n], as in
// the weight gradient dyᵀ·x summed over positions.
func gemmTN(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	gemmPar(true, true, m, n, k, a, lda, b, ldb, c, ldc, acc)
}

// gemmPar runs gemmPacked over all workers: split by rows of C when there
// are enough, else by columns (short products such as batched decoding).
func gemmPar(km, kn bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	switch {
	case workers() == 1 || m*n*k < 1<<16:
		gemmPacked(km, kn, m, n, k, a, lda, b, ldb, c, ldc, acc, false)
	case m >= 2*gemmMC || n < 32:
		gemmPacked(km, kn, m, n, k, a, lda, b, ldb, c, ldc, acc, true)
	default:
		parallelFor(n, 16, func(_, lo, hi int) {
			boff := lo * ldb
			if kn {
				boff = lo
			}
			gemmPacked(km, kn, m, hi-lo, k, a, lda, b[boff:], ldb, c[lo:], ldc, acc, false)
		})
	}
}

// gemmNNSerial and gemmTNSerial are the single-goroutine versions.
func gemmNNSerial(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	gemmPacked(false, true, m, n, k, a, lda, b, ldb, c, ldc, acc, false)
}

func gemmTNSerial(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	gemmPacked(true, true, m, n, k, a, lda, b, ldb, c, ldc, acc, false)
}

// dot2x4Go is the portable micro-kernel: out[4r+c] = A row r · B row c over
// k elements, for 2 rows of A and 4 rows of B.
func dot2x4Go(k int, a []float32, lda int, b []float32, ldb int, out *[8]float32) {
	a0, a1 := a[:k], a[lda:lda+k]
	b0, b1, b2, b3 := b[:k], b[ldb:ldb+k], b[2*ldb:2*ldb+k], b[3*ldb:3*ldb+k]
	var s00, s01, s02, s03, s10, s11, s12, s13 float32
	for p := range a0 {
		x0, x1 := a0[p], a1[p]
		y0, y1, y2, y3 := b0[p], b1[p], b2[p], b3[p]
		s00 += x0 * y0
		s01 += x0 * y1
		s02 += x0 * y2
		s03 += x0 * y3
		s10 += x1 * y0
		s11 += x1 * y1
		s12 += x1 * y2
		s13 += x1 * y3
	}
	*out = [8]float32{s00, s01, s02, s03, s10, s11, s12, s13}
}

func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	p := 0
	for ; p+4 <= len(a); p += 4 {
		s0 += a[p] * b[p]
		s1 += a[p+1] * b[p+1]
		s2 += a[p+2] * b[p+2]
		s3 += a[p+3] * b[p+3]
	}
	for ; p < len(a); p++ {
		s0 += a[p] * b[p]
	}
	return (s0 + s1) + (s2 + s3)
}
