package generate

import (
	"context"
	"testing"

	"github.com/netssm/netssm/netssmlib/mamba"
)

// tinyModel is a random 2-layer model over a small vocabulary.
func tinyModel(t *testing.T, vocab int) *mamba.Model {
	t.Helper()
	cfg, err := mamba.ParseConfig([]byte(`{"d_model": 32, "n_layer": 2, "vocab_size": 16,
		"ssm_cfg": {"layer": "Mamba2", "d_state": 8, "headdim": 16, "chunk_size": 8},
		"pad_vocab_size_multiple": 8}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.VocabSize = vocab
	m, err := mamba.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGreedyMatchesFullForward(t *testing.T) {
	m := tinyModel(t, 16)
	req := Request{Prompts: [][]int32{{3, 1, 4, 1, 5}}, MaxTokens: 20, EOS: -1, Pkt: -1, Options: DefaultOptions()}
	seqs, err := Generate(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	s := seqs[0]
	if len(s) != 5+20 {
		t.Fatalf("len = %d, want 25", len(s))
	}
	// Step-mode decoding must pick what the chunked forward pass over the
	// whole sequence ranks first (where the top two are not a near tie).
	logits, err := m.Forward(context.Background(), s[:len(s)-1])
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.PaddedVocab()
	checked := 0
	for i := 4; i < len(s)-1; i++ {
		row := logits[i*V : i*V+16]
		best, second := 0, -1
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		for j := range row {
			if j != best && (second < 0 || row[j] > row[second]) {
				second = j
			}
		}
		if row[best]-row[second] < 1e-4 {
			continue
		}
		checked++
		if int32(best) != s[i+1] {
			t.Errorf("position %d: generated %d, forward's argmax %d", i+1, s[i+1], best)
		}
	}
	if checked < 10 {
		t.Errorf("only %d positions without near ties", checked)
	}
}

func TestBatchRowsAreIndependent(t *testing.T) {
	m := tinyModel(t, 16)
	prompts := [][]int32{{1, 2, 3}, {9}, {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4}}
	batch, err := Generate(context.Background(), m, Request{Prompts: prompts, MaxTokens: 12, EOS: -1, Pkt: -1, Options: DefaultOptions()})
	if err != nil {
		t.Fatal(err)
	}
	for r, p := range prompts {
		one, err := Generate(context.Background(), m, Request{Prompts: [][]int32{p}, MaxTokens: 12, EOS: -1, Pkt: -1, Options: DefaultOptions()})
		if err != nil {
			t.Fatal(err)
		}
		if !equal(one[0], batch[r]) {
			t.Errorf("row %d: batched %v, alone %v", r, batch[r], one[0])
		}
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStopsOnEOS(t *testing.T) {
	m := tinyModel(t, 16)
	o := DefaultOptions()
	o.TopK, o.Seed = 0, 3
	free, err := Generate(context.Background(), m, Request{Prompts: [][]int32{{2}}, MaxTokens: 40, EOS: -1, Pkt: -1, Options: o})
	if err != nil {
		t.Fatal(err)
	}
	eos := free[0][6] // the 6th generated token becomes end-of-text
	first := 1
	for free[0][first] != eos {
		first++
	}
	var tokens int
	got, err := Generate(context.Background(), m, Request{Prompts: [][]int32{{2}}, MaxTokens: 40, EOS: eos, Pkt: -1, Options: o,
		OnToken: func(row int, tok int32) { tokens++ }})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(got[0], free[0][:first+1]) {
		t.Errorf("with EOS %d: %v, want %v", eos, got[0], free[0][:first+1])
	}
	if tokens != first {
		t.Errorf("OnToken called %d times, want %d", tokens, first)
	}
}

func TestPacketLength(t *testing.T) {
	m := tinyModel(t, 8)
	o := DefaultOptions()
	o.TopK, o.Seed, o.Temperature = 0, 11, 2 // flat: token 5 comes up often
	const pkt = 5
	var packets [][]int32
	seqs, err := Generate(context.Background(), m, Request{
		Prompts: [][]int32{{7, 1}, {7}}, MaxPackets: 3, EOS: -1, Pkt: pkt, Options: o,
		Special: func(id int32) bool { return id == 7 },
		OnPacket: func(row int, p []int32) {
			if row == 0 {
				packets = append(packets, append([]int32(nil), p...))
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for r, s := range seqs {
		n := 0
		for _, tok := range s {
			if tok == pkt {
				n++
			}
		}
		if n != 3 || s[len(s)-1] != pkt {
			t.Errorf("row %d: %d separators, last token %d: %v", r, n, s[len(s)-1], s)
		}
	}
	if len(packets) != 3 {
		t.Fatalf("OnPacket got %d packets", len(packets))
	}
	// The first packet is what followed the label, prompt bytes included.
	s := seqs[0]
	end := 2
	for s[end] != pkt {
		end++
	}
	if !equal(packets[0], s[1:end]) {
		t.Errorf("first packet %v, want %v", packets[0], s[1:end])
	}
}

func TestGenerateRejectsBadRequests(t *testing.T) {
	m := tinyModel(t, 16)
	bad := []Request{
		{},
		{Prompts: [][]int32{{1}}, EOS: -1, Pkt: -1, Options: DefaultOptions()},
		{Prompts: [][]int32{{}}, MaxTokens: 3, EOS: -1, Pkt: -1, Options: DefaultOptions()},
		{Prompts: [][]int32{{1}}, MaxPackets: 3, EOS: -1, Pkt: -1, Options: DefaultOptions()},
		{Prompts: [][]int32{{1}}, MaxTokens: 3, Vocab: 99, EOS: -1, Pkt: -1, Options: DefaultOptions()},
		{Prompts: [][]int32{{99}}, MaxTokens: 3, EOS: -1, Pkt: -1, Options: DefaultOptions()},
	}
	for i, r := range bad {
		if _, err := Generate(context.Background(), m, r); err == nil {
			t.Errorf("request %d accepted", i)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, m, Request{Prompts: [][]int32{{1}}, MaxTokens: 3, EOS: -1, Pkt: -1, Options: DefaultOptions()}); err == nil {
		t.Error("cancelled context ignored")
	}
}
