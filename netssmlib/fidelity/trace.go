package fidelity

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"time"

	"github.com/netssm/netssm/netssmlib/convert"
	"github.com/netssm/netssm/netssmlib/pcapio"
)

// Packet is what the report uses of one captured packet.
type Packet struct {
	Time    time.Time
	CapLen  int // captured bytes
	OrigLen int // original length (pcap orig_len)

	IP        bool // an IPv4/IPv6 header was found (it may still be invalid)
	IPVersion int
	IPValid   bool // IP header fields valid and the header captured
	// ChecksumOK: IPv4 header checksum valid (always true for IPv6).
	ChecksumOK bool
	L4Valid    bool // TCP/UDP header valid and consistent with the IP length (true when neither)
	LengthOK   bool // captured length, original length and IP length agree

	Proto      uint8
	IPLen      int // IP length field (IPv4 total length; IPv6 40 + payload length)
	TTL        uint8
	Src, Dst   [16]byte // IPv4 addresses in the first 4 bytes
	HasPorts   bool     // a TCP or UDP header was captured
	SPort      uint16
	DPort      uint16
	TCP        bool // a TCP header was captured
	Flags      uint8
	Window     uint16
	Seq, Ack   uint32
	PayloadLen int // transport payload length per the headers (-1 unknown)
}

// WellFormed is the conjunction of the validity checks.
func (p *Packet) WellFormed() bool {
	return p.IPValid && p.ChecksumOK && p.L4Valid && p.LengthOK
}

// Trace is a capture read for the report.
type Trace struct {
	Path    string
	Format  string // pcap or pcapng
	Packets []Packet
	// LinkTypes counts packets per link type; packets on link types the
	// report does not decode count as not IP.
	LinkTypes map[int]int
}

// ReadOptions limit reading.
type ReadOptions struct {
	MaxPackets int // stop after this many packets (0: all)
}

// ReadFile reads a pcap or pcapng file.
func ReadFile(ctx context.Context, path string, opt ReadOptions) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(ctx, f, path, opt)
}

// Read reads a pcap or pcapng stream; name is its Path (used in errors).
// After an error, the returned Trace (when not nil) holds the packets read
// before it.
func Read(ctx context.Context, r io.Reader, name string, opt ReadOptions) (*Trace, error) {
	rd, err := pcapio.NewReader(r, name)
	if err != nil {
		return nil, err
	}
	t := &Trace{Path: name, Format: rd.Format().String(), LinkTypes: map[int]int{}}
	for n := 0; opt.MaxPackets == 0 || n < opt.MaxPackets; n++ {
		if n%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return t, err
			}
		}
		data, p, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return t, err
		}
		t.LinkTypes[int(p.LinkType)]++
		t.Packets = append(t.Packets, Decode(data, int(p.LinkType), p.OrigLen, p.Timestamp))
	}
	return t, nil
}

// Decode extracts the report's fields from one packet's bytes.
func Decode(b []byte, link, origLen int, ts time.Time) Packet {
	p := Packet{Time: ts, CapLen: len(b), OrigLen: origLen, PayloadLen: -1}
	l, err := convert.DecodeLink(b, uint32(link))
	if errors.Is(err, convert.ErrNotIP) || errors.Is(err, convert.ErrLinkType) || (l.IPVersion != 4 && l.IPVersion != 6) {
		return p
	}
	p.IP, p.IPVersion, p.Proto, p.IPLen = true, l.IPVersion, l.Proto, l.IPLen
	ip := b[l.IPOff():]
	hdrCaptured := len(ip) >= l.IPHeaderLen && l.IPHeaderLen >= 20
	p.ChecksumOK = true
	if l.IPVersion == 4 {
		if len(ip) >= 20 {
			p.TTL = ip[8]
			copy(p.Src[:4], ip[12:16])
			copy(p.Dst[:4], ip[16:20])
		}
		p.IPValid = hdrCaptured && l.IPLen >= l.IPHeaderLen
		if hdrCaptured {
			p.ChecksumOK = convert.IPv4Checksum(ip[:l.IPHeaderLen]) == binary.BigEndian.Uint16(ip[10:])
		} else {
			p.ChecksumOK = false
		}
	} else {
		if len(ip) >= 40 {
			p.TTL = ip[7]
			copy(p.Src[:], ip[8:24])
			copy(p.Dst[:], ip[24:40])
		}
		p.IPValid = hdrCaptured && l.IPLen >= l.IPHeaderLen
	}
	// Lengths: the record holds the IP packet (or a prefix of it, when
	// orig_len says so); trailing bytes beyond the IP length are only
	// plausible as Ethernet padding/FCS of a minimum-size frame.
	wire := l.LinkLen + l.IPLen
	p.LengthOK = origLen >= len(b) && origLen >= wire &&
		(origLen == wire || (link == int(pcapio.LinkTypeEthernet) && origLen <= 64))

	p.L4Valid = true
	t := ip[min(l.IPHeaderLen, len(ip)):]
	switch {
	case l.Fragment || (l.Proto != convert.ProtoTCP && l.Proto != convert.ProtoUDP):
	case l.Proto == convert.ProtoTCP:
		if len(t) >= 4 {
			p.HasPorts = true
			p.SPort, p.DPort = binary.BigEndian.Uint16(t), binary.BigEndian.Uint16(t[2:])
		}
		if len(t) >= 20 {
			p.TCP = true
			p.Seq, p.Ack = binary.BigEndian.Uint32(t[4:]), binary.BigEndian.Uint32(t[8:])
			p.Flags, p.Window = t[13], binary.BigEndian.Uint16(t[14:])
		}
		p.L4Valid = err == nil && l.L4Len >= 20 && l.IPLen >= l.IPHeaderLen+l.L4Len
		if p.L4Valid {
			p.PayloadLen = l.PayloadLen()
		}
	case l.Proto == convert.ProtoUDP:
		if len(t) >= 4 {
			p.HasPorts = true
			p.SPort, p.DPort = binary.BigEndian.Uint16(t), binary.BigEndian.Uint16(t[2:])
		}
		p.L4Valid = err == nil && l.UDPLen >= 8 && l.UDPLen == l.IPLen-l.IPHeaderLen
		if p.L4Valid {
			p.PayloadLen = l.UDPLen - 8
		}
	}
	if l.EtherType != 0 && (l.EtherType == 0x0800) != (l.IPVersion == 4) {
		p.IPValid = false // link-layer protocol and IP version disagree
	}
	return p
}
