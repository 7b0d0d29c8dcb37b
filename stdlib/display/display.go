package display

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/netssm/netssm/internal/displayhook"
)

// Bundle is a MIME bundle: MIME type -> data, as in Jupyter's display_data.
// Binary data (images) is stored base64-encoded, as the protocol wants.
type Bundle map[string]any

// MIMEBundle returns b itself; it makes Bundle displayable by method set.
func (b Bundle) MIMEBundle() map[string]any { return b }

// HTML returns a bundle showing s as HTML.
func HTML(s string) Bundle { return Bundle{"text/html": s, "text/plain": "<HTML>"} }

// Markdown returns a bundle showing s as Markdown.
func Markdown(s string) Bundle { return Bundle{"text/markdown": s, "text/plain": s} }

// SVG returns a bundle showing an SVG image.
func SVG(s string) Bundle { return Bundle{"image/svg+xml": s, "text/plain": "<SVG image>"} }

// PNG returns a bundle showing PNG image bytes.
func PNG(b []byte) Bundle {
	return Bundle{"image/png": base64.StdEncoding.EncodeToString(b), "text/plain": "<PNG image, " + strconv.Itoa(len(b)) + " bytes>"}
}

// JPEG returns a bundle showing JPEG image bytes.
func JPEG(b []byte) Bundle {
	return Bundle{"image/jpeg": base64.StdEncoding.EncodeToString(b), "text/plain": "<JPEG image, " + strconv.Itoa(len(b)) + " bytes>"}
}

// Text returns a bundle of plain text.
func Text(s string) Bundle { return Bundle{"text/plain": s} }

// JSON returns a bundle showing v (anything encoding/json can marshal) as
// an interactive JSON tree. A value that cannot be marshalled shows the
// error as text.
func JSON(v any) Bundle {
	raw, err := json.Marshal(v)
	if err != nil {
		return Text("display.JSON: " + err.Error())
	}
	var tree any
	_ = json.Unmarshal(raw, &tree) // valid JSON by construction
	indented, _ := json.MarshalIndent(v, "", "  ")
	return Bundle{"application/json": tree, "text/plain": string(indented)}
}

// The method sets that make a value displayable.
type (
	htmler     interface{ HTML() string }
	markdowner interface{ Markdown() string }
	svger      interface{ SVG() string }
	pnger      interface{ PNG() []byte }
	jpeger     interface{ JPEG() []byte }
	bundler    interface{ MIMEBundle() map[string]any }
)

// MIME returns the bundle that displays v: its MIMEBundle if it has one,
// else one entry per display method it has (HTML, Markdown, SVG, PNG,
// JPEG), always with a text/plain form (String() or fmt's %v).
func MIME(v any) Bundle {
	b := Bundle{}
	if x, ok := v.(bundler); ok {
		for k, d := range x.MIMEBundle() {
			b[k] = d
		}
	}
	if x, ok := v.(htmler); ok {
		b["text/html"] = x.HTML()
	}
	if x, ok := v.(markdowner); ok {
		b["text/markdown"] = x.Markdown()
	}
	if x, ok := v.(svger); ok {
		b["image/svg+xml"] = x.SVG()
	}
	if x, ok := v.(pnger); ok {
		b["image/png"] = base64.StdEncoding.EncodeToString(x.PNG())
	}
	if x, ok := v.(jpeger); ok {
		b["image/jpeg"] = base64.StdEncoding.EncodeToString(x.JPEG())
	}
	if _, ok := b["text/plain"]; !ok {
		b["text/plain"] = fmt.Sprint(v)
	}
	return b
}

// Display publishes v at once as display_data (see MIME for how v is
// rendered). Outside a kernel it prints v's text/plain form.
func Display(v any) { publish(MIME(v), "", false) }

// Clear clears the cell's output; with wait, only when the next output
// arrives (smooth animations).
func Clear(wait bool) {
	displayhook.Publish(displayhook.Message{Clear: true, Wait: wait})
}

func publish(b Bundle, id string, update bool) {
	m := displayhook.Message{Data: map[string]any(b), Metadata: map[string]any{}, Update: update}
	if id != "" {
		m.Transient = map[string]any{"display_id": id}
	}
	if displayhook.Publish(m) {
		return
	}
	if s, ok := b["text/plain"].(string); ok {
		fmt.Fprintln(os.Stdout, s)
	}
}

var lastID atomic.Int64

// Handle is a display that can be updated in place (a display_id).
type Handle struct {
	id    string
	shown atomic.Bool
}

// New returns a handle with a fresh display_id; nothing is shown until
// Display or Update.
func New() *Handle {
	return &Handle{id: fmt.Sprintf("netssm-%d-%d", os.Getpid(), lastID.Add(1))}
}

// ID is the handle's display_id.
func (h *Handle) ID() string { return h.id }

// Display shows v as a new output carrying the handle's display_id.
func (h *Handle) Display(v any) {
	h.shown.Store(true)
	publish(MIME(v), h.id, false)
}

// Update replaces what the handle shows by v (every output with this
// display_id, in all cells). The first Update of a handle never shown
// displays it.
func (h *Handle) Update(v any) {
	if !h.shown.Swap(true) {
		publish(MIME(v), h.id, false)
		return
	}
	publish(MIME(v), h.id, true)
}
