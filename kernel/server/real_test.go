package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/kerneltest"
	"github.com/netssm/netssm/kernel/proc"
	"github.com/netssm/netssm/kernel/server"
	"github.com/netssm/netssm/kernel/wire"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// TestMain also makes the test binary a kernel child (kernel/proc
// re-executes it with proc.ChildEnv set) for the in-process real-engine tests.
func TestMain(m *testing.M) {
	if os.Getenv(proc.ChildEnv) == "1" {
		os.Exit(proc.ChildMain())
	}
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
// GatewayKernelManager against `netssm kernel -token ”`.
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

// procServer serves real kernels (child processes of this test binary)
// in process.
func procServer(t testing.TB) *kerneltest.Server {
	return kerneltest.NewServer(t, server.Options{NewEngine: func(ctx context.Context, o server.StartOptions) (dispatch.Engine, error) {
		k, err := proc.Start(ctx, proc.Options{Exe: os.Args[0], Args: []string{"-test.run=^$"}, Dir: o.Dir})
		if err != nil {
			return nil, err
		}
		return k, nil
	}})
}

// TestKernelDeathIsContained: os.Exit in a cell ends only that kernel's
// child; the client is told, the kernel restarts, the server and another
// kernel carry on.
func TestKernelDeathIsContained(t *testing.T) {
	s := procServer(t)
	ctx := kerneltest.Timeout(t, 60*time.Second)
	a, b := s.StartKernel(t), s.StartKernel(t)
	ca, err := s.Dial(ctx, a, true)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := s.Dial(ctx, b, false)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := cb.Execute(ctx, "y := 7"); err != nil || r.Content()["status"] != "ok" {
		t.Fatalf("kernel b: %v %v", err, r)
	}
	r, err := ca.Execute(ctx, "import \"os\"\nos.Exit(3)")
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Content(); c["status"] != "error" || c["ename"] != "DeadKernelError" || !strings.Contains(fmt.Sprint(c["evalue"]), "exit status 3") {
		t.Fatalf("os.Exit reply %v", c)
	}
	var states []string
	for _, m := range r.IOPub {
		if m.Header.MsgType == "status" {
			states = append(states, string(m.Content))
		}
	}
	if !strings.Contains(strings.Join(states, ","), "restarting") {
		t.Fatalf("no restarting status: %v", states)
	}
	if r, err := ca.Execute(ctx, "1 + 1"); err != nil || r.Content()["status"] != "ok" {
		t.Fatalf("kernel a after restart: %v %v", err, r)
	}
	r, err = cb.Execute(ctx, "y")
	if err != nil || r.Content()["status"] != "ok" {
		t.Fatalf("kernel b after a died: %v %v", err, r)
	}
	found := false
	for _, m := range r.IOPub {
		found = found || (m.Header.MsgType == "execute_result" && strings.Contains(string(m.Content), `"7"`))
	}
	if !found {
		t.Fatal("kernel b lost its state when kernel a died")
	}
}

// TestInputRequestReal: a cell reading os.Stdin gets an input_request
// when the client allows stdin.
func TestInputRequestReal(t *testing.T) {
	s := procServer(t)
	ctx := kerneltest.Timeout(t, 60*time.Second)
	c, err := s.Dial(ctx, s.StartKernel(t), true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Send(ctx, wire.Shell, "execute_request", map[string]any{
		"code": "import \"bufio\"\nimport \"os\"\nimport \"fmt\"\nline, _ := bufio.NewReader(os.Stdin).ReadString('\\n')\nfmt.Print(\"got \" + line)", "allow_stdin": true})
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.Wait(ctx, func(x *wire.Message) bool { return x.Header.MsgType == "input_request" })
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := wire.NewMessage(wire.Stdin, "input_reply", "client", &req.Header, wire.InputReply{Value: "gopher"})
	if err := c.SendMsg(ctx, reply); err != nil {
		t.Fatal(err)
	}
	r, err := c.Await(ctx, m)
	if err != nil || r.Content()["status"] != "ok" {
		t.Fatalf("execute: %v %v", err, r)
	}
	var text string
	for _, x := range r.IOPub {
		if x.Header.MsgType == "stream" {
			text += string(x.Content)
		}
	}
	if !strings.Contains(text, "got gopher") {
		t.Fatalf("stdin value not seen by the cell: %s", text)
	}
}

// TestNetssmRun executes a notebook with `netssm run`: outputs and counts
// are written as valid nbformat 4 (checked by Debian's nbformat), the run
// stops at the failing cell, names it and exits non-zero.
func TestNetssmRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds netssm (slow)")
	}
	bin := netssmBinary(t)
	out := filepath.Join(t.TempDir(), "out.ipynb")
	cmd := exec.Command(bin, "run", "testdata/run/fails.ipynb", "-o", out, "-timeout", "60s")
	msg, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("netssm run: %v, want exit status 1\n%s", err, msg)
	}
	if !strings.Contains(string(msg), "cell 4 (code cell 3) failed") || !strings.Contains(string(msg), "nil map") {
		t.Fatalf("error does not name the failing cell:\n%s", msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			ExecutionCount *int             `json:"execution_count"`
			Outputs        []map[string]any `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		t.Fatal(err)
	}
	c := nb.Cells
	if len(c) != 5 || c[1].Outputs[0]["text"] != "line 0\nline 1\nline 2\n" || c[1].Outputs[1]["output_type"] != "execute_result" || *c[1].ExecutionCount != 1 {
		t.Fatalf("cell 2: %+v", c[1])
	}
	if len(c[2].Outputs) != 1 || c[2].Outputs[0]["data"].(map[string]any)["text/plain"] != "100%" {
		t.Fatalf("cell 3 (updated display): %+v", c[2].Outputs)
	}
	if len(c[3].Outputs) != 1 || c[3].Outputs[0]["output_type"] != "error" || *c[3].ExecutionCount != 3 {
		t.Fatalf("cell 4: %+v", c[3])
	}
	if c[4].ExecutionCount != nil || len(c[4].Outputs) != 0 {
		t.Fatalf("cell 5 ran after the error: %+v", c[4])
	}
	py := needPython(t, "nbformat")
	if v, err := exec.Command(py, "-c", "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4))", out).CombinedOutput(); err != nil {
		t.Fatalf("nbformat.validate: %v\n%s", err, v)
	}
}
