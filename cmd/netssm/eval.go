package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/netssm/netssm/netssmlib/fidelity"
)

func init() {
	register(&command{
		name:    "eval",
		summary: "fidelity report: compare a synthetic pcap with a real one",
		run:     runEval,
	})
}

func runEval(ctx context.Context, args []string) error {
	fs := newFlagSet("eval", "-real REAL.pcap -synthetic SYN.pcap [-json]\n\n"+
		"Compares per-field distributions (JSD, EMD), well-formedness and flow\n"+
		"statefulness of two captures (pcap or pcapng). Lower distance is closer.")
	realPath := fs.String("real", "", "real (ground-truth) capture")
	synPath := fs.String("synthetic", "", "synthetic capture")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of text tables")
	maxPkts := fs.Int("max-packets", 0, "read at most this many packets of each capture (0: all)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, pos)
	}
	if *realPath == "" || *synPath == "" {
		fs.Usage()
		return fmt.Errorf("%w: -real and -synthetic are required", errUsage)
	}
	if *maxPkts < 0 {
		return fmt.Errorf("%w: -max-packets must not be negative", errUsage)
	}
	opt := fidelity.ReadOptions{MaxPackets: *maxPkts}
	read := func(path string) (*fidelity.Trace, error) {
		t, err := fidelity.ReadFile(ctx, path, opt)
		if err != nil && t != nil && len(t.Packets) > 0 && ctx.Err() == nil {
			// A capture cut short (a killed tcpdump) is still worth a
			// report, as tshark reads it too: say so and go on.
			fmt.Fprintf(os.Stderr, "netssm eval: warning: %v; using the %d packets before it\n", err, len(t.Packets))
			return t, nil
		}
		return t, err
	}
	real, err := read(*realPath)
	if err != nil {
		return err
	}
	syn, err := read(*synPath)
	if err != nil {
		return err
	}
	rep := fidelity.Compare(real, syn)
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	return rep.WriteText(os.Stdout)
}
