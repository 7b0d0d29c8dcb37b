package session

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newSession(t *testing.T) (*Session, *syncBuf, *syncBuf) {
	t.Helper()
	var out, errb syncBuf
	s, err := New(Options{Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	return s, &out, &errb
}

// run executes a cell and returns its text/plain result ("" for none).
func run(t *testing.T, s *Session, code string) string {
	t.Helper()
	res, err := s.Execute(context.Background(), code)
	if err != nil {
		t.Fatalf("cell %q: %v", code, err)
	}
	if res == nil {
		return ""
	}
	txt, _ := res.Data["text/plain"].(string)
	return txt
}

func cellErr(t *testing.T, s *Session, code string) *CellError {
	t.Helper()
	_, err := s.Execute(context.Background(), code)
	var ce *CellError
	if !errors.As(err, &ce) {
		t.Fatalf("cell %q: want a CellError, got %v", code, err)
	}
	return ce
}

func TestStateAcrossCells(t *testing.T) {
	s, out, _ := newSession(t)
	run(t, s, "x := 40")
	run(t, s, "func add(a, b int) int { return a + b }")
	run(t, s, "type pair struct{ A, B int }")
	if got := run(t, s, "p := pair{x, 2}\nadd(p.A, p.B)"); got != "42" {
		t.Errorf("result = %q, want 42", got)
	}
	run(t, s, `import "fmt"`+"\n"+`fmt.Println("x is", x)`)
	if !strings.Contains(out.String(), "x is 40\n") {
		t.Errorf("stdout = %q", out.String())
	}
}

func TestMixedCellAndImportTwice(t *testing.T) {
	s, _, _ := newSession(t)
	cell := "import \"strings\"\nfunc shout(s string) string { return strings.ToUpper(s) + \"!\" }\nx := strings.Repeat(\"ab\", 2)\nshout(x)"
	for i := 0; i < 3; i++ { // re-running a cell is what notebooks do
		if got := run(t, s, cell); got != "ABAB!" {
			t.Fatalf("run %d: result %q, want ABAB!", i, got)
		}
	}
	run(t, s, "import (\n\t\"strings\"\n\t\"strconv\"\n)")
	if got := run(t, s, `strconv.Itoa(len(strings.Fields("a b c")))`); got != "3" {
		t.Errorf("got %q", got)
	}
	if got := s.Imports(); strings.Join(got, ",") != "strconv strconv,strings strings" {
		t.Errorf("imports = %v", got)
	}
}

func TestUnknownImport(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// A source package under ./src must not be picked up by yaegi.
	if err := os.MkdirAll(filepath.Join(dir, "src", "evil"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "evil", "e.go"), []byte("package evil\nfunc X() int { return 1 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _, _ := newSession(t)
	ce := cellErr(t, s, "import \"evil\"\nevil.X()")
	if !strings.Contains(ce.EValue, "evil") {
		t.Errorf("error = %+v", ce)
	}
	if got := s.Imports(); len(got) != 0 {
		t.Errorf("failed import recorded: %v", got)
	}
}

func TestRedefinition(t *testing.T) {
	s, _, _ := newSession(t)
	run(t, s, `import "strings"`)
	run(t, s, `x := strings.Repeat("ab", 2)`)
	run(t, s, `x := strings.ToUpper(x)`) // yaegi alone yields "" here
	if got := run(t, s, "x"); got != "ABAB" {
		t.Errorf("x = %q, want ABAB", got)
	}
	run(t, s, "n := 1")
	run(t, s, "n, m := n+1, n+10")
	if got := run(t, s, "n*100 + m"); got != "211" {
		t.Errorf("n*100+m = %q, want 211", got)
	}
	run(t, s, `x := len(x)`) // a new type for an old name
	if got := run(t, s, "x + 1"); got != "5" {
		t.Errorf("x+1 = %q, want 5", got)
	}
	run(t, s, "func f() int { return 1 }")
	run(t, s, "func f() int { return 2 }")
	if got := run(t, s, "f()"); got != "2" {
		t.Errorf("redefined f() = %q", got)
	}
}

func TestTrailingExpression(t *testing.T) {
	s, out, _ := newSession(t)
	cases := []struct{ code, want string }{
		{"1 + 2", "3"},
		{`"hi"`, "hi"},
		{"import \"fmt\"\nfmt.Println(\"printed\")", ""}, // two results: no value
		{"func noop() {}\nnoop()", ""},
		{"var e error\ne", ""}, // nil shows nothing
		{"[]int{1, 2}", "[1 2]"},
		{"len(\"abc\")", "3"},
		{`fmt.Sprintf("%03d", 7)`, "007"},
		{"type T struct{ N int }\nfunc (t T) String() string { return fmt.Sprint(\"T#\", t.N) }\nT{5}", "T#5"},
		{"println(\"to stderr\")", ""},
	}
	for _, c := range cases {
		if got := run(t, s, c.code); got != c.want {
			t.Errorf("%q: result %q, want %q", c.code, got, c.want)
		}
	}
	if !strings.Contains(out.String(), "printed\n") {
		t.Errorf("stdout = %q", out.String())
	}
}

func TestHugeResultIsCapped(t *testing.T) {
	s, _, _ := newSession(t)
	got := run(t, s, "import \"strings\"\nstrings.Repeat(\"é\", 1<<20)")
	if len(got) > maxPlain+100 || !strings.Contains(got, "more bytes of text") || !utf8.ValidString(got) {
		t.Errorf("result of %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}

func TestRichResult(t *testing.T) {
	s, _, _ := newSession(t)
	res, err := s.Execute(context.Background(), "type H struct{}\nfunc (H) HTML() string { return \"<b>x</b>\" }\nfunc (H) PNG() []byte { return []byte{1, 2, 3} }\nH{}")
	if err != nil {
		t.Fatal(err)
	}
	if res.Data["text/html"] != "<b>x</b>" || res.Data["image/png"] != "AQID" {
		t.Errorf("bundle = %v", res.Data)
	}
	if _, ok := res.Data["text/plain"]; !ok {
		t.Errorf("no text/plain in %v", res.Data)
	}
	res, err = s.Execute(context.Background(), "import \"github.com/netssm/netssm/stdlib/display\"\ndisplay.Markdown(\"# hi\")")
	if err != nil {
		t.Fatal(err)
	}
	if res.Data["text/markdown"] != "# hi" {
		t.Errorf("markdown bundle = %v", res.Data)
	}
}

func TestDisplay(t *testing.T) {
	var msgs []DisplayMsg
	var out syncBuf
	s, err := New(Options{Stdout: &out, Stderr: &out, Display: func(m DisplayMsg) { msgs = append(msgs, m) }})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, `import "github.com/netssm/netssm/stdlib/display"
display.Display(display.HTML("<i>a</i>"))
d := display.New()
d.Display(display.Text("0%"))
d.Update(display.Text("100%"))`)
	if len(msgs) != 3 {
		t.Fatalf("got %d display messages: %+v", len(msgs), msgs)
	}
	if msgs[0].Data["text/html"] != "<i>a</i>" || msgs[0].Update {
		t.Errorf("first = %+v", msgs[0])
	}
	id := msgs[1].Transient["display_id"]
	if id == nil || id == "" || msgs[2].Transient["display_id"] != id || !msgs[2].Update || msgs[1].Update {
		t.Errorf("update by display_id broken: %+v / %+v", msgs[1], msgs[2])
	}
	if msgs[2].Data["text/plain"] != "100%" {
		t.Errorf("update data = %v", msgs[2].Data)
	}
}

func TestPanicAndCompileErrors(t *testing.T) {
	s, _, _ := newSession(t)
	run(t, s, "kept := 7")
	ce := cellErr(t, s, "a := 1\nb := 2\nc := a + b + undefinedName\n_ = c")
	if ce.EName != ENameCompile || !strings.Contains(strings.Join(ce.Traceback, "\n"), "cell:3:") {
		t.Errorf("compile error = %+v, want one naming cell line 3", ce)
	}
	ce = cellErr(t, s, "x := 1\n\nfunc f() {\n\tpanic(\"boom\")\n}\nf()")
	if ce.EName != ENamePanic || ce.EValue != "boom" {
		t.Errorf("panic error = %+v", ce)
	}
	if tb := strings.Join(ce.Traceback, "\n"); !strings.Contains(tb, "cell:4:") {
		t.Errorf("panic traceback %q does not name cell line 4", tb)
	}
	ce = cellErr(t, s, "y := 1\nz := y + zzz")
	if ce.EValue != "undefined: zzz" || ce.Traceback[0] != "cell:2:10: undefined: zzz" {
		t.Errorf("undefined name error = %+v", ce)
	}
	ce = cellErr(t, s, "strings.ToUpper(\"a\")")
	if ce.EValue != "undefined: strings (missing import?)" {
		t.Errorf("missing import error = %+v", ce)
	}
	ce = cellErr(t, s, "y := 1 +* 2")
	if ce.EName != ENameCompile || !strings.HasPrefix(ce.Traceback[0], "cell:1:") {
		t.Errorf("syntax error = %+v", ce)
	}
	if got := run(t, s, "kept"); got != "7" {
		t.Errorf("state lost after errors: kept = %q", got)
	}
}

func TestInterrupt(t *testing.T) {
	s, _, _ := newSession(t)
	run(t, s, "state := 5")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Execute(ctx, "for {}")
	var ce *CellError
	if !errors.As(err, &ce) || ce.EName != ENameInterrupt {
		t.Fatalf("err = %v, want Interrupted", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("interrupt took %v", d)
	}
	if got := run(t, s, "state"); got != "5" {
		t.Errorf("state after interrupt = %q", got)
	}
}

func TestShellAndCd(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "f.txt"), []byte("content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, out, _ := newSession(t)
	run(t, s, "!echo one\n%cd sub\n! cat f.txt\nimport \"os\"\nb, _ := os.ReadFile(\"f.txt\")\nstring(b)")
	if got := out.String(); !strings.Contains(got, "one\n") || !strings.Contains(got, "content\n") {
		t.Errorf("shell output = %q", got)
	}
	if s.Dir() != filepath.Join(dir, "sub") {
		t.Errorf("dir = %q", s.Dir())
	}
	ce := cellErr(t, s, "%cd does-not-exist")
	if !strings.Contains(ce.EValue, "does-not-exist") {
		t.Errorf("cd error = %+v", ce)
	}
	// `!` inside an open expression is Go's not.
	if got := run(t, s, "ok := false\nr := true &&\n\t!ok\nr"); got != "true" {
		t.Errorf("got %q", got)
	}
}

func TestInterruptShell(t *testing.T) {
	s, _, _ := newSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Execute(ctx, "!sleep 30; echo not-reached")
	var ce *CellError
	if !errors.As(err, &ce) || ce.EName != ENameInterrupt {
		t.Fatalf("err = %v, want Interrupted", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("interrupting a shell command took %v", d)
	}
}

func TestPastedProgram(t *testing.T) {
	s, out, _ := newSession(t)
	run(t, s, "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello\")\n}\n")
	run(t, s, "1")
	if out.String() != "hello\n" {
		t.Errorf("stdout = %q", out.String())
	}
}

func TestStdin(t *testing.T) {
	s, _, _ := newSession(t)
	ce := cellErr(t, s, "import \"bufio\"\nimport \"os\"\n_, err := bufio.NewReader(os.Stdin).ReadString('\\n')\nif err != nil { panic(err) }")
	if !strings.Contains(ce.EValue, "stdin is not available") {
		t.Errorf("no-stdin error = %+v", ce)
	}
	var out syncBuf
	s2, err := New(Options{Stdout: &out, Stderr: &out, Stdin: strings.NewReader("gopher\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, s2, "import \"bufio\"\nimport \"os\"\nline, _ := bufio.NewReader(os.Stdin).ReadString('\\n')\nline"); got != "gopher\n" {
		t.Errorf("read %q", got)
	}
}

func TestIsComplete(t *testing.T) {
	cases := []struct{ code, status string }{
		{"x := 1", StatusComplete},
		{"", StatusComplete},
		{"func f() {", StatusIncomplete},
		{"x := []int{\n1,", StatusIncomplete},
		{"s := `raw", StatusIncomplete},
		{"x := 1 +", StatusIncomplete},
		{"x := )", StatusInvalid},
		{"}", StatusInvalid},
		{"x := := 2", StatusInvalid},
		{"!ls -l", StatusComplete},
		{"import \"fmt\"\nfmt.Println(1)", StatusComplete},
	}
	for _, c := range cases {
		if st, _ := IsComplete(c.code); st != c.status {
			t.Errorf("IsComplete(%q) = %s, want %s", c.code, st, c.status)
		}
	}
	if _, indent := IsComplete("func f() {\n\tif x {"); indent != "\t\t" {
		t.Errorf("indent = %q", indent)
	}
}

func TestCompleteAndInspect(t *testing.T) {
	s, _, _ := newSession(t)
	run(t, s, "import \"strings\"\nmyVariable := 3\nfunc myFunc(a int) string { return \"\" }\ntype myType struct{ Field int }")
	code := "strings.Rep"
	m, start, end := s.Complete(context.Background(), code, len(code))
	if start != len("strings.") || end != len(code) || !contains(m, "Repeat") || !contains(m, "ReplaceAll") {
		t.Errorf("Complete(%q) = %v [%d,%d]", code, m, start, end)
	}
	m, start, _ = s.Complete(context.Background(), "x := my", 7)
	for _, want := range []string{"myVariable", "myFunc", "myType"} {
		if !contains(m, want) || start != 5 {
			t.Errorf("Complete(my) = %v start %d; missing %s", m, start, want)
		}
	}
	m, _, _ = s.Complete(context.Background(), "str", 3)
	if !contains(m, "strings") || !contains(m, "string") {
		t.Errorf("Complete(str) = %v", m)
	}
	run(t, s, "func (m myType) Double() int { return 2 * m.Field }\nmv := myType{Field: 1}")
	m, _, _ = s.Complete(context.Background(), "mv.", 3)
	if !contains(m, "Field") || !contains(m, "Double") {
		t.Errorf("Complete(mv.) = %v, want the field and the cell-declared method", m)
	}
	data, found := s.Inspect(context.Background(), "strings.Split(a, b)", 9, 0)
	if !found || !strings.Contains(data["text/plain"].(string), "func(string, string) []string") {
		t.Errorf("Inspect strings.Split = %v %v", data, found)
	}
	data, found = s.Inspect(context.Background(), "myFunc", 2, 0)
	if !found || !strings.Contains(data["text/plain"].(string), "func myFunc(a int) string") {
		t.Errorf("Inspect myFunc = %v %v", data, found)
	}
	data, found = s.Inspect(context.Background(), "myVariable", 0, 0)
	if !found || !strings.Contains(data["text/plain"].(string), "int = 3") {
		t.Errorf("Inspect myVariable = %v %v", data, found)
	}
	if _, found := s.Inspect(context.Background(), "nothingHere", 3, 0); found {
		t.Error("Inspect of an unknown name found something")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func BenchmarkExecuteTrivial(b *testing.B) {
	var out syncBuf
	s, err := New(Options{Stdout: &out, Stderr: &out})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Execute(context.Background(), "1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecuteStatement(b *testing.B) {
	var out syncBuf
	s, err := New(Options{Stdout: &out, Stderr: &out})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Execute(context.Background(), "x := 1"); err != nil {
			b.Fatal(err)
		}
	}
}
