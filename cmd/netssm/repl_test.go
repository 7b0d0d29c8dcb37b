package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/netssm/netssm/kernel/proc"
)

// The test binary doubles as the kernel child: proc sets ChildEnv in the
// child's environment.
func init() {
	if os.Getenv(proc.ChildEnv) == "1" {
		os.Exit(proc.ChildMain())
	}
}

func TestReplScript(t *testing.T) {
	k, err := proc.Start(context.Background(), proc.Options{Exe: os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Shutdown()
	var out, errOut bytes.Buffer
	r := &repl{k: k, out: &out, errOut: &errOut}
	script := `import "fmt"
x := 20
func double(n int) int {
	return n * 2
}
double(x) + 2
:help
fmt.Println("hi")
panic("boom")
var line string
fmt.Scanln(&line)
typed-input
line
:quit
fmt.Println("never")
`
	err = r.script(context.Background(), strings.NewReader(script))
	if err == nil || !strings.Contains(err.Error(), "1 cell(s) failed") {
		t.Errorf("script error = %v, want 1 failed cell", err)
	}
	o := out.String()
	for _, want := range []string{"42\n", "hi\n", ":restart", "typed-input\n"} {
		if !strings.Contains(o, want) {
			t.Errorf("stdout lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "never") {
		t.Errorf("input after :quit ran:\n%s", o)
	}
	if !strings.Contains(errOut.String(), "panic: boom") {
		t.Errorf("stderr = %q", errOut.String())
	}
}

func TestReplRestartsDeadKernel(t *testing.T) {
	k, err := proc.Start(context.Background(), proc.Options{Exe: os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Shutdown()
	var out, errOut bytes.Buffer
	r := &repl{k: k, out: &out, errOut: &errOut}
	r.script(context.Background(), strings.NewReader("y := 1\nimport \"os\"\nos.Exit(4)\n1 + 1\n"))
	if !strings.Contains(errOut.String(), "exit status 4") || !strings.Contains(out.String(), "2\n") {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestReplFlags(t *testing.T) {
	if got := run([]string{"repl", "-no-such-flag"}); got != 2 {
		t.Errorf("exit status = %d, want 2", got)
	}
}
