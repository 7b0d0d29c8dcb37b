package zmq

// Tests with Debian's Jupyter tools launching the installed kernelspec:
// jupyter_kernel_test, jupyter_client's KernelManager (interrupt in both
// modes, restart, shutdown), `jupyter run`, nbconvert --execute and
// jupyter console driven in tmux. They build the netssm binary once.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netssm/netssm/internal/testenv"
)

// python is Debian's interpreter, which has the python3-* Jupyter modules
// (the python3 on PATH may be another one).
const python = "/usr/bin/python3"

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

// netssmBinary builds cmd/netssm once for the package's tests.
func netssmBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: builds netssm and runs Jupyter (slow); run without -short")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "netssm-zmq-test-")
		if buildErr != nil {
			return
		}
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(gobin, "build", "-o", filepath.Join(buildDir, "netssm"), "github.com/netssm/netssm/cmd/netssm")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "netssm")
}

// needPython checks that Debian's python3 has the modules, or skips
// (fails under CI=true, where .ci/run installs them).
func needPython(t *testing.T, modules ...string) {
	t.Helper()
	testenv.NeedTool(t, python)
	for _, m := range modules {
		if out, err := exec.Command(python, "-c", "import "+m).CombinedOutput(); err != nil {
			msg := fmt.Sprintf("python module %s is not installed for %s (see .ci/apt-packages.txt): %s", m, python, bytes.TrimSpace(out))
			if testenv.InCI() {
				t.Fatal("CI=true but " + msg)
			}
			t.Skip("skipping: " + msg)
		}
	}
}

// jupyterEnv is a Jupyter environment isolated in a temp folder, with the
// kernelspec installed by `netssm kernelspec install -prefix`.
type jupyterEnv struct {
	t      *testing.T
	bin    string
	prefix string
	env    []string
}

func newJupyterEnv(t *testing.T) *jupyterEnv {
	t.Helper()
	bin := netssmBinary(t)
	dir := t.TempDir()
	j := &jupyterEnv{t: t, bin: bin, prefix: filepath.Join(dir, "prefix")}
	j.env = append(os.Environ(),
		"JUPYTER_PATH="+filepath.Join(j.prefix, "share", "jupyter"),
		"JUPYTER_DATA_DIR="+filepath.Join(dir, "data"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(dir, "runtime"),
		"JUPYTER_CONFIG_DIR="+filepath.Join(dir, "config"),
		"PYDEVD_DISABLE_FILE_VALIDATION=1",
	)
	return j
}

func (j *jupyterEnv) install(name, mode string) {
	j.t.Helper()
	out, err := j.netssm("kernelspec", "install", "-prefix", j.prefix, "-name", name, "-interrupt-mode", mode)
	if err != nil {
		j.t.Fatalf("kernelspec install: %v\n%s", err, out)
	}
}

func (j *jupyterEnv) netssm(args ...string) (string, error) {
	cmd := exec.Command(j.bin, args...)
	cmd.Env = j.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// python runs Debian's python3 with args in dir, with a deadline.
func (j *jupyterEnv) python(dir string, timeout time.Duration, extraEnv []string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), j.env...), extraEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return o.String(), e.String(), err
}

func testdataDir(t *testing.T) string {
	d, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestKernelspecCommand(t *testing.T) {
	needPython(t, "jupyter_client")
	j := newJupyterEnv(t)
	j.install("netssm", "signal")
	dir := filepath.Join(j.prefix, "share", "jupyter", "kernels", "netssm")
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Argv          []string `json:"argv"`
		DisplayName   string   `json:"display_name"`
		Language      string   `json:"language"`
		InterruptMode string   `json:"interrupt_mode"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	wantArgv := []string{j.bin, "zmq-kernel", "-f", "{connection_file}"}
	if fmt.Sprint(spec.Argv) != fmt.Sprint(wantArgv) || spec.DisplayName != "Go (netssm)" || spec.Language != "go" || spec.InterruptMode != "signal" {
		t.Errorf("kernel.json = %s", b)
	}
	for _, size := range []int{32, 64} {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("logo-%dx%d.png", size, size)))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != size || cfg.Height != size {
			t.Errorf("logo %d: %+v %v", size, cfg, err)
		}
	}
	// Jupyter itself finds it, with its logos as resources.
	out, errOut, err := j.python("", time.Minute, nil, "-m", "jupyter_client.kernelspecapp", "list", "--json")
	if err != nil {
		t.Fatalf("kernelspec list: %v\n%s", err, errOut)
	}
	var list struct {
		Kernelspecs map[string]struct {
			ResourceDir string         `json:"resource_dir"`
			Spec        map[string]any `json:"spec"`
		} `json:"kernelspecs"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if ks, ok := list.Kernelspecs["netssm"]; !ok || ks.ResourceDir != dir || ks.Spec["display_name"] != "Go (netssm)" {
		t.Errorf("jupyter kernelspec list: %s", out)
	}

	// Usage errors exit 2 and say why.
	for _, args := range [][]string{
		{"kernelspec"},
		{"kernelspec", "frobnicate"},
		{"kernelspec", "install", "-user", "-prefix", j.prefix},
		{"kernelspec", "install", "-prefix", j.prefix, "-interrupt-mode", "telepathy"},
		{"kernelspec", "install", "-prefix", j.prefix, "-name", "../evil"},
		{"zmq-kernel"},
	} {
		cmd := exec.Command(j.bin, args...)
		cmd.Env = j.env
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("netssm %q: %v (want exit 2)\n%s", args, err, out)
		}
	}
	// A missing connection file is an error naming it (exit 1).
	if out, err := j.netssm("zmq-kernel", "-f", filepath.Join(j.prefix, "nope.json")); err == nil || !strings.Contains(out, "nope.json") {
		t.Errorf("missing connection file: %v %s", err, out)
	}

	// remove deletes it; a second remove fails; a foreign kernelspec of
	// the same name is left alone.
	if out, err := j.netssm("kernelspec", "remove", "-prefix", j.prefix); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("remove: %v %s", err, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after remove: %v", dir, err)
	}
	if out, err := j.netssm("kernelspec", "remove", "-prefix", j.prefix); err == nil {
		t.Errorf("second remove succeeded: %s", out)
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "kernel.json"), []byte(`{"argv":["python3","-m","ipykernel_launcher","-f","{connection_file}"],"display_name":"Python","language":"python"}`), 0o644)
	if out, err := j.netssm("kernelspec", "remove", "-prefix", j.prefix); err == nil || !strings.Contains(out, "not a netssm kernel") {
		t.Errorf("removing a foreign kernelspec: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "kernel.json")); err != nil {
		t.Errorf("foreign kernelspec was removed: %v", err)
	}
}

// TestJupyterKernelTest runs the jupyter_kernel_test conformance suite
// (testdata/test_netssm_kernel.py) against the installed kernelspec.
func TestJupyterKernelTest(t *testing.T) {
	needPython(t, "jupyter_client", "jupyter_kernel_test")
	j := newJupyterEnv(t)
	j.install("netssm", "message")
	stdout, stderr, err := j.python(testdataDir(t), 5*time.Minute, nil, "-m", "unittest", "-v", "test_netssm_kernel")
	t.Logf("jupyter_kernel_test:\n%s", stderr)
	if err != nil {
		t.Fatalf("jupyter_kernel_test failed: %v\n%s", err, stdout)
	}
	// Every sample is filled in: the only skip is test_pager (Go has no
	// pager payload), and all 12 tests ran.
	if !strings.Contains(stderr, "Ran 12 tests") || !strings.Contains(stderr, "OK (skipped=1)") {
		t.Errorf("unexpected summary (want 12 tests, OK, 1 skipped)")
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "skipped") && strings.HasPrefix(line, "test_") && !strings.HasPrefix(line, "test_pager") {
			t.Errorf("skipped: %s", line)
		}
	}
}

// lifecycle is what testdata/lifecycle.py reports.
type lifecycle struct {
	InterruptMode      string  `json:"interrupt_mode"`
	InterruptSeconds   float64 `json:"interrupt_seconds"`
	InterruptStatus    string  `json:"interrupt_status"`
	InterruptEName     string  `json:"interrupt_ename"`
	AfterInterrupt     string  `json:"after_interrupt"`
	RestartNewProcess  bool    `json:"restart_new_process"`
	AfterRestartStatus string  `json:"after_restart_status"`
	AfterRestartResult string  `json:"after_restart_result"`
	ShutdownExitCode   *int    `json:"shutdown_exit_code"`
}

// TestLifecycle interrupts a `for {}` cell, restarts and shuts down through
// jupyter_client's KernelManager, with interrupt_mode signal and message.
func TestLifecycle(t *testing.T) {
	needPython(t, "jupyter_client")
	j := newJupyterEnv(t)
	for _, mode := range []string{"message", "signal"} {
		t.Run(mode, func(t *testing.T) {
			name := "netssm-" + mode
			j.install(name, mode)
			stdout, stderr, err := j.python(testdataDir(t), 2*time.Minute, []string{"NETSSM_KERNEL_NAME=" + name}, "lifecycle.py")
			if err != nil {
				t.Fatalf("lifecycle.py: %v\n%s\n%s", err, stdout, stderr)
			}
			var r lifecycle
			if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
				t.Fatalf("%v: %s\n%s", err, stdout, stderr)
			}
			t.Logf("%+v", r)
			if r.InterruptMode != mode {
				t.Errorf("interrupt_mode %q", r.InterruptMode)
			}
			// The contract: a running cell stops within 1 s of the interrupt
			// (a generous bound here: CI machines are shared).
			if r.InterruptStatus != "error" || r.InterruptEName != "Interrupted" || r.InterruptSeconds > 5 {
				t.Errorf("interrupt: status %q ename %q after %.2fs", r.InterruptStatus, r.InterruptEName, r.InterruptSeconds)
			}
			if r.AfterInterrupt != "42" {
				t.Errorf("state after interrupt: x+1 = %q, want 42", r.AfterInterrupt)
			}
			if !r.RestartNewProcess || r.AfterRestartStatus != "error" || r.AfterRestartResult != "42" {
				t.Errorf("restart: new process %v, old x gives %q, new cell %q", r.RestartNewProcess, r.AfterRestartStatus, r.AfterRestartResult)
			}
			if r.ShutdownExitCode == nil || *r.ShutdownExitCode != 0 {
				t.Errorf("shutdown: exit code %v, want 0 (the kernel exits by itself, not killed)", r.ShutdownExitCode)
			}
		})
	}
}

// TestJupyterRun runs a Go file with `jupyter run` (jupyter_client's
// runapp; Debian ships no jupyter-run script).
func TestJupyterRun(t *testing.T) {
	needPython(t, "jupyter_client")
	j := newJupyterEnv(t)
	j.install("netssm", "message")
	src := filepath.Join(t.TempDir(), "squares.go")
	code := "import \"fmt\"\nfunc sq(n int) int { return n * n }\nfor i := 1; i <= 3; i++ {\n\tfmt.Println(\"sq\", i, sq(i))\n}\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := j.python("", 2*time.Minute, nil, "-m", "jupyter_client.runapp", "--kernel=netssm", src)
	if err != nil {
		t.Fatalf("jupyter run: %v\n%s\n%s", err, stdout, stderr)
	}
	if want := "sq 1 1\nsq 2 4\nsq 3 9\n"; stdout != want {
		t.Errorf("jupyter run printed %q, want %q\nstderr: %s", stdout, want, stderr)
	}
}

// TestNbconvertExecute executes testdata/quickstart.ipynb through the
// kernelspec named in its metadata.
func TestNbconvertExecute(t *testing.T) {
	needPython(t, "nbconvert", "nbclient", "nbformat")
	j := newJupyterEnv(t)
	j.install("netssm", "message")
	out := t.TempDir()
	_, stderr, err := j.python("", 3*time.Minute, nil, "-m", "nbconvert", "--to", "notebook", "--execute",
		"--output-dir", out, filepath.Join(testdataDir(t), "quickstart.ipynb"))
	if err != nil {
		t.Fatalf("nbconvert --execute: %v\n%s", err, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "quickstart.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			CellType       string           `json:"cell_type"`
			ExecutionCount *int             `json:"execution_count"`
			Outputs        []map[string]any `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		for _, o := range c.Outputs {
			switch o["output_type"] {
			case "stream":
				got = append(got, fmt.Sprintf("stream %v %q", o["name"], nbText(o["text"])))
			case "execute_result", "display_data":
				data, _ := o["data"].(map[string]any)
				for _, mime := range []string{"text/html", "text/markdown", "text/plain"} {
					if v, ok := data[mime]; ok {
						got = append(got, fmt.Sprintf("%v %s %q", o["output_type"], mime, nbText(v)))
						break
					}
				}
			default:
				got = append(got, fmt.Sprintf("%v %v", o["output_type"], o))
			}
		}
	}
	want := []string{
		`stream stdout "HELLO, NETSSM!\n"`,
		`execute_result text/plain "3180"`,
		`display_data text/markdown "**5 packets**, 3180 bytes"`,
		`execute_result text/html "<table><tr><td>mean</td><td>636</td></tr></table>"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outputs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// nbText joins an nbformat multi-line string (a string or a list of them).
func nbText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var b strings.Builder
		for _, s := range v {
			fmt.Fprint(&b, s)
		}
		return b.String()
	}
	return fmt.Sprint(v)
}

// tmux drives a terminal program on a private tmux server.
type tmux struct {
	t      *testing.T
	socket string
}

// cmd is a tmux command on the private server. TERM is set: tmux
// refuses to start without one (CI shells have none).
func (m *tmux) cmd(args ...string) *exec.Cmd {
	c := exec.Command("tmux", append([]string{"-L", m.socket}, args...)...)
	c.Env = append(os.Environ(), "TERM=xterm-256color")
	return c
}

func (m *tmux) run(args ...string) string {
	m.t.Helper()
	out, err := m.cmd(args...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("tmux %q: %v\n%s", args, err, out)
	}
	return string(out)
}

func (m *tmux) screen() string {
	out, _ := m.cmd("capture-pane", "-p", "-t", "console", "-S", "-200").CombinedOutput()
	return string(out)
}

// waitFor waits until the screen contains s.
func (m *tmux) waitFor(s string, timeout time.Duration) {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(m.screen(), s) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.t.Fatalf("%q not on the screen after %v:\n%s", s, timeout, m.screen())
}

func (m *tmux) typeLine(line string) {
	m.t.Helper()
	m.run("send-keys", "-t", "console", "-l", line)
	time.Sleep(200 * time.Millisecond)
	m.run("send-keys", "-t", "console", "Enter")
}

// TestJupyterConsole drives `jupyter console --kernel netssm` in tmux like
// a person: statements, a result, a multi-line loop continued through
// is_complete, an error, and exit, after which the kernel is gone.
func TestJupyterConsole(t *testing.T) {
	needPython(t, "jupyter_console")
	testenv.NeedTool(t, "tmux")
	j := newJupyterEnv(t)
	j.install("netssm", "message")
	m := &tmux{t: t, socket: "netssm-zmq-test-" + fmt.Sprint(os.Getpid())}
	t.Cleanup(func() { m.cmd("kill-server").Run() })
	env := []string{"env"}
	for _, kv := range j.env {
		if strings.HasPrefix(kv, "JUPYTER_") || strings.HasPrefix(kv, "PYDEVD_") {
			env = append(env, kv)
		}
	}
	cmdline := append(env, python, "-m", "jupyter_console", "--kernel", "netssm")
	m.run(append([]string{"new-session", "-d", "-s", "console", "-x", "120", "-y", "50"}, cmdline...)...)
	m.waitFor("In [1]:", 60*time.Second)
	time.Sleep(time.Second) // let prompt_toolkit finish its terminal queries
	m.typeLine(`import "fmt"`)
	m.waitFor("In [2]:", 20*time.Second)
	m.typeLine("x := 6*7")
	m.waitFor("In [3]:", 20*time.Second)
	m.typeLine("x")
	m.waitFor("Out[3]: 42", 20*time.Second)
	m.typeLine("for i := 0; i < 2; i++ {") // incomplete: the console asks for more
	m.waitFor("...:", 20*time.Second)
	m.typeLine(`fmt.Println("line", i)`)
	time.Sleep(300 * time.Millisecond)
	m.typeLine("}")
	m.waitFor("line 1", 20*time.Second)
	m.typeLine(`panic("console boom")`)
	m.waitFor("console boom", 20*time.Second)
	m.waitFor("In [6]:", 20*time.Second)
	if s := m.screen(); !strings.Contains(s, "line 0") || strings.Contains(s, "Traceback (most recent call last)") {
		t.Fatalf("unexpected screen:\n%s", s)
	}
	// Ctrl-D asks for confirmation; then the console shuts the kernel down.
	m.run("send-keys", "-t", "console", "C-d")
	m.waitFor("exit", 10*time.Second)
	m.run("send-keys", "-t", "console", "y", "Enter")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := m.cmd("has-session", "-t", "console").Run(); err != nil {
			break // the console exited and its session closed
		}
		if time.Now().After(deadline) {
			t.Fatalf("console still running:\n%s", m.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// No kernel of this binary is left running.
	deadline = time.Now().Add(10 * time.Second)
	for len(processesOf(j.bin)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("kernel processes left after the console exited: %v", processesOf(j.bin))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesOf lists the command lines of the live processes of exe
// (Linux /proc; nothing elsewhere).
func processesOf(exe string) []string {
	var out []string
	for _, pid := range pidsOf(exe) {
		b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		out = append(out, fmt.Sprintf("%d: %s", pid, strings.ReplaceAll(string(b), "\x00", " ")))
	}
	return out
}

// freePorts returns n TCP ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []interface{ Close() error }
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// TestOrphanedKernelExits kills the process that launched a kernel (as
// when a front end is killed with SIGKILL): with JPY_PARENT_PID set, the
// kernel and its cell process exit instead of lingering.
func TestOrphanedKernelExits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks processes through /proc")
	}
	bin := netssmBinary(t)
	dir := t.TempDir()
	p := freePorts(t, 5)
	conn := fmt.Sprintf(`{"shell_port":%d,"iopub_port":%d,"stdin_port":%d,"control_port":%d,"hb_port":%d,"ip":"127.0.0.1","key":"k","transport":"tcp","signature_scheme":"hmac-sha256"}`, p[0], p[1], p[2], p[3], p[4])
	cf := filepath.Join(dir, "kernel.json")
	if err := os.WriteFile(cf, []byte(conn), 0o600); err != nil {
		t.Fatal(err)
	}
	// sh is the launcher; the kernel runs as its child.
	sh := exec.Command("sh", "-c", `"$0" zmq-kernel -f "$1" & wait`, bin, cf)
	sh.Env = append(os.Environ(), "JPY_PARENT_PID=1")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range pidsOf(bin) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for len(pidsOf(bin)) < 2 { // zmq-kernel and its _kernel-child
		if time.Now().After(deadline) {
			t.Fatalf("kernel did not start: %v", processesOf(bin))
		}
		time.Sleep(50 * time.Millisecond)
	}
	sh.Process.Kill()
	sh.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for len(pidsOf(bin)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("kernel still running 10 s after its launcher died: %v", processesOf(bin))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pidsOf lists the live processes of exe.
func pidsOf(exe string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.HasPrefix(b, []byte(exe+"\x00")) {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// TestNbconvertQuickstart executes the project's quickstart notebook
// (notebooks/quickstart.ipynb: preprocess, tokenize, train a tiny model,
// resume, generate, convert, compare) with nbconvert through the
// installed kernelspec, as a Jupyter user would batch-run it.
func TestNbconvertQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: trains a tiny model through Jupyter (about 2 minutes); run without -short")
	}
	nbPath := filepath.Join(testenv.RepoRoot(), "notebooks", "quickstart.ipynb")
	if _, err := os.Stat(nbPath); err != nil {
		// The notebook comes with the nb branch; without it there is
		// nothing to run (CI runs on the merged tree, where it must exist).
		if testenv.InCI() {
			t.Fatalf("CI=true but %s is absent: %v", nbPath, err)
		}
		t.Skipf("skipping: %s is absent", nbPath)
	}
	needPython(t, "nbconvert", "nbclient", "nbformat")
	j := newJupyterEnv(t)
	j.install("netssm", "message")
	work := t.TempDir()
	out := t.TempDir()
	_, stderr, err := j.python("", 10*time.Minute, []string{"NETSSM_WORK=" + work}, "-m", "nbconvert",
		"--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=600", "--output-dir", out, nbPath)
	if err != nil {
		t.Fatalf("nbconvert --execute %s: %v\n%s", nbPath, err, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "quickstart.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			CellType string           `json:"cell_type"`
			Outputs  []map[string]any `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	pngs := 0
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o["output_type"] == "error" {
				t.Errorf("error output: %v %v", o["ename"], o["evalue"])
			}
			text.WriteString(nbText(o["text"]))
			if data, ok := o["data"].(map[string]any); ok {
				text.WriteString(nbText(data["text/plain"]))
				if _, ok := data["image/png"]; ok {
					pngs++
				}
			}
		}
	}
	if !strings.Contains(text.String(), "resumed from step 90") {
		t.Errorf("training did not resume from the step-90 checkpoint; outputs:\n%s", text.String())
	}
	if pngs < 2 {
		t.Errorf("%d PNG outputs, want the loss curve and the comparison plot", pngs)
	}
	if st, err := os.Stat(filepath.Join(work, "quickstart", "synthetic.pcap")); err != nil || st.Size() == 0 {
		t.Errorf("no synthetic.pcap written: %v", err)
	}
}
