package display

import (
	"fmt"
	"html"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/netssm/netssm/internal/displayhook"
)

// Progress turns progress callbacks into an updating display: an HTML
// progress bar (updated in place by display_id) in a notebook, a text bar
// rewritten with \r on standard error in a terminal. Updates are throttled
// to ten per second; the last one (done == total) is always shown.
// A Progress is safe for concurrent use.
type Progress struct {
	label string
	h     *Handle
	term  io.Writer // nil in a notebook

	mu          sync.Mutex
	start, last time.Time
	done, total int64
	finished    bool
}

// NewProgress returns a progress display named label. It shows nothing
// until the first update.
func NewProgress(label string) *Progress {
	p := &Progress{label: label, start: time.Now()}
	if displayhook.Active() {
		p.h = New()
	} else {
		p.term = os.Stderr
	}
	return p
}

// Callback returns p.Update as the func(done, total int) that netssmlib's
// long operations accept.
func (p *Progress) Callback() func(done, total int) {
	return func(done, total int) { p.Update(int64(done), int64(total)) }
}

// Callback64 returns p.Update as a func(done, total int64).
func (p *Progress) Callback64() func(done, total int64) { return p.Update }

// Update records that done of total units are finished (total <= 0: unknown).
func (p *Progress) Update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.done, p.total = done, total
	now := time.Now()
	complete := total > 0 && done >= total
	if !complete && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	p.render(complete)
	if complete {
		p.finished = true
	}
}

// Finish shows the final state (for operations whose total was unknown).
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	p.render(true)
}

// render draws the current state; p.mu is held.
func (p *Progress) render(final bool) {
	elapsed := time.Since(p.start).Round(100 * time.Millisecond)
	frac := -1.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
		frac = min(max(frac, 0), 1)
	}
	var count string
	if p.total > 0 {
		count = fmt.Sprintf("%3.0f%% %d/%d", frac*100, p.done, p.total)
	} else {
		count = fmt.Sprintf("%d", p.done)
	}
	text := fmt.Sprintf("%s %s %s %s", p.label, bar(frac, 30), count, elapsed)
	if p.term != nil {
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(p.term, "\r%s%s", text, end)
		return
	}
	value := ""
	if frac >= 0 {
		value = fmt.Sprintf(` value="%d" max="%d"`, p.done, p.total)
	}
	h := fmt.Sprintf(`<div><span>%s</span> <progress%s style="width:40%%"></progress> <span>%s %s</span></div>`,
		html.EscapeString(p.label), value, html.EscapeString(count), elapsed)
	p.h.Update(Bundle{"text/html": h, "text/plain": text})
}

func bar(frac float64, width int) string {
	if frac < 0 {
		return "[" + strings.Repeat("?", width) + "]"
	}
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
}
