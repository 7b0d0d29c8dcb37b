package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/tokenizer"
)

// TestTrainThenGenerate runs the two subcommands end to end on the tiny
// config and JSONL in testdata/train.
func TestTrainThenGenerate(t *testing.T) {
	tmp := t.TempDir()
	tokDir := filepath.Join(tmp, "tok")
	tok, err := tokenizer.New([]string{"netflix", "amazon"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(tokDir); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	args := []string{"train", "-model", "../../testdata/train/tiny-config", "-output", out,
		"-data_path", "../../testdata/train/tiny.jsonl", "-tokenizer", tokDir, "-num_epochs", "3",
		"-batch-size", "2", "-save-steps", "2", "-learning-rate", "1e-2", "-dtype", "bf16"}
	// Stop after 3 steps, then run again: it resumes and finishes.
	if code := run(append(args, "-stop-after", "3")); code != 0 {
		t.Fatalf("train -stop-after exited %d", code)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint-3")); err != nil {
		t.Fatalf("no checkpoint after -stop-after 3: %v", err)
	}
	if code := run(args); code != 0 {
		t.Fatalf("train exited %d", code)
	}
	final := filepath.Join(out, "3_epochs")
	for _, f := range []string{checkpoint.TorchName, checkpoint.ConfigName, tokenizer.TokenizerFile} {
		if _, err := os.Stat(filepath.Join(final, f)); err != nil {
			t.Errorf("final folder: %v", err)
		}
	}
	if cps, _ := checkpoint.ListCheckpoints(out); len(cps) != 2 || cps[1].Step != 6 {
		t.Errorf("checkpoints %+v, want the newest 2 up to step 6", cps)
	}
	// Running again resumes at the end and only rewrites the final folder.
	if code := run(args); code != 0 {
		t.Fatalf("second train exited %d", code)
	}

	gen := filepath.Join(tmp, "generated.txt")
	if code := run([]string{"generate", "-prompt", "<|netflix|>", "-model", final, "-genlen", "2", "-gen-len-pkts",
		"-topk", "0", "-temperature", "0.8", "-seed", "1", "-out", gen}); code != 0 {
		t.Fatalf("generate exited %d", code)
	}
	b, err := os.ReadFile(gen)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.HasPrefix(text, "<|netflix|> ") {
		t.Errorf("generated text does not start with the prompt: %.80q", text)
	}
	if n := strings.Count(text, "<|pkt|>"); n != 2 && !strings.HasSuffix(text, "<|endoftext|>") {
		t.Errorf("%d packet separators, want 2 (or an early <|endoftext|>): %.200q", n, text)
	}
	// Batched generation writes one file per trace.
	if code := run([]string{"generate", "-prompt", "<|amazon|>", "-model", final, "-genlen", "5", "-batch", "2",
		"-out", filepath.Join(tmp, "g.txt")}); code != 0 {
		t.Fatalf("batched generate exited %d", code)
	}
	for _, f := range []string{"g_0.txt", "g_1.txt"} {
		if _, err := os.Stat(filepath.Join(tmp, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestTrainFlags(t *testing.T) {
	ctx := context.Background()
	base := []string{"-model", "m", "-output", "o", "-data-path", "d", "-tokenizer", "t"}
	if !hasBackend("cuda") {
		// Without the cuda tag: a clear error (not a usage error: the flag
		// is right, the binary lacks the backend), exit status 1.
		err := runTrain(ctx, append(base, "-device", "cuda"))
		if !errors.Is(err, gpu.ErrUnknownBackend) || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "cuda build tag") {
			t.Errorf("-device cuda: %v", err)
		}
		if err := runGenerate(ctx, []string{"-prompt", "x", "-model", "m", "-device", "cuda"}); !errors.Is(err, gpu.ErrUnknownBackend) {
			t.Errorf("generate -device cuda: %v", err)
		}
	}
	if err := runTrain(ctx, append(base, "-device", "tpu")); !errors.Is(err, gpu.ErrUnknownBackend) || !strings.Contains(err.Error(), "tpu") {
		t.Errorf("-device tpu: %v", err)
	}
	for _, bad := range [][]string{
		append(base, "-dtype", "fp8"),
		append(base, "-num-epochs", "0"),
		{"-model", "m"},
	} {
		if err := runTrain(ctx, bad); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want a usage error", bad, err)
		}
	}
	if err := runGenerate(ctx, []string{"-prompt", "x", "-model", "m", "-topp", "2"}); !errors.Is(err, errUsage) {
		t.Errorf("generate -topp 2: %v", err)
	}
	if err := runGenerate(ctx, []string{"-prompt", "x", "-model", "m", "-dtype", "fp16"}); !errors.Is(err, errUsage) {
		t.Errorf("generate -dtype fp16: %v", err)
	}
}

// TestGenerateFromMambaSSMCheckpoint samples from the shared checkpoint
// mamba-ssm wrote, with the tokenizer NetSSM's create_tokenizer made.
func TestGenerateFromMambaSSMCheckpoint(t *testing.T) {
	model := testenv.Shared(t, "fixtures/tiny-mamba2")
	tok := testenv.Shared(t, "fixtures/hf-tokenizer/video_streaming_tok")
	out := filepath.Join(t.TempDir(), "generated.txt")
	if code := run([]string{"generate", "-prompt", "<|amazon|>", "-model", model, "-tokenizer", tok,
		"-genlen", "30", "-topk", "25", "-topp", "0.9", "-temperature", "0.5", "-repetition-penalty", "1.8", "-out", out}); code != 0 {
		t.Fatalf("generate exited %d", code)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(string(b))
	if len(words) < 2 || words[0] != "<|amazon|>" || len(words) > 31 {
		t.Errorf("generated %d words: %.100q", len(words), b)
	}
}

// hasBackend reports whether a backend is compiled into this test binary.
func hasBackend(name string) bool {
	for _, n := range gpu.Backends() {
		if n == name {
			return true
		}
	}
	return false
}

// TestTrainGenerateOnReference trains on the reference backend (the device
// path), resumes that run on the CPU, and checks that greedy generation on
// the device writes what the CPU writes.
func TestTrainGenerateOnReference(t *testing.T) {
	tmp := t.TempDir()
	tokDir := filepath.Join(tmp, "tok")
	tok, err := tokenizer.New([]string{"netflix", "amazon"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(tokDir); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	args := []string{"train", "-model", "../../testdata/train/tiny-config", "-output", out,
		"-data-path", "../../testdata/train/tiny.jsonl", "-tokenizer", tokDir, "-num-epochs", "2",
		"-save-steps", "100", "-learning-rate", "1e-2", "-dtype", "fp32"}
	if code := run(append(args, "-device", "reference", "-stop-after", "5")); code != 0 {
		t.Fatalf("train -device reference exited %d", code)
	}
	if code := run(args); code != 0 { // resumes from checkpoint-5 on the CPU
		t.Fatalf("train (resumed on the cpu) exited %d", code)
	}
	final := filepath.Join(out, "2_epochs")
	texts := map[string]string{}
	for _, dev := range []string{"cpu", "reference"} {
		gen := filepath.Join(tmp, dev+".txt")
		if code := run([]string{"generate", "-prompt", "<|netflix|>", "-model", final, "-genlen", "20",
			"-device", dev, "-dtype", "fp32", "-out", gen}); code != 0 {
			t.Fatalf("generate -device %s exited %d", dev, code)
		}
		b, err := os.ReadFile(gen)
		if err != nil {
			t.Fatal(err)
		}
		texts[dev] = string(b)
	}
	if texts["cpu"] != texts["reference"] || !strings.HasPrefix(texts["cpu"], "<|netflix|> ") {
		t.Errorf("greedy generation differs:\ncpu       %.200q\nreference %.200q", texts["cpu"], texts["reference"])
	}
}
