package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/netssm/netssm/kernel/zmq/kernelspec"
)

// kernelspec installs and removes the Jupyter kernelspec that launches
// `netssm zmq-kernel`.
func init() {
	register(&command{
		name:    "kernelspec",
		summary: "install or remove the Jupyter kernelspec \"Go (netssm)\" (install | remove)",
		run: func(ctx context.Context, args []string) error {
			return kernelspecCmd(args, os.Stdout)
		},
	})
}

const kernelspecUsage = "install [-user | -prefix DIR] [-name netssm] [-interrupt-mode message|signal] | remove [-user | -prefix DIR] [-name netssm]"

func kernelspecCmd(args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(os.Stderr, "usage: netssm kernelspec %s\n", kernelspecUsage)
		return fmt.Errorf("%w: missing install or remove", errUsage)
	}
	sub := args[0]
	switch sub {
	case "install", "remove":
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(out, "usage: netssm kernelspec %s\n", kernelspecUsage)
		return nil
	default:
		return fmt.Errorf("%w: unknown kernelspec command %q (install or remove)", errUsage, sub)
	}
	usages := map[string]string{
		"install": "[-user | -prefix DIR] [-name netssm] [-interrupt-mode message|signal] [-exe PATH]",
		"remove":  "[-user | -prefix DIR] [-name netssm]",
	}
	fs := newFlagSet("kernelspec "+sub, usages[sub])
	user := fs.Bool("user", false, "use the user's Jupyter data folder ($JUPYTER_DATA_DIR or ~/.local/share/jupyter)")
	prefix := fs.String("prefix", "", "use PREFIX/share/jupyter (a virtualenv, conda env or a test's temp folder)")
	name := fs.String("name", kernelspec.DefaultName, "kernelspec name")
	var mode, exe *string
	if sub == "install" {
		mode = fs.String("interrupt-mode", "message", "how Jupyter interrupts a cell: message (interrupt_request on the control channel) or signal (SIGINT)")
		exe = fs.String("exe", "", "netssm executable the kernelspec runs (default: this one's absolute path)")
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *user && *prefix != "" {
		return fmt.Errorf("%w: -user and -prefix exclude each other", errUsage)
	}
	if err := kernelspec.CheckName(*name); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	var dir string
	switch {
	case *user:
		d, err := kernelspec.UserDir()
		if err != nil {
			return err
		}
		dir = d
	case *prefix != "":
		p, err := filepath.Abs(*prefix)
		if err != nil {
			return err
		}
		dir = kernelspec.PrefixDir(p)
	}

	if sub == "remove" {
		return kernelspecRemove(dir, *name, out)
	}
	if dir == "" {
		dir = kernelspec.SystemDir()
	}
	path := *exe
	if path == "" {
		p, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the netssm executable: %w", err)
		}
		path = p
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return fmt.Errorf("%w: -exe %s is not an executable file", errUsage, path)
	}
	spec, err := kernelspec.New(path, *mode)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	installed, err := kernelspec.Install(dir, *name, spec)
	if err != nil {
		if errors.Is(err, os.ErrPermission) && !*user && *prefix == "" {
			return fmt.Errorf("%v (use -user to install for this user only)", err)
		}
		return err
	}
	fmt.Fprintf(out, "installed kernelspec %s in %s\n", *name, installed)
	return nil
}

// kernelspecRemove removes the kernelspec from dir, or, when dir is empty,
// from every folder Jupyter searches that has it.
func kernelspecRemove(dir, name string, out io.Writer) error {
	dirs := []string{dir}
	if dir == "" {
		dirs = kernelspec.SearchDirs()
	}
	removed := 0
	var errs []error
	for _, d := range dirs {
		p, err := kernelspec.Remove(d, name)
		if errors.Is(err, kernelspec.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "removed kernelspec %s from %s\n", name, p)
		removed++
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if removed == 0 {
		return fmt.Errorf("kernelspec %s not found in %v", name, dirs)
	}
	return nil
}
