//go:build amd64 && !purego

package mamba

import "golang.org/x/sys/cpu"

var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dot2x4AVX(k int, a *float32, lda int, b *float32, ldb int, out *[8]float32)

//go:noescape
func dotAVX(k int, a, b *float32) float32

//go:noescape
func kern6x16AVX(k int, a, b, c *float32, ldc int, acc int)

//go:noescape
func kern6x16AAVX(k int, a *float32, lda int, b, c *float32, ldc int, acc int)

// kern6x16A is kern6x16 with A read in place (6 rows, row stride lda)
// instead of from a packed panel.
func kern6x16A(k int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
	_ = a[5*lda+k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	ac := 0
	if acc {
		ac = 1
	}
	kern6x16AAVX(k, &a[0], lda, &b[0], &c[0], ldc, ac)
}

// havePacked reports whether the packed 6x16 kernel is available.
func havePacked() bool { return hasAVX2FMA }

// kern6x16 computes a 6x16 tile of C from packed panels (see gemmPacked).
func kern6x16(k int, a, b, c []float32, ldc int, acc bool) {
	_ = a[6*k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	ac := 0
	if acc {
		ac = 1
	}
	kern6x16AVX(k, &a[0], &b[0], &c[0], ldc, ac)
}

// dot2x4 dispatches to the AVX2/FMA kernel for the multiple-of-8 part of k.
func dot2x4(k int, a []float32, lda int, b []float32, ldb int, out *[8]float32) {
	if !hasAVX2FMA || k < 8 {
		dot2x4Go(k, a, lda, b, ldb, out)
		return
	}
	_ = a[lda+k-1]
	_ = b[3*ldb+k-1]
	k8 := k &^ 7
	dot2x4AVX(k8, &a[0], lda, &b[0], ldb, out)
	if k8 < k {
		var t [8]float32
		dot2x4Go(k-k8, a[k8:], lda, b[k8:], ldb, &t)
		for i := range out {
			out[i] += t[i]
		}
	}
}

func dot(a, b []float32) float32 {
	if !hasAVX2FMA || len(a) < 16 {
		return dotGo(a, b)
	}
	b = b[:len(a)]
	k8 := len(a) &^ 7
	s := dotAVX(k8, &a[0], &b[0])
	if k8 < len(a) {
		s += dotGo(a[k8:], b[k8:])
	}
	return s
}

//go:noescape
func ssmStepAVX(n int, h *float32, da, xd float32, b, c *float32) float32

// ssmStep updates one row of the SSM state, h = h*da + xd*b, and returns h·c.
func ssmStep(h []float32, da, xd float32, b, c []float32) float32 {
	n := len(h)
	if !hasAVX2FMA || n < 8 {
		return ssmStepGo(h, da, xd, b, c)
	}
	_, _ = b[n-1], c[n-1]
	n8 := n &^ 7
	s := ssmStepAVX(n8, &h[0], da, xd, &b[0], &c[0])
	if n8 < n {
		s += ssmStepGo(h[n8:], da, xd, b[n8:n], c[n8:n])
	}
	return s
}
