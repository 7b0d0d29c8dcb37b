package dataset

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/netssm/netssm/netssmlib/tokenizer"
)

func mustTok(t testing.TB, labels ...string) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.New(labels)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// examples makes n examples of varying lengths (some empty).
func examples(n int) []Example {
	var out []Example
	for i := 0; i < n; i++ {
		l := (i * 37) % 300
		ex := Example{InputIDs: make([]int32, l), AttentionMask: make([]int8, l)}
		for k := range l {
			ex.InputIDs[k] = int32((i*7 + k) % 264)
			ex.AttentionMask[k] = int8((i + k) % 2)
		}
		out = append(out, ex)
	}
	return out
}

func readAll(t *testing.T, r Reader) []Example {
	t.Helper()
	var out []Example
	for {
		ex, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Example{
			InputIDs:      append([]int32{}, ex.InputIDs...),
			AttentionMask: append([]int8{}, ex.AttentionMask...),
		})
	}
	return out
}

func writeDataset(t *testing.T, dir string, exs []Example, opt WriterOptions) {
	t.Helper()
	w, err := Create(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range exs {
		if err := w.Write(ex); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		shard int64
	}{{"empty", 0, 0}, {"one", 1, 0}, {"batches", 2500, 0}, {"shards", 2500, 40000}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ds")
			want := examples(tc.n)
			writeDataset(t, dir, want, WriterOptions{ShardBytes: tc.shard})
			files, _ := filepath.Glob(filepath.Join(dir, "data-*.arrow"))
			if tc.shard > 0 && len(files) < 2 {
				t.Errorf("expected several shards, got %v", files)
			}
			r, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Len() != tc.n {
				t.Fatalf("Len = %d, want %d", r.Len(), tc.n)
			}
			got := readAll(t, r)
			if len(got) != len(want) {
				t.Fatalf("read %d examples, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i].InputIDs, want[i].InputIDs) && !(len(got[i].InputIDs) == 0 && len(want[i].InputIDs) == 0) {
					t.Fatalf("example %d ids differ", i)
				}
				if !reflect.DeepEqual(got[i].AttentionMask, want[i].AttentionMask) && !(len(got[i].AttentionMask) == 0 && len(want[i].AttentionMask) == 0) {
					t.Fatalf("example %d mask differs", i)
				}
			}
			if tc.n > 0 {
				ex, err := r.At(tc.n - 1)
				if err != nil || len(ex.InputIDs) != len(want[tc.n-1].InputIDs) {
					t.Fatalf("At(last) = %v, %v", len(ex.InputIDs), err)
				}
			}
			// each shard alone is also a dataset
			for _, f := range files {
				r, err := Open(f, Options{})
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
			}
		})
	}
}

func TestJSONLReader(t *testing.T) {
	tok := mustTok(t, "netflix")
	dir := t.TempDir()
	p := filepath.Join(dir, "x.jsonl")
	lines := `{"Data":"<|netflix|> 1 2 3 <|pkt|> 4 5","Hash":"ab","Filename":"a.pcap","OrigLen":2}
{"Hash":"cd","Data":"<|netflix|> 255 999 x\u0020<|pkt|>","OrigLen":3}

{"Data": "<|netflix|> 7"}
`
	if err := os.WriteFile(p, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p, Options{Tokenizer: tok, MaxLen: 4, Padding: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readAll(t, r)
	want := []Example{
		{[]int32{260, 1, 2, 3}, []int8{1, 1, 1, 1}},
		{[]int32{260, 255, 256, 256}, []int8{1, 1, 1, 1}},
		{[]int32{260, 7, 258, 258}, []int8{1, 1, 0, 0}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Errors name the file and line.
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"Data\":\"1\"}\n{\"Data\": 5}\n"), 0o644)
	r2, err := Open(bad, Options{Tokenizer: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	_, err = r2.At(1)
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("error %v does not name bad.jsonl:2", err)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(b []byte) (int, error) {
	if f.n+len(b) > 1<<20 {
		return 0, io.ErrShortWrite
	}
	f.n += len(b)
	return len(b), nil
}

// A write error (a full disk) stops the stream at the next batch instead of
// being noticed only at the end.
func TestStreamWriterReportsWriteErrors(t *testing.T) {
	sw := newStreamWriter(&failWriter{})
	var err error
	n := 0
	for _, ex := range examples(20000) {
		if err = sw.write(ex); err != nil {
			break
		}
		n++
	}
	if err == nil {
		err = sw.close()
	}
	if err == nil {
		t.Fatal("no error from a failing writer")
	}
	if n >= 20000 {
		t.Errorf("error reported only after all %d examples", n)
	}
}

// A shard cut anywhere fails to open with an error naming the file (the
// end-of-stream marker is missing even when the cut falls between record
// batches); never a panic.
func TestTruncatedShards(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	want := examples(2200)
	writeDataset(t, dir, want, WriterOptions{})
	full, err := os.ReadFile(filepath.Join(dir, "data-00000-of-00001.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.arrow")
	for n := 0; n < len(full); n += 1 + len(full)/300 {
		os.WriteFile(cut, full[:n], 0o644)
		r, err := Open(cut, Options{})
		if err == nil {
			r.Close()
			t.Fatalf("cut at %d of %d: opened without error", n, len(full))
		}
		if !strings.Contains(err.Error(), "cut.arrow") {
			t.Fatalf("cut at %d: error %q does not name the file", n, err)
		}
	}
	if r, err := Open(filepath.Join(dir, "data-00000-of-00001.arrow"), Options{}); err != nil || r.Len() != len(want) {
		t.Fatalf("the whole shard: %v", err)
	}
}
