package cpu_test

import (
	"context"
	"math"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/gputest"
)

// These tests establish the reference itself: backward passes against
// central finite differences of the forward passes, the chunked scan against
// the recurrence, GEMM against a hand-computed product.

var bg = context.Background()

func TestGemmByHand(t *testing.T) {
	h := newHost(t, 1)
	a, _ := h.buf(6, 0)
	b, _ := h.buf(6, 0)
	c, _ := h.buf(4, 0)
	// A = [1 2 3; 4 5 6], B^T stored as [7 8 9; 10 11 12]  =>  A B = [50 68; 122 167]
	h.be.Write(a, 0, []float32{1, 2, 3, 4, 5, 6})
	h.be.Write(b, 0, []float32{7, 8, 9, 10, 11, 12})
	h.be.Write(c, 0, []float32{1, 1, 1, 1})
	if err := h.be.Gemm(bg, &gpu.GemmArgs{TransB: true, M: 2, N: 2, K: 3, Alpha: 2, Beta: -1, A: gpu.Dense(a, 3), B: gpu.Dense(b, 3), C: gpu.Dense(c, 2)}); err != nil {
		t.Fatal(err)
	}
	got := h.read(c)
	want := []float64{99, 135, 243, 333}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("C = %v, want %v", got, want)
		}
	}
	// A^T (3x2) times C-shaped B (2x2): TransA with A stored [K=2, M=3].
	if err := h.be.Gemm(bg, &gpu.GemmArgs{TransA: true, M: 3, N: 2, K: 2, Alpha: 1, A: gpu.Dense(a, 3), B: gpu.Dense(c, 2), C: gpu.Dense(b, 2)}); err != nil {
		t.Fatal(err)
	}
	got = h.read(b)
	// A^T = [1 4; 2 5; 3 6], C = [99 135; 243 333]
	want = []float64{1*99 + 4*243, 1*135 + 4*333, 2*99 + 5*243, 2*135 + 5*333, 3*99 + 6*243, 3*135 + 6*333}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("A^T C = %v, want %v", got, want)
		}
	}
}

func TestAddRMSNormGrad(t *testing.T) {
	h := newHost(t, 2)
	const R, D = 3, 10
	x, _ := h.buf(R*D, 1)
	res, _ := h.buf(R*D, 1)
	w, _ := h.buf(D, 1)
	out, _ := h.buf(R*D, 0)
	ro, _ := h.buf(R*D, 0)
	rstd, _ := h.buf(R, 0)
	wts := h.weights(out, ro)
	dout, dro := h.upload(wts[0]), h.upload(wts[1])
	dx, _ := h.buf(R*D, 0)
	dw, _ := h.buf(D, 0)
	rm, drm := gpu.Dense(res, D), gpu.Dense(dro, D)
	a := &gpu.AddRMSNormArgs{Rows: R, Dim: D, Eps: 1e-5, X: gpu.Dense(x, D), Residual: &rm, Weight: w, Out: gpu.Dense(out, D),
		ResidualOut: gpu.Dense(ro, D), Rstd: rstd, DOut: gpu.Dense(dout, D), DResidualOut: &drm, DX: gpu.Dense(dx, D), DWeight: dw}
	fwd := func() []gpu.Buffer {
		if err := h.be.AddRMSNorm(bg, a); err != nil {
			t.Fatal(err)
		}
		return []gpu.Buffer{out, ro}
	}
	fwd()
	if err := h.be.AddRMSNormBackward(bg, a); err != nil {
		t.Fatal(err)
	}
	h.gradCheck("dx", x, h.read(dx), wts, fwd)
	h.gradCheck("dresidual", res, h.read(dx), wts, fwd)
	h.gradCheck("dweight", w, h.read(dw), wts, fwd)
}

func TestConv1dGrad(t *testing.T) {
	for _, act := range []bool{true, false} {
		h := newHost(t, 3)
		const B, T, C, W = 2, 9, 3, 4
		x, _ := h.buf(B*T*C, 1)
		w, _ := h.buf(C*W, 0.5)
		bias, _ := h.buf(C, 0.5)
		out, _ := h.buf(B*T*C, 0)
		wts := h.weights(out)
		dout := h.upload(wts[0])
		dx, _ := h.buf(B*T*C, 0)
		dw, _ := h.buf(C*W, 0)
		db, _ := h.buf(C, 0)
		a := &gpu.Conv1dArgs{Batch: B, Seq: T, Channels: C, Width: W, SiLU: act, X: gpu.Dense(x, C), Weight: w, Bias: bias,
			Out: gpu.Dense(out, C), DOut: gpu.Dense(dout, C), DX: gpu.Dense(dx, C), DWeight: dw, DBias: db}
		fwd := func() []gpu.Buffer {
			if err := h.be.Conv1d(bg, a); err != nil {
				t.Fatal(err)
			}
			return []gpu.Buffer{out}
		}
		if err := h.be.Conv1dBackward(bg, a); err != nil {
			t.Fatal(err)
		}
		h.gradCheck("dx", x, h.read(dx), wts, fwd)
		h.gradCheck("dweight", w, h.read(dw), wts, fwd)
		h.gradCheck("dbias", bias, h.read(db), wts, fwd)
	}
}

func TestGatedRMSNormGrad(t *testing.T) {
	h := newHost(t, 4)
	const R, D, GS = 3, 12, 4
	x, _ := h.buf(R*D, 1)
	z, _ := h.buf(R*D, 1)
	w, _ := h.buf(D, 1)
	out, _ := h.buf(R*D, 0)
	rstd, _ := h.buf(R*D/GS, 0)
	wts := h.weights(out)
	dout := h.upload(wts[0])
	dx, _ := h.buf(R*D, 0)
	dz, _ := h.buf(R*D, 0)
	dw, _ := h.buf(D, 0)
	a := &gpu.GatedRMSNormArgs{Rows: R, Dim: D, GroupSize: GS, Eps: 1e-5, X: gpu.Dense(x, D), Z: gpu.Dense(z, D), Weight: w,
		Out: gpu.Dense(out, D), Rstd: rstd, DOut: gpu.Dense(dout, D), DX: gpu.Dense(dx, D), DZ: gpu.Dense(dz, D), DWeight: dw}
	fwd := func() []gpu.Buffer {
		if err := h.be.GatedRMSNorm(bg, a); err != nil {
			t.Fatal(err)
		}
		return []gpu.Buffer{out}
	}
	fwd()
	if err := h.be.GatedRMSNormBackward(bg, a); err != nil {
		t.Fatal(err)
	}
	h.gradCheck("dx", x, h.read(dx), wts, fwd)
	h.gradCheck("dz", z, h.read(dz), wts, fwd)
	h.gradCheck("dweight", w, h.read(dw), wts, fwd)
}

func TestCrossEntropyGrad(t *testing.T) {
	h := newHost(t, 5)
	const R, V = 4, 7
	logits, _ := h.buf(R*V, 2)
	labels, _ := h.be.Alloc(gpu.I32, R)
	h.be.WriteInt32(labels, 0, []int32{3, gpu.IgnoreIndex, 0, 6})
	losses, _ := h.buf(R, 0)
	dl, _ := h.buf(R*V, 0)
	a := &gpu.CrossEntropyArgs{Rows: R, Vocab: V, GradScale: 1, Logits: gpu.Dense(logits, V), Labels: labels, Losses: losses, DLogits: gpu.Dense(dl, V)}
	if err := h.be.CrossEntropy(bg, a); err != nil {
		t.Fatal(err)
	}
	if l := h.read(losses); l[1] != 0 {
		t.Errorf("ignored row has loss %v", l[1])
	}
	grad := h.read(dl)
	fwdOnly := *a
	fwdOnly.DLogits = gpu.Mat{}
	ones := [][]float64{{1, 1, 1, 1}}
	h.gradCheck("dlogits", logits, grad, ones, func() []gpu.Buffer {
		if err := h.be.CrossEntropy(bg, &fwdOnly); err != nil {
			t.Fatal(err)
		}
		return []gpu.Buffer{losses}
	})
	// A bad label is an error, not a crash.
	h.be.WriteInt32(labels, 0, []int32{7})
	if err := h.be.CrossEntropy(bg, a); err == nil {
		t.Error("label 7 of vocabulary 7 accepted")
	}
}

func TestEmbeddingBadID(t *testing.T) {
	h := newHost(t, 6)
	tab, _ := h.buf(8, 1)
	out, _ := h.buf(4, 0)
	ids, _ := h.be.Alloc(gpu.I32, 2)
	h.be.WriteInt32(ids, 0, []int32{1, 4})
	err := h.be.Embedding(bg, &gpu.EmbeddingArgs{Rows: 2, Dim: 2, IDs: ids, Table: tab, Out: gpu.Dense(out, 2)})
	if err == nil {
		t.Fatal("id 4 of vocabulary 4 accepted")
	}
}

// ssdCase builds SSD arguments over fresh random buffers.
func ssdCase(h *host, B, T, H, P, G, N, L int) *gpu.SSDArgs {
	rows := B * T
	x, _ := h.buf(rows*H*P, 1)
	dt, _ := h.buf(rows*H, 1)
	bm, _ := h.buf(rows*G*N, 1)
	cm, _ := h.buf(rows*G*N, 1)
	bias, _ := h.buf(H, 1)
	alog, _ := h.buf(H, 0.5)
	d, _ := h.buf(H, 1)
	y, _ := h.buf(rows*H*P, 0)
	fs, _ := h.buf(B*H*P*N, 0)
	return &gpu.SSDArgs{Batch: B, Seq: T, Heads: H, HeadDim: P, Groups: G, State: N, ChunkSize: L,
		X: gpu.Dense(x, H*P), DT: gpu.Dense(dt, H), B: gpu.Dense(bm, G*N), C: gpu.Dense(cm, G*N),
		DTBias: bias, ALog: alog, D: d, Y: gpu.Dense(y, H*P), FinalState: fs}
}

func TestSSDChunkedMatchesRecurrence(t *testing.T) {
	for _, L := range []int{1, 3, 8, 64} {
		h := newHost(t, 7)
		a := ssdCase(h, 2, 29, 4, 3, 2, 5, L)
		if err := h.be.SSD(bg, a); err != nil {
			t.Fatal(err)
		}
		y1, s1 := h.read(a.Y.Buf), h.read(a.FinalState)
		if err := h.be.SSDSequential(bg, a); err != nil {
			t.Fatal(err)
		}
		y2, s2 := h.read(a.Y.Buf), h.read(a.FinalState)
		f32 := func(v []float64) []float32 {
			o := make([]float32, len(v))
			for i, x := range v {
				o[i] = float32(x)
			}
			return o
		}
		tol := gputest.Tol{Atol: 1e-6, Rtol: 1e-5}
		if err := gputest.Compare(f32(y1), f32(y2), tol); err != nil {
			t.Errorf("chunk %d: y: %v", L, err)
		}
		if err := gputest.Compare(f32(s1), f32(s2), tol); err != nil {
			t.Errorf("chunk %d: final state: %v", L, err)
		}
	}
}

func TestSSDGrad(t *testing.T) {
	h := newHost(t, 8)
	a := ssdCase(h, 2, 11, 4, 3, 2, 5, 4)
	a.FinalState = nil
	wts := h.weights(a.Y.Buf)
	a.DY = gpu.Dense(h.upload(wts[0]), a.Y.Stride)
	mk := func(n int) gpu.Buffer { b, _ := h.buf(n, 0); return b }
	rows, hp, gn := a.Batch*a.Seq, a.Heads*a.HeadDim, a.Groups*a.State
	a.DX, a.DDT = gpu.Dense(mk(rows*hp), hp), gpu.Dense(mk(rows*a.Heads), a.Heads)
	a.DB, a.DC = gpu.Dense(mk(rows*gn), gn), gpu.Dense(mk(rows*gn), gn)
	a.DDTBias, a.DALog, a.DD = mk(a.Heads), mk(a.Heads), mk(a.Heads)
	fwd := func() []gpu.Buffer {
		if err := h.be.SSD(bg, a); err != nil {
			t.Fatal(err)
		}
		return []gpu.Buffer{a.Y.Buf}
	}
	if err := h.be.SSDBackward(bg, a); err != nil {
		t.Fatal(err)
	}
	h.gradCheck("dx", a.X.Buf, h.read(a.DX.Buf), wts, fwd)
	h.gradCheck("ddt", a.DT.Buf, h.read(a.DDT.Buf), wts, fwd)
	h.gradCheck("dB", a.B.Buf, h.read(a.DB.Buf), wts, fwd)
	h.gradCheck("dC", a.C.Buf, h.read(a.DC.Buf), wts, fwd)
	h.gradCheck("ddt_bias", a.DTBias, h.read(a.DDTBias), wts, fwd)
	h.gradCheck("dA_log", a.ALog, h.read(a.DALog), wts, fwd)
	h.gradCheck("dD", a.D, h.read(a.DD), wts, fwd)
}

func TestAdamWFirstStep(t *testing.T) {
	// On step 1 the bias-corrected update is lr*g/(|g|+eps): a step of lr
	// against the sign of the gradient, after decay.
	h := newHost(t, 9)
	p, pv := h.buf(5, 1)
	g, gv := h.buf(5, 1)
	m, _ := h.buf(5, 0)
	v, _ := h.buf(5, 0)
	if err := h.be.AdamW(bg, &gpu.AdamWArgs{N: 5, Step: 1, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.5, GradScale: 1,
		Param: p, Grad: g, M: m, V: v}); err != nil {
		t.Fatal(err)
	}
	got := h.read(p)
	for i := range got {
		want := float64(pv[i])*(1-0.01*0.5) - 0.01*math.Copysign(1, float64(gv[i]))
		if math.Abs(got[i]-want) > 1e-6 {
			t.Errorf("param[%d] = %v, want %v", i, got[i], want)
		}
	}
}
