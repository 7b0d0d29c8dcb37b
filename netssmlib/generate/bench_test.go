package generate

import (
	"context"
	"testing"
	"time"

	"github.com/netssm/netssm/netssmlib/mamba"
)

// smallConfig is the config (a): d_model 256, 4 layers, d_state
// 64, headdim 32, with NetSSM's tokenizer size.
const smallConfig = `{"d_model": 256, "n_layer": 4, "vocab_size": 264,
	"ssm_cfg": {"layer": "Mamba2", "d_state": 64, "headdim": 32}, "pad_vocab_size_multiple": 16}`

func benchDecode(b *testing.B, batch int) {
	cfg, err := mamba.ParseConfig([]byte(smallConfig))
	if err != nil {
		b.Fatal(err)
	}
	m, err := mamba.New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultOptions()
	o.TopK, o.TopP, o.Temperature = 25, 0.9, 0.5
	req := Request{MaxTokens: b.N, EOS: -1, Pkt: -1, Options: o}
	for range batch {
		req.Prompts = append(req.Prompts, []int32{260})
	}
	b.ResetTimer()
	start := time.Now()
	if _, err := Generate(context.Background(), m, req); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "tok/s")
}

// go test -run X -bench Decode -benchtime 256x ./netssmlib/generate
func BenchmarkDecodeBatch1(b *testing.B) { benchDecode(b, 1) }
func BenchmarkDecodeBatch8(b *testing.B) { benchDecode(b, 8) }

// go test -run X -bench Sample ./netssmlib/generate
func BenchmarkSample(b *testing.B) {
	l := make([]float32, 272)
	for i := range l {
		l[i] = float32((i*37)%101) / 25
	}
	seen := make([]bool, 272)
	for i := 0; i < 272; i += 3 {
		seen[i] = true
	}
	s, err := NewSampler(Options{Temperature: 0.5, TopK: 25, TopP: 0.9, RepetitionPenalty: 1.8})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Sample(l, 264, seen); err != nil {
			b.Fatal(err)
		}
	}
}
