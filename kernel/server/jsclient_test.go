package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/netssm/netssm/internal/testenv"
)

// DriverStep is one action of testdata/js/driver.js.
type DriverStep struct {
	Op      string `json:"op"`
	Code    string `json:"code,omitempty"`
	AfterMs int    `json:"afterMs,omitempty"`
}

// DriverOutput is what the JupyterLab client saw.
type DriverOutput struct {
	Specs struct {
		Default, DisplayName, Language string
		Names                          []string
	} `json:"specs"`
	Info struct {
		ProtocolVersion string         `json:"protocol_version"`
		LanguageInfo    map[string]any `json:"language_info"`
	} `json:"info"`
	Protocol string `json:"protocol"`
	Steps    []struct {
		Op            string           `json:"op"`
		IOPub         []map[string]any `json:"iopub"`
		Reply         map[string]any   `json:"reply"`
		Ms            float64          `json:"ms"`
		InterruptMs   float64          `json:"interruptMs"`
		Status        string           `json:"status"`
		Running       []string         `json:"running"`
		SessionKernel string           `json:"sessionKernel"`
		Listed        []string         `json:"listed"`
	} `json:"steps"`
	Statuses []string `json:"statuses"`
}

// runDriver runs the @jupyterlab/services driver against baseURL.
func runDriver(t *testing.T, baseURL, token, framing string, steps []DriverStep) *DriverOutput {
	t.Helper()
	node := testenv.NeedTool(t, "node")
	dir := filepath.Join(testenv.RepoRoot(), "kernel", "server", "testdata", "js")
	if _, err := exec.Command("test", "-d", filepath.Join(dir, "node_modules", "@jupyterlab", "services")).CombinedOutput(); err != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true but %s/node_modules is missing (.ci/setup.d/npm.sh runs npm ci)", dir)
		}
		t.Skipf("skipping: run 'npm ci' in %s", dir)
	}
	cfg, _ := json.Marshal(map[string]any{"baseUrl": baseURL, "token": token, "framing": framing, "steps": steps, "timeoutMs": 90000})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "driver.js")
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "NETSSM_DRIVER="+string(cfg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("driver (%s framing): %v\nstderr:\n%s", framing, err, stderr.String())
	}
	var out DriverOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("driver output: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return &out
}

// Cells of the standard driver scenario in one engine's language.
type scenario struct {
	print, png, fail, setVar, loop, getVar string
	wantResult, wantVar                    string // text/plain of print's result and of getVar
}

func (sc scenario) steps() []DriverStep {
	return []DriverStep{
		{Op: "execute", Code: sc.print},
		{Op: "execute", Code: sc.png},
		{Op: "execute", Code: sc.fail},
		{Op: "execute", Code: sc.setVar},
		{Op: "interrupt", Code: sc.loop, AfterMs: 300},
		{Op: "execute", Code: sc.getVar},
		{Op: "restart"},
		{Op: "execute", Code: sc.getVar},
		{Op: "session", Code: sc.print},
		{Op: "shutdown"},
	}
}

func find(iopub []map[string]any, typ string, pred func(map[string]any) bool) bool {
	for _, m := range iopub {
		if m["type"] == typ && (pred == nil || pred(m)) {
			return true
		}
	}
	return false
}

func textIs(want string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		d, _ := m["data"].(map[string]any)
		return d["text/plain"] == want
	}
}

func checkScenario(t *testing.T, framing string, sc scenario, out *DriverOutput) {
	t.Helper()
	wantProto := "v1.kernel.websocket.jupyter.org"
	if framing == "legacy" {
		wantProto = ""
	}
	if out.Protocol != wantProto {
		t.Errorf("negotiated protocol %q, want %q", out.Protocol, wantProto)
	}
	if out.Specs.Default != "netssm" || out.Info.ProtocolVersion != "5.3" || out.Info.LanguageInfo["name"] != "go" {
		t.Errorf("specs %+v info %+v", out.Specs, out.Info)
	}
	if len(out.Steps) != 10 {
		t.Fatalf("%d steps, want 10", len(out.Steps))
	}
	s := out.Steps
	if s[0].Reply["status"] != "ok" ||
		!find(s[0].IOPub, "stream", func(m map[string]any) bool { return m["name"] == "stdout" }) ||
		!find(s[0].IOPub, "stream", func(m map[string]any) bool { return m["name"] == "stderr" }) ||
		!find(s[0].IOPub, "execute_result", textIs(sc.wantResult)) {
		t.Errorf("print cell: reply %v iopub %v", s[0].Reply, s[0].IOPub)
	}
	if !find(s[1].IOPub, "display_data", func(m map[string]any) bool {
		d, _ := m["data"].(map[string]any)
		png, _ := d["image/png"].(string)
		return len(png) > 20
	}) {
		t.Errorf("png cell: iopub %v", s[1].IOPub)
	}
	if s[2].Reply["status"] != "error" || !find(s[2].IOPub, "error", nil) {
		t.Errorf("error cell: reply %v iopub %v", s[2].Reply, s[2].IOPub)
	}
	if s[4].Reply["status"] != "error" || s[4].InterruptMs > 1000 {
		t.Errorf("interrupt: reply %v after %v ms", s[4].Reply, s[4].InterruptMs)
	}
	if s[5].Reply["status"] != "ok" || !find(s[5].IOPub, "execute_result", textIs(sc.wantVar)) {
		t.Errorf("state after interrupt: reply %v iopub %v", s[5].Reply, s[5].IOPub)
	}
	if s[6].Status == "dead" {
		t.Errorf("restart: status %s", s[6].Status)
	}
	if find(s[7].IOPub, "execute_result", textIs(sc.wantVar)) {
		t.Errorf("state survived restart: %v", s[7].IOPub)
	}
	if s[8].SessionKernel != "netssm" || s[8].Reply["status"] != "ok" || len(s[8].Listed) != 1 || s[8].Listed[0] != "driver.ipynb" {
		t.Errorf("session: %+v", s[8])
	}
	if len(s[9].Running) != 0 {
		t.Errorf("kernels still running after shutdown: %v", s[9].Running)
	}
}

var fakeScenario = scenario{
	print: "out hello\nerr warn\n= 42", png: "png", fail: "panic boom",
	setVar: "set v kept", loop: "loop", getVar: "= v",
	wantResult: "42", wantVar: "kept",
}

// TestJupyterLabServicesFake runs the unmodified JupyterLab client against
// the server with the fake engine, in both framings.
func TestJupyterLabServicesFake(t *testing.T) {
	s := fakeServer(t, serverOptions())
	for _, framing := range []string{"v1", "legacy"} {
		t.Run(framing, func(t *testing.T) {
			out := runDriver(t, s.URL, s.Token, framing, fakeScenario.steps())
			checkScenario(t, framing, fakeScenario, out)
		})
	}
}
