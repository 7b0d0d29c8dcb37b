package cpu_test

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/gpu/gputest"
)

// TestConformance runs the suite on the reference itself: it exercises the
// suite and the composed tiny model (whose loss must fall) in CI.
func TestConformance(t *testing.T) { gputest.RunAll(t, cpu.New()) }

func TestOpenRegistered(t *testing.T) {
	be, err := gpu.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	if be.Name() != "cpu" {
		t.Fatalf("name %q", be.Name())
	}
	if _, err := gpu.Open("nosuch"); err == nil {
		t.Fatal("Open(nosuch) succeeded")
	}
}

func TestForeignBuffer(t *testing.T) {
	a, b := cpu.New(), cpu.New()
	buf, _ := a.Alloc(gpu.F32, 4)
	if err := b.Write(buf, 0, []float32{1}); err == nil {
		t.Fatal("writing another backend's buffer succeeded")
	}
	if err := b.Fill(context.Background(), buf, 1); err == nil {
		t.Fatal("filling another backend's buffer succeeded")
	}
}

func TestCanceledContext(t *testing.T) {
	be := cpu.New()
	buf, _ := be.Alloc(gpu.F32, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := be.Gemm(ctx, &gpu.GemmArgs{M: 2, N: 2, K: 2, Alpha: 1, A: gpu.Dense(buf, 2), B: gpu.Dense(buf, 2), C: gpu.Dense(buf, 2)})
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestBF16Rounding(t *testing.T) {
	be := cpu.New()
	buf, _ := be.Alloc(gpu.BF16, 3)
	// 1+2^-8 is a tie between 1 and 1+2^-7: rounds to even (1).
	in := []float32{1 + 1.0/256, 1 + 3.0/256, 3.14159}
	if err := be.Write(buf, 0, in); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, 3)
	if err := be.Read(out, buf, 0); err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 1 + 4.0/256, 3.140625}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("bf16(%v) = %v, want %v", in[i], out[i], want[i])
		}
	}
}

// host is a helper over the reference backend for the oracle's own tests.
type host struct {
	t   *testing.T
	be  *cpu.Backend
	rng *rand.Rand
}

func newHost(t *testing.T, seed int64) *host {
	return &host{t: t, be: cpu.New(), rng: rand.New(rand.NewSource(seed))}
}

func (h *host) buf(n int, scale float64) (gpu.Buffer, []float32) {
	b, err := h.be.Alloc(gpu.F32, n)
	if err != nil {
		h.t.Fatal(err)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(h.rng.NormFloat64() * scale)
	}
	if err := h.be.Write(b, 0, v); err != nil {
		h.t.Fatal(err)
	}
	return b, v
}

func (h *host) read(b gpu.Buffer) []float64 {
	v := make([]float32, b.Len())
	if err := h.be.Read(v, b, 0); err != nil {
		h.t.Fatal(err)
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// gradCheck compares the analytic gradient grad (of L = sum(w .* outputs()))
// with central differences of L in the input buffer in, at up to 25 elements.
func (h *host) gradCheck(name string, in gpu.Buffer, grad []float64, w [][]float64, outputs func() []gpu.Buffer) {
	h.t.Helper()
	const eps = 1e-2
	vals := h.read(in)
	loss := func() float64 {
		var l float64
		for i, o := range outputs() {
			for j, v := range h.read(o) {
				l += w[i][j] * v
			}
		}
		return l
	}
	idx := h.rng.Perm(len(vals))
	if len(idx) > 25 {
		idx = idx[:25]
	}
	for _, i := range idx {
		set := func(v float64) {
			if err := h.be.Write(in, i, []float32{float32(v)}); err != nil {
				h.t.Fatal(err)
			}
		}
		set(vals[i] + eps)
		lp := loss()
		set(vals[i] - eps)
		lm := loss()
		set(vals[i])
		num := (lp - lm) / (2 * eps)
		if d := math.Abs(num - grad[i]); d > 2e-3+1e-2*math.Abs(num) {
			h.t.Errorf("%s[%d]: analytic %v, numeric %v", name, i, grad[i], num)
		}
	}
}

// weights returns random loss weights for the outputs.
func (h *host) weights(bufs ...gpu.Buffer) [][]float64 {
	w := make([][]float64, len(bufs))
	for i, b := range bufs {
		w[i] = make([]float64, b.Len())
		for j := range w[i] {
			w[i][j] = h.rng.NormFloat64()
		}
	}
	return w
}

// upload writes float64 weights into a new buffer (the DOut of a backward).
func (h *host) upload(w []float64) gpu.Buffer {
	b, _ := h.be.Alloc(gpu.F32, len(w))
	v := make([]float32, len(w))
	for i, x := range w {
		v[i] = float32(x)
	}
	if err := h.be.Write(b, 0, v); err != nil {
		h.t.Fatal(err)
	}
	return b
}
