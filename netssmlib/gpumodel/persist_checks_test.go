package gpumodel_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib/gpumodel"
)

// checkPersistent: a decoder with the persistent kernel gives the fused
// path's logits and states, token after token, at batch 1 and 3, fp32 and
// bf16 weights, after prompts of different lengths; exactly when exact (the
// emulator runs the very same code), else within 1e-4 relative (a GPU's JIT
// may contract the persistent kernel's copy of the code differently).
func checkPersistent(t *testing.T, open func() gpu.Backend, exact bool) {
	ctx := context.Background()
	cfg := smallConfig(variants[1]) // untied, 2 groups, no conv bias
	V := cfg.PaddedVocab()
	same := func(what string, s int, got, want []float32) {
		t.Helper()
		for i := range want {
			d := math.Abs(float64(got[i]-want[i])) / (1 + math.Abs(float64(want[i])))
			if (exact && got[i] != want[i]) || !(d <= 1e-4) {
				t.Fatalf("step %d: %s[%d] = %g, fused path %g", s, what, i, got[i], want[i])
			}
		}
	}
	for _, c := range []struct {
		batch int
		dt    gpu.DType
	}{{1, gpu.F32}, {3, gpu.F32}, {1, gpu.BF16}} {
		t.Run(fmt.Sprintf("batch%d/%v", c.batch, c.dt), func(t *testing.T) {
			be := open()
			defer be.Close()
			m := newMamba(t, cfg, 71, c.dt)
			g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: c.dt})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			ref, err := g.NewDecoder(c.batch, false)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			pd, err := g.NewDecoderOptions(c.batch, gpumodel.DecoderOptions{Persistent: true, CheckTokens: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer pd.Close()
			next := make([]int32, c.batch)
			for row := 0; row < c.batch; row++ {
				p := tokens(uint64(80+row), 2+5*row, cfg.VocabSize)
				for _, dec := range []*gpumodel.Decoder{ref, pd} {
					if _, err := dec.Prefill(ctx, row, p); err != nil {
						t.Fatal(err)
					}
				}
				next[row] = int32(row + 1)
			}
			want, got := make([]float32, c.batch*V), make([]float32, c.batch*V)
			for s := 0; s < 4; s++ {
				if err := ref.Step(ctx, next, want); err != nil {
					t.Fatal(err)
				}
				if err := pd.Step(ctx, next, got); err != nil {
					t.Fatal(err)
				}
				if !pd.UsingPersistent() || pd.Path() != "persistent" {
					t.Fatalf("persistent decode not in use (path %s): %v", pd.Path(), pd.PersistentErr())
				}
				same("logits", s, got, want)
				ws, err := gpumodel.DecoderState(ref)
				if err != nil {
					t.Fatal(err)
				}
				gs, err := gpumodel.DecoderState(pd)
				if err != nil {
					t.Fatal(err)
				}
				same("state", s, gs, ws)
				for b := range next {
					next[b] = int32(argmax(want[b*V : (b+1)*V]))
				}
			}
		})
	}
}
