package display

import (
	"bytes"
	"html"
	"io"
	"os"
	"sync"
	"time"

	"github.com/netssm/netssm/internal/displayhook"
)

// LineWriter is an io.Writer for operations that draw their own
// carriage-return progress bar (netssmlib's train.Options.Progress): in a
// notebook each line, ended by \r or \n, replaces the previous one in an
// updating display (at most ten updates a second; a line ended by \n is
// always shown); in a terminal the bytes go to standard error unchanged.
// A LineWriter is safe for concurrent use.
type LineWriter struct {
	mu   sync.Mutex
	h    *Handle
	term io.Writer
	cur  []byte // the line being written
	last time.Time
	pend string // a completed line not shown yet (throttled)
}

// NewLineWriter returns a LineWriter; nothing is shown until a line ends.
func NewLineWriter() *LineWriter {
	if displayhook.Active() {
		return &LineWriter{h: New()}
	}
	return &LineWriter{term: os.Stderr}
}

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.term != nil {
		return w.term.Write(p)
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			w.cur = append(w.cur, p...)
			break
		}
		w.cur = append(w.cur, p[:i]...)
		line := string(w.cur)
		w.cur = w.cur[:0]
		if line != "" {
			w.show(line, p[i] == '\n')
		}
		p = p[i+1:]
	}
	return n, nil
}

// Flush shows the last line if throttling held it back.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pend != "" {
		w.show(w.pend, true)
	}
}

// show displays line now, or keeps it for later when throttled; w.mu held.
func (w *LineWriter) show(line string, force bool) {
	now := time.Now()
	if !force && now.Sub(w.last) < 100*time.Millisecond {
		w.pend = line
		return
	}
	w.last, w.pend = now, ""
	w.h.Update(Bundle{"text/html": "<pre>" + html.EscapeString(line) + "</pre>", "text/plain": line})
}
