package gpumodel_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// checkMambaSSM runs the shared tiny-mamba2 checkpoint (trained by
// mamba-ssm) through the model in f32 on be and compares the first n
// positions' logits with the ones mamba-ssm computed (Triton, TF32): within
// 5e-4, netssmlib/mamba's own bound, and the same argmax everywhere.
func checkMambaSSM(t *testing.T, be gpu.Backend, n int) {
	dir, ids, want := testenv.TinyMamba2(t)
	cfg, err := mamba.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := checkpoint.ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mamba.FromStateDict(cfg, sd)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: gpu.F32})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	n = min(n, len(ids))
	got, err := g.Forward(ctx, ids[:n])
	if err != nil {
		t.Fatal(err)
	}
	V := cfg.PaddedVocab()
	var worst float64
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("max |logit - mamba-ssm| = %.3g over %d x %d", worst, n, V)
	if !(worst <= 5e-4) {
		t.Errorf("max |logit - mamba-ssm| %.3g > 5e-4", worst)
	}
	for p := 0; p < n; p++ {
		if a, b := argmax(got[p*V:(p+1)*V]), argmax(want[p*V:(p+1)*V]); a != b {
			t.Errorf("position %d: argmax %d, mamba-ssm %d", p, a, b)
		}
	}
}
