package preprocess

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// pktSep separates packets in a sample.
const pktSep = " <|pkt|> "

// decimal[b] holds the decimal text of byte b followed by a space, packed
// little-endian in the low 32 bits, and its length in the bits above.
var decimal [256]uint64

// zeroPad is the text of SampleBytes zero bytes, each followed by a space.
var zeroPad = []byte(strings.Repeat("0 ", SampleBytes))

func init() {
	for i := range decimal {
		txt := strconv.Itoa(i) + " "
		var v uint64
		for j := len(txt) - 1; j >= 0; j-- {
			v = v<<8 | uint64(txt[j])
		}
		decimal[i] = v | uint64(len(txt))<<32
	}
}

// AppendPacketText appends the sample text of one packet: its bytes padded
// with zeros or truncated to SampleBytes, each written in decimal, separated
// by single spaces (no leading or trailing space).
func AppendPacketText(dst, pkt []byte) []byte {
	if len(pkt) > SampleBytes {
		pkt = pkt[:SampleBytes]
	}
	n := len(dst)
	dst = slices.Grow(dst, 4*SampleBytes+4)
	buf := dst[n : n+4*SampleBytes+4]
	o := 0
	for _, b := range pkt {
		d := decimal[b]
		binary.LittleEndian.PutUint32(buf[o:], uint32(d)) // always 4 bytes
		o += int(d >> 32)
	}
	o += copy(buf[o:], zeroPad[:2*(SampleBytes-len(pkt))])
	return dst[:n+o-1]
}

// labelPrefix is the start of a sample for one label.
type labelPrefix struct {
	words []string // prefix words after NetSSM's truncation normalisation
	json  []byte   // JSON-escaped prefix text as written (without quotes)
	limit int      // word budget left for packets; -1 = unlimited
	empty bool     // truncation leaves no room for packet words
}

// newLabelPrefix computes the sample prefix "<|label|> " and, when
// truncation is on (truncate != -1, as in NetSSM), the normalised words and
// the word budget left for the packets.
func newLabelPrefix(label string, truncate int) labelPrefix {
	raw := "<|" + label + "|> "
	if truncate == -1 {
		return labelPrefix{json: jsonEscape(raw), limit: -1}
	}
	words := netssmWords(raw)
	lp := labelPrefix{limit: -1}
	if truncate > 0 {
		if truncate <= len(words) {
			words = words[:truncate]
			lp.empty = true
			lp.limit = 0
		} else {
			lp.limit = truncate - len(words)
		}
	}
	lp.words = words
	text := strings.Join(words, " ")
	if !lp.empty {
		text += " "
	}
	lp.json = jsonEscape(text)
	return lp
}

// netssmWords splits s into words the way NetSSM's truncateString reads
// them: runes (invalid UTF-8 bytes become U+FFFD), split on unicode spaces.
func netssmWords(s string) []string {
	var words []string
	var cur strings.Builder
	for _, r := range s {
		if unicode.IsSpace(r) {
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
			continue
		}
		if r == utf8.RuneError {
			cur.WriteRune(utf8.RuneError)
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

// jsonEscape returns s as a JSON string body (no quotes) the way
// encoding/json writes it with HTML escaping off.
func jsonEscape(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return b[1 : len(b)-1]
}

// recordTrailer returns the JSON after the Data string of a record:
// `","Hash":"<sha256 of path>","Filename":"<path>","OrigLen":`.
func recordTrailer(path string) []byte {
	sum := sha256.Sum256([]byte(path))
	b := []byte(`","Hash":"`)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, `","Filename":"`...)
	b = append(b, jsonEscape(path)...)
	b = append(b, `","OrigLen":`...)
	return b
}
