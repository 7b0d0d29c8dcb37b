package server_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netssm/netssm/internal/testenv"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// netssmBinary builds cmd/netssm once per test run: the real clients
// drive the real `netssm kernel` with its child processes.
func netssmBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "netssm-server-test-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "netssm"), "github.com/netssm/netssm/cmd/netssm")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/netssm: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "netssm")
}

var urlLine = regexp.MustCompile(`^\s+(http://[^/\s]+)/(?:\?token=(\S+))?$`)

// startNetssmKernel runs `netssm kernel -port 0 ARGS...` and returns its
// base URL and token. It is stopped (SIGTERM) when the test ends.
func startNetssmKernel(t *testing.T, args ...string) (url, token string) {
	t.Helper()
	bin := netssmBinary(t)
	cmd := exec.Command(bin, append([]string{"kernel", "-port", "0"}, args...)...)
	cmd.Dir = t.TempDir()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return stderr.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("netssm kernel exited with %v", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("netssm kernel did not stop on SIGINT")
			<-done
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("netssm kernel stderr:\n%s", stderr.String())
			mu.Unlock()
		}
	})
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- [2]string{m[1], m[2]}:
				default:
				}
			}
		}
	}()
	select {
	case f := <-found:
		return f[0], f[1]
	case <-time.After(30 * time.Second):
		t.Fatal("netssm kernel printed no URL")
	}
	return "", ""
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var goScenario = scenario{
	print:      "import \"fmt\"\nimport \"os\"\nfmt.Println(\"hello\")\nfmt.Fprintln(os.Stderr, \"warn\")\n40 + 2",
	png:        "import \"bytes\"\nimport \"image\"\nimport \"image/png\"\nimport \"github.com/netssm/netssm/stdlib/display\"\nvar buf bytes.Buffer\npng.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)))\ndisplay.Display(display.PNG(buf.Bytes()))",
	fail:       "panic(\"boom\")",
	setVar:     "v := \"kept\"",
	loop:       "for {\n}",
	getVar:     "v",
	wantResult: "42",
	wantVar:    "kept",
}

// TestJupyterLabServicesReal drives the real `netssm kernel` (child
// processes running yaegi) with @jupyterlab/services, in both framings.
func TestJupyterLabServicesReal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs netssm (slow)")
	}
	url, token := startNetssmKernel(t)
	for _, framing := range []string{"v1", "legacy"} {
		t.Run(framing, func(t *testing.T) {
			out := runDriver(t, url, token, framing, goScenario.steps())
			checkScenario(t, framing, goScenario, out)
		})
	}
}

// TestJupyterServerGatewayReal: Debian's jupyter-server with --gateway-url
// in front of `netssm kernel` executes a notebook of Go cells.
func TestJupyterServerGatewayReal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds netssm and starts jupyter-server (slow)")
	}
	py := needPython(t, "jupyter_server", "tornado", "nbformat")
	url, token := startNetssmKernel(t)
	front, ftoken := startFrontServer(t, py, url, token)
	nb, _ := filepath.Abs("testdata/gateway/go.ipynb")
	out := runFrontClient(t, py, front, ftoken, nb)
	if out.Kernel.Name != "netssm" || out.Info.LanguageInfo["name"] != "go" || len(out.Cells) != 2 {
		t.Fatalf("front client saw %+v", out)
	}
	c := out.Cells[0]
	if c.Reply["status"] != "ok" || len(c.Outputs) != 3 || c.Outputs[1].Content["text"] != "hello\n" ||
		c.Outputs[2].Content["data"].(map[string]any)["text/plain"] != "42" {
		t.Fatalf("cell 1: %+v", c)
	}
	c = out.Cells[1]
	if c.Reply["status"] != "ok" || len(c.Outputs) != 2 || c.Outputs[1].Content["data"].(map[string]any)["text/html"] != "<b>bold</b>" {
		t.Fatalf("cell 2: %+v", c)
	}
	if len(out.After) != 0 {
		t.Fatalf("kernel not shut down through the front server: %v", out.After)
	}
}

// TestNbconvertGatewayReal: nbconvert --execute with jupyter_server's
// GatewayKernelManager against `netssm kernel -token ''`.
func TestNbconvertGatewayReal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds netssm and runs nbconvert (slow)")
	}
	py := needPython(t, "jupyter_server", "nbconvert", "nbclient", "nbformat")
	url, _ := startNetssmKernel(t, "-token", "")
	nb, _ := filepath.Abs("testdata/gateway/go.ipynb")
	outPath, logs, err := runNbconvert(t, py, url, "", nb)
	if err != nil {
		t.Fatalf("nbconvert: %v\n%s", err, logs)
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{`"hello\n"`, `"42"`, `"<b>bold</b>"`, `"execution_count": 2`} {
		if !strings.Contains(s, want) {
			t.Fatalf("executed notebook lacks %s:\n%s", want, s)
		}
	}
}
