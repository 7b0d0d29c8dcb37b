package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
)

func readInts(t *testing.T, path string) []int32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, int32(v))
	}
	return out
}

// amazonData is the Data field of the first record of NetSSM's expected
// preprocessing output (the capture HF encoded for the fixtures).
func amazonData(t *testing.T) string {
	t.Helper()
	p := testenv.Shared(t, "seed-examples/expected_preprocess_labelcsv.jsonl")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	var rec struct{ Data string }
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rec.Data, "<|amazon|>") {
		t.Fatalf("first record is not the amazon capture: %.40q", rec.Data)
	}
	return rec.Data
}

var videoLabels = []string{"netflix", "amazon", "youtube", "twitch"}

func TestNewMatchesHFTokenizerJSON(t *testing.T) {
	dir := testenv.Shared(t, "fixtures/hf-tokenizer/video_streaming_tok")
	want, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := New(videoLabels)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.TokenizerJSON(); !bytes.Equal(got, want) {
		t.Errorf("tokenizer.json differs from HF's (%d vs %d bytes)", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference at byte %d: got %q want %q", i, got[max(0, i-40):min(len(got), i+40)], want[max(0, i-40):min(len(want), i+40)])
				break
			}
		}
	}
}

func TestEncodeDecodeMatchesHF(t *testing.T) {
	dir := testenv.Shared(t, "fixtures/hf-tokenizer")
	data := amazonData(t)
	wantIDs := readInts(t, filepath.Join(dir, "amazon_input_ids.txt"))
	wantText, err := os.ReadFile(filepath.Join(dir, "amazon_decoded.txt"))
	if err != nil {
		t.Fatal(err)
	}
	hf, err := Load(filepath.Join(dir, "video_streaming_tok"))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := New(videoLabels)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]*Tokenizer{"hf-folder": hf, "new": ours} {
		got := tok.Encode(data)
		if !reflect.DeepEqual(got, wantIDs) {
			t.Errorf("%s: Encode differs from HF (%d vs %d ids)", name, len(got), len(wantIDs))
		}
		gen := tok.appendGeneral(nil, data)
		if !reflect.DeepEqual(gen, wantIDs) {
			t.Errorf("%s: general path differs from HF", name)
		}
		if !tok.fast {
			t.Errorf("%s: fast path not enabled", name)
		}
		if got := tok.Decode(wantIDs, false); got != strings.TrimRight(string(wantText), "\n") {
			t.Errorf("%s: Decode differs from HF: %.80q", name, got)
		}
	}
}
