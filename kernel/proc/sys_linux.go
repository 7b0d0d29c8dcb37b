package proc

import (
	"syscall"
)

// childAttr puts the child in its own process group (a terminal's Ctrl-C
// reaches only the parent, which decides) and kills it when the parent dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

func signalChild(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// limitMemory sets a hard cap on the process's data segment (which
// covers the Go heap's mappings on Linux).
func limitMemory(n int64) error {
	lim := &syscall.Rlimit{Cur: uint64(n), Max: uint64(n)}
	return syscall.Setrlimit(syscall.RLIMIT_DATA, lim)
}
