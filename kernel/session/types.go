package session

import (
	"fmt"
	"strings"
)

// DisplayMsg is a display_data (or update_display_data, or clear_output)
// message from a running cell.
type DisplayMsg struct {
	Data, Metadata map[string]any
	Transient      map[string]any // {"display_id": id} for updatable displays
	Update         bool           // update_display_data
	Clear          bool           // clear_output
	Wait           bool           // clear_output(wait=true)
}

// Result is the execute_result MIME bundle of a cell's trailing expression;
// Data has text/plain at least.
type Result struct {
	Data, Metadata map[string]any
}

// Error names (CellError.EName).
const (
	ENameCompile   = "CompileError" // the cell does not parse or type-check
	ENamePanic     = "panic"        // cell code panicked
	ENameInterrupt = "Interrupted"  // the cell's context was cancelled
	ENameShell     = "ShellError"   // a %magic line failed
)

// CellError is a cell's failure, shaped like Jupyter's error reply.
// Traceback lines name cell line numbers as "cell:LINE:COL".
type CellError struct {
	EName, EValue string
	Traceback     []string
}

func (e *CellError) Error() string {
	if len(e.Traceback) > 0 {
		return e.EName + ": " + strings.Join(e.Traceback, "\n")
	}
	return fmt.Sprintf("%s: %s", e.EName, e.EValue)
}
