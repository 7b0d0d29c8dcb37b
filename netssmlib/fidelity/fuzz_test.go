package fidelity

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// FuzzDecode: any bytes on any supported link type decode without panic.
func FuzzDecode(f *testing.F) {
	for _, r := range readRecords(f, dir+"loopback.pcap")[:8] {
		f.Add(r.data, 1, r.p.OrigLen)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0x45}, 276, 60)
	f.Add([]byte{2, 0, 0, 0, 0x60, 0, 0, 0, 0, 0, 6}, 0, 11)
	f.Fuzz(func(t *testing.T, b []byte, link, orig int) {
		p := Decode(b, link, orig, time.Time{})
		if p.CapLen != len(b) {
			t.Fatal("caplen")
		}
	})
}

// FuzzTrace: a whole capture of arbitrary bytes reads and compares without
// panic.
func FuzzTrace(f *testing.F) {
	for _, name := range []string{"loopback.pcap", "loopback-sll2.pcap"} {
		if b, err := os.ReadFile(dir + name); err == nil {
			f.Add(b[:min(len(b), 3000)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := Read(context.Background(), bytes.NewReader(b), "fuzz.pcap", ReadOptions{MaxPackets: 1000})
		if err != nil && tr == nil {
			return
		}
		r := Compare(tr, tr)
		if r.Distance != 0 && r.Distance == r.Distance {
			t.Fatalf("trace vs itself: distance %v", r.Distance)
		}
	})
}
