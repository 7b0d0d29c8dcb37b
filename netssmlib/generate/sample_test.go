package generate

import (
	"math"
	"testing"
)

// logitsFor returns logits whose softmax is probs.
func logitsFor(probs ...float64) []float32 {
	l := make([]float32, len(probs))
	for i, p := range probs {
		l[i] = float32(math.Log(p))
	}
	return l
}

func counts(t *testing.T, opts Options, logits []float32, vocab int, seen []bool, n int) []int {
	t.Helper()
	s, err := NewSampler(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := make([]int, len(logits))
	for i := 0; i < n; i++ {
		tok, err := s.Sample(logits, vocab, seen)
		if err != nil {
			t.Fatal(err)
		}
		c[tok]++
	}
	return c
}

func TestGreedy(t *testing.T) {
	l := []float32{0.1, 3, -2, 2.9, 7} // index 4 is a padded row
	c := counts(t, DefaultOptions(), l, 4, nil, 20)
	if c[1] != 20 {
		t.Errorf("greedy counts %v, want all on token 1 (the padded row 4 is not a token)", c)
	}
	// Temperature 0 is greedy whatever top-k says.
	o := DefaultOptions()
	o.TopK, o.Temperature = 0, 0
	if c := counts(t, o, l, 4, nil, 20); c[1] != 20 {
		t.Errorf("temperature 0: %v", c)
	}
}

func TestTopK(t *testing.T) {
	l := logitsFor(0.4, 0.1, 0.3, 0.2)
	o := DefaultOptions()
	o.TopK = 2
	c := counts(t, o, l, 4, nil, 4000)
	if c[1] != 0 || c[3] != 0 {
		t.Fatalf("top-2 sampled outside {0,2}: %v", c)
	}
	// Renormalised: 0.4/0.7 and 0.3/0.7.
	if f := float64(c[0]) / 4000; math.Abs(f-4.0/7) > 0.03 {
		t.Errorf("token 0 frequency %.3f, want %.3f", f, 4.0/7)
	}
}

func TestTopP(t *testing.T) {
	l := logitsFor(0.5, 0.3, 0.15, 0.05)
	o := DefaultOptions()
	o.TopK, o.TopP = 0, 0.75
	// Ascending cumulative mass: 0.05, 0.20, 0.50, 1: tokens with mass <=
	// 0.25 (3 and 2) go.
	c := counts(t, o, l, 4, nil, 4000)
	if c[2] != 0 || c[3] != 0 || c[0] == 0 || c[1] == 0 {
		t.Errorf("top-p 0.75 counts %v, want only tokens 0 and 1", c)
	}
	if f := float64(c[0]) / 4000; math.Abs(f-0.5/0.8) > 0.03 {
		t.Errorf("token 0 frequency %.3f, want %.3f", f, 0.5/0.8)
	}
	// Within top-k: top-k 3 renormalises to .526/.316/.158; top-p 0.7
	// drops the tail .158 (<= .3) only.
	o.TopK, o.TopP = 3, 0.7
	c = counts(t, o, l, 4, nil, 2000)
	if c[2] != 0 || c[3] != 0 {
		t.Errorf("top-k 3 + top-p 0.7 counts %v", c)
	}
}

func TestMinP(t *testing.T) {
	l := logitsFor(0.05, 0.5, 0.3, 0.15)
	o := DefaultOptions()
	o.TopK, o.MinP = 0, 0.2 // threshold 0.1: token 0 goes
	c := counts(t, o, l, 4, nil, 4000)
	if c[0] != 0 || c[1] == 0 || c[2] == 0 || c[3] == 0 {
		t.Errorf("min-p 0.2 counts %v, want tokens 1..3 only", c)
	}
}

func TestTemperature(t *testing.T) {
	l := logitsFor(0.6, 0.3, 0.1)
	o := DefaultOptions()
	o.TopK, o.Temperature = 0, 1e-3
	if c := counts(t, o, l, 3, nil, 500); c[0] != 500 {
		t.Errorf("cold temperature: %v", c)
	}
	o.Temperature = 1000 // nearly uniform
	c := counts(t, o, l, 3, nil, 6000)
	for tok, n := range c {
		if math.Abs(float64(n)/6000-1.0/3) > 0.03 {
			t.Errorf("hot temperature: token %d frequency %.3f (counts %v)", tok, float64(n)/6000, c)
		}
	}
}

func TestRepetitionPenalty(t *testing.T) {
	l := []float32{2, 1.9, -1, -1.1}
	o := DefaultOptions()
	o.RepetitionPenalty = 1.8
	seen := []bool{true, false, false, false}
	// 2/1.8 = 1.11 < 1.9: greedy moves to token 1.
	if c := counts(t, o, l, 4, seen, 1); c[1] != 1 {
		t.Errorf("positive logit not divided: %v", c)
	}
	// Negative logits are multiplied: among {2,3} with 0,1 penalised away.
	l2 := []float32{-5, -5, -1, -1.1}
	seen2 := []bool{false, false, true, false}
	if c := counts(t, o, l2, 4, seen2, 1); c[3] != 1 {
		t.Errorf("negative logit not multiplied: %v", c)
	}
	// The input logits are not modified.
	if l[0] != 2 || l2[2] != -1 {
		t.Error("Sample modified its input")
	}
}

func TestSeedDeterminism(t *testing.T) {
	l := logitsFor(0.25, 0.25, 0.25, 0.25)
	o := DefaultOptions()
	o.TopK, o.Seed = 0, 42
	a := counts(t, o, l, 4, nil, 100)
	b := counts(t, o, l, 4, nil, 100)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different draws: %v vs %v", a, b)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := []Options{
		{Temperature: -1, RepetitionPenalty: 1},
		{Temperature: 1, TopK: -1, RepetitionPenalty: 1},
		{Temperature: 1, TopP: 1.5, RepetitionPenalty: 1},
		{Temperature: 1, MinP: 1, RepetitionPenalty: 1},
		{Temperature: 1, RepetitionPenalty: 0},
	}
	for _, o := range bad {
		if _, err := NewSampler(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	s, _ := NewSampler(DefaultOptions())
	if _, err := s.Sample([]float32{1, float32(math.NaN())}, 2, nil); err == nil {
		t.Error("NaN logits accepted")
	}
	if _, err := s.Sample([]float32{1}, 2, nil); err == nil {
		t.Error("vocab larger than logits accepted")
	}
}

func TestTopKTiesAndLargeK(t *testing.T) {
	o := DefaultOptions()
	o.TopK = 2
	flat := make([]float32, 10) // all tied: the lowest ids win
	c := counts(t, o, flat, 10, nil, 400)
	if c[0] == 0 || c[1] == 0 || c[0]+c[1] != 400 {
		t.Errorf("tied top-2 counts %v, want ids 0 and 1 only", c)
	}
	// k above the partial-selection limit takes the sorting path: the
	// same set must come out.
	l := make([]float32, 100)
	for i := range l {
		l[i] = float32((i * 37) % 100) // a permutation of 0..99
	}
	o.TopK, o.Temperature = 70, 100
	c = counts(t, o, l, 100, nil, 5000)
	for i, n := range c {
		if inTop := l[i] >= 30; inTop != (n > 0) {
			t.Fatalf("token %d (logit %v) sampled %d times with top-70", i, l[i], n)
		}
	}
}
