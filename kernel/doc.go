// Package kernel runs notebook cells: a Go interpreter per kernel, in its own
// child process, driven over the Jupyter messaging protocol.
package kernel
