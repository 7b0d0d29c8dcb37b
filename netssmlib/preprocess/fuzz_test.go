package preprocess

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzProcessFile feeds arbitrary bytes as a capture file through the
// whole per-file path (reader, batching, decoding, truncation, JSON): it
// must never panic, and whatever it writes must be the NetSSM-equivalent
// reference's record.
func FuzzProcessFile(f *testing.F) {
	for _, name := range []string{"lo_snap60.pcap", "two_linktypes.pcapng", "null_bsd.pcap"} {
		b, err := os.ReadFile(repoPath("testdata", "pcap", name))
		if err == nil {
			f.Add(b[:min(len(b), 1500)], int8(-1))
			f.Add(b[:min(len(b), 3000)], int8(20))
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, truncate int8) {
		path := filepath.Join(dir, "in.pcap")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr := int(truncate) // Options semantics: 0 off, >0 keep N, <0 normalise
		var buf bytes.Buffer
		res, err := ProcessFile(context.Background(), &buf, path, "fz", tr)
		nt := -1
		switch {
		case tr > 0:
			nt = tr
		case tr < 0:
			nt = 0
		}
		want, ok, rerr := ReferenceRecord(context.Background(), path, "fz", nt)
		if rerr != nil {
			if err == nil {
				t.Fatalf("reference failed (%v) but ProcessFile did not", rerr)
			}
			return
		}
		if res.Written != ok {
			t.Fatalf("written=%v, reference ok=%v (err %v)", res.Written, ok, err)
		}
		if ok && !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("record differs from the reference:\n%s", firstDiff(buf.Bytes(), want))
		}
	})
}
