package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/netssm/netssm/netssmlib/preprocess"
)

func init() {
	register(&command{
		name:    "preprocess",
		summary: "turn pcap/pcapng captures into a JSONL text dataset (NetSSM's preprocessor)",
		run:     runPreprocess,
	})
}

func runPreprocess(ctx context.Context, args []string) error {
	fs := newFlagSet("preprocess", "(-in-dir DIR | -in-csv FILE) (-label LABEL | -label-csv FILE) -out FILE.jsonl [flags]")
	inDir := fs.String("in-dir", "", "directory walked recursively for *.pcap and *.pcapng captures")
	inCSV := fs.String("in-csv", "", "CSV `file` whose first column (header File) lists capture paths")
	label := fs.String("label", "", "blanket label for all captures")
	labelCSV := fs.String("label-csv", "", "CSV `file` with a File,Label header mapping capture base names to labels")
	out := fs.String("out", "", "output JSONL file (- for stdout); replaced atomically unless -append")
	truncate := fs.Int("truncate", -1, "keep only the first N words of each sample (-1: keep all)")
	appendOut := fs.Bool("append", false, "append to the output file as NetSSM does, instead of replacing it")
	workers := fs.Int("workers", 0, "decoding goroutines (0: one per CPU)")
	verbose := fs.Bool("v", false, "log every capture")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always, never")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	switch {
	case *out == "":
		return fmt.Errorf("%w: -out is required (the output JSONL file)", errUsage)
	case *inDir == "" && *inCSV == "":
		return fmt.Errorf("%w: give -in-dir or -in-csv", errUsage)
	case *inDir != "" && *inCSV != "":
		return fmt.Errorf("%w: give either -in-dir or -in-csv, not both", errUsage)
	case *label == "" && *labelCSV == "":
		return fmt.Errorf("%w: give -label or -label-csv", errUsage)
	case *label != "" && *labelCSV != "":
		return fmt.Errorf("%w: give either -label or -label-csv, not both", errUsage)
	}
	showBar := false
	switch *progress {
	case "auto":
		showBar = term.IsTerminal(int(os.Stderr.Fd()))
	case "always":
		showBar = true
	case "never":
	default:
		return fmt.Errorf("%w: -progress must be auto, always or never", errUsage)
	}
	// NetSSM: -1 is off; 0 and other negative values keep everything but
	// normalise the label's whitespace.
	tr := 0
	switch {
	case *truncate > 0:
		tr = *truncate
	case *truncate != -1:
		tr = -1
	}
	bar := &progressBar{w: os.Stderr, on: showBar}
	opt := preprocess.Options{
		InDir: *inDir, InCSV: *inCSV, Label: *label, LabelCSV: *labelCSV,
		Out: *out, Append: *appendOut, Truncate: tr, Workers: *workers,
		Progress: bar.update,
		OnFile: func(r preprocess.FileResult) {
			switch {
			case r.Err != nil:
				bar.log("error: %v", r.Err)
				if r.Written {
					bar.log("  (%s: the %d TCP/UDP packets before the error were written)", r.Path, r.Packets)
				}
			case r.Warning != nil:
				bar.log("warning: %v (the %d records before it were used)", r.Warning, r.Records)
			case r.Skipped && *verbose:
				bar.log("%s: skipped, %d TCP/UDP packets (need at least 2)", r.Path, r.Packets)
			case *verbose:
				bar.log("%s: %d TCP/UDP packets of %d records", r.Path, r.Packets, r.Records)
			}
		},
	}
	st, err := preprocess.Run(ctx, opt)
	bar.finish()
	if err == nil && st.Files == 0 {
		fmt.Fprintln(os.Stderr, "preprocess: warning: no captures (*.pcap, *.pcapng) found; wrote an empty output")
	}
	mbs := 0.0
	if s := st.Elapsed.Seconds(); s > 0 {
		mbs = float64(st.Bytes) / 1e6 / s
	}
	if st.Files > 0 || err == nil {
		fmt.Fprintf(os.Stderr, "preprocess: %d captures: %d samples, %d skipped (<2 TCP/UDP packets), %d failed; %d packets, %.1f MB in %.2fs (%.0f MB/s)\n",
			st.Files, st.Samples, st.Skipped, st.Failed, st.Records, float64(st.Bytes)/1e6, st.Elapsed.Seconds(), mbs)
	}
	var ie *preprocess.InputErrors
	if errors.As(err, &ie) {
		return fmt.Errorf("%d inputs failed; the other captures were written to %s", len(ie.Errs), *out)
	}
	return err
}

// progressBar draws a one-line progress display on a terminal.
type progressBar struct {
	w     io.Writer
	on    bool
	drawn bool
}

func (b *progressBar) update(p preprocess.Progress) {
	if !b.on {
		return
	}
	const width = 24
	filled := 0
	if p.Files > 0 {
		filled = width * p.FilesDone / p.Files
	}
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(p.Bytes) / 1e6 / s
	}
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d files  %d packets  %.1f MB  %.0f MB/s  %s\x1b[K",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.FilesDone, p.Files,
		p.Packets, float64(p.Bytes)/1e6, rate, p.Elapsed.Round(100*time.Millisecond))
	b.drawn = true
}

func (b *progressBar) log(format string, args ...any) {
	if b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
	}
	fmt.Fprintf(b.w, format+"\n", args...)
}

func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

// _preprocess-reference is the NetSSM-equivalent baseline for benchmarks
// (bench/preprocess.sh): the same flags subset, sequential, one
// gopacket.NewPacket per packet, each sample built in memory.
func init() {
	register(&command{
		name:    "_preprocess-reference",
		summary: "NetSSM-equivalent slow preprocessor (benchmark baseline)",
		run: func(ctx context.Context, args []string) error {
			fs := newFlagSet("_preprocess-reference", "-in-dir DIR -label LABEL -out FILE")
			inDir := fs.String("in-dir", "", "input directory")
			label := fs.String("label", "", "blanket label")
			out := fs.String("out", "", "output JSONL")
			if err := parseFlags(fs, args); err != nil {
				return err
			}
			if *inDir == "" || *label == "" || *out == "" {
				return fmt.Errorf("%w: need -in-dir, -label and -out", errUsage)
			}
			paths, _, err := preprocess.ListDir(*inDir)
			if err != nil {
				return err
			}
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			for _, p := range paths {
				if err := ctx.Err(); err != nil {
					return err
				}
				line, ok, err := preprocess.ReferenceRecord(ctx, p, *label, -1)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", p, err)
					continue
				}
				if ok {
					if _, err := f.Write(line); err != nil {
						return err
					}
				}
			}
			return f.Close()
		},
	})
}
