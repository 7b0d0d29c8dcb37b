package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib/checkpoint"
	"github.com/netssm/netssm/netssmlib/gpumodel"
	"github.com/netssm/netssm/netssmlib/mamba"
	"github.com/netssm/netssm/netssmlib/train"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "measure training and decoding speed (tokens/s, memory) on a device: bench train|generate|compare",
		run:     runBench,
	})
}

// NetSSM's vocabulary: 256 byte tokens and the special and label tokens of
// its default tokenizer.
const benchDefaultVocab = 272

func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: netssm bench train|generate|compare [flags] (-h for each)", errUsage)
	}
	switch args[0] {
	case "train":
		return runBenchTrain(ctx, args[1:], os.Stdout, os.Stderr)
	case "generate":
		return runBenchGenerate(ctx, args[1:], os.Stdout, os.Stderr)
	case "compare":
		return runBenchCompare(args[1:], os.Stdout)
	}
	return fmt.Errorf("%w: netssm bench %q: want train, generate or compare", errUsage, args[0])
}

// benchFlags are the flags bench train and bench generate share.
type benchFlags struct {
	device, dtype, config *string
	dModel, layers, vocab *int
	seed                  *uint64
	json                  *bool
}

func newBenchFlags(fs *flag.FlagSet) *benchFlags {
	return &benchFlags{
		device: fs.String("device", "cuda", deviceHelp),
		dtype:  fs.String("dtype", "bf16", "compute dtype: bf16 or f32 (on cpu, bf16 emulates autocast and is slower)"),
		config: fs.String("config", "", "model config.json (default: NetSSM's default model, vocabulary 272)"),
		dModel: fs.Int("d-model", 0, "override the config's d_model"),
		layers: fs.Int("layers", 0, "override the config's n_layer"),
		vocab:  fs.Int("vocab", 0, "override the config's vocab_size"),
		seed:   fs.Uint64("seed", 1, "seed of the weights and the random tokens"),
		json:   fs.Bool("json", false, "write one JSON object per measurement to stdout (the table then goes to stderr)"),
	}
}

// benchParseDType maps a -dtype flag to a device dtype.
func benchParseDType(s string) (gpu.DType, error) {
	switch strings.ToLower(s) {
	case "bf16", "bfloat16":
		return gpu.BF16, nil
	case "f32", "fp32", "float32":
		return gpu.F32, nil
	}
	return 0, fmt.Errorf("%w: -dtype %q: want bf16 or f32", errUsage, s)
}

// benchParseList parses a comma-separated list of positive integers.
func benchParseList(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: -%s %q: want a comma-separated list of positive integers", errUsage, flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// modelConfig is the benchmarked model's config: NetSSM's default (vocab
// 272) or -config, with the overrides.
func (b *benchFlags) modelConfig() (mamba.Config, error) {
	cfg := mamba.DefaultConfig()
	cfg.VocabSize = benchDefaultVocab
	if *b.config != "" {
		// A config.json written before a tokenizer exists has vocab_size
		// 0; the benchmark then uses NetSSM's (or -vocab).
		data, err := os.ReadFile(*b.config)
		if err != nil {
			return cfg, err
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return cfg, fmt.Errorf("%w: -config %s: %v", errUsage, *b.config, err)
		}
		if v, ok := raw["vocab_size"]; !ok || string(v) == "0" || *b.vocab > 0 {
			raw["vocab_size"] = json.RawMessage(strconv.Itoa(max(*b.vocab, 0) + benchDefaultVocab*btoi(*b.vocab <= 0)))
		}
		data, _ = json.Marshal(raw)
		c, err := mamba.ParseConfig(data)
		if err != nil {
			return cfg, fmt.Errorf("%w: -config %s: %v", errUsage, *b.config, err)
		}
		cfg = c
	}
	for _, o := range []struct {
		name string
		v    int
		dst  *int
	}{{"d-model", *b.dModel, &cfg.DModel}, {"layers", *b.layers, &cfg.NLayer}, {"vocab", *b.vocab, &cfg.VocabSize}} {
		if o.v < 0 {
			return cfg, fmt.Errorf("%w: -%s %d must be positive", errUsage, o.name, o.v)
		}
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	if cfg.VocabSize == 0 {
		cfg.VocabSize = benchDefaultVocab
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: model config: %v", errUsage, err)
	}
	return cfg, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// benchResult is one measurement (one -json line).
type benchResult struct {
	Bench   string      `json:"bench"`   // train or generate
	Backend string      `json:"backend"` // -device: cpu, cuda, reference
	Device  string      `json:"device"`  // the device's name
	Config  benchConfig `json:"config"`
	DType   string      `json:"dtype"`
	// Tokens is the sequence length (train) or the tokens generated per
	// row (generate); Batch the sequences per step.
	Tokens int   `json:"tokens"`
	Batch  int   `json:"batch"`
	Graph  *bool `json:"graph,omitempty"` // generate: CUDA graph asked for
	// GraphUsed: the decoder replayed a captured graph; GraphError is why
	// a requested capture did not happen (it then ran op by op).
	GraphUsed  *bool  `json:"graph_used,omitempty"`
	GraphError string `json:"graph_error,omitempty"`
	// Decode is the -decode path asked for (generate: persistent, graph or
	// ops; empty without -decode), DecodePath the one that ran, and
	// PersistentError why a requested persistent decode did not (its first
	// step's check against the fused path failed, or it could not launch).
	Decode          string `json:"decode,omitempty"`
	DecodePath      string `json:"decode_path,omitempty"`
	PersistentError string `json:"persistent_error,omitempty"`
	Steps           int    `json:"steps"` // timed steps
	// TokensPerS is the median over steps for train, tokens of all rows
	// over the elapsed time for generate; TokensPerSMean is total tokens
	// over total time.
	TokensPerS     float64 `json:"tokens_per_s"`
	TokensPerSMean float64 `json:"tokens_per_s_mean"`
	// PeakBytes is the backend's peak memory over the measurement (model,
	// optimizer state, activations, scratch), 0 when unknown (-device cpu).
	PeakBytes        int64  `json:"peak_bytes"`
	DeviceUsedBytes  int64  `json:"device_used_bytes,omitempty"`
	DeviceTotalBytes int64  `json:"device_total_bytes,omitempty"`
	Loss             any    `json:"loss,omitempty"` // train: the last step's mean loss
	Error            string `json:"error,omitempty"`
	OutOfMemory      bool   `json:"out_of_memory,omitempty"`
}

type benchConfig struct {
	DModel int `json:"d_model"`
	NLayer int `json:"n_layer"`
	Vocab  int `json:"vocab_size"`
	Params int `json:"params"`
}

// benchOut writes the table (stdout, or stderr with -json) and the JSON
// lines.
// Each row is printed as soon as it is measured (a long run shows
// progress, and a killed one keeps what it has), in fixed-width columns.
type benchOut struct {
	json  io.Writer // nil without -json
	table io.Writer
	rows  int
	title string
	bad   int
}

func newBenchOut(b *benchFlags, stdout, stderr io.Writer, title string) *benchOut {
	o := &benchOut{title: title, table: stdout}
	if *b.json {
		o.json, o.table = stdout, stderr
	}
	return o
}

func (o *benchOut) add(r benchResult, row string) {
	if o.rows == 0 {
		fmt.Fprintln(o.table, o.title)
	}
	o.rows++
	if r.Error != "" {
		o.bad++
		row = fmt.Sprintf("%-5s %8d %5d  failed: %s", r.DType, r.Tokens, r.Batch, r.Error)
	}
	fmt.Fprintln(o.table, row)
	if o.json != nil {
		b, _ := json.Marshal(r)
		fmt.Fprintf(o.json, "%s\n", b)
	}
}

func (o *benchOut) err(what string) error {
	if o.bad > 0 {
		return fmt.Errorf("bench %s: %d of %d measurements failed", what, o.bad, o.rows)
	}
	return nil
}

// benchFailure fills r's error fields, naming an out-of-memory failure as
// such.
func benchFailure(r *benchResult, err error) {
	msg := err.Error()
	if strings.Contains(msg, "OUT_OF_MEMORY") || strings.Contains(strings.ToLower(msg), "out of memory") {
		r.OutOfMemory = true
		msg = fmt.Sprintf("out of memory on %s: %s", r.Device, msg)
	}
	r.Error = msg
}

// benchSetup opens the device and builds the model.
func benchSetup(b *benchFlags) (gpu.Backend, *mamba.Model, gpu.DType, benchResult, error) {
	var r benchResult
	dt, err := benchParseDType(*b.dtype)
	if err != nil {
		return nil, nil, 0, r, err
	}
	cfg, err := b.modelConfig()
	if err != nil {
		return nil, nil, 0, r, err
	}
	be, err := openDevice(*b.device)
	if err != nil {
		return nil, nil, 0, r, err
	}
	m, err := mamba.New(cfg, *b.seed)
	if err != nil {
		if be != nil {
			be.Close()
		}
		return nil, nil, 0, r, err
	}
	r = benchResult{Backend: strings.ToLower(*b.device), Device: "host CPU (pure-Go model)", DType: dt.String(),
		Config: benchConfig{DModel: cfg.DModel, NLayer: cfg.NLayer, Vocab: cfg.VocabSize, Params: m.NumParams()}}
	if be != nil {
		r.Device = be.DeviceName()
	} else if dt == gpu.BF16 {
		if err := m.SetComputeDType(checkpoint.BF16); err != nil {
			return nil, nil, 0, r, err
		}
	}
	return be, m, dt, r, nil
}

func memStats(be gpu.Backend) (gpu.MemoryReporter, bool) {
	mr, ok := be.(gpu.MemoryReporter)
	return mr, ok
}

func gib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(b)/(1<<30))
}

func runBenchTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench train", "[-device cuda|cpu|reference] [-dtype bf16|f32] [-tokens 8192,100000] [-steps 5] [-warmup 2] [-config FILE | -d-model N -layers N -vocab N] [-json]")
	b := newBenchFlags(fs)
	tokens := fs.String("tokens", "8192,100000", "sequence lengths (batch 1), comma-separated; measured shortest first")
	steps := fs.Int("steps", 5, "timed optimizer steps per length")
	warmup := fs.Int("warmup", 2, "untimed steps before them")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	lengths, err := benchParseList("tokens", *tokens)
	if err != nil {
		return err
	}
	// Shortest first: a backend's scratch only grows (gpu/cuda), so a
	// longer run before a shorter one would inflate the shorter one's peak.
	slices.Sort(lengths)
	if *steps < 1 || *warmup < 0 {
		return fmt.Errorf("%w: -steps must be >= 1 and -warmup >= 0", errUsage)
	}
	be, m, dt, base, err := benchSetup(b)
	if err != nil {
		return err
	}
	if be != nil {
		defer be.Close()
	}
	out := newBenchOut(b, stdout, stderr, fmt.Sprintf("training on %s (%s): d_model %d, %d layers, vocabulary %d, %d parameters, batch 1\n%-5s %8s %5s %12s %12s %9s %9s %7s",
		base.Backend, base.Device, base.Config.DModel, base.Config.NLayer, base.Config.Vocab, base.Config.Params,
		"dtype", "tokens", "batch", "tok/s median", "tok/s mean", "peak GiB", "dev GiB", "loss"))
	rng := rand.New(rand.NewPCG(*b.seed, 2))
	for _, T := range lengths {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := base
		r.Bench, r.Tokens, r.Batch, r.Steps = "train", T, 1, *steps
		seq := make([]int32, T+1)
		for i := range seq {
			seq[i] = int32(rng.IntN(m.Config.VocabSize))
		}
		var times []time.Duration
		var loss float64
		if be == nil {
			times, loss, err = benchTrainHost(ctx, m, seq, *warmup, *steps)
		} else {
			times, loss, err = benchTrainDevice(ctx, be, m, dt, seq, *warmup, *steps, &r)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			benchFailure(&r, fmt.Errorf("%d tokens: %w", T, err))
			out.add(r, "")
			continue
		}
		rates := make([]float64, len(times))
		var total time.Duration
		for i, d := range times {
			rates[i] = float64(T) / d.Seconds()
			total += d
		}
		slices.Sort(rates)
		r.TokensPerS = median(rates)
		r.TokensPerSMean = float64(T*len(times)) / total.Seconds()
		r.Loss = loss
		out.add(r, fmt.Sprintf("%-5s %8d %5d %12.0f %12.0f %9s %9s %7.3f", r.DType, T, 1, r.TokensPerS, r.TokensPerSMean,
			gib(r.PeakBytes), gib(r.DeviceUsedBytes), loss))
	}
	if r, ok := be.(interface{ GemmReport() string }); ok {
		// The CUDA backend times its GEMM kernels on first use of each
		// shape (autotuning); which won, and by how much, is worth keeping.
		fmt.Fprint(stderr, r.GemmReport())
	}
	return out.err("train")
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// benchStep are the optimizer settings of a benchmark step: NetSSM's
// learning rate, HF's AdamW defaults, clipping at 1.
var benchStep = gpumodel.StepOptions{LR: 5e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1}

// benchTrainDevice times warmup+steps optimizer steps of one sequence on
// be as train's device path runs them: ForwardBackwardAsync, TakeLoss, Step
// (clip + AdamW), ZeroGrad, Sync. The peak memory counts from before the
// model is uploaded.
func benchTrainDevice(ctx context.Context, be gpu.Backend, m *mamba.Model, dt gpu.DType, seq []int32, warmup, steps int, r *benchResult) ([]time.Duration, float64, error) {
	mr, hasMem := memStats(be)
	if hasMem {
		mr.ResetPeak()
	}
	T := len(seq) - 1
	g, err := gpumodel.New(ctx, be, m, gpumodel.Options{DType: dt, MaxSeq: T})
	if err != nil {
		return nil, 0, err
	}
	defer g.Close()
	var times []time.Duration
	var loss float64
	for i := range warmup + steps {
		t0 := time.Now()
		scale := 1 / float64(T) // every target counts: the mean loss
		if _, err := g.ForwardBackwardAsync(ctx, seq[:T], seq[1:], float32(scale), scale); err != nil {
			return nil, 0, err
		}
		if loss, err = g.TakeLoss(ctx); err != nil {
			return nil, 0, err
		}
		if _, err := g.Step(ctx, benchStep); err != nil {
			return nil, 0, err
		}
		if err := g.ZeroGrad(ctx); err != nil {
			return nil, 0, err
		}
		if err := be.Sync(ctx); err != nil {
			return nil, 0, err
		}
		if i >= warmup {
			times = append(times, time.Since(t0))
		}
	}
	if hasMem {
		st := mr.MemoryStats()
		r.PeakBytes, r.DeviceUsedBytes, r.DeviceTotalBytes = st.Peak, st.DeviceUsed, st.DeviceTotal
	}
	return times, loss, nil
}

// benchTrainHost is the same on the pure-Go model (train's CPU step).
func benchTrainHost(ctx context.Context, m *mamba.Model, seq []int32, warmup, steps int) ([]time.Duration, float64, error) {
	T := len(seq) - 1
	var params, grads [][]float32
	sizes := make([]int, len(m.Params))
	m.ZeroGrad()
	for i, p := range m.Params {
		params, grads, sizes[i] = append(params, p.Data), append(grads, p.Grad), len(p.Data)
	}
	adam := train.NewAdamW(sizes, 0)
	var times []time.Duration
	var loss float64
	for i := range warmup + steps {
		t0 := time.Now()
		m.ZeroGrad()
		sum, n, err := m.ForwardBackward(ctx, seq[:T], seq[1:])
		if err != nil {
			return nil, 0, err
		}
		scale := float32(1 / float64(max(n, 1)))
		for _, g := range grads {
			for j := range g {
				g[j] *= scale
			}
		}
		train.ClipGradNorm(grads, benchStep.MaxGradNorm)
		adam.Update(benchStep.LR, params, grads)
		if i >= warmup {
			times = append(times, time.Since(t0))
		}
		loss = sum / float64(max(n, 1))
	}
	return times, loss, nil
}

// graphFlag is -graph: true, false or both (a bool flag, so -graph alone
// means true).
type graphFlag string

func (g *graphFlag) String() string   { return string(*g) }
func (g *graphFlag) IsBoolFlag() bool { return true }
func (g *graphFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "1", "t":
		*g = "true"
	case "false", "0", "f":
		*g = "false"
	case "both":
		*g = "both"
	default:
		return fmt.Errorf("want true, false or both")
	}
	return nil
}

func (g graphFlag) modes() []bool {
	switch g {
	case "true":
		return []bool{true}
	case "false":
		return []bool{false}
	}
	return []bool{true, false}
}

func runBenchGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench generate", "[-device cuda|cpu|reference] [-dtype bf16|f32] [-batch 1,64] [-tokens 256] [-graph=true|false|both] [-decode persistent|graph|ops] [-config FILE | -d-model N -layers N -vocab N] [-json]")
	b := newBenchFlags(fs)
	batches := fs.String("batch", "1,64", "batch sizes (rows decoded together), comma-separated")
	tokens := fs.Int("tokens", 256, "timed decode steps (tokens per row)")
	warmup := fs.Int("warmup", 8, "untimed decode steps before them (the graph is captured in the first)")
	graph := graphFlag("both")
	fs.Var(&graph, "graph", "replay each decode step as a CUDA graph: true, false or both")
	decode := fs.String("decode", "", "decode path (overrides -graph): persistent (one cooperative kernel per token, checked against the fused graph path on the first step, which it falls back to), graph or ops")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *decode {
	case "", "persistent", "graph", "ops":
	default:
		return fmt.Errorf("%w: -decode must be persistent, graph or ops, got %q", errUsage, *decode)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	sizes, err := benchParseList("batch", *batches)
	if err != nil {
		return err
	}
	if *tokens < 1 || *warmup < 0 {
		return fmt.Errorf("%w: -tokens must be >= 1 and -warmup >= 0", errUsage)
	}
	be, m, dt, base, err := benchSetup(b)
	if err != nil {
		return err
	}
	if be != nil {
		defer be.Close()
	}
	out := newBenchOut(b, stdout, stderr, fmt.Sprintf("decoding on %s (%s): d_model %d, %d layers, vocabulary %d, %d parameters, greedy\n%-5s %8s %5s %-14s %12s %9s %9s",
		base.Backend, base.Device, base.Config.DModel, base.Config.NLayer, base.Config.Vocab, base.Config.Params,
		"dtype", "tokens", "batch", "graph", "tok/s", "peak GiB", "dev GiB"))
	var g *gpumodel.Model
	mr, hasMem := memStats(be)
	modes := []bool{false}
	if be != nil {
		modes = graph.modes()
		if *decode != "" {
			modes = []bool{*decode != "ops"}
		}
		if hasMem {
			mr.ResetPeak()
		}
		if g, err = gpumodel.New(ctx, be, m, gpumodel.Options{DType: dt}); err != nil {
			r := base
			r.Bench = "generate"
			benchFailure(&r, err)
			out.add(r, "")
			return out.err("generate")
		}
		defer g.Close()
	}
	for _, B := range sizes {
		for _, useGraph := range modes {
			if err := ctx.Err(); err != nil {
				return err
			}
			r := base
			r.Bench, r.Tokens, r.Batch, r.Steps = "generate", *tokens, B, *tokens
			if be != nil {
				ug := useGraph
				r.Graph = &ug
			}
			r.Decode = *decode
			if be == nil {
				r.Decode = ""
			}
			dr, err := benchDecode(ctx, m, g, B, *warmup, *tokens, useGraph, r.Decode == "persistent")
			elapsed, used, gerr := dr.elapsed, dr.graphUsed, dr.graphErr
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				benchFailure(&r, fmt.Errorf("batch %d: %w", B, err))
				out.add(r, "")
				continue
			}
			if be != nil {
				r.GraphUsed = &used
				if gerr != nil {
					r.GraphError = gerr.Error()
				}
				r.DecodePath = dr.path
				if dr.persistErr != nil {
					r.PersistentError = dr.persistErr.Error()
				}
			}
			r.TokensPerS = float64(B**tokens) / elapsed.Seconds()
			r.TokensPerSMean = r.TokensPerS
			if hasMem {
				st := mr.MemoryStats()
				r.PeakBytes, r.DeviceUsedBytes, r.DeviceTotalBytes = st.Peak, st.DeviceUsed, st.DeviceTotal
			}
			gs := "-"
			switch {
			case r.Graph == nil:
			case !*r.Graph:
				gs = "off"
			case used:
				gs = "on"
			default:
				gs = "not captured"
			}
			if r.Decode != "" {
				gs = r.DecodePath // the path that ran
			}
			row := fmt.Sprintf("%-5s %8d %5d %-14s %12.0f %9s %9s", r.DType, r.Tokens, B, gs, r.TokensPerS, gib(r.PeakBytes), gib(r.DeviceUsedBytes))
			if r.GraphError != "" {
				row += "  (ran op by op: " + r.GraphError + ")"
			}
			if r.PersistentError != "" {
				row += "  (persistent decode not used: " + r.PersistentError + ")"
			}
			out.add(r, row)
		}
	}
	return out.err("generate")
}

// decodeRun is what benchDecode measured and which path ran.
type decodeRun struct {
	elapsed    time.Duration
	graphUsed  bool
	graphErr   error
	path       string // gpumodel.Decoder.Path after the run ("" for the pure-Go model)
	persistErr error
}

// benchDecode times steps greedy decode steps of batch rows (after warmup
// untimed ones), each token fed back, the argmax on the host as generation
// does. g nil: the pure-Go model. It also says whether a graph was
// replayed, and why a requested one was not; persist asks for the
// persistent decode kernel (its check runs in the first, untimed step when
// warmup > 0).
func benchDecode(ctx context.Context, m *mamba.Model, g *gpumodel.Model, batch, warmup, steps int, useGraph, persist bool) (res decodeRun, err error) {
	V := m.Config.PaddedVocab()
	vocab := m.Config.VocabSize
	logits := make([]float32, batch*V)
	next := make([]int32, batch)
	for i := range next {
		next[i] = int32(i % vocab)
	}
	var step func() error
	var d *gpumodel.Decoder
	if g != nil {
		if d, err = g.NewDecoderOptions(batch, gpumodel.DecoderOptions{Graph: useGraph, Persistent: persist}); err != nil {
			return res, err
		}
		defer d.Close()
		step = func() error { return d.Step(ctx, next, logits) }
	} else {
		st := m.NewState(batch)
		step = func() error { return m.Step(st, next, logits) }
	}
	var t0 time.Time
	for i := range warmup + steps {
		if i == warmup {
			t0 = time.Now()
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := step(); err != nil {
			return res, err
		}
		for r := range batch {
			row := logits[r*V : r*V+vocab]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			next[r] = int32(best)
		}
	}
	res.elapsed = time.Since(t0)
	if d != nil {
		res.graphUsed, res.graphErr = d.UsingGraph(), d.GraphErr()
		res.path, res.persistErr = d.Path(), d.PersistentErr()
	}
	return res, nil
}

// NetSSM's stack on an H200 (../shared/docs/GPU.md), batch 1 unless noted,
// NetSSM's default model, bf16.
var netssmBaseline = []struct {
	bench         string
	tokens, batch int
	graph         bool
	tokPerS       float64
	peakGiB       float64 // 0: not measured
	target        string  // issue 5's target, "" none
	speedup       float64 // target speedup (0: none)
}{
	{"train", 2048, 1, false, 12228, 1.8, "", 0},
	{"train", 8192, 1, false, 50852, 5.3, ">= 2x, <= 5.3 GiB", 2},
	{"train", 32768, 1, false, 144753, 19.3, "", 0},
	{"train", 100000, 1, false, 152880, 57.6, ">= 2x, <= 57.6 GiB", 2},
	{"generate", 0, 1, true, 979, 0, ">= 5x", 5},
	{"generate", 0, 1, false, 37, 0, "", 0},
	{"generate", 0, 64, true, 34179, 0, "(report)", 0},
}

// runBenchCompare reads bench -json lines and prints them beside NetSSM's
// numbers and issue 5's targets. Only measurements of NetSSM's default model
// in bf16 are compared; the rest are listed as not comparable.
func runBenchCompare(args []string, w io.Writer) error {
	fs := newFlagSet("bench compare", "FILE.jsonl...")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: give the files written by bench train/generate -json", errUsage)
	}
	var rs []benchResult
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var r benchResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return fmt.Errorf("%s:%d: %w", path, i+1, err)
			}
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return fmt.Errorf("no measurements in %v", fs.Args())
	}
	def := mamba.DefaultConfig()
	comparable := func(r benchResult) bool {
		return r.Config.DModel == def.DModel && r.Config.NLayer == def.NLayer && r.Config.Vocab == benchDefaultVocab && r.DType == gpu.BF16.String()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "work\tNetSSM (H200)\tnetssm\tdevice\tspeedup\tmemory\ttarget\tverdict")
	missed, met, other := 0, 0, 0
	for _, base := range netssmBaseline {
		what := fmt.Sprintf("train %d tokens", base.tokens)
		if base.bench == "generate" {
			what = fmt.Sprintf("decode batch %d, graph %v", base.batch, base.graph)
		}
		ref := fmt.Sprintf("%.0f tok/s", base.tokPerS)
		if base.peakGiB > 0 {
			ref += fmt.Sprintf(", %.1f GiB", base.peakGiB)
		}
		var got *benchResult
		for i := range rs {
			r := &rs[i]
			if r.Bench != base.bench || !comparable(*r) || r.Batch != base.batch {
				continue
			}
			if base.bench == "train" && r.Tokens != base.tokens {
				continue
			}
			if base.bench == "generate" && (r.Graph == nil || *r.Graph != base.graph) {
				continue
			}
			got = r
		}
		if got == nil {
			fmt.Fprintf(tw, "%s\t%s\t(not measured)\t\t\t\t%s\t\n", what, ref, base.target)
			continue
		}
		if got.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\tfailed: %.60s\t%s\t\t\t%s\tFAIL\n", what, ref, got.Error, got.Device, base.target)
			if base.speedup > 0 {
				missed++
			}
			continue
		}
		speed := got.TokensPerS / base.tokPerS
		mem := "-"
		if got.PeakBytes > 0 {
			mem = fmt.Sprintf("%.1f GiB", float64(got.PeakBytes)/(1<<30))
		}
		verdict := ""
		if base.speedup > 0 {
			ok := speed >= base.speedup
			if base.peakGiB > 0 {
				ok = ok && got.PeakBytes > 0 && float64(got.PeakBytes)/(1<<30) <= base.peakGiB
			}
			if ok {
				verdict = "met"
				met++
			} else {
				verdict = "MISSED"
				missed++
			}
		}
		rate := fmt.Sprintf("%.0f tok/s", got.TokensPerS)
		if base.graph && got.GraphUsed != nil && !*got.GraphUsed {
			rate += " (no graph captured)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fx\t%s\t%s\t%s\n", what, ref, rate, got.Device, speed, mem, base.target, verdict)
	}
	for _, r := range rs {
		if !comparable(r) {
			other++
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "targets met: %d, missed: %d", met, missed)
	if other > 0 {
		fmt.Fprintf(w, "; %d measurements not of NetSSM's default model in bf16 (not compared)", other)
	}
	fmt.Fprintln(w, "\nNetSSM's numbers are from an H200; compare on the same card (see ../shared/docs/GPU.md).")
	if missed > 0 {
		return errors.New("bench compare: some of issue 5's targets were missed")
	}
	return nil
}
