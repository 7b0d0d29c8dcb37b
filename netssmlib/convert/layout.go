package convert

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/netssm/netssm/netssmlib/pcapio"
)

// Layout says where the headers of one frame lie, as decoded from the
// header fields alone (the frame may be cut short or zero-padded).
type Layout struct {
	LinkLen   int    // bytes before the IP header (Ethernet + 802.1Q/802.1ad tags)
	EtherType uint16 // EtherType of the network layer (after VLAN tags)
	IPVersion int    // 4 or 6
	// IPHeaderLen is the IPv4 header with options, or the IPv6 fixed header
	// plus the extension headers before the transport header.
	IPHeaderLen int
	// IPLen is the IP packet length the header declares: IPv4 total
	// length, IPv6 40 + payload length.
	IPLen    int
	Proto    uint8 // transport protocol number (after IPv6 extension headers)
	Fragment bool  // a non-first fragment: no transport header follows
	// L4Len is the TCP header length (data offset) or 8 for UDP; 0 when
	// there is no TCP/UDP header.
	L4Len int
	// UDPLen is the UDP length field (UDP only).
	UDPLen int
}

// IPOff is the offset of the IP header.
func (l Layout) IPOff() int { return l.LinkLen }

// L4Off is the offset of the transport header.
func (l Layout) L4Off() int { return l.LinkLen + l.IPHeaderLen }

// HeaderEnd is the offset just past the transport header (or past the IP
// header when there is no TCP/UDP header).
func (l Layout) HeaderEnd() int { return l.L4Off() + l.L4Len }

// PayloadLen is the transport payload length the headers declare (IP length
// minus all headers), or -1 when that is negative.
func (l Layout) PayloadLen() int {
	n := l.IPLen - l.IPHeaderLen - l.L4Len
	if n < 0 {
		return -1
	}
	return n
}

// Errors of the header decoder. Wrapped errors carry the detail.
var (
	ErrNotIP     = errors.New("not an IPv4 or IPv6 frame")
	ErrTruncated = errors.New("frame ends inside the headers")
	ErrBadHeader = errors.New("invalid header field")
)

// Transport protocol numbers.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// DecodeEthernet decodes an Ethernet frame's headers: Ethernet, any
// 802.1Q/802.1ad tags, IPv4 or IPv6 (with extension headers), TCP or UDP.
// It reads only header fields and never looks past len(b).
func DecodeEthernet(b []byte) (Layout, error) {
	if len(b) < 14 {
		return Layout{}, fmt.Errorf("%w: %d bytes, shorter than an Ethernet header", ErrTruncated, len(b))
	}
	off := 12
	et := binary.BigEndian.Uint16(b[off:])
	for et == 0x8100 || et == 0x88a8 || et == 0x9100 {
		off += 4
		if len(b) < off+2 {
			return Layout{}, fmt.Errorf("%w: VLAN tag cut", ErrTruncated)
		}
		et = binary.BigEndian.Uint16(b[off:])
	}
	off += 2
	var want int
	switch et {
	case 0x0800:
		want = 4
	case 0x86dd:
		want = 6
	default:
		return Layout{LinkLen: off, EtherType: et}, fmt.Errorf("%w: EtherType %#04x", ErrNotIP, et)
	}
	l, err := DecodeIP(b, off)
	l.EtherType = et
	if err == nil && l.IPVersion != want {
		return l, fmt.Errorf("%w: EtherType %#04x but IP version %d", ErrBadHeader, et, l.IPVersion)
	}
	return l, err
}

// DecodeIP decodes the IP and transport headers that start at b[off:].
func DecodeIP(b []byte, off int) (Layout, error) {
	l := Layout{LinkLen: off}
	if len(b) <= off {
		return l, fmt.Errorf("%w: no IP header", ErrTruncated)
	}
	p := b[off:]
	l.IPVersion = int(p[0] >> 4)
	switch l.IPVersion {
	case 4:
		if len(p) < 20 {
			return l, fmt.Errorf("%w: IPv4 header cut at %d bytes", ErrTruncated, len(p))
		}
		ihl := int(p[0]&0x0f) * 4
		if ihl < 20 {
			return l, fmt.Errorf("%w: IPv4 header length %d < 20", ErrBadHeader, ihl)
		}
		l.IPHeaderLen = ihl
		l.IPLen = int(binary.BigEndian.Uint16(p[2:]))
		l.Proto = p[9]
		l.Fragment = binary.BigEndian.Uint16(p[6:])&0x1fff != 0
		if len(p) < ihl {
			return l, fmt.Errorf("%w: IPv4 options cut", ErrTruncated)
		}
	case 6:
		if len(p) < 40 {
			return l, fmt.Errorf("%w: IPv6 header cut at %d bytes", ErrTruncated, len(p))
		}
		l.IPLen = 40 + int(binary.BigEndian.Uint16(p[4:]))
		next, hl := p[6], 40
	ext:
		for range 8 { // bounded number of extension headers
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(p) < hl+2 {
					return l, fmt.Errorf("%w: IPv6 extension header cut", ErrTruncated)
				}
				next, hl = p[hl], hl+(int(p[hl+1])+1)*8
			case 44: // fragment
				if len(p) < hl+8 {
					return l, fmt.Errorf("%w: IPv6 fragment header cut", ErrTruncated)
				}
				if binary.BigEndian.Uint16(p[hl+2:])&0xfff8 != 0 {
					l.Fragment = true
				}
				next, hl = p[hl], hl+8
			case 51: // authentication header
				if len(p) < hl+2 {
					return l, fmt.Errorf("%w: IPv6 authentication header cut", ErrTruncated)
				}
				next, hl = p[hl], hl+(int(p[hl+1])+2)*4
			default:
				break ext
			}
		}
		l.IPHeaderLen, l.Proto = hl, next
		if len(p) < hl {
			return l, fmt.Errorf("%w: IPv6 extension headers cut", ErrTruncated)
		}
	default:
		return l, fmt.Errorf("%w: IP version %d", ErrBadHeader, l.IPVersion)
	}
	if l.Fragment {
		return l, nil
	}
	t := p[l.IPHeaderLen:]
	switch l.Proto {
	case ProtoTCP:
		if len(t) < 13 {
			return l, fmt.Errorf("%w: TCP header cut", ErrTruncated)
		}
		doff := int(t[12]>>4) * 4
		if doff < 20 {
			return l, fmt.Errorf("%w: TCP data offset %d < 20", ErrBadHeader, doff)
		}
		l.L4Len = doff
		if len(t) < doff {
			return l, fmt.Errorf("%w: TCP header cut", ErrTruncated)
		}
	case ProtoUDP:
		if len(t) < 8 {
			return l, fmt.Errorf("%w: UDP header cut", ErrTruncated)
		}
		l.L4Len = 8
		l.UDPLen = int(binary.BigEndian.Uint16(t[4:]))
	}
	return l, nil
}

// IPv4Checksum computes the header checksum of the IPv4 header h (the
// checksum field is treated as zero).
func IPv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		if i == 10 {
			continue
		}
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	if len(h)%2 == 1 {
		sum += uint32(h[len(h)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ErrLinkType is returned by DecodeLink for link types it does not know.
var ErrLinkType = errors.New("unsupported link type")

// DecodeLink decodes a frame of the given link type (a LINKTYPE_* value):
// Ethernet, Linux cooked v1 and v2, BSD and OpenBSD loopback, raw IP.
// Layout.LinkLen is the length of the link header.
func DecodeLink(b []byte, link uint32) (Layout, error) {
	off := -1
	var proto uint16
	switch link {
	case pcapio.LinkTypeEthernet:
		return DecodeEthernet(b)
	case pcapio.LinkTypeRaw, pcapio.LinkTypeIPv4, pcapio.LinkTypeIPv6, 12, 14: // 12, 14: DLT_RAW on some BSDs
		return DecodeIP(b, 0)
	case pcapio.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return Layout{}, fmt.Errorf("%w: %d bytes, shorter than a Linux cooked header", ErrTruncated, len(b))
		}
		off, proto = 16, binary.BigEndian.Uint16(b[14:])
	case pcapio.LinkTypeLinuxSL2:
		if len(b) < 20 {
			return Layout{}, fmt.Errorf("%w: %d bytes, shorter than a Linux cooked v2 header", ErrTruncated, len(b))
		}
		off, proto = 20, binary.BigEndian.Uint16(b)
	case pcapio.LinkTypeNull, pcapio.LinkTypeLoop:
		if len(b) < 4 {
			return Layout{}, fmt.Errorf("%w: %d bytes, shorter than a loopback header", ErrTruncated, len(b))
		}
		fam := binary.LittleEndian.Uint32(b)
		if link == pcapio.LinkTypeLoop || fam > 0xffff {
			fam = binary.BigEndian.Uint32(b)
		}
		off = 4
		switch fam {
		case 2: // AF_INET
			proto = 0x0800
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS
			proto = 0x86dd
		}
	default:
		return Layout{}, fmt.Errorf("%w %d", ErrLinkType, link)
	}
	if proto != 0x0800 && proto != 0x86dd {
		return Layout{LinkLen: off, EtherType: proto}, fmt.Errorf("%w: protocol %#04x", ErrNotIP, proto)
	}
	l, err := DecodeIP(b, off)
	l.EtherType = proto
	if want := map[uint16]int{0x0800: 4, 0x86dd: 6}[proto]; err == nil && l.IPVersion != want {
		return l, fmt.Errorf("%w: protocol %#04x but IP version %d", ErrBadHeader, proto, l.IPVersion)
	}
	return l, err
}

// LinkTypes maps the names Options.Link and `netssm convert -link` accept
// to LINKTYPE_* values.
var LinkTypes = map[string]uint32{
	"ethernet":   pcapio.LinkTypeEthernet,
	"linux_sll":  pcapio.LinkTypeLinuxSLL,
	"linux_sll2": pcapio.LinkTypeLinuxSL2,
	"null":       pcapio.LinkTypeNull,
	"loop":       pcapio.LinkTypeLoop,
	"raw":        pcapio.LinkTypeRaw,
}
