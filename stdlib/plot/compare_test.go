package plot

import (
	"bytes"
	"context"
	"image/png"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/fidelity"
)

func decode(t *testing.T, b []byte) (w, h int) {
	t.Helper()
	im, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return im.Bounds().Dx(), im.Bounds().Dy()
}

func TestCompare(t *testing.T) {
	root := testenv.RepoRoot()
	ctx := context.Background()
	a, err := fidelity.ReadFile(ctx, filepath.Join(root, "testdata/pcap/lo_http_udp.pcap"), fidelity.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := fidelity.ReadFile(ctx, filepath.Join(root, "testdata/convert/loopback.pcap"), fidelity.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := fidelity.Compare(a, b)
	one, err := Compare(rep, "dst_port")
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := decode(t, one.PNG())
	four, err := Compare(rep, "ip_proto", "dst_port", "ip_length", "tcp_flags")
	if err != nil {
		t.Fatal(err)
	}
	w4, h4 := decode(t, four.PNG())
	if w4 <= w1 || h4 <= 0 {
		t.Errorf("a 2-column grid (%dx%d) should be wider than one chart (%d)", w4, h4, w1)
	}
	all, err := Compare(rep)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, all)
	if _, err := Compare(rep, "no_such_field"); err == nil || !strings.Contains(err.Error(), "no_such_field") {
		t.Errorf("unknown field: err = %v", err)
	}
	if _, err := Compare(nil); err == nil {
		t.Error("nil report: no error")
	}
	f, err := Field(rep.Field("ip_length"))
	if err != nil {
		t.Fatal(err)
	}
	decode(t, f)
}

func TestTopBins(t *testing.T) {
	var bins []fidelity.Bin
	for i := 0; i < 40; i++ {
		bins = append(bins, fidelity.Bin{Label: string(rune('a' + i%26)), Real: float64(i) / 780, Synthetic: 0})
	}
	got := topBins(bins, 16)
	if len(got) != 16 || got[15].Label != "other" {
		t.Fatalf("%d bins, last %q", len(got), got[len(got)-1].Label)
	}
	sum := 0.0
	for _, b := range got {
		sum += b.Real
	}
	if sum < 0.999 || sum > 1.001 {
		t.Errorf("shares sum to %v after folding, want 1", sum)
	}
	// the 15 kept are the largest (i = 25..39), in their original order
	if got[0].Real != 25.0/780 || got[14].Real != 39.0/780 {
		t.Errorf("kept bins %v .. %v", got[0].Real, got[14].Real)
	}
}
