package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Engine runs cells. *proc.Kernel satisfies it through the adapter in
// package server (kernel/server/procengine.go); tests use fakes. Byte
// offsets, not UTF-16 cursors, cross this interface.
type Engine interface {
	// Execute runs code. All Handler callbacks happen before it returns.
	// It returns (result or nil, nil) on success, a *CellError for compile
	// errors and panics, and a *DiedError when the engine's process died.
	// Cancelling ctx interrupts the cell.
	Execute(ctx context.Context, code string, h Handler) (*Result, error)
	Complete(ctx context.Context, code string, cursorByte int) (matches []string, startByte, endByte int, err error)
	Inspect(ctx context.Context, code string, cursorByte, detail int) (data map[string]any, found bool, err error)
	IsComplete(ctx context.Context, code string) (status, indent string, err error)
	// Interrupt stops a running cell; the state is kept.
	Interrupt() error
	// Restart gives a fresh state; the Engine value stays the same.
	Restart(ctx context.Context) error
	Shutdown() error
	// Done is closed when the engine's process exits; Err says why.
	Done() <-chan struct{}
	Err() error
}

// Handler receives what a cell produces while it runs.
type Handler struct {
	Stream  func(name, text string) // "stdout" or "stderr"
	Display func(Display)
	// Input reads a line from the user; nil means stdin is not allowed.
	Input func(prompt string, password bool) (string, error)
}

// Display is a display_data, update_display_data or clear_output request
// from a cell. Transient carries display_id.
type Display struct {
	Data, Metadata, Transient map[string]any
	Update                    bool // update_display_data
	Clear                     bool // clear_output
	Wait                      bool // clear_output(wait=true)
}

// Result is the MIME bundle of a cell's trailing expression.
type Result struct {
	Data, Metadata map[string]any
}

// CellError is an error in cell code (compile error, panic, interrupt).
type CellError struct {
	EName, EValue string
	Traceback     []string
}

func (e *CellError) Error() string {
	if e.EValue == "" {
		return e.EName
	}
	return e.EName + ": " + e.EValue
}

// DiedError reports that the engine's process ended (os.Exit in a cell,
// out of memory, a crash).
type DiedError struct {
	Reason string
}

func (e *DiedError) Error() string { return "kernel died: " + e.Reason }

// asCellError maps any engine error to what the client sees.
func asCellError(err error) *CellError {
	var ce *CellError
	if errors.As(err, &ce) {
		return ce
	}
	var de *DiedError
	if errors.As(err, &de) {
		return &CellError{EName: "DeadKernelError", EValue: de.Error(), Traceback: []string{
			"DeadKernelError: " + de.Error(), "The kernel was restarted: all variables are gone."}}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &CellError{EName: "Interrupted", EValue: "execution interrupted", Traceback: []string{"Interrupted: execution interrupted"}}
	}
	msg := err.Error()
	return &CellError{EName: "KernelError", EValue: msg, Traceback: strings.Split(fmt.Sprintf("KernelError: %s", msg), "\n")}
}
