package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/kernel/kerneltest"
)

// needPython returns Debian's python3 after checking that the modules
// exist (the python3 on PATH may be a pyenv without them).
func needPython(t *testing.T, modules ...string) string {
	t.Helper()
	py := testenv.NeedTool(t, "/usr/bin/python3")
	out, err := exec.Command(py, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput()
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true but Debian python lacks %v: %s", modules, out)
		}
		t.Skipf("skipping: Debian python lacks %v: %s", modules, out)
	}
	return py
}

// freePort returns a free loopback port for a child that needs a number.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// isolatedEnv keeps Jupyter's config and runtime files in dir.
func isolatedEnv(dir string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "JUPYTER") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "PYTHON") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+dir, "JUPYTER_CONFIG_DIR="+filepath.Join(dir, "config"),
		"JUPYTER_DATA_DIR="+filepath.Join(dir, "data"), "JUPYTER_RUNTIME_DIR="+filepath.Join(dir, "runtime"),
		"JUPYTER_PLATFORM_DIRS=1")
}

// startFrontServer runs Debian's jupyter-server with --gateway-url in front
// of the kernel server at gatewayURL and returns its URL and token.
func startFrontServer(t *testing.T, py, gatewayURL, gatewayToken string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	token := "front" + fmt.Sprint(time.Now().UnixNano())
	var logs bytes.Buffer
	cmd := exec.Command(py, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
		fmt.Sprintf("--port=%d", port), "--ServerApp.port_retries=0", "--ServerApp.token="+token,
		"--ServerApp.root_dir="+dir, "--gateway-url="+gatewayURL, "--GatewayClient.auth_token="+gatewayToken,
		"--GatewayClient.request_timeout=60")
	cmd.Env = isolatedEnv(dir)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("jupyter-server log:\n%s", logs.String())
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest("GET", url+"/api/kernelspecs", nil)
		req.Header.Set("Authorization", "token "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var specs struct {
				Default string `json:"default"`
			}
			json.NewDecoder(resp.Body).Decode(&specs)
			resp.Body.Close()
			if resp.StatusCode == 200 && specs.Default == "netssm" {
				return url, token
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jupyter-server did not serve the gateway's kernelspecs: %v\n%s", err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// FrontOutput is what testdata/gateway/front_client.py saw.
type FrontOutput struct {
	Kernel struct{ ID, Name string }
	Info   struct {
		LanguageInfo map[string]any `json:"language_info"`
	}
	Cells []struct {
		Reply   map[string]any
		Outputs []struct {
			Type    string
			Content map[string]any
		}
	}
	Listed, After []string
}

func runFrontClient(t *testing.T, py, url, token, notebook string) *FrontOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/gateway/front_client.py", url, token, notebook)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("front_client.py: %v\n%s", err, stderr.String())
	}
	var out FrontOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("front_client.py output: %v\n%s", err, stdout.String())
	}
	return &out
}

// runNbconvert executes notebook with nbconvert/nbclient using jupyter_server's
// GatewayKernelManager pointed at our server (no front server).
func runNbconvert(t *testing.T, py, url, token, notebook string) (outPath string, stderr string, err error) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-m", "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name=netssm",
		"--ExecutePreprocessor.kernel_manager_class=jupyter_server.gateway.managers.GatewayKernelManager",
		"--ExecutePreprocessor.timeout=60", "--output-dir="+dir, "--output=out", notebook)
	cmd.Env = append(isolatedEnv(dir), "JUPYTER_GATEWAY_URL="+url, "JUPYTER_GATEWAY_AUTH_TOKEN="+token)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	err = cmd.Run()
	return filepath.Join(dir, "out.ipynb"), errb.String(), err
}

func TestJupyterServerGatewayFake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts jupyter-server (slow)")
	}
	py := needPython(t, "jupyter_server", "tornado", "nbformat")
	s := fakeServer(t, serverOptions())
	front, ftoken := startFrontServer(t, py, s.URL, s.Token)
	nb, _ := filepath.Abs("testdata/gateway/fake.ipynb")
	out := runFrontClient(t, py, front, ftoken, nb)
	if out.Kernel.Name != "netssm" || out.Info.LanguageInfo["name"] != "go" || len(out.Cells) != 2 {
		t.Fatalf("front client saw %+v", out)
	}
	c := out.Cells[0]
	if c.Reply["status"] != "ok" || len(c.Outputs) < 3 {
		t.Fatalf("cell 1: %+v", c)
	}
	var kinds []string
	for _, o := range c.Outputs {
		kinds = append(kinds, o.Type)
	}
	if strings.Join(kinds, ",") != "execute_input,stream,execute_result" {
		t.Fatalf("cell 1 outputs %v", kinds)
	}
	if out.Cells[1].Reply["status"] != "ok" || out.Cells[1].Outputs[1].Type != "display_data" {
		t.Fatalf("cell 2: %+v", out.Cells[1])
	}
	if len(out.Listed) != 1 || out.Listed[0] != out.Kernel.ID || len(out.After) != 0 {
		t.Fatalf("kernel list through the front server: %v then %v", out.Listed, out.After)
	}
}

func TestNbconvertGatewayFake(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nbconvert (slow)")
	}
	py := needPython(t, "jupyter_server", "nbconvert", "nbclient", "nbformat")
	// jupyter_server 1.23's GatewayKernelClient opens the websocket
	// without the token, so this client needs `netssm kernel -token ''`.
	s := kerneltest.NewUnauthenticatedServer(t, fakeOptions())
	nb, _ := filepath.Abs("testdata/gateway/fake.ipynb")
	outPath, logs, err := runNbconvert(t, py, s.URL, s.Token, nb)
	if err != nil {
		t.Fatalf("nbconvert: %v\n%s", err, logs)
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Cells []struct {
			Outputs []map[string]any `json:"outputs"`
		} `json:"cells"`
	}
	json.Unmarshal(data, &out)
	if len(out.Cells) != 2 || len(out.Cells[0].Outputs) != 2 || fmt.Sprint(out.Cells[0].Outputs[0]["text"]) != "[hello\n]" ||
		out.Cells[0].Outputs[1]["output_type"] != "execute_result" || len(out.Cells[1].Outputs) != 1 {
		t.Fatalf("executed notebook: %s", data)
	}
}
