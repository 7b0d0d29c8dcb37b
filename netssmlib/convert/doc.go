// Package convert turns the text a NetSSM model generates back into a pcap
// file, with NetSSM's semantics (NETSSM.md section 7) and an optional repair
// of the generated headers.
//
// The text is split on the <|pkt|> token. As in NetSSM's conversion.py, the
// first piece (the label token and, a quirk of the original, the first
// packet's bytes) and the last piece (possibly cut by the generation
// length) are dropped; Options.KeepFirst keeps the first packet by parsing
// the bytes after the leading special tokens. Each remaining piece is a
// packet: decimal byte values separated by white space. Blank pieces are
// skipped; pieces with any word that is not a decimal number 0..255 are
// skipped and counted (Stats.Unparseable) with the first reasons kept.
// Each packet becomes one Ethernet (LINKTYPE_ETHERNET) pcap record, or one
// of the link type Options.Link names (text preprocessed from Linux cooked,
// loopback or raw IP captures).
//
// Timestamps: the first packet gets Options.Start (default: the current
// time), each next one the previous plus Options.Step (default 1µs), or plus
// a gap drawn at random (seeded) from Options.Gaps, the inter-arrival gaps
// of a ground-truth capture (see GapsFromCapture).
//
// Repair (Options.Repair) strips the zero padding past the real header
// lengths (Ethernet + IPv4/IPv6 header + TCP header or UDP header and the
// UDP payload bytes the text keeps), sets each record's original length
// from the IP length field so that a header-only packet reads as a
// snap-length-limited capture, and recomputes IPv4 header checksums. TCP
// and UDP checksums cover the payload, which the text does not hold, so
// they are left as generated; tshark does not verify them by default and
// shows them as "[unverified]".
//
// DecodeEthernet and DecodeIP are the header decoder the repair uses; the
// fidelity package uses them too.
package convert
