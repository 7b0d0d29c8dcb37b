package pcapio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Link types (LINKTYPE_* values of the pcap and pcapng file formats) that
// netssm decodes natively.
const (
	LinkTypeNull      uint32 = 0   // BSD loopback, 4-byte host-order family
	LinkTypeEthernet  uint32 = 1   // Ethernet II / 802.3
	LinkTypeRaw       uint32 = 101 // raw IPv4 or IPv6, version from the first nibble
	LinkTypeLoop      uint32 = 108 // OpenBSD loopback, 4-byte network-order family
	LinkTypeLinuxSLL  uint32 = 113 // Linux cooked capture v1 (16-byte header)
	LinkTypeIPv4      uint32 = 228 // raw IPv4
	LinkTypeIPv6      uint32 = 229 // raw IPv6
	LinkTypeLinuxSLL2 uint32 = 276 // Linux cooked capture v2 (20-byte header)

	// LinkTypeLinuxSL2 is the first spelling of LinkTypeLinuxSLL2.
	//
	// Deprecated: use LinkTypeLinuxSLL2.
	LinkTypeLinuxSL2 = LinkTypeLinuxSLL2
)

// MaxRecordLen is the largest packet record (captured length) the reader
// accepts; larger lengths are reported as a format error instead of being
// allocated. It is far above any real link MTU (jumbo frames, 64 KiB IP, USB
// captures).
const MaxRecordLen = 16 << 20

var (
	// ErrTruncated is wrapped by errors for a capture that ends in the middle
	// of a header, block or record.
	ErrTruncated = errors.New("capture is truncated")
	// ErrFormat is wrapped by errors for malformed captures.
	ErrFormat = errors.New("malformed capture")
)

var errClosed = errors.New("pcapio: reader is closed")

// Format is the file format of a capture.
type Format int

const (
	FormatPcap Format = iota + 1
	FormatPcapNG
)

func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapNG:
		return "pcapng"
	}
	return "unknown"
}

// Packet is the metadata of one packet record.
type Packet struct {
	Timestamp time.Time
	CapLen    int    // bytes captured (= len of the data returned with it)
	OrigLen   int    // length of the packet on the wire
	LinkType  uint32 // LINKTYPE_* of the interface that captured it
	Interface int    // interface index (always 0 for classic pcap)
}

// Reader reads packets from a pcap or pcapng stream.
type Reader struct {
	r      *bufio.Reader
	closer io.Closer
	mem    []byte // whole capture in memory (NewReaderBytes): zero-copy reads
	pooled bool   // r came from bufPool
	name   string
	off    int64 // offset of the next unread byte
	format Format
	buf    []byte

	// classic pcap
	order    binary.ByteOrder
	nano     bool
	extraHdr int // bytes after the 16-byte record header (modified pcap)
	link     uint32
	snaplen  uint32

	// pcapng
	ifaces []iface
	err    error // sticky error
}

type iface struct {
	link    uint32
	snaplen uint32
	tsUnit  time.Duration // duration of one timestamp tick (0: 1us)
	tsDiv   uint64        // when the resolution is not a power of 10: ticks per second
	offset  int64         // if_tsoffset, seconds
}

// bufPool recycles the read buffers of Readers made by Open: datasets are
// often thousands of small captures, and a fresh 256 KiB buffer per file
// would dominate the cost of reading them.
var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}

// Open opens the capture at path. The caller must Close the reader.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(f)
	r, err := newReaderBuf(br, path)
	if err != nil {
		br.Reset(nil)
		bufPool.Put(br)
		f.Close()
		return nil, err
	}
	r.closer = f
	r.pooled = true
	return r, nil
}

// NewReaderBytes returns a Reader over a capture held in memory (for
// example a small file read in one go). name is used in error messages.
// data must not change until the Reader is closed; Close must be called.
func NewReaderBytes(data []byte, name string) (*Reader, error) {
	return newReaderMem(data, name)
}

func newReaderMem(data []byte, name string) (*Reader, error) {
	r := &Reader{mem: data, name: name}
	return r, r.init()
}

// NewReader reads the file header from r and returns a Reader. name is used
// in error messages only.
func NewReader(r io.Reader, name string) (*Reader, error) {
	return newReader(r, name)
}

func newReader(rd io.Reader, name string) (*Reader, error) {
	return newReaderBuf(bufio.NewReaderSize(rd, 256<<10), name)
}

func newReaderBuf(br *bufio.Reader, name string) (*Reader, error) {
	r := &Reader{r: br, name: name}
	if err := r.init(); err != nil {
		return nil, err
	}
	return r, nil
}

// peek returns the next n bytes without consuming them (fewer at the end).
func (r *Reader) peek(n int) ([]byte, error) {
	if r.mem != nil || r.r == nil {
		rest := r.mem[min(len(r.mem), int(r.off)):]
		if len(rest) < n {
			return rest, io.EOF
		}
		return rest[:n], nil
	}
	return r.r.Peek(n)
}

func (r *Reader) init() error {
	magic, err := r.peek(4)
	if err != nil {
		if len(magic) == 0 {
			return r.errf(ErrFormat, "empty file, not a pcap or pcapng capture")
		}
		return r.errf(ErrFormat, "file of %d bytes is too short to be a capture", len(magic))
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0x0A0D0D0A:
		r.format = FormatPcapNG
		if err := r.readNGSectionHeader(); err != nil {
			return err
		}
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		r.format = FormatPcap
		if err := r.readPcapHeader(); err != nil {
			return err
		}
	default:
		return r.errf(ErrFormat, "unknown magic number % x, not a pcap or pcapng capture", magic)
	}
	return nil
}

// Format reports whether the capture is pcap or pcapng.
func (r *Reader) Format() Format { return r.format }

// LinkType is the link type of the first interface (of the file, for
// classic pcap). Packets carry their own link type: use Packet.LinkType.
func (r *Reader) LinkType() uint32 {
	if r.format == FormatPcap {
		return r.link
	}
	if len(r.ifaces) > 0 {
		return r.ifaces[0].link
	}
	return 0
}

// SnapLen is the snapshot length in a classic pcap file header (0 for
// pcapng, whose interfaces have their own).
func (r *Reader) SnapLen() uint32 {
	if r.format == FormatPcap {
		return r.snaplen
	}
	return 0
}

// Offset is the number of bytes consumed so far.
func (r *Reader) Offset() int64 { return r.off }

// Close closes the underlying file if the Reader opened it. The Reader
// must not be used afterwards.
func (r *Reader) Close() error {
	r.mem = nil
	r.err = errClosed
	if r.pooled {
		r.pooled = false
		r.r.Reset(nil)
		bufPool.Put(r.r)
		r.r = nil
	}
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		return c.Close()
	}
	return nil
}

func (r *Reader) errf(kind error, format string, args ...any) error {
	return &Error{Name: r.name, Offset: r.off, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Error is a read error with the file name and byte offset where it occurred.
type Error struct {
	Name   string
	Offset int64
	Kind   error // ErrTruncated or ErrFormat
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s at byte %d: %v", e.Name, e.Msg, e.Offset, e.Kind)
}

func (e *Error) Unwrap() error { return e.Kind }

// readFull reads exactly n bytes into a reused buffer. The buffer grows
// with the data actually read (1 MiB steps), so a bogus length in a short
// or garbage file cannot make it allocate the full claimed size.
func (r *Reader) readFull(n int, what string) ([]byte, error) {
	if r.mem != nil {
		rest := r.mem[r.off:]
		if len(rest) < n {
			if len(rest) == 0 && what == "" {
				return nil, io.EOF
			}
			if what == "" {
				what = "record header"
			}
			return nil, r.errf(ErrTruncated, "file ends inside a %s (%d of %d bytes)", what, len(rest), n)
		}
		r.off += int64(n)
		return rest[:n:n], nil
	}
	b := r.buf[:0]
	for len(b) < n {
		want := min(n, len(b)+1<<20)
		if cap(b) < want {
			nb := make([]byte, len(b), max(want, min(n, 2*cap(b))))
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadFull(r.r, b[len(b):want])
		b = b[:len(b)+m]
		if err != nil {
			r.buf = b[:0]
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				if len(b) == 0 && what == "" {
					return nil, io.EOF
				}
				if what == "" {
					what = "record header"
				}
				return nil, r.errf(ErrTruncated, "file ends inside a %s (%d of %d bytes)", what, len(b), n)
			}
			return nil, r.errf(ErrFormat, "read error: %v", err)
		}
	}
	r.buf = b[:0]
	r.off += int64(n)
	return b, nil
}

func (r *Reader) discard(n int, what string) error {
	if r.mem != nil {
		if rest := len(r.mem) - int(r.off); rest < n {
			return r.errf(ErrTruncated, "file ends inside a %s", what)
		}
		r.off += int64(n)
		return nil
	}
	m, err := r.r.Discard(n)
	r.off += int64(m)
	if err != nil {
		if err == io.EOF {
			return r.errf(ErrTruncated, "file ends inside a %s", what)
		}
		return r.errf(ErrFormat, "read error: %v", err)
	}
	return nil
}

// Next returns the next packet. The data slice is valid until the next call.
// At the end of the capture it returns io.EOF. After any other error the
// Reader stays failed.
func (r *Reader) Next() ([]byte, Packet, error) {
	if r.err != nil {
		return nil, Packet{}, r.err
	}
	var (
		data []byte
		p    Packet
		err  error
	)
	if r.format == FormatPcap {
		data, p, err = r.nextPcap()
	} else {
		data, p, err = r.nextNG()
	}
	if err != nil {
		r.err = err
	}
	return data, p, err
}

// ---- classic pcap ----

func (r *Reader) readPcapHeader() error {
	h, err := r.readFull(24, "pcap file header")
	if err != nil {
		return err
	}
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
		r.order = binary.LittleEndian
	case 0xd4c3b2a1:
		r.order = binary.BigEndian
	case 0xa1b23c4d:
		r.order, r.nano = binary.LittleEndian, true
	case 0x4d3cb2a1:
		r.order, r.nano = binary.BigEndian, true
	case 0xa1b2cd34:
		r.order, r.extraHdr = binary.LittleEndian, 8
	case 0x34cdb2a1:
		r.order, r.extraHdr = binary.BigEndian, 8
	}
	if major := r.order.Uint16(h[4:]); major != 2 {
		r.off = 4
		return r.errf(ErrFormat, "unsupported pcap version %d.%d", major, r.order.Uint16(h[6:]))
	}
	r.snaplen = r.order.Uint32(h[16:])
	// The upper bits hold the FCS length and flags (pcap-savefile(5)).
	r.link = r.order.Uint32(h[20:]) & 0x03FFFFFF // LT_LINKTYPE: upper bits are FCS/flags
	return nil
}

func (r *Reader) nextPcap() ([]byte, Packet, error) {
	start := r.off
	h, err := r.readFull(16+r.extraHdr, "")
	if err != nil {
		return nil, Packet{}, err
	}
	sec := r.order.Uint32(h[0:])
	frac := r.order.Uint32(h[4:])
	capLen := r.order.Uint32(h[8:])
	origLen := r.order.Uint32(h[12:])
	if capLen > MaxRecordLen {
		r.off = start
		return nil, Packet{}, r.errf(ErrFormat, "record claims %d captured bytes (limit %d, snaplen %d): not a valid record", capLen, MaxRecordLen, r.snaplen)
	}
	data, err := r.readFull(int(capLen), "packet record")
	if err != nil {
		return nil, Packet{}, err
	}
	ns := int64(frac) * 1000
	if r.nano {
		ns = int64(frac)
	}
	return data, Packet{
		Timestamp: time.Unix(int64(sec), ns).UTC(),
		CapLen:    int(capLen),
		OrigLen:   int(origLen),
		LinkType:  r.link,
	}, nil
}

// ---- pcapng ----

const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 1
	blockPB  = 2 // obsolete Packet Block
	blockSPB = 3
	blockEPB = 6
)

// maxBlockLen bounds pcapng blocks (libpcap uses 16 MiB too).
const maxBlockLen = MaxRecordLen + 1024

func (r *Reader) readNGSectionHeader() error {
	start := r.off
	h, err := r.readFull(12, "pcapng section header")
	if err != nil {
		return err
	}
	switch binary.LittleEndian.Uint32(h[8:]) {
	case 0x1A2B3C4D:
		r.order = binary.LittleEndian
	case 0x4D3C2B1A:
		r.order = binary.BigEndian
	default:
		r.off = start + 8
		return r.errf(ErrFormat, "bad pcapng byte-order magic % x", h[8:12])
	}
	blen := r.order.Uint32(h[4:])
	if blen < 28 || blen%4 != 0 || blen > maxBlockLen {
		r.off = start + 4
		return r.errf(ErrFormat, "bad pcapng section header length %d", blen)
	}
	body, err := r.readFull(int(blen)-12, "pcapng section header")
	if err != nil {
		return err
	}
	if major := r.order.Uint16(body[0:]); major != 1 {
		r.off = start + 12
		return r.errf(ErrFormat, "unsupported pcapng version %d.%d", major, r.order.Uint16(body[2:]))
	}
	if t := r.order.Uint32(body[len(body)-4:]); t != blen {
		r.off = start + int64(blen) - 4
		return r.errf(ErrFormat, "pcapng section header trailing length %d does not match %d", t, blen)
	}
	r.ifaces = r.ifaces[:0] // interfaces are per section
	return nil
}

func (r *Reader) nextNG() ([]byte, Packet, error) {
	for {
		start := r.off
		hb, err := r.peek(8)
		if err != nil {
			if len(hb) == 0 {
				return nil, Packet{}, io.EOF
			}
			return nil, Packet{}, r.errf(ErrTruncated, "file ends inside a block header (%d of 8 bytes)", len(hb))
		}
		if binary.LittleEndian.Uint32(hb) == blockSHB {
			if err := r.readNGSectionHeader(); err != nil {
				return nil, Packet{}, err
			}
			continue
		}
		btype := r.order.Uint32(hb[0:])
		blen := r.order.Uint32(hb[4:])
		if blen < 12 || blen%4 != 0 || blen > maxBlockLen {
			r.off = start + 4
			return nil, Packet{}, r.errf(ErrFormat, "bad pcapng block length %d (block type %#x)", blen, btype)
		}
		switch btype {
		case blockIDB, blockEPB, blockSPB, blockPB:
		default:
			if err := r.discard(int(blen), fmt.Sprintf("pcapng block of type %#x", btype)); err != nil {
				return nil, Packet{}, err
			}
			continue
		}
		b, err := r.readFull(int(blen), "pcapng block")
		if err != nil {
			return nil, Packet{}, err
		}
		if t := r.order.Uint32(b[blen-4:]); t != blen {
			r.off = start + int64(blen) - 4
			return nil, Packet{}, r.errf(ErrFormat, "pcapng block trailing length %d does not match %d", t, blen)
		}
		body := b[8 : blen-4]
		switch btype {
		case blockIDB:
			if err := r.parseIDB(body, start); err != nil {
				return nil, Packet{}, err
			}
		case blockEPB, blockPB:
			return r.parseEPB(body, btype, start)
		case blockSPB:
			return r.parseSPB(body, start)
		}
	}
}

func (r *Reader) parseIDB(body []byte, start int64) error {
	if len(body) < 8 {
		r.off = start
		return r.errf(ErrFormat, "interface description block too short (%d bytes)", len(body))
	}
	ifc := iface{link: uint32(r.order.Uint16(body[0:])), snaplen: r.order.Uint32(body[4:]), tsUnit: time.Microsecond}
	opts := body[8:]
	for len(opts) >= 4 {
		code := r.order.Uint16(opts[0:])
		l := int(r.order.Uint16(opts[2:]))
		if code == 0 {
			break
		}
		if 4+l > len(opts) {
			r.off = start
			return r.errf(ErrFormat, "interface description block option %d overruns the block", code)
		}
		v := opts[4 : 4+l]
		switch {
		case code == 9 && l >= 1: // if_tsresol
			e := v[0]
			if e&0x80 == 0 {
				if e > 9 {
					ifc.tsUnit = 0
					ifc.tsDiv = pow(10, e)
				} else {
					ifc.tsUnit = time.Duration(pow(10, 9-e))
				}
			} else {
				e &= 0x7f
				if e > 63 {
					e = 63
				}
				ifc.tsUnit = 0
				ifc.tsDiv = 1 << e
			}
		case code == 14 && l >= 8: // if_tsoffset
			ifc.offset = int64(r.order.Uint64(v))
		}
		opts = opts[min(len(opts), 4+(l+3)&^3):]
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

func pow(b uint64, e uint8) uint64 {
	v := uint64(1)
	for i := uint8(0); i < e && v < 1<<62; i++ {
		v *= b
	}
	return v
}

func (r *Reader) iface(id int, start int64) (*iface, error) {
	if id < 0 || id >= len(r.ifaces) {
		r.off = start
		return nil, r.errf(ErrFormat, "packet refers to interface %d but only %d are described", id, len(r.ifaces))
	}
	return &r.ifaces[id], nil
}

func (r *Reader) parseEPB(body []byte, btype uint32, start int64) ([]byte, Packet, error) {
	if len(body) < 20 {
		r.off = start
		return nil, Packet{}, r.errf(ErrFormat, "packet block too short (%d bytes)", len(body))
	}
	var id int
	if btype == blockPB {
		id = int(r.order.Uint16(body[0:]))
	} else {
		id = int(r.order.Uint32(body[0:]))
	}
	ifc, err := r.iface(id, start)
	if err != nil {
		return nil, Packet{}, err
	}
	ts := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
	capLen := r.order.Uint32(body[12:])
	origLen := r.order.Uint32(body[16:])
	if uint64(capLen) > uint64(len(body)-20) {
		r.off = start
		return nil, Packet{}, r.errf(ErrFormat, "packet block claims %d captured bytes but holds only %d", capLen, len(body)-20)
	}
	return body[20 : 20+capLen], Packet{
		Timestamp: ifc.time(ts),
		CapLen:    int(capLen),
		OrigLen:   int(origLen),
		LinkType:  ifc.link,
		Interface: id,
	}, nil
}

func (r *Reader) parseSPB(body []byte, start int64) ([]byte, Packet, error) {
	if len(body) < 4 {
		r.off = start
		return nil, Packet{}, r.errf(ErrFormat, "simple packet block too short (%d bytes)", len(body))
	}
	ifc, err := r.iface(0, start)
	if err != nil {
		return nil, Packet{}, err
	}
	origLen := r.order.Uint32(body[0:])
	capLen := uint64(origLen)
	if ifc.snaplen != 0 && capLen > uint64(ifc.snaplen) {
		capLen = uint64(ifc.snaplen)
	}
	if capLen > uint64(len(body)-4) {
		capLen = uint64(len(body) - 4)
	}
	return body[4 : 4+capLen], Packet{
		CapLen:   int(capLen),
		OrigLen:  int(origLen),
		LinkType: ifc.link,
	}, nil
}

func (ifc *iface) time(ts uint64) time.Time {
	var sec, ns int64
	if ifc.tsUnit > 0 {
		perSec := uint64(time.Second / ifc.tsUnit)
		sec = int64(ts / perSec)
		ns = int64(ts%perSec) * int64(ifc.tsUnit)
	} else {
		sec = int64(ts / ifc.tsDiv)
		ns = int64(float64(ts%ifc.tsDiv) / float64(ifc.tsDiv) * 1e9)
	}
	return time.Unix(sec+ifc.offset, ns).UTC()
}
