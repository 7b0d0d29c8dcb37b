package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "gen.txt")
	pkt := "0 0 0 0 0 0 0 0 0 0 0 0 8 0 69 0 0 40 0 0 64 0 64 6 0 0 127 0 0 1 127 0 0 1 0 80 4 210 0 0 0 1 0 0 0 0 80 2 255 255 0 0 0 0"
	os.WriteFile(in, []byte("<|x|> 1 2 <|pkt|> "+pkt+" <|pkt|> "+pkt+" 0 0 0 <|pkt|> 1 2"), 0o644)
	out := filepath.Join(dir, "out.pcap")
	if rc := run([]string{"convert", in, "-repair", out, "-start", "2024-05-06T07:08:09Z"}); rc != 0 {
		t.Fatalf("exit status %d", rc)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// pcap header + 2 records of 16 + 54 bytes (padding stripped).
	if len(b) != 24+2*(16+54) {
		t.Errorf("pcap of %d bytes", len(b))
	}

	// A failed generation writes nothing and fails.
	os.WriteFile(in, []byte("<|x|> 1 <|pkt|> Could not parse token mapping <|pkt|>"), 0o644)
	out2 := filepath.Join(dir, "none.pcap")
	if rc := run([]string{"convert", in, out2}); rc != 1 {
		t.Errorf("failure marker: exit status %d, want 1", rc)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("output written on failure: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	for _, args := range [][]string{{"convert", in}, {"convert", in, out, "-ts-step", "-1s"}, {"convert", in, out, "-start", "yesterday"}} {
		if rc := run(args); rc != 2 {
			t.Errorf("%q: exit status %d, want 2", args, rc)
		}
	}
}
