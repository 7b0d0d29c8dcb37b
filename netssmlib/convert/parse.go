package convert

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PktToken separates packets in NetSSM's text format.
const PktToken = "<|pkt|>"

// FailureMarker is the text NetSSM's generate.py writes when it could not
// map tokens back to text; conversion.py then writes nothing.
const FailureMarker = "Could not parse token mapping"

// MaxPacket is the largest packet (bytes) a piece may hold; Wireshark
// reads no larger record. Longer pieces are counted as unparseable.
const MaxPacket = 262144

// maxPieceText bounds the text of one piece kept in memory: MaxPacket
// words of up to 3 digits plus separators, with slack for odd spacing.
const maxPieceText = MaxPacket*4 + 4096

// ParsePacket parses one piece of text: decimal byte values (0..255, leading
// zeros allowed) separated by white space. It returns an error naming the
// first bad word. A blank piece returns (nil, nil).
func ParsePacket(piece []byte) ([]byte, error) {
	return appendPacket(nil, piece)
}

func appendPacket(dst, piece []byte) ([]byte, error) {
	dst = dst[:0]
	i, word := 0, 0
	for i < len(piece) {
		// Skip white space (ASCII fast path, Unicode as Python's split).
		c := piece[i]
		if asciiSpace[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(piece[i:])
			if unicode.IsSpace(r) {
				i += n
				continue
			}
		}
		j := i
		v := 0
		for j < len(piece) && piece[j] >= '0' && piece[j] <= '9' {
			if v <= 255 {
				v = v*10 + int(piece[j]-'0')
			}
			j++
		}
		end := j
		for end < len(piece) && !isSpaceAt(piece, end) {
			end++
		}
		if j == i || end != j {
			return nil, fmt.Errorf("word %d %q is not a decimal byte", word, clip(piece[i:end]))
		}
		if v > 255 {
			return nil, fmt.Errorf("word %d %q is larger than 255", word, clip(piece[i:end]))
		}
		if len(dst) >= MaxPacket {
			return nil, fmt.Errorf("packet longer than %d bytes", MaxPacket)
		}
		dst = append(dst, byte(v))
		word++
		i = end
	}
	return dst, nil
}

// asciiSpace marks the ASCII characters Python's str.split() splits on:
// \t \n \v \f \r, the separators \x1c-\x1f, and space. (Go's
// unicode.IsSpace, used beyond ASCII, lacks \x1c-\x1f.)
var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true,
	0x1c: true, 0x1d: true, 0x1e: true, 0x1f: true, ' ': true}

func isSpaceAt(b []byte, i int) bool {
	c := b[i]
	if c < utf8.RuneSelf {
		return asciiSpace[c]
	}
	r, _ := utf8.DecodeRune(b[i:])
	return unicode.IsSpace(r)
}

func clip(b []byte) string {
	if len(b) > 24 {
		return string(b[:24]) + "..."
	}
	return string(b)
}

// stripSpecial removes the leading special tokens (<|...|>) of a piece: the
// label token of the first piece.
func stripSpecial(p []byte) []byte {
	for {
		p = bytes.TrimLeftFunc(p, unicode.IsSpace)
		if !bytes.HasPrefix(p, []byte("<|")) {
			return p
		}
		end := bytes.Index(p, []byte("|>"))
		if end < 0 {
			return p
		}
		p = p[end+2:]
	}
}

// pieceScanner splits a stream on PktToken without holding more than one
// piece (bounded by maxPieceText) in memory.
type pieceScanner struct {
	r        *bufio.Reader
	cur      []byte
	oversize bool // the current piece exceeded maxPieceText; its text is dropped
	eof      bool
}

func newPieceScanner(r io.Reader) *pieceScanner {
	return &pieceScanner{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next piece; last is true for the final piece (the text
// after the last delimiter). The returned slice is valid until the next call.
func (s *pieceScanner) next() (piece []byte, oversize, last bool, err error) {
	if s.eof {
		return nil, false, true, io.EOF
	}
	s.cur, s.oversize = s.cur[:0], false
	delim := []byte(PktToken)
	for {
		chunk, rerr := s.r.ReadSlice('>')
		s.cur = append(s.cur, chunk...)
		if bytes.HasSuffix(s.cur, delim) {
			return s.cur[:len(s.cur)-len(delim)], s.oversize, false, nil
		}
		if len(s.cur) > maxPieceText {
			// Keep only a tail that could start the delimiter.
			k := len(delim) - 1
			copy(s.cur, s.cur[len(s.cur)-k:])
			s.cur = s.cur[:k]
			s.oversize = true
		}
		switch {
		case rerr == nil, errors.Is(rerr, bufio.ErrBufferFull):
		case rerr == io.EOF:
			s.eof = true
			return s.cur, s.oversize, true, nil
		default:
			return nil, false, false, rerr
		}
	}
}

// Packet is one parsed packet of a generated text.
type Packet struct {
	Piece int    // index of the piece in the text (0 = the label piece)
	Data  []byte // the bytes as generated (or repaired)
	// OrigLen is the original length for the pcap record: len(Data) unless
	// repaired.
	OrigLen int
}

// Parse parses a whole generated text held in memory and returns its
// packets, with NetSSM's first/last-piece rule (and opt.KeepFirst), and
// opt.Repair applied. Timestamps and the pcap writing are Text's job.
func Parse(text string, opt Options) ([]Packet, Stats, error) {
	var pkts []Packet
	st, err := walk(context.Background(), strings.NewReader(text), opt, func(p Packet) error {
		pkts = append(pkts, Packet{Piece: p.Piece, Data: bytes.Clone(p.Data), OrigLen: p.OrigLen})
		return nil
	})
	return pkts, st, err
}
