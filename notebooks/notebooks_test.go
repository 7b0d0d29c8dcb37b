package notebooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/netssmlib"
	"github.com/netssm/netssm/netssmlib/pcapio"
	"github.com/netssm/netssm/netssmlib/tokenizer"
)

// notebook is the part of nbformat 4 the checks read.
type notebook struct {
	Cells []struct {
		CellType       string          `json:"cell_type"`
		Source         json.RawMessage `json:"source"`
		ExecutionCount *int            `json:"execution_count"`
		Outputs        []struct {
			OutputType string                     `json:"output_type"`
			Name       string                     `json:"name"`
			Text       json.RawMessage            `json:"text"`
			Data       map[string]json.RawMessage `json:"data"`
			EName      string                     `json:"ename"`
			EValue     string                     `json:"evalue"`
		} `json:"outputs"`
	} `json:"cells"`
	Metadata struct {
		Kernelspec struct {
			Name     string `json:"name"`
			Language string `json:"language"`
		} `json:"kernelspec"`
	} `json:"metadata"`
}

func readNotebook(t *testing.T, path string) *notebook {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &nb
}

// text joins a multiline string field (a string or a list of strings).
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var l []string
	json.Unmarshal(raw, &l)
	return strings.Join(l, "")
}

// allText is every stream and text/plain output of the notebook, and the
// number of outputs carrying each MIME type.
func allText(nb *notebook) (string, map[string]int) {
	var b strings.Builder
	mimes := map[string]int{}
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			b.WriteString(text(o.Text))
			for k, v := range o.Data {
				mimes[k]++
				if k == "text/plain" {
					b.WriteString(text(v))
					b.WriteByte('\n')
				}
			}
		}
	}
	return b.String(), mimes
}

// checkRan asserts that every code cell ran and none failed.
func checkRan(t *testing.T, name string, nb *notebook) {
	t.Helper()
	if nb.Metadata.Kernelspec.Name != "netssm" || nb.Metadata.Kernelspec.Language != "go" {
		t.Errorf("%s: kernelspec %+v, want name netssm, language go", name, nb.Metadata.Kernelspec)
	}
	code := 0
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		code++
		if c.ExecutionCount == nil {
			t.Errorf("%s: cell %d has no execution count (not run)", name, i+1)
		}
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("%s: cell %d failed: %s: %s", name, i+1, o.EName, o.EValue)
			}
		}
	}
	if code == 0 {
		t.Errorf("%s: no code cells", name)
	}
}

// TestCommittedNotebooks checks that the notebooks in the repository are
// committed with the outputs of a complete run.
func TestCommittedNotebooks(t *testing.T) {
	for _, name := range []string{"quickstart.ipynb", "finetune.ipynb", "gpu.ipynb"} {
		nb := readNotebook(t, name)
		checkRan(t, name, nb)
		out, mimes := allText(nb)
		switch name {
		case "quickstart.ipynb":
			for _, want := range []string{"resumed from step", "wrote 50 packets", "50 packets in"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: outputs lack %q", name, want)
				}
			}
			if mimes["image/png"] < 2 {
				t.Errorf("%s: %d PNG outputs, want the loss curve and the comparison plots", name, mimes["image/png"])
			}
		case "gpu.ipynb":
			if !strings.Contains(out, "Stopping here") && !strings.Contains(out, "CUDA device found") {
				t.Errorf("%s: outputs say neither that there is no GPU nor that there is one", name)
			}
		}
	}
}

// runNotebook executes a notebook with netssm run into dir and returns
// the output notebook.
func runNotebook(t *testing.T, ctx context.Context, bin, name, work string) *notebook {
	t.Helper()
	out := filepath.Join(work, strings.TrimSuffix(name, ".ipynb")+".out.ipynb")
	cmd := exec.CommandContext(ctx, bin, "run", name, "-o", out, "-timeout", "6m")
	cmd.Env = append(os.Environ(), "NETSSM_WORK="+work)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("netssm run %s: %v\n%s", name, err, log.String())
	}
	t.Logf("netssm run %s: %s", name, time.Since(t0).Round(time.Second))
	nb := readNotebook(t, out)
	checkRan(t, name, nb)
	return nb
}

func countPackets(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapio.NewReader(f, path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		n++
	}
	return n
}

func checkLossFell(t *testing.T, glob string) {
	t.Helper()
	finals, _ := filepath.Glob(glob)
	if len(finals) != 1 {
		t.Fatalf("%s: %d final model folders, want 1", glob, len(finals))
	}
	steps, losses, err := netssmlib.LossHistory(finals[0])
	if err != nil {
		t.Fatal(err)
	}
	first, last := losses[0], losses[len(losses)-1]
	t.Logf("%s: loss %.3f at step %d -> %.3f at step %d", finals[0], first, steps[0], last, steps[len(steps)-1])
	if !(last < first/2) {
		t.Errorf("%s: loss %.3f -> %.3f: did not fall by half", finals[0], first, last)
	}
}

func checkTshark(t *testing.T, pcap string, want int) {
	t.Helper()
	tshark := testenv.NeedTool(t, "tshark")
	cmd := exec.Command(tshark, "-r", pcap)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // "Running as user root" and other notes
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s%s", pcap, err, out, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != want {
		t.Errorf("tshark -r %s: %d lines, want %d packets:\n%s", pcap, len(lines), want, out)
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// buildNetssm builds the netssm binary once per test run.
func buildNetssm(t *testing.T) string {
	t.Helper()
	goTool := testenv.NeedTool(t, "go")
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "netssm-nbtest-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command(goTool, "build", "-o", filepath.Join(buildDir, "netssm"), "github.com/netssm/netssm/cmd/netssm").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "netssm")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestRunNotebooks executes quickstart, finetune and gpu with netssm run on
// a fresh work folder and checks what they produced.
func TestRunNotebooks(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two tiny models (about 3 minutes on 2 cores); skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin := buildNetssm(t)
	work := t.TempDir()

	nb := runNotebook(t, ctx, bin, "quickstart.ipynb", work)
	out, mimes := allText(nb)
	if !strings.Contains(out, "resumed from step 90") {
		t.Errorf("quickstart: training did not resume from the step-90 checkpoint; outputs:\n%s", out)
	}
	if mimes["image/png"] < 2 {
		t.Errorf("quickstart: %d PNG outputs, want the loss curve and the comparison plots", mimes["image/png"])
	}
	checkLossFell(t, filepath.Join(work, "quickstart", "model", "*_epochs"))
	syn := filepath.Join(work, "quickstart", "synthetic.pcap")
	if n := countPackets(t, syn); n != 50 {
		t.Errorf("%s: %d packets, want 50", syn, n)
	}
	tr, err := netssmlib.ReadTrace(ctx, syn)
	if err != nil {
		t.Fatal(err)
	}
	ip := 0
	for _, p := range tr.Packets {
		if p.IP {
			ip++
		}
	}
	if ip < 25 {
		t.Errorf("%s: only %d of %d packets decode as IP", syn, ip, len(tr.Packets))
	}
	checkTshark(t, syn, 50)

	nb = runNotebook(t, ctx, bin, "finetune.ipynb", work)
	checkLossFell(t, filepath.Join(work, "finetune", "model", "*_epochs"))
	tok, err := tokenizer.Load(filepath.Join(work, "finetune", "tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tok.Labels(), ","); got != "web,snap60" {
		t.Errorf("fine-tuned tokenizer labels %q, want web,snap60", got)
	}
	ft := filepath.Join(work, "finetune", "synthetic.pcap")
	if n := countPackets(t, ft); n != 20 {
		t.Errorf("%s: %d packets, want 20", ft, n)
	}
	checkTshark(t, ft, 20)
	_ = nb

	nb = runNotebook(t, ctx, bin, "gpu.ipynb", work)
	out, _ = allText(nb)
	if netssmlib.CheckDevice("cuda") != nil && !strings.Contains(out, "Stopping here") {
		t.Errorf("gpu: no GPU here but the notebook did not say so; outputs:\n%s", out)
	}
}
