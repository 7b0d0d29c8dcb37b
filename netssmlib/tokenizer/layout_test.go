package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
)

func testdata(parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot(), "testdata", "tokenizer"}, parts...)...)
}

// TestPretrainedBPELayout loads a tokenizer in the layout of NetSSM's
// pretrained tokenizer; expected ids follow BPE's merge rules by hand.
func TestPretrainedBPELayout(t *testing.T) {
	tok, err := Load(testdata("pretrained-bpe"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.ModelType() != "BPE" || tok.Pad() != 1 || tok.EOS() != 0 || tok.Unk() != -1 {
		t.Fatalf("type %s pad %d eos %d unk %d", tok.ModelType(), tok.Pad(), tok.EOS(), tok.Unk())
	}
	for _, tc := range []struct {
		text string
		want []int32
	}{
		// 126: 1 2 6 -> (1,2) -> 12 6 -> (12,6) -> 126; 99 has no merge;
		// "x" is not in the vocab and there is no unk: dropped.
		{"<|netflix|> 126 160 255 7 99 <|pkt|> 1 x", []int32{3, 17, 18, 19, 11, 13, 13, 2, 5}},
		{"<|netflix|> 126 160 255 7 99 <|pkt|> 1", []int32{3, 17, 18, 19, 11, 13, 13, 2, 5}},
		{"100 10", []int32{16, 4, 16}},
		// Added tokens are matched on the raw text; the Lowercase normalizer
		// then makes "<|pkt|>" a word the BPE cannot spell: dropped.
		{"<|PKT|> 7", []int32{11}},
		{"", nil},
	} {
		got := tok.Encode(tc.text)
		if !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
		if gen := tok.appendGeneral(nil, tc.text); !reflect.DeepEqual(gen, got) && len(gen)+len(got) > 0 {
			t.Errorf("general path %v differs from Encode %v for %q", gen, got, tc.text)
		}
	}
	if got := tok.Decode([]int32{3, 17, 2, 999, 1}, false); got != "<|netflix|> 126 <|pkt|> <|padding|>" {
		t.Errorf("Decode = %q", got)
	}
	if got := tok.Decode([]int32{3, 17, 2, 16}, true); got != "126 10" {
		t.Errorf("Decode(skip special) = %q", got)
	}
	if got := tok.Labels(); !reflect.DeepEqual(got, []string{"netflix"}) {
		t.Errorf("Labels = %v", got)
	}
}

func TestConfigFilesGolden(t *testing.T) {
	tok, err := New(videoLabels)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ConfigFile, SpecialTokensFile} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		want, err := os.ReadFile(testdata("video_streaming_tok", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file:\n%s", name, got)
		}
		var v map[string]any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Errorf("%s is not JSON: %v", name, err)
		}
	}
	// Re-saving the folder HF (transformers 5) wrote gives the 4.x-style files.
	hfDir := testenv.Shared(t, "fixtures/hf-tokenizer/video_streaming_tok")
	hf, err := Load(hfDir)
	if err != nil {
		t.Fatal(err)
	}
	resaved := t.TempDir()
	if err := hf.Save(resaved); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{TokenizerFile, ConfigFile, SpecialTokensFile} {
		got, _ := os.ReadFile(filepath.Join(resaved, name))
		want, _ := os.ReadFile(filepath.Join(dir, name))
		if !bytes.Equal(got, want) {
			t.Errorf("re-saved HF folder: %s differs from ours:\n%s", name, got)
		}
	}
	// Loading the saved folder gives the same tokenizer back.
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.TokenizerJSON(), tok.TokenizerJSON()) || back.Pad() != 258 || back.EOS() != 257 || !back.cleanUp {
		t.Errorf("reloaded tokenizer differs")
	}
}

func TestWithLabels(t *testing.T) {
	base, err := New([]string{"netflix"})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := base.WithLabels("amazon", "netflix", "youtube")
	if err != nil {
		t.Fatal(err)
	}
	// Same bytes as building it with all labels at once.
	all, _ := New([]string{"netflix", "amazon", "youtube"})
	if !bytes.Equal(ext.TokenizerJSON(), all.TokenizerJSON()) {
		t.Errorf("extended tokenizer.json differs from New with all labels")
	}
	for _, w := range []string{"0", "255", UnkToken, EOSToken, PadToken, PktToken, "<|netflix|>"} {
		a, _ := base.TokenID(w)
		b, _ := ext.TokenID(w)
		if a != b {
			t.Errorf("%s moved from %d to %d", w, a, b)
		}
	}
	if id, _ := ext.TokenID("<|youtube|>"); id != 262 || ext.VocabSize() != 263 {
		t.Errorf("youtube id %d, vocab size %d", id, ext.VocabSize())
	}

	// The BPE layout: new labels after the largest id, everything else kept.
	bpe, err := Load(testdata("pretrained-bpe"))
	if err != nil {
		t.Fatal(err)
	}
	ext2, err := bpe.WithLabels("amazon")
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := ext2.TokenID("<|amazon|>"); !ok || id != 21 {
		t.Errorf("<|amazon|> = %d, %v; want 21", id, ok)
	}
	dir := t.TempDir()
	if err := ext2.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Encode("<|amazon|> 126 <|pkt|>"); !reflect.DeepEqual(got, []int32{21, 17, 2}) {
		t.Errorf("Encode after extension = %v", got)
	}
	orig, _ := os.ReadFile(testdata("pretrained-bpe", "tokenizer.json"))
	saved, _ := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	i := bytes.Index(orig, []byte(`"normalizer"`))
	j := bytes.Index(saved, []byte(`"normalizer"`))
	if i < 0 || j < 0 || !bytes.Equal(orig[i:], saved[j:]) {
		t.Errorf("extension changed tokenizer.json beyond added_tokens")
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if !strings.Contains(string(cfg), `"21": {`) || !strings.Contains(string(cfg), `"pad_token": "<|padding|>"`) {
		t.Errorf("config lacks the new label or the pad token:\n%s", cfg)
	}
	if _, err := base.WithLabels("bad label"); err == nil {
		t.Errorf("a label with a space was accepted")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage":   "not json",
		"no model":  `{"added_tokens": []}`,
		"unigram":   `{"model": {"type": "Unigram", "vocab": []}}`,
		"bad id":    `{"model": {"type": "WordLevel", "vocab": {"a": -1}}}`,
		"decoder":   `{"decoder": {"type": "ByteLevel"}, "model": {"type": "WordLevel", "vocab": {"a": 0}}}`,
		"bad merge": `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		os.WriteFile(p, []byte(content), 0o644)
		_, err := Load(p)
		if err == nil {
			t.Errorf("%s: loaded without error", name)
		} else if !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "absent")); err == nil {
		t.Errorf("absent folder loaded")
	}
}

func TestWhitespacePreTokenizer(t *testing.T) {
	var got []string
	wsPre{}.split("ab, c!?d\té_1 <x>", func(w string) { got = append(got, w) })
	want := []string{"ab", ",", "c", "!?", "d", "é_1", "<", "x", ">"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
	tok, _ := New(nil)
	// "12a" is one \w+ word (unknown); "<|pkt|>" split out first even when glued.
	if got := tok.Encode("12a 7<|pkt|>8 1,2"); !reflect.DeepEqual(got, []int32{256, 7, 259, 8, 1, 256, 2}) {
		t.Errorf("Encode = %v", got)
	}
	if got := tok.AppendEncode(nil, "1 2 3 4", 2); !reflect.DeepEqual(got, []int32{1, 2}) {
		t.Errorf("truncated Encode = %v", got)
	}
}
