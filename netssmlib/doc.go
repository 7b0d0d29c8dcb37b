// Package netssmlib is the netssm pipeline as a library: pcap preprocessing,
// tokenizing, the Mamba2 language model (training and generation), and
// conversion of generated text back to pcap.
//
// The work is split into subpackages, one per stage; this package holds what
// notebook cells call most (see the subpackages for the details). netssmlib
// never imports stdlib, kernel or the interpreter: it is plain Go, usable from
// any program.
package netssmlib
