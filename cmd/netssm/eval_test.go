package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestEvalCommand(t *testing.T) {
	lo := filepath.Join("..", "..", "testdata", "convert", "loopback.pcap")
	ng := filepath.Join("..", "..", "testdata", "convert", "loopback.pcapng")
	out := filepath.Join(t.TempDir(), "report.json")
	f, _ := os.Create(out)
	stdout := os.Stdout
	os.Stdout = f
	rc := run([]string{"eval", "-real", lo, "-synthetic", ng, "-json"})
	os.Stdout = stdout
	f.Close()
	if rc != 0 {
		t.Fatalf("exit status %d", rc)
	}
	var rep struct {
		Distance  *float64 `json:"distance"`
		Synthetic struct {
			Format  string `json:"format"`
			Packets int    `json:"packets"`
		} `json:"synthetic"`
	}
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if rep.Distance == nil || *rep.Distance != 0 || rep.Synthetic.Format != "pcapng" || rep.Synthetic.Packets < 100 {
		t.Errorf("report %s", b)
	}
	if rc := run([]string{"eval", "-real", lo}); rc != 2 {
		t.Errorf("missing -synthetic: exit status %d, want 2", rc)
	}
	if rc := run([]string{"eval", "-real", lo, "-synthetic", "/nonexistent.pcap"}); rc != 1 {
		t.Errorf("missing file: exit status %d, want 1", rc)
	}
}

// TestPipelineCommands runs the user's path through the binary's commands:
// preprocess a real capture, convert its text with -repair and timestamps
// sampled from the capture, and evaluate the result against the capture.
func TestPipelineCommands(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "caps")
	os.Mkdir(in, 0o755)
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "convert", "loopback.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(in, "lo.pcap")
	os.WriteFile(real, src, 0o644)
	jsonl := filepath.Join(dir, "lo.jsonl")
	if rc := run([]string{"preprocess", "-in-dir", in, "-label", "lo", "-out", jsonl, "-progress", "never"}); rc != 0 {
		t.Fatalf("preprocess: exit status %d", rc)
	}
	var rec struct{ Data string }
	b, _ := os.ReadFile(jsonl)
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	txt := filepath.Join(dir, "generated.txt")
	os.WriteFile(txt, []byte(rec.Data), 0o644)
	syn := filepath.Join(dir, "syn.pcap")
	if rc := run([]string{"convert", txt, syn, "-repair", "-ts-sample-gt", real, "-seed", "7"}); rc != 0 {
		t.Fatalf("convert: exit status %d", rc)
	}
	out := filepath.Join(dir, "report.json")
	f, _ := os.Create(out)
	stdout := os.Stdout
	os.Stdout = f
	rc := run([]string{"eval", "-json", "-real", real, "-synthetic", syn})
	os.Stdout = stdout
	f.Close()
	if rc != 0 {
		t.Fatalf("eval: exit status %d", rc)
	}
	var rep struct {
		Distance float64 `json:"distance"`
		Shares   []struct {
			Name      string   `json:"name"`
			Synthetic *float64 `json:"synthetic"`
		} `json:"shares"`
	}
	b, _ = os.ReadFile(out)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// The first packet (a SYN) is dropped with the label piece, the rest
	// is the capture's headers: nearly the same traffic, all well formed.
	if rep.Distance > 0.05 {
		t.Errorf("distance %v", rep.Distance)
	}
	for _, s := range rep.Shares {
		if s.Name == "well_formed" && (s.Synthetic == nil || *s.Synthetic != 1) {
			t.Errorf("well_formed %v", s.Synthetic)
		}
	}
}
