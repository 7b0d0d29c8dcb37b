package mamba

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/checkpoint"
)

// loadTiny loads the shared mamba-ssm fixture: model, ids and mamba-ssm's logits.
func loadTiny(t *testing.T) (*Model, []int32, []float32) {
	t.Helper()
	dir := testenv.Shared(t, "fixtures/tiny-mamba2")
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := checkpoint.ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromStateDict(cfg, sd)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(dir, "ids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	for _, f := range strings.Fields(string(text)) {
		v, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("ids.txt: %v", err)
		}
		ids = append(ids, int32(v))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "logits_mamba_ssm.f32"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(raw)/4)
	for i := range want {
		want[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	if len(want) != len(ids)*cfg.PaddedVocab() {
		t.Fatalf("logits file has %d values, want %d x %d", len(want), len(ids), cfg.PaddedVocab())
	}
	return m, ids, want
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestParityMambaSSM compares the chunked forward pass with the logits
// mamba-ssm (Triton, TF32) computed for the same checkpoint and ids.
func TestParityMambaSSM(t *testing.T) {
	m, ids, want := loadTiny(t)
	got, err := m.Forward(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.PaddedVocab()
	var maxDiff float64
	for i := range want {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("max |logit - mamba-ssm| = %.3g over %d x %d", maxDiff, len(ids), V)
	if maxDiff > 5e-4 {
		t.Errorf("max abs diff %.3g > 5e-4", maxDiff)
	}
	for tt := range ids {
		if a, b := argmax(got[tt*V:(tt+1)*V]), argmax(want[tt*V:(tt+1)*V]); a != b {
			t.Errorf("position %d: argmax %d, mamba-ssm %d", tt, a, b)
		}
	}
}
