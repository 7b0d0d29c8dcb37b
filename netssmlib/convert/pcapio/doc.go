// Package pcapio reads pcap and pcapng capture files and writes pcap files,
// in pure Go, with bounds on everything it allocates.
//
// The reader accepts classic pcap (microsecond and nanosecond magic, either
// byte order) and pcapng (several sections, several interfaces with
// different link types, if_tsresol and if_tsoffset, enhanced, simple and
// obsolete packet blocks). A record larger than MaxRecord, a block whose
// lengths disagree, or a file cut in the middle of a record is reported as an
// error naming the record; nothing panics on malformed input. The packet
// bytes returned by Next are owned by the Reader and overwritten by the next
// call, as with gopacket's ZeroCopyReadPacketData.
//
// The writer produces classic little-endian pcap with microsecond
// timestamps, the format Scapy's wrpcap (and so NetSSM's conversion) writes.
package pcapio
