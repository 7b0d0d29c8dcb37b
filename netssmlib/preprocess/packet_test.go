package preprocess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/netssm/netssm/netssmlib/pcapio"
)

// Packet builders for hand-made test vectors.

func ethFrame(etype uint16, payload ...[]byte) []byte {
	b := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	b = binary.BigEndian.AppendUint16(b, etype)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

func vlan(id, etype uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, id), etype)
}

// ipv4 builds an IPv4 header with options; length 0 means computed.
func ipv4(proto byte, opts []byte, length int, payload []byte) []byte {
	ihl := (20 + len(opts)) / 4
	if length == 0 {
		length = ihl*4 + len(payload)
	}
	b := []byte{byte(0x40 | ihl), 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	binary.BigEndian.PutUint16(b[2:], uint16(length))
	b = append(b, opts...)
	return append(b, payload...)
}

func ipv6(nh byte, length int, payload []byte) []byte {
	if length < 0 {
		length = len(payload)
	}
	b := make([]byte, 40)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(length))
	b[6], b[7] = nh, 64
	b[23], b[39] = 1, 2
	return append(b, payload...)
}

func tcpSeg(doff int, payload []byte) []byte {
	b := make([]byte, max(20, doff*4))
	binary.BigEndian.PutUint16(b[0:], 443)
	binary.BigEndian.PutUint16(b[2:], 50000)
	b[12] = byte(doff << 4)
	b[13] = 0x18
	for i := 20; i < len(b); i++ {
		b[i] = 1 // NOPs
	}
	return append(b, payload...)
}

func udpDgram(sport, dport uint16, length int, payload []byte) []byte {
	if length < 0 {
		length = 8 + len(payload)
	}
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(length))
	b = append(b, 0xab, 0xcd)
	return append(b, payload...)
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}

type vector struct {
	name    string
	link    uint32
	data    []byte
	kind    Kind
	wantLen int // length of the kept bytes (before padding); -1: don't check
}

func vectors() []vector {
	tcp := tcpSeg(8, seq(30)) // 32-byte header with options
	udp5 := udpDgram(40000, 19090, -1, seq(5))
	sll := func(proto uint16, addrLen uint16, payload []byte) []byte {
		b := make([]byte, 16)
		binary.BigEndian.PutUint16(b[2:], 772)
		binary.BigEndian.PutUint16(b[4:], addrLen)
		binary.BigEndian.PutUint16(b[14:], proto)
		return append(b, payload...)
	}
	sll2 := func(proto uint16, payload []byte) []byte {
		b := make([]byte, 20)
		binary.BigEndian.PutUint16(b[0:], proto)
		b[10] = 6
		return append(b, payload...)
	}
	loop := func(order binary.ByteOrder, fam uint32, payload []byte) []byte {
		b := make([]byte, 4)
		order.PutUint32(b, fam)
		return append(b, payload...)
	}
	return []vector{
		{"eth ipv4 tcp", 1, ethFrame(0x0800, ipv4(6, nil, 0, tcp)), TCP, 14 + 20 + 32},
		{"eth ipv4 options tcp", 1, ethFrame(0x0800, ipv4(6, []byte{7, 7, 4, 0, 0, 0, 0, 0}, 0, tcp)), TCP, 14 + 28 + 32},
		{"eth ipv4 bad option length", 1, ethFrame(0x0800, ipv4(6, []byte{7, 2, 0, 0}, 0, tcp)), Skip, 0},
		{"eth ipv4 end-of-options", 1, ethFrame(0x0800, ipv4(6, []byte{0, 99, 99, 99}, 0, tcp)), TCP, 14 + 24 + 32},
		{"eth padding after ipv4", 1, append(ethFrame(0x0800, ipv4(6, nil, 0, tcpSeg(5, nil))), 0, 0, 0, 0, 0, 0), TCP, 54},
		{"eth ipv4 length 0 (TSO)", 1, ethFrame(0x0800, ipv4(6, nil, 1, tcp)[:2], []byte{0, 0}, ipv4(6, nil, 0, tcp)[4:]), TCP, 14 + 20 + 32},
		{"eth ipv4 fragment", 1, ethFrame(0x0800, func() []byte { b := ipv4(6, nil, 0, tcp); b[6] = 0x20; return b }()), Skip, 0},
		{"eth ipv4 icmp", 1, ethFrame(0x0800, ipv4(1, nil, 0, seq(8))), Skip, 0},
		{"eth ipv4 header only", 1, ethFrame(0x0800, ipv4(6, nil, 40, nil)), Skip, 0},
		{"eth ipv4 tcp cut at 10", 1, ethFrame(0x0800, ipv4(6, nil, 60, tcp[:10])), TCP, 14 + 20},
		{"eth ipv4 tcp cut in options", 1, ethFrame(0x0800, ipv4(6, nil, 60, tcp[:25])), TCP, 14 + 20 + 25},
		{"eth ipv4 tcp data offset 4", 1, ethFrame(0x0800, ipv4(6, nil, 0, tcpSeg(4, nil))), TCP, 14 + 20},
		{"eth ipv4 in ipv4 (fallback)", 1, ethFrame(0x0800, ipv4(4, nil, 0, ipv4(6, nil, 0, tcp))), TCP, 14 + 20 + 20 + 32},
		{"eth ipv4 udp 5-byte payload", 1, ethFrame(0x0800, ipv4(17, nil, 0, udp5)), UDP, 14 + 20 + 8 + 4},
		{"eth ipv4 udp 12-byte payload", 1, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(1, 2, -1, seq(12)))), UDP, 14 + 20 + 8 + 12},
		{"eth ipv4 udp 40-byte payload", 1, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(1, 2, -1, seq(40)))), UDP, 14 + 20 + 8 + 12},
		{"eth ipv4 udp empty payload", 1, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(1, 2, -1, nil))), UDP, 14 + 20 + 8},
		{"eth ipv4 udp length 3", 1, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(1, 2, 3, seq(20)))), UDP, 14 + 20 + 8},
		{"eth ipv4 udp length 0 (jumbo)", 1, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(1, 2, 0, seq(3)))), UDP, 14 + 20 + 8 + 2},
		{"eth ipv4 udp 5-byte header", 1, ethFrame(0x0800, ipv4(17, nil, 0, seq(5))), UDP, 14 + 20 + 8},
		{"eth ipv4 udp dns", 1, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(40000, 53, -1, seq(30)))), UDP, 14 + 20 + 8 + 12},
		{"eth ipv4 udp vxlan inner tcp", 1, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(40000, 4789, -1,
			append([]byte{8, 0, 0, 0, 0, 0, 1, 0}, ethFrame(0x0800, ipv4(6, nil, 0, tcp))...)))), TCP, -1},
		{"eth ipv4 udp vxlan inner udp", 1, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(40000, 4789, -1,
			append([]byte{8, 0, 0, 0, 0, 0, 1, 0}, ethFrame(0x0800, ipv4(17, nil, 0, udp5))...)))), UDP, 14 + 20 + 14 + 20 + 8 + 12},
		{"eth vlan ipv4 tcp", 1, ethFrame(0x8100, vlan(5, 0x0800), ipv4(6, nil, 0, tcp)), TCP, 14 + 4 + 20 + 32},
		{"eth qinq ipv4 udp", 1, ethFrame(0x88a8, vlan(5, 0x8100), vlan(6, 0x0800), ipv4(17, nil, 0, udp5)), UDP, 14 + 20 + 8 + 4},
		{"eth vlan truncated", 1, ethFrame(0x8100, []byte{0, 5}), Skip, 0},
		{"eth arp", 1, ethFrame(0x0806, seq(28)), Skip, 0},
		{"eth llc", 1, ethFrame(0x0040, seq(64)), Skip, -1},
		{"eth short", 1, seq(13), Skip, 0},
		{"eth only header", 1, ethFrame(0x0800), Skip, 0},
		{"eth ipv6 tcp", 1, ethFrame(0x86DD, ipv6(6, -1, tcp)), TCP, 14 + 40 + 32},
		{"eth ipv6 udp", 1, ethFrame(0x86DD, ipv6(17, -1, udp5)), UDP, 14 + 40 + 8 + 4},
		{"eth ipv6 length 0", 1, ethFrame(0x86DD, ipv6(6, 0, tcp)), Skip, 0},
		{"eth ipv6 hop-by-hop tcp", 1, ethFrame(0x86DD, ipv6(0, -1, append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, tcp...))), TCP, 14 + 40 + 8 + 32},
		{"eth ipv6 hop-by-hop udp", 1, ethFrame(0x86DD, ipv6(0, -1, append([]byte{17, 0, 1, 4, 0, 0, 0, 0}, udp5...))), UDP, 14 + 40 + 8 + 4},
		{"eth ipv6 destination opts tcp", 1, ethFrame(0x86DD, ipv6(60, -1, append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, tcp...))), TCP, 14 + 40 + 8 + 32},
		{"eth ipv6 fragment", 1, ethFrame(0x86DD, ipv6(44, -1, append([]byte{6, 0, 0, 1, 0, 0, 0, 1}, tcp...))), Skip, -1},
		{"eth ipv6 icmpv6", 1, ethFrame(0x86DD, ipv6(58, -1, seq(8))), Skip, 0},
		{"sll ipv4 tcp", 113, sll(0x0800, 6, ipv4(6, nil, 0, tcp)), TCP, 16 + 20 + 32},
		{"sll ipv6 udp", 113, sll(0x86DD, 6, ipv6(17, -1, udp5)), UDP, 16 + 40 + 8 + 4},
		{"sll bad address length", 113, sll(0x0800, 200, ipv4(6, nil, 0, tcp)), Skip, 0},
		{"sll address length wraps", 113, sll(0x0800, 65533, ipv4(6, nil, 0, tcp)), Skip, 0},
		{"sll2 ipv4 tcp", 276, sll2(0x0800, ipv4(6, nil, 0, tcp)), TCP, 20 + 20 + 32},
		{"sll2 ipv6 udp", 276, sll2(0x86DD, ipv6(17, -1, udp5)), UDP, 20 + 40 + 8 + 4},
		{"sll2 short", 276, seq(19), Skip, 0},
		{"null le ipv4 tcp", 0, loop(binary.LittleEndian, 2, ipv4(6, nil, 0, tcp)), TCP, 4 + 20 + 32},
		{"null le ipv4 udp (no link bytes)", 0, loop(binary.LittleEndian, 2, ipv4(17, nil, 0, udp5)), UDP, 20 + 8 + 4},
		{"loop be ipv6 tcp", 108, loop(binary.BigEndian, 30, ipv6(6, -1, tcp)), TCP, 4 + 40 + 32},
		{"null linux ipv6 family 10", 0, loop(binary.LittleEndian, 10, ipv6(6, -1, tcp)), TCP, 4 + 40 + 32},
		{"null bogus family", 0, loop(binary.LittleEndian, 0x1234, ipv4(6, nil, 0, tcp)), Skip, 0},
		{"null unknown family", 0, loop(binary.LittleEndian, 7, ipv4(6, nil, 0, tcp)), Skip, 0},
		{"raw ipv4 tcp", 101, ipv4(6, nil, 0, tcp), TCP, 20 + 32},
		{"raw ipv6 udp", 101, ipv6(17, -1, udp5), UDP, 40 + 8 + 4},
		{"raw version 5", 101, append([]byte{0x50}, seq(40)...), Skip, 0},
		{"raw empty", 101, nil, Skip, 0},
		{"dlt raw 12 ipv4 tcp", 12, ipv4(6, nil, 0, tcp), TCP, 20 + 32},
		{"ipv4 linktype tcp", 228, ipv4(6, nil, 0, tcp), TCP, 20 + 32},
		{"ipv6 linktype udp", 229, ipv6(17, -1, udp5), UDP, 40 + 8 + 4},
		{"ppp (gopacket decoder) ipv4 tcp", 9, append([]byte{0x00, 0x21}, ipv4(6, nil, 0, tcp)...), TCP, -1},
	}
}

// TestVectors checks hand-made packets: the expected kind and kept length,
// and that the fast path agrees with the gopacket reference.
func TestVectors(t *testing.T) {
	for _, v := range vectors() {
		ref, rkind := ReferencePacket(nil, v.link, v.data)
		got, kind := PacketBytes(nil, v.link, v.data)
		if kind != v.kind || rkind != v.kind {
			t.Errorf("%s: kind %v (reference %v), want %v", v.name, kind, rkind, v.kind)
			continue
		}
		if !bytes.Equal(capped(got), capped(ref)) {
			t.Errorf("%s: fast path kept\n% x\nreference kept\n% x", v.name, got, ref)
		}
		if v.wantLen >= 0 && len(ref) != v.wantLen {
			t.Errorf("%s: kept %d bytes, want %d", v.name, len(ref), v.wantLen)
		}
	}
}

func capped(b []byte) []byte {
	if len(b) > SampleBytes {
		return b[:SampleBytes]
	}
	return b
}

// checkAgree compares the fast path with the reference on one packet.
func checkAgree(t testing.TB, link uint32, data []byte) {
	t.Helper()
	ref, rkind := ReferencePacket(nil, link, data)
	got, kind, ok := fastPacket(nil, link, data)
	if !ok {
		return // the reference handles it
	}
	if kind != rkind || !bytes.Equal(capped(got), capped(ref)) {
		t.Fatalf("link %d packet\n% x\nfast path: %v % x\nreference: %v % x", link, data, kind, got, rkind, ref)
	}
}

// capturePackets returns every packet of the test captures (and of NetSSM's
// examples when present).
func capturePackets(t testing.TB) (links []uint32, pkts [][]byte) {
	t.Helper()
	files := captures(t)
	if seed := os.Getenv("NETSSM_SHARED"); seed != "" {
		m, _ := filepath.Glob(filepath.Join(seed, "seed-examples", "*.pcap"))
		files = append(files, m...)
	}
	for _, f := range files {
		r, err := pcapio.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, p, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			links = append(links, p.LinkType)
			pkts = append(pkts, bytes.Clone(data))
		}
		r.Close()
	}
	return links, pkts
}

// TestFastPathAgreesOnMutations checks the fast path against the reference
// on every captured packet, on every prefix of its first 80 bytes (snap
// lengths) and on random single-byte mutations of its headers.
func TestFastPathAgreesOnMutations(t *testing.T) {
	links, pkts := capturePackets(t)
	rng := rand.New(rand.NewPCG(1, 2))
	mutations := 30
	if testing.Short() {
		mutations = 5
	}
	for i, p := range pkts {
		checkAgree(t, links[i], p)
		for n := 0; n <= min(80, len(p)); n++ {
			checkAgree(t, links[i], p[:n])
		}
		m := make([]byte, len(p))
		for range mutations {
			copy(m, p)
			k := rng.IntN(min(len(m), 90) + 1)
			if k < len(m) {
				m[k] = byte(rng.UintN(256))
			}
			if rng.IntN(4) == 0 && len(m) > 40 {
				m[rng.IntN(40)] ^= 0xff
			}
			checkAgree(t, links[i], m)
		}
	}
	for _, v := range vectors() {
		for n := 0; n <= len(v.data); n++ {
			checkAgree(t, v.link, v.data[:n])
		}
	}
}

// FuzzPacketBytes: no panic on any input, and the fast path always agrees
// with the gopacket reference.
func FuzzPacketBytes(f *testing.F) {
	for _, v := range vectors() {
		f.Add(uint16(v.link), v.data)
	}
	linkTypes := []uint32{0, 1, 101, 108, 113, 228, 229, 276, 9, 12}
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		lt := linkTypes[int(link)%len(linkTypes)]
		if int(link) < len(linkTypes) {
			lt = linkTypes[link]
		} else if link < 300 {
			lt = uint32(link)
		}
		out, kind := PacketBytes(nil, lt, data)
		if kind == Skip && len(out) != 0 {
			t.Fatalf("skipped packet kept %d bytes", len(out))
		}
		_ = AppendPacketText(nil, out)
		checkAgree(t, lt, data)
	})
}

func TestAppendPacketText(t *testing.T) {
	got := string(AppendPacketText(nil, []byte{0, 9, 10, 99, 100, 255}))
	want := "0 9 10 99 100 255" + stringsRepeat(" 0", SampleBytes-6)
	if got != want {
		t.Fatalf("got %q", got)
	}
	long := seq(200)
	if n := len(bytes.Fields(AppendPacketText(nil, long))); n != SampleBytes {
		t.Fatalf("%d words for a 200-byte packet, want %d", n, SampleBytes)
	}
}

func stringsRepeat(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }

func BenchmarkPacketBytes(b *testing.B) {
	links, pkts := capturePackets(b)
	var buf, text []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(pkts)
		buf, _ = PacketBytes(buf[:0], links[k], pkts[k])
		text = AppendPacketText(text[:0], buf)
	}
}

func BenchmarkReferencePacket(b *testing.B) {
	links, pkts := capturePackets(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(pkts)
		ReferencePacket(nil, links[k], pkts[k])
	}
}
