//go:build unix && !linux

package proc

import "syscall"

// childAttr puts the child in its own process group. (No parent-death
// signal outside Linux: the child exits when its control socket closes.)
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

func signalChild(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

func limitMemory(n int64) error {
	lim := &syscall.Rlimit{Cur: uint64(n), Max: uint64(n)}
	return syscall.Setrlimit(syscall.RLIMIT_DATA, lim)
}
