package checkpoint

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	sd := StateDict{
		"a.weight": {DType: F32, Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, 0, 1e-30, -7}},
		"b":        {DType: BF16, Shape: []int{3}, Data: []float32{1, -0.5, 3}},
		"c":        {DType: F16, Shape: []int{2}, Data: []float32{0.25, -1024}},
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteSafetensors(path, sd); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sortedKeys(sd) {
		w, g := sd[name], got[name]
		if g == nil || g.DType != w.DType || len(g.Data) != len(w.Data) {
			t.Fatalf("%s: got %+v want %+v", name, g, w)
		}
		for i := range w.Data {
			if g.Data[i] != w.Data[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, g.Data[i], w.Data[i])
			}
		}
	}
}

func TestSafetensorsRejectsCorrupt(t *testing.T) {
	var buf bytes.Buffer
	sd := StateDict{"x": {DType: F32, Shape: []int{4}, Data: []float32{1, 2, 3, 4}}}
	if err := EncodeSafetensors(&buf, sd); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for _, cut := range []int{0, 4, 8, 20, len(full) - 1} {
		b := full[:cut]
		if _, err := DecodeSafetensors(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Errorf("truncated to %d bytes: no error", cut)
		}
	}
	bad := append([]byte{}, full...)
	bad[0] = 0xff // absurd header length
	if _, err := DecodeSafetensors(bytes.NewReader(bad), int64(len(bad))); err == nil || !strings.Contains(err.Error(), "header length") {
		t.Errorf("bad header length: err = %v", err)
	}
}

func TestHalfConversions(t *testing.T) {
	for _, f := range []float32{0, 1, -1, 0.1, 65504, 6.1e-5, 5.96e-8, 3.14159} {
		h := F16FromF32(f)
		back := F32FromF16(h)
		if rel := math.Abs(float64(back-f)) / math.Max(math.Abs(float64(f)), 6e-8); rel > 1e-3 {
			t.Errorf("f16(%v) -> %v", f, back)
		}
		b := F32FromBF16(BF16FromF32(f))
		if rel := math.Abs(float64(b-f)) / math.Max(math.Abs(float64(f)), 1e-30); rel > 4e-3 {
			t.Errorf("bf16(%v) -> %v", f, b)
		}
	}
	// Ties round to even: 1 + 2^-8 is halfway between two bf16 values.
	if got := F32FromBF16(BF16FromF32(1 + 1.0/256)); got != 1 {
		t.Errorf("bf16 tie: got %v want 1", got)
	}
}

func TestReadsMambaSSMFixture(t *testing.T) {
	path := testenv.Shared(t, "fixtures/tiny-mamba2/model.safetensors")
	sd, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	emb := sd["backbone.embedding.weight"]
	if emb == nil || len(emb.Shape) != 2 || emb.Shape[0] != 272 || emb.Shape[1] != 64 {
		t.Fatalf("embedding: %+v", emb)
	}
	if c := sd["backbone.layers.0.mixer.conv1d.weight"]; c == nil || len(c.Shape) != 3 || c.Shape[1] != 1 || c.Shape[2] != 4 {
		t.Fatalf("conv1d weight: %+v", c)
	}
}
