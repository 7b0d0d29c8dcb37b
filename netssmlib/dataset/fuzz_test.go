package dataset

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/netssm/netssm/netssmlib/tokenizer"
)

// FuzzOpenArrow feeds arbitrary bytes to the Arrow reader: it must return
// an error or examples, never panic or read outside the file.
func FuzzOpenArrow(f *testing.F) {
	for _, name := range []string{"hf-columns.arrow", "large-list-int64.arrow", "file-format.arrow"} {
		b, err := os.ReadFile(testdata(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("ARROW1\x00\x00"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		fh, err := os.CreateTemp(dir, "*.arrow") // one file per run: workers run in parallel
		if err != nil {
			t.Fatal(err)
		}
		p := fh.Name()
		defer os.Remove(p)
		_, err = fh.Write(data)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(p, Options{})
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < r.Len() && i < 1000; i++ {
			ex, err := r.At(i)
			if err == nil && len(ex.InputIDs) != len(ex.AttentionMask) {
				t.Fatalf("example %d: %d ids, %d mask values", i, len(ex.InputIDs), len(ex.AttentionMask))
			}
		}
	})
}

// FuzzDataField checks the JSONL field scanner against encoding/json: it
// must never panic, and when it accepts a line, encoding/json must find the
// same Data string.
func FuzzDataField(f *testing.F) {
	for _, s := range []string{
		`{"Data":"<|netflix|> 1 2","Hash":"ab","OrigLen":3}`,
		`{"Hash": {"a": [1, "}"]}, "Data": "x\"y\u0041"}`,
		`{"Data": 5}`, `{"Data":"a"`, `{}`, `[]`, `{"Data":"a","Data":"b"}`, `{"D\u0061ta":"z"}`,
	} {
		f.Add([]byte(s))
	}
	tok, err := newTok()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ids, err := encodeLine(tok, nil, line, 0)
		if err != nil {
			return
		}
		var rec map[string]any
		if jsonErr := jsonUnmarshal(line, &rec); jsonErr != nil {
			return // we are more lenient on fields other than Data
		}
		s, ok := rec["Data"].(string)
		if !ok {
			t.Fatalf("accepted %q but encoding/json has no string Data", line)
		}
		if want := tok.Encode(s); len(want)+len(ids) > 0 && !equalIDs(ids, want) {
			t.Fatalf("ids %v, want %v for %q", ids, want, line)
		}
	})
}

func newTok() (*tokenizer.Tokenizer, error) { return tokenizer.New([]string{"netflix"}) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
