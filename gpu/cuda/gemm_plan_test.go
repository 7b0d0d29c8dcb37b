//go:build cudaemu && !cuda

package cuda

import (
	"testing"
)

// TestSplitK checks the K-split choice's invariants over a range of tile
// counts and K on a 132-SM device (H100/H200), and logs the plan for the
// model's weight-gradient shapes.
func TestSplitK(t *testing.T) {
	const slots = 132 * tcBlocksPerSM
	for tiles := 1; tiles <= 3*slots; tiles += 7 {
		for _, K := range []int{32, 255, 256, 1000, 4095, 4096, 8192, 100000} {
			s := splitK(tiles, K, slots)
			switch {
			case s < 1 || s > tcMaxSplits:
				t.Fatalf("tiles %d K %d: %d splits", tiles, K, s)
			case s > 1 && K < tcSplitFromK:
				t.Fatalf("tiles %d K %d: split %d ways below K %d", tiles, K, s, tcSplitFromK)
			case s > 1 && tiles >= slots:
				t.Fatalf("tiles %d K %d: split %d ways though the tiles fill the device", tiles, K, s)
			case s > 1 && K/s < tcMinSplitK:
				t.Fatalf("tiles %d K %d: %d splits of fewer than %d", tiles, K, s, tcMinSplitK)
			}
			// waves per unit of work never get worse than not splitting
			if w1, ws := float64((tiles+slots-1)/slots), float64((tiles*s+slots-1)/slots)/float64(s); ws > w1 {
				t.Fatalf("tiles %d K %d: %d splits take %.2f waves per unit, unsplit %.0f", tiles, K, s, ws, w1)
			}
		}
	}
	be := &Backend{sms: 132}
	for _, c := range []struct{ M, N, K int }{{3352, 768, 100000}, {768, 1536, 100000}, {272, 768, 100000},
		{3352, 768, 8192}, {768, 1536, 8192}, {272, 768, 8192}, {64, 3352, 768}} {
		tiles := ((c.M + tcBM - 1) / tcBM) * ((c.N + tcBN - 1) / tcBN)
		s := splitK(tiles, c.K, be.sms*tcBlocksPerSM)
		t.Logf("%dx%dx%d: %d tiles, %d splits", c.M, c.N, c.K, tiles, s)
	}
}
