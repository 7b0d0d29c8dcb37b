package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
)

// TestPreprocessCommand runs `netssm preprocess` on NetSSM's examples with
// NetSSM's own flags and checks the exit statuses the flags and inputs give.
func TestPreprocessCommand(t *testing.T) {
	seed := testenv.Shared(t, "seed-examples")
	want, err := os.ReadFile(filepath.Join(seed, "expected_preprocess_labelcsv.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	os.Mkdir("netssm_examples", 0o755)
	for _, f := range []string{"amazon.pcap", "netflix.pcap", "twitch.pcap", "youtube.pcap", "labels.csv"} {
		b, err := os.ReadFile(filepath.Join(seed, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join("netssm_examples", f), b, 0o644)
	}
	if got := run([]string{"preprocess", "-in-dir", "netssm_examples", "-label-csv", "netssm_examples/labels.csv", "-out", "out.jsonl", "-progress", "never"}); got != 0 {
		t.Fatalf("exit status %d", got)
	}
	if got, _ := os.ReadFile("out.jsonl"); !bytes.Equal(got, want) {
		t.Fatal("output differs from NetSSM's expected_preprocess_labelcsv.jsonl")
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"-in-dir", "netssm_examples", "-out", "o.jsonl"}, 2},                                    // no label
		{[]string{"-in-dir", "netssm_examples", "-label", "x"}, 2},                                        // no -out
		{[]string{"-label", "x", "-out", "o.jsonl"}, 2},                                                   // no input
		{[]string{"-in-dir", "netssm_examples", "-in-csv", "a.csv", "-label", "x", "-out", "o.jsonl"}, 2}, // both inputs
		{[]string{"-in-dir", "netssm_examples", "-label", "./", "-out", "o.jsonl", "-truncate", "10"}, 0},
		{[]string{"-in-dir", "no-such-dir", "-label", "x", "-out", "o.jsonl"}, 1},
	} {
		if got := run(append([]string{"preprocess", "-progress", "never"}, c.args...)); got != c.want {
			t.Errorf("preprocess %q: exit status %d, want %d", c.args, got, c.want)
		}
	}
	// A garbage capture fails its input (status 1) but the others are written.
	os.WriteFile("netssm_examples/zz_garbage.pcap", []byte("garbage"), 0o644)
	if got := run([]string{"preprocess", "-progress", "never", "-in-dir", "netssm_examples", "-label", "x", "-out", "o2.jsonl"}); got != 1 {
		t.Errorf("garbage input: exit status %d, want 1", got)
	}
	if b, _ := os.ReadFile("o2.jsonl"); bytes.Count(b, []byte("\n")) != 4 {
		t.Errorf("garbage input: %d records written, want the 4 good ones", bytes.Count(b, []byte("\n")))
	}
}
