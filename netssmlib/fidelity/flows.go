package fidelity

import (
	"bytes"
	"math"
)

type endpoint struct {
	addr [16]byte
	port uint16
}

type flowKey struct {
	version, proto uint8
	a, b           endpoint // a <= b
}

type flow struct {
	first endpoint // sender of the first packet
	pkts  []int
}

// flowTable groups a trace's TCP/UDP packets into bidirectional 5-tuple
// flows, in order of first appearance.
func flowTable(pkts []Packet) []*flow {
	idx := map[flowKey]*flow{}
	var order []*flow
	for i := range pkts {
		p := &pkts[i]
		if !p.HasPorts {
			continue
		}
		s, d := endpoint{p.Src, p.SPort}, endpoint{p.Dst, p.DPort}
		k := flowKey{version: uint8(p.IPVersion), proto: p.Proto, a: s, b: d}
		if less(d, s) {
			k.a, k.b = d, s
		}
		f := idx[k]
		if f == nil {
			f = &flow{first: s}
			idx[k] = f
			order = append(order, f)
		}
		f.pkts = append(f.pkts, i)
	}
	return order
}

func less(x, y endpoint) bool {
	if c := bytes.Compare(x.addr[:], y.addr[:]); c != 0 {
		return c < 0
	}
	return x.port < y.port
}

// TCP flag bits.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
	flagURG = 0x20
	flagECE = 0x40
	flagCWR = 0x80
)

// stateful holds the flow statefulness measures of one trace.
type stateful struct {
	flows, tcpFlows, handshakes int
	pairs, seqMono, seqExact    int
	ackPairs, ackMono           int
	sizes                       map[int]int // packets per flow -> number of flows
}

func share(n, d int) Num {
	if d == 0 {
		return Num(math.NaN())
	}
	return Num(float64(n) / float64(d))
}

func measureFlows(pkts []Packet) stateful {
	st := stateful{sizes: map[int]int{}}
	for _, f := range flowTable(pkts) {
		st.flows++
		st.sizes[len(f.pkts)]++
		if pkts[f.pkts[0]].Proto != 6 {
			continue
		}
		var seg []*Packet
		for _, i := range f.pkts {
			if pkts[i].TCP {
				seg = append(seg, &pkts[i])
			}
		}
		if len(seg) == 0 {
			continue
		}
		st.tcpFlows++
		if handshake(seg) {
			st.handshakes++
		}
		// Consecutive segments in the same direction.
		var last [2]*Packet
		for _, p := range seg {
			dir := 0
			if p.Src != seg[0].Src || p.SPort != seg[0].SPort {
				dir = 1
			}
			if q := last[dir]; q != nil {
				st.pairs++
				if int32(p.Seq-q.Seq) >= 0 {
					st.seqMono++
				}
				if q.PayloadLen >= 0 {
					next := q.Seq + uint32(q.PayloadLen)
					if q.Flags&flagSYN != 0 {
						next++
					}
					if q.Flags&flagFIN != 0 {
						next++
					}
					if p.Seq == next {
						st.seqExact++
					}
				}
				if p.Flags&flagACK != 0 && q.Flags&flagACK != 0 {
					st.ackPairs++
					if int32(p.Ack-q.Ack) >= 0 {
						st.ackMono++
					}
				}
			}
			last[dir] = p
		}
	}
	return st
}

// handshake reports whether a TCP flow opens with SYN, SYN-ACK, ACK in the
// right directions, with matching acknowledgement numbers, and no data on
// the SYNs.
func handshake(seg []*Packet) bool {
	if len(seg) < 3 {
		return false
	}
	a, b, c := seg[0], seg[1], seg[2]
	sameDir := func(x, y *Packet) bool { return x.Src == y.Src && x.SPort == y.SPort }
	return a.Flags&(flagSYN|flagACK|flagRST) == flagSYN && a.PayloadLen == 0 &&
		b.Flags&(flagSYN|flagACK|flagRST) == flagSYN|flagACK && b.PayloadLen == 0 && !sameDir(a, b) && b.Ack == a.Seq+1 &&
		c.Flags&(flagSYN|flagACK|flagRST) == flagACK && sameDir(a, c) && c.Ack == b.Seq+1 && c.Seq == a.Seq+1
}
