package mamba

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/checkpoint"
)

// loadTiny loads the shared mamba-ssm fixture: model, ids and mamba-ssm's logits.
func loadTiny(t *testing.T) (*Model, []int32, []float32) {
	t.Helper()
	dir, ids, want := testenv.TinyMamba2(t)
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

// TestStepPrefillMatchChunked checks that token-by-token step mode, prefill
// then step, and the chunked forward pass give the same logits.
func TestStepPrefillMatchChunked(t *testing.T) {
	m, ids, _ := loadTiny(t)
	ctx := context.Background()
	ids = ids[:150] // crosses several 32-token chunks
	want, err := m.Forward(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.PaddedVocab()
	// Batch of 2: row 0 steps from the start; row 1 steps over junk, is then
	// prefilled with the first 70 tokens (which resets it) and steps on.
	st := m.NewState(2)
	const pre = 70
	check := func(what string, tt int, got []float32) {
		t.Helper()
		var d float64
		for v := 0; v < V; v++ {
			d = math.Max(d, math.Abs(float64(got[v]-want[tt*V+v])))
		}
		if d > 1e-5 {
			t.Fatalf("%s at position %d: max diff %.3g from the chunked forward", what, tt, d)
		}
	}
	logits := make([]float32, 2*V)
	for tt := 0; tt < len(ids); tt++ {
		if tt == pre {
			first, err := m.Prefill(ctx, st, 1, ids[:pre])
			if err != nil {
				t.Fatal(err)
			}
			check("prefill", pre-1, first)
		}
		tok := []int32{ids[tt], ids[len(ids)-1-tt]}
		if tt >= pre {
			tok[1] = ids[tt]
		}
		if err := m.Step(st, tok, logits); err != nil {
			t.Fatal(err)
		}
		check("step row 0", tt, logits[:V])
		if tt >= pre {
			check("prefill+step row 1", tt, logits[V:])
		}
	}
}

// TestChunkSizeInvariance: the chunk size is a computational choice; the
// logits must not depend on it (nor agree only for the fixture's shapes).
func TestChunkSizeInvariance(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DModel, cfg.NLayer, cfg.VocabSize = 64, 2, 40
	cfg.SSMCfg.DState, cfg.SSMCfg.HeadDim, cfg.SSMCfg.NGroups = 32, 16, 2
	ids := randIDs(rand.New(rand.NewPCG(8, 8)), 300, 40)
	var ref []float32
	for _, q := range []int{256, 64, 17, 1} {
		cfg.SSMCfg.ChunkSize = q
		m, err := New(cfg, 21)
		if err != nil {
			t.Fatal(err)
		}
		perturb(m, 22)
		got, err := m.Forward(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = got
			continue
		}
		var d float64
		for i := range got {
			d = math.Max(d, math.Abs(float64(got[i]-ref[i])))
		}
		if d > 2e-5 {
			t.Errorf("chunk_size %d: logits differ from chunk_size 256 by %.3g", q, d)
		}
	}
}

// TestStepMatchesChunkedShapes repeats the step/chunked comparison for
// shapes the fixture lacks: two groups, d_conv 2 and 1, a chunk of 8.
func TestStepMatchesChunkedShapes(t *testing.T) {
	for _, k := range []int{2, 1} {
		cfg := tinyConfig()
		cfg.SSMCfg.DConv, cfg.SSMCfg.ChunkSize = k, 8
		m, err := New(cfg, 31)
		if err != nil {
			t.Fatal(err)
		}
		perturb(m, 32)
		ids := randIDs(rand.New(rand.NewPCG(9, 9)), 37, cfg.VocabSize)
		ctx := context.Background()
		want, err := m.Forward(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		V := cfg.PaddedVocab()
		st := m.NewState(1)
		logits := make([]float32, V)
		for tt, id := range ids {
			if err := m.Step(st, []int32{id}, logits); err != nil {
				t.Fatal(err)
			}
			for v := 0; v < V; v++ {
				if d := math.Abs(float64(logits[v] - want[tt*V+v])); d > 1e-5 {
					t.Fatalf("d_conv %d, position %d: step differs from chunked by %.3g", k, tt, d)
				}
			}
		}
		last, err := m.Prefill(ctx, st, 0, ids)
		if err != nil {
			t.Fatal(err)
		}
		for v := 0; v < V; v++ {
			if d := math.Abs(float64(last[v] - want[(len(ids)-1)*V+v])); d > 1e-5 {
				t.Fatalf("d_conv %d: prefill differs from chunked by %.3g", k, d)
			}
		}
	}
}
