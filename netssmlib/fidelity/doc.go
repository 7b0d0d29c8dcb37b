// Package fidelity measures how close a synthetic packet trace is to a
// real one: the report NetSSM lacks (NETSSM.md section 8), on the themes of
// its paper.
//
// Evaluate (or Read and Compare) reads two captures (pcap or pcapng;
// Ethernet, Linux cooked v1/v2, raw IP and BSD/OpenBSD loopback link types)
// and returns a Report:
//
//   - Fields: per-field distributions (IP protocol, source and destination
//     ports, IP packet length, TTL/hop limit, TCP flags, TCP window, and
//     packets per flow), each compared with the Jensen-Shannon divergence
//     (base 2, in [0,1]) over the histogram bins, and for numeric fields
//     with the earth mover's distance (1-D Wasserstein-1) on the raw values,
//     in field units and divided by the pooled value range (in [0,1]).
//     The bins are in the report for plotting. Inter-arrival times are
//     reported the same way but not scored (converted traces usually draw
//     their gaps from the real capture).
//   - Well-formedness of each trace: IP header valid, IPv4 header checksum
//     valid, TCP/UDP header valid, lengths consistent (captured bytes,
//     original length and IP length agree), and all of them together.
//   - Flow statefulness of each trace: packets are grouped into
//     bidirectional 5-tuple flows; for TCP, the share of flows that open
//     with SYN, SYN-ACK, ACK in the right directions before anything else,
//     and the share of consecutive same-direction segments whose sequence
//     and acknowledgement numbers do not go backwards, and whose sequence
//     number advances exactly by the previous segment's length.
//   - Distance: the mean over the scored JSDs and the absolute differences
//     of the scored shares (well-formed and the TCP ones); 0 means the
//     traces are indistinguishable by these measures, 1 that they share
//     nothing.
//
// TCP and UDP checksums are not checked: they cover the payload, which
// header-only traces (NetSSM's) do not hold, and captures on the sending
// host carry offloaded (unfilled) checksums.
//
// The Report marshals to JSON with stable snake_case field names (NaN, an
// undefined value, becomes null) and prints as a text table (WriteText).
// Trace.WriteSummary prints packets one per line, like tshark.
package fidelity
