// Package preprocess turns packet captures into NetSSM's JSONL text
// dataset: one record per capture, whose Data field is the capture's label
// token followed by the header bytes of each TCP/UDP packet written as 128
// decimal numbers, packets separated by "<|pkt|>".
//
// The output is byte-identical to NetSSM's Go preprocessor for every input
// it handles; where NetSSM crashes or misbehaves (empty UDP payloads,
// captures missing from the label CSV, pcapng files with several link
// types, truncated or garbage files...) this package does the sensible
// thing, documented in docs/preprocess.md.
//
// Entry points:
//   - Run: a whole dataset (a directory, a CSV of paths or a list of
//     files), streamed, parallel over and within captures, written in
//     input order, the output replaced atomically.
//   - ProcessFile: one capture streamed to any io.Writer (notebooks).
//   - PacketBytes: the bytes NetSSM keeps of one packet, decoded without
//     allocating; ReferencePacket and ReferenceRecord are the slow
//     gopacket.NewPacket-based reference they are tested against.
//
// Decoding follows gopacket v1.1.19's default decoders exactly (that is
// what NetSSM uses): common headers are walked in place, anything unusual
// goes through gopacket itself, per packet.
package preprocess
