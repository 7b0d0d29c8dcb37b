package pcapio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng block types.
const (
	ngSHB = 0x0A0D0D0A
	ngIDB = 1
	ngPB  = 2 // obsolete packet block
	ngSPB = 3
	ngEPB = 6
)

// maxBlock bounds a pcapng block: a MaxRecord packet plus generous room for
// options.
const maxBlock = MaxRecord + 64<<10

// nextNgPacket reads blocks until a packet block; with headerOnly it reads
// only the first section header block.
func (r *Reader) nextNgPacket(headerOnly bool) error {
	for {
		typ, body, err := r.readBlock()
		if err != nil {
			return err
		}
		switch typ {
		case ngSHB:
			if len(body) < 16 {
				return fmt.Errorf("pcapng section header %d: block too short", r.sections)
			}
			if major := r.order.Uint16(body[4:]); major != 1 {
				return fmt.Errorf("pcapng section header %d: unsupported version %d", r.sections, major)
			}
			r.sections++
			r.ifaces = r.ifaces[:0]
			if headerOnly {
				return nil
			}
		case ngIDB:
			if err := r.readIDB(body); err != nil {
				return err
			}
		case ngEPB, ngPB:
			if len(body) < 20 {
				return fmt.Errorf("record %d: pcapng packet block too short", r.n)
			}
			var id int
			if typ == ngEPB {
				id = int(r.order.Uint32(body))
			} else {
				id = int(r.order.Uint16(body))
			}
			if id >= len(r.ifaces) {
				return fmt.Errorf("record %d: packet refers to interface %d, the section declares %d", r.n, id, len(r.ifaces))
			}
			caplen := r.order.Uint32(body[12:])
			if uint64(caplen) > uint64(len(body)-20) {
				return fmt.Errorf("record %d: captured length %d exceeds its pcapng block", r.n, caplen)
			}
			ifc := r.ifaces[id]
			ts := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
			r.pending = Packet{
				Data:      body[20 : 20+caplen],
				Timestamp: ifc.time(ts),
				Length:    int(r.order.Uint32(body[16:])),
				LinkType:  ifc.link,
			}
			return nil
		case ngSPB:
			if len(body) < 4 {
				return fmt.Errorf("record %d: pcapng simple packet block too short", r.n)
			}
			if len(r.ifaces) == 0 {
				return fmt.Errorf("record %d: simple packet block before any interface description", r.n)
			}
			orig := r.order.Uint32(body)
			n := uint64(len(body) - 4)
			if uint64(orig) < n {
				n = uint64(orig)
			}
			if s := r.ifaces[0].snaplen; s != 0 && uint64(s) < n {
				n = uint64(s)
			}
			r.pending = Packet{Data: body[4 : 4+n], Length: int(orig), LinkType: r.ifaces[0].link}
			return nil
		default:
			// Name resolution, statistics, custom and unknown blocks carry
			// no packets.
		}
	}
}

// readBlock reads one whole pcapng block and returns its type and body
// (without type, length and trailing length).
func (r *Reader) readBlock() (uint32, []byte, error) {
	h := r.hdr[:12]
	n, err := io.ReadFull(r.r, h[:8])
	if err != nil {
		if err == io.EOF && n == 0 {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("record %d: file cut inside a pcapng block header", r.n)
	}
	typ := binary.LittleEndian.Uint32(h)
	if typ == ngSHB {
		if _, err := io.ReadFull(r.r, h[8:12]); err != nil {
			return 0, nil, errors.New("file cut inside a pcapng section header")
		}
		switch {
		case binary.LittleEndian.Uint32(h[8:]) == 0x1A2B3C4D:
			r.order = binary.LittleEndian
		case binary.BigEndian.Uint32(h[8:]) == 0x1A2B3C4D:
			r.order = binary.BigEndian
		default:
			return 0, nil, errors.New("pcapng section header with a bad byte-order magic")
		}
	} else {
		if r.order == nil {
			return 0, nil, errors.New("pcapng block before the first section header")
		}
		typ = r.order.Uint32(h)
	}
	length := r.order.Uint32(h[4:])
	if length < 12 || length%4 != 0 || length > maxBlock {
		return 0, nil, fmt.Errorf("record %d: pcapng block of type %#x has an invalid length %d", r.n, typ, length)
	}
	if typ == ngSHB && length < 28 {
		return 0, nil, fmt.Errorf("pcapng section header too short (%d bytes)", length)
	}
	if cap(r.block) < int(length) {
		r.block = make([]byte, length)
	}
	b := r.block[:length]
	done := 8
	if typ == ngSHB {
		done = 12
	}
	copy(b, h[:done])
	if _, err := io.ReadFull(r.r, b[done:]); err != nil {
		return 0, nil, fmt.Errorf("record %d: file cut inside a pcapng block (%d bytes expected)", r.n, length)
	}
	if tail := r.order.Uint32(b[length-4:]); tail != length {
		return 0, nil, fmt.Errorf("record %d: pcapng block lengths disagree (%d and %d)", r.n, length, tail)
	}
	return typ, b[8 : length-4], nil
}

func (r *Reader) readIDB(body []byte) error {
	if len(body) < 8 {
		return fmt.Errorf("pcapng interface %d: block too short", len(r.ifaces))
	}
	ifc := iface{link: int(r.order.Uint16(body)), snaplen: r.order.Uint32(body[4:]), units: 1e6}
	opts := body[8:]
	for len(opts) >= 4 {
		code, l := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == 0 {
			break
		}
		padded := (l + 3) &^ 3
		if 4+padded > len(opts) {
			return fmt.Errorf("pcapng interface %d: option %d overruns the block", len(r.ifaces), code)
		}
		v := opts[4 : 4+l]
		switch {
		case code == 9 && l >= 1: // if_tsresol
			e := v[0]
			if e&0x80 != 0 {
				if e&0x7f > 63 {
					return fmt.Errorf("pcapng interface %d: bad if_tsresol %#x", len(r.ifaces), e)
				}
				ifc.units = 1 << (e & 0x7f)
			} else {
				if e > 19 {
					return fmt.Errorf("pcapng interface %d: bad if_tsresol %d", len(r.ifaces), e)
				}
				ifc.units = 1
				for range e {
					ifc.units *= 10
				}
			}
		case code == 14 && l >= 8: // if_tsoffset
			ifc.offset = int64(r.order.Uint64(v))
		}
		opts = opts[4+padded:]
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// time converts a pcapng timestamp in the interface's units.
func (ifc iface) time(ts uint64) time.Time {
	sec, rem := ts/ifc.units, ts%ifc.units
	hi, lo := bits.Mul64(rem, 1e9)
	ns, _ := bits.Div64(hi, lo, ifc.units) // hi < units since rem < units
	s := int64(sec >> 1)                   // keep within int64 before adding the offset
	s = s*2 + int64(sec&1) + ifc.offset
	return time.Unix(s, int64(ns)).UTC()
}
