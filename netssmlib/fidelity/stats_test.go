package fidelity

import (
	"encoding/json"
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-4 }

func TestJSD(t *testing.T) {
	for _, tc := range []struct {
		name string
		p, q []float64
		want float64
	}{
		// Identical distributions: 0.
		{"same", []float64{1, 2, 3}, []float64{2, 4, 6}, 0},
		// Disjoint supports: M = (1/2, 1/2); KL(P||M) = log2(1/(1/2)) = 1,
		// likewise for Q, so JSD = 1.
		{"disjoint", []float64{1, 0}, []float64{0, 1}, 1},
		// P = (1/2, 1/2), Q = (1, 0): M = (3/4, 1/4).
		// KL(P||M) = 1/2 log2(2/3) + 1/2 log2(2) = 1/2(-0.584963) + 1/2 = 0.207519
		// KL(Q||M) = log2(4/3) = 0.415037
		// JSD = (0.207519 + 0.415037) / 2 = 0.311278
		{"half", []float64{1, 1}, []float64{1, 0}, 0.311278},
		// P = (1/4, 3/4), Q = (3/4, 1/4): M = (1/2, 1/2).
		// KL(P||M) = 1/4 log2(1/2) + 3/4 log2(3/2) = -0.25 + 0.438722 = 0.188722
		// KL(Q||M) is the same by symmetry, so JSD = 0.188722.
		{"swap", []float64{1, 3}, []float64{3, 1}, 0.188722},
	} {
		if got := JSD(tc.p, tc.q); !near(got, tc.want) {
			t.Errorf("%s: JSD = %.6f, want %.6f", tc.name, got, tc.want)
		}
		if got := JSD(tc.q, tc.p); !near(got, tc.want) {
			t.Errorf("%s: JSD not symmetric: %.6f", tc.name, got)
		}
	}
	if !math.IsNaN(JSD([]float64{0, 0}, []float64{1, 0})) || !math.IsNaN(JSD([]float64{1}, []float64{1, 0})) {
		t.Error("JSD of an empty histogram or mismatched lengths is not NaN")
	}
	// The sparse form agrees with the dense one on the "half" case.
	if got := jsd(map[string]int{"a": 5, "b": 5}, map[string]int{"a": 7}); !near(got, 0.311278) {
		t.Errorf("sparse jsd = %.6f", got)
	}
}

func TestEMD(t *testing.T) {
	for _, tc := range []struct {
		name string
		p, q map[int]int
		want float64
	}{
		// Every unit of mass moves by 1.
		{"shift", map[int]int{0: 1, 1: 1}, map[int]int{1: 1, 2: 1}, 1},
		// {0} vs {0, 10} half each: half the mass moves 10 -> 5.
		{"split", map[int]int{0: 3}, map[int]int{0: 1, 10: 1}, 5},
		// Point masses at 40 and 1500: the distance is 1460 bytes.
		{"points", map[int]int{40: 2}, map[int]int{1500: 9}, 1460},
		// {1,2,3} vs {1,1,4} (each 1/3): matching sorted samples
		// (1,1), (2,1), (3,4) moves 0+1+1 = 2 units of 1/3 mass: 2/3.
		// (CDFs: 1/3 vs 2/3 on [1,2), 2/3 vs 2/3 on [2,3), 1 vs 2/3 on [3,4).)
		{"mixed", map[int]int{1: 1, 2: 1, 3: 1}, map[int]int{1: 2, 4: 1}, 2.0 / 3},
	} {
		if got := EMD(tc.p, tc.q); !near(got, tc.want) {
			t.Errorf("%s: EMD = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !math.IsNaN(EMD(nil, map[int]int{1: 1})) {
		t.Error("EMD with an empty side is not NaN")
	}
}

func TestNumJSON(t *testing.T) {
	b, _ := json.Marshal([]Num{Num(math.NaN()), 0.5, Num(math.Inf(1))})
	if string(b) != "[null,0.5,null]" {
		t.Errorf("got %s", b)
	}
	var n []Num
	if err := json.Unmarshal(b, &n); err != nil || !math.IsNaN(float64(n[0])) || n[1] != 0.5 {
		t.Errorf("round trip: %v %v", n, err)
	}
}
