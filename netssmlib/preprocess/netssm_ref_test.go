package preprocess

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode"

	"github.com/netssm/netssm/netssmlib/pcapio"
)

// This file is the "NetSSM-equivalent" baseline: a straightforward
// sequential implementation of NetSSM's preprocessor algorithm (one
// gopacket.NewPacket per packet, fmt.Sprint per byte, strings.Join, a
// rune-by-rune truncation, encoding/json with HTML escaping off), written
// from the description of NetSSM's behaviour. Tests assert that Run agrees
// with it byte for byte; the benchmark compares their speed.

type netssmCapture struct {
	Data     string
	Hash     string
	Filename string
	OrigLen  int
}

// netssmTruncate keeps the first n whitespace-separated words, rune by
// rune, the way NetSSM's truncateString does.
func netssmTruncate(input string, n int) string {
	var b strings.Builder
	count, inWord := 0, false
	for _, r := range input {
		if unicode.IsSpace(r) {
			if inWord {
				count++
				inWord = false
				if count == n {
					break
				}
				b.WriteRune(' ')
			}
		} else {
			inWord = true
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// netssmEquivalent preprocesses one capture; ok is false when the capture
// yields no record (fewer than two TCP/UDP packets). truncate uses NetSSM's
// flag semantics (-1 = off).
func netssmEquivalent(path, label string, truncate int) (line []byte, ok bool, err error) {
	r, err := pcapio.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	var pkts []string
	for {
		data, p, err := r.Next()
		if err == io.EOF || errors.Is(err, pcapio.ErrTruncated) {
			break
		}
		if err != nil {
			return nil, false, err
		}
		b, kind := ReferencePacket(nil, p.LinkType, data)
		if kind == Skip {
			continue
		}
		if len(b) > 128 {
			b = b[:128]
		} else {
			b = append(b, make([]byte, 128-len(b))...)
		}
		strs := make([]string, len(b))
		for i, v := range b {
			strs[i] = fmt.Sprint(v)
		}
		pkts = append(pkts, strings.Join(strs, " "))
	}
	if len(pkts) <= 1 {
		return nil, false, nil
	}
	data := "<|" + label + "|> " + strings.Join(pkts, " <|pkt|> ")
	if truncate != -1 {
		data = netssmTruncate(data, truncate)
	}
	sum := sha256.Sum256([]byte(path))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(netssmCapture{data, fmt.Sprintf("%x", sum), path, len(pkts)}); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}

func TestNetSSMTruncateReference(t *testing.T) {
	// The reference truncation itself, on hand-checked cases.
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"<|a|> 1 2 3", 2, "<|a|> 1"},
		{"<|a|> 1 2 3", 4, "<|a|> 1 2 3"},
		{"<|a|> 1 2 3", 9, "<|a|> 1 2 3"},
		{"<|a  b|> 1 2", 0, "<|a b|> 1 2"},
		{"<|a\tb|> 1 2", 2, "<|a b|>"},
		{"<|a b|> 1 2", 1, "<|a"},
	} {
		if got := netssmTruncate(c.in, c.n); got != c.want {
			t.Errorf("netssmTruncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
