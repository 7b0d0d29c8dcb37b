package convert

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/netssm/netssm/netssmlib/pcapio"
)

// capturedPacket is one packet of a capture with the header bytes NetSSM's
// preprocessor keeps for it.
type capturedPacket struct {
	data    []byte // captured bytes
	origLen int
	kept    []byte // NetSSM's kept bytes before padding to 128
}

// netssmText mimics NetSSM's preprocessor (NETSSM.md section 1) on an
// Ethernet pcap, using gopacket's decoder as an independent oracle of the
// header lengths: every decoded layer's bytes except the application
// payload; for UDP the first 12 payload bytes, or all but the last when the
// payload is shorter. It returns the sample text and the TCP/UDP packets.
func netssmText(t testing.TB, path, label string) (string, []capturedPacket) {
	t.Helper()
	r, err := pcapio.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var pkts []capturedPacket
	var words []string
	for {
		data, ci, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.Clone(data)
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if p.Layer(layers.LayerTypeTCP) == nil && p.Layer(layers.LayerTypeUDP) == nil {
			continue
		}
		var kept []byte
		for _, l := range p.Layers() {
			if l.LayerType() == gopacket.LayerTypePayload || l.LayerType() == gopacket.LayerTypeFragment {
				continue
			}
			if _, ok := l.(gopacket.ApplicationLayer); ok && l.LayerType() != layers.LayerTypeUDP {
				continue
			}
			kept = append(kept, l.LayerContents()...)
			if u, ok := l.(*layers.UDP); ok {
				pl := u.LayerPayload()
				if len(pl) >= 12 {
					kept = append(kept, pl[:12]...)
				} else if len(pl) > 0 {
					kept = append(kept, pl[:len(pl)-1]...)
				}
				break
			}
			if _, ok := l.(*layers.TCP); ok {
				break
			}
		}
		pkts = append(pkts, capturedPacket{data: data, origLen: ci.OrigLen, kept: kept})
		padded := make([]byte, 128)
		copy(padded, kept)
		ws := make([]string, 128)
		for i, b := range padded {
			ws[i] = strconv.Itoa(int(b))
		}
		words = append(words, strings.Join(ws, " "))
	}
	return "<|" + label + "|> " + strings.Join(words, " <|pkt|> "), pkts
}

func TestNetssmTextHelper(t *testing.T) {
	text, pkts := netssmText(t, "../../testdata/convert/loopback.pcap", "lo")
	if len(pkts) < 100 {
		t.Fatalf("only %d TCP/UDP packets", len(pkts))
	}
	if !strings.HasPrefix(text, "<|lo|> 0 0 0 0 0 0 0 0 0 0 0 0 ") {
		t.Errorf("text starts %q", text[:40])
	}
	if n := strings.Count(text, PktToken); n != len(pkts)-1 {
		t.Errorf("%d delimiters for %d packets", n, len(pkts))
	}
	for i, p := range pkts {
		if !bytes.HasPrefix(p.data, p.kept) {
			t.Fatalf("packet %d: kept bytes are not a prefix", i)
		}
	}
}
