package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/netssm/netssm/kernel/proc"
	"github.com/netssm/netssm/kernel/session"
)

const replHelp = `Go REPL on the netssm kernel (the engine of notebooks).
Type Go: imports, declarations, statements; a final expression prints its
value. Input continues on more lines while brackets are open.
  !cmd        run a shell command      %cd DIR   change directory
  :help       this help                :quit     leave (also Ctrl-D)
  :restart    fresh interpreter state
Ctrl-C interrupts a running cell (state is kept) or drops the current input.
Tab completes names; up/down browse history (saved in ~/.netssm_history).
`

func init() {
	register(&command{
		name:    "repl",
		summary: "interactive Go REPL (the notebook kernel's engine)",
		run:     runRepl,
	})
}

func runRepl(ctx context.Context, args []string) error {
	fs := newFlagSet("repl", "[-dir DIR] [-memory MiB]")
	dir := fs.String("dir", "", "working directory of the kernel (default: the current one)")
	mem := fs.Int64("memory", 0, "cap the kernel's memory at this many MiB (0: no cap)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	k, err := proc.Start(ctx, proc.Options{Dir: *dir, MemoryLimit: *mem << 20})
	if err != nil {
		return err
	}
	defer k.Shutdown()
	r := &repl{k: k, out: os.Stdout, errOut: os.Stderr}
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		return r.interactive(ctx, fd)
	}
	return r.script(ctx, os.Stdin)
}

// repl drives a kernel from lines of input.
type repl struct {
	k           *proc.Kernel
	out, errOut io.Writer
	quit        bool
}

// script runs input that is not a terminal: cells are cut where
// is_complete says so, no prompts are printed, and cells reading stdin
// get the next lines. The exit status is non-zero if a cell failed.
func (r *repl) script(ctx context.Context, in io.Reader) error {
	br := bufio.NewReader(in)
	readLine := func() (string, error) {
		line, err := br.ReadString('\n')
		if err == io.EOF && line != "" {
			err = nil
		}
		return strings.TrimSuffix(line, "\n"), err
	}
	input := func(prompt string, password bool) (string, error) {
		l, err := readLine()
		if err != nil {
			return "", errors.New("stdin: end of input")
		}
		return l, nil
	}
	var buf []string
	failed := 0
	for !r.quit && ctx.Err() == nil {
		line, err := readLine()
		if err != nil {
			break
		}
		buf = append(buf, line)
		code := strings.Join(buf, "\n")
		if len(buf) == 1 && strings.HasPrefix(strings.TrimSpace(line), ":") {
			buf = nil
			r.command(ctx, strings.TrimSpace(line))
			continue
		}
		if st, _ := session.IsComplete(code); st == session.StatusIncomplete {
			continue
		}
		buf = nil
		if !r.exec(ctx, code, input) {
			failed++
		}
	}
	if len(buf) > 0 && !r.quit && ctx.Err() == nil {
		if !r.exec(ctx, strings.Join(buf, "\n"), input) {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d cell(s) failed", failed)
	}
	return nil
}

// exec runs one cell, printing its output, result or error; false if it
// failed.
func (r *repl) exec(ctx context.Context, code string, input func(string, bool) (string, error)) bool {
	if strings.TrimSpace(code) == "" {
		return true
	}
	var mu sync.Mutex
	h := proc.Handler{
		Stream: func(name, text string) {
			mu.Lock()
			defer mu.Unlock()
			if name == "stderr" {
				io.WriteString(r.errOut, text)
			} else {
				io.WriteString(r.out, text)
			}
		},
		Display: func(m session.DisplayMsg) {
			mu.Lock()
			defer mu.Unlock()
			if !m.Clear {
				fmt.Fprintln(r.out, textOf(m.Data))
			}
		},
		Input: input,
	}
	res, err := r.k.Execute(ctx, code, h)
	var ce *session.CellError
	var died *proc.DiedError
	switch {
	case err == nil:
		if res != nil {
			fmt.Fprintln(r.out, textOf(res.Data))
		}
		return true
	case errors.As(err, &ce):
		for _, l := range ce.Traceback {
			fmt.Fprintln(r.errOut, l)
		}
		if len(ce.Traceback) == 0 {
			fmt.Fprintf(r.errOut, "%s: %s\n", ce.EName, ce.EValue)
		}
	case errors.As(err, &died):
		fmt.Fprintf(r.errOut, "%v; restarting with a fresh state\n", died)
		if rerr := r.k.Restart(ctx); rerr != nil {
			fmt.Fprintf(r.errOut, "restart: %v\n", rerr)
			r.quit = true
		}
	default:
		fmt.Fprintln(r.errOut, err)
		r.quit = ctx.Err() != nil
	}
	return false
}

// textOf renders a MIME bundle for a terminal.
func textOf(data map[string]any) string {
	for _, k := range []string{"text/plain", "text/markdown"} {
		if s, ok := data[k].(string); ok {
			return s
		}
	}
	kinds := make([]string, 0, len(data))
	for k := range data {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return "[" + strings.Join(kinds, ", ") + "]"
}

func (r *repl) command(ctx context.Context, cmd string) {
	switch strings.Fields(cmd)[0] {
	case ":help", ":h", ":?":
		io.WriteString(r.out, replHelp)
	case ":quit", ":q", ":exit":
		r.quit = true
	case ":restart":
		if err := r.k.Restart(ctx); err != nil {
			fmt.Fprintf(r.errOut, "restart: %v\n", err)
			return
		}
		fmt.Fprintln(r.out, "fresh state")
	default:
		fmt.Fprintf(r.errOut, "unknown command %s (try :help)\n", cmd)
	}
}

// interactive runs the REPL on a terminal: line editing, history and tab
// completion by x/term in raw mode while reading, cooked mode while a
// cell runs so that Ctrl-C reaches us as SIGINT and interrupts the cell.
func (r *repl) interactive(ctx context.Context, fd int) error {
	// Ctrl-C interrupts cells instead of ending netssm.
	signal.Reset(os.Interrupt)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	go func() {
		for range sigs {
			r.k.Interrupt()
		}
	}()

	rd := &ctrlCReader{r: os.Stdin}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{rd, os.Stdout}, "go> ")
	hist := openHistory()
	if hist != nil {
		t.History = hist
	}
	var buf []string
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' {
			return "", 0, false
		}
		prefix := strings.Join(append(append([]string{}, buf...), ""), "\n")
		code := prefix + line
		matches, start, end, err := r.k.Complete(ctx, code, len(prefix)+pos)
		if err != nil || len(matches) == 0 || start < len(prefix) {
			return "", 0, false
		}
		repl := commonPrefix(matches)
		if len(matches) > 1 {
			fmt.Fprintln(t, strings.Join(matches, "  "))
		}
		s, e := start-len(prefix), end-len(prefix)
		return line[:s] + repl + line[e:], s + len(repl), true
	}
	fmt.Fprintln(t, "netssm Go REPL: :help for help, :quit or Ctrl-D to leave")
	for !r.quit {
		if len(buf) == 0 {
			t.SetPrompt("go> ")
		} else {
			t.SetPrompt("... ")
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("repl: terminal: %w", err)
		}
		rd.sawCtrlC = false
		line, err := t.ReadLine()
		term.Restore(fd, old)
		if err == io.EOF && rd.sawCtrlC {
			fmt.Fprintln(r.out, "^C")
			buf = nil // Ctrl-C drops the input being typed
			continue
		}
		if err != nil {
			fmt.Fprintln(r.out)
			return nil
		}
		if len(buf) == 0 && strings.HasPrefix(strings.TrimSpace(line), ":") {
			r.command(ctx, strings.TrimSpace(line))
			continue
		}
		buf = append(buf, line)
		code := strings.Join(buf, "\n")
		if st, _ := session.IsComplete(code); st == session.StatusIncomplete {
			continue
		}
		buf = nil
		r.exec(ctx, code, terminalInput)
	}
	return nil
}

// terminalInput reads one line for a cell from the terminal (cooked mode).
func terminalInput(prompt string, password bool) (string, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := os.Stdin.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return strings.TrimSuffix(string(line), "\r"), nil
			}
			line = append(line, b[0])
		}
		if err != nil {
			if len(line) > 0 {
				return string(line), nil
			}
			return "", err
		}
	}
}

// ctrlCReader notes whether a Ctrl-C byte went by (x/term reports Ctrl-C
// and Ctrl-D alike, as io.EOF).
type ctrlCReader struct {
	r        io.Reader
	sawCtrlC bool
}

func (c *ctrlCReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for _, b := range p[:n] {
		if b == 3 {
			c.sawCtrlC = true
		}
	}
	return n, err
}

func commonPrefix(list []string) string {
	p := list[0]
	for _, s := range list[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// fileHistory is x/term's history, also appended to ~/.netssm_history.
type fileHistory struct {
	lines []string // oldest first
	f     *os.File
}

func openHistory() *fileHistory {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	path := filepath.Join(home, ".netssm_history")
	h := &fileHistory{}
	if data, err := os.ReadFile(path); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" {
				h.lines = append(h.lines, l)
			}
		}
		if len(h.lines) > 1000 {
			h.lines = h.lines[len(h.lines)-1000:]
		}
	}
	h.f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	return h
}

func (h *fileHistory) Add(entry string) {
	if entry == "" || (len(h.lines) > 0 && h.lines[len(h.lines)-1] == entry) {
		return
	}
	h.lines = append(h.lines, entry)
	if h.f != nil {
		fmt.Fprintln(h.f, entry)
	}
}

func (h *fileHistory) Len() int { return len(h.lines) }

func (h *fileHistory) At(i int) string { return h.lines[len(h.lines)-1-i] }
