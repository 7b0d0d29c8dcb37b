package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/netssm/netssm/kernel/proc"
	"github.com/netssm/netssm/kernel/session"
)

// Engine runs cells: *proc.Kernel (one child process per kernel) in
// production, a fake (package dispatchtest) in tests. Byte
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

// The types that cross the Engine interface are kernel/proc's and
// kernel/session's, so that *proc.Kernel is an Engine as it is.
type (
	// Handler receives what a cell produces while it runs; Input nil
	// means stdin is not allowed.
	Handler = proc.Handler
	// Display is a display_data, update_display_data or clear_output
	// request from a cell; Transient carries display_id.
	Display = session.DisplayMsg
	// Result is the MIME bundle of a cell's trailing expression.
	Result = session.Result
	// CellError is an error in cell code (compile error, panic, interrupt).
	CellError = session.CellError
	// DiedError reports that the engine's process ended (os.Exit in a
	// cell, out of memory, a crash, a restart).
	DiedError = proc.DiedError
)

var _ Engine = (*proc.Kernel)(nil)

// asCellError maps any engine error to what the client sees.
func asCellError(err error) *CellError {
	var ce *CellError
	if errors.As(err, &ce) {
		return ce
	}
	var de *DiedError
	if errors.As(err, &de) && de.Reason == "restarted" {
		return &CellError{EName: "KernelRestarted", EValue: "the kernel was restarted while the cell ran", Traceback: []string{"KernelRestarted: the kernel was restarted while the cell ran"}}
	}
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
