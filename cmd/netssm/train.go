package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib"
	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/dataset"
	"github.com/netssm/netssm/netssmlib/tokenizer"
	"github.com/netssm/netssm/netssmlib/train"
)

func init() {
	register(&command{
		name:    "train",
		summary: "train (or fine-tune, or resume) the Mamba2 model on a tokenized dataset",
		run:     runTrain,
	})
}

// deviceHelp documents the -device flag of train, generate and bench.
const deviceHelp = "where the model computes: cpu (pure Go), cuda (an NVIDIA GPU; needs a netssm built with -tags cuda) or reference (the float64 reference backend, for tests)"

// openDevice opens a -device flag's backend: nil for cpu (the pure-Go
// model). The error says why a device cannot be used (no CUDA in this
// build, no GPU or driver, an unknown name).
func openDevice(name string) (gpu.Backend, error) {
	be, err := netssmlib.OpenDevice(name)
	if err != nil {
		return nil, fmt.Errorf("-device %s: %w", name, err)
	}
	return be, nil
}

// trainParseDType maps NetSSM's dtype names to checkpoint dtypes.
func trainParseDType(s string) (checkpoint.DType, error) {
	switch s {
	case "fp32", "float32", "f32":
		return checkpoint.F32, nil
	case "bf16", "bfloat16":
		return checkpoint.BF16, nil
	}
	return "", fmt.Errorf("%w: -dtype %q: want fp32 or bf16", errUsage, s)
}

// trainFlagAliases registers NetSSM's snake_case spelling (-num_epochs) of
// each named flag as an alias sharing its value.
func trainFlagAliases(fs *flag.FlagSet, names ...string) {
	for _, n := range names {
		f := fs.Lookup(n)
		if f == nil {
			panic("netssm: no flag " + n)
		}
		fs.Var(f.Value, strings.ReplaceAll(n, "-", "_"), "alias of -"+n+" (NetSSM's spelling)")
	}
}

// trainStderrIsTerminal reports whether a progress bar belongs on stderr.
func trainStderrIsTerminal() bool {
	st, err := os.Stderr.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runTrain(ctx context.Context, args []string) error {
	fs := newFlagSet("train", "-model CONFIG_DIR -output DIR -data-path DATASET_OR_JSONL -tokenizer DIR [flags]")
	modelDir := fs.String("model", "", "folder with config.json (a new model), or a model/checkpoint folder with weights to fine-tune")
	output := fs.String("output", "", "output folder: checkpoint-N folders and the final <N>_epochs folder; a run resumes from its newest checkpoint")
	dataPath := fs.String("data-path", "", "tokenized dataset (save_to_disk folder or .arrow) or a JSONL file of samples")
	tokDir := fs.String("tokenizer", "", "tokenizer folder (tokenizer.json)")
	epochs := fs.Int("num-epochs", 1, "number of epochs")
	batch := fs.Int("batch-size", 1, "sequences per micro-batch")
	lr := fs.Float64("learning-rate", 5e-4, "peak learning rate (linear decay to 0, no warmup)")
	accum := fs.Int("gradient-accumulation-steps", 1, "micro-batches per optimizer step")
	dtype := fs.String("dtype", "fp32", "dtype of saved weights: fp32 or bf16; on a device also the compute dtype (the CPU computes in fp32)")
	saveSteps := fs.Int("save-steps", 500, "save a checkpoint every N optimizer steps (the newest 2 are kept)")
	seed := fs.Uint64("seed", 42, "seed for initialisation and data order")
	device := fs.String("device", "cpu", deviceHelp)
	logSteps := fs.Int("logging-steps", 10, "log loss and tokens/s every N steps")
	maxLen := fs.Int("max-len", 0, "truncate JSONL samples to N tokens (0: whole samples)")
	weightDecay := fs.Float64("weight-decay", 0, "AdamW weight decay")
	emulate := fs.Bool("emulate-bf16", false, "run forward/backward with bf16-rounded weights (fp32 masters kept), as bf16 training does on a GPU; on a device: compute in bf16 and save -dtype")
	stopAfter := fs.Int("stop-after", 0, "stop with a checkpoint after N optimizer steps (run again to resume); 0: train to the end")
	trainFlagAliases(fs, "data-path", "num-epochs", "batch-size", "learning-rate", "gradient-accumulation-steps",
		"save-steps", "logging-steps", "max-len", "weight-decay")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	for _, f := range []struct{ name, v string }{{"model", *modelDir}, {"output", *output}, {"data-path", *dataPath}, {"tokenizer", *tokDir}} {
		if f.v == "" {
			return fmt.Errorf("%w: -%s is required", errUsage, f.name)
		}
	}
	if *stopAfter < 0 {
		return fmt.Errorf("%w: -stop-after must be >= 0", errUsage)
	}
	if *epochs < 1 || *batch < 1 || *accum < 1 || *saveSteps < 1 || *logSteps < 1 || *maxLen < 0 {
		return fmt.Errorf("%w: -num-epochs, -batch-size, -gradient-accumulation-steps, -save-steps and -logging-steps must be >= 1", errUsage)
	}
	if !(*lr > 0) {
		return fmt.Errorf("%w: -learning-rate must be > 0", errUsage)
	}
	dt, err := trainParseDType(*dtype)
	if err != nil {
		return err
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
	}

	tok, err := tokenizer.Load(*tokDir)
	if err != nil {
		return err
	}
	data, err := dataset.Open(*dataPath, dataset.Options{Tokenizer: tok, MaxLen: *maxLen})
	if err != nil {
		return err
	}
	defer data.Close()
	m, fromWeights, err := train.LoadModel(*modelDir, tok.VocabSize(), *seed)
	if err != nil {
		return err
	}
	if fromWeights {
		fmt.Printf("fine-tuning %s (vocabulary %d, %d parameters)\n", *modelDir, m.Config.VocabSize, m.NumParams())
	} else {
		fmt.Printf("new model from %s (vocabulary %d, %d parameters)\n", *modelDir, m.Config.VocabSize, m.NumParams())
	}
	fmt.Printf("%d examples from %s\n", data.Len(), *dataPath)
	opts := train.Options{
		OutputDir: *output, NumEpochs: *epochs, BatchSize: *batch, GradAccum: *accum, LearningRate: *lr,
		WeightDecay: *weightDecay, SaveSteps: *saveSteps, LoggingSteps: *logSteps, Seed: *seed, DType: dt,
		Tokenizer: tok, Log: os.Stdout, StopAfter: *stopAfter, EmulateBF16: *emulate, Device: dev,
	}
	if trainStderrIsTerminal() {
		opts.Progress = os.Stderr
	}
	res, err := train.Train(ctx, m, data, opts)
	if err != nil {
		return err
	}
	if res.FinalDir == "" {
		fmt.Printf("stopped at step %d of %d (checkpoint %s); run the same command again to resume\n", res.Steps, res.TotalSteps, res.Checkpoint)
		return nil
	}
	fmt.Printf("done: %d steps, final model in %s\n", res.Steps, res.FinalDir)
	return nil
}
