package dispatchtest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
)

// PNG is a valid 1x1 PNG, base64-encoded as in a MIME bundle.
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

// Engine is the fake engine. The zero value is not usable; use New.
type Engine struct {
	mu       sync.Mutex
	vars     map[string]string
	done     chan struct{}
	err      error
	shutdown bool
	starts   int
}

// New returns a running fake engine.
func New() *Engine {
	return &Engine{vars: map[string]string{}, done: make(chan struct{}), starts: 1}
}

var _ dispatch.Engine = (*Engine)(nil)

func (e *Engine) alive() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.done:
		return &dispatch.DiedError{Reason: "fake engine is dead"}
	default:
		return nil
	}
}

// Execute runs the commands of code.
func (e *Engine) Execute(ctx context.Context, code string, h dispatch.Handler) (*dispatch.Result, error) {
	if err := e.alive(); err != nil {
		return nil, err
	}
	var res *dispatch.Result
	for i, line := range strings.Split(code, "\n") {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		stream := func(name, s string) {
			if h.Stream != nil {
				h.Stream(name, s)
			}
		}
		switch cmd {
		case "":
		case "out":
			stream("stdout", arg+"\n")
		case "err":
			stream("stderr", arg+"\n")
		case "png":
			if h.Display != nil {
				h.Display(dispatch.Display{Data: map[string]any{"image/png": PNG, "text/plain": "<image>"}})
			}
		case "display", "update":
			id, text, _ := strings.Cut(arg, " ")
			if h.Display != nil {
				h.Display(dispatch.Display{Data: map[string]any{"text/plain": text}, Transient: map[string]any{"display_id": id}, Update: cmd == "update"})
			}
		case "set":
			name, val, _ := strings.Cut(arg, " ")
			e.mu.Lock()
			e.vars[name] = val
			e.mu.Unlock()
		case "=":
			e.mu.Lock()
			v, ok := e.vars[arg]
			e.mu.Unlock()
			if !ok {
				v = arg
			}
			res = &dispatch.Result{Data: map[string]any{"text/plain": v}}
		case "input":
			if h.Input == nil {
				return nil, &dispatch.CellError{EName: "StdinNotAllowed", EValue: "stdin is not allowed", Traceback: []string{fmt.Sprintf("cell line %d: stdin is not allowed", i+1)}}
			}
			v, err := h.Input(arg, false)
			if err != nil {
				return nil, &dispatch.CellError{EName: "InputError", EValue: err.Error()}
			}
			stream("stdout", v+"\n")
		case "sleep", "loop":
			d := 24 * time.Hour
			if cmd == "sleep" {
				var err error
				if d, err = time.ParseDuration(arg); err != nil {
					return nil, &dispatch.CellError{EName: "BadDuration", EValue: err.Error()}
				}
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, &dispatch.CellError{EName: "Interrupted", EValue: "interrupted", Traceback: []string{fmt.Sprintf("interrupted at cell line %d", i+1)}}
			case <-e.done:
				return nil, &dispatch.DiedError{Reason: "fake engine killed"}
			}
		case "panic":
			return nil, &dispatch.CellError{EName: "panic", EValue: arg, Traceback: []string{"panic: " + arg, fmt.Sprintf("cell line %d", i+1)}}
		case "exit":
			e.Kill(errors.New("exit status 3"))
			return nil, &dispatch.DiedError{Reason: "exit status 3"}
		default:
			return nil, &dispatch.CellError{EName: "SyntaxError", EValue: fmt.Sprintf("unknown command %q", cmd), Traceback: []string{fmt.Sprintf("cell line %d: unknown command %q", i+1, cmd)}}
		}
	}
	return res, nil
}

// Starts returns the number of starts (1 + restarts).
func (e *Engine) Starts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.starts
}

// Kill makes the engine die as if its process exited with err.
func (e *Engine) Kill(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.done:
	default:
		e.err = err
		close(e.done)
	}
}

// Complete completes variable names at the cursor.
func (e *Engine) Complete(ctx context.Context, code string, cur int) ([]string, int, int, error) {
	if err := e.alive(); err != nil {
		return nil, 0, 0, err
	}
	start := cur
	for start > 0 && isIdent(code[start-1]) {
		start--
	}
	prefix := code[start:cur]
	e.mu.Lock()
	var out []string
	for name := range e.vars {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	e.mu.Unlock()
	sort.Strings(out)
	return out, start, cur, nil
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Inspect describes the variable at the cursor.
func (e *Engine) Inspect(ctx context.Context, code string, cur, detail int) (map[string]any, bool, error) {
	if err := e.alive(); err != nil {
		return nil, false, err
	}
	start, end := cur, cur
	for start > 0 && isIdent(code[start-1]) {
		start--
	}
	for end < len(code) && isIdent(code[end]) {
		end++
	}
	e.mu.Lock()
	v, ok := e.vars[code[start:end]]
	e.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	return map[string]any{"text/plain": code[start:end] + " = " + v}, true, nil
}

// IsComplete says incomplete while braces are open, invalid when they
// close more than they open.
func (e *Engine) IsComplete(ctx context.Context, code string) (string, string, error) {
	depth := strings.Count(code, "{") - strings.Count(code, "}")
	switch {
	case depth > 0:
		return "incomplete", strings.Repeat("\t", depth), nil
	case depth < 0:
		return "invalid", "", nil
	}
	return "complete", "", nil
}

// Interrupt is a no-op: cancelling Execute's context interrupts.
func (e *Engine) Interrupt() error { return nil }

// Restart gives a fresh state and revives a dead engine.
func (e *Engine) Restart(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shutdown {
		return errors.New("fake engine is shut down")
	}
	e.vars = map[string]string{}
	select {
	case <-e.done:
		e.done = make(chan struct{})
		e.err = nil
	default:
	}
	e.starts++
	return nil
}

// Shutdown stops the engine for good.
func (e *Engine) Shutdown() error {
	e.mu.Lock()
	e.shutdown = true
	e.mu.Unlock()
	e.Kill(errors.New("shut down"))
	return nil
}

// Done is closed when the engine dies.
func (e *Engine) Done() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done
}

// Err says why the engine died.
func (e *Engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}
