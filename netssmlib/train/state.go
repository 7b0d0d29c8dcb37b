package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/dataset"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// Example is one tokenized training sample: ids and an attention mask (1
// for tokens, 0 for padding; nil means no padding). A dataset.Reader is a
// Dataset.
type Example = dataset.Example

var _ Dataset = dataset.Reader(nil)

// A checkpoint-N folder written by Train holds:
//
//	model.safetensors     weights (F32, or BF16 with -dtype bf16)
//	config.json           the model config (NetSSM's format)
//	trainer_state.json    HF Trainer's schema (global_step, log_history, ...)
//	optimizer.safetensors AdamW moments "exp_avg.<name>", "exp_avg_sq.<name>"
//	                      (+ fp32 master weights "master.<name>" with BF16)
//	train_state.json      step, epoch, data position, seed, run settings
//	tokenizer files       when a tokenizer was given
//
// HF's optimizer.pt / scheduler.pt / rng_state.pth are not written (nor
// read: resuming from an HF-written checkpoint restores the weights and
// the step, with fresh optimizer moments).

func (t *trainer) saveCheckpoint(res *Result) error {
	if err := t.syncHost(); err != nil {
		return err
	}
	dir := filepath.Join(t.opt.OutputDir, fmt.Sprintf("%s%d", checkpoint.CheckpointPrefix, t.st.Step))
	err := checkpoint.WriteDirAtomic(dir, func(tmp string) error {
		if err := checkpoint.WriteSafetensors(filepath.Join(tmp, checkpoint.SafetensorsName), t.m.StateDict(t.opt.DType)); err != nil {
			return err
		}
		if err := t.m.Config.WriteFile(filepath.Join(tmp, checkpoint.ConfigName)); err != nil {
			return err
		}
		opt := checkpoint.StateDict{}
		for i, p := range t.m.Params {
			opt["exp_avg."+p.Name] = &checkpoint.Tensor{DType: checkpoint.F32, Shape: p.Shape, Data: t.adam.M[i]}
			opt["exp_avg_sq."+p.Name] = &checkpoint.Tensor{DType: checkpoint.F32, Shape: p.Shape, Data: t.adam.V[i]}
			if t.opt.DType != checkpoint.F32 {
				opt["master."+p.Name] = &checkpoint.Tensor{DType: checkpoint.F32, Shape: p.Shape, Data: p.Data}
			}
		}
		if err := checkpoint.WriteSafetensors(filepath.Join(tmp, OptimizerStateName), opt); err != nil {
			return err
		}
		st := t.st
		st.AdamSteps = t.adam.Steps
		if err := checkpoint.WriteJSON(filepath.Join(tmp, RunStateName), st); err != nil {
			return err
		}
		if err := checkpoint.WriteJSON(filepath.Join(tmp, checkpoint.TrainerStateName), t.trainerState()); err != nil {
			return err
		}
		if t.opt.Tokenizer != nil {
			return t.opt.Tokenizer.Save(tmp)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("train: saving %s: %w", dir, err)
	}
	res.Checkpoint = dir
	t.logf("saved %s", dir)
	return checkpoint.PruneCheckpoints(t.opt.OutputDir, t.opt.SaveTotalLimit)
}

func (t *trainer) trainerState() *checkpoint.TrainerState {
	return &checkpoint.TrainerState{
		Epoch:              round4(float64(t.st.Epoch) + float64(t.st.MicroBatch)/float64(t.nMB)),
		EvalSteps:          t.opt.SaveSteps,
		GlobalStep:         t.st.Step,
		IsLocalProcessZero: true,
		IsWorldProcessZero: true,
		LogHistory:         append([]checkpoint.LogEntry{}, t.hist...),
		LoggingSteps:       t.opt.LoggingSteps,
		MaxSteps:           t.total,
		NumInputTokensSeen: t.st.Tokens,
		NumTrainEpochs:     t.opt.NumEpochs,
		SaveSteps:          t.opt.SaveSteps,
		TrainBatchSize:     t.opt.BatchSize,
	}
}

// saveFinal writes the <N>_epochs folder as NetSSM's save_pretrained does
// (pytorch_model.bin + config.json) plus the tokenizer.
func (t *trainer) saveFinal(dir string) error {
	if err := t.syncHost(); err != nil {
		return err
	}
	err := checkpoint.WriteDirAtomic(dir, func(tmp string) error {
		if err := checkpoint.WriteTorch(filepath.Join(tmp, checkpoint.TorchName), t.m.StateDict(t.opt.DType)); err != nil {
			return err
		}
		if err := t.m.Config.WriteFile(filepath.Join(tmp, checkpoint.ConfigName)); err != nil {
			return err
		}
		if err := checkpoint.WriteJSON(filepath.Join(tmp, checkpoint.TrainerStateName), t.trainerState()); err != nil {
			return err
		}
		if t.opt.Tokenizer != nil {
			return t.opt.Tokenizer.Save(tmp)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("train: saving %s: %w", dir, err)
	}
	return nil
}

// resume loads a checkpoint folder into the trainer and its model.
func (t *trainer) resume(dir string) error {
	cfg, err := mamba.ReadConfig(filepath.Join(dir, checkpoint.ConfigName))
	if err != nil {
		return err
	}
	if cfg.PaddedVocab() != t.m.Config.PaddedVocab() || cfg.DModel != t.m.Config.DModel || cfg.NLayer != t.m.Config.NLayer {
		return fmt.Errorf("its model (d_model %d, %d layers, vocab %d) is not the one being trained (d_model %d, %d layers, vocab %d); use another -output folder",
			cfg.DModel, cfg.NLayer, cfg.VocabSize, t.m.Config.DModel, t.m.Config.NLayer, t.m.Config.VocabSize)
	}
	sd, err := checkpoint.ReadModelDir(dir)
	if err != nil {
		return err
	}
	var st runState
	b, err := os.ReadFile(filepath.Join(dir, RunStateName))
	haveState := err == nil
	if haveState {
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("%s: %w", RunStateName, err)
		}
		if st.Format != stateFormat {
			return fmt.Errorf("%s: unknown format %q", RunStateName, st.Format)
		}
		switch {
		case st.BatchSize != t.opt.BatchSize:
			return fmt.Errorf("it was trained with batch size %d, not %d", st.BatchSize, t.opt.BatchSize)
		case st.GradAccum != t.opt.GradAccum:
			return fmt.Errorf("it was trained with %d accumulation steps, not %d", st.GradAccum, t.opt.GradAccum)
		case st.NumExamples != t.data.Len():
			return fmt.Errorf("it was trained on %d examples, this dataset has %d", st.NumExamples, t.data.Len())
		case st.Seed != t.opt.Seed:
			return fmt.Errorf("it was trained with seed %d, not %d", st.Seed, t.opt.Seed)
		}
		if st.NumEpochs != t.opt.NumEpochs || st.LearningRate != t.opt.LearningRate {
			t.logf("note: the checkpoint's run had %d epochs at lr %g; continuing with %d at %g (the schedule changes)",
				st.NumEpochs, st.LearningRate, t.opt.NumEpochs, t.opt.LearningRate)
		}
	} else {
		// A checkpoint written by HF's Trainer: weights and step only.
		ts, err := checkpoint.ReadTrainerState(filepath.Join(dir, checkpoint.TrainerStateName))
		if err != nil {
			return fmt.Errorf("no %s and no readable %s: %w", RunStateName, checkpoint.TrainerStateName, err)
		}
		st = t.st
		st.Step = ts.GlobalStep
		st.Epoch = st.Step / t.perEp
		st.MicroBatch = (st.Step % t.perEp) * t.opt.GradAccum
		st.AdamSteps = 0
		t.logf("note: %s is not ours (no %s): optimizer.pt is not read, AdamW restarts from zero moments", dir, RunStateName)
	}
	var opt checkpoint.StateDict
	if haveState {
		opt, err = checkpoint.ReadSafetensors(filepath.Join(dir, OptimizerStateName))
		if err != nil {
			return err
		}
		// Masters (BF16 runs) replace the rounded weights; a tied head is
		// the embedding's master then.
		masters := false
		for name, tns := range opt {
			if len(name) > 7 && name[:7] == "master." {
				sd[name[7:]] = tns
				masters = true
			}
		}
		if masters && t.m.Config.TieEmbeddings {
			delete(sd, "lm_head.weight")
		}
	}
	fresh, err := mamba.FromStateDict(t.m.Config, sd)
	if err != nil {
		return err
	}
	for i, p := range t.m.Params {
		q := fresh.Params[i]
		if q.Name != p.Name || len(q.Data) != len(p.Data) {
			return fmt.Errorf("parameter %s does not match %s", q.Name, p.Name)
		}
		copy(p.Data, q.Data)
	}
	if haveState {
		for i, p := range t.m.Params {
			m, v := opt["exp_avg."+p.Name], opt["exp_avg_sq."+p.Name]
			if m == nil || v == nil || len(m.Data) != len(p.Data) || len(v.Data) != len(p.Data) {
				return fmt.Errorf("%s: moments of %s are missing or mis-shaped", OptimizerStateName, p.Name)
			}
			copy(t.adam.M[i], m.Data)
			copy(t.adam.V[i], v.Data)
		}
		t.adam.Steps = st.AdamSteps
	}
	if ts, err := checkpoint.ReadTrainerState(filepath.Join(dir, checkpoint.TrainerStateName)); err == nil {
		t.hist = ts.LogHistory
	}
	st.NumEpochs, st.LearningRate, st.DType = t.opt.NumEpochs, t.opt.LearningRate, string(t.opt.DType)
	t.st = st
	return nil
}
