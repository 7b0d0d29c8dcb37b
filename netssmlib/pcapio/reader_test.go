package pcapio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netssm/netssm/internal/testenv"
)

type rec struct {
	link uint32
	data []byte
	ts   time.Time
}

func testRecs() []rec {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)
	return []rec{
		{1, bytes.Repeat([]byte{1}, 60), t0},
		{1, bytes.Repeat([]byte{2}, 61), t0.Add(time.Millisecond)},
		{1, []byte{}, t0.Add(2 * time.Millisecond)},
		{1, bytes.Repeat([]byte{3}, 1514), t0.Add(3 * time.Second)},
	}
}

func readAll(t *testing.T, r *Reader) ([]rec, error) {
	t.Helper()
	var out []rec
	for {
		data, p, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if p.CapLen != len(data) {
			t.Fatalf("CapLen %d != len(data) %d", p.CapLen, len(data))
		}
		out = append(out, rec{p.LinkType, bytes.Clone(data), p.Timestamp})
	}
}

func writePcap(t *testing.T, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, 1, 65535)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.WritePacket(Packet{Timestamp: r.ts}, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sameRecs(t *testing.T, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].link != want[i].link || !bytes.Equal(got[i].data, want[i].data) || !got[i].ts.Equal(want[i].ts) {
			t.Fatalf("record %d: got link %d len %d ts %v, want link %d len %d ts %v", i,
				got[i].link, len(got[i].data), got[i].ts, want[i].link, len(want[i].data), want[i].ts)
		}
	}
}

func TestPcapRoundTrip(t *testing.T) {
	recs := testRecs()
	b := writePcap(t, recs)
	r, err := NewReader(bytes.NewReader(b), "x.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if r.Format() != FormatPcap || r.LinkType() != 1 {
		t.Fatalf("format %v link %d", r.Format(), r.LinkType())
	}
	got, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	sameRecs(t, got, recs)
}

// toVariant rewrites a little-endian microsecond pcap as big endian,
// nanosecond or the modified (Kuznetzov) format.
func toVariant(b []byte, order binary.ByteOrder, nano, modified bool) []byte {
	out := make([]byte, 0, len(b)*2)
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	if modified {
		magic = 0xa1b2cd34
	}
	h := make([]byte, 24)
	order.PutUint32(h[0:], magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], binary.LittleEndian.Uint32(b[16:]))
	order.PutUint32(h[20:], binary.LittleEndian.Uint32(b[20:]))
	out = append(out, h...)
	for off := 24; off < len(b); {
		sec := binary.LittleEndian.Uint32(b[off:])
		us := binary.LittleEndian.Uint32(b[off+4:])
		incl := binary.LittleEndian.Uint32(b[off+8:])
		orig := binary.LittleEndian.Uint32(b[off+12:])
		if nano {
			us *= 1000
		}
		rh := make([]byte, 16)
		order.PutUint32(rh[0:], sec)
		order.PutUint32(rh[4:], us)
		order.PutUint32(rh[8:], incl)
		order.PutUint32(rh[12:], orig)
		out = append(out, rh...)
		if modified {
			out = append(out, make([]byte, 8)...)
		}
		out = append(out, b[off+16:off+16+int(incl)]...)
		off += 16 + int(incl)
	}
	return out
}

func TestPcapVariants(t *testing.T) {
	recs := testRecs()
	b := writePcap(t, recs)
	for _, v := range []struct {
		name           string
		order          binary.ByteOrder
		nano, modified bool
	}{
		{"big endian", binary.BigEndian, false, false},
		{"nanosecond", binary.LittleEndian, true, false},
		{"nanosecond big endian", binary.BigEndian, true, false},
		{"modified", binary.LittleEndian, false, true},
	} {
		r, err := NewReader(bytes.NewReader(toVariant(b, v.order, v.nano, v.modified)), v.name)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		got, err := readAll(t, r)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		sameRecs(t, got, recs)
	}
}

func TestPcapNGTwoLinkTypes(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewNGWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	recs := testRecs()
	recs[1].link = 113
	recs[3].link = 101
	for _, r := range recs {
		if err := w.WritePacket(Packet{Timestamp: r.ts, LinkType: r.link}, r.data); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	r, err := NewReader(bytes.NewReader(buf.Bytes()), "x.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	sameRecs(t, got, recs)
}

func TestTruncatedAndGarbage(t *testing.T) {
	recs := testRecs()
	b := writePcap(t, recs)
	var ng bytes.Buffer
	w, _ := NewNGWriter(&ng)
	for _, r := range recs {
		w.WritePacket(Packet{Timestamp: r.ts, LinkType: 1}, r.data)
	}
	w.Flush()
	for _, c := range []struct {
		name    string
		data    []byte
		open    error // wanted error from NewReader
		next    error // wanted error from the last Next
		records int
	}{
		{"empty", nil, ErrFormat, nil, 0},
		{"3 bytes", b[:3], ErrFormat, nil, 0},
		{"garbage", []byte("hello, this is not a capture at all"), ErrFormat, nil, 0},
		{"header cut", b[:20], ErrTruncated, nil, 0},
		{"header only", b[:24], nil, nil, 0},
		{"cut in record header", b[:24+16+60+5], nil, ErrTruncated, 1},
		{"cut in record data", b[:len(b)-100], nil, ErrTruncated, 3},
		{"huge caplen", append(append([]byte{}, b[:24]...), 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0), nil, ErrFormat, 0},
		{"bad version", append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 9, 0}, b[6:]...), ErrFormat, nil, 0},
		{"pcapng cut", ng.Bytes()[:ng.Len()-7], nil, ErrTruncated, 3},
		{"pcapng bad block length", append(append([]byte{}, ng.Bytes()[:48]...), 6, 0, 0, 0, 13, 0, 0, 0), nil, ErrFormat, 0},
		{"pcapng bad byte order", append(append([]byte{}, ng.Bytes()[:8]...), 1, 2, 3, 4), ErrFormat, nil, 0},
		{"pcapng packet before interface", append(append([]byte{}, ng.Bytes()[:28]...), ng.Bytes()[48:]...), nil, ErrFormat, 0},
	} {
		for _, mode := range []string{"stream", "memory"} {
			var r *Reader
			var err error
			if mode == "stream" {
				r, err = NewReader(bytes.NewReader(c.data), c.name)
			} else {
				r, err = NewReaderBytes(c.data, c.name)
			}
			if c.open != nil {
				if !errors.Is(err, c.open) {
					t.Errorf("%s: open error %v, want %v", c.name, err, c.open)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			got, err := readAll(t, r)
			if c.next == nil && err != nil || c.next != nil && !errors.Is(err, c.next) {
				t.Errorf("%s: error %v, want %v", c.name, err, c.next)
			}
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) || pe.Name != c.name {
					t.Errorf("%s: error %q does not name the file", c.name, err)
				}
			}
			if len(got) != c.records {
				t.Errorf("%s (%s): %d records before the error, want %d", c.name, mode, len(got), c.records)
			}
		}
	}
}

// TestRealCaptures reads the captures made by testdata/pcap/capture.sh and
// compares packet counts and link types with what capinfos reported.
func TestRealCaptures(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "testdata", "pcap")
	for _, c := range []struct {
		file  string
		n     int
		links map[uint32]int
	}{
		{"lo_http_udp.pcap", 88, map[uint32]int{1: 88}},
		{"any_sll2.pcap", 89, map[uint32]int{276: 89}},
		{"any_sll.pcap", 89, map[uint32]int{113: 89}},
		{"lo_mixed.pcapng", 88, map[uint32]int{1: 88}},
		{"two_linktypes.pcapng", 176, map[uint32]int{1: 88, 113: 88}},
		{"raw_ip.pcap", 88, map[uint32]int{101: 88}},
		{"null_bsd.pcap", 88, map[uint32]int{0: 88}},
	} {
		r, err := Open(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		links := map[uint32]int{}
		n := 0
		for {
			data, p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", c.file, err)
			}
			if p.OrigLen < len(data) || p.Timestamp.Year() < 2020 {
				t.Fatalf("%s: bad record metadata %+v", c.file, p)
			}
			links[p.LinkType]++
			n++
		}
		r.Close()
		if n != c.n || len(links) != len(c.links) {
			t.Errorf("%s: %d packets with link types %v, want %d with %v", c.file, n, links, c.n, c.links)
		}
		for k, v := range c.links {
			if links[k] != v {
				t.Errorf("%s: %d packets of link type %d, want %d", c.file, links[k], k, v)
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	dir := filepath.Join(testenv.RepoRoot(), "testdata", "pcap")
	for _, name := range []string{"lo_snap60.pcap", "lo_mixed.pcapng"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			f.Add(b[:min(len(b), 2000)])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The in-memory reader must see exactly what the streaming one sees.
		var mem []rec
		if mr, err := NewReaderBytes(data, "fuzz"); err == nil {
			mem, _ = readAll(t, mr)
			mr.Close()
		}
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("open: unclassified error %v", err)
			}
			return
		}
		total := 0
		for {
			d, p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("unclassified error %v", err)
				}
				break
			}
			if len(d) != p.CapLen {
				t.Fatalf("CapLen %d != %d", p.CapLen, len(d))
			}
			total += len(d)
		}
		if total > len(data) {
			t.Fatalf("read %d packet bytes from a %d-byte input", total, len(data))
		}
		r2, _ := NewReader(bytes.NewReader(data), "fuzz")
		all, _ := readAll(t, r2)
		if len(all) != len(mem) {
			t.Fatalf("memory reader read %d packets, stream reader %d", len(mem), len(all))
		}
		for i := range all {
			if !bytes.Equal(all[i].data, mem[i].data) || all[i].link != mem[i].link {
				t.Fatalf("packet %d differs between memory and stream readers", i)
			}
		}
	})
}

// TestAgainstTshark reads every test capture with this package and with
// tshark (Wireshark's independent reader) and compares packet by packet:
// captured and original lengths and the interface of each packet.
func TestAgainstTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts tshark for each capture")
	}
	tshark := testenv.NeedTool(t, "tshark")
	for _, name := range []string{"two_linktypes.pcapng", "any_sll2.pcap", "null_bsd.pcap"} {
		f := filepath.Join(testenv.RepoRoot(), "testdata", "pcap", name)
		out, err := exec.Command(tshark, "-r", f, "-T", "fields", "-e", "frame.cap_len", "-e", "frame.len", "-e", "frame.interface_id").Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", f, err)
		}
		want := strings.Split(strings.TrimSpace(string(out)), "\n")
		r, err := Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			_, p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			iface := strconv.Itoa(p.Interface)
			if r.Format() == FormatPcap {
				iface = "" // tshark has no interface id for pcap files
			}
			got = append(got, strings.TrimRight(fmt.Sprintf("%d\t%d\t%s", p.CapLen, p.OrigLen, iface), "\t"))
		}
		r.Close()
		for i := range want {
			want[i] = strings.TrimRight(want[i], "\t")
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: %d packets differ from tshark's %d (first: %q vs %q)", filepath.Base(f), len(got), len(want), got[0], want[0])
		}
	}
}
