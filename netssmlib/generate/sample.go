package generate

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Options are NetSSM's sampling options (mamba-ssm's generate arguments).
type Options struct {
	// Temperature divides the logits of the candidates (1: unchanged).
	// 0 means greedy.
	Temperature float32
	// TopK keeps the K most likely tokens; 1 is greedy decoding (NetSSM's
	// default) and 0 keeps the whole vocabulary.
	TopK int
	// TopP keeps the smallest set of candidates whose probability reaches
	// TopP (0 or 1: off).
	TopP float32
	// MinP drops candidates whose probability is below MinP times the
	// most likely one's (0: off).
	MinP float32
	// RepetitionPenalty is CTRL's penalty on every token already in the
	// sequence, prompt included: positive logits are divided by it,
	// negative ones multiplied (1: off).
	RepetitionPenalty float32
	// Seed seeds the sampler's random numbers.
	Seed uint64
}

// DefaultOptions is NetSSM's default: greedy decoding.
func DefaultOptions() Options {
	return Options{Temperature: 1, TopK: 1, RepetitionPenalty: 1}
}

// Validate reports options that make no sense.
func (o Options) Validate() error {
	switch {
	case o.Temperature < 0 || math.IsNaN(float64(o.Temperature)):
		return fmt.Errorf("temperature %v must be >= 0", o.Temperature)
	case o.TopK < 0:
		return fmt.Errorf("top-k %d must be >= 0 (0 keeps every token, 1 is greedy)", o.TopK)
	case o.TopP < 0 || o.TopP > 1 || math.IsNaN(float64(o.TopP)):
		return fmt.Errorf("top-p %v must be in [0, 1]", o.TopP)
	case o.MinP < 0 || o.MinP >= 1 || math.IsNaN(float64(o.MinP)):
		return fmt.Errorf("min-p %v must be in [0, 1)", o.MinP)
	case !(o.RepetitionPenalty > 0):
		return fmt.Errorf("repetition penalty %v must be > 0", o.RepetitionPenalty)
	}
	return nil
}

// Sampler picks tokens from logits with Options. It owns its buffers and
// random source; use one per goroutine.
type Sampler struct {
	opts   Options
	rng    *rand.Rand
	logits []float32
	idx    []int
	probs  []float64
}

// NewSampler returns a sampler for opts.
func NewSampler(opts Options) (*Sampler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Sampler{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x6e657473736d))}, nil
}

// Sample returns the next token for one row of logits. Only the first
// vocab logits are candidates (the model's padded rows are not tokens).
// seen marks the tokens already in the sequence (for the repetition
// penalty); it may be nil when the penalty is off.
//
// The order follows mamba-ssm's decode/sample: repetition penalty on the
// raw logits; top-k == 1 is argmax; otherwise top-k, then temperature,
// then top-p (sorted ascending, dropping tokens whose cumulative
// probability is <= 1-top_p), then min-p, then a multinomial draw.
func (s *Sampler) Sample(logits []float32, vocab int, seen []bool) (int32, error) {
	if vocab <= 0 || vocab > len(logits) {
		return 0, fmt.Errorf("vocabulary %d does not fit %d logits", vocab, len(logits))
	}
	o := s.opts
	l := append(s.logits[:0], logits[:vocab]...)
	s.logits = l
	if o.RepetitionPenalty != 1 {
		for tok, was := range seen {
			if was && tok < vocab {
				if l[tok] < 0 {
					l[tok] *= o.RepetitionPenalty
				} else {
					l[tok] /= o.RepetitionPenalty
				}
			}
		}
	}
	for _, v := range l {
		if math.IsNaN(float64(v)) {
			return 0, errors.New("logits contain NaN")
		}
	}
	if o.TopK == 1 || o.Temperature == 0 {
		best := 0
		for i, v := range l {
			if v > l[best] {
				best = i
			}
		}
		return int32(best), nil
	}
	// Candidates in decreasing logit order (ties: lower id first, a total
	// order, so the result does not depend on the sort algorithm). Plain
	// sampling over the whole vocabulary needs no order.
	better := func(a, b int) bool { return l[a] > l[b] || (l[a] == l[b] && a < b) }
	idx := s.idx[:0]
	filter := (o.TopK > 0 && o.TopK < len(l)) || (o.TopP > 0 && o.TopP < 1) || o.MinP > 0
	switch {
	case o.TopK > 0 && o.TopK <= 64 && o.TopK < len(l):
		// Partial selection: insert into a sorted list of the best k.
		for i := range l {
			if len(idx) == o.TopK && !better(i, idx[len(idx)-1]) {
				continue
			}
			if len(idx) < o.TopK {
				idx = append(idx, i)
			} else {
				idx[len(idx)-1] = i
			}
			for j := len(idx) - 1; j > 0 && better(idx[j], idx[j-1]); j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
			}
		}
	case filter:
		for i := range l {
			idx = append(idx, i)
		}
		slices.SortFunc(idx, func(a, b int) int {
			if c := cmp.Compare(l[b], l[a]); c != 0 {
				return c
			}
			return a - b
		})
		if o.TopK > 0 && o.TopK < len(idx) {
			idx = idx[:o.TopK]
		}
	default:
		// Whole vocabulary: the softmax below subtracts the first
		// candidate's logit, so put the largest first, for stability.
		best := 0
		for i := range l {
			idx = append(idx, i)
			if l[i] > l[best] {
				best = i
			}
		}
		idx[0], idx[best] = idx[best], idx[0]
	}
	s.idx = idx
	// Temperature, then softmax over the candidates.
	inv := 1.0
	if o.Temperature != 1 {
		inv = 1 / float64(o.Temperature)
	}
	probs := s.probs[:0]
	maxv := float64(l[idx[0]]) * inv
	var sum float64
	for _, i := range idx {
		p := math.Exp(float64(l[i])*inv - maxv)
		probs = append(probs, p)
		sum += p
	}
	s.probs = probs
	for k := range probs {
		probs[k] /= sum
	}
	keep := len(idx)
	if o.TopP > 0 && o.TopP < 1 {
		// Walk from the least likely up: drop while the cumulative mass of
		// the dropped tail stays <= 1-top_p. The most likely candidate is
		// always kept.
		var cum float64
		for keep > 1 {
			cum += probs[keep-1]
			if cum > 1-float64(o.TopP) {
				break
			}
			keep--
		}
	}
	if o.MinP > 0 {
		thr := probs[0] * float64(o.MinP)
		for keep > 1 && probs[keep-1] < thr {
			keep--
		}
	}
	var total float64
	for _, p := range probs[:keep] {
		total += p
	}
	u := s.rng.Float64() * total
	for k, p := range probs[:keep] {
		u -= p
		if u < 0 {
			return int32(idx[k]), nil
		}
	}
	return int32(idx[keep-1]), nil
}
