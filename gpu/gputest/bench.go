package gputest

import (
	"context"
	"math/rand"
	"testing"
	"time"

	"github.com/netssm/netssm/gpu"
)

// BenchTrain measures Model.TrainStep (forward, backward, clip, AdamW) of cfg
// on one sequence of T tokens on be, after one warm-up step, and reports
// tokens/s. used, when not nil, returns the device memory in use (bytes); the
// benchmark then reports the growth over the run as "GiB".
func BenchTrain(b *testing.B, be gpu.Backend, cfg Config, T int, dt gpu.DType, used func() int64) {
	ctx := context.Background()
	var before int64
	if used != nil {
		before = used()
	}
	m, err := NewModel(be, cfg, T, dt, 1)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewSource(2))
	tokens := make([]int32, T+1)
	for i := range tokens {
		tokens[i] = int32(r.Intn(cfg.V))
	}
	if _, err := m.TrainStep(ctx, tokens, 1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := m.TrainStep(ctx, tokens, i+2); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(T*b.N)/time.Since(start).Seconds(), "tokens/s")
	if used != nil {
		b.ReportMetric(float64(used()-before)/(1<<30), "GiB")
	}
}

// BenchDecode measures one decode step for batch sequences followed by a
// device sync (what generation does before sampling), and reports tokens/s.
// capture, when not nil, turns the step into a replayable launch (a CUDA
// graph); otherwise each op is launched separately.
func BenchDecode(b *testing.B, be gpu.Backend, cfg Config, batch int, dt gpu.DType, capture func(step func() error) (func() error, error)) {
	benchDecode(b, be, cfg, batch, dt, capture, false)
}

func benchDecode(b *testing.B, be gpu.Backend, cfg Config, batch int, dt gpu.DType, capture func(step func() error) (func() error, error), unfused bool) {
	ctx := context.Background()
	m, err := NewModel(be, cfg, 1, dt, 1)
	if err != nil {
		b.Fatal(err)
	}
	d, err := NewDecoder(m, batch)
	if err != nil {
		b.Fatal(err)
	}
	d.Unfused = unfused
	ids := make([]int32, batch)
	for i := range ids {
		ids[i] = int32(i % cfg.V)
	}
	if err := d.SetTokens(ids); err != nil {
		b.Fatal(err)
	}
	step := func() error { return d.Step(ctx) }
	if capture != nil {
		if step, err = capture(step); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ { // warm-up
		if err := step(); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := step(); err != nil {
			b.Fatal(err)
		}
		if err := be.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/time.Since(start).Seconds(), "tokens/s")
}
