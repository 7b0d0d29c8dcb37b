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
