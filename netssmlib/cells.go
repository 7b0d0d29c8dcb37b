package netssmlib

import (
	"context"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netssm/netssm/gpu"
	_ "github.com/netssm/netssm/gpu/cpu" // the "reference" device
	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/convert"
	"github.com/netssm/netssm/netssmlib/dataset"
	"github.com/netssm/netssm/netssmlib/fidelity"
	"github.com/netssm/netssm/netssmlib/generate"
	"github.com/netssm/netssm/netssmlib/mamba"
	"github.com/netssm/netssm/netssmlib/preprocess"
	"github.com/netssm/netssm/netssmlib/tokenizer"
	"github.com/netssm/netssm/netssmlib/train"
)

// This file is the cell-facing facade: small, concrete (non-generic)
// functions over the stage packages, with the NetSSM walkthrough's steps as
// names. Every long call takes a context.Context first.
//
// The long calls (Preprocess, Tokenize, Train, Generate) take a
// Progress func(done, total int64) in their options, for a progress bar
// (display.NewProgress(label).Callback64() in a cell). It is called with
// done not decreasing and done <= total; when the call succeeds, the last
// call is (total, total).

// ProgressFunc receives done of total units of a long call.
type ProgressFunc = func(done, total int64)

// progressTo wraps f (which may be nil) so that done never decreases and
// never passes total, and remembers the last total for finish.
type progressTo struct {
	f           ProgressFunc
	done, total int64
}

func (p *progressTo) report(done, total int64) {
	if p.f == nil {
		return
	}
	done = min(max(done, p.done), total)
	p.done, p.total = done, total
	p.f(done, total)
}

// finish reports the call complete (total, total) unless it already was.
func (p *progressTo) finish(total int64) {
	if p.f == nil || total <= 0 || (p.done == total && p.total == total) {
		return
	}
	p.done, p.total = total, total
	p.f(total, total)
}

// PreprocessOptions are Preprocess's options.
type PreprocessOptions struct {
	Label string // the label token of every sample, without <| |>
	// MaxPackets > 0 keeps the first MaxPackets packets of each capture
	// (NetSSM's -truncate, counted in packets).
	MaxPackets int
	// Progress receives captures done of captures to read.
	Progress ProgressFunc
}

// Preprocess turns captures into NetSSM's JSONL samples at out, one sample
// per capture, every sample labelled o.Label. A single directory argument is
// walked recursively for *.pcap and *.pcapng (NetSSM's -in-dir); otherwise
// the arguments are capture files, in order. Captures that fail are named in
// the error; the others are still written.
func Preprocess(ctx context.Context, out string, o PreprocessOptions, captures ...string) (preprocess.Stats, error) {
	if len(captures) == 0 {
		return preprocess.Stats{}, errors.New("preprocess: no captures given")
	}
	maxPackets := o.MaxPackets
	opt := preprocess.Options{Label: o.Label, Out: out, Truncate: -1}
	if fi, err := os.Stat(captures[0]); len(captures) == 1 && err == nil && fi.IsDir() {
		opt.InDir = captures[0]
	} else {
		opt.Files = captures
	}
	if maxPackets > 0 {
		// the label, then 128 byte words and one <|pkt|> per packet, with
		// no separator after the last packet
		opt.Truncate = 1 + maxPackets*129 - 1
	}
	pr := progressTo{f: o.Progress}
	if pr.f != nil {
		opt.Progress = func(p preprocess.Progress) { pr.report(int64(p.FilesDone), int64(p.Files)) }
	}
	st, err := preprocess.Run(ctx, opt)
	if err != nil {
		return st, fmt.Errorf("preprocess: %w", err)
	}
	if st.Samples == 0 {
		return st, fmt.Errorf("preprocess %s: no capture with at least two TCP/UDP packets", strings.Join(captures, ", "))
	}
	pr.finish(pr.total)
	return st, nil
}

// NewTokenizer builds NetSSM's word-level tokenizer for the labels and
// saves it (HuggingFace format) in dir.
func NewTokenizer(dir string, labels ...string) (*tokenizer.Tokenizer, error) {
	tok, err := tokenizer.New(labels)
	if err != nil {
		return nil, err
	}
	if err := tok.Save(dir); err != nil {
		return nil, err
	}
	return tok, nil
}

// ExtendTokenizer loads the tokenizer at from, adds label tokens (old ids
// kept) and saves the result in dir: fine-tuning on new labels.
func ExtendTokenizer(from, dir string, labels ...string) (*tokenizer.Tokenizer, error) {
	tok, err := tokenizer.Load(from)
	if err != nil {
		return nil, err
	}
	tok2, err := tok.WithLabels(labels...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if err := tok2.Save(dir); err != nil {
		return nil, err
	}
	return tok2, nil
}

// TokenizeOptions are Tokenize's options.
type TokenizeOptions struct {
	MaxLen int // > 0: truncate each sample to MaxLen tokens
	// Progress receives JSONL bytes tokenized of the file's size.
	Progress ProgressFunc
}

// Tokenize writes the tokenized dataset (HuggingFace save_to_disk folder)
// of the JSONL samples in jsonl to out.
func Tokenize(ctx context.Context, tok *tokenizer.Tokenizer, jsonl, out string, o TokenizeOptions) (dataset.Stats, error) {
	if tok == nil {
		return dataset.Stats{}, errors.New("tokenize: nil tokenizer")
	}
	opt := dataset.TokenizeOptions{MaxLen: o.MaxLen}
	pr := progressTo{f: o.Progress}
	var size int64
	if pr.f != nil {
		if fi, err := os.Stat(jsonl); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		opt.Progress = func(st dataset.Stats) { pr.report(st.InputBytes, max(size, st.InputBytes)) }
	}
	st, err := dataset.Tokenize(ctx, tok, jsonl, out, opt)
	if err == nil {
		pr.finish(max(size, st.InputBytes))
	}
	return st, err
}

// ModelConfig is the size of a model; the zero value is NetSSM's default
// (d_model 768, 24 layers, d_state 128, headdim 64).
type ModelConfig struct {
	DModel, NLayer, DState, HeadDim, ChunkSize int
}

// TinyModel is a model small enough to train on two CPU cores in a minute.
var TinyModel = ModelConfig{DModel: 64, NLayer: 2, DState: 16, HeadDim: 32, ChunkSize: 64}

// WriteConfig writes NetSSM's config.json for c into dir (vocab_size 0:
// the trainer sets it from the tokenizer) and returns dir.
func WriteConfig(dir string, c ModelConfig) (string, error) {
	cfg := mamba.DefaultConfig()
	if c.DModel > 0 {
		cfg.DModel = c.DModel
	}
	if c.NLayer > 0 {
		cfg.NLayer = c.NLayer
	}
	if c.DState > 0 {
		cfg.SSMCfg.DState = c.DState
	}
	if c.HeadDim > 0 {
		cfg.SSMCfg.HeadDim = c.HeadDim
	}
	if c.ChunkSize > 0 {
		cfg.SSMCfg.ChunkSize = c.ChunkSize
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, cfg.WriteFile(filepath.Join(dir, checkpoint.ConfigName))
}

// NewModel writes config.json for c into dir and returns a freshly
// initialised model of that size for tok's vocabulary.
func NewModel(dir string, c ModelConfig, tok *tokenizer.Tokenizer, seed int) (*mamba.Model, error) {
	if _, err := WriteConfig(dir, c); err != nil {
		return nil, err
	}
	return LoadModel(dir, tok, seed)
}

// LoadModel loads the model in dir: a config folder gives a new model sized
// for tok; a folder with weights (checkpoint-N, <N>_epochs) is loaded, its
// embedding grown when tok has new labels.
func LoadModel(dir string, tok *tokenizer.Tokenizer, seed int) (*mamba.Model, error) {
	if tok == nil {
		return nil, errors.New("load model: nil tokenizer")
	}
	m, _, err := train.LoadModel(dir, tok.VocabSize(), uint64(seed))
	return m, err
}

// TrainOptions are the cell-sized training options; zero values take
// NetSSM's defaults (lr 5e-4, batch 1, checkpoint every 500 steps).
type TrainOptions struct {
	// Device is where the model computes: "cpu" (or "": the pure-Go
	// model), "cuda" (an NVIDIA GPU, in a netssm built with -tags cuda),
	// or "reference" (the float64 reference backend, for tests).
	Device string
	// Precision is a device's compute precision: "bf16" ("": the default
	// there) or "fp32". The CPU computes in fp32; checkpoints are fp32.
	Precision    string
	Epochs       int
	LearningRate float64
	SaveSteps    int
	LoggingSteps int
	MaxLen       int // truncate samples to MaxLen tokens (JSONL data only)
	StopAfter    int // stop with a checkpoint after this many steps; run again to resume
	Seed         int
	// OnLog receives step and mean loss at every logging step (a live plot).
	OnLog func(step int, loss float64)
	// Progress receives optimizer steps done of the steps this call trains
	// to: the run's total, or StopAfter when that comes first. A resumed
	// run starts at the checkpoint's step.
	Progress ProgressFunc
}

// ErrNoGPU is returned for Device "cuda" when no NVIDIA GPU is present.
var ErrNoGPU = errors.New("no NVIDIA GPU present")

// ErrNoCUDABuild is returned for Device "cuda" when a GPU is present but
// this build of netssm has no CUDA backend.
var ErrNoCUDABuild = errors.New("this build of netssm has no CUDA backend")

// OpenDevice opens the compute device named by device: nil for "" and
// "cpu" (the pure-Go model), the float64 reference backend for
// "reference", otherwise gpu.Open(device) ("gpu" means "cuda"). The caller
// closes what it returns. Failures wrap ErrNoGPU (no usable GPU),
// ErrNoCUDABuild (a GPU but no CUDA backend in this build) or
// gpu.ErrUnknownBackend, and name the device.
func OpenDevice(device string) (gpu.Backend, error) {
	name := strings.ToLower(device)
	switch name {
	case "", "cpu":
		return nil, nil
	case "reference":
		name = "cpu"
	case "gpu":
		name = "cuda"
	}
	be, err := gpu.Open(name)
	switch {
	case err == nil:
		return be, nil
	case name == "cuda" && errors.Is(err, gpu.ErrUnknownBackend):
		if !gpuPresent() {
			return nil, fmt.Errorf("device %q: %w (no /dev/nvidia0, no /proc/driver/nvidia/gpus), and %w", device, ErrNoGPU, err)
		}
		return nil, fmt.Errorf("device %q: %w: %w", device, ErrNoCUDABuild, err)
	case errors.Is(err, gpu.ErrNoDevice):
		return nil, fmt.Errorf("device %q: %w: %w", device, ErrNoGPU, err)
	case errors.Is(err, gpu.ErrUnknownBackend):
		return nil, fmt.Errorf("device %q: %w (want cpu, cuda or reference)", device, err)
	}
	return nil, fmt.Errorf("device %q: %w", device, err)
}

// CheckDevice says whether training and generation can run on device
// (see OpenDevice): nil, or an error saying what is missing. It opens the
// device and closes it again.
func CheckDevice(device string) error {
	be, err := OpenDevice(device)
	if be != nil {
		err = be.Close()
	}
	return err
}

func gpuPresent() bool {
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		return true
	}
	ents, err := os.ReadDir("/proc/driver/nvidia/gpus")
	return err == nil && len(ents) > 0
}

// Train trains m on data (a tokenized dataset folder or a JSONL file) and
// saves checkpoint-N folders and the final <N>_epochs folder under out,
// with tok. If out already holds checkpoints, training resumes from the
// newest one.
func Train(ctx context.Context, m *mamba.Model, tok *tokenizer.Tokenizer, data, out string, o TrainOptions) (*train.Result, error) {
	if m == nil || tok == nil {
		return nil, errors.New("train: nil model or tokenizer")
	}
	bf16, err := precision(o.Precision)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	dev, err := OpenDevice(o.Device)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if dev != nil {
		defer dev.Close()
	}
	ds, err := dataset.Open(data, dataset.Options{Tokenizer: tok, MaxLen: o.MaxLen})
	if err != nil {
		return nil, err
	}
	defer ds.Close()
	opt := train.Options{
		OutputDir: out, NumEpochs: o.Epochs, LearningRate: o.LearningRate,
		SaveSteps: o.SaveSteps, LoggingSteps: o.LoggingSteps, StopAfter: o.StopAfter,
		Seed: uint64(o.Seed), Tokenizer: tok,
		Device: dev, EmulateBF16: dev != nil && bf16, // bf16 compute on a device; fp32 files
	}
	if o.Seed == 0 {
		opt.Seed = 42
	}
	if o.OnLog != nil {
		f := o.OnLog
		opt.OnLog = func(e train.Event) { f(e.Step, e.Loss) }
	}
	pr := progressTo{f: o.Progress}
	if pr.f != nil {
		opt.OnStep = func(step, total int) {
			if o.StopAfter > 0 && o.StopAfter < total {
				total = o.StopAfter
			}
			pr.report(int64(step), int64(total))
		}
	}
	res, err := train.Train(ctx, m, ds, opt)
	if err == nil && res != nil {
		total := res.TotalSteps
		if o.StopAfter > 0 && o.StopAfter < total {
			total = o.StopAfter
		}
		pr.finish(int64(total))
	}
	return res, err
}

// precision parses a Precision option: whether a device computes in bf16.
func precision(p string) (bf16 bool, err error) {
	switch strings.ToLower(p) {
	case "", "bf16", "bfloat16":
		return true, nil
	case "fp32", "f32", "float32":
		return false, nil
	}
	return false, fmt.Errorf("precision %q: want bf16 or fp32", p)
}

// LossHistory reads the logged training losses (step, loss) from a
// checkpoint or final folder's trainer_state.json.
func LossHistory(dir string) (steps []int, losses []float64, err error) {
	st, err := checkpoint.ReadTrainerState(filepath.Join(dir, checkpoint.TrainerStateName))
	if err != nil {
		return nil, nil, err
	}
	for _, e := range st.LogHistory {
		if e.Loss != nil {
			steps = append(steps, e.Step)
			losses = append(losses, *e.Loss)
		}
	}
	if len(losses) == 0 {
		return nil, nil, fmt.Errorf("%s: no logged loss", dir)
	}
	return steps, losses, nil
}

// GenerateOptions are NetSSM's sampling options; the zero value is greedy.
type GenerateOptions struct {
	Temperature, TopP, MinP, RepetitionPenalty float64
	TopK, Seed                                 int
	// Device and Precision are as in TrainOptions.
	Device, Precision string
	// OnPacket is called with the number of packets generated so far.
	OnPacket func(n int)
	// Progress receives packets generated of the packets asked for (the
	// pieces Convert will write: the first <|pkt|> closes the label's
	// piece). A trace that ends early (end of text) still ends at
	// (total, total) when the call succeeds.
	Progress ProgressFunc
}

// Generate samples one trace from m for the label (or any prompt text) and
// returns its decoded text, as NetSSM's generated.txt. It asks for packets+1
// packet separators, so that Convert, which drops the first piece (it holds
// the label) and the last, yields the requested number of packets.
func Generate(ctx context.Context, m *mamba.Model, tok *tokenizer.Tokenizer, prompt string, packets int, o GenerateOptions) (string, error) {
	if m == nil || tok == nil {
		return "", errors.New("generate: nil model or tokenizer")
	}
	if packets < 1 {
		return "", fmt.Errorf("generate: packets %d: want at least 1", packets)
	}
	bf16, err := precision(o.Precision)
	if err != nil {
		return "", fmt.Errorf("generate: %w", err)
	}
	if !strings.HasPrefix(prompt, "<|") {
		prompt = "<|" + prompt + "|>"
	}
	ids := tok.Encode(prompt)
	for _, id := range ids {
		if id == tok.Unk() {
			return "", fmt.Errorf("generate: prompt %q has a token the tokenizer does not know (labels: %v)", prompt, tok.Labels())
		}
	}
	pkt, ok := tok.TokenID(tokenizer.PktToken)
	if !ok {
		return "", errors.New("generate: the tokenizer has no <|pkt|> token")
	}
	gopt := generate.DefaultOptions()
	if o.Temperature > 0 {
		gopt.Temperature = float32(o.Temperature)
	}
	if o.TopK != 0 {
		gopt.TopK = o.TopK
	}
	gopt.TopP, gopt.MinP = float32(o.TopP), float32(o.MinP)
	if o.RepetitionPenalty > 0 {
		gopt.RepetitionPenalty = float32(o.RepetitionPenalty)
	}
	gopt.Seed = uint64(o.Seed)
	req := generate.Request{
		Prompts: [][]int32{ids}, MaxPackets: packets + 1,
		EOS: tok.EOS(), Pkt: pkt, Vocab: tok.VocabSize(), Special: tok.IsSpecial, Options: gopt,
	}
	dev, err := OpenDevice(o.Device)
	if err != nil {
		return "", fmt.Errorf("generate: %w", err)
	}
	if dev != nil {
		defer dev.Close()
		req.Device, req.DeviceDType = dev, gpu.F32
		if bf16 {
			req.DeviceDType = gpu.BF16
		}
	}
	pr := progressTo{f: o.Progress}
	if o.OnPacket != nil || pr.f != nil {
		n, f := 0, o.OnPacket
		pr.report(0, int64(packets))
		req.OnPacket = func(int, []int32) {
			n++
			if f != nil {
				f(n)
			}
			pr.report(int64(n-1), int64(packets))
		}
	}
	seqs, err := generate.Generate(ctx, m, req)
	if err != nil {
		return "", err
	}
	pr.finish(int64(packets))
	return tok.Decode(seqs[0], false), nil
}

// Convert writes the generated text as a pcap at out, with headers repaired
// (lengths, IPv4 checksums). With realCapture set, the gaps between packets
// are drawn from that capture's (NetSSM's --ts_sample_gt), seeded by seed.
func Convert(ctx context.Context, text, out, realCapture string, seed int) (convert.Stats, error) {
	opt := convert.Options{Repair: true, Seed: uint64(seed)}
	if realCapture != "" {
		gaps, err := convert.GapsFromCapture(ctx, realCapture)
		if err != nil {
			return convert.Stats{}, err
		}
		opt.Gaps = gaps
	}
	var st convert.Stats
	err := atomicText(out, func(tmp string) error {
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			return err
		}
		var err error
		st, err = convert.File(ctx, tmp, out, opt)
		return err
	})
	return st, err
}

// atomicText gives f a temporary file name beside out and removes it after.
func atomicText(out string, f func(tmp string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".generated-*.txt")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	return f(tmp.Name())
}

// Table is a packet list like tshark's one-line summary. It shows as
// preformatted HTML in a notebook and as text elsewhere.
type Table struct {
	Text string
}

func (t Table) String() string { return t.Text }

// HTML shows the table preformatted.
func (t Table) HTML() string {
	return "<pre style=\"font-size:85%\">" + html.EscapeString(t.Text) + "</pre>"
}

// ReadTrace reads a capture (pcap or pcapng) for tables and comparisons.
func ReadTrace(ctx context.Context, path string) (*fidelity.Trace, error) {
	return fidelity.ReadFile(ctx, path, fidelity.ReadOptions{})
}

// Packets returns the summary table of the first max packets of a trace
// (all when max <= 0).
func Packets(t *fidelity.Trace, max int) (Table, error) {
	if t == nil {
		return Table{}, errors.New("packets: nil trace")
	}
	var b strings.Builder
	if err := t.WriteSummary(&b, max); err != nil {
		return Table{}, err
	}
	return Table{Text: b.String()}, nil
}

// Compare compares a synthetic trace with a real one (the fidelity report:
// per-field distributions, well-formedness and TCP statefulness).
func Compare(real, synthetic *fidelity.Trace) *fidelity.Report {
	if real == nil || synthetic == nil {
		return nil
	}
	return fidelity.Compare(real, synthetic)
}

// Since formats the time since t0 rounded to 0.1 s, for cell output.
func Since(t0 time.Time) string {
	return time.Since(t0).Round(100 * time.Millisecond).String()
}
