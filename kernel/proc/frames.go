package proc

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// Frame kinds, after the prefix.
const (
	frameEnd     = 'E' // E<seq>\x00: all output of request seq was written before this
	frameDisplay = 'D' // D<len>\x00<len bytes of JSON displayMsg>
)

// framePrefix is "\x00\x1b<nonce>:"; the nonce is random per child.
func framePrefix(nonce string) []byte { return []byte("\x00\x1b" + nonce + ":") }

func endFrame(prefix []byte, seq uint64) []byte {
	b := append([]byte{}, prefix...)
	b = append(b, frameEnd)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, 0)
}

func displayFrame(prefix []byte, payload []byte) []byte {
	b := append([]byte{}, prefix...)
	b = append(b, frameDisplay)
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, 0)
	return append(b, payload...)
}

// frameReader splits a stream into text and frames. Feed it bytes as they
// arrive; it calls text for plain output (never splitting a UTF-8
// sequence, never holding back more than a possible frame start), end for
// end markers and display for display frames, in stream order.
type frameReader struct {
	prefix  []byte
	pending []byte
	text    func([]byte)
	end     func(seq uint64)
	display func(payload []byte)
}

const maxDisplayFrame = 256 << 20

func (r *frameReader) feed(p []byte) {
	r.pending = append(r.pending, p...)
	for len(r.pending) > 0 {
		i := bytes.Index(r.pending, r.prefix)
		if i < 0 {
			keep := partialPrefix(r.pending, r.prefix)
			keep = max(keep, incompleteRune(r.pending[:len(r.pending)-keep]))
			r.emit(r.pending[:len(r.pending)-keep])
			r.pending = r.pending[len(r.pending)-keep:]
			return
		}
		r.emit(r.pending[:i])
		rest := r.pending[i+len(r.prefix):]
		nul := bytes.IndexByte(rest, 0)
		if nul < 0 {
			if len(rest) > 24 { // no header is that long: not a frame
				r.emit(r.pending[i : i+len(r.prefix)])
				r.pending = r.pending[i+len(r.prefix):]
				continue
			}
			r.pending = r.pending[i:]
			return
		}
		if nul == 0 { // no kind byte: not a frame
			r.emit(r.pending[i : i+len(r.prefix)])
			r.pending = r.pending[i+len(r.prefix):]
			continue
		}
		kind := rest[0]
		n, err := strconv.ParseUint(string(rest[1:nul]), 10, 64)
		if err != nil || (kind != frameEnd && kind != frameDisplay) || (kind == frameDisplay && n > maxDisplayFrame) {
			// Not one of ours after all: pass it on as text.
			r.emit(r.pending[i : i+len(r.prefix)])
			r.pending = r.pending[i+len(r.prefix):]
			continue
		}
		body := rest[nul+1:]
		switch kind {
		case frameEnd:
			r.end(n)
			r.pending = body
		case frameDisplay:
			if uint64(len(body)) < n {
				r.pending = r.pending[i:]
				return
			}
			r.display(body[:n])
			r.pending = body[n:]
		}
	}
}

// flush emits whatever is pending (at EOF).
func (r *frameReader) flush() {
	r.emit(r.pending)
	r.pending = nil
}

func (r *frameReader) emit(b []byte) {
	if len(b) > 0 {
		r.text(append([]byte(nil), b...))
	}
}

// partialPrefix returns the length of the longest suffix of b that is a
// proper prefix of p.
func partialPrefix(b, p []byte) int {
	for n := min(len(b), len(p)-1); n > 0; n-- {
		if bytes.Equal(b[len(b)-n:], p[:n]) {
			return n
		}
	}
	return 0
}

// incompleteRune returns the length of an incomplete UTF-8 sequence at the
// end of b (0 if b ends on a rune boundary or in invalid bytes).
func incompleteRune(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}
