package convert

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// benchText is NetSSM-format text of the loopback capture repeated to
// about 10,000 packets (~4.5 MB).
func benchText(b *testing.B) string {
	raw, err := os.ReadFile(loopback)
	if err != nil {
		b.Fatal(err)
	}
	recs := readAll(b, raw)
	one := textOfRecords(recs)
	one = one[strings.Index(one, " "):] // drop the label
	var sb strings.Builder
	sb.WriteString("<|lo|>")
	for sb.Len() < 4_500_000 {
		sb.WriteString(one)
		sb.WriteString(" <|pkt|>")
	}
	return sb.String()
}

// BenchmarkText measures conversion throughput in MB/s of input text:
//
//	go test ./netssmlib/convert -run XXX -bench Text -benchtime 20x
func BenchmarkText(b *testing.B) {
	text := benchText(b)
	for _, repair := range []bool{false, true} {
		name := "netssm"
		if repair {
			name = "repair"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				st, err := Text(context.Background(), strings.NewReader(text), io.Discard, Options{Repair: repair})
				if err != nil || st.Packets < 10000 {
					b.Fatal(st.Packets, err)
				}
			}
		})
	}
}
