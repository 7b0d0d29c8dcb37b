package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/nbrun"
	"github.com/netssm/netssm/kernel/server"
)

func init() {
	register(&command{
		name:    "run",
		summary: "execute a notebook's Go cells in a fresh kernel and write the outputs (nbformat 4)",
		run:     runNotebook,
	})
}

func runNotebook(ctx context.Context, args []string) error {
	fs := newFlagSet("run", "NOTEBOOK.ipynb [-o OUT.ipynb] [-timeout D]")
	outPath := fs.String("o", "", "output notebook (default NOTEBOOK.out.ipynb beside the input; - for stdout)")
	timeout := fs.Duration("timeout", 0, "limit for each cell, e.g. 10m (0: none); a cell over it is interrupted and fails")
	quiet := fs.Bool("q", false, "do not report progress on stderr")
	// Accept flags before or after the notebook, as people type both.
	var pos []string
	for len(args) > 0 {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if len(pos) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want exactly one notebook, got %d", errUsage, len(pos))
	}
	if *timeout < 0 {
		return fmt.Errorf("%w: -timeout %v is negative", errUsage, *timeout)
	}
	in := pos[0]
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	nb, err := nbrun.Parse(in, data)
	if err != nil {
		return err
	}
	dst := *outPath
	if dst == "" {
		dst = strings.TrimSuffix(in, ".ipynb") + ".out.ipynb"
	}
	dir, err := filepath.Abs(filepath.Dir(in))
	if err != nil {
		return err
	}
	t0 := time.Now()
	eng, err := newEngine(ctx, server.StartOptions{Dir: dir})
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	opt := nbrun.Options{Timeout: *timeout, Info: dispatch.Info{Implementation: "netssm"}}
	if !*quiet {
		opt.Progress = func(i int, src string) {
			first, _, _ := strings.Cut(strings.TrimSpace(src), "\n")
			if len(first) > 60 {
				first = first[:60] + "..."
			}
			fmt.Fprintf(os.Stderr, "netssm run: cell %d: %s\n", i+1, first)
		}
	}
	runErr := nbrun.Run(ctx, nb, eng, opt)
	out, err := nb.Marshal()
	if err != nil {
		return fmt.Errorf("%s: encode output: %w", in, err)
	}
	if dst == "-" {
		_, err = os.Stdout.Write(out)
	} else {
		err = writeFileAtomic(dst, out)
	}
	if err != nil {
		return err
	}
	if !*quiet && dst != "-" {
		fmt.Fprintf(os.Stderr, "netssm run: wrote %s (%.1fs)\n", dst, time.Since(t0).Seconds())
	}
	if runErr != nil {
		var ce *nbrun.CellError
		if errors.As(runErr, &ce) && len(ce.Traceback) > 0 && !*quiet {
			fmt.Fprintln(os.Stderr, strings.Join(ce.Traceback, "\n"))
		}
		return fmt.Errorf("%s: %w", in, runErr)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it, so that a failed write never leaves half a notebook.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".netssm-run-*.ipynb")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
