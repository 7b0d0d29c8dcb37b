package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/netssm/netssm/netssmlib/convert"
)

func init() {
	register(&command{
		name:    "convert",
		summary: "convert generated text (<|pkt|>-separated bytes) to a pcap",
		run:     runConvert,
	})
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (as Python's argparse allows, which NetSSM's
// conversion.py users are used to) and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runConvert(ctx context.Context, args []string) error {
	fs := newFlagSet("convert", "IN.txt OUT.pcap [flags]\n\n"+
		"Converts NetSSM generated text (IN.txt, - for stdin) to a pcap (Ethernet unless -link),\n"+
		"dropping the first (label) and last (incomplete) piece as NetSSM does.")
	gt := fs.String("ts-sample-gt", "", "ground-truth `pcap` (or pcapng): draw inter-arrival gaps from its gaps")
	fs.StringVar(gt, "ts_sample_gt", "", "alias of -ts-sample-gt (NetSSM's spelling)")
	seed := fs.Uint64("seed", 1, "seed for -ts-sample-gt's gap sampling")
	repair := fs.Bool("repair", false, "strip zero padding past the headers, set original lengths from the IP length, fix IPv4 header checksums")
	keepFirst := fs.Bool("keep-first", false, "also convert the first packet (NetSSM drops it with the label piece)")
	udpLast := fs.Bool("udp-keeps-last-byte", false, "with -repair: the text keeps every byte of short UDP payloads (not NetSSM's preprocessor quirk)")
	step := fs.Duration("ts-step", time.Microsecond, "gap between packets without -ts-sample-gt")
	start := fs.String("start", "", "first timestamp, RFC 3339 (default: now)")
	jsonOut := fs.Bool("json", false, "print the conversion statistics as JSON on stdout")
	link := fs.String("link", "ethernet", "link type of the text's packets and of the pcap: ethernet, linux_sll, linux_sll2, null, loop, raw (text preprocessed from such captures)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return fmt.Errorf("%w: want IN.txt and OUT.pcap, got %d arguments", errUsage, len(pos))
	}
	if *step <= 0 {
		return fmt.Errorf("%w: -ts-step must be positive", errUsage)
	}
	if _, ok := convert.LinkTypes[*link]; !ok {
		return fmt.Errorf("%w: unknown -link %q", errUsage, *link)
	}
	opt := convert.Options{Link: *link, KeepFirst: *keepFirst, Repair: *repair, UDPKeepsLastByte: *udpLast, Step: *step, Seed: *seed}
	if *start != "" {
		t, err := time.Parse(time.RFC3339Nano, *start)
		if err != nil {
			return fmt.Errorf("%w: -start: %v", errUsage, err)
		}
		opt.Start = t
	}
	if *gt != "" {
		if opt.Gaps, err = convert.GapsFromCapture(ctx, *gt); err != nil {
			return fmt.Errorf("-ts-sample-gt: %w", err)
		}
	}
	in, out := pos[0], pos[1]
	st, err := convert.File(ctx, in, out, opt)
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(st); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "netssm convert: wrote %d packets to %s (%d pieces; %d unparseable, %d blank skipped",
		st.Packets, out, st.Pieces, st.Unparseable, st.Blank)
	if opt.Repair {
		fmt.Fprintf(os.Stderr, "; repaired %d, header-only %d, IPv4 checksums fixed %d, not repairable %d",
			st.Repaired, st.HeaderOnly, st.ChecksumsFixed, st.NotRepaired)
	}
	fmt.Fprintln(os.Stderr, ")")
	for _, e := range st.Errors {
		fmt.Fprintf(os.Stderr, "netssm convert: %s: %s\n", in, e)
	}
	if st.Packets == 0 {
		fmt.Fprintf(os.Stderr, "netssm convert: warning: %s holds no complete packet (the first and last pieces are dropped)\n", in)
	}
	return nil
}
