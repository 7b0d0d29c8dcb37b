package proc

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netssm/netssm/kernel/session"
)

// TestMain makes the test binary its own kernel child: Start re-executes
// it with ChildEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(ChildEnv) == "1" {
		os.Exit(ChildMain())
	}
	os.Exit(m.Run())
}

func testOptions() Options {
	return Options{Exe: os.Args[0], Args: []string{"-test.run=^$"}}
}

func startKernel(t testing.TB, opts Options) *Kernel {
	t.Helper()
	k, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Shutdown() })
	return k
}

// recorder is a Handler that records everything, with arrival times.
type recorder struct {
	mu       sync.Mutex
	streams  map[string]*strings.Builder
	displays []session.DisplayMsg
	first    map[string]time.Time // arrival of a marker text
	marks    []string
}

func newRecorder(marks ...string) *recorder {
	return &recorder{streams: map[string]*strings.Builder{"stdout": {}, "stderr": {}}, first: map[string]time.Time{}, marks: marks}
}

func (r *recorder) handler() Handler {
	return Handler{
		Stream: func(name, text string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.streams[name].WriteString(text)
			for _, m := range r.marks {
				if _, ok := r.first[m]; !ok && strings.Contains(r.streams[name].String(), m) {
					r.first[m] = time.Now()
				}
			}
		},
		Display: func(m session.DisplayMsg) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.displays = append(r.displays, m)
		},
	}
}

func (r *recorder) out(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[name].String()
}

func exec1(t *testing.T, k *Kernel, code string, h Handler) *session.Result {
	t.Helper()
	res, err := k.Execute(context.Background(), code, h)
	if err != nil {
		t.Fatalf("cell %q: %v", code, err)
	}
	return res
}

func TestStreamsInOrderAndLive(t *testing.T) {
	k := startKernel(t, testOptions())
	rec := newRecorder("early", "late")
	code := `import ("fmt"; "os"; "log"; "time"; "sync")
fmt.Println("early")
time.Sleep(600 * time.Millisecond)
for i := 0; i < 200; i++ { fmt.Printf("line %d\n", i) }
os.Stdout.WriteString("direct\n")
fmt.Fprintln(os.Stderr, "err-one")
log.SetFlags(0)
log.Print("logged")
var wg sync.WaitGroup
wg.Add(1)
go func() { defer wg.Done(); fmt.Println("from goroutine") }()
wg.Wait()
!echo from-shell; echo shell-err >&2
fmt.Println("late")
6 * 7`
	res := exec1(t, k, code, rec.handler())
	done := time.Now()
	if res == nil || res.Data["text/plain"] != "42" {
		t.Errorf("result = %+v", res)
	}
	out := rec.out("stdout")
	var want []string
	want = append(want, "early\n")
	for i := 0; i < 200; i++ {
		want = append(want, "line "+itoa(i)+"\n")
	}
	want = append(want, "direct\n", "from goroutine\n", "from-shell\n", "late\n")
	if got := strings.Join(want, ""); out != got {
		t.Errorf("stdout out of order or incomplete:\n%q\nwant\n%q", out, got)
	}
	errOut := rec.out("stderr")
	if !strings.Contains(errOut, "err-one\n") || !strings.Contains(errOut, "logged\n") || !strings.Contains(errOut, "shell-err\n") ||
		strings.Index(errOut, "err-one") > strings.Index(errOut, "logged") {
		t.Errorf("stderr = %q", errOut)
	}
	rec.mu.Lock()
	early := rec.first["early"]
	rec.mu.Unlock()
	if early.IsZero() || done.Sub(early) < 300*time.Millisecond { // the cell sleeps 600 ms after "early"
		t.Errorf("output was not streamed while the cell ran: early at %v, cell done at %v", early, done)
	}
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + func() string { return fmtInt(i) }())
}

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestInterruptKeepsState(t *testing.T) {
	k := startKernel(t, testOptions())
	exec1(t, k, "state := 123", Handler{})
	sent := make(chan time.Time, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		sent <- time.Now()
		k.Interrupt()
	}()
	_, err := k.Execute(context.Background(), "for {}", Handler{})
	took := time.Since(<-sent)
	var ce *session.CellError
	if !errors.As(err, &ce) || ce.EName != session.ENameInterrupt {
		t.Fatalf("err = %v, want an Interrupted CellError", err)
	}
	t.Logf("Execute returned %v after Interrupt", took)
	if took > time.Second {
		t.Errorf("interrupt took %v (want < 1 s)", took)
	}
	if res := exec1(t, k, "state", Handler{}); res.Data["text/plain"] != "123" {
		t.Errorf("state after interrupt = %v", res.Data)
	}
	// An interrupt right as the cell is sent is not lost.
	ctx0, cancel0 := context.WithCancel(context.Background())
	cancel0()
	_, err = k.Execute(ctx0, "for {}", Handler{})
	if !errors.As(err, &ce) || ce.EName != session.ENameInterrupt {
		t.Fatalf("err = %v, want an Interrupted CellError", err)
	}
	// Cancelling Execute's context interrupts too.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = k.Execute(ctx, "for {}", Handler{})
	if !errors.As(err, &ce) || ce.EName != session.ENameInterrupt {
		t.Fatalf("err = %v, want an Interrupted CellError", err)
	}
}

func TestExitIsDiedErrorAndRestart(t *testing.T) {
	k := startKernel(t, testOptions())
	exec1(t, k, "x := 1", Handler{})
	rec := newRecorder()
	_, err := k.Execute(context.Background(), "import \"os\"\nprintln(\"bye\")\nos.Exit(3)", rec.handler())
	var died *DiedError
	if !errors.As(err, &died) || died.ExitCode != 3 {
		t.Fatalf("err = %v, want DiedError with exit status 3", err)
	}
	select {
	case <-k.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the child died")
	}
	if !errors.As(k.Err(), &died) {
		t.Errorf("Err() = %v", k.Err())
	}
	if _, err := k.Execute(context.Background(), "1", Handler{}); !errors.As(err, &died) {
		t.Errorf("Execute on a dead kernel: %v", err)
	}
	if err := k.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if k.Err() != nil {
		t.Errorf("Err after restart = %v", k.Err())
	}
	_, err = k.Execute(context.Background(), "x", Handler{})
	var ce *session.CellError
	if !errors.As(err, &ce) || ce.EName != session.ENameCompile {
		t.Errorf("x after restart: %v, want undefined (fresh state)", err)
	}
	if res := exec1(t, k, "2 + 2", Handler{}); res.Data["text/plain"] != "4" {
		t.Errorf("after restart: %v", res.Data)
	}
}

func TestPanicKeepsKernel(t *testing.T) {
	k := startKernel(t, testOptions())
	_, err := k.Execute(context.Background(), "var m map[string]int\nm[\"a\"] = 1", Handler{})
	var ce *session.CellError
	if !errors.As(err, &ce) || ce.EName != session.ENamePanic {
		t.Fatalf("err = %v, want panic CellError", err)
	}
	if res := exec1(t, k, "1 + 1", Handler{}); res.Data["text/plain"] != "2" {
		t.Errorf("after panic: %v", res.Data)
	}
}

func TestOutOfMemoryKillsOnlyTheKernel(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory does not fit a 512 MiB data limit")
	}
	opts := testOptions()
	opts.MemoryLimit = 512 << 20
	k := startKernel(t, opts)
	_, err := k.Execute(context.Background(), "b := make([]byte, 4<<30)\nb[len(b)-1] = 1", Handler{})
	var died *DiedError
	if !errors.As(err, &died) || died.Reason != "out of memory" {
		t.Fatalf("err = %v, want DiedError (out of memory)", err)
	}
	if err := k.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := exec1(t, k, "3", Handler{}); res.Data["text/plain"] != "3" {
		t.Errorf("after OOM restart: %v", res.Data)
	}
}

func TestStdin(t *testing.T) {
	k := startKernel(t, testOptions())
	var prompts int
	h := Handler{Input: func(prompt string, password bool) (string, error) {
		prompts++
		return "gopher", nil
	}}
	res := exec1(t, k, "import (\"bufio\"; \"fmt\"; \"os\")\nline, err := bufio.NewReader(os.Stdin).ReadString('\\n')\nline + \"|\" + fmt.Sprint(err)", h)
	if res.Data["text/plain"] != "gopher\n|<nil>" || prompts != 1 {
		t.Errorf("read %v with %d prompts", res.Data, prompts)
	}
	_, err := k.Execute(context.Background(), "import \"fmt\"\nvar s string\n_, err := fmt.Scanln(&s)\nif err != nil { panic(err) }", Handler{})
	var ce *session.CellError
	if !errors.As(err, &ce) || !strings.Contains(ce.EValue, "stdin is not available") {
		t.Errorf("stdin without Input: %v", err)
	}
}

func TestDisplayAndBackgroundOutput(t *testing.T) {
	k := startKernel(t, testOptions())
	rec := newRecorder()
	exec1(t, k, `import ("fmt"; "time"; "github.com/netssm/netssm/stdlib/display")
fmt.Println("before")
display.Display(display.HTML("<b>x</b>"))
d := display.New()
d.Update(display.Text("1"))
d.Update(display.Text("2"))
fmt.Println("after")
go func() { time.Sleep(200 * time.Millisecond); fmt.Println("background") }()`, rec.handler())
	if len(rec.displays) != 3 || rec.displays[0].Data["text/html"] != "<b>x</b>" || !rec.displays[2].Update ||
		rec.displays[2].Transient["display_id"] != rec.displays[1].Transient["display_id"] {
		t.Errorf("displays = %+v", rec.displays)
	}
	if got := rec.out("stdout"); got != "before\nafter\n" {
		t.Errorf("stdout = %q", got)
	}
	time.Sleep(400 * time.Millisecond)
	rec2 := newRecorder()
	exec1(t, k, "1", rec2.handler())
	if got := rec2.out("stdout"); got != "background\n" {
		t.Errorf("output between cells = %q, want it delivered with the next cell", got)
	}
}

func TestCompleteInspectIsComplete(t *testing.T) {
	k := startKernel(t, testOptions())
	exec1(t, k, "import \"strings\"\nmyCount := 3", Handler{})
	m, start, end, err := k.Complete(context.Background(), "strings.Spl", 11)
	if err != nil || start != 8 || end != 11 || len(m) == 0 || m[0] != "Split" {
		t.Errorf("Complete = %v %d %d %v", m, start, end, err)
	}
	data, found, err := k.Inspect(context.Background(), "myCount", 3, 0)
	if err != nil || !found || !strings.Contains(data["text/plain"].(string), "int = 3") {
		t.Errorf("Inspect = %v %v %v", data, found, err)
	}
	st, indent, err := k.IsComplete(context.Background(), "if true {")
	if err != nil || st != "incomplete" || indent != "\t" {
		t.Errorf("IsComplete = %q %q %v", st, indent, err)
	}
}

func TestShutdown(t *testing.T) {
	k, err := Start(context.Background(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Shutdown(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-k.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Shutdown")
	}
	if !errors.Is(k.Err(), ErrShutdown) {
		t.Errorf("Err = %v", k.Err())
	}
	if _, err := k.Execute(context.Background(), "1", Handler{}); !errors.Is(err, ErrShutdown) {
		t.Errorf("Execute after Shutdown: %v", err)
	}
}

func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		k, err := Start(context.Background(), testOptions())
		if err != nil {
			b.Fatal(err)
		}
		k.Shutdown()
	}
}

func BenchmarkExecuteTrivial(b *testing.B) {
	k := startKernel(b, testOptions())
	for b.Loop() {
		if _, err := k.Execute(context.Background(), "1", Handler{}); err != nil {
			b.Fatal(err)
		}
	}
}

// Big display frames and concurrent prints from a goroutine stay intact.
func TestDisplayFramesUnderConcurrentOutput(t *testing.T) {
	k := startKernel(t, testOptions())
	rec := newRecorder()
	exec1(t, k, `import ("fmt"; "sync"; "github.com/netssm/netssm/stdlib/display")
img := make([]byte, 200000)
var wg sync.WaitGroup
wg.Add(1)
go func() { defer wg.Done(); for i := 0; i < 2000; i++ { fmt.Println("noise line", i) } }()
for i := 0; i < 5; i++ { display.Display(display.PNG(img)) }
wg.Wait()`, rec.handler())
	if len(rec.displays) != 5 {
		t.Fatalf("got %d displays, want 5 (stderr %q)", len(rec.displays), rec.out("stderr"))
	}
	for _, d := range rec.displays {
		if s, _ := d.Data["image/png"].(string); len(s) != 266668 {
			t.Errorf("png payload of %d base64 chars, want 266668", len(s))
		}
	}
	if n := strings.Count(rec.out("stdout"), "noise line"); n != 2000 {
		t.Errorf("%d noise lines, want 2000", n)
	}
}
