package pcapio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Writer writes a classic pcap file (microsecond timestamps, little endian).
type Writer struct {
	w    *bufio.Writer
	link uint32
	hdr  [16]byte
}

// NewWriter writes the pcap file header for the given link type and snap
// length and returns a Writer. Call Flush when done.
func NewWriter(w io.Writer, linkType, snaplen uint32) (*Writer, error) {
	pw := &Writer{w: bufio.NewWriter(w), link: linkType}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if _, err := pw.w.Write(h[:]); err != nil {
		return nil, err
	}
	return pw, nil
}

// WritePacket writes one record. p.OrigLen defaults to len(data) when it is
// smaller; p.LinkType is ignored (a pcap file has one link type).
func (w *Writer) WritePacket(p Packet, data []byte) error {
	if len(data) > MaxRecordLen {
		return fmt.Errorf("pcapio: packet of %d bytes exceeds %d", len(data), MaxRecordLen)
	}
	orig := max(p.OrigLen, len(data))
	ts := p.Timestamp
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(ts.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(orig))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// NGWriter writes a pcapng file (one section, little endian, microsecond
// timestamps) whose interfaces may have different link types.
type NGWriter struct {
	w      *bufio.Writer
	ifaces map[uint32]uint32 // link type -> interface id
	n      uint32
}

// NewNGWriter writes the section header block and returns an NGWriter.
func NewNGWriter(w io.Writer) (*NGWriter, error) {
	nw := &NGWriter{w: bufio.NewWriter(w), ifaces: map[uint32]uint32{}}
	b := make([]byte, 28)
	binary.LittleEndian.PutUint32(b[0:], blockSHB)
	binary.LittleEndian.PutUint32(b[4:], 28)
	binary.LittleEndian.PutUint32(b[8:], 0x1A2B3C4D)
	binary.LittleEndian.PutUint16(b[12:], 1)
	binary.LittleEndian.PutUint64(b[16:], ^uint64(0)) // section length unknown
	binary.LittleEndian.PutUint32(b[24:], 28)
	_, err := nw.w.Write(b)
	return nw, err
}

// AddInterface writes an interface description block and returns its id.
func (w *NGWriter) AddInterface(linkType, snaplen uint32) (uint32, error) {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], blockIDB)
	binary.LittleEndian.PutUint32(b[4:], 20)
	binary.LittleEndian.PutUint16(b[8:], uint16(linkType))
	binary.LittleEndian.PutUint32(b[12:], snaplen)
	binary.LittleEndian.PutUint32(b[16:], 20)
	if _, err := w.w.Write(b); err != nil {
		return 0, err
	}
	id := w.n
	w.n++
	if _, ok := w.ifaces[linkType]; !ok {
		w.ifaces[linkType] = id
	}
	return id, nil
}

// WritePacket writes an enhanced packet block on the first interface of
// p.LinkType, adding that interface when there is none yet.
func (w *NGWriter) WritePacket(p Packet, data []byte) error {
	if len(data) > MaxRecordLen {
		return fmt.Errorf("pcapio: packet of %d bytes exceeds %d", len(data), MaxRecordLen)
	}
	id, ok := w.ifaces[p.LinkType]
	if !ok {
		var err error
		if id, err = w.AddInterface(p.LinkType, 262144); err != nil {
			return err
		}
	}
	pad := (4 - len(data)%4) % 4
	blen := 32 + len(data) + pad
	b := make([]byte, 28, blen)
	binary.LittleEndian.PutUint32(b[0:], blockEPB)
	binary.LittleEndian.PutUint32(b[4:], uint32(blen))
	binary.LittleEndian.PutUint32(b[8:], id)
	us := uint64(p.Timestamp.UnixMicro())
	binary.LittleEndian.PutUint32(b[12:], uint32(us>>32))
	binary.LittleEndian.PutUint32(b[16:], uint32(us))
	binary.LittleEndian.PutUint32(b[20:], uint32(len(data)))
	binary.LittleEndian.PutUint32(b[24:], uint32(max(p.OrigLen, len(data))))
	b = append(b, data...)
	b = append(b, make([]byte, pad)...)
	b = binary.LittleEndian.AppendUint32(b, uint32(blen))
	_, err := w.w.Write(b)
	return err
}

// Flush writes buffered data to the underlying writer.
func (w *NGWriter) Flush() error { return w.w.Flush() }
