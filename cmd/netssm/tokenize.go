package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/netssm/netssm/netssmlib/dataset"
	"github.com/netssm/netssm/netssmlib/tokenizer"
)

func init() {
	register(&command{
		name:    "tokenize",
		summary: "tokenize preprocessed JSONL into a HuggingFace datasets folder (NetSSM's create_tok_dataset)",
		run:     runTokenize,
	})
}

func runTokenize(ctx context.Context, args []string) error {
	fs := newFlagSet("tokenize", "-tokenizer DIR -data-path X.jsonl -out-path DIR [-max-len N] [-padding]")
	var tokPath, in, out string
	var maxLen, workers, batchSize int
	var padding bool
	fs.StringVar(&tokPath, "tokenizer", "", "tokenizer folder (or tokenizer.json)")
	fs.StringVar(&in, "data-path", "", "JSONL written by netssm preprocess")
	fs.StringVar(&in, "data_path", "", "alias of -data-path (NetSSM's spelling)")
	fs.StringVar(&out, "out-path", "", "dataset folder to write (save_to_disk layout)")
	fs.StringVar(&out, "out_path", "", "alias of -out-path (NetSSM's spelling)")
	fs.IntVar(&maxLen, "max-len", 0, "truncate samples to N tokens (0: no truncation)")
	fs.IntVar(&maxLen, "max_len", 0, "alias of -max-len (NetSSM's spelling)")
	fs.BoolVar(&padding, "padding", false, "pad samples with the pad token to -max-len (without -max-len: to the longest sample)")
	fs.IntVar(&workers, "workers", 0, "tokenizing goroutines (default: all CPUs)")
	fs.IntVar(&workers, "num_proc", 0, "alias of -workers (NetSSM's spelling)")
	fs.IntVar(&batchSize, "batch_size", 0, "accepted for NetSSM compatibility; has no effect")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	switch {
	case tokPath == "":
		return fmt.Errorf("%w: -tokenizer is required", errUsage)
	case in == "":
		return fmt.Errorf("%w: -data-path is required", errUsage)
	case out == "":
		return fmt.Errorf("%w: -out-path is required", errUsage)
	case maxLen < 0:
		return fmt.Errorf("%w: -max-len must be >= 0", errUsage)
	case workers < 0:
		return fmt.Errorf("%w: -workers must be >= 0", errUsage)
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return err
	}
	start := time.Now()
	opt := dataset.TokenizeOptions{MaxLen: maxLen, Padding: padding, Workers: workers}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		var total int64
		if fi, err := os.Stat(in); err == nil {
			total = fi.Size()
		}
		last := time.Time{}
		opt.Progress = func(st dataset.Stats) {
			if now := time.Now(); now.Sub(last) > 200*time.Millisecond {
				last = now
				secs := max(now.Sub(start).Seconds(), 1e-9)
				fmt.Fprintf(os.Stderr, "\rtokenizing: %d examples, %.0f/%.0f MB, %.0f MB/s   ",
					st.Examples, float64(st.InputBytes)/1e6, float64(total)/1e6, float64(st.InputBytes)/1e6/secs)
			}
		}
	}
	st, err := dataset.Tokenize(ctx, tok, in, out, opt)
	if opt.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K") // clear the progress line
	}
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "wrote %s: %d examples, %d tokens (+%d padding), longest %d, %d truncated, %d unknown words, %d shard(s); %.1f MB of JSONL in %.2fs (%.0f MB/s)\n",
		out, st.Examples, st.Tokens, st.Padded, st.MaxTokens, st.Truncated, st.Unknown, st.Shards,
		float64(st.InputBytes)/1e6, secs, float64(st.InputBytes)/1e6/max(secs, 1e-9))
	return nil
}
