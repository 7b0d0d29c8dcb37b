package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestBenchGenerateDecodeFlag: -decode persistent on a backend without the
// persistent kernel reports the path that actually ran and why.
func TestBenchGenerateDecodeFlag(t *testing.T) {
	rs, table := benchJSON(t, benchGenRun, "-device", "reference", "-config", benchTinyConfig, "-batch", "1",
		"-tokens", "2", "-warmup", "1", "-decode", "persistent")
	if len(rs) != 1 {
		t.Fatalf("%d measurements, want 1:\n%s", len(rs), table)
	}
	r := rs[0]
	if r.Decode != "persistent" || r.DecodePath != "ops" || !strings.Contains(r.PersistentError, "no persistent decode") || !(r.TokensPerS > 0) {
		t.Errorf("measurement: %+v", r)
	}
	if !strings.Contains(table, "persistent decode not used") {
		t.Errorf("the table should say the persistent decode was not used:\n%s", table)
	}
	var o, e bytes.Buffer
	if err := runBenchGenerate(context.Background(), []string{"-device", "reference", "-decode", "fast"}, &o, &e); !errors.Is(err, errUsage) {
		t.Errorf("-decode fast: %v, want a usage error", err)
	}
}
