package pcapio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Link types (LINKTYPE_* values of the tcpdump registry) that netssm knows.
const (
	LinkNull      = 0   // BSD loopback, host-order 4-byte address family
	LinkEthernet  = 1   // IEEE 802.3 Ethernet
	LinkRaw       = 101 // raw IPv4 or IPv6
	LinkLoop      = 108 // OpenBSD loopback, network-order address family
	LinkLinuxSLL  = 113 // Linux cooked capture v1
	LinkIPv4      = 228 // raw IPv4
	LinkIPv6      = 229 // raw IPv6
	LinkLinuxSLL2 = 276 // Linux cooked capture v2
)

// MaxRecord is the largest packet record the reader accepts (bytes). It is
// far above Wireshark's own limit (262144) and bounds what one bad length
// field can make the reader allocate.
const MaxRecord = 1 << 20

// Packet is one record of a capture.
type Packet struct {
	Data      []byte    // captured bytes; owned by the Reader, valid until the next Next
	Timestamp time.Time // UTC
	Length    int       // original length on the wire (orig_len); >= len(Data) is not guaranteed by bad files
	LinkType  int       // link type of the interface the packet was captured on
	Index     int       // 0-based record number in the file
}

// Reader reads packets from a pcap or pcapng stream.
type Reader struct {
	r        *bufio.Reader
	ng       bool
	order    binary.ByteOrder
	nano     bool // classic pcap: nanosecond timestamps
	link     int  // classic pcap link type
	ifaces   []iface
	buf      []byte
	n        int // records returned so far
	hdr      [28]byte
	block    []byte // pcapng: the current block
	pending  Packet
	sections int
}

type iface struct {
	link    int
	snaplen uint32
	units   uint64 // timestamp units per second
	offset  int64  // seconds added to timestamps
}

// NewReader reads the file header from r and returns a Reader. It
// recognises the format from the magic number.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if len(magic) == 0 {
				return nil, errors.New("empty file, not a pcap or pcapng capture")
			}
			return nil, errors.New("file shorter than a capture header")
		}
		return nil, err
	}
	rd := &Reader{r: br}
	switch {
	case binary.LittleEndian.Uint32(magic) == 0x0A0D0D0A:
		rd.ng = true
		if err := rd.nextNgPacket(true); err != nil {
			return nil, err
		}
		return rd, nil
	default:
		return rd, rd.readPcapHeader()
	}
}

// Format is "pcap" or "pcapng".
func (r *Reader) Format() string {
	if r.ng {
		return "pcapng"
	}
	return "pcap"
}

// LinkType is the link type of a classic pcap file, or of the first
// interface of a pcapng file (-1 if it has none yet).
func (r *Reader) LinkType() int {
	if !r.ng {
		return r.link
	}
	if len(r.ifaces) == 0 {
		return -1
	}
	return r.ifaces[0].link
}

func (r *Reader) readPcapHeader() error {
	h := r.hdr[:24]
	if _, err := io.ReadFull(r.r, h); err != nil {
		return errors.New("file shorter than a pcap header (24 bytes)")
	}
	switch {
	case binary.LittleEndian.Uint32(h) == 0xa1b2c3d4:
		r.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h) == 0xa1b2c3d4:
		r.order = binary.BigEndian
	case binary.LittleEndian.Uint32(h) == 0xa1b23c4d:
		r.order, r.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h) == 0xa1b23c4d:
		r.order, r.nano = binary.BigEndian, true
	default:
		return fmt.Errorf("not a pcap or pcapng capture (magic %#08x)", binary.BigEndian.Uint32(h))
	}
	if v := r.order.Uint16(h[4:]); v != 2 {
		return fmt.Errorf("unsupported pcap version %d.%d", v, r.order.Uint16(h[6:]))
	}
	// The upper bits of the link type field carry FCS information.
	r.link = int(r.order.Uint32(h[20:]) & 0x0fffffff)
	return nil
}

// Next returns the next packet, or io.EOF after the last one.
func (r *Reader) Next() (Packet, error) {
	if r.ng {
		if err := r.nextNgPacket(false); err != nil {
			return Packet{}, err
		}
		return r.finish(), nil
	}
	h := r.hdr[:16]
	if _, err := io.ReadFull(r.r, h); err != nil {
		if err == io.EOF {
			return Packet{}, io.EOF
		}
		return Packet{}, fmt.Errorf("record %d: file cut inside the record header", r.n)
	}
	sec, frac := r.order.Uint32(h), r.order.Uint32(h[4:])
	incl, orig := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	if incl > MaxRecord {
		return Packet{}, fmt.Errorf("record %d: captured length %d exceeds the limit of %d bytes (corrupt file?)", r.n, incl, MaxRecord)
	}
	if err := r.fill(int(incl)); err != nil {
		return Packet{}, fmt.Errorf("record %d: file cut inside the packet data (%d bytes expected)", r.n, incl)
	}
	ns := int64(frac)
	if !r.nano {
		ns *= 1000
	}
	p := Packet{Data: r.buf, Timestamp: time.Unix(int64(sec), ns).UTC(), Length: int(orig), LinkType: r.link, Index: r.n}
	r.n++
	return p, nil
}

func (r *Reader) finish() Packet {
	p := r.pending
	p.Index = r.n
	r.n++
	return p
}

func (r *Reader) fill(n int) error {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	_, err := io.ReadFull(r.r, r.buf)
	return err
}

// Write-side -------------------------------------------------------------

// Writer writes a classic pcap file (little-endian, microsecond
// timestamps).
type Writer struct {
	w   *bufio.Writer
	hdr [16]byte
	n   int
}

// NewWriter writes the pcap file header and returns a Writer.
func NewWriter(w io.Writer, linkType int, snaplen uint32) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], uint32(linkType))
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: bw}, nil
}

// WritePacket appends one record. origLen is the length on the wire; it is
// raised to len(data) if smaller. Timestamps are rounded down to the
// microsecond.
func (w *Writer) WritePacket(ts time.Time, data []byte, origLen int) error {
	if len(data) > math.MaxUint32 || origLen > math.MaxUint32 {
		return fmt.Errorf("record %d: %d bytes do not fit a pcap record", w.n, len(data))
	}
	if origLen < len(data) {
		origLen = len(data)
	}
	us := ts.UnixMicro()
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	if sec < 0 || sec > math.MaxUint32 {
		return fmt.Errorf("record %d: timestamp %v outside the pcap range (1970..2106)", w.n, ts)
	}
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(sec))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(frac))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(origLen))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	if _, err := w.w.Write(data); err != nil {
		return err
	}
	w.n++
	return nil
}

// Flush writes buffered records to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }
