package gpumodel

import (
	"context"
	"sort"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cpu"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// TestFlatLayout checks the flat parameter layout of NetSSM's model and of
// a tiny untied one: offsets aligned (the GEMM's fast path needs 16-byte
// rows), no overlaps, the matrix-product weights first and covered by the
// working-copy prefix, little padding; and that on a backend every tensor
// is a view of the flat buffers at its offset.
func TestFlatLayout(t *testing.T) {
	small := mamba.DefaultConfig()
	small.DModel, small.NLayer, small.VocabSize, small.TieEmbeddings = 36, 2, 30, false
	small.SSMCfg.DState, small.SSMCfg.HeadDim, small.SSMCfg.ChunkSize = 12, 12, 8
	netssm := mamba.DefaultConfig()
	netssm.VocabSize = 272
	for _, cfg := range []mamba.Config{netssm, small} {
		for _, dt := range []gpu.DType{gpu.BF16, gpu.F32} {
			ps, f := allocParams(&allocator{}, specs(cfg), dt)
			byOff := append([]*param(nil), ps...)
			sort.Slice(byOff, func(i, j int) bool { return byOff[i].off < byOff[j].off })
			end, total, gemmSeen, lastGemm := 0, 0, false, 0
			for i, p := range byOff {
				if p.off%flatAlign != 0 {
					t.Errorf("%s at %d: not a multiple of %d", p.name, p.off, flatAlign)
				}
				if p.off < end {
					t.Errorf("%s at %d overlaps the previous tensor (ends at %d)", p.name, p.off, end)
				}
				if p.gemm {
					if i > 0 && !gemmSeen {
						t.Errorf("%s: a matrix-product weight after other tensors", p.name)
					}
					lastGemm = p.off + p.n
				}
				gemmSeen = p.gemm
				end, total = p.off+p.n, total+p.n
			}
			if end != f.n || f.n-total >= flatAlign*len(ps) {
				t.Errorf("flat length %d for %d values ending at %d", f.n, total, end)
			}
			if want := map[bool]int{true: lastGemm, false: 0}[dt == gpu.BF16]; f.copyN != want {
				t.Errorf("%v: copy prefix %d, want %d", dt, f.copyN, want)
			}
		}
	}
	be := cpu.New()
	ps, f := allocParams(&allocator{be: be}, specs(small), gpu.BF16)
	allocTrain(&allocator{be: be}, f, ps)
	for _, p := range ps {
		for _, c := range []struct {
			what   string
			b, par gpu.Buffer
		}{{"w", p.w, f.w}, {"g", p.g, f.g}, {"m", p.mom, f.m}, {"v", p.vl, f.v}, {"work", p.work, map[bool]gpu.Buffer{true: f.work, false: f.w}[p.gemm]}} {
			v, ok := c.b.(*gpu.View)
			if !ok || v.Parent() != c.par || v.Offset() != p.off || v.Len() != p.n {
				t.Errorf("%s.%s is not the view [%d, %d) of its flat buffer", p.name, c.what, p.off, p.off+p.n)
			}
		}
	}
	// A Fill of the flat gradient reaches every tensor's gradient.
	if err := be.Fill(context.Background(), f.g, 2); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		got := make([]float32, p.n)
		if err := be.Read(got, p.g, 0); err != nil || got[0] != 2 || got[p.n-1] != 2 {
			t.Fatalf("%s gradient after filling the flat buffer: %v, %v", p.name, got[0], err)
		}
	}
}
