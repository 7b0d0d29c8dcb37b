// Package proc runs each notebook kernel (a kernel/session interpreter) in
// its own child process, so that a cell calling os.Exit, crashing or running
// out of memory ends only that kernel, and a busy cell can be interrupted.
//
// The parent side is Kernel: Start, Execute, Complete, Inspect, IsComplete,
// Interrupt, Restart, Shutdown, Done and Err. The child side is ChildMain,
// run by the hidden `netssm _kernel-child` command (or by a test binary that
// re-executes itself, see ChildEnv).
//
// # Channels
//
// The child's fds 1 and 2 are pipes that the parent reads and streams as the
// bytes come, so everything a cell prints reaches the client while it runs:
// fmt, os.Stdout, log, goroutines, and processes the cell starts (`!ls`).
// Display messages travel in-band on fd 1 as frames (so they stay ordered
// with stdout), and so does an end marker after each cell, on fds 1 and 2:
// Execute returns only once both markers arrived, so all output of a cell is
// delivered before it returns. A frame starts with NUL, ESC and a random
// per-child nonce, which cell output cannot forge by accident.
// Requests, replies and input requests use a socket on fd 3, one JSON
// object per line.
//
// Output that arrives between cells (goroutines that outlive their cell) is
// kept, up to 1 MiB, and delivered at the start of the next Execute.
//
// # Interrupt, death, memory
//
// Interrupt sends SIGINT to the child, which cancels the running cell's
// context; yaegi stops even `for {}` (goroutines the cell started keep
// running; yaegi cannot stop them). The child runs in its own process group
// and dies with its parent (Linux: PR_SET_PDEATHSIG). Options.MemoryLimit
// sets the child's Go memory limit and a hard RLIMIT_DATA, so a cell that
// allocates too much kills its own kernel (a *DiedError saying "out of
// memory"), never the server.
package proc
