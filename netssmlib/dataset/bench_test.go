package dataset

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchJSONL writes a JSONL file shaped like netssm preprocess output:
// samples of 200 packets of 128 decimal bytes.
func benchJSONL(b *testing.B, samples int) (string, int64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for s := 0; s < samples; s++ {
		sb.WriteString(`{"Data":"<|netflix|>`)
		for p := 0; p < 200; p++ {
			if p > 0 {
				sb.WriteString(" <|pkt|>")
			}
			for k := 0; k < 128; k++ {
				v := 0
				if k < 60 {
					v = rng.IntN(256)
				}
				fmt.Fprintf(&sb, " %d", v)
			}
		}
		fmt.Fprintf(&sb, `","Hash":"%064x","Filename":"captures/x%d.pcap","OrigLen":200}`+"\n", s, s)
	}
	p := filepath.Join(b.TempDir(), "bench.jsonl")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p, int64(sb.Len())
}

// BenchmarkTokenize measures netssm tokenize end to end (read, tokenize,
// write Arrow) in MB/s of JSONL, on one worker and on all CPUs.
func BenchmarkTokenize(b *testing.B) {
	in, size := benchJSONL(b, 100)
	tok := mustTok(b, "netflix")
	for _, workers := range []int{1, 0} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(size)
			out := filepath.Join(b.TempDir(), "ds")
			for b.Loop() {
				if _, err := Tokenize(context.Background(), tok, in, out, TokenizeOptions{Workers: workers}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadArrow measures reading a tokenized dataset back.
func BenchmarkReadArrow(b *testing.B) {
	in, _ := benchJSONL(b, 100)
	tok := mustTok(b, "netflix")
	out := filepath.Join(b.TempDir(), "ds")
	st, err := Tokenize(context.Background(), tok, in, out, TokenizeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Tokens * 5)
	for b.Loop() {
		r, err := Open(out, Options{})
		if err != nil {
			b.Fatal(err)
		}
		var sum int64
		for i := 0; i < r.Len(); i++ {
			ex, err := r.At(i)
			if err != nil {
				b.Fatal(err)
			}
			sum += int64(ex.InputIDs[len(ex.InputIDs)-1])
		}
		r.Close()
	}
}
