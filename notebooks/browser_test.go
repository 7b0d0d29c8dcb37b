package notebooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netssm/netssm/internal/testenv"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProc starts cmd with its output in logPath and stops it (SIGTERM,
// then SIGKILL after 5 s) when the test ends.
func startProc(t *testing.T, cmd *exec.Cmd, logPath string) {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		f.Close()
	})
}

func waitHTTP(t *testing.T, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %s", url, d)
}

// firstCells writes the quickstart notebook cut after its tokenizer cell,
// outputs cleared, to path.
func firstCells(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile("quickstart.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	var nb map[string]any
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	var keep []any
	for _, c := range nb["cells"].([]any) {
		cell := c.(map[string]any)
		if cell["cell_type"] == "code" {
			cell["outputs"] = []any{}
			cell["execution_count"] = nil
		}
		keep = append(keep, cell)
		if src, _ := json.Marshal(cell["source"]); bytes.Contains(src, []byte("NewTokenizer")) {
			break
		}
	}
	nb["cells"] = keep
	out, _ := json.Marshal(nb)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserQuickstart is a person's view of the quickstart: Debian's
// Jupyter Notebook 6 in --gateway-url mode in front of `netssm kernel`,
// headless Chromium opens the notebook, runs its first cells (preprocess,
// tokenizer) and the page must show their output. The screenshot is kept
// in $NETSSM_ARTIFACTS (default: a netssm-browser-* folder under $TMPDIR),
// named in the log.
func TestBrowserQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Jupyter Notebook and Chromium; skipped with -short")
	}
	chromium := testenv.NeedTool(t, "chromium")
	jupyter := testenv.NeedTool(t, "jupyter-notebook")
	bin := buildNetssm(t)
	root := testenv.RepoRoot()
	work := t.TempDir()
	nbDir := filepath.Join(work, "nb")
	for _, d := range []string{nbDir, filepath.Join(work, "cfg", "custom"), filepath.Join(work, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// the notebook's ../testdata paths resolve as in the repository
	if err := os.Symlink(filepath.Join(root, "testdata"), filepath.Join(work, "testdata")); err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(root, "testdata", "notebooks", "custom.js"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "cfg", "custom", "custom.js"), js, 0o644)
	// two copies: each page load of a notebook gets its own session and
	// fresh kernel (the screenshot run must not re-run cells in the kernel
	// of the first)
	firstCells(t, filepath.Join(nbDir, "quickstart.ipynb"))
	firstCells(t, filepath.Join(nbDir, "quickstart-screenshot.ipynb"))

	gport, nport := freePort(t), freePort(t)
	kern := exec.Command(bin, "kernel", "-port", fmt.Sprint(gport), "-token", "GWTOKEN")
	kern.Dir = nbDir
	kern.Env = append(os.Environ(), "NETSSM_WORK="+filepath.Join(work, "run"))
	startProc(t, kern, filepath.Join(work, "netssm-kernel.log"))

	nbsrv := exec.Command(jupyter, "--no-browser", "--allow-root", "--ip=127.0.0.1", fmt.Sprintf("--port=%d", nport),
		"--NotebookApp.port_retries=0", "--NotebookApp.token=NBTOKEN", "--notebook-dir="+nbDir,
		fmt.Sprintf("--gateway-url=http://127.0.0.1:%d", gport), "--GatewayClient.auth_token=GWTOKEN")
	nbsrv.Env = append(os.Environ(), "HOME="+work, "JUPYTER_CONFIG_DIR="+filepath.Join(work, "cfg"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(work, "rt"), "JUPYTER_DATA_DIR="+filepath.Join(work, "data"))
	startProc(t, nbsrv, filepath.Join(work, "notebook.log"))
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/api/status?token=NBTOKEN", nport), 60*time.Second)

	art := os.Getenv("NETSSM_ARTIFACTS")
	if art == "" {
		art, err = os.MkdirTemp("", "netssm-browser-")
		if err != nil {
			t.Fatal(err)
		}
	}
	shot := filepath.Join(art, "quickstart-browser.png")
	// custom.js keeps a fetch of this pending while cells run (see there)
	holdSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "no-store")
		time.Sleep(250 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer holdSrv.Close()
	chrome := func(ctx context.Context, name string, extra ...string) ([]byte, string) {
		page := fmt.Sprintf("http://127.0.0.1:%d/notebooks/%s?token=NBTOKEN&hold=%s", nport, name, url.QueryEscape(holdSrv.URL+"/hold"))
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
			"--user-data-dir=" + t.TempDir(), "--window-size=1200,1400", "--virtual-time-budget=30000"}, extra...)
		cmd := exec.CommandContext(ctx, chromium, append(args, page)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Logf("chromium %v: %v", extra, err)
		}
		return out, stderr.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dom, stderr := chrome(ctx, "quickstart.ipynb", "--dump-dom")
	os.WriteFile(filepath.Join(art, "quickstart-browser.html"), dom, 0o644)
	chrome(ctx, "quickstart-screenshot.ipynb", "--screenshot="+shot)
	t.Logf("browser check artifacts (screenshot, DOM) in %s", art)

	page2 := string(dom)
	for _, want := range []string{
		"Go (netssm)",                          // the kernel the page runs
		"writing to",                           // cell 1's output
		"3 captures -&gt; 3 samples",           // preprocess
		"vocabulary: 261 tokens, labels [web]", // tokenizer
	} {
		if !strings.Contains(page2, want) {
			logs := ""
			for _, l := range []string{"netssm-kernel.log", "notebook.log"} {
				b, _ := os.ReadFile(filepath.Join(work, l))
				logs += "\n--- " + l + "\n" + tail(string(b), 2000)
			}
			t.Fatalf("the page lacks %q (DOM %d bytes, saved in %s); chromium: %s%s", want, len(dom), art, tail(stderr, 1000), logs)
		}
	}
	if strings.Contains(page2, "output_error") {
		t.Errorf("a cell failed on the page (see %s)", filepath.Join(art, "quickstart-browser.html"))
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10000 {
		t.Errorf("screenshot %s: %v (size %v)", shot, err, fi)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
