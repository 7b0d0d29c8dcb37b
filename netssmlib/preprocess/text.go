package preprocess

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// pktSep separates packets in a sample.
const pktSep = " <|pkt|> "

// decimal[b] is the decimal text of byte b followed by a space.
var decimal [256][]byte

func init() {
	for i := range decimal {
		decimal[i] = append([]byte(strconv.Itoa(i)), ' ')
	}
}

// AppendPacketText appends the sample text of one packet: its bytes padded
// with zeros or truncated to SampleBytes, each written in decimal, separated
// by single spaces (no leading or trailing space).
func AppendPacketText(dst, pkt []byte) []byte {
	if len(pkt) > SampleBytes {
		pkt = pkt[:SampleBytes]
	}
	for _, b := range pkt {
		dst = append(dst, decimal[b]...)
	}
	for range SampleBytes - len(pkt) {
		dst = append(dst, '0', ' ')
	}
	return dst[:len(dst)-1]
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
