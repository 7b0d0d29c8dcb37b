package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/netssm/netssm/netssmlib/dataset"
	"github.com/netssm/netssm/netssmlib/tokenizer"
)

func TestTokenizerAndTokenizeCommands(t *testing.T) {
	dir := t.TempDir()
	tokDir := filepath.Join(dir, "tok")
	// NetSSM's own flag spellings work too.
	if got := run([]string{"tokenizer", "--special_tokens", "netflix amazon", "--tokenizer_name", tokDir}); got != 0 {
		t.Fatalf("tokenizer: exit %d", got)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} {
		if _, err := os.Stat(filepath.Join(tokDir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	ext := filepath.Join(dir, "tok2")
	if got := run([]string{"tokenizer", "-from", tokDir, "-special-tokens", "youtube", "-out", ext}); got != 0 {
		t.Fatalf("tokenizer -from: exit %d", got)
	}
	tk, err := tokenizer.Load(ext)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tk.Labels(), []string{"netflix", "amazon", "youtube"}) {
		t.Errorf("extended labels %v", tk.Labels())
	}

	in := filepath.Join(dir, "x.jsonl")
	os.WriteFile(in, []byte(`{"Data":"<|amazon|> 1 2 3 <|pkt|> 4","Hash":"h","Filename":"f","OrigLen":2}`+"\n"+`{"Data":"<|netflix|> 5"}`+"\n"), 0o644)
	out := filepath.Join(dir, "ds")
	if got := run([]string{"tokenize", "-tokenizer", tokDir, "-data-path", in, "-out-path", out, "-max-len", "4", "-padding"}); got != 0 {
		t.Fatalf("tokenize: exit %d", got)
	}
	r, err := dataset.Open(out, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ex, err := r.At(1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ex.InputIDs, []int32{260, 5, 258, 258}) || !reflect.DeepEqual(ex.AttentionMask, []int8{1, 1, 0, 0}) {
		t.Errorf("example 1 = %v %v", ex.InputIDs, ex.AttentionMask)
	}
	// create_tok_dataset's spellings
	out2 := filepath.Join(dir, "ds2")
	if got := run([]string{"tokenize", "--tokenizer", tokDir, "--data_path", in, "--out_path", out2, "--max_len", "3", "--num_proc", "1", "--batch_size", "4"}); got != 0 {
		t.Fatalf("tokenize (NetSSM flags): exit %d", got)
	}
}

func TestTokenizeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"tokenizer", "-special-tokens", "a"},
		{"tokenizer", "-out", dir, "extra"},
		{"tokenize", "-data-path", "x.jsonl", "-out-path", dir},
		{"tokenize", "-tokenizer", dir, "-out-path", dir},
		{"tokenize", "-tokenizer", dir, "-data-path", "x", "-out-path", dir, "-max-len", "-1"},
	} {
		if got := run(args); got != 2 {
			t.Errorf("%v: exit %d, want 2", args, got)
		}
	}
	// A missing input is a run-time error (1), not a usage error.
	tokDir := filepath.Join(dir, "tok")
	run([]string{"tokenizer", "-out", tokDir})
	if got := run([]string{"tokenize", "-tokenizer", tokDir, "-data-path", filepath.Join(dir, "absent.jsonl"), "-out-path", filepath.Join(dir, "o")}); got != 1 {
		t.Errorf("absent input: exit %d, want 1", got)
	}
}
