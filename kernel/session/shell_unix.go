//go:build unix

package session

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts a ! command in its own process group and makes
// cancellation kill the whole group (sh and what it started).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
