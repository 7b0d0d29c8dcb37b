package netssmlib

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib/mamba"
)

func TestCheckDevice(t *testing.T) {
	for _, d := range []string{"", "cpu", "reference"} {
		if err := CheckDevice(d); err != nil {
			t.Errorf("%q: %v", d, err)
		}
	}
	err := CheckDevice("cuda")
	if err == nil || !(errors.Is(err, ErrNoGPU) || errors.Is(err, ErrNoCUDABuild)) {
		t.Errorf("cuda: %v, want ErrNoGPU or ErrNoCUDABuild", err)
	}
	if err := CheckDevice("tpu"); err == nil || !strings.Contains(err.Error(), "tpu") || !errors.Is(err, gpu.ErrUnknownBackend) {
		t.Errorf("tpu: %v", err)
	}
	if be, err := OpenDevice("reference"); err != nil || be == nil || be.Name() != "cpu" {
		t.Errorf("reference: %v, %v", be, err)
	}
}

// TestDeviceFacade trains and generates through the facade on the
// reference backend, and checks both against the pure-Go path (fp32).
func TestDeviceFacade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	tok, err := NewTokenizer(p("tok"), "netflix", "amazon")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(testenv.RepoRoot(), "testdata/train/tiny.jsonl")
	cfg := ModelConfig{DModel: 16, NLayer: 1, DState: 8, HeadDim: 8, ChunkSize: 16}
	if _, err := Train(ctx, nil, tok, data, p("x"), TrainOptions{Device: "reference", Precision: "fp8"}); err == nil {
		t.Error("nil model: no error")
	}
	mk := func(name string) *mamba.Model {
		m, err := NewModel(p(name), cfg, tok, 1)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if _, err := Train(ctx, mk("bad"), tok, data, p("bad-out"), TrainOptions{Device: "reference", Precision: "fp8"}); err == nil || !strings.Contains(err.Error(), "fp8") {
		t.Errorf("precision fp8: %v", err)
	}
	var cpuLoss, refLoss []float64
	mc, mr := mk("cpu"), mk("ref")
	if _, err := Train(ctx, mc, tok, data, p("cpu-out"), TrainOptions{Epochs: 2, LearningRate: 1e-2, LoggingSteps: 1,
		OnLog: func(_ int, l float64) { cpuLoss = append(cpuLoss, l) }}); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(ctx, mr, tok, data, p("ref-out"), TrainOptions{Device: "reference", Precision: "fp32", Epochs: 2,
		LearningRate: 1e-2, LoggingSteps: 1, OnLog: func(_ int, l float64) { refLoss = append(refLoss, l) }}); err != nil {
		t.Fatal(err)
	}
	if len(cpuLoss) != 8 || len(refLoss) != len(cpuLoss) {
		t.Fatalf("losses: cpu %v, reference %v", cpuLoss, refLoss)
	}
	for i := range cpuLoss {
		if d := cpuLoss[i] - refLoss[i]; d > 1e-3*cpuLoss[i] || d < -1e-3*cpuLoss[i] {
			t.Errorf("step %d: loss %v on the reference backend, %v on the CPU", i+1, refLoss[i], cpuLoss[i])
		}
	}
	o := GenerateOptions{TopK: 1}
	want, err := Generate(ctx, mc, tok, "netflix", 2, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Device, o.Precision = "reference", "fp32"
	got, err := Generate(ctx, mc, tok, "netflix", 2, o)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("greedy text on the reference backend:\n%.200q\non the CPU:\n%.200q", got, want)
	}
}

func TestFacadeErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Preprocess(ctx, filepath.Join(t.TempDir(), "x.jsonl"), PreprocessOptions{Label: "l"}); err == nil {
		t.Error("Preprocess without captures: no error")
	}
	if _, err := Tokenize(ctx, nil, "a", "b", TokenizeOptions{}); err == nil {
		t.Error("Tokenize(nil tokenizer): no error")
	}
	if _, err := Generate(ctx, nil, nil, "web", 5, GenerateOptions{}); err == nil {
		t.Error("Generate(nil model): no error")
	}
	if _, err := Train(ctx, nil, nil, "a", "b", TrainOptions{Device: "cuda"}); err == nil {
		t.Error("Train on cuda without a CUDA build: no error")
	}
	if _, err := Packets(nil, 3); err == nil {
		t.Error("Packets(nil): no error")
	}
}

// TestPipeline runs the facade end to end on a tiny model: the same calls
// as notebooks/quickstart.ipynb, few steps.
func TestPipeline(t *testing.T) {
	ctx := context.Background()
	root := testenv.RepoRoot()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	var prPre progressRec
	st, err := Preprocess(ctx, p("s.jsonl"), PreprocessOptions{Label: "web", MaxPackets: 4, Progress: prPre.f},
		filepath.Join(root, "testdata/pcap/lo_http_udp.pcap"), filepath.Join(root, "testdata/convert/loopback.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	prPre.check(t, "Preprocess", 2, 1)
	if st.Samples != 2 {
		t.Fatalf("%d samples, want 2", st.Samples)
	}
	b, _ := os.ReadFile(p("s.jsonl"))
	if n := strings.Count(strings.SplitN(string(b), "\n", 2)[0], "<|pkt|>"); n != 3 {
		t.Errorf("4 packets per capture: %d separators in the first sample, want 3", n)
	}
	tok, err := NewTokenizer(p("tok"), "web")
	if err != nil {
		t.Fatal(err)
	}
	var prTok progressRec
	if _, err := Tokenize(ctx, tok, p("s.jsonl"), p("ds"), TokenizeOptions{Progress: prTok.f}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p("s.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	prTok.check(t, "Tokenize", fi.Size(), 1)
	m, err := NewModel(p("cfg"), ModelConfig{DModel: 16, NLayer: 1, DState: 8, HeadDim: 8, ChunkSize: 16}, tok, 1)
	if err != nil {
		t.Fatal(err)
	}
	// StopAfter: the bar ends at the step the call stops at.
	var prStop progressRec
	if _, err := Train(ctx, m, tok, p("ds"), p("stop"), TrainOptions{Epochs: 2, StopAfter: 3, Progress: prStop.f}); err != nil {
		t.Fatal(err)
	}
	prStop.check(t, "Train(StopAfter 3)", 3, 3)
	var logged int
	var prTrain progressRec
	res, err := Train(ctx, m, tok, p("ds"), p("out"), TrainOptions{Epochs: 2, LoggingSteps: 1, OnLog: func(int, float64) { logged++ }, Progress: prTrain.f})
	if err != nil {
		t.Fatal(err)
	}
	prTrain.check(t, "Train", 4, 4) // one call per step
	if res.Steps != 4 || logged != 4 || res.FinalDir == "" {
		t.Errorf("steps %d, logged %d, final %q; want 4 steps logged and a final folder", res.Steps, logged, res.FinalDir)
	}
	if _, losses, err := LossHistory(res.FinalDir); err != nil || len(losses) != 4 {
		t.Errorf("LossHistory: %v, %d losses", err, len(losses))
	}
	if _, err := Generate(ctx, m, tok, "nosuchlabel", 3, GenerateOptions{}); err == nil || !strings.Contains(err.Error(), "nosuchlabel") {
		t.Errorf("unknown label: %v", err)
	}
	// An untrained model rarely emits <|pkt|>: Generate is capped per packet.
	var prGen progressRec
	text, err := Generate(ctx, m, tok, "web", 2, GenerateOptions{Temperature: 1, TopK: 0, Seed: 1, Progress: prGen.f})
	if err != nil {
		t.Fatal(err)
	}
	prGen.check(t, "Generate", 2, 2) // (0, 2) first, (2, 2) last
	if !strings.HasPrefix(text, "<|web|>") {
		t.Errorf("text starts %.30q, want the label", text)
	}
	pieces := strings.Count(text, "<|pkt|>")
	cst, err := Convert(ctx, text, p("x.pcap"), filepath.Join(root, "testdata/pcap/lo_http_udp.pcap"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if cst.Pieces != pieces+1 {
		t.Errorf("convert saw %d pieces, text has %d separators", cst.Pieces, pieces)
	}
	if ents, _ := filepath.Glob(p(".generated-*")); len(ents) != 0 {
		t.Errorf("temporary text left behind: %v", ents)
	}
	tr, err := ReadTrace(ctx, p("x.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Packets) != cst.Packets {
		t.Errorf("read %d packets, wrote %d", len(tr.Packets), cst.Packets)
	}
	real, err := ReadTrace(ctx, filepath.Join(root, "testdata/pcap/lo_http_udp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := Packets(real, 3)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(tbl.String()), "\n"); n != 3 {
		t.Errorf("table of 3 packets has %d lines after the header:\n%s", n, tbl)
	}
	if !strings.HasPrefix(tbl.HTML(), "<pre") {
		t.Errorf("HTML() = %.40q", tbl.HTML())
	}
	if rep := Compare(real, real); rep == nil || float64(rep.Distance) != 0 {
		t.Errorf("a trace compared with itself: %v", rep)
	}
}

// progressRec records a long call's progress callbacks.
type progressRec struct {
	done, total []int64
}

func (r *progressRec) f(done, total int64) {
	r.done = append(r.done, done)
	r.total = append(r.total, total)
}

// check asserts that there were at least minCalls calls, all with total
// want, done never decreasing and never above total, and that the last
// call is (want, want).
func (r *progressRec) check(t *testing.T, name string, want int64, minCalls int) {
	t.Helper()
	if len(r.done) < minCalls {
		t.Errorf("%s: %d progress calls (%v of %v), want at least %d", name, len(r.done), r.done, r.total, minCalls)
		return
	}
	for i := range r.done {
		if r.total[i] != want || r.done[i] > r.total[i] || (i > 0 && r.done[i] < r.done[i-1]) {
			t.Errorf("%s: progress call %d is (%d, %d) after %v: want done rising to total %d", name, i, r.done[i], r.total[i], r.done[:i], want)
			return
		}
	}
	if last := r.done[len(r.done)-1]; last != want {
		t.Errorf("%s: last progress %d of %d, want %d", name, last, want, want)
	}
}
