package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/generate"
	"github.com/netssm/netssm/netssmlib/tokenizer"
	"github.com/netssm/netssm/netssmlib/train"
)

func init() {
	register(&command{
		name:    "generate",
		summary: "generate synthetic traces (text) from a trained model",
		run:     runGenerate,
	})
}

func runGenerate(ctx context.Context, args []string) error {
	fs := newFlagSet("generate", `-prompt "<|netflix|>" -model DIR [-tokenizer DIR] -genlen N [flags]`)
	prompt := fs.String("prompt", "", "prompt text, usually a label token such as <|netflix|>, optionally followed by packets")
	modelDir := fs.String("model", "", "model folder (config.json + pytorch_model.bin or model.safetensors)")
	tokDir := fs.String("tokenizer", "", "tokenizer folder (default: the model folder)")
	genlen := fs.Int("genlen", 100, "number of tokens to generate (packets with -gen-len-pkts)")
	pkts := fs.Bool("gen-len-pkts", false, "count -genlen in packets (<|pkt|> tokens) instead of tokens")
	temperature := fs.Float64("temperature", 1, "sampling temperature")
	topk := fs.Int("topk", 1, "top-k (1: greedy, 0: whole vocabulary)")
	topp := fs.Float64("topp", 0, "top-p nucleus (0: off)")
	minp := fs.Float64("minp", 0, "min-p (0: off)")
	penalty := fs.Float64("repetition-penalty", 1, "CTRL repetition penalty (1: off)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	batch := fs.Int("batch", 1, "number of traces generated at once")
	out := fs.String("out", "generated.txt", "output text file (with -batch N: FILE_0.txt ... FILE_{N-1}.txt)")
	device := fs.String("device", "cpu", deviceHelp)
	dtype := fs.String("dtype", "bf16", "compute dtype on a device: bf16 or fp32 (the CPU computes in fp32)")
	trainFlagAliases(fs, "gen-len-pkts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *prompt == "" || *modelDir == "" {
		return fmt.Errorf("%w: -prompt and -model are required", errUsage)
	}
	if *genlen < 1 || *batch < 1 {
		return fmt.Errorf("%w: -genlen and -batch must be >= 1", errUsage)
	}
	opts := generate.Options{Temperature: float32(*temperature), TopK: *topk, TopP: float32(*topp), MinP: float32(*minp),
		RepetitionPenalty: float32(*penalty), Seed: *seed}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	devDType, err := benchParseDType(*dtype)
	if err != nil {
		return err
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
	}
	if *tokDir == "" {
		*tokDir = *modelDir
	}
	tok, err := tokenizer.Load(*tokDir)
	if err != nil {
		return fmt.Errorf("%w (give -tokenizer DIR if the model folder has no tokenizer)", err)
	}
	m, fromWeights, err := train.LoadModel(*modelDir, 0, 0)
	if err != nil {
		return err
	}
	if !fromWeights {
		return fmt.Errorf("%s has no weights (%s or %s)", *modelDir, checkpoint.SafetensorsName, checkpoint.TorchName)
	}
	ids := tok.Encode(*prompt)
	if len(ids) == 0 {
		return fmt.Errorf("%w: the prompt %q has no tokens", errUsage, *prompt)
	}
	for _, id := range ids {
		if id == tok.Unk() {
			fmt.Fprintf(os.Stderr, "netssm generate: warning: the prompt has words the tokenizer does not know (<|unk|>): %q\n", *prompt)
			break
		}
	}
	pkt, hasPkt := tok.TokenID("<|pkt|>")
	if !hasPkt {
		pkt = -1
		if *pkts {
			return fmt.Errorf("the tokenizer in %s has no <|pkt|> token: -gen-len-pkts needs it", *tokDir)
		}
	}
	req := generate.Request{EOS: tok.EOS(), Pkt: pkt, Vocab: tok.VocabSize(), Options: opts, Special: tok.IsSpecial,
		Device: dev, DeviceDType: devDType}
	if *pkts {
		req.MaxPackets = *genlen
	} else {
		req.MaxTokens = *genlen
	}
	for range *batch {
		req.Prompts = append(req.Prompts, ids)
	}
	if trainStderrIsTerminal() {
		done := 0
		req.OnPacket = func(row int, _ []int32) {
			done++
			fmt.Fprintf(os.Stderr, "\r%d packets", done)
		}
	}
	seqs, err := generate.Generate(ctx, m, req)
	if err != nil {
		return err
	}
	if req.OnPacket != nil {
		fmt.Fprintln(os.Stderr)
	}
	for i, s := range seqs {
		if *pkts && s[len(s)-1] != tok.EOS() {
			n := 0
			for _, t := range s[len(ids):] {
				if t == pkt {
					n++
				}
			}
			if n < *genlen {
				fmt.Fprintf(os.Stderr, "netssm generate: warning: trace %d has only %d of %d packets after %d tokens (runaway cap)\n", i, n, *genlen, len(s)-len(ids))
			}
		}
		path := *out
		if len(seqs) > 1 {
			ext := filepath.Ext(path)
			path = fmt.Sprintf("%s_%d%s", strings.TrimSuffix(path, ext), i, ext)
		}
		text := tok.Decode(s, false)
		if err := checkpoint.WriteFileAtomic(path, func(f *os.File) error {
			_, err := f.WriteString(text)
			return err
		}); err != nil {
			return err
		}
		fmt.Printf("%s: %d tokens\n", path, len(s))
	}
	return nil
}
