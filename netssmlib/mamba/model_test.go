package mamba

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/checkpoint"
)

func TestConfigDefaultsAndRoundTrip(t *testing.T) {
	c, err := ParseConfig([]byte(`{"d_model": 64, "n_layer": 2, "vocab_size": 271,
		"ssm_cfg": {"layer": "Mamba2", "d_state": 16, "headdim": 16, "chunk_size": 32},
		"pad_vocab_size_multiple": 16}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSSMConfig()
	want.DState, want.HeadDim, want.ChunkSize = 16, 16, 32
	if c.SSMCfg != want {
		t.Errorf("ssm_cfg = %+v, want mamba-ssm defaults %+v", c.SSMCfg, want)
	}
	if c.PaddedVocab() != 272 || c.NHeads() != 8 || c.DInProj() != 2*128+2*16+8 {
		t.Errorf("padded vocab %d, heads %d, in_proj %d", c.PaddedVocab(), c.NHeads(), c.DInProj())
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", back, c)
	}
}

func TestConfigRejects(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"layer": "Mamba1"}}`, "Mamba1"},
		{`{"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {}}`, "Mamba1"},
		{`{"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"layer": "Mamba2"}, "d_intermediate": 128}`, "MLP"},
		{`{"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"layer": "Mamba2"}, "attn_layer_idx": [1]}`, "attention"},
		{`{"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"layer": "Mamba2", "headdim": 48}}`, "headdim"},
		{`{"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"layer": "Mamba2", "frobnicate": 1}}`, "frobnicate"},
		{`{"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"layer": "Mamba2", "dt_limit": [0.1, 1]}}`, "dt_limit"},
		{`{"d_model": 64, "n_layer": 2, "ssm_cfg": {"layer": "Mamba2"}, "vocab_size": 0}`, "vocab_size"},
		{`{"d_model": 64,`, "unexpected end"},
	} {
		_, err := ParseConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.json, err, tc.want)
		}
	}
	_, err := ReadConfig(filepath.Join(t.TempDir(), "nope.json"))
	if err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestStateDictStrict(t *testing.T) {
	m, err := New(tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	sd := m.StateDict(checkpoint.F32)
	if _, ok := sd["lm_head.weight"]; !ok {
		t.Fatal("tied state dict lacks lm_head.weight")
	}
	if _, err := FromStateDict(m.Config, sd); err != nil {
		t.Fatalf("own state dict: %v", err)
	}
	without := checkpoint.StateDict{}
	for k, v := range sd {
		if k != "lm_head.weight" {
			without[k] = v
		}
	}
	if _, err := FromStateDict(m.Config, without); err != nil {
		t.Fatalf("tied lm_head absent: %v", err)
	}
	bad := func(mut func(sd checkpoint.StateDict), want string) {
		t.Helper()
		c := checkpoint.StateDict{}
		for k, v := range sd {
			c[k] = v
		}
		mut(c)
		if _, err := FromStateDict(m.Config, c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one mentioning %q", err, want)
		}
	}
	bad(func(c checkpoint.StateDict) { delete(c, "backbone.layers.1.mixer.D") }, "missing backbone.layers.1.mixer.D")
	bad(func(c checkpoint.StateDict) { c["backbone.layers.9.norm.weight"] = c["backbone.norm_f.weight"] }, "unexpected backbone.layers.9.norm.weight")
	bad(func(c checkpoint.StateDict) {
		c["backbone.norm_f.weight"] = &checkpoint.Tensor{DType: checkpoint.F32, Shape: []int{3}, Data: make([]float32, 3)}
	}, "backbone.norm_f.weight has shape [3]")
	bad(func(c checkpoint.StateDict) {
		c["lm_head.weight"] = &checkpoint.Tensor{DType: checkpoint.F32, Shape: c["lm_head.weight"].Shape, Data: make([]float32, len(c["lm_head.weight"].Data))}
	}, "differs")
}

// TestSafetensorsRoundTrip saves through the checkpoint package and loads
// the result back: the logits must be identical.
func TestSafetensorsRoundTrip(t *testing.T) {
	m, err := New(tinyConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := checkpoint.WriteSafetensors(path, m.StateDict(checkpoint.F32)); err != nil {
		t.Fatal(err)
	}
	sd, err := checkpoint.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := FromStateDict(m.Config, sd)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{1, 2, 3, 4, 5, 6, 7}
	a, _ := m.Forward(context.Background(), ids)
	b, err := m2.Forward(context.Background(), ids)
	if err != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("reloaded model differs (err %v)", err)
	}
}

func TestInitStatistics(t *testing.T) {
	cfg := tinyConfig()
	cfg.DModel, cfg.NLayer = 64, 4
	m, err := New(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	std := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return sqrt(s / float64(len(v)))
	}
	if s := std(m.embed.Data); s < 0.018 || s > 0.022 {
		t.Errorf("embedding std %.4f, want 0.02", s)
	}
	// U(-b, b) has std b/sqrt(3); out_proj's b is 1/sqrt(d_inner)/sqrt(n_layer).
	want := 1 / sqrt(float64(cfg.DInner())) / sqrt(float64(cfg.NLayer)) / sqrt(3)
	if s := std(m.layers[0].outProj.Data); s < 0.9*want || s > 1.1*want {
		t.Errorf("out_proj std %.4f, want %.4f", s, want)
	}
	for _, l := range m.layers {
		for h := range l.aLog.Data {
			a := exp(float64(l.aLog.Data[h]))
			dt := log1pexp(float64(l.dtBias.Data[h]))
			if a < 1 || a > 16 || dt < 0.001*0.999 || dt > 0.1*1.001 || l.d.Data[h] != 1 {
				t.Fatalf("head %d: A %g (want [1,16]), dt %g (want [0.001,0.1]), D %g", h, a, dt, l.d.Data[h])
			}
		}
	}
}

func TestResizeVocab(t *testing.T) {
	m, err := New(tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	old := append([]float32(nil), m.embed.Data...)
	if err := m.ResizeVocab(30, 2); err != nil {
		t.Fatal(err)
	}
	if m.Config.VocabSize != 30 || m.Config.PaddedVocab() != 32 || len(m.embed.Data) != 32*16 || m.embed.Shape[0] != 32 {
		t.Fatalf("after resize: vocab %d, embedding shape %v", m.Config.VocabSize, m.embed.Shape)
	}
	if !reflect.DeepEqual(m.embed.Data[:len(old)], old) {
		t.Error("old embedding rows changed")
	}
	if _, _, err := m.ForwardBackward(context.Background(), []int32{29, 1}, []int32{1, 29}); err != nil {
		t.Fatal(err)
	}
	if err := m.ResizeVocab(10, 2); err == nil {
		t.Error("shrinking was accepted")
	}
}

func TestBadInputs(t *testing.T) {
	m, err := New(tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Forward(ctx, []int32{1, 24}); err == nil || !strings.Contains(err.Error(), "ids[1] = 24") {
		t.Errorf("out-of-vocabulary id: %v", err)
	}
	if _, err := m.Forward(ctx, nil); err == nil {
		t.Error("empty sequence accepted")
	}
	if _, _, err := m.ForwardBackward(ctx, []int32{1, 2}, []int32{3}); err == nil {
		t.Error("mismatched targets accepted")
	}
	if _, _, err := m.ForwardBackward(ctx, []int32{1, 2}, []int32{3, -5}); err == nil {
		t.Error("negative target accepted")
	}
	st := m.NewState(2)
	if err := m.Step(st, []int32{1}, make([]float32, 64)); err == nil {
		t.Error("short token batch accepted")
	}
	if err := m.Step(st, []int32{1, 2}, make([]float32, 3)); err == nil {
		t.Error("short logits buffer accepted")
	}
	if _, err := m.Prefill(ctx, st, 2, []int32{1}); err == nil {
		t.Error("row outside the batch accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Forward(cctx, []int32{1, 2, 3}); err == nil {
		t.Error("cancelled context ignored")
	}
}

// TestTinyFixtureLoadsFromPyTorchNames reads the shared safetensors file,
// which holds both tied tensors as torch writes them.
func TestTinyFixtureNames(t *testing.T) {
	dir := testenv.Shared(t, "fixtures/tiny-mamba2")
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	m, _, _ := loadTiny(t)
	sd := m.StateDict(checkpoint.F32)
	file, err := checkpoint.ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sd.Names(), file.Names()) {
		t.Errorf("state dict names differ from mamba-ssm's:\n%v\n%v", sd.Names(), file.Names())
	}
	for name, tt := range file {
		if !reflect.DeepEqual(sd[name].Shape, tt.Shape) {
			t.Errorf("%s: shape %v, mamba-ssm %v", name, sd[name].Shape, tt.Shape)
		}
	}
}
