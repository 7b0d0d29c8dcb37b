package fidelity_test

import (
	"context"
	"fmt"

	"github.com/netssm/netssm/netssmlib/fidelity"
)

func ExampleEvaluate() {
	rep, err := fidelity.Evaluate(context.Background(),
		"../../testdata/convert/loopback.pcap", "../../testdata/convert/loopback.pcapng")
	if err != nil {
		panic(err)
	}
	fmt.Printf("distance %.3f\n", rep.Distance)
	f := rep.Field("tcp_flags")
	fmt.Printf("%s: JSD %.3f over %d bins\n", f.Name, f.JSD, len(f.Bins))
	fmt.Printf("handshake order: real %.2f, synthetic %.2f\n", rep.Share("tcp_handshake_order").Real, rep.Share("tcp_handshake_order").Synthetic)
	// Output:
	// distance 0.000
	// tcp_flags: JSD 0.000 over 6 bins
	// handshake order: real 1.00, synthetic 1.00
}
