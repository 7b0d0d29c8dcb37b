//go:build !amd64 || purego

package mamba

const hasAVX2FMA = false

func dot2x4(k int, a []float32, lda int, b []float32, ldb int, out *[8]float32) {
	dot2x4Go(k, a, lda, b, ldb, out)
}

func dot(a, b []float32) float32 { return dotGo(a, b) }

func havePacked() bool { return false }

func kern6x16(k int, a, b, c []float32, ldc int, acc bool) { kern6x16Go(k, a, b, c, ldc, acc) }

func ssmStep(h []float32, da, xd float32, b, c []float32) float32 { return ssmStepGo(h, da, xd, b, c) }

func kern6x16A(k int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
	kern6x16AGo(k, a, lda, b, c, ldc, acc)
}
