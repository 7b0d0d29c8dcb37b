// Package display shows rich output from notebook cells: HTML, Markdown,
// images, JSON and plain text, and displays that update in place (progress
// bars, live plots).
//
// Constructors (HTML, Markdown, SVG, PNG, JPEG, JSON, Text) return a Bundle,
// a MIME bundle. A Bundle as the last expression of a cell becomes the cell's
// result; Display publishes any value at once, as a display_data message:
//
//	display.Display(display.HTML("<b>hello</b>"))
//
// Any value whose type has one of the methods HTML() string,
// Markdown() string, SVG() string, PNG() []byte, JPEG() []byte or
// MIMEBundle() map[string]any displays as such, without importing this
// package (the method set decides, as in gophernotes).
//
// New returns a Handle whose displays carry a display_id, so that later
// Updates replace the shown output instead of appending to it. NewProgress
// turns the progress callbacks of netssmlib's long operations into an
// updating bar: HTML in a notebook, a text bar on stderr in a terminal.
//
// Outside a kernel (a compiled program, the REPL's terminal) displays fall
// back to their text/plain form on standard output.
package display
