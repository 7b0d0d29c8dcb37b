package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/netssm/netssm/internal/atomicfile"
	"github.com/netssm/netssm/netssmlib/pcapio"
)

// Options control a conversion. The zero value is NetSSM's behaviour with
// timestamps 1µs apart from the current time.
type Options struct {
	// Link is the link type of the packets in the text and of the pcap:
	// a key of LinkTypes; "" means "ethernet", NetSSM's only one. Text
	// preprocessed from Linux cooked, loopback or raw IP captures starts
	// with those link headers instead of Ethernet's.
	Link string
	// KeepFirst also converts the first piece's packet (the bytes after
	// the leading label token), which NetSSM drops.
	KeepFirst bool
	// Repair strips padding, sets original lengths and fixes IPv4 header
	// checksums (see the package documentation).
	Repair bool
	// UDPKeepsLastByte says the text keeps every byte of UDP payloads
	// shorter than 12 bytes. NetSSM's preprocessor drops the last byte of
	// such payloads (a quirk), so by default Repair keeps one byte less of
	// them. Only matters with Repair.
	UDPKeepsLastByte bool

	// Start is the first packet's timestamp; zero means time.Now().
	Start time.Time
	// Step is the gap between packets when Gaps is empty; zero means 1µs.
	Step time.Duration
	// Gaps, when not empty, are inter-arrival gaps to draw from at random
	// (with replacement), as NetSSM's --ts_sample_gt does.
	Gaps []time.Duration
	// Seed seeds the gap sampling.
	Seed uint64
}

// PieceError says why one piece was skipped.
type PieceError struct {
	Piece  int    `json:"piece"`  // piece index in the text (0 = the label piece)
	Reason string `json:"reason"` // e.g. `word 3 "<|unk|>" is not a decimal byte`
}

func (e PieceError) String() string { return fmt.Sprintf("piece %d: %s", e.Piece, e.Reason) }

// MaxPieceErrors is how many PieceErrors Stats keeps.
const MaxPieceErrors = 20

// Stats counts what a conversion did.
type Stats struct {
	Pieces       int  `json:"pieces"`        // pieces in the text (delimiters + 1)
	Candidates   int  `json:"candidates"`    // pieces considered as packets (after dropping first/last)
	Packets      int  `json:"packets"`       // records written
	Blank        int  `json:"blank"`         // blank pieces skipped (NetSSM skips them silently)
	Unparseable  int  `json:"unparseable"`   // pieces skipped: a word is not a byte, or too long
	FirstDropped bool `json:"first_dropped"` // the label piece's packet was dropped (NetSSM's quirk)
	LastDropped  bool `json:"last_dropped"`  // the final piece was dropped as possibly incomplete

	// With Repair:
	Repaired       int `json:"repaired"`        // packets whose headers decoded and were trimmed
	HeaderOnly     int `json:"header_only"`     // records with orig_len > caplen (payload not in the text)
	ChecksumsFixed int `json:"checksums_fixed"` // IPv4 header checksums that were wrong and were fixed
	NotRepaired    int `json:"not_repaired"`    // not IP, or headers invalid/cut: written as generated
	LengthTooShort int `json:"length_too_short"`
	// LinkHeaderAdded counts loopback headers restored (Link "null" or
	// "loop"): NetSSM's preprocessor leaves them out of UDP packets.
	LinkHeaderAdded int `json:"link_header_added"`

	Errors []PieceError `json:"errors,omitempty"` // the first MaxPieceErrors reasons (unparseable and not repaired)
}

func (s *Stats) note(piece int, format string, args ...any) {
	if len(s.Errors) < MaxPieceErrors {
		s.Errors = append(s.Errors, PieceError{Piece: piece, Reason: fmt.Sprintf(format, args...)})
	}
}

func (o Options) linkType() (uint32, error) {
	if o.Link == "" {
		return pcapio.LinkTypeEthernet, nil
	}
	lt, ok := LinkTypes[o.Link]
	if !ok {
		return 0, fmt.Errorf("unknown link type %q (want one of ethernet, linux_sll, linux_sll2, null, loop, raw)", o.Link)
	}
	return lt, nil
}

// ErrGenerationFailed is returned for a text holding FailureMarker.
var ErrGenerationFailed = errors.New("the text holds NetSSM's generation failure marker \"" + FailureMarker + "\"")

// walk parses the pieces of r and calls emit for each packet (its Data is
// reused after emit returns).
func walk(ctx context.Context, r io.Reader, opt Options, emit func(Packet) error) (Stats, error) {
	var st Stats
	link, err := opt.linkType()
	if err != nil {
		return st, err
	}
	sc := newPieceScanner(r)
	var buf []byte
	for idx := 0; ; idx++ {
		if idx%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		piece, oversize, last, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		st.Pieces++
		if containsMarker(piece) {
			return st, ErrGenerationFailed
		}
		if last {
			st.LastDropped = true
			st.FirstDropped = st.FirstDropped || idx == 0
			break
		}
		if idx == 0 {
			if !opt.KeepFirst {
				st.FirstDropped = true
				continue
			}
			piece = stripSpecial(piece)
		}
		st.Candidates++
		if oversize {
			st.Unparseable++
			st.note(idx, "longer than %d bytes", MaxPacket)
			continue
		}
		buf, err = appendPacket(buf, piece)
		if err != nil {
			st.Unparseable++
			st.note(idx, "%v", err)
			continue
		}
		if len(buf) == 0 {
			st.Blank++
			continue
		}
		p := Packet{Piece: idx, Data: buf, OrigLen: len(buf)}
		if opt.Repair {
			p = repair(p, link, opt, &st)
		}
		if err := emit(p); err != nil {
			return st, err
		}
		st.Packets++
	}
	return st, nil
}

func containsMarker(p []byte) bool {
	return len(p) >= len(FailureMarker) && bytesContains(p, FailureMarker)
}

func bytesContains(p []byte, s string) bool {
	for i := 0; i+len(s) <= len(p); i++ {
		if p[i] == s[0] && string(p[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// repair trims p.Data to its headers and sets OrigLen (see Options.Repair).
func repair(p Packet, link uint32, opt Options, st *Stats) Packet {
	l, err := DecodeLink(p.Data, link)
	if errors.Is(err, ErrNotIP) && (link == pcapio.LinkTypeNull || link == pcapio.LinkTypeLoop) {
		// NetSSM's preprocessor (through gopacket) leaves the loopback
		// header out of UDP packets: put one back if the bytes are IP.
		if l2, err2 := DecodeIP(p.Data, 0); err2 == nil {
			fam := []byte{2, 0, 0, 0} // AF_INET, host (little-endian) order
			if l2.IPVersion == 6 {
				fam[0] = 24 // AF_INET6 on NetBSD/OpenBSD, as pcap's DLT_NULL files usually say
			}
			if link == pcapio.LinkTypeLoop {
				fam[0], fam[3] = 0, fam[0] // network byte order
			}
			p.Data = append(fam, p.Data...)
			l, err = DecodeLink(p.Data, link)
			st.LinkHeaderAdded++
		}
	}
	if err != nil {
		st.NotRepaired++
		st.note(p.Piece, "not repaired: %v", err)
		return p
	}
	keep := l.HeaderEnd()
	if l.Proto == ProtoUDP && l.L4Len == 8 {
		n := l.UDPLen - 8
		if pl := l.PayloadLen(); n < 0 || (pl >= 0 && pl < n) {
			n = max(pl, 0)
		}
		switch {
		case n >= 12:
			n = 12
		case n > 0 && !opt.UDPKeepsLastByte:
			n-- // NetSSM's preprocessor drops the last byte of short payloads
		}
		keep += n
	}
	keep = min(keep, len(p.Data))
	orig := l.LinkLen + l.IPLen
	if orig < keep {
		st.LengthTooShort++
		st.note(p.Piece, "IP length %d is shorter than the %d header bytes", l.IPLen, keep-l.LinkLen)
		orig = keep
	}
	if l.IPVersion == 4 {
		h := p.Data[l.LinkLen : l.LinkLen+l.IPHeaderLen]
		if c := IPv4Checksum(h); h[10] != byte(c>>8) || h[11] != byte(c) {
			h[10], h[11] = byte(c>>8), byte(c)
			st.ChecksumsFixed++
		}
	}
	p.Data, p.OrigLen = p.Data[:keep], orig
	if orig > keep {
		st.HeaderOnly++
	}
	st.Repaired++
	return p
}

// Text converts generated text from r into a pcap written to w. On error
// the output may hold a partial pcap; the caller writes to a temporary file
// and renames (as the netssm command does).
func Text(ctx context.Context, r io.Reader, w io.Writer, opt Options) (Stats, error) {
	link, err := opt.linkType()
	if err != nil {
		return Stats{}, err
	}
	pw, err := pcapio.NewWriter(w, link, MaxPacket)
	if err != nil {
		return Stats{}, err
	}
	ts := opt.Start
	if ts.IsZero() {
		ts = time.Now()
	}
	step := opt.Step
	if step == 0 {
		step = time.Microsecond
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6e657473736d)) // "netssm"
	first := true
	st, err := walk(ctx, r, opt, func(p Packet) error {
		if !first {
			if len(opt.Gaps) > 0 {
				ts = ts.Add(opt.Gaps[rng.IntN(len(opt.Gaps))])
			} else {
				ts = ts.Add(step)
			}
		}
		first = false
		if ts.Unix() < 0 || ts.Unix() > math.MaxUint32 {
			return fmt.Errorf("piece %d: timestamp %v outside the pcap range (1970..2106)", p.Piece, ts)
		}
		return pw.WritePacket(pcapio.Packet{Timestamp: ts, OrigLen: p.OrigLen}, p.Data)
	})
	if err != nil {
		return st, err
	}
	return st, pw.Flush()
}

// GapsFromCapture reads a pcap or pcapng file and returns the gaps between
// consecutive packets' timestamps, as NetSSM's --ts_sample_gt computes them.
// Negative gaps (out-of-order records) become zero so that the converted
// timestamps never decrease.
func GapsFromCapture(ctx context.Context, path string) ([]time.Duration, error) {
	rd, err := pcapio.Open(path)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var gaps []time.Duration
	var prev time.Time
	for n := 0; ; n++ {
		if n%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		_, p, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if n > 0 {
			gaps = append(gaps, max(p.Timestamp.Sub(prev), 0))
		}
		prev = p.Timestamp
	}
	if len(gaps) == 0 {
		return nil, fmt.Errorf("%s: fewer than 2 packets, no inter-arrival gaps to sample", path)
	}
	return gaps, nil
}

// File converts the generated text file in (or standard input for "-")
// into the pcap file out. The pcap is written to a temporary file beside
// out and renamed into place, so out is never left half written; on error
// it is left untouched. Errors name the input file.
func File(ctx context.Context, in, out string, opt Options) (Stats, error) {
	var r io.Reader = os.Stdin
	if in != "-" {
		f, err := os.Open(in)
		if err != nil {
			return Stats{}, err
		}
		defer f.Close()
		r = f
	}
	tmp, err := atomicfile.Create(out, 0o644)
	if err != nil {
		return Stats{}, err
	}
	defer tmp.Abort() // no-op after Commit
	st, err := Text(ctx, r, tmp, opt)
	if err != nil {
		return st, fmt.Errorf("%s: %w", in, err)
	}
	return st, tmp.Commit()
}
