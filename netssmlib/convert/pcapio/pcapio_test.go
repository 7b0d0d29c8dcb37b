package pcapio

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

const dir = "../../../testdata/convert/"

type rec struct {
	data   []byte
	ts     time.Time
	length int
	link   int
}

func readFile(t testing.TB, b []byte) ([]rec, error) {
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out []rec
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec{bytes.Clone(p.Data), p.Timestamp, p.Length, p.LinkType})
	}
}

// TestPcapngMatchesPcap: loopback.pcapng is loopback.pcap converted by
// editcap, so both must read as the same packets.
func TestPcapngMatchesPcap(t *testing.T) {
	a, err := readFile(t, mustRead(t, dir+"loopback.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := readFile(t, mustRead(t, dir+"loopback.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || len(a) < 100 {
		t.Fatalf("%d and %d packets", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].data, b[i].data) || !a[i].ts.Equal(b[i].ts) || a[i].length != b[i].length || a[i].link != LinkEthernet || b[i].link != LinkEthernet {
			t.Fatalf("packet %d differs: %v %d / %v %d", i, a[i].ts, a[i].length, b[i].ts, b[i].length)
		}
		if len(a[i].data) > 256 || a[i].length < len(a[i].data) {
			t.Fatalf("packet %d: caplen %d orig %d (snaplen 256)", i, len(a[i].data), a[i].length)
		}
	}
	c, err := readFile(t, mustRead(t, dir+"loopback-sll2.pcap"))
	if err != nil || len(c) == 0 || c[0].link != LinkLinuxSLL2 {
		t.Fatalf("sll2: %d packets, err %v", len(c), err)
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, LinkEthernet, 65535)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC)
	w.WritePacket(t0, []byte{1, 2, 3}, 100)
	w.WritePacket(t0.Add(1500*time.Nanosecond), []byte{4}, 0) // orig raised to caplen, ts rounded down
	if err := w.WritePacket(time.Unix(-5, 0), []byte{4}, 0); err == nil {
		t.Error("timestamp before 1970 accepted")
	}
	w.Flush()
	got, err := readFile(t, buf.Bytes())
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	if !got[0].ts.Equal(t0) || got[0].length != 100 || !bytes.Equal(got[0].data, []byte{1, 2, 3}) {
		t.Errorf("record 0: %+v", got[0])
	}
	if want := t0.Add(time.Microsecond); !got[1].ts.Equal(want) || got[1].length != 1 {
		t.Errorf("record 1: %+v", got[1])
	}
	// The header is what Scapy's wrpcap writes: LE magic, v2.4, linktype 1.
	if h := buf.Bytes()[:24]; binary.LittleEndian.Uint32(h) != 0xa1b2c3d4 || h[4] != 2 || h[6] != 4 || h[20] != 1 {
		t.Errorf("header % x", h)
	}
}

func TestBadFiles(t *testing.T) {
	good := mustRead(t, dir+"loopback.pcap")
	ng := mustRead(t, dir+"loopback.pcapng")
	huge := bytes.Clone(good[:24+16+200])
	binary.LittleEndian.PutUint32(huge[16:], 0xffffffff) // huge snaplen: fine
	binary.LittleEndian.PutUint32(huge[32:], 0x7fffffff) // huge record: error, no allocation
	for _, tc := range []struct {
		name string
		b    []byte
		err  string // in NewReader or Next
	}{
		{"empty", nil, "empty file"},
		{"tiny", []byte{0xd4, 0xc3}, "shorter than a capture header"},
		{"garbage", []byte("hello world, this is not a capture file"), "not a pcap or pcapng capture"},
		{"cut header", good[:20], "shorter than a pcap header"},
		{"cut record", good[:24+16+10], "record 0: file cut inside the packet data"},
		{"cut record header", good[:24+5], "record 0: file cut inside the record header"},
		{"huge record", huge, "exceeds the limit"},
		{"cut pcapng", ng[:len(ng)-7], "file cut inside a pcapng block"},
		{"pcapng bad bom", append(bytes.Clone(ng[:8]), 1, 2, 3, 4), "bad byte-order magic"},
	} {
		recs, err := readFile(t, tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %d records, err %v; want %q", tc.name, len(recs), err, tc.err)
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"loopback.pcap", "loopback.pcapng", "loopback-sll2.pcap"} {
		if b, err := os.ReadFile(dir + name); err == nil {
			f.Add(b[:min(len(b), 2000)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 10000 {
			p, err := r.Next()
			if err != nil {
				return
			}
			if len(p.Data) > MaxRecord {
				t.Fatalf("record of %d bytes", len(p.Data))
			}
		}
	})
}
