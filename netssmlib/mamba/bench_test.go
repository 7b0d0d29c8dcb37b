package mamba

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. Benchmarks report CPU
// seconds per token besides wall time, since the shared 2-core machine is
// often oversubscribed and wall time then says little about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// smallConfig is the config (a): d_model 256, 4 layers, d_state 64,
// headdim 32, NetSSM's vocabulary padded to 272.
func smallConfig() Config {
	c := DefaultConfig()
	c.DModel, c.NLayer, c.VocabSize = 256, 4, 261
	c.SSMCfg.DState, c.SSMCfg.HeadDim = 64, 32
	return c
}

// netssmConfig is NetSSM's default model, config (b).
func netssmConfig() Config {
	c := DefaultConfig()
	c.VocabSize = 261
	return c
}

// projFLOPsPerToken is the multiply-add work of the projections and LM head
// for one token's forward pass, in FLOPs (2 per multiply-add).
func projFLOPsPerToken(c Config) float64 {
	per := c.DInProj()*c.DModel + c.DModel*c.DInner()
	return 2 * float64(c.NLayer*per+c.PaddedVocab()*c.DModel)
}

// ssdFLOPsPerToken estimates the chunked scan's work per token (forward).
func ssdFLOPsPerToken(c Config) float64 {
	s := c.SSMCfg
	Q, N, P, H, G := float64(s.ChunkSize), float64(s.DState), float64(s.HeadDim), float64(c.NHeads()), float64(s.NGroups)
	return 2 * float64(c.NLayer) * (G*Q*N + H*(Q*P+3*N*P))
}

func benchTrain(b *testing.B, cfg Config, T int) {
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	ids := randIDs(rng, T+1, cfg.VocabSize)
	ctx := context.Background()
	m.ZeroGrad()
	if _, _, err := m.ForwardBackward(ctx, ids[:T], ids[1:]); err != nil { // allocate the workspace
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		if _, _, err := m.ForwardBackward(ctx, ids[:T], ids[1:]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(T)*float64(b.N)/(cpuTime()-c0).Seconds(), "tokens/cpu-s")
	tok := float64(T) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(tok, "tokens/s")
	// Forward, backward (2x), and the recomputed forward when layers are not all cached.
	passes := 3.0
	if len(m.ws.caches) != cfg.NLayer {
		passes = 4
	}
	b.ReportMetric(tok*passes*(projFLOPsPerToken(cfg)+ssdFLOPsPerToken(cfg))/1e9, "GFLOP/s")
}

func benchForward(b *testing.B, cfg Config, T int) {
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	ids := randIDs(rand.New(rand.NewPCG(1, 1)), T, cfg.VocabSize)
	ctx := context.Background()
	if _, err := m.Forward(ctx, ids); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		if _, err := m.Forward(ctx, ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(T)*float64(b.N)/(cpuTime()-c0).Seconds(), "tokens/cpu-s")
	tok := float64(T) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(tok, "tokens/s")
	b.ReportMetric(tok*(projFLOPsPerToken(cfg)+ssdFLOPsPerToken(cfg))/1e9, "GFLOP/s")
}

func benchDecode(b *testing.B, cfg Config, batch int) {
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	st := m.NewState(batch)
	logits := make([]float32, batch*cfg.PaddedVocab())
	tokens := make([]int32, batch)
	b.ResetTimer()
	c0 := cpuTime()
	defer func() {
		b.ReportMetric(float64(batch)*float64(b.N)/(cpuTime()-c0).Seconds(), "tokens/cpu-s")
	}()
	for b.Loop() {
		if err := m.Step(st, tokens, logits); err != nil {
			b.Fatal(err)
		}
		for i := range tokens {
			tokens[i] = int32(argmax(logits[i*cfg.PaddedVocab() : (i+1)*cfg.PaddedVocab()]))
		}
	}
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkTrainSmall2k(b *testing.B)    { benchTrain(b, smallConfig(), 2048) }
func BenchmarkForwardSmall2k(b *testing.B)  { benchForward(b, smallConfig(), 2048) }
func BenchmarkDecodeSmall(b *testing.B)     { benchDecode(b, smallConfig(), 1) }
func BenchmarkDecodeSmallB16(b *testing.B)  { benchDecode(b, smallConfig(), 16) }
func BenchmarkTrainNetSSM2k(b *testing.B)   { benchTrain(b, netssmConfig(), 2048) }
func BenchmarkDecodeNetSSM(b *testing.B)    { benchDecode(b, netssmConfig(), 1) }
func BenchmarkDecodeNetSSMB16(b *testing.B) { benchDecode(b, netssmConfig(), 16) }
