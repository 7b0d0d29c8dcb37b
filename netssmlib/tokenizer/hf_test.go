package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
)

// diffTexts are texts for the differential test: the fuzz seeds, Data-like
// text, and random strings over an alphabet mixing digits, spaces, added
// tokens, letters, punctuation, Unicode and control characters.
func diffTexts(n int) []string {
	texts := []string{
		"", " ", "<|netflix|> 226 70 154 78 <|pkt|> 0 128 153", "<|pkt|><|pkt|>", "<|pk",
		"1  2\t3\n4", "999 0001 12a", "<|unk|> x", "héllo, wörld! ﬁ ٣ ½ Ⅻ", "<|PKT|> 7",
		"255<|amazon|>255", "a_b-c__d", "x\u200dy", "12 6 160 1600 10 100", "don't stop . ok ?",
	}
	pieces := []string{"0", "1", "7", "12", "126", "255", "256", "999", " ", " ", "  ", "\t", "\n",
		"<|pkt|>", "<|netflix|>", "<|amazon|>", "<|unk|>", "<|", "|>", "<", "a", "Z", "é", "ß", "٣",
		"_", "-", ",", ".", "'", "!?", "\u00a0", "\u3000", "日本", "🙂", "\u0301"}
	rng := rand.New(rand.NewPCG(7, 7))
	for range n {
		var sb strings.Builder
		for range rng.IntN(30) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		texts = append(texts, sb.String())
	}
	return texts
}

// TestAgainstHF compares Encode and Decode with HuggingFace tokenizers
// itself (Rust, via its Node binding, installed by .ci/setup.d/hf-tokenizers.sh)
// on NetSSM's tokenizer, the pretrained BPE layout and a label-extended
// tokenizer, over a few hundred texts.
func TestAgainstHF(t *testing.T) {
	node := testenv.NeedTool(t, "node")
	js := filepath.Join(testenv.RepoRoot(), "testdata", "tokenizer", "js")
	if _, err := os.Stat(filepath.Join(js, "node_modules", "tokenizers")); err != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true but tokenizers is not installed in testdata/tokenizer/js (.ci/setup.d/hf-tokenizers.sh)")
		}
		t.Skip("skipping: HF tokenizers not installed (cd testdata/tokenizer/js && npm ci)")
	}
	dir := t.TempDir()
	texts := diffTexts(300)
	textsPath := filepath.Join(dir, "texts.json")
	b, _ := json.Marshal(texts)
	if err := os.WriteFile(textsPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	netssm, _ := New([]string{"netflix", "amazon"})
	bpeFile, _ := os.ReadFile(testdata("pretrained-bpe", "tokenizer.json"))
	bpe, err := Parse(bpeFile)
	if err != nil {
		t.Fatal(err)
	}
	bpeExt, err := bpe.WithLabels("amazon")
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]*Tokenizer{"netssm": netssm, "pretrained-bpe": bpe, "bpe+amazon": bpeExt} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".json")
			if err := os.WriteFile(p, tok.TokenizerJSON(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(node, filepath.Join(js, "encode.mjs"), p, textsPath).Output()
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			var hf struct {
				IDs         [][]int32 `json:"ids"`
				Decoded     []string  `json:"decoded"`
				DecodedSkip []string  `json:"decodedSkip"`
			}
			if err := json.Unmarshal(out, &hf); err != nil {
				t.Fatal(err)
			}
			// tokenizers' decode has no transformers clean-up step.
			raw := *tok
			raw.cleanUp = false
			bad := 0
			for i, text := range texts {
				ids := tok.Encode(text)
				if !reflect.DeepEqual(ids, hf.IDs[i]) && len(ids)+len(hf.IDs[i]) > 0 {
					t.Errorf("Encode(%q) = %v, HF %v", text, ids, hf.IDs[i])
					bad++
				}
				if got := raw.Decode(hf.IDs[i], false); got != hf.Decoded[i] {
					t.Errorf("Decode(%v) = %q, HF %q", hf.IDs[i], got, hf.Decoded[i])
					bad++
				}
				if got := raw.Decode(hf.IDs[i], true); got != hf.DecodedSkip[i] {
					t.Errorf("Decode(%v, skip) = %q, HF %q", hf.IDs[i], got, hf.DecodedSkip[i])
					bad++
				}
				if bad > 10 {
					t.Fatal("too many differences")
				}
			}
		})
	}
}
