package preprocess

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netssm/netssm/netssmlib/pcapio"
)

// Kind classifies a packet for preprocessing.
type Kind uint8

const (
	// Skip: the packet has no TCP or UDP layer and is not part of the sample.
	Skip Kind = iota
	// TCP: the packet has a TCP layer (this wins over UDP, as in NetSSM).
	TCP
	// UDP: the packet has a UDP layer and no TCP layer.
	UDP
)

func (k Kind) String() string {
	switch k {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "skip"
}

// gopacketDecoder is the first-layer decoder NetSSM's preprocessor ends up
// with for a link type when it reads a capture through libpcap on Linux
// (libpcap maps LINKTYPE_RAW to DLT_RAW 12; gopacket truncates link types
// to 8 bits). ok is false for link types no gopacket decoder handles.
// LINKTYPE_IPV4/IPV6 (no gopacket decoder: NetSSM drops such captures) are
// decoded as IPv4/IPv6, and Linux cooked v2 is handled by ReferencePacket
// itself.
func gopacketDecoder(link uint32) (gopacket.Decoder, bool) {
	switch link {
	case pcapio.LinkTypeRaw:
		return layers.LinkTypeRaw, true
	case pcapio.LinkTypeIPv4:
		return layers.LayerTypeIPv4, true
	case pcapio.LinkTypeIPv6:
		return layers.LayerTypeIPv6, true
	}
	if link > 255 {
		return nil, false
	}
	lt := layers.LinkType(link)
	if layers.LinkTypeMetadata[lt].Name == "UnknownLinkType" {
		return nil, false
	}
	return lt, true
}

// LinkTypeSupported reports whether packets of this LINKTYPE_* value can be
// preprocessed: the natively decoded types (Ethernet, Linux cooked v1/v2,
// raw IP, loopback) and any other type gopacket has a decoder for.
func LinkTypeSupported(link uint32) bool {
	if link == pcapio.LinkTypeLinuxSLL2 {
		return true
	}
	_, ok := gopacketDecoder(link)
	return ok
}

// libpcapSnap returns how much of a record libpcap (which NetSSM reads
// captures with) hands on: in a classic pcap file, a record longer than
// the header's snapshot length is cut to it (when that length is below
// libpcap's 262144-byte maximum; 0 means the maximum).
func libpcapSnap(r *pcapio.Reader, data []byte) []byte {
	if sl := r.SnapLen(); sl > 0 && sl < 262144 && len(data) > int(sl) {
		return data[:sl]
	}
	return data
}

// ReferencePacket is the slow reference implementation of the per-packet
// rule: it decodes the packet with gopacket.NewPacket and default options
// and collects layer contents exactly as NetSSM's preprocessor does. It
// appends the packet's bytes (not yet padded or truncated to 128) to dst.
//
// Where NetSSM panics (a UDP layer with an empty payload) it keeps no
// payload byte. Linux cooked v2 frames, which NetSSM's gopacket cannot
// decode, keep their 20-byte header as the link layer, like Linux cooked v1.
func ReferencePacket(dst []byte, link uint32, data []byte) ([]byte, Kind) {
	if link == pcapio.LinkTypeLinuxSLL2 {
		if len(data) < 20 {
			return dst, Skip
		}
		proto := layers.EthernetType(binary.BigEndian.Uint16(data[0:2]))
		pkt := gopacket.NewPacket(data[20:], proto, gopacket.Default)
		return netssmBytes(dst, data[:20], pkt)
	}
	dec, ok := gopacketDecoder(link)
	if !ok {
		return dst, Skip
	}
	pkt := gopacket.NewPacket(data, dec, gopacket.Default)
	return netssmBytes(dst, nil, pkt)
}

// netssmBytes applies NetSSM's layer selection to a decoded packet. link is
// an extra link-layer header decoded outside gopacket (Linux cooked v2).
func netssmBytes(dst, link []byte, pkt gopacket.Packet) ([]byte, Kind) {
	ls := pkt.Layers()
	var udp *layers.UDP
	hasTCP := false
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.TCP:
			hasTCP = true
		case *layers.UDP:
			if udp == nil {
				udp = l
			}
		}
	}
	if hasTCP {
		dst = append(dst, link...)
		for _, l := range ls {
			_, isApp := l.(gopacket.ApplicationLayer)
			_, isErr := l.(gopacket.ErrorLayer)
			if isApp || isErr {
				continue
			}
			dst = append(dst, l.LayerContents()...)
		}
		return dst, TCP
	}
	if udp == nil {
		return dst, Skip
	}
	dst = append(dst, link...)
	for _, l := range ls {
		_, isLink := l.(gopacket.LinkLayer)
		_, isNet := l.(gopacket.NetworkLayer)
		if isLink || isNet {
			dst = append(dst, l.LayerContents()...)
		}
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(udp.SrcPort))
	dst = binary.BigEndian.AppendUint16(dst, uint16(udp.DstPort))
	dst = binary.BigEndian.AppendUint16(dst, udp.Length)
	dst = binary.BigEndian.AppendUint16(dst, udp.Checksum)
	return appendUDPPayload(dst, udp.Payload), UDP
}

// appendUDPPayload keeps the first 12 payload bytes, or, as NetSSM does for
// shorter payloads, all but the last byte (nothing for an empty payload,
// where NetSSM panics).
func appendUDPPayload(dst, payload []byte) []byte {
	switch {
	case len(payload) >= 12:
		return append(dst, payload[:12]...)
	case len(payload) > 0:
		return append(dst, payload[:len(payload)-1]...)
	}
	return dst
}

type netssmCapture struct {
	Data     string
	Hash     string
	Filename string
	OrigLen  int
}

// netssmTruncate keeps the first n whitespace-separated words, rune by
// rune, the way NetSSM's truncateString does.
func netssmTruncate(input string, n int) string {
	var b strings.Builder
	count, inWord := 0, false
	for _, r := range input {
		if unicode.IsSpace(r) {
			if inWord {
				count++
				inWord = false
				if count == n {
					break
				}
				b.WriteRune(' ')
			}
		} else {
			inWord = true
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// ReferenceRecord is the "NetSSM-equivalent" baseline: a straightforward
// sequential implementation of NetSSM's preprocessor algorithm for one
// capture (one gopacket.NewPacket per packet, fmt.Sprint per byte, the
// whole sample built in memory with strings.Join, rune-by-rune truncation,
// encoding/json with HTML escaping off). It returns the JSONL line; ok is
// false when the capture yields no record (fewer than two TCP/UDP
// packets). truncate uses NetSSM's flag semantics (-1 = off). Tests check
// Run against it and the benchmarks compare their speed; it is not meant
// for production use (memory grows with the capture).
func ReferenceRecord(ctx context.Context, path, label string, truncate int) (line []byte, ok bool, err error) {
	r, err := pcapio.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	var pkts []string
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		data, p, err := r.Next()
		if err == io.EOF || errors.Is(err, pcapio.ErrTruncated) {
			break
		}
		if err != nil {
			return nil, false, err
		}
		b, kind := ReferencePacket(nil, p.LinkType, libpcapSnap(r, data))
		if kind == Skip {
			continue
		}
		if len(b) > 128 {
			b = b[:128]
		} else {
			b = append(b, make([]byte, 128-len(b))...)
		}
		strs := make([]string, len(b))
		for i, v := range b {
			strs[i] = fmt.Sprint(v)
		}
		pkts = append(pkts, strings.Join(strs, " "))
	}
	if len(pkts) <= 1 {
		return nil, false, nil
	}
	data := "<|" + label + "|> " + strings.Join(pkts, " <|pkt|> ")
	if truncate != -1 {
		data = netssmTruncate(data, truncate)
	}
	sum := sha256.Sum256([]byte(path))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(netssmCapture{data, fmt.Sprintf("%x", sum), path, len(pkts)}); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}
