package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// File names inside a model or checkpoint folder, as HuggingFace and
// mamba-ssm name them.
const (
	SafetensorsName  = "model.safetensors"
	TorchName        = "pytorch_model.bin"
	ConfigName       = "config.json"
	TrainerStateName = "trainer_state.json"
)

// ReadModelDir reads the weights of a model folder: model.safetensors if
// present, else pytorch_model.bin (mamba-ssm's save_pretrained, and HF
// Trainer's checkpoint-N folders, hold one of them).
func ReadModelDir(dir string) (StateDict, error) {
	st := filepath.Join(dir, SafetensorsName)
	if _, err := os.Stat(st); err == nil {
		return ReadSafetensors(st)
	}
	pt := filepath.Join(dir, TorchName)
	if _, err := os.Stat(pt); err == nil {
		return ReadTorch(pt)
	}
	for _, idx := range []string{"model.safetensors.index.json", "pytorch_model.bin.index.json"} {
		if _, err := os.Stat(filepath.Join(dir, idx)); err == nil {
			return nil, fmt.Errorf("%s: sharded checkpoints (%s) are not supported", dir, idx)
		}
	}
	return nil, fmt.Errorf("%s: no %s or %s", dir, SafetensorsName, TorchName)
}

// LogEntry is one element of trainer_state.json's log_history.
type LogEntry struct {
	Epoch        float64  `json:"epoch"`
	GradNorm     *float64 `json:"grad_norm,omitempty"`
	LearningRate *float64 `json:"learning_rate,omitempty"`
	Loss         *float64 `json:"loss,omitempty"`
	Step         int      `json:"step"`
	// The final summary entry HF appends at the end of training.
	TrainLoss             *float64 `json:"train_loss,omitempty"`
	TrainRuntime          *float64 `json:"train_runtime,omitempty"`
	TrainSamplesPerSecond *float64 `json:"train_samples_per_second,omitempty"`
	TrainStepsPerSecond   *float64 `json:"train_steps_per_second,omitempty"`
	TotalFlos             *float64 `json:"total_flos,omitempty"`
	NumInputTokensSeen    *int64   `json:"num_input_tokens_seen,omitempty"`
	TrainTokensPerSecond  *float64 `json:"train_tokens_per_second,omitempty"`
}

// TrainerState is HuggingFace Trainer's trainer_state.json. Only the
// fields of transformers' TrainerState dataclass are written, because HF
// loads the file with TrainerState(**json) and rejects unknown keys.
type TrainerState struct {
	BestMetric          *float64       `json:"best_metric"`
	BestModelCheckpoint *string        `json:"best_model_checkpoint"`
	Epoch               float64        `json:"epoch"`
	EvalSteps           int            `json:"eval_steps"`
	GlobalStep          int            `json:"global_step"`
	IsHyperParamSearch  bool           `json:"is_hyper_param_search"`
	IsLocalProcessZero  bool           `json:"is_local_process_zero"`
	IsWorldProcessZero  bool           `json:"is_world_process_zero"`
	LogHistory          []LogEntry     `json:"log_history"`
	LoggingSteps        int            `json:"logging_steps"`
	MaxSteps            int            `json:"max_steps"`
	NumInputTokensSeen  int64          `json:"num_input_tokens_seen"`
	NumTrainEpochs      int            `json:"num_train_epochs"`
	SaveSteps           int            `json:"save_steps"`
	StatefulCallbacks   map[string]any `json:"stateful_callbacks,omitempty"`
	TotalFlos           float64        `json:"total_flos"`
	TrainBatchSize      int            `json:"train_batch_size"`
	TrialName           *string        `json:"trial_name"`
	TrialParams         map[string]any `json:"trial_params"`
}

// ReadTrainerState reads a trainer_state.json.
func ReadTrainerState(path string) (*TrainerState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s TrainerState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// WriteJSON writes v as indented JSON (HF's style: 2 spaces, trailing
// newline) atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return WriteFileAtomic(path, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}

// WriteDirAtomic builds a folder under a temporary name beside dir (fill
// writes its files), syncs it and renames it to dir, so a crash leaves
// either no folder or a complete one. An existing dir is replaced.
func WriteDirAtomic(dir string, fill func(tmp string) error) (err error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err = fill(tmp); err != nil {
		return err
	}
	if err = syncDir(tmp); err != nil {
		return err
	}
	var old string
	if _, statErr := os.Stat(dir); statErr == nil {
		old = filepath.Join(parent, "."+filepath.Base(dir)+".old-"+strconv.Itoa(os.Getpid()))
		os.RemoveAll(old)
		if err = os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return fmt.Errorf("rename %s: %w", dir, err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	if d, err := os.Open(parent); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func syncDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if d.IsDir() {
			f.Sync() // not supported everywhere; best effort
			return nil
		}
		return f.Sync()
	})
}

// CopyFile copies a regular file (used to copy a tokenizer into a model
// folder).
func CopyFile(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// Checkpoint is a checkpoint-N folder in a training output folder.
type Checkpoint struct {
	Step int
	Path string
}

// CheckpointPrefix is HF Trainer's checkpoint folder prefix.
const CheckpointPrefix = "checkpoint-"

// ListCheckpoints returns the checkpoint-N folders of an output folder in
// increasing step order. Temporary folders of an interrupted save are
// ignored. A missing output folder has no checkpoints.
func ListCheckpoints(outputDir string) ([]Checkpoint, error) {
	ents, err := os.ReadDir(outputDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cps []Checkpoint
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, CheckpointPrefix) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(name, CheckpointPrefix))
		if err != nil || n < 0 {
			continue
		}
		cps = append(cps, Checkpoint{Step: n, Path: filepath.Join(outputDir, name)})
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Step < cps[j].Step })
	return cps, nil
}

// PruneCheckpoints deletes all but the newest keep checkpoint-N folders
// (HF Trainer's save_total_limit), and leftovers of interrupted saves.
func PruneCheckpoints(outputDir string, keep int) error {
	cps, err := ListCheckpoints(outputDir)
	if err != nil {
		return err
	}
	for i := 0; i < len(cps)-keep; i++ {
		if err := os.RemoveAll(cps[i].Path); err != nil {
			return err
		}
	}
	ents, _ := os.ReadDir(outputDir)
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "."+CheckpointPrefix) && (strings.Contains(n, ".tmp-") || strings.Contains(n, ".old-")) {
			os.RemoveAll(filepath.Join(outputDir, n))
		}
	}
	return nil
}
