package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
	"github.com/netssm/netssm/netssmlib/tokenizer"
)

// Dataset is random access to tokenized examples.
type Dataset interface {
	Len() int
	At(i int) (Example, error)
}

// Examples is an in-memory Dataset.
type Examples []Example

// Len is the number of examples.
func (e Examples) Len() int { return len(e) }

// At returns example i.
func (e Examples) At(i int) (Example, error) {
	if i < 0 || i >= len(e) {
		return Example{}, fmt.Errorf("example %d out of range [0, %d)", i, len(e))
	}
	return e[i], nil
}

// Options configure Train. Zero values take the defaults in brackets
// (HF Trainer's and NetSSM's).
type Options struct {
	// OutputDir receives checkpoint-N folders and the final <N>_epochs
	// folder. A run resumes from its newest checkpoint automatically.
	OutputDir string
	// NumEpochs is the number of passes over the data [1].
	NumEpochs int
	// BatchSize is the number of sequences per micro-batch [1].
	BatchSize int
	// GradAccum is the number of micro-batches per optimizer step [1].
	GradAccum int
	// LearningRate is AdamW's peak learning rate, decayed linearly to 0
	// [5e-4, NetSSM's default].
	LearningRate float64
	// WeightDecay is AdamW's decoupled weight decay [0].
	WeightDecay float64
	// MaxGradNorm clips the global gradient norm [1]; negative: no clipping.
	MaxGradNorm float64
	// SaveSteps saves a checkpoint every SaveSteps optimizer steps [500].
	SaveSteps int
	// SaveTotalLimit is how many checkpoints are kept [2].
	SaveTotalLimit int
	// LoggingSteps logs loss and speed every LoggingSteps steps [10].
	LoggingSteps int
	// Seed drives the data order [42].
	Seed uint64
	// DType is the dtype of saved weights: F32 or BF16 [F32]. Training
	// always updates fp32 master weights; with BF16 the checkpoints' model
	// files hold bf16 and the masters go to the optimizer state.
	DType checkpoint.DType
	// EmulateBF16 runs forward and backward with the weights rounded to
	// bfloat16 (the fp32 masters are restored for the AdamW update), which
	// is what bf16 weights do to the model's arithmetic on a GPU;
	// activations stay fp32.
	EmulateBF16 bool
	// Tokenizer, if set, is saved into checkpoints and the final folder.
	Tokenizer *tokenizer.Tokenizer
	// Log receives one line per logging step (nil: discarded).
	Log io.Writer
	// Progress receives a carriage-return progress bar (nil: none). Give
	// os.Stderr only when it is a terminal.
	Progress io.Writer
	// OnLog is called at every logging step (a notebook plots the loss).
	OnLog func(Event)
	// OnStep, if set, is called after every optimizer step with the steps
	// done (counting those of a resumed run) and the run's total steps.
	OnStep func(step, total int)
	// StopAfter > 0 stops (with a checkpoint) once that many optimizer
	// steps are done, as if interrupted; 0 trains to the end.
	StopAfter int
	// Device, if set, runs the whole step there (netssmlib/gpumodel:
	// forward, backward, clipping and AdamW on the device's fp32 masters
	// and moments); nil trains with the pure-Go model. The weights and
	// moments come back to the host model and AdamW only to save a
	// checkpoint (same files as a CPU run: either can resume the other)
	// and when Train returns. The device computes in bf16 (bf16 GEMM
	// operands and activations, fp32 accumulation, masters, gradients and
	// moments) when DType is BF16 or EmulateBF16 is set, in fp32
	// otherwise. The caller owns the backend (Train does not close it).
	Device gpu.Backend
}

// Event is one logging step.
type Event struct {
	Step, TotalSteps int
	Epoch            float64
	// Loss is the mean training loss over the steps since the last event.
	Loss            float64
	LearningRate    float64
	GradNorm        float64
	TokensPerSecond float64
	Tokens          int64 // tokens seen so far
	Elapsed         time.Duration
}

// Result describes a finished (or stopped) run.
type Result struct {
	Steps, TotalSteps int
	// FinalDir is the <N>_epochs folder ("" if the run stopped early).
	FinalDir string
	// Checkpoint is the newest checkpoint written or resumed from.
	Checkpoint string
	// Resumed is the step the run resumed from (0: a fresh run).
	Resumed int
	// LastLoss is the loss of the last logged window.
	LastLoss float64
}

func (o *Options) defaults() error {
	if o.OutputDir == "" {
		return errors.New("train: no output folder")
	}
	if o.NumEpochs == 0 {
		o.NumEpochs = 1
	}
	if o.BatchSize == 0 {
		o.BatchSize = 1
	}
	if o.GradAccum == 0 {
		o.GradAccum = 1
	}
	if o.LearningRate == 0 {
		o.LearningRate = 5e-4
	}
	if o.MaxGradNorm == 0 {
		o.MaxGradNorm = 1
	}
	if o.SaveSteps == 0 {
		o.SaveSteps = 500
	}
	if o.SaveTotalLimit == 0 {
		o.SaveTotalLimit = 2
	}
	if o.LoggingSteps == 0 {
		o.LoggingSteps = 10
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	if o.DType == "" {
		o.DType = checkpoint.F32
	}
	switch {
	case o.NumEpochs < 0 || o.BatchSize < 0 || o.GradAccum < 0 || o.SaveSteps < 0 || o.LoggingSteps < 0 || o.SaveTotalLimit < 0:
		return errors.New("train: epochs, batch size, accumulation, save and logging steps must be positive")
	case !(o.LearningRate > 0) || math.IsInf(o.LearningRate, 0):
		return fmt.Errorf("train: learning rate %v must be positive", o.LearningRate)
	case o.WeightDecay < 0:
		return fmt.Errorf("train: weight decay %v must be >= 0", o.WeightDecay)
	case o.DType != checkpoint.F32 && o.DType != checkpoint.BF16:
		return fmt.Errorf("train: dtype %s: want F32 or BF16", o.DType)
	}
	return nil
}

// trainer holds one run's state.
type trainer struct {
	opt   Options
	m     *mamba.Model
	data  Dataset
	adam  *AdamW
	st    runState
	hist  []checkpoint.LogEntry
	total int // optimizer steps of the whole run
	perEp int // optimizer steps per epoch
	nMB   int // micro-batches per epoch

	params, grads, acc [][]float32
	masters            [][]float32 // fp32 weights while EmulateBF16 rounds them
	sessionLoss        float64     // sum of step losses since this call started

	// With Options.Device: the model on the device, and whether the host
	// weights and moments lag behind it.
	dev      *gpumodel.Model
	devCtx   context.Context // for transfers, not cancelled with the run's context
	devStale bool
}

// DeviceDType is the compute dtype a device run uses for opts (see
// Options.Device): BF16 when the saved weights are BF16 or EmulateBF16 is
// set, F32 otherwise.
func DeviceDType(opts Options) gpu.DType {
	if opts.DType == checkpoint.BF16 || opts.EmulateBF16 {
		return gpu.BF16
	}
	return gpu.F32
}

// roundWeights keeps the fp32 masters aside and rounds the model's weights
// to bfloat16 (EmulateBF16 only).
func (t *trainer) roundWeights() {
	if !t.opt.EmulateBF16 {
		return
	}
	if t.masters == nil {
		for _, p := range t.params {
			t.masters = append(t.masters, make([]float32, len(p)))
		}
	}
	for i, p := range t.params {
		copy(t.masters[i], p)
		for j, v := range p {
			p[j] = checkpoint.F32FromBF16(checkpoint.BF16FromF32(v))
		}
	}
}

// restoreWeights puts the fp32 masters back (EmulateBF16 only).
func (t *trainer) restoreWeights() {
	if !t.opt.EmulateBF16 {
		return
	}
	for i, p := range t.params {
		copy(p, t.masters[i])
	}
}

// runState is what a checkpoint needs beyond weights and moments to
// continue exactly: saved as train_state.json.
type runState struct {
	Format       string  `json:"format"`
	Step         int     `json:"global_step"`
	Epoch        int     `json:"epoch"`          // current epoch (0-based)
	MicroBatch   int     `json:"micro_batch"`    // next micro-batch within the epoch
	Seed         uint64  `json:"seed"`           // data order: PCG(seed, epoch) permutation
	Tokens       int64   `json:"tokens_seen"`    // input tokens processed
	BatchSize    int     `json:"batch_size"`     // must match to resume
	GradAccum    int     `json:"grad_accum"`     // must match to resume
	NumExamples  int     `json:"num_examples"`   // must match to resume
	NumEpochs    int     `json:"num_epochs"`     // may change (the schedule then changes)
	LearningRate float64 `json:"learning_rate"`  // peak
	DType        string  `json:"dtype"`          // of the saved model file
	AdamSteps    int     `json:"optimizer_step"` // AdamW's step count
}

const stateFormat = "netssm-train-1"

// Files of our own optimizer/run state in a checkpoint folder.
const (
	OptimizerStateName = "optimizer.safetensors"
	RunStateName       = "train_state.json"
)

// Train trains m on data. If opts.OutputDir holds checkpoints, the newest
// is loaded into m (weights, optimizer moments, step, data position) and the
// run continues exactly as if never interrupted. Cancelling ctx stops at
// the next micro-batch and saves a checkpoint of the last complete step.
func Train(ctx context.Context, m *mamba.Model, data Dataset, opts Options) (*Result, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if data.Len() == 0 {
		return nil, errors.New("train: the dataset is empty")
	}
	t := &trainer{opt: opts, m: m, data: data}
	t.nMB = (data.Len() + opts.BatchSize - 1) / opts.BatchSize
	t.perEp = (t.nMB + opts.GradAccum - 1) / opts.GradAccum
	t.total = t.perEp * opts.NumEpochs
	if opts.Device == nil {
		m.ZeroGrad() // the device keeps its own gradients
	}
	sizes := make([]int, len(m.Params))
	for i, p := range m.Params {
		sizes[i] = len(p.Data)
		t.params = append(t.params, p.Data)
		t.grads = append(t.grads, p.Grad)
	}
	t.adam = NewAdamW(sizes, opts.WeightDecay)
	t.st = runState{Format: stateFormat, Seed: opts.Seed, BatchSize: opts.BatchSize, GradAccum: opts.GradAccum,
		NumExamples: data.Len(), NumEpochs: opts.NumEpochs, LearningRate: opts.LearningRate, DType: string(opts.DType)}

	res := &Result{TotalSteps: t.total}
	cps, err := checkpoint.ListCheckpoints(opts.OutputDir)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if len(cps) > 0 {
		cp := cps[len(cps)-1]
		if err := t.resume(cp.Path); err != nil {
			return nil, fmt.Errorf("train: resuming from %s: %w", cp.Path, err)
		}
		res.Resumed, res.Checkpoint = t.st.Step, cp.Path
		t.logf("resumed from %s at step %d/%d (epoch %d, micro-batch %d)", cp.Path, t.st.Step, t.total, t.st.Epoch, t.st.MicroBatch)
	}
	if err := os.MkdirAll(opts.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if opts.Device != nil {
		if err := t.openDevice(ctx); err != nil {
			return nil, err
		}
		defer t.closeDevice()
	}
	start := time.Now()
	startStep := t.st.Step
	err = t.loop(ctx, res)
	if err != nil {
		return res, err
	}
	res.Steps = t.st.Step
	// HF appends a summary of the run to log_history when training ends.
	if n := t.st.Step - startStep; n > 0 {
		rt := time.Since(start).Seconds()
		loss := t.sessionLoss / float64(n)
		sps := float64(n) / rt
		xps := float64(n*opts.BatchSize*opts.GradAccum) / rt
		flos := 0.0
		t.hist = append(t.hist, checkpoint.LogEntry{Epoch: float64(opts.NumEpochs), Step: t.st.Step, TrainLoss: &loss,
			TrainRuntime: &rt, TrainStepsPerSecond: &sps, TrainSamplesPerSecond: &xps, TotalFlos: &flos})
	}
	final := filepath.Join(opts.OutputDir, fmt.Sprintf("%d_epochs", opts.NumEpochs))
	if err := t.saveFinal(final); err != nil {
		return res, err
	}
	res.FinalDir = final
	t.logf("saved %s", final)
	return res, nil
}

func (t *trainer) logf(format string, args ...any) {
	if t.opt.Log != nil {
		fmt.Fprintf(t.opt.Log, format+"\n", args...)
	}
}

// perm is the example order of an epoch.
func (t *trainer) perm(epoch int) []int {
	return rand.New(rand.NewPCG(t.st.Seed, uint64(epoch))).Perm(t.data.Len())
}

func (t *trainer) loop(ctx context.Context, res *Result) error {
	opt := t.opt
	start := time.Now()
	winStart, winTokens, winLoss, winSteps := time.Now(), int64(0), 0.0, 0
	var lastNorm float64
	for t.st.Epoch < opt.NumEpochs {
		perm := t.perm(t.st.Epoch)
		for t.st.MicroBatch < t.nMB {
			if opt.StopAfter > 0 && t.st.Step >= opt.StopAfter {
				return t.stop(res, nil)
			}
			// One optimizer step: up to GradAccum micro-batches (fewer at
			// the end of an epoch).
			first := t.st.MicroBatch
			nMicro := min(opt.GradAccum, t.nMB-first)
			lr := LinearLR(opt.LearningRate, t.st.Step, t.total)
			var stepLoss float64
			var stepTokens int64
			var err error
			if t.dev != nil {
				stepLoss, stepTokens, lastNorm, err = t.deviceStep(ctx, perm, first, nMicro, lr)
			} else {
				t.roundWeights()
				stepLoss, stepTokens, err = t.accumulate(ctx, perm, first, nMicro)
				t.restoreWeights()
				if err != nil {
					t.m.ZeroGrad() // drop the partial step
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return t.stop(res, ctx.Err())
				}
				return err
			}
			if t.dev == nil {
				lastNorm = ClipGradNorm(t.grads, opt.MaxGradNorm)
				t.adam.Update(lr, t.params, t.grads)
				t.m.ZeroGrad()
			}
			t.st.Step++
			t.st.MicroBatch += nMicro
			t.st.Tokens += stepTokens
			winTokens += stepTokens
			winLoss += stepLoss
			t.sessionLoss += stepLoss
			winSteps++
			epochF := float64(t.st.Epoch) + float64(t.st.MicroBatch)/float64(t.nMB)
			if t.st.Step%opt.LoggingSteps == 0 || t.st.Step == t.total {
				el := time.Since(winStart).Seconds()
				ev := Event{Step: t.st.Step, TotalSteps: t.total, Epoch: epochF, Loss: winLoss / float64(winSteps),
					LearningRate: lr, GradNorm: lastNorm, Tokens: t.st.Tokens, Elapsed: time.Since(start)}
				if el > 0 {
					ev.TokensPerSecond = float64(winTokens) / el
				}
				t.logEvent(ev)
				res.LastLoss = ev.Loss
				winStart, winTokens, winLoss, winSteps = time.Now(), 0, 0, 0
			}
			t.progress(epochF, stepLoss)
			if t.st.Step%opt.SaveSteps == 0 {
				if err := t.saveCheckpoint(res); err != nil {
					return err
				}
			}
		}
		t.st.Epoch++
		t.st.MicroBatch = 0
	}
	if t.opt.Progress != nil {
		fmt.Fprintln(t.opt.Progress)
	}
	return nil
}

// stop saves a checkpoint of the last complete step (unless one exists)
// and returns why the run stopped.
func (t *trainer) stop(res *Result, cause error) error {
	res.Steps = t.st.Step
	if t.opt.Progress != nil {
		fmt.Fprintln(t.opt.Progress)
	}
	if t.st.Step > 0 && filepath.Base(res.Checkpoint) != fmt.Sprintf("%s%d", checkpoint.CheckpointPrefix, t.st.Step) {
		if err := t.saveCheckpoint(res); err != nil {
			return errors.Join(cause, err)
		}
	}
	if cause != nil {
		return fmt.Errorf("train: stopped at step %d/%d (checkpoint %s): %w", t.st.Step, t.total, res.Checkpoint, cause)
	}
	return nil
}

// accumulate runs micro-batches [first, first+n) of the epoch's order and
// leaves in t.grads the gradient of HF's loss: the mean over each
// micro-batch's target tokens, averaged over the n micro-batches.
func (t *trainer) accumulate(ctx context.Context, perm []int, first, n int) (loss float64, tokens int64, err error) {
	if n > 1 && t.acc == nil {
		for _, g := range t.grads {
			t.acc = append(t.acc, make([]float32, len(g)))
		}
	}
	if n > 1 {
		for _, a := range t.acc {
			clear(a)
		}
	}
	for k := range n {
		batch, _, err := t.microBatch(ctx, perm, first+k)
		if err != nil {
			return 0, 0, err
		}
		var sum float64
		var count int
		for _, ex := range batch {
			if err := ctx.Err(); err != nil {
				return 0, 0, err
			}
			s, c, err := t.m.ForwardBackward(ctx, ex.ids, ex.targets)
			if err != nil {
				return 0, 0, fmt.Errorf("train: example %d: %w", ex.i, err)
			}
			sum += s
			count += c
			tokens += int64(len(ex.ids))
		}
		if count == 0 {
			continue // nothing to learn from (HF would log NaN)
		}
		if math.IsNaN(sum) || math.IsInf(sum, 0) {
			return 0, 0, fmt.Errorf("train: loss is %v at step %d", sum, t.st.Step+1)
		}
		loss += sum / float64(count) / float64(n)
		scale := float32(1 / (float64(count) * float64(n)))
		if n == 1 {
			for _, g := range t.grads {
				for j := range g {
					g[j] *= scale
				}
			}
			continue
		}
		for pi, g := range t.grads {
			a := t.acc[pi]
			for j := range g {
				a[j] += g[j] * scale
			}
			clear(g)
		}
	}
	if n > 1 {
		for pi, g := range t.grads {
			copy(g, t.acc[pi])
		}
	}
	return loss, tokens, nil
}

// sample is one example of a micro-batch as the model sees it.
type sample struct {
	i            int // index in the dataset
	ids, targets []int32
}

// microBatch reads micro-batch mb of the epoch's order perm: the examples
// with at least two tokens, and their number of target tokens (what the
// loss is averaged over).
func (t *trainer) microBatch(ctx context.Context, perm []int, mb int) ([]sample, int, error) {
	B := t.opt.BatchSize
	idx := perm[mb*B : min((mb+1)*B, len(perm))]
	batch := make([]sample, 0, len(idx))
	count := 0
	for _, i := range idx {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		ex, err := t.data.At(i)
		if err != nil {
			return nil, 0, fmt.Errorf("train: example %d: %w", i, err)
		}
		ids, targets := Targets(ex)
		if len(ids) < 2 {
			continue
		}
		for _, y := range targets {
			if y != mamba.IgnoreIndex {
				count++
			}
		}
		batch = append(batch, sample{i, ids, targets})
	}
	return batch, count, nil
}

// Targets returns the ids a model sees for ex (trailing padding removed)
// and the next-token targets: targets[t] = ids[t+1], or -100 where that
// token is padding and at the last position. NetSSM trains on padding
// positions too; we leave them out of the loss.
func Targets(ex Example) (ids, targets []int32) {
	n := len(ex.InputIDs)
	if len(ex.AttentionMask) == n {
		for n > 0 && ex.AttentionMask[n-1] == 0 {
			n--
		}
	}
	ids = ex.InputIDs[:n]
	targets = make([]int32, n)
	for i := range n {
		targets[i] = -100
		if i+1 < n && (len(ex.AttentionMask) != len(ex.InputIDs) || ex.AttentionMask[i+1] != 0) {
			targets[i] = ids[i+1]
		}
	}
	return ids, targets
}

func (t *trainer) logEvent(ev Event) {
	lr, loss, gn := ev.LearningRate, ev.Loss, ev.GradNorm
	t.hist = append(t.hist, checkpoint.LogEntry{Epoch: round4(ev.Epoch), Step: ev.Step, Loss: &loss, LearningRate: &lr, GradNorm: &gn})
	t.logf("step %d/%d  epoch %.2f  loss %.4f  lr %.3e  grad_norm %.3f  %.0f tok/s",
		ev.Step, ev.TotalSteps, ev.Epoch, ev.Loss, ev.LearningRate, ev.GradNorm, ev.TokensPerSecond)
	if t.opt.OnLog != nil {
		t.opt.OnLog(ev)
	}
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func (t *trainer) progress(epoch, loss float64) {
	if t.opt.OnStep != nil {
		t.opt.OnStep(t.st.Step, t.total)
	}
	w := t.opt.Progress
	if w == nil {
		return
	}
	const width = 30
	done := width * t.st.Step / max(t.total, 1)
	fmt.Fprintf(w, "\r[%s%s] %d/%d epoch %.2f loss %.4f ", strings.Repeat("=", done), strings.Repeat(" ", width-done),
		t.st.Step, t.total, epoch, loss)
}
