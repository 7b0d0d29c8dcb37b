package tokenizer

import (
	"reflect"
	"testing"
)

// FuzzEncode checks the tokenizer's text handling on arbitrary text: no
// panic, the fast path agrees with the HF pipeline, every id decodes, decode
// then encode gives the same ids back, and truncation keeps a prefix.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"", " ", "<|netflix|> 226 70 154 78 <|pkt|> 0 128 153",
		"<|pkt|><|pkt|>", "<|pk", "1  2\t3\n4", "999 0001 12a", "<|unk|> x",
		"héllo, wörld! ﬁ ٣ ½", "\xff\xfe<|pkt|>\x00", "<|PKT|> 7", "255<|amazon|>255",
	} {
		f.Add(s)
	}
	wl, err := New([]string{"netflix", "amazon"})
	if err != nil {
		f.Fatal(err)
	}
	bpe, err := Load(testdata("pretrained-bpe"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range []*Tokenizer{wl, bpe} {
			ids := tok.Encode(s)
			if gen := tok.appendGeneral(nil, s); !reflect.DeepEqual(gen, ids) && len(gen)+len(ids) > 0 {
				t.Fatalf("%s: fast path %v != general %v for %q", tok.ModelType(), ids, gen, s)
			}
			for _, id := range ids {
				if _, ok := tok.Token(id); !ok {
					t.Fatalf("id %d has no token", id)
				}
			}
			if cut := tok.AppendEncode(nil, s, 3); len(cut) > 3 || !reflect.DeepEqual(cut, ids[:len(cut)]) {
				t.Fatalf("truncated %v is not a prefix of %v", cut, ids)
			}
			back := tok.Encode(tok.Decode(ids, false))
			if tok == wl && !reflect.DeepEqual(back, ids) && len(back)+len(ids) > 0 {
				t.Fatalf("encode(decode(%v)) = %v", ids, back)
			}
		}
	})
}
