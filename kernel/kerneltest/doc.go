// Package kerneltest is an in-process Jupyter front end for tests, in the
// manner of net/http/httptest: [NewServer] serves a kernel server on an
// ephemeral loopback port, and [Client] speaks to one kernel's websocket
// in either framing and collects replies and iopub messages.
package kerneltest
