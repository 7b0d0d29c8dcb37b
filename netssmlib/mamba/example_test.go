package mamba_test

import (
	"context"
	"fmt"
	"log"

	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// Train a freshly initialised model for one step on one sequence (the
// gradient update itself is the optimiser's job), then decode greedily.
func Example() {
	cfg := mamba.DefaultConfig()
	cfg.DModel, cfg.NLayer, cfg.VocabSize = 64, 2, 261
	cfg.SSMCfg.DState, cfg.SSMCfg.HeadDim = 16, 16
	m, err := mamba.New(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	seq := []int32{260, 69, 0, 0, 60, 259, 69, 0, 0, 60}
	m.ZeroGrad()
	loss, n, err := m.ForwardBackward(ctx, seq[:len(seq)-1], seq[1:])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("mean loss over %d targets: %.2f nats\n", n, loss/float64(n))

	st := m.NewState(1)
	logits, err := m.Prefill(ctx, st, 0, seq[:1])
	if err != nil {
		log.Fatal(err)
	}
	out := []int32{}
	for range 5 {
		best := int32(0)
		for v := range logits[:cfg.VocabSize] {
			if logits[v] > logits[best] {
				best = int32(v)
			}
		}
		out = append(out, best)
		if err := m.Step(st, []int32{best}, logits); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("generated", len(out), "tokens")

	// Save in PyTorch's names as bf16.
	sd := m.StateDict(checkpoint.BF16)
	fmt.Println(sd["backbone.layers.0.mixer.in_proj.weight"].Shape)
	// Output:
	// mean loss over 9 targets: 5.52 nats
	// generated 5 tokens
	// [296 64]
}
