package generate_test

import (
	"context"
	"fmt"

	"github.com/netssm/netssm/netssmlib/generate"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// Generate three traces at once, three packets each, with the paper's
// sampling settings; a callback sees every finished packet.
func ExampleGenerate() {
	cfg, _ := mamba.ParseConfig([]byte(`{"d_model": 32, "n_layer": 1, "vocab_size": 8,
		"ssm_cfg": {"layer": "Mamba2", "d_state": 8, "headdim": 16}, "pad_vocab_size_multiple": 8}`))
	m, _ := mamba.New(cfg, 1) // untrained: random tokens
	const label, pkt = 7, 5
	opts := generate.Options{Temperature: 0.5, TopK: 25, TopP: 0.9, RepetitionPenalty: 1.8, Seed: 1}
	packets := 0
	seqs, err := generate.Generate(context.Background(), m, generate.Request{
		Prompts:    [][]int32{{label}, {label}, {label}},
		MaxPackets: 3, MaxTokens: 10000, EOS: -1, Pkt: pkt, Options: opts,
		OnPacket: func(row int, p []int32) { packets++ },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(seqs), "traces,", packets, "packets")
	// Output: 3 traces, 9 packets
}
