package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/tokenizer"
)

// TestTokenizeMatchesHFBatch checks Tokenize against HF's own encoding of
// [amazon Data, "<|netflix|> 1 2 3 <|pkt|> 4 999 x"] with max_length=1000,
// truncation and padding="max_length" (fixtures/hf-tokenizer).
func TestTokenizeMatchesHFBatch(t *testing.T) {
	fx := testenv.Shared(t, "fixtures/hf-tokenizer")
	seed := testenv.Shared(t, "seed-examples/expected_preprocess_labelcsv.jsonl")
	tok, err := tokenizer.Load(filepath.Join(fx, "video_streaming_tok"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		InputIDs      [][]int32 `json:"input_ids"`
		AttentionMask [][]int8  `json:"attention_mask"`
	}
	b, err := os.ReadFile(filepath.Join(fx, "batch_maxlen1000_padded.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	sb, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := bytes.Cut(sb, []byte("\n"))
	dir := t.TempDir()
	in := filepath.Join(dir, "batch.jsonl")
	jsonl := string(first) + "\n" + `{"Data": "<|netflix|> 1 2 3 <|pkt|> 4 999 x", "Hash": "h", "Filename": "f", "OrigLen": 1}` + "\n"
	if err := os.WriteFile(in, []byte(jsonl), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "ds")
	st, err := Tokenize(context.Background(), tok, in, out, TokenizeOptions{MaxLen: 1000, Padding: true, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if st.Examples != 2 || st.Truncated != 1 || st.Unknown != 2 {
		t.Errorf("stats = %+v, want 2 examples, 1 truncated, 2 unknown", st)
	}
	r, err := Open(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	if len(got) != 2 {
		t.Fatalf("%d examples", len(got))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].InputIDs, want.InputIDs[i]) {
			t.Errorf("example %d: input_ids differ from HF's", i)
		}
		if !reflect.DeepEqual(got[i].AttentionMask, want.AttentionMask[i]) {
			t.Errorf("example %d: attention_mask differs from HF's", i)
		}
	}
	// The JSONL reader with the same options yields the same examples.
	jr, err := Open(in, Options{Tokenizer: tok, MaxLen: 1000, Padding: true})
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	if got2 := readAll(t, jr); !reflect.DeepEqual(got2, got) {
		t.Errorf("JSONL reader differs from the Arrow dataset")
	}
}

// TestTokenizeOptions covers create_tok_dataset's option combinations.
func TestTokenizeOptions(t *testing.T) {
	tok := mustTok(t, "netflix")
	dir := t.TempDir()
	in := filepath.Join(dir, "x.jsonl")
	os.WriteFile(in, []byte(`{"Data":"<|netflix|> 1 2 3 4 5"}`+"\n"+`{"Data":"<|netflix|> 9"}`), 0o644)
	for _, tc := range []struct {
		name string
		opt  TokenizeOptions
		want []Example
	}{
		{"plain", TokenizeOptions{}, []Example{
			{[]int32{260, 1, 2, 3, 4, 5}, []int8{1, 1, 1, 1, 1, 1}},
			{[]int32{260, 9}, []int8{1, 1}}}},
		{"truncate only (HF max_length without padding)", TokenizeOptions{MaxLen: 3}, []Example{
			{[]int32{260, 1, 2}, []int8{1, 1, 1}},
			{[]int32{260, 9}, []int8{1, 1}}}},
		{"pad to max_len", TokenizeOptions{MaxLen: 4, Padding: true}, []Example{
			{[]int32{260, 1, 2, 3}, []int8{1, 1, 1, 1}},
			{[]int32{260, 9, 258, 258}, []int8{1, 1, 0, 0}}}},
		{"pad to longest", TokenizeOptions{Padding: true}, []Example{
			{[]int32{260, 1, 2, 3, 4, 5}, []int8{1, 1, 1, 1, 1, 1}},
			{[]int32{260, 9, 258, 258, 258, 258}, []int8{1, 1, 0, 0, 0, 0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "ds")
			if _, err := Tokenize(context.Background(), tok, in, out, tc.opt); err != nil {
				t.Fatal(err)
			}
			r, err := Open(out, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := readAll(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestTokenizeErrorsWriteNothing(t *testing.T) {
	tok := mustTok(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "x.jsonl")
	os.WriteFile(in, []byte("{\"Data\":\"1 2\"}\n\n{\"Data\":\"3\"\n"), 0o644)
	out := filepath.Join(dir, "ds")
	_, err := Tokenize(context.Background(), tok, in, out, TokenizeOptions{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("x.jsonl:3")) {
		t.Fatalf("error %v does not name x.jsonl:3", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output folder exists after a failed run")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Tokenize(ctx, tok, in, out, TokenizeOptions{}); err == nil {
		t.Errorf("cancelled context: no error")
	}
}
