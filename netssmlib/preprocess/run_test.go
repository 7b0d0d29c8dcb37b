package preprocess

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netssm/netssm/netssmlib/pcapio"
)

type record struct {
	Data     string
	Hash     string
	Filename string
	OrigLen  int
}

func readRecords(t *testing.T, path string) []record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []record
	for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("bad JSONL line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func labelOf(r record) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(r.Data, "|> ", 2)[0], "<|"), "|>")
}

// setupInputs copies a few captures into ./in and returns their paths.
func setupInputs(t *testing.T, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		dst := filepath.Join("in", n)
		copyFile(t, repoPath("testdata", "pcap", n), dst)
		out = append(out, dst)
	}
	return out
}

func TestLabelCSVCellsKeptAsStrings(t *testing.T) {
	chdirTemp(t)
	setupInputs(t, "lo_http_udp.pcap", "raw_ip.pcap", "null_bsd.pcap")
	os.WriteFile("labels.csv", []byte("File,Label\nlo_http_udp.pcap,02\nraw_ip.pcap,\nnull_bsd.pcap,\"a,b\"\n"), 0o644)
	if _, err := Run(context.Background(), Options{InDir: "in", LabelCSV: "labels.csv", Out: "out.jsonl"}); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, "out.jsonl")
	got := map[string]string{}
	for _, r := range recs {
		got[filepath.Base(r.Filename)] = labelOf(r)
	}
	want := map[string]string{"lo_http_udp.pcap": "02", "raw_ip.pcap": "", "null_bsd.pcap": "a,b"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: label %q, want %q", k, got[k], v)
		}
	}
}

func TestMissingLabelFailsOnlyThatFile(t *testing.T) {
	chdirTemp(t)
	setupInputs(t, "lo_http_udp.pcap", "raw_ip.pcap")
	os.WriteFile("labels.csv", []byte("\xef\xbb\xbfFile,Label\nraw_ip.pcap,web\n"), 0o644)
	var results []FileResult
	st, err := Run(context.Background(), Options{InDir: "in", LabelCSV: "labels.csv", Out: "out.jsonl", OnFile: func(r FileResult) { results = append(results, r) }})
	var ie *InputErrors
	if !errors.As(err, &ie) || len(ie.Errs) != 1 || !errors.Is(ie.Errs[0], ErrNoLabel) {
		t.Fatalf("err = %v, want one ErrNoLabel input error", err)
	}
	if !strings.Contains(err.Error(), "lo_http_udp.pcap") {
		t.Errorf("error %q does not name the file", err)
	}
	recs := readRecords(t, "out.jsonl")
	if len(recs) != 1 || recs[0].Filename != "in/raw_ip.pcap" || labelOf(recs[0]) != "web" {
		t.Fatalf("records = %+v, want only in/raw_ip.pcap labelled web", recs)
	}
	if st.Failed != 1 || st.Samples != 1 || len(results) != 2 || results[0].Err == nil || results[1].Err != nil {
		t.Errorf("stats %+v results %+v", st, results)
	}
}

func TestBlanketLabelDotSlash(t *testing.T) {
	chdirTemp(t)
	setupInputs(t, "raw_ip.pcap")
	if _, err := Run(context.Background(), Options{InDir: "in", Label: "./", Out: "out.jsonl"}); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, "out.jsonl")
	if len(recs) != 1 || !strings.HasPrefix(recs[0].Data, "<|./|> ") {
		t.Fatalf("records %+v, want one labelled ./", recs)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, opt := range []Options{
		{InDir: "x", Out: "o"},                            // no label
		{InDir: "x", Label: "a", LabelCSV: "l", Out: "o"}, // both labels
		{InDir: "x", InCSV: "y", Label: "a", Out: "o"},    // two inputs
		{Label: "a", Out: "o"},                            // no input
		{InDir: "x", Label: "a"},                          // no output
	} {
		if _, err := Run(context.Background(), opt); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", opt)
		}
	}
}

func TestInCSVHeaderAndOrder(t *testing.T) {
	chdirTemp(t)
	setupInputs(t, "raw_ip.pcap", "null_bsd.pcap", "any_sll.pcap")
	os.WriteFile("list.csv", []byte("File\nin/null_bsd.pcap\nin/raw_ip.pcap\nin/any_sll.pcap\n"), 0o644)
	if _, err := Run(context.Background(), Options{InCSV: "list.csv", Label: "x", Out: "out.jsonl"}); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, "out.jsonl")
	var names []string
	for _, r := range recs {
		names = append(names, r.Filename)
	}
	if strings.Join(names, ",") != "in/null_bsd.pcap,in/raw_ip.pcap,in/any_sll.pcap" {
		t.Fatalf("records in order %v, want the CSV's order without the header", names)
	}
}

func TestTwoLinkTypesPcapNG(t *testing.T) {
	chdirTemp(t)
	files := setupInputs(t, "two_linktypes.pcapng", "lo_mixed.pcapng", "any_sll.pcap")
	if _, err := Run(context.Background(), Options{Files: files, Label: "x", Out: "out.jsonl"}); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, "out.jsonl")
	// dumpcap -i lo -i any saw each loopback packet twice: 88 on lo
	// (Ethernet) and 88 on any (Linux cooked); NetSSM stops at the second
	// link type.
	if len(recs) != 3 || recs[0].OrigLen != 176 || recs[1].OrigLen != 88 {
		t.Fatalf("records %d, two-interface pcapng has %d packets, want 176", len(recs), recs[0].OrigLen)
	}
	if n := strings.Count(recs[0].Data, "<|pkt|>") + 1; n != 176 {
		t.Fatalf("sample has %d packets, want 176", n)
	}
}

func TestBadInputs(t *testing.T) {
	chdirTemp(t)
	files := setupInputs(t, "raw_ip.pcap", "lo_http_udp.pcap")
	good, _ := os.ReadFile(files[1])
	os.WriteFile("in/cut.pcap", good[:len(good)-50], 0o644)
	os.WriteFile("in/garbage.pcap", []byte("this is not a capture\n"), 0o644)
	os.WriteFile("in/empty.pcapng", nil, 0o644)
	os.WriteFile("in/one.pcap", onePacketCapture(t), 0o644)
	corrupt := bytes.Clone(good)
	second := 24 + 16 + int(binary.LittleEndian.Uint32(good[24+8:]))
	copy(corrupt[second+8:], []byte{0xff, 0xff, 0xff, 0x7f}) // second record's length far out of range
	os.WriteFile("in/corrupt.pcap", corrupt, 0o644)
	os.WriteFile("in/notes.txt", []byte("ignored"), 0o644)
	var results []FileResult
	st, err := Run(context.Background(), Options{InDir: "in", Label: "x", Out: "out.jsonl", OnFile: func(r FileResult) { results = append(results, r) }})
	var ie *InputErrors
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *InputErrors", err)
	}
	byName := map[string]FileResult{}
	for _, r := range results {
		byName[filepath.Base(r.Path)] = r
	}
	if len(results) != 7 {
		t.Fatalf("%d results, want 7 captures (notes.txt ignored): %+v", len(results), results)
	}
	check := func(name string, ok bool, msg string) {
		if !ok {
			t.Errorf("%s: %s: %+v", name, msg, byName[name])
		}
	}
	r := byName["cut.pcap"]
	check("cut.pcap", r.Err == nil && r.Warning != nil && errors.Is(r.Warning, pcapio.ErrTruncated) && r.Written && r.Packets == 87, "want a truncation warning and the 87 packets before the cut")
	r = byName["garbage.pcap"]
	check("garbage.pcap", r.Err != nil && errors.Is(r.Err, pcapio.ErrFormat) && strings.Contains(r.Err.Error(), "garbage.pcap") && !r.Written, "want a format error naming the file")
	r = byName["empty.pcapng"]
	check("empty.pcapng", r.Err != nil && strings.Contains(r.Err.Error(), "empty"), "want an empty-file error")
	r = byName["one.pcap"]
	check("one.pcap", r.Err == nil && r.Skipped && !r.Written && r.Packets == 1, "want skipped (one TCP/UDP packet)")
	r = byName["corrupt.pcap"]
	check("corrupt.pcap", r.Err != nil && errors.Is(r.Err, pcapio.ErrFormat), "want a format error")
	check("raw_ip.pcap", byName["raw_ip.pcap"].Written && byName["raw_ip.pcap"].Err == nil, "want written")
	if st.Failed != 3 || len(ie.Errs) != 3 {
		t.Errorf("failed = %d (%d errors), want 3 (garbage, empty, corrupt)", st.Failed, len(ie.Errs))
	}
	recs := readRecords(t, "out.jsonl")
	want := []string{"in/cut.pcap", "in/lo_http_udp.pcap", "in/raw_ip.pcap"}
	if byName["corrupt.pcap"].Written {
		want = append([]string{"in/corrupt.pcap"}, want...)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Filename)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("records %v, want %v", got, want)
	}
}

// onePacketCapture is a pcap with one TCP packet and one ARP packet.
func onePacketCapture(t *testing.T) []byte {
	var buf bytes.Buffer
	w, _ := pcapio.NewWriter(&buf, 1, 65535)
	w.WritePacket(pcapio.Packet{}, ethFrame(0x0800, ipv4(6, nil, 0, tcpSeg(5, nil))))
	w.WritePacket(pcapio.Packet{}, ethFrame(0x0806, seq(28)))
	w.Flush()
	return buf.Bytes()
}

func TestAtomicOutputAndAppend(t *testing.T) {
	chdirTemp(t)
	setupInputs(t, "raw_ip.pcap")
	os.WriteFile("out.jsonl", []byte("old\n"), 0o644)
	// A fatal error (unreadable label CSV) leaves the output untouched.
	if _, err := Run(context.Background(), Options{InDir: "in", LabelCSV: "missing.csv", Out: "out.jsonl"}); err == nil {
		t.Fatal("missing label CSV: no error")
	}
	if b, _ := os.ReadFile("out.jsonl"); string(b) != "old\n" {
		t.Fatalf("output changed after a fatal error: %q", b)
	}
	// Cancellation too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Options{InDir: "in", Label: "x", Out: "out.jsonl"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: err = %v", err)
	}
	if b, _ := os.ReadFile("out.jsonl"); string(b) != "old\n" {
		t.Fatalf("output changed after cancellation: %q", b)
	}
	// Default: replaced.
	if _, err := Run(context.Background(), Options{InDir: "in", Label: "x", Out: "out.jsonl"}); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile("out.jsonl")
	if bytes.HasPrefix(first, []byte("old")) || bytes.Count(first, []byte("\n")) != 1 {
		t.Fatalf("output not replaced: %.40q", first)
	}
	// -append: appended, as NetSSM does.
	if _, err := Run(context.Background(), Options{InDir: "in", Label: "x", Out: "out.jsonl", Append: true}); err != nil {
		t.Fatal(err)
	}
	both, _ := os.ReadFile("out.jsonl")
	if !bytes.Equal(both, append(bytes.Clone(first), first...)) {
		t.Fatal("append did not add the same record again")
	}
	ents, _ := os.ReadDir(".")
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestSymlinkedRootDir(t *testing.T) {
	chdirTemp(t)
	setupInputs(t, "raw_ip.pcap")
	if err := os.Symlink("in", "link"); err != nil {
		t.Skip(err)
	}
	os.Symlink("raw_ip.pcap", "in/alias.pcap") // symlinked file: not listed, as in NetSSM
	if _, err := Run(context.Background(), Options{InDir: "link", Label: "x", Out: "out.jsonl"}); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, "out.jsonl")
	if len(recs) != 1 || recs[0].Filename != "link/raw_ip.pcap" {
		t.Fatalf("records %+v, want link/raw_ip.pcap only", recs)
	}
}

func TestProcessFileStreamsOneRecord(t *testing.T) {
	path := repoPath("testdata", "pcap", "lo_http_udp.pcap")
	var buf bytes.Buffer
	res, err := ProcessFile(context.Background(), &buf, path, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	line, ok, err := netssmEquivalent(path, "web", -1)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if !bytes.Equal(buf.Bytes(), line) || !res.Written || res.Packets != 88 {
		t.Fatalf("ProcessFile wrote %d bytes (%+v), want the reference record", buf.Len(), res)
	}
}

func TestProgressReported(t *testing.T) {
	chdirTemp(t)
	files := setupInputs(t, "raw_ip.pcap", "any_sll.pcap")
	var last Progress
	calls := 0
	opt := Options{Files: files, Label: "x", Out: "out.jsonl", Progress: func(p Progress) { last = p; calls++ }}
	opt.progress = time.Nanosecond
	if _, err := Run(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if calls < 2 || !last.Done || last.FilesDone != 2 || last.Packets != 88+89 {
		t.Fatalf("%d progress calls, last %+v", calls, last)
	}
}

func TestInDirIsACapture(t *testing.T) {
	chdirTemp(t)
	setupInputs(t, "raw_ip.pcap")
	if _, err := Run(context.Background(), Options{InDir: "in/raw_ip.pcap", Label: "x", Out: "out.jsonl"}); err != nil {
		t.Fatal(err)
	}
	if recs := readRecords(t, "out.jsonl"); len(recs) != 1 || recs[0].Filename != "in/raw_ip.pcap" {
		t.Fatalf("records %+v, want in/raw_ip.pcap (NetSSM lists a file given as -in-dir)", recs)
	}
}

func TestInputListErrorsReported(t *testing.T) {
	chdirTemp(t)
	setupInputs(t, "raw_ip.pcap")
	os.WriteFile("list.csv", []byte("File\n\"\",x\nin/raw_ip.pcap\n"), 0o644)
	var results []FileResult
	st, err := Run(context.Background(), Options{InCSV: "list.csv", Label: "x", Out: "out.jsonl", OnFile: func(r FileResult) { results = append(results, r) }})
	var ie *InputErrors
	if !errors.As(err, &ie) || st.Failed != 1 || st.Samples != 1 {
		t.Fatalf("err %v stats %+v, want one failed row and one sample", err, st)
	}
	if len(results) != 2 || results[0].Err == nil || !strings.Contains(results[0].Err.Error(), "row 2") {
		t.Fatalf("results %+v, want the empty row reported first", results)
	}
}

// TestSparseBatches: TCP/UDP packets separated by many skipped packets, so
// that with tiny batches some batches hold none and the first sample
// packet waits for the second (the <=1-packet rule) across batches.
func TestSparseBatches(t *testing.T) {
	chdirTemp(t)
	var buf bytes.Buffer
	w, _ := pcapio.NewWriter(&buf, 1, 65535)
	arp := ethFrame(0x0806, seq(28))
	for i := range 3 {
		w.WritePacket(pcapio.Packet{}, ethFrame(0x0800, ipv4(6, nil, 0, tcpSeg(5, seq(i)))))
		for range 10 {
			w.WritePacket(pcapio.Packet{}, arp)
		}
	}
	w.WritePacket(pcapio.Packet{}, ethFrame(0x0800, ipv4(17, nil, 0, udpDgram(1, 2, -1, nil))))
	w.Flush()
	os.WriteFile("sparse.pcap", buf.Bytes(), 0o644)
	want, ok, err := netssmEquivalent("sparse.pcap", "s", -1)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	for _, pkts := range []int{1, 2, 3, 5, 4096} {
		opt := Options{Files: []string{"sparse.pcap"}, Label: "s", Out: "out.jsonl", Workers: 3}
		opt.batch.bytes, opt.batch.pkts = 1<<20, pkts
		if _, err := Run(context.Background(), opt); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile("out.jsonl")
		if !bytes.Equal(got, want) {
			t.Fatalf("batches of %d packets: differs from the reference:\n%s", pkts, firstDiff(got, want))
		}
	}
	if r := readRecords(t, "out.jsonl"); len(r) != 1 || r[0].OrigLen != 4 {
		t.Fatalf("records %+v, want one with 4 TCP/UDP packets", r)
	}
}

// TestSnapLenCut: libpcap cuts pcap records longer than the file header's
// snapshot length, so NetSSM sees only that much of them.
func TestSnapLenCut(t *testing.T) {
	chdirTemp(t)
	var buf bytes.Buffer
	w, _ := pcapio.NewWriter(&buf, 1, 60) // snaplen 60, records longer
	for range 3 {
		w.WritePacket(pcapio.Packet{}, ethFrame(0x0800, ipv4(6, nil, 0, tcpSeg(8, seq(10)))))
	}
	w.Flush()
	os.WriteFile("snap.pcap", buf.Bytes(), 0o644)
	var out bytes.Buffer
	if _, err := ProcessFile(context.Background(), &out, "snap.pcap", "s", 0); err != nil {
		t.Fatal(err)
	}
	r := []record{}
	var rec record
	if err := json.Unmarshal(out.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	r = append(r, rec)
	first := strings.Fields(strings.Split(r[0].Data, " <|pkt|> ")[0])[1:]
	// 14 + 20 bytes of headers and 26 of the 32-byte TCP header survive
	// the 60-byte snap (TCP options are NOPs, 1); the rest is padding.
	if first[59] != "1" || first[60] != "0" || first[65] != "0" {
		t.Fatalf("packet bytes %v: want 60 real bytes then zeros", first[:70])
	}
}
