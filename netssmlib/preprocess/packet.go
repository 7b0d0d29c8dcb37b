package preprocess

import (
	"encoding/binary"

	"github.com/netssm/netssm/netssmlib/pcapio"
)

// SampleBytes is the fixed length of a packet's byte string in a sample.
const SampleBytes = 128

// PacketBytes appends to dst the header bytes NetSSM keeps for one captured
// packet (before padding/truncation to SampleBytes) and reports whether the
// packet counts as TCP, UDP or is skipped. link is the packet's LINKTYPE_*
// value.
//
// It decodes the common cases (Ethernet, 802.1Q/802.1ad tags, Linux cooked
// v1/v2, loopback, raw IP; IPv4 with options, IPv6 without extension
// headers; TCP and UDP) by walking the headers in place without allocating,
// reproducing gopacket's notion of each layer's contents exactly. Anything
// else (IPv6 extension headers, tunnels, 802.3/LLC frames, UDP ports that
// gopacket decodes further: VXLAN, Geneve, GTP-U, sFlow) goes through
// ReferencePacket, so the result is always the reference result.
func PacketBytes(dst []byte, link uint32, data []byte) ([]byte, Kind) {
	out, kind, ok := fastPacket(dst, link, data)
	if ok {
		return out, kind
	}
	return ReferencePacket(dst, link, data)
}

// fastPacket returns ok=false when the packet needs the reference decoder.
func fastPacket(dst []byte, link uint32, data []byte) ([]byte, Kind, bool) {
	var (
		linkLen   int  // bytes of the link layer proper
		linkInUDP bool // whether gopacket sees the link header as a LinkLayer
		etype     uint16
		off       int // start of the next header
	)
	switch link {
	case pcapio.LinkTypeEthernet:
		if len(data) < 14 {
			return dst, Skip, true
		}
		etype = be16(data[12:])
		if etype < 0x0600 {
			return dst, Skip, false // 802.3 length field: LLC
		}
		linkLen, linkInUDP, off = 14, true, 14
	case pcapio.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return dst, Skip, true
		}
		// gopacket slices data[6:6+addrlen] with uint16 arithmetic and
		// panics (recovered: no layers) when that is out of range.
		if end := be16(data[4:]) + 6; end < 6 || int(end) > len(data) {
			return dst, Skip, true
		}
		etype = be16(data[14:])
		linkLen, linkInUDP, off = 16, true, 16
	case pcapio.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			return dst, Skip, true
		}
		etype = be16(data[0:])
		linkLen, linkInUDP, off = 20, true, 20
	case pcapio.LinkTypeNull, pcapio.LinkTypeLoop:
		if len(data) < 4 {
			return dst, Skip, true
		}
		var fam uint32
		if data[0] == 0 && data[1] == 0 {
			fam = binary.BigEndian.Uint32(data)
		} else {
			fam = binary.LittleEndian.Uint32(data)
		}
		switch fam {
		case 2:
			etype = 0x0800
		case 10, 24, 28, 30:
			etype = 0x86DD
		default:
			return dst, Skip, false
		}
		linkLen, off = 4, 4
	case pcapio.LinkTypeRaw, 12: // 12: DLT_RAW written as a link type
		if len(data) == 0 {
			return dst, Skip, true
		}
		switch data[0] >> 4 {
		case 4:
			etype = 0x0800
		case 6:
			etype = 0x86DD
		default:
			return dst, Skip, true
		}
	case pcapio.LinkTypeIPv4:
		etype = 0x0800
	case pcapio.LinkTypeIPv6:
		etype = 0x86DD
	default:
		return dst, Skip, false
	}
	// VLAN tags (gopacket's Dot1Q layers: contents kept for TCP, dropped for
	// UDP as they are neither link nor network layers).
	for {
		if len(data) == off && linkLen > 0 {
			return dst, Skip, true // no payload: gopacket stops decoding
		}
		switch etype {
		case 0x0800, 0x86DD:
		case 0x8100, 0x88a8:
			if len(data)-off < 4 {
				return dst, Skip, true
			}
			etype = be16(data[off+2:])
			off += 4
			continue
		case 0x0806:
			return dst, Skip, true // ARP
		default:
			return dst, Skip, false
		}
		break
	}
	ipStart := off
	ip := data[off:]
	var (
		proto   byte
		hdrLen  int
		payload []byte
	)
	if etype == 0x0800 {
		if len(ip) < 20 {
			return dst, Skip, true
		}
		ihl := int(ip[0] & 0x0f)
		length := int(be16(ip[2:]))
		if length == 0 {
			length = len(ip)
		}
		if length < 20 || ihl < 5 || ihl*4 > length {
			return dst, Skip, true
		}
		if len(ip) > length {
			ip = ip[:length]
		} else if len(ip) < length && ihl*4 > len(ip) {
			return dst, Skip, true
		}
		if !ipv4OptionsOK(ip[20 : ihl*4]) {
			return dst, Skip, true
		}
		hdrLen = ihl * 4
		payload = ip[hdrLen:]
		if ip[6]&0x20 != 0 || be16(ip[6:])&0x1fff != 0 {
			return dst, Skip, true // fragment
		}
		proto = ip[9]
	} else {
		if len(ip) < 40 {
			return dst, Skip, true
		}
		proto = ip[6]
		if proto == 0 {
			return dst, Skip, false // hop-by-hop options
		}
		length := int(be16(ip[4:]))
		if length == 0 {
			return dst, Skip, true
		}
		hdrLen = 40
		payload = ip[40:min(40+length, len(ip))]
	}
	switch proto {
	case 6, 17:
	case 1, 2, 58: // ICMP, IGMP, ICMPv6
		return dst, Skip, true
	default:
		return dst, Skip, false
	}
	if len(payload) == 0 {
		return dst, Skip, true
	}
	if proto == 6 {
		tcpLen := 0
		if len(payload) >= 20 {
			if doff := int(payload[12] >> 4); doff >= 5 {
				tcpLen = min(doff*4, len(payload))
			}
		}
		end := ipStart + hdrLen + tcpLen
		return appendCapped(dst, data[:end]), TCP, true
	}
	// UDP
	var hdr [8]byte
	var udpPayload []byte
	if len(payload) >= 8 {
		copy(hdr[:], payload[:8])
		switch ulen := int(be16(payload[4:])); {
		case ulen >= 8:
			udpPayload = payload[8:min(ulen, len(payload))]
		case ulen == 0:
			udpPayload = payload[8:]
		}
		if len(udpPayload) > 0 && (udpTunnelPort(be16(payload[2:]), be16(payload[0:]))) {
			return dst, Skip, false
		}
	}
	if linkInUDP {
		dst = append(dst, data[:linkLen]...)
	}
	dst = append(dst, ip[:hdrLen]...)
	dst = append(dst, hdr[:]...)
	return appendUDPPayload(dst, udpPayload), UDP, true
}

// appendCapped appends at most SampleBytes bytes of b: the rest would be cut.
func appendCapped(dst, b []byte) []byte {
	if len(b) > SampleBytes {
		b = b[:SampleBytes]
	}
	return append(dst, b...)
}

// udpTunnelPort reports whether gopacket would decode the UDP payload as a
// protocol that may carry further link/network/transport layers (VXLAN
// 4789, Geneve 6081, GTP-U 2152, sFlow 6343). The destination port wins
// when it maps to a decoder, as in gopacket's UDP.NextLayerType.
func udpTunnelPort(dstPort, srcPort uint16) bool {
	p := dstPort
	if !knownUDPPort(p) {
		p = srcPort
	}
	switch p {
	case 4789, 6081, 2152, 6343:
		return true
	}
	return false
}

// knownUDPPort mirrors the ports gopacket v1.1.19 maps to a decoder.
func knownUDPPort(p uint16) bool {
	switch p {
	case 53, 123, 4789, 67, 68, 546, 547, 5060, 6343, 6081, 3784, 2152, 623, 1812:
		return true
	}
	return false
}

// ipv4OptionsOK mirrors gopacket's IPv4 option parsing, which fails the
// whole IPv4 layer on malformed options.
func ipv4OptionsOK(opts []byte) bool {
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return true
		case 1:
			opts = opts[1:]
		default:
			if len(opts) < 2 {
				return false
			}
			l := int(opts[1])
			if len(opts) < l || l <= 2 {
				return false
			}
			opts = opts[l:]
		}
	}
	return true
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
