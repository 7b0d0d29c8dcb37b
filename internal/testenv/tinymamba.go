package testenv

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TinyMamba2 returns the shared mamba-ssm checkpoint folder
// (fixtures/tiny-mamba2), its token ids and mamba-ssm's logits for them
// (row-major [len(ids), padded vocab]), or skips with a message when absent.
func TinyMamba2(t testing.TB) (dir string, ids []int32, logits []float32) {
	t.Helper()
	dir = Shared(t, "fixtures/tiny-mamba2")
	text, err := os.ReadFile(filepath.Join(dir, "ids.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(text)) {
		v, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("ids.txt: %v", err)
		}
		ids = append(ids, int32(v))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "logits_mamba_ssm.f32"))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)%4 != 0 {
		t.Fatalf("logits_mamba_ssm.f32: %d bytes is not a float32 array", len(raw))
	}
	logits = make([]float32, len(raw)/4)
	for i := range logits {
		logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return dir, ids, logits
}
