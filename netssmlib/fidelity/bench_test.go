package fidelity

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/netssm/netssm/netssmlib/pcapio"
)

// BenchmarkEvaluate reads two ~100,000-packet pcaps (the loopback capture
// repeated, timestamps shifted) from memory and compares them:
//
//	go test ./netssmlib/fidelity -run XXX -bench Evaluate -benchtime 5x
func BenchmarkEvaluate(b *testing.B) {
	recs := readRecords(b, dir+"loopback.pcap")
	var buf bytes.Buffer
	w, _ := pcapio.NewWriter(&buf, pcapio.LinkTypeEthernet, 65535)
	n := 0
	for rep := 0; n < 100_000; rep++ {
		for _, r := range recs {
			p := r.p
			p.Timestamp = p.Timestamp.Add(time.Duration(rep) * time.Minute)
			w.WritePacket(p, r.data)
			n++
		}
	}
	w.Flush()
	data := buf.Bytes()
	b.SetBytes(int64(2 * len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Read(context.Background(), bytes.NewReader(data), "bench.pcap", ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s, _ := Read(context.Background(), bytes.NewReader(data), "bench.pcap", ReadOptions{})
		if rep := Compare(r, s); rep.Distance != 0 {
			b.Fatal(rep.Distance)
		}
	}
	b.ReportMetric(float64(2*n)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
