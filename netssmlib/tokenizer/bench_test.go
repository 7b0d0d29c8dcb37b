package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// sampleText is Data text shaped like netssm preprocess output: 200 packets
// of 128 decimal bytes (headers random, padding zeros).
func sampleText() string {
	rng := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	sb.WriteString("<|netflix|>")
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
	return sb.String()
}

// BenchmarkEncode measures encoding Data text (MB/s of text): the fast path
// and the general (HF pipeline) path it replaces.
func BenchmarkEncode(b *testing.B) {
	tok, err := New([]string{"netflix"})
	if err != nil {
		b.Fatal(err)
	}
	text := sampleText()
	raw := []byte(text)
	var ids []int32
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			ids = tok.AppendEncodeBytes(ids[:0], raw, 0)
		}
	})
	b.Run("general", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			ids = tok.appendGeneral(ids[:0], text)
		}
	})
}
