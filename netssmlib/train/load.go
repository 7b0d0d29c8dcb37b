package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// LoadModel builds the model to train from a folder, as NetSSM's train.py
// does with its config folder or a checkpoint to fine-tune:
//
//   - a folder with only config.json gets a freshly initialised model whose
//     vocab_size is set from the tokenizer (vocab > 0);
//   - a folder with weights too (model.safetensors or pytorch_model.bin: a
//     <N>_epochs folder, a checkpoint-N folder, an HF model folder) is loaded
//     strictly, and its embedding grows to vocab when the tokenizer has more
//     tokens (old rows kept, new rows initialised as mamba-ssm does).
//
// fromWeights reports which case it was.
func LoadModel(dir string, vocab int, seed uint64) (m *mamba.Model, fromWeights bool, err error) {
	cfgPath := filepath.Join(dir, checkpoint.ConfigName)
	if !hasWeights(dir) {
		// A config folder: vocab_size comes from the tokenizer (it may be
		// 0 or stale in the file).
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			return nil, false, err
		}
		if vocab > 0 {
			var raw map[string]any
			if err := json.Unmarshal(b, &raw); err != nil {
				return nil, false, fmt.Errorf("%s: %w", cfgPath, err)
			}
			raw["vocab_size"] = vocab
			b, _ = json.Marshal(raw)
		}
		cfg, err := mamba.ParseConfig(b)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", cfgPath, err)
		}
		m, err := mamba.New(cfg, seed)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", dir, err)
		}
		return m, false, nil
	}
	cfg, err := mamba.ReadConfig(cfgPath)
	if err != nil {
		return nil, true, err
	}
	sd, err := checkpoint.ReadModelDir(dir)
	if err != nil {
		return nil, true, err
	}
	m, err = mamba.FromStateDict(cfg, sd)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", dir, err)
	}
	if vocab > cfg.VocabSize {
		if err := m.ResizeVocab(vocab, seed); err != nil {
			return nil, true, fmt.Errorf("%s: growing the vocabulary from %d to %d: %w", dir, cfg.VocabSize, vocab, err)
		}
	}
	return m, true, nil
}

func hasWeights(dir string) bool {
	for _, n := range []string{checkpoint.SafetensorsName, checkpoint.TorchName, "model.safetensors.index.json", "pytorch_model.bin.index.json"} {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}
