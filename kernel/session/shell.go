package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// shell runs a "!cmd" line with sh -c in the session's directory, its
// output going to the session's writers as it comes. A failing command is
// not a cell error (as in IPython); its exit status is reported on stderr.
// Cancelling ctx kills the command's whole process group.
func (s *Session) shell(ctx context.Context, seg segment) error {
	if seg.text == "" {
		return nil
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", seg.text)
	cmd.Dir = s.Dir()
	cmd.Env = s.opts.Env
	cmd.Stdout = fileOf(s.opts.Stdout)
	cmd.Stderr = fileOf(s.opts.Stderr)
	cmd.WaitDelay = time.Second // background children holding the pipes
	setProcessGroup(cmd)
	err := cmd.Run()
	if ctx.Err() != nil {
		return interrupted()
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		fmt.Fprintf(s.opts.Stderr, "! %s: %v\n", seg.text, exit)
		return nil
	default:
		return &CellError{EName: ENameShell, EValue: err.Error(),
			Traceback: []string{fmt.Sprintf("cell:%d: !%s: %v", seg.line, seg.text, err)}}
	}
}

// magic runs a %magic line: only %cd [DIR] so far.
func (s *Session) magic(seg segment) error {
	name, arg, _ := strings.Cut(seg.text, " ")
	arg = strings.TrimSpace(arg)
	fail := func(format string, a ...any) error {
		msg := fmt.Sprintf(format, a...)
		return &CellError{EName: ENameShell, EValue: msg, Traceback: []string{fmt.Sprintf("cell:%d: %s", seg.line, msg)}}
	}
	switch name {
	case "cd":
		dir := arg
		if unq, err := unquote(dir); err == nil {
			dir = unq
		}
		if dir == "" || dir == "~" || strings.HasPrefix(dir, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return fail("%%cd: %v", err)
			}
			dir = filepath.Join(home, strings.TrimPrefix(strings.TrimPrefix(dir, "~"), "/"))
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(s.Dir(), dir)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return fail("%%cd: %v", err)
		}
		if !fi.IsDir() {
			return fail("%%cd: %s is not a directory", dir)
		}
		if err := os.Chdir(dir); err != nil {
			return fail("%%cd: %v", err)
		}
		s.mu.Lock()
		s.dir = dir
		s.mu.Unlock()
		fmt.Fprintln(s.opts.Stdout, dir)
		return nil
	case "pwd":
		fmt.Fprintln(s.opts.Stdout, s.Dir())
		return nil
	}
	return fail("unknown magic %%%s (known: %%cd DIR, %%pwd)", name)
}

func unquote(s string) (string, error) {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1], nil
	}
	return s, errors.New("not quoted")
}

// fileOf returns the *os.File behind w when it offers one (File()), so that
// commands write to the fd directly: no copying goroutine, and background
// children cannot hold up the cell.
func fileOf(w io.Writer) io.Writer {
	if f, ok := w.(interface{ File() *os.File }); ok {
		return f.File()
	}
	return w
}
