package proc

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

type frameLog struct {
	text     bytes.Buffer
	events   []string
	textSeen []string
}

func (l *frameLog) reader(prefix []byte) *frameReader {
	return &frameReader{
		prefix: prefix,
		text: func(b []byte) {
			l.text.Write(b)
			l.textSeen = append(l.textSeen, string(b))
		},
		end:     func(seq uint64) { l.events = append(l.events, fmt.Sprintf("end %d after %q", seq, l.text.String())) },
		display: func(p []byte) { l.events = append(l.events, fmt.Sprintf("display %s after %q", p, l.text.String())) },
	}
}

// Every split of the stream into two reads gives the same text and
// events, and no read emits half a UTF-8 sequence.
func TestFrameReaderSplits(t *testing.T) {
	prefix := framePrefix("0123456789abcdef")
	var stream []byte
	stream = append(stream, "héllo wörld\n"...)
	stream = append(stream, displayFrame(prefix, []byte(`{"Data":{"text/plain":"x"}}`))...)
	stream = append(stream, "\x00\x1bnot-a-frame \x00 日本\n"...)
	stream = append(stream, endFrame(prefix, 7)...)
	stream = append(stream, "after"...)
	stream = append(stream, prefix...) // a prefix followed by garbage is text
	stream = append(stream, "Zjunk\x00tail"...)

	whole := &frameLog{}
	r := whole.reader(prefix)
	r.feed(stream)
	r.flush()
	wantText := "héllo wörld\n\x00\x1bnot-a-frame \x00 日本\nafter" + string(prefix) + "Zjunk\x00tail"
	if whole.text.String() != wantText {
		t.Fatalf("text = %q\nwant %q", whole.text.String(), wantText)
	}
	if len(whole.events) != 2 || !strings.HasPrefix(whole.events[0], "display") || !strings.HasPrefix(whole.events[1], "end 7") {
		t.Fatalf("events = %q", whole.events)
	}
	for cut := 0; cut <= len(stream); cut++ {
		for cut2 := cut; cut2 <= len(stream); cut2 += 7 {
			l := &frameLog{}
			r := l.reader(prefix)
			r.feed(stream[:cut])
			r.feed(stream[cut:cut2])
			r.feed(stream[cut2:])
			r.flush()
			if l.text.String() != wantText || strings.Join(l.events, "|") != strings.Join(whole.events, "|") {
				t.Fatalf("cuts %d,%d: text %q events %q", cut, cut2, l.text.String(), l.events)
			}
			for _, s := range l.textSeen[:max(len(l.textSeen)-1, 0)] {
				if strings.ContainsRune(s, '\uFFFD') || !isValidEnd(s) {
					t.Fatalf("cuts %d,%d: emitted a split rune: %q", cut, cut2, s)
				}
			}
		}
	}
}

func isValidEnd(s string) bool { return incompleteRune([]byte(s)) == 0 }

func FuzzFrameReader(f *testing.F) {
	prefix := framePrefix("fz")
	f.Add([]byte("plain"), 3)
	f.Add(append(append([]byte("a"), endFrame(prefix, 3)...), 'b'), 2)
	f.Add(displayFrame(prefix, []byte("{}")), 5)
	f.Fuzz(func(t *testing.T, data []byte, step int) {
		if step <= 0 {
			step = 1
		}
		var got bytes.Buffer
		r := &frameReader{prefix: prefix, text: func(b []byte) { got.Write(b) }, end: func(uint64) {}, display: func([]byte) {}}
		for i := 0; i < len(data); i += step {
			r.feed(data[i:min(i+step, len(data))])
		}
		r.flush()
		if !bytes.Contains(data, prefix) && !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("frameless input changed: %q -> %q", data, got.Bytes())
		}
	})
}
