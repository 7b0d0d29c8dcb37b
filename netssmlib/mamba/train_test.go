package mamba

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// adam is a minimal Adam for the test (the real optimizer lives in train).
type adam struct {
	m, v [][]float32
	step int
}

func (o *adam) update(params []*Param, lr float64) {
	if o.m == nil {
		for _, p := range params {
			o.m = append(o.m, make([]float32, len(p.Data)))
			o.v = append(o.v, make([]float32, len(p.Data)))
		}
	}
	o.step++
	b1, b2 := 0.9, 0.999
	c1, c2 := 1-math.Pow(b1, float64(o.step)), 1-math.Pow(b2, float64(o.step))
	for i, p := range params {
		for j, g := range p.Grad {
			o.m[i][j] = float32(b1)*o.m[i][j] + float32(1-b1)*g
			o.v[i][j] = float32(b2)*o.v[i][j] + float32(1-b2)*g*g
			mh, vh := float64(o.m[i][j])/c1, float64(o.v[i][j])/c2
			p.Data[j] -= float32(lr * mh / (math.Sqrt(vh) + 1e-8))
		}
	}
}

// TestTinyModelLearns trains a tiny model on sequences made of one of four
// fixed 12-token patterns repeated four times. The unigram entropy of the
// data is about 2.9 nats; a model that uses the context predicts everything
// after the first token of each sequence.
func TestTinyModelLearns(t *testing.T) {
	cfg := tinyConfig()
	cfg.NLayer = 2
	cfg.SSMCfg.ChunkSize = 16
	m, err := New(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(12, 12))
	var seqs [][]int32
	counts := make([]float64, cfg.VocabSize)
	var total float64
	for k := 0; k < 4; k++ {
		pat := randIDs(rng, 12, cfg.VocabSize)
		pat[0] = int32(k) // the first token tells the patterns apart
		var seq []int32
		for range 4 {
			seq = append(seq, pat...)
		}
		seqs = append(seqs, seq)
		for _, id := range seq[1:] {
			counts[id]++
			total++
		}
	}
	var unigram float64
	for _, c := range counts {
		if c > 0 {
			unigram -= c / total * math.Log(c/total)
		}
	}
	ctx := context.Background()
	opt := &adam{}
	var loss float64
	const steps = 80
	for step := 0; step < steps; step++ {
		m.ZeroGrad()
		var sum float64
		var n int
		for _, seq := range seqs {
			l, c, err := m.ForwardBackward(ctx, seq[:len(seq)-1], seq[1:])
			if err != nil {
				t.Fatal(err)
			}
			sum += l
			n += c
		}
		for _, p := range m.Params {
			for j := range p.Grad {
				p.Grad[j] /= float32(n)
			}
		}
		opt.update(m.Params, 1e-2)
		loss = sum / float64(n)
	}
	t.Logf("unigram entropy %.3f nats, loss after %d steps %.3f", unigram, steps, loss)
	if loss > 0.15*unigram {
		t.Errorf("loss %.3f is not far below the unigram entropy %.3f", loss, unigram)
	}
}
