package mamba

import (
	"math"
	"testing"
)

func TestExpf(t *testing.T) {
	var worst float64
	for x := float32(-87); x < 88; x += 0.0013 {
		got, want := float64(expf(x)), math.Exp(float64(x))
		rel := math.Abs(got-want) / want
		worst = math.Max(worst, rel)
	}
	if worst > 3e-7 {
		t.Errorf("expf relative error %.3g", worst)
	}
	if expf(-100) != 0 || !math.IsInf(float64(expf(100)), 1) || expf(0) != 1 {
		t.Errorf("expf edges: %g %g %g", expf(-100), expf(100), expf(0))
	}
	if v := expf(float32(math.NaN())); v == v {
		t.Error("expf(NaN) is not NaN")
	}
}
