// Package pcapio reads packet captures in the classic pcap format and in
// pcapng, in pure Go (no libpcap, no cgo).
//
// A Reader streams one capture: each call to Next returns the next packet's
// bytes and its metadata, including the link type of the interface that
// captured it (pcapng files may mix link types; each packet carries its own).
// The returned bytes are owned by the Reader and are valid only until the
// next call to Next: copy them to keep them. Nothing is read ahead beyond a
// fixed-size buffer, so memory use does not depend on the capture size.
//
// Errors are precise: a file cut in the middle of a record yields an error
// that wraps ErrTruncated (the packets before the cut have been returned), a
// malformed header or block yields an error that wraps ErrFormat and says
// what is wrong and at which byte offset.
package pcapio
