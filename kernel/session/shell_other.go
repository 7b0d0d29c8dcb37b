//go:build !unix

package session

import "os/exec"

func setProcessGroup(cmd *exec.Cmd) {}
