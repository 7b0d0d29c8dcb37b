package convert

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FuzzText feeds arbitrary text through the whole conversion, with and
// without repair: it must never panic, and every record it writes must be
// readable back with the counts Stats reports.
func FuzzText(f *testing.F) {
	f.Add("<|a|> 1 2 <|pkt|> 3 4 <|pkt|> 5", false)
	f.Add("<|pkt|><|pkt|><|pkt|>", true)
	f.Add("<|a|> <|pkt|> 0 0 0 0 0 0 0 0 0 0 0 0 8 0 69 0 0 40 0 0 64 0 64 6 0 0 127 0 0 1 127 0 0 1 0 80 4 210 0 0 0 1 0 0 0 0 80 2 255 255 0 0 0 0 <|pkt|>", true)
	f.Add("<|a|> <|pkt|> 0 0 0 0 0 0 0 0 0 0 0 0 134 221 96 0 0 0 0 8 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 <|pkt|>", true)
	f.Add("<|a|> <|pkt|> 1 2 256 <|pkt|> \u00a0 7 <|pkt|> <|pk", false)
	if b, err := os.ReadFile("../../testdata/convert/loopback.pcap"); err == nil {
		f.Add(textOfRecords(readAll(f, b)[:6]), true)
	}
	links := []string{"", "linux_sll", "linux_sll2", "null", "loop", "raw"}
	f.Fuzz(func(t *testing.T, text string, repair bool) {
		var out bytes.Buffer
		opt := Options{Repair: repair, KeepFirst: len(text)%2 == 0, Link: links[len(text)%len(links)]}
		st, err := Text(context.Background(), bytes.NewReader([]byte(text)), &out, opt)
		if err != nil {
			return
		}
		if st.Packets+st.Unparseable+st.Blank != st.Candidates {
			t.Fatalf("stats do not add up: %+v", st)
		}
		recs := readAll(t, out.Bytes())
		if len(recs) != st.Packets {
			t.Fatalf("%d records, stats say %d", len(recs), st.Packets)
		}
	})
}

// textOfRecords writes records in NetSSM's text format (128 bytes each).
func textOfRecords(recs []rec) string {
	var sb strings.Builder
	sb.WriteString("<|lo|>")
	for i, r := range recs {
		if i > 0 {
			sb.WriteString(" <|pkt|>")
		}
		d := make([]byte, 128)
		copy(d, r.Data)
		for _, b := range d {
			sb.WriteString(" " + strconv.Itoa(int(b)))
		}
	}
	return sb.String()
}

// FuzzDecodeLink: the header decoder never panics or reports offsets past
// the frame when it succeeds, whatever the link type.
func FuzzDecodeLink(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd, 0x60}, uint32(1))
	f.Add(bytes.Repeat([]byte{0x45}, 80), uint32(101))
	f.Add([]byte{24, 0, 0, 0, 0x60, 0, 0, 0, 0, 8, 17, 64}, uint32(0))
	f.Add([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x60}, uint32(276))
	f.Fuzz(func(t *testing.T, b []byte, link uint32) {
		l, err := DecodeLink(b, link)
		if err == nil && l.HeaderEnd() > len(b) {
			t.Fatalf("headers end at %d past %d bytes", l.HeaderEnd(), len(b))
		}
	})
}
