package mamba

import (
	"context"
	"math"
	"testing"

	"github.com/netssm/netssm/netssmlib/checkpoint"
)

func TestComputeBF16(t *testing.T) {
	m, ids, _ := loadTiny(t)
	ctx := context.Background()
	ids = ids[:100]
	f32, err := m.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetComputeDType(checkpoint.BF16); err != nil {
		t.Fatal(err)
	}
	bf, err := m.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var d float64
	for i := range bf {
		d = math.Max(d, math.Abs(float64(bf[i]-f32[i])))
	}
	// bf16 has 8 significant bits: the logits (|x| < 1) move by ~1e-3, not 0
	// and not by a lot.
	if d == 0 || d > 0.05 {
		t.Errorf("bf16 logits differ from fp32 by %.3g", d)
	}
	t.Logf("max |bf16 - fp32| = %.3g", d)
	// Step mode computes the same bf16 products (up to inputs that sit on a
	// bf16 rounding boundary and round the other way after fp32 noise).
	V := m.Config.PaddedVocab()
	st := m.NewState(1)
	logits := make([]float32, V)
	for tt, id := range ids {
		if err := m.Step(st, []int32{id}, logits); err != nil {
			t.Fatal(err)
		}
		for v := 0; v < V; v++ {
			if e := math.Abs(float64(logits[v] - bf[tt*V+v])); e > 1e-3 {
				t.Fatalf("bf16 step differs from bf16 chunked by %.3g at %d", e, tt)
			}
		}
	}
	if _, _, err := m.ForwardBackward(ctx, ids[:99], ids[1:]); err != nil {
		t.Fatal(err)
	}
	if m.ComputeDType() != checkpoint.BF16 {
		t.Error("ComputeDType is not BF16")
	}
	if err := m.SetComputeDType(checkpoint.F16); err == nil {
		t.Error("F16 compute accepted")
	}
	if err := m.SetComputeDType(checkpoint.F32); err != nil {
		t.Fatal(err)
	}
	back, _ := m.Forward(ctx, ids)
	for i := range back {
		if back[i] != f32[i] {
			t.Fatal("F32 after BF16 does not give the fp32 logits back")
		}
	}
}
