package checkpoint

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
)

// needTorch returns Debian's python3 with PyTorch (apt python3-torch), or
// skips (fails in CI, where .ci/apt-packages.txt installs it).
func needTorch(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true but %s cannot import torch (apt python3-torch): %v", py, err)
		}
		t.Skipf("skipping: %s cannot import torch (apt-get install python3-torch): %v", py, err)
	}
	return py
}

type pyTensor struct {
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
	Ptr    int64     `json:"ptr"`
}

func runPython(t *testing.T, py, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("python: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return out
}

// TestTorchInterop runs one Python process (importing torch is slow) that
// loads the file we wrote and saves one of its own, then checks both ways:
// torch.load reads our values, dtypes, shapes and tied storages; we read
// real torch.save output with strided/offset views, shared storages,
// Parameters and bf16/f16/f64 tensors.
func TestTorchInterop(t *testing.T) {
	py := needTorch(t)
	dir := t.TempDir()
	ours := filepath.Join(dir, "ours", "pytorch_model.bin")
	theirs := filepath.Join(dir, "pytorch_model.bin")
	os.Mkdir(filepath.Dir(ours), 0o755)
	shared := []float32{0.5, -1.25, 3, 1e-3, -7, 42}
	sd := StateDict{
		"backbone.embedding.weight": {DType: F32, Shape: []int{3, 2}, Data: shared},
		"lm_head.weight":            {DType: F32, Shape: []int{3, 2}, Data: shared},
		"backbone.layers.0.w":       {DType: BF16, Shape: []int{2, 2, 1}, Data: []float32{1, -2.5, 0.375, 96}},
		"backbone.layers.10.h":      {DType: F16, Shape: []int{3}, Data: []float32{0.25, -1024, 6.5}},
		"scalar":                    {DType: F32, Shape: []int{}, Data: []float32{float32(math.Pi)}},
	}
	if err := WriteTorch(ours, sd); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, json, collections, torch
def dump(sd, ptr):
    return {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.detach().double().flatten().tolist(),
                "ptr": v.storage().data_ptr() if ptr else 0} for k, v in sd.items()}
loaded = torch.load(sys.argv[1], map_location="cpu")
a = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 2
shared = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
sd = collections.OrderedDict()
sd["transposed"] = a.t()
sd["slice"] = a[1:, 1:3]
sd["bf16"] = (a * 1.5).to(torch.bfloat16)
sd["half"] = (a / 3).to(torch.float16)
sd["double"] = a.double() / 7
sd["emb.weight"] = shared
sd["lm_head.weight"] = shared
sd["param"] = torch.nn.Parameter(torch.linspace(-1, 1, 6))
sd["scalar"] = torch.tensor(3.25)
torch.save(sd, sys.argv[2])
print(json.dumps({"loaded": dump(loaded, True), "saved": dump(sd, False)}))
`
	var res struct{ Loaded, Saved map[string]pyTensor }
	if err := json.Unmarshal(runPython(t, py, script, ours, theirs), &res); err != nil {
		t.Fatal(err)
	}

	// torch.load of our file.
	names := map[DType]string{F32: "torch.float32", BF16: "torch.bfloat16", F16: "torch.float16"}
	for name, w := range sd {
		g, ok := res.Loaded[name]
		if !ok {
			t.Errorf("torch.load has no %s", name)
			continue
		}
		if g.DType != names[w.DType] || !equalShape(g.Shape, w.Shape) {
			t.Errorf("%s: torch sees %s %v, wrote %s %v", name, g.DType, g.Shape, w.DType, w.Shape)
			continue
		}
		for i, v := range w.Data {
			if float32(g.Values[i]) != v {
				t.Errorf("%s[%d]: torch reads %v, wrote %v", name, i, g.Values[i], v)
			}
		}
	}
	if res.Loaded["lm_head.weight"].Ptr != res.Loaded["backbone.embedding.weight"].Ptr {
		t.Error("tied tensors do not share a storage in torch")
	}

	// Our reading of torch.save's file.
	got, err := ReadTorch(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(res.Saved) {
		t.Errorf("read %d tensors, torch saved %d", len(got), len(res.Saved))
	}
	dtypes := map[string]DType{"torch.float32": F32, "torch.bfloat16": BF16, "torch.float16": F16, "torch.float64": F32}
	for name, w := range res.Saved {
		g := got[name]
		if g == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if g.DType != dtypes[w.DType] || !equalShape(g.Shape, w.Shape) {
			t.Errorf("%s: %s %v, torch %s %v", name, g.DType, g.Shape, w.DType, w.Shape)
			continue
		}
		for i, v := range w.Values {
			if g.Data[i] != float32(v) {
				t.Errorf("%s[%d] = %v, torch %v", name, i, g.Data[i], v)
				break
			}
		}
	}
}
