package gputest

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
)

// Tol is a per-element tolerance: |got-want| <= Atol*max|want| + Rtol*|want|.
type Tol struct{ Atol, Rtol float64 }

// The tolerances of the suite (see the package documentation).
var (
	TolF32  = Tol{Atol: 1e-5, Rtol: 1e-4}
	TolScan = Tol{Atol: 1e-4, Rtol: 2e-3}
	TolBF16 = Tol{Atol: 4e-3, Rtol: 1.6e-2}
)

// pair runs the same work on the reference (side 0) and the backend under
// test (side 1).
type pair struct {
	t   *testing.T
	be  [2]gpu.Backend
	rng *rand.Rand
	ctx context.Context
}

func newPair(t *testing.T, dut gpu.Backend, seed int64) *pair {
	return &pair{t: t, be: [2]gpu.Backend{cpu.New(), dut}, rng: rand.New(rand.NewSource(seed)), ctx: context.Background()}
}

// twin is one logical buffer allocated on both sides with equal contents.
type twin struct {
	b  [2]gpu.Buffer
	dt gpu.DType
	n  int
}

func (tw *twin) m(s, stride int) gpu.Mat { return gpu.Dense(tw.b[s], stride) }

// view is a column slice of a twin: columns [off, off+...) of rows of stride.
func (tw *twin) view(s, stride, off int) gpu.Mat { return gpu.Cols(tw.b[s], stride, off) }

func (tw *twin) at(s int) gpu.Buffer {
	if tw == nil {
		return nil
	}
	return tw.b[s]
}

// floats allocates a float twin filled by gen (nil: zeros).
func (p *pair) floats(dt gpu.DType, n int, gen func(r *rand.Rand) float64) *twin {
	p.t.Helper()
	tw := &twin{dt: dt, n: n}
	data := make([]float32, n)
	if gen != nil {
		for i := range data {
			data[i] = float32(gen(p.rng))
		}
	}
	for s := range tw.b {
		b, err := p.be[s].Alloc(dt, n)
		if err != nil {
			p.t.Fatalf("%s: alloc %v[%d]: %v", p.be[s].Name(), dt, n, err)
		}
		if err := p.be[s].Write(b, 0, data); err != nil {
			p.t.Fatalf("%s: write: %v", p.be[s].Name(), err)
		}
		tw.b[s] = b
	}
	return tw
}

// ints allocates an I32 twin.
func (p *pair) ints(data []int32) *twin {
	p.t.Helper()
	tw := &twin{dt: gpu.I32, n: len(data)}
	for s := range tw.b {
		b, err := p.be[s].Alloc(gpu.I32, len(data))
		if err != nil {
			p.t.Fatalf("%s: alloc i32[%d]: %v", p.be[s].Name(), len(data), err)
		}
		if err := p.be[s].WriteInt32(b, 0, data); err != nil {
			p.t.Fatalf("%s: write: %v", p.be[s].Name(), err)
		}
		tw.b[s] = b
	}
	return tw
}

func normal(scale float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return r.NormFloat64() * scale }
}

func uniform(lo, hi float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }
}

// run calls op on both sides and fails the test on an error.
func (p *pair) run(name string, op func(s int, be gpu.Backend) error) {
	p.t.Helper()
	for s, be := range p.be {
		if err := op(s, be); err != nil {
			p.t.Fatalf("%s on %s: %v", name, be.Name(), err)
		}
	}
	if err := p.be[1].Sync(p.ctx); err != nil {
		p.t.Fatalf("%s on %s: sync: %v", name, p.be[1].Name(), err)
	}
}

// read returns a twin's contents on side s.
func (p *pair) read(tw *twin, s int) []float32 {
	p.t.Helper()
	out := make([]float32, tw.n)
	if err := p.be[s].Read(out, tw.b[s], 0); err != nil {
		p.t.Fatalf("%s: read: %v", p.be[s].Name(), err)
	}
	return out
}

// check compares a twin's two sides within tol and reports the worst element.
func (p *pair) check(name string, tw *twin, tol Tol) {
	p.t.Helper()
	want, got := p.read(tw, 0), p.read(tw, 1)
	if err := Compare(got, want, tol); err != nil {
		p.t.Errorf("%s (%v[%d]): %v", name, tw.dt, tw.n, err)
	}
}

// Compare checks got against want within tol. It fails on NaN or Inf in
// either, on any element outside tolerance, and reports the worst one.
func Compare(got, want []float32, tol Tol) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	var maxAbs float64
	for _, w := range want {
		if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("reference holds %v", w)
		}
		maxAbs = math.Max(maxAbs, math.Abs(float64(w)))
	}
	worst, wi, bad := 0.0, -1, 0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return fmt.Errorf("element %d is %v, want %v", i, g, w)
		}
		lim := tol.Atol*maxAbs + tol.Rtol*math.Abs(w)
		if lim == 0 {
			lim = 1e-30
		}
		r := math.Abs(g-w) / lim
		if r > 1 {
			bad++
		}
		if r > worst {
			worst, wi = r, i
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements outside tolerance %+v; worst [%d]: got %v want %v (%.3gx the limit; max|want| %.3g)",
			bad, len(got), tol, wi, got[wi], want[wi], worst, maxAbs)
	}
	return nil
}

func tolFor(dts ...gpu.DType) Tol {
	for _, d := range dts {
		if d == gpu.BF16 {
			return TolBF16
		}
	}
	return TolF32
}

func scanTol(dts ...gpu.DType) Tol {
	t := tolFor(dts...)
	if t == TolF32 {
		return TolScan
	}
	return t
}
