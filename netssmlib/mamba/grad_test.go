package mamba

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// tinyConfig exercises every shape parameter at small size: 2 groups,
// chunks of 4 with a partial last chunk, vocabulary padding.
func tinyConfig() Config {
	c := DefaultConfig()
	c.DModel, c.NLayer, c.VocabSize, c.PadVocabSizeMultiple = 16, 2, 21, 8
	c.SSMCfg.DState, c.SSMCfg.HeadDim, c.SSMCfg.NGroups, c.SSMCfg.ChunkSize = 4, 8, 2, 4
	return c
}

// perturb makes the freshly initialised weights less symmetric (norm
// weights of 1, D of 1) so that gradient checks see every term.
func perturb(m *Model, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range m.Params {
		for i := range p.Data {
			p.Data[i] += float32(rng.NormFloat64() * 0.1)
		}
	}
}

func randIDs(rng *rand.Rand, n, v int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(v))
	}
	return ids
}

// TestRefMatchesChunked checks the float64 reference against the chunked
// fp32 forward, so that the finite differences below test the right thing.
func TestRefMatchesChunked(t *testing.T) {
	m, err := New(tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m, 2)
	ids := randIDs(rand.New(rand.NewPCG(3, 3)), 11, 21)
	got, err := m.Forward(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.PaddedVocab()
	for tt, row := range newRef(m).logits(ids) {
		for v, want := range row {
			if d := math.Abs(float64(got[tt*V+v]) - want); d > 2e-5 {
				t.Fatalf("logit [%d,%d] = %g, reference %g", tt, v, got[tt*V+v], want)
			}
		}
	}
}

// TestGradientsFiniteDifference compares every parameter's analytic
// gradient with central differences of the float64 reference loss, for a
// tiny model with two groups, several chunks and ignored targets.
func TestGradientsFiniteDifference(t *testing.T) {
	for _, tc := range []struct {
		tie, recompute bool
	}{{true, false}, {false, true}} {
		tie := tc.tie
		old, oldPar := cacheAllBudget, ssdParallelMin
		if tc.recompute {
			cacheAllBudget = 0 // per-layer recomputation in the backward pass
			ssdParallelMin = 0 // heads on several goroutines even at this size
		}
		cfg := tinyConfig()
		cfg.TieEmbeddings = tie
		m, err := New(cfg, 4)
		if err != nil {
			t.Fatal(err)
		}
		perturb(m, 5)
		rng := rand.New(rand.NewPCG(6, 6))
		ids := randIDs(rng, 11, 21)
		targets := randIDs(rng, 11, 21)
		targets[3] = IgnoreIndex
		loss, n, err := m.ForwardBackward(context.Background(), ids, targets)
		cacheAllBudget, ssdParallelMin = old, oldPar
		if err != nil {
			t.Fatal(err)
		}
		if got := len(m.ws.caches); (got == 1) != tc.recompute {
			t.Fatalf("recompute=%v but the workspace holds %d layer caches", tc.recompute, got)
		}
		ref := newRef(m)
		if want := ref.loss(ids, targets); n != 10 || math.Abs(loss-want) > 1e-4 {
			t.Fatalf("loss %g over %d targets, reference %g over 10", loss, n, want)
		}
		const eps = 1e-5
		for _, p := range m.Params {
			vals := ref.p[p.Name]
			var num, den float64
			// Every element of small tensors, 48 random ones of larger ones.
			idx := rng.Perm(len(vals))[:min(len(vals), 48)]
			for _, i := range idx {
				old := vals[i]
				vals[i] = old + eps
				lp := ref.loss(ids, targets)
				vals[i] = old - eps
				lm := ref.loss(ids, targets)
				vals[i] = old
				fd := (lp - lm) / (2 * eps)
				num += (float64(p.Grad[i]) - fd) * (float64(p.Grad[i]) - fd)
				den += fd * fd
			}
			rel := math.Sqrt(num / math.Max(den, 1e-30))
			if rel > 1e-4 || den == 0 {
				t.Errorf("tie=%v %s: relative gradient error %.3g (|fd| = %.3g)", tie, p.Name, rel, math.Sqrt(den))
			} else {
				t.Logf("tie=%v %s: relative error %.2g", tie, p.Name, rel)
			}
		}
	}
}
