package mamba

import "sync"

// The packed GEMM follows the BLIS loop nest: for each depth block of gemmKC,
// a block of up to gemmNC columns of C has its B rows packed into panels of
// 16 (k-major), each block of gemmMC rows of A is packed into panels of 6,
// and the 6x16 micro-kernel walks the panels with the 6x16 tile of C in 12
// AVX registers (12 FMAs per 8 loads, against 8 per 6 for the dot kernel).
const (
	gemmKC = 256
	gemmMC = 72   // multiple of 6
	gemmNC = 1024 // multiple of 16
)

var packPool = sync.Pool{New: func() any {
	b := make([]float32, gemmNC*gemmKC)
	return &b
}}

var packAPool = sync.Pool{New: func() any {
	b := make([]float32, gemmMC*gemmKC)
	return &b
}}

// packB writes columns [0, nb) of op(B), depth [0, kb), as panels of 16
// columns: dst[(jp*kb + p)*16 + c] = op(B)[p, 16jp+c], zero past nb. With
// kn, b is stored [k, n] (element (p, j) at b[p*ldb+j]); otherwise [n, k]
// (at b[j*ldb+p]).
func packB(kn bool, nb, kb int, b []float32, ldb int, dst []float32) {
	for jp := 0; jp*16 < nb; jp++ {
		panel := dst[jp*kb*16 : (jp+1)*kb*16]
		cols := min(16, nb-jp*16)
		if kn {
			for p := 0; p < kb; p++ {
				dst := panel[p*16 : p*16+16 : p*16+16]
				if cols == 16 {
					src := b[p*ldb+jp*16 : p*ldb+jp*16+16 : p*ldb+jp*16+16]
					*(*[16]float32)(dst) = *(*[16]float32)(src)
					continue
				}
				copy(dst, b[p*ldb+jp*16:p*ldb+jp*16+cols])
				clear(dst[cols:])
			}
			continue
		}
		if cols == 16 {
			// Four columns at a time: sequential writes, four read streams.
			for c0 := 0; c0 < 16; c0 += 4 {
				j := jp*16 + c0
				b0, b1 := b[j*ldb:j*ldb+kb], b[(j+1)*ldb:(j+1)*ldb+kb]
				b2, b3 := b[(j+2)*ldb:(j+2)*ldb+kb], b[(j+3)*ldb:(j+3)*ldb+kb]
				for p := range b0 {
					d := panel[p*16+c0 : p*16+c0+4 : p*16+c0+4]
					d[0], d[1], d[2], d[3] = b0[p], b1[p], b2[p], b3[p]
				}
			}
			continue
		}
		for c := 0; c < 16; c++ {
			if c >= cols {
				for p := 0; p < kb; p++ {
					panel[p*16+c] = 0
				}
				continue
			}
			j := jp*16 + c
			row := b[j*ldb : j*ldb+kb]
			for p, v := range row {
				panel[p*16+c] = v
			}
		}
	}
}

// packA writes rows [0, mb) of A (depth kb) as panels of 6 rows:
// dst[(ip*kb + p)*6 + r] = A[6ip+r, p], zero past mb. With km, a is stored
// [k, m] (element (i, p) at a[p*lda+i]); otherwise [m, k].
func packA(km bool, mb, kb int, a []float32, lda int, dst []float32) {
	for ip := 0; ip*6 < mb; ip++ {
		panel := dst[ip*kb*6 : (ip+1)*kb*6]
		rows := min(6, mb-ip*6)
		if km {
			for p := 0; p < kb; p++ {
				dst := panel[p*6 : p*6+6 : p*6+6]
				if rows == 6 {
					src := a[p*lda+ip*6 : p*lda+ip*6+6 : p*lda+ip*6+6]
					dst[0], dst[1], dst[2], dst[3], dst[4], dst[5] = src[0], src[1], src[2], src[3], src[4], src[5]
					continue
				}
				copy(dst, a[p*lda+ip*6:p*lda+ip*6+rows])
				clear(dst[rows:])
			}
			continue
		}
		if rows == 6 {
			i := ip * 6
			a0, a1, a2 := a[i*lda:i*lda+kb], a[(i+1)*lda:(i+1)*lda+kb], a[(i+2)*lda:(i+2)*lda+kb]
			a3, a4, a5 := a[(i+3)*lda:(i+3)*lda+kb], a[(i+4)*lda:(i+4)*lda+kb], a[(i+5)*lda:(i+5)*lda+kb]
			for p := range a0 {
				d := panel[p*6 : p*6+6 : p*6+6]
				d[0], d[1], d[2], d[3], d[4], d[5] = a0[p], a1[p], a2[p], a3[p], a4[p], a5[p]
			}
			continue
		}
		for r := 0; r < 6; r++ {
			if r >= rows {
				for p := 0; p < kb; p++ {
					panel[p*6+r] = 0
				}
				continue
			}
			i := ip*6 + r
			row := a[i*lda : i*lda+kb]
			for p, v := range row {
				panel[p*6+r] = v
			}
		}
	}
}

// gemmPacked computes C (+)= op(A)·op(B) for op(A) [m,k], op(B) [k,n], with
// A stored [k,m] when km and B stored [k,n] when kn (see packA, packB);
// parallel says whether it may split the rows of C over workers.
func gemmPacked(km, kn bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc, parallel bool) {
	if m == 0 || n == 0 {
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
	bp := packPool.Get().(*[]float32)
	defer packPool.Put(bp)
	for j0 := 0; j0 < n; j0 += gemmNC {
		nb := min(gemmNC, n-j0)
		for k0 := 0; k0 < k; k0 += gemmKC {
			kb := min(gemmKC, k-k0)
			add := acc || k0 > 0
			if kn {
				packB(true, nb, kb, b[k0*ldb+j0:], ldb, *bp)
			} else {
				packB(false, nb, kb, b[j0*ldb+k0:], ldb, *bp)
			}
			body := func(lo, hi int) {
				ap := packAPool.Get().(*[]float32)
				defer packAPool.Put(ap)
				var tmp [96]float32
				for i0 := lo; i0 < hi; i0 += gemmMC {
					mb := min(gemmMC, hi-i0)
					// A stored [m,k] is read in place by the micro-kernel for
					// full 6-row tiles; only the tail rows are packed. A
					// stored [k,m] is packed (its rows are columns).
					direct := !km && havePacked() && gemmDirectA
					if km {
						packA(true, mb, kb, a[k0*lda+i0:], lda, *ap)
					} else if !direct {
						packA(false, mb, kb, a[i0*lda+k0:], lda, *ap)
					} else if r := mb % 6; r != 0 {
						ipt := mb / 6
						packA(false, r, kb, a[(i0+ipt*6)*lda+k0:], lda, (*ap)[ipt*kb*6:])
					}
					for jp := 0; jp*16 < nb; jp++ {
						bpan := (*bp)[jp*kb*16 : (jp+1)*kb*16]
						cols := min(16, nb-jp*16)
						for ip := 0; ip*6 < mb; ip++ {
							apan := (*ap)[ip*kb*6 : (ip+1)*kb*6]
							rows := min(6, mb-ip*6)
							ci := (i0+ip*6)*ldc + j0 + jp*16
							if direct && rows == 6 {
								ai := a[(i0+ip*6)*lda+k0:]
								if cols == 16 {
									kern6x16A(kb, ai, lda, bpan, c[ci:], ldc, add)
									continue
								}
								kern6x16A(kb, ai, lda, bpan, tmp[:], 16, false)
							} else if rows == 6 && cols == 16 {
								kern6x16(kb, apan, bpan, c[ci:], ldc, add)
								continue
							} else {
								kern6x16(kb, apan, bpan, tmp[:], 16, false)
							}
							for r := 0; r < rows; r++ {
								crow := c[ci+r*ldc : ci+r*ldc+cols]
								if add {
									for j := range crow {
										crow[j] += tmp[r*16+j]
									}
								} else {
									copy(crow, tmp[r*16:r*16+cols])
								}
							}
						}
					}
				}
			}
			if parallel && m*nb*kb >= 1<<16 && m > gemmMC {
				parallelFor(m, gemmMC, func(_, lo, hi int) { body(lo, hi) })
			} else {
				body(0, m)
			}
		}
	}
}

// kern6x16Go is the portable micro-kernel with kern6x16's contract.
func kern6x16Go(k int, a, b, c []float32, ldc int, acc bool) {
	var t [6][16]float32
	for p := 0; p < k; p++ {
		bv := b[p*16 : p*16+16]
		for r := 0; r < 6; r++ {
			av := a[p*6+r]
			row := &t[r]
			for j := range row {
				row[j] += av * bv[j]
			}
		}
	}
	for r := 0; r < 6; r++ {
		crow := c[r*ldc : r*ldc+16]
		for j := range crow {
			if acc {
				crow[j] += t[r][j]
			} else {
				crow[j] = t[r][j]
			}
		}
	}
}

// kern6x16AGo is the portable kern6x16A.
func kern6x16AGo(k int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
	var t [6][16]float32
	for p := 0; p < k; p++ {
		bv := b[p*16 : p*16+16]
		for r := 0; r < 6; r++ {
			av := a[r*lda+p]
			row := &t[r]
			for j := range row {
				row[j] += av * bv[j]
			}
		}
	}
	for r := 0; r < 6; r++ {
		crow := c[r*ldc : r*ldc+16]
		for j := range crow {
			if acc {
				crow[j] += t[r][j]
			} else {
				crow[j] = t[r][j]
			}
		}
	}
}

// gemmDirectA enables reading A in place (a var for A/B benchmarks).
var gemmDirectA = true
