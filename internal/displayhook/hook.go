// Package displayhook connects stdlib/display, which cells import, to the
// kernel that publishes display data. It is internal so that cells cannot
// import it (its symbols are never extracted), and it imports nothing of
// netssm so that both sides can depend on it without cycles.
package displayhook

import "sync/atomic"

// Message is one display_data, update_display_data or clear_output
// request, with the fields of the Jupyter messages of those types.
type Message struct {
	Data      map[string]any // MIME type -> data (text/plain, text/html, image/png as base64, ...)
	Metadata  map[string]any
	Transient map[string]any // {"display_id": id} for updatable displays
	Update    bool           // update_display_data instead of display_data
	Clear     bool           // clear_output
	Wait      bool           // clear_output(wait=true)
}

var publisher atomic.Pointer[func(Message)]

// SetPublisher installs the function that delivers display messages (nil
// removes it). The kernel child installs one at start.
func SetPublisher(f func(Message)) {
	if f == nil {
		publisher.Store(nil)
		return
	}
	publisher.Store(&f)
}

// Publish delivers m and reports whether a publisher was installed.
func Publish(m Message) bool {
	p := publisher.Load()
	if p == nil {
		return false
	}
	(*p)(m)
	return true
}

// Active reports whether a publisher is installed, that is whether the
// code runs in a notebook kernel rather than a terminal.
func Active() bool { return publisher.Load() != nil }
