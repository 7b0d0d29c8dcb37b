// Package zmq is the native Jupyter transport of the netssm kernel: the
// kernel that JupyterLab's launcher, `jupyter console`, nbconvert,
// papermill and jupyter_kernel_test start from a kernelspec with a
// connection file.
//
// It binds the five sockets a connection file names (shell, control and
// stdin ROUTER, iopub PUB, heartbeat REP; tcp or ipc) with the pure-Go
// github.com/go-zeromq/zmq4, which interoperates with libzmq peers, and
// speaks the Jupyter wire format:
//
//	[routing ids...] "<IDS|MSG>" signature header parent_header metadata content [buffers...]
//
// The signature is the hex HMAC of the four JSON frames, with the key and
// signature_scheme (hmac-sha256 by default; hmac-sha1/224/384/512 too) of
// the connection file, checked in constant time with hmac.Equal. An empty
// key disables signing, as in Jupyter. Messages with a bad or replayed
// signature, or that cannot be decoded, are dropped and logged: the
// sender is not trusted enough to be answered.
//
// What it leaves to others: all message handling is package dispatch's,
// the same dispatcher that serves the websocket transport (kernel/server).
// This package only decodes, verifies, routes (replies to the identity that
// sent the request, input_request on stdin to the shell identity, as
// ipykernel does), signs and publishes. The engine that runs cells
// (kernel/proc) and the kernelspec (package kernelspec) are elsewhere.
//
// Interrupts: [Kernel.Interrupt] is what a SIGINT to the process does
// (interrupt_mode "signal"); interrupt_request on control does the same
// through the dispatcher (interrupt_mode "message"). A shutdown_request,
// with or without restart, shuts the kernel down and closes [Kernel.Done]:
// Jupyter's kernel manager restarts a kernel by starting a new process.
package zmq
