package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/mamba"
	"github.com/netssm/netssm/netssmlib/tokenizer"
)

const tinyConfig = `{"d_model": 32, "n_layer": 2, "vocab_size": 16,
	"ssm_cfg": {"layer": "Mamba2", "d_state": 8, "headdim": 16, "chunk_size": 8},
	"pad_vocab_size_multiple": 8}`

func tinyModel(t *testing.T, vocab int, seed uint64) *mamba.Model {
	t.Helper()
	cfg, err := mamba.ParseConfig([]byte(tinyConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.VocabSize = vocab
	m, err := mamba.New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyData is 5 sequences of a counting pattern, some with right padding.
func tinyData() Examples {
	var ex Examples
	for i := range 5 {
		n := 12 + 3*i
		e := Example{InputIDs: make([]int32, n), AttentionMask: make([]int8, n)}
		for j := range n {
			e.InputIDs[j] = int32((i + j) % 12)
			e.AttentionMask[j] = 1
		}
		if i%2 == 1 { // 4 padding positions
			for j := n - 4; j < n; j++ {
				e.InputIDs[j], e.AttentionMask[j] = 15, 0
			}
		}
		ex = append(ex, e)
	}
	return ex
}

func paramsOf(m *mamba.Model) [][]float32 {
	var out [][]float32
	for _, p := range m.Params {
		out = append(out, append([]float32(nil), p.Data...))
	}
	return out
}

func sameBits(t *testing.T, what string, a, b [][]float32) {
	t.Helper()
	for i := range a {
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				t.Fatalf("%s: parameter %d[%d] differs: %v vs %v", what, i, j, a[i][j], b[i][j])
			}
		}
	}
}

func TestResumeIsBitExact(t *testing.T) {
	for _, dt := range []checkpoint.DType{checkpoint.F32, checkpoint.BF16} {
		t.Run(string(dt), func(t *testing.T) {
			opts := Options{NumEpochs: 2, BatchSize: 2, GradAccum: 2, SaveSteps: 1, LoggingSteps: 1,
				LearningRate: 1e-2, Seed: 5, DType: dt, EmulateBF16: dt == checkpoint.BF16}
			data := tinyData() // 3 micro-batches per epoch: steps of 2 and 1 micro-batches

			// Uninterrupted.
			ref := tinyModel(t, 16, 1)
			opts.OutputDir = t.TempDir()
			var refLosses []float64
			o := opts
			o.OnLog = func(e Event) { refLosses = append(refLosses, e.Loss) }
			res, err := Train(context.Background(), ref, data, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Steps != 4 || res.TotalSteps != 4 {
				t.Fatalf("steps %d of %d, want 4 of 4", res.Steps, res.TotalSteps)
			}
			// Rotation: save every step, keep the newest 2.
			cps, _ := checkpoint.ListCheckpoints(opts.OutputDir)
			if len(cps) != 2 || cps[0].Step != 3 || cps[1].Step != 4 {
				t.Errorf("checkpoints kept: %+v", cps)
			}

			// Interrupted by cancellation after step 3 (mid-epoch 2), then
			// resumed by a new run on a freshly built model.
			out := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var losses []float64
			o = opts
			o.OutputDir, o.SaveSteps = out, 100
			o.OnLog = func(e Event) {
				losses = append(losses, e.Loss)
				if e.Step == 3 {
					cancel()
				}
			}
			_, err = Train(ctx, tinyModel(t, 16, 1), data, o)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: err = %v", err)
			}
			if cps, _ := checkpoint.ListCheckpoints(out); len(cps) != 1 || cps[0].Step != 3 {
				t.Fatalf("cancellation left checkpoints %+v, want checkpoint-3", cps)
			}
			resumed := tinyModel(t, 16, 99) // different init: must be overwritten
			o.OnLog = func(e Event) { losses = append(losses, e.Loss) }
			res, err = Train(context.Background(), resumed, data, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Resumed != 3 || res.Steps != 4 {
				t.Errorf("resumed at %d, ended at %d", res.Resumed, res.Steps)
			}
			sameBits(t, "resumed vs uninterrupted", paramsOf(ref), paramsOf(resumed))
			if len(losses) != len(refLosses) {
				t.Fatalf("losses %v vs %v", losses, refLosses)
			}
			for i := range losses {
				if losses[i] != refLosses[i] {
					t.Errorf("loss %d: %v vs %v", i, losses[i], refLosses[i])
				}
			}
			// The final folder holds NetSSM's pytorch_model.bin + config.
			final := filepath.Join(out, "2_epochs")
			back, fromWeights, err := LoadModel(final, 0, 0)
			if err != nil || !fromWeights {
				t.Fatalf("loading %s: %v", final, err)
			}
			if dt == checkpoint.F32 {
				sameBits(t, "final folder", paramsOf(ref), paramsOf(back))
			}
			ts, err := checkpoint.ReadTrainerState(filepath.Join(out, "checkpoint-3", checkpoint.TrainerStateName))
			if err != nil || ts.GlobalStep != 3 || len(ts.LogHistory) != 3 {
				t.Errorf("trainer_state.json: %+v %v", ts, err)
			}
		})
	}
}

func TestResumeRefusesOtherSettings(t *testing.T) {
	out := t.TempDir()
	opts := Options{OutputDir: out, NumEpochs: 1, BatchSize: 1, SaveSteps: 1, StopAfter: 1}
	if _, err := Train(context.Background(), tinyModel(t, 16, 1), tinyData(), opts); err != nil {
		t.Fatal(err)
	}
	opts.BatchSize, opts.StopAfter = 2, 0
	_, err := Train(context.Background(), tinyModel(t, 16, 1), tinyData(), opts)
	if err == nil || !strings.Contains(err.Error(), "batch size 1") {
		t.Errorf("err = %v, want a batch size mismatch", err)
	}
}

func TestLossFallsAndIsLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	var log bytes.Buffer
	var first, last float64
	opts := Options{OutputDir: t.TempDir(), NumEpochs: 40, LearningRate: 1e-2, SaveSteps: 1000, LoggingSteps: 5, Log: &log,
		OnLog: func(e Event) {
			if first == 0 {
				first = e.Loss
			}
			last = e.Loss
		}}
	res, err := Train(context.Background(), tinyModel(t, 16, 1), tinyData(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// The data is a deterministic count mod 12: next tokens are
	// predictable, so the loss must fall far below log(12) = 2.48.
	if !(last < 0.5 && first > 2) {
		t.Errorf("loss went from %.3f to %.3f\n%s", first, last, log.String())
	}
	if !strings.Contains(log.String(), "tok/s") || res.LastLoss != last {
		t.Errorf("log: %s", log.String())
	}
}

func TestFineTuneGrowsVocabulary(t *testing.T) {
	tok, err := tokenizer.New([]string{"netflix"})
	if err != nil {
		t.Fatal(err)
	}
	base := tinyModel(t, tok.VocabSize(), 1)
	out := t.TempDir()
	res, err := Train(context.Background(), base, tinyData(), Options{OutputDir: out, SaveSteps: 100, Tokenizer: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokenizer.Load(res.FinalDir); err != nil {
		t.Errorf("final folder has no usable tokenizer: %v", err)
	}
	bigger, err := tok.WithLabels("amazon", "youtube")
	if err != nil {
		t.Fatal(err)
	}
	m, fromWeights, err := LoadModel(res.FinalDir, bigger.VocabSize(), 3)
	if err != nil || !fromWeights {
		t.Fatal(err)
	}
	if m.Config.VocabSize != bigger.VocabSize() {
		t.Fatalf("vocab %d, want %d", m.Config.VocabSize, bigger.VocabSize())
	}
	oldEmb := base.Param("backbone.embedding.weight").Data
	newEmb := m.Param("backbone.embedding.weight").Data
	D := base.Config.DModel
	if len(newEmb) != m.Config.PaddedVocab()*D || len(newEmb) <= len(oldEmb) && m.Config.PaddedVocab() > base.Config.PaddedVocab() {
		t.Fatalf("embedding has %d values", len(newEmb))
	}
	for i := range tok.VocabSize() * D {
		if newEmb[i] != oldEmb[i] {
			t.Fatalf("embedding row %d changed", i/D)
		}
	}
	// The grown model trains with the new labels.
	data := tinyData()
	lbl, _ := bigger.TokenID("<|youtube|>")
	data[0].InputIDs[0] = lbl
	if _, err := Train(context.Background(), m, data, Options{OutputDir: t.TempDir(), SaveSteps: 100}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadModelFromConfigOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tinyConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	m, fromWeights, err := LoadModel(dir, 40, 1)
	if err != nil || fromWeights || m.Config.VocabSize != 40 {
		t.Fatalf("model %+v fromWeights %v err %v", m, fromWeights, err)
	}
	if _, _, err := LoadModel(t.TempDir(), 40, 1); err == nil {
		t.Error("folder without config.json accepted")
	}
}

func TestTargetsExcludePadding(t *testing.T) {
	ids, targets := Targets(Example{InputIDs: []int32{5, 6, 7, 1, 1}, AttentionMask: []int8{1, 1, 1, 0, 0}})
	if len(ids) != 3 {
		t.Fatalf("ids %v: trailing padding kept", ids)
	}
	want := []int32{6, 7, -100}
	for i := range want {
		if targets[i] != want[i] {
			t.Fatalf("targets %v, want %v", targets, want)
		}
	}
	// Inner padding stays an input but is never a target.
	_, targets = Targets(Example{InputIDs: []int32{1, 5, 6}, AttentionMask: []int8{1, 0, 1}})
	if targets[0] != -100 || targets[1] != 6 {
		t.Errorf("targets %v", targets)
	}
	_, targets = Targets(Example{InputIDs: []int32{1, 2}})
	if targets[0] != 2 || targets[1] != -100 {
		t.Errorf("no mask: targets %v", targets)
	}
}

func TestTrainRejectsBadOptions(t *testing.T) {
	m := tinyModel(t, 16, 1)
	for _, o := range []Options{
		{},
		{OutputDir: t.TempDir(), LearningRate: -1},
		{OutputDir: t.TempDir(), DType: "F64"},
	} {
		if _, err := Train(context.Background(), m, tinyData(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if _, err := Train(context.Background(), m, Examples{}, Options{OutputDir: t.TempDir()}); err == nil {
		t.Error("empty dataset accepted")
	}
}

// TestResumeFromHFCheckpoint resumes from a checkpoint folder as HF's
// Trainer writes it (weights, config, trainer_state.json; no state of
// ours): weights and step are restored, the optimizer restarts.
func TestResumeFromHFCheckpoint(t *testing.T) {
	out := t.TempDir()
	var log bytes.Buffer
	opts := Options{OutputDir: out, NumEpochs: 1, SaveSteps: 2, StopAfter: 2, Log: &log}
	m := tinyModel(t, 16, 1)
	if _, err := Train(context.Background(), m, tinyData(), opts); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(out, "checkpoint-2")
	for _, f := range []string{RunStateName, OptimizerStateName} {
		if err := os.Remove(filepath.Join(cp, f)); err != nil {
			t.Fatal(err)
		}
	}
	want := paramsOf(m)
	opts.StopAfter = 2 // resume and stop at once: weights must be the checkpoint's
	resumed := tinyModel(t, 16, 7)
	res, err := Train(context.Background(), resumed, tinyData(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 2 || !strings.Contains(log.String(), "optimizer.pt is not read") {
		t.Errorf("resumed at %d; log:\n%s", res.Resumed, log.String())
	}
	sameBits(t, "HF checkpoint weights", want, paramsOf(resumed))
	opts.StopAfter = 0
	if res, err = Train(context.Background(), resumed, tinyData(), opts); err != nil || res.Steps != 5 {
		t.Fatalf("continuing: %+v %v", res, err)
	}
}

func TestEmulateBF16ChangesTheArithmeticOnly(t *testing.T) {
	run := func(emulate bool) (*mamba.Model, float64) {
		m := tinyModel(t, 16, 1)
		var loss float64
		_, err := Train(context.Background(), m, tinyData(), Options{OutputDir: t.TempDir(), SaveSteps: 100, LoggingSteps: 1,
			EmulateBF16: emulate, OnLog: func(e Event) {
				if e.Step == 1 {
					loss = e.Loss
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return m, loss
	}
	m32, l32 := run(false)
	m16, l16 := run(true)
	// The first loss is computed with rounded weights: close, not equal.
	if l32 == l16 || math.Abs(l32-l16) > 1e-2*l32 {
		t.Errorf("first loss fp32 %v, emulated bf16 %v", l32, l16)
	}
	// The weights kept are fp32 masters, not bf16-rounded values.
	rounded := 0
	for _, p := range m16.Params {
		for _, v := range p.Data {
			if checkpoint.F32FromBF16(checkpoint.BF16FromF32(v)) != v {
				rounded++
			}
		}
	}
	if rounded == 0 {
		t.Error("every weight is a bf16 value: the fp32 masters were lost")
	}
	_ = m32
}

func TestFinalTrainerStateHasHFSummary(t *testing.T) {
	res, err := Train(context.Background(), tinyModel(t, 16, 1), tinyData(), Options{OutputDir: t.TempDir(), LoggingSteps: 2, SaveSteps: 100})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := checkpoint.ReadTrainerState(filepath.Join(res.FinalDir, checkpoint.TrainerStateName))
	if err != nil {
		t.Fatal(err)
	}
	// Logs at steps 2, 4 and 5 (the last step), then the summary.
	if ts.GlobalStep != 5 || ts.MaxSteps != 5 || len(ts.LogHistory) != 4 {
		t.Fatalf("trainer_state: step %d of %d, %d log entries", ts.GlobalStep, ts.MaxSteps, len(ts.LogHistory))
	}
	last := ts.LogHistory[3]
	if last.TrainLoss == nil || last.TrainRuntime == nil || !(*last.TrainLoss > 0) || last.Step != 5 {
		t.Errorf("summary entry %+v", last)
	}
	if l := ts.LogHistory[0]; l.Loss == nil || l.LearningRate == nil || l.GradNorm == nil || l.Step != 2 {
		t.Errorf("first entry %+v", l)
	}
}

// TestLoadModelFromTorchFixture loads mamba-ssm's own pytorch_model.bin
// (no safetensors beside it) through LoadModel and checks the logits
// against mamba-ssm's: the torch reader, strict loading and the model
// agree end to end.
func TestLoadModelFromTorchFixture(t *testing.T) {
	src, ids, want := testenv.TinyMamba2(t)
	dir := t.TempDir()
	for _, f := range []string{"config.json", "pytorch_model.bin"} {
		if err := checkpoint.CopyFile(filepath.Join(dir, f), filepath.Join(src, f)); err != nil {
			t.Fatal(err)
		}
	}
	m, fromWeights, err := LoadModel(dir, 0, 0)
	if err != nil || !fromWeights {
		t.Fatalf("LoadModel: %v", err)
	}
	V := m.Config.PaddedVocab()
	if len(want) != len(ids)*V {
		t.Fatalf("logits file has %d values for %d ids x %d", len(want), len(ids), V)
	}
	logits, err := m.Forward(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i, got := range logits {
		worst = max(worst, math.Abs(float64(got-want[i])))
	}
	// mamba-ssm computes in TF32 on the GPU: about 3e-4 from exact fp32.
	if worst > 1e-3 {
		t.Errorf("max |logit - mamba-ssm| = %g", worst)
	}
}

// TestLossAndGradientScaling checks HF's averaging: within a micro-batch
// the mean over all its target tokens; across accumulated micro-batches
// the mean of the micro-batch means.
func TestLossAndGradientScaling(t *testing.T) {
	ctx := context.Background()
	data := tinyData()
	m := tinyModel(t, 16, 1)
	m.ZeroGrad()
	// Per-sequence summed losses and gradients.
	var sums []float64
	var counts []int
	var grads [][][]float32
	for i := range 2 {
		ids, targets := Targets(data[i])
		s, c, err := m.ForwardBackward(ctx, ids, targets)
		if err != nil {
			t.Fatal(err)
		}
		sums, counts = append(sums, s), append(counts, c)
		var g [][]float32
		for _, p := range m.Params {
			g = append(g, append([]float32(nil), p.Grad...))
		}
		grads = append(grads, g)
		m.ZeroGrad()
	}
	n0, n1 := float64(counts[0]), float64(counts[1])
	cases := []struct {
		name         string
		batch, accum int
		wantLoss     float64
		w0, w1       float64 // weights of the two summed gradients
	}{
		{"one micro-batch of 2", 2, 1, (sums[0] + sums[1]) / (n0 + n1), 1 / (n0 + n1), 1 / (n0 + n1)},
		{"2 accumulated micro-batches of 1", 1, 2, (sums[0]/n0 + sums[1]/n1) / 2, 1 / (2 * n0), 1 / (2 * n1)},
	}
	for _, c := range cases {
		tr := &trainer{opt: Options{BatchSize: c.batch, GradAccum: c.accum}, m: m, data: data}
		for _, p := range m.Params {
			tr.grads = append(tr.grads, p.Grad)
		}
		loss, _, err := tr.accumulate(ctx, []int{0, 1, 2, 3, 4}, 0, c.accum)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(loss-c.wantLoss) > 1e-9*c.wantLoss {
			t.Errorf("%s: loss %v, want %v", c.name, loss, c.wantLoss)
		}
		for pi, g := range tr.grads {
			for j := range g {
				want := c.w0*float64(grads[0][pi][j]) + c.w1*float64(grads[1][pi][j])
				if d := math.Abs(float64(g[j]) - want); d > 1e-6+1e-4*math.Abs(want) {
					t.Fatalf("%s: grad %s[%d] = %v, want %v", c.name, m.Params[pi].Name, j, g[j], want)
				}
			}
		}
		m.ZeroGrad()
	}
}

// TestResumeIgnoresDebrisOfACrashedSave: a save killed half way leaves a
// temporary folder; resuming uses the last complete checkpoint, and the
// next save cleans the debris up.
func TestResumeIgnoresDebrisOfACrashedSave(t *testing.T) {
	out := t.TempDir()
	opts := Options{OutputDir: out, NumEpochs: 1, SaveSteps: 2, StopAfter: 2}
	if _, err := Train(context.Background(), tinyModel(t, 16, 1), tinyData(), opts); err != nil {
		t.Fatal(err)
	}
	debris := filepath.Join(out, ".checkpoint-4.tmp-12345")
	if err := os.MkdirAll(debris, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(debris, checkpoint.SafetensorsName), []byte("half a file"), 0o644)
	opts.StopAfter = 0
	res, err := Train(context.Background(), tinyModel(t, 16, 1), tinyData(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 2 {
		t.Errorf("resumed at %d, want 2", res.Resumed)
	}
	if _, err := os.Stat(debris); err == nil {
		t.Error("debris of the crashed save is still there")
	}
}
