package train

import (
	"math"
	"testing"
)

func TestAdamWFirstStepIsSignTimesLR(t *testing.T) {
	// After one step the bias-corrected m/sqrt(v) is g/|g|: every weight
	// moves by lr against its gradient's sign, whatever the magnitude.
	p := [][]float32{{1, 1, 1, 1}}
	g := [][]float32{{3, -1e-3, 200, -7}}
	o := NewAdamW([]int{4}, 0)
	o.Update(0.01, p, g)
	want := []float32{0.99, 1.01, 0.99, 1.01}
	for i := range want {
		if math.Abs(float64(p[0][i]-want[i])) > 1e-5 {
			t.Errorf("p[%d] = %v, want %v", i, p[0][i], want[i])
		}
	}
}

func TestAdamWMatchesReference(t *testing.T) {
	// A float64 transcription of torch.optim.AdamW's documented algorithm.
	const n = 5
	lrs := []float64{1e-3, 8e-4, 6e-4, 4e-4, 2e-4}
	p32 := [][]float32{{0.5, -0.3, 0.1, 2, -1}}
	p64 := []float64{0.5, -0.3, 0.1, 2, -1}
	m64, v64 := make([]float64, n), make([]float64, n)
	o := NewAdamW([]int{n}, 0.01)
	for step, lr := range lrs {
		g := make([]float32, n)
		for j := range g {
			g[j] = float32(math.Sin(float64(step*n+j)) * 0.1)
		}
		o.Update(lr, p32, [][]float32{g})
		tt := float64(step + 1)
		for j := range p64 {
			gj := float64(g[j])
			p64[j] *= 1 - lr*0.01
			m64[j] = 0.9*m64[j] + 0.1*gj
			v64[j] = 0.999*v64[j] + 0.001*gj*gj
			mh := m64[j] / (1 - math.Pow(0.9, tt))
			vh := v64[j] / (1 - math.Pow(0.999, tt))
			p64[j] -= lr * mh / (math.Sqrt(vh) + 1e-8)
		}
	}
	for j := range p64 {
		if math.Abs(float64(p32[0][j])-p64[j]) > 1e-6 {
			t.Errorf("p[%d] = %v, reference %v", j, p32[0][j], p64[j])
		}
	}
	if o.Steps != len(lrs) {
		t.Errorf("Steps = %d", o.Steps)
	}
}

func TestLinearLR(t *testing.T) {
	cases := []struct {
		step, total int
		want        float64
	}{{0, 4, 1}, {1, 4, 0.75}, {3, 4, 0.25}, {4, 4, 0}, {9, 4, 0}}
	for _, c := range cases {
		if got := LinearLR(1, c.step, c.total); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("LinearLR(step %d of %d) = %v, want %v", c.step, c.total, got, c.want)
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	g := [][]float32{{3}, {4}} // norm 5
	if n := ClipGradNorm(g, 1); math.Abs(n-5) > 1e-9 {
		t.Errorf("norm = %v", n)
	}
	if got := GradNorm(g); math.Abs(got-1) > 1e-5 {
		t.Errorf("clipped norm = %v, want 1", got)
	}
	small := [][]float32{{0.3}, {0.4}}
	ClipGradNorm(small, 1)
	if small[0][0] != 0.3 || small[1][0] != 0.4 {
		t.Errorf("gradients under the limit were scaled: %v", small)
	}
}
