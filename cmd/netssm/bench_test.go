package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netssm/netssm/gpu"
)

const benchTinyConfig = "../../testdata/train/tiny-config/config.json"

// benchJSON runs a bench subcommand with -json and returns its measurements
// and its table (stderr).
func benchJSON(t *testing.T, run func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error, args ...string) ([]benchResult, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), append(args, "-json"), &stdout, &stderr); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr.String())
	}
	var rs []benchResult
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r benchResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs, stderr.String()
}

func benchTrainRun(ctx context.Context, args []string, o, e *bytes.Buffer) error {
	return runBenchTrain(ctx, args, o, e)
}
func benchGenRun(ctx context.Context, args []string, o, e *bytes.Buffer) error {
	return runBenchGenerate(ctx, args, o, e)
}

func TestBenchTrainOnReference(t *testing.T) {
	rs, table := benchJSON(t, benchTrainRun, "-device", "reference", "-config", benchTinyConfig, "-vocab", "40",
		"-tokens", "16,24", "-steps", "2", "-warmup", "1", "-dtype", "f32")
	if len(rs) != 2 {
		t.Fatalf("%d measurements, want 2:\n%s", len(rs), table)
	}
	for i, r := range rs {
		if r.Bench != "train" || r.Backend != "reference" || r.Tokens != []int{16, 24}[i] || r.Batch != 1 || r.Steps != 2 ||
			r.DType != "f32" || r.Config.DModel != 32 || r.Config.NLayer != 2 || r.Config.Vocab != 40 || r.Error != "" {
			t.Errorf("measurement %d: %+v", i, r)
		}
		if !(r.TokensPerS > 0 && r.TokensPerSMean > 0) {
			t.Errorf("measurement %d: tokens/s %v, mean %v", i, r.TokensPerS, r.TokensPerSMean)
		}
		// Weights, gradients and moments alone are 4 fp32 copies.
		if min := int64(16 * r.Config.Params); r.PeakBytes < min {
			t.Errorf("measurement %d: peak %d bytes, less than the %d of weights+grads+moments", i, r.PeakBytes, min)
		}
		if loss, ok := r.Loss.(float64); !ok || !(loss > 2 && loss < 6) {
			t.Errorf("measurement %d: loss %v, want near ln(40) = 3.7", i, r.Loss)
		}
	}
	if !strings.Contains(table, "tok/s median") || !strings.Contains(table, "host CPU (pure-Go reference)") {
		t.Errorf("table:\n%s", table)
	}
}

func TestBenchGenerateOnReference(t *testing.T) {
	rs, table := benchJSON(t, benchGenRun, "-device", "reference", "-config", benchTinyConfig, "-batch", "1,3",
		"-tokens", "4", "-warmup", "1")
	if len(rs) != 4 {
		t.Fatalf("%d measurements, want 4 (2 batch sizes, graph on and off):\n%s", len(rs), table)
	}
	for i, r := range rs {
		wantGraph := i%2 == 0
		if r.Bench != "generate" || r.Batch != []int{1, 1, 3, 3}[i] || r.Tokens != 4 || r.Graph == nil || *r.Graph != wantGraph ||
			r.GraphUsed == nil || *r.GraphUsed || (r.GraphError != "") != wantGraph || !(r.TokensPerS > 0) || r.Config.Vocab != benchDefaultVocab || r.DType != "bf16" {
			t.Errorf("measurement %d: %+v", i, r)
		}
	}
	if !strings.Contains(table, "not captured") || !strings.Contains(table, "cannot capture graphs") {
		t.Errorf("the reference backend cannot capture graphs; the table should say so:\n%s", table)
	}
}

// TestBenchOnCPU runs the pure-Go model (the comparison NetSSM's users have
// without a GPU): the table, no memory figure.
func TestBenchOnCPU(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runBenchTrain(context.Background(), []string{"-device", "cpu", "-d-model", "32", "-layers", "1", "-vocab", "20",
		"-tokens", "12", "-steps", "1", "-warmup", "0", "-dtype", "f32"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "host CPU (pure-Go model)") || !strings.HasPrefix(lines[2], "f32         12     1") {
		t.Errorf("table:\n%s", out.String())
	}
	rs, _ := benchJSON(t, benchGenRun, "-device", "cpu", "-d-model", "32", "-layers", "1", "-batch", "2", "-tokens", "3", "-warmup", "0")
	if len(rs) != 1 || rs[0].Batch != 2 || rs[0].Graph != nil || rs[0].PeakBytes != 0 || !(rs[0].TokensPerS > 0) {
		t.Errorf("cpu decode: %+v", rs)
	}
}

func TestBenchErrors(t *testing.T) {
	ctx := context.Background()
	var o, e bytes.Buffer
	for _, c := range []struct {
		args []string
		gen  bool
	}{
		{[]string{"-tokens", "8192,x"}, false},
		{[]string{"-tokens", "0"}, false},
		{[]string{"-steps", "0"}, false},
		{[]string{"-dtype", "fp16"}, false},
		{[]string{"-layers", "-1"}, false},
		{[]string{"-batch", "1,,64"}, true},
		{[]string{"-graph=maybe"}, true},
		{[]string{"-config", "/nonexistent/config.json", "-device", "cpu"}, true},
	} {
		run := runBenchTrain
		if c.gen {
			run = runBenchGenerate
		}
		err := run(ctx, c.args, &o, &e)
		if err == nil || (!errors.Is(err, errUsage) && !errors.Is(err, os.ErrNotExist)) {
			t.Errorf("%v: err = %v, want a usage error", c.args, err)
		}
	}
	if err := runBenchTrain(ctx, []string{"-device", "tpu"}, &o, &e); !errors.Is(err, gpu.ErrUnknownBackend) {
		t.Errorf("-device tpu: %v", err)
	}
	if !hasBackend("cuda") {
		if code := run([]string{"bench", "generate", "-device", "cuda"}); code != 1 {
			t.Errorf("bench generate -device cuda without the cuda tag: exit %d, want 1", code)
		}
	}
	if code := run([]string{"bench", "fly"}); code != 2 {
		t.Errorf("bench fly: exit %d, want 2", code)
	}
}

func TestBenchFailureNamesOutOfMemory(t *testing.T) {
	r := benchResult{Device: "NVIDIA H100"}
	benchFailure(&r, errors.New("100000 tokens: gpumodel: activations: cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY"))
	if !r.OutOfMemory || !strings.HasPrefix(r.Error, "out of memory on NVIDIA H100: ") {
		t.Errorf("%+v", r)
	}
	r = benchResult{Device: "x"}
	benchFailure(&r, errors.New("launch failed"))
	if r.OutOfMemory || r.Error != "launch failed" {
		t.Errorf("%+v", r)
	}
}

func TestBenchCompare(t *testing.T) {
	def := benchConfig{DModel: 768, NLayer: 24, Vocab: benchDefaultVocab}
	yes, no := true, false
	gibs := func(g float64) int64 { return int64(g * (1 << 30)) }
	write := func(rs ...benchResult) string {
		var b bytes.Buffer
		b.WriteString("a table line the parser skips\n")
		for _, r := range rs {
			j, _ := json.Marshal(r)
			b.Write(append(j, '\n'))
		}
		p := filepath.Join(t.TempDir(), "r.jsonl")
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := []benchResult{
		{Bench: "train", Device: "GPU", Config: def, DType: "bf16", Tokens: 8192, Batch: 1, TokensPerS: 120000, PeakBytes: gibs(4)},
		{Bench: "train", Device: "GPU", Config: def, DType: "bf16", Tokens: 100000, Batch: 1, TokensPerS: 320000, PeakBytes: gibs(50)},
		{Bench: "generate", Device: "GPU", Config: def, DType: "bf16", Tokens: 256, Batch: 1, Graph: &yes, TokensPerS: 6000},
		{Bench: "generate", Device: "GPU", Config: def, DType: "bf16", Tokens: 256, Batch: 1, Graph: &no, TokensPerS: 900},
		{Bench: "train", Device: "GPU", Config: benchConfig{DModel: 32, NLayer: 2, Vocab: 16}, DType: "bf16", Tokens: 8192, Batch: 1, TokensPerS: 1e7},
	}
	var out bytes.Buffer
	if err := runBenchCompare([]string{write(good...)}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"targets met: 3, missed: 0", "1 measurements not of NetSSM's default model", "2.36x", "6.13x", "(not measured)"} {
		if !strings.Contains(s, want) {
			t.Errorf("compare output lacks %q:\n%s", want, s)
		}
	}
	// Faster but more memory than NetSSM at 100,000 tokens; an OOM at 8,192.
	bad := append([]benchResult{}, good...)
	bad[1].PeakBytes = gibs(60)
	bad[0] = benchResult{Bench: "train", Device: "GPU", Config: def, DType: "bf16", Tokens: 8192, Batch: 1, Error: "out of memory on GPU: x", OutOfMemory: true}
	out.Reset()
	err := runBenchCompare([]string{write(bad...)}, &out)
	if err == nil || !strings.Contains(out.String(), "targets met: 1, missed: 2") || !strings.Contains(out.String(), "MISSED") {
		t.Errorf("err %v\n%s", err, out.String())
	}
	if err := runBenchCompare([]string{write()}, &out); err == nil {
		t.Error("no measurements: no error")
	}
}
