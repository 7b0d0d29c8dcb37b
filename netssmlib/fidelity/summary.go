package fidelity

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
)

// WriteSummary prints the first max packets (all when max <= 0) as a table
// like tshark's one-line summary: number, time relative to the first
// packet, source, destination, protocol, frame length and info (ports, TCP
// flags, Seq/Ack/Win/Len).
func (t *Trace) WriteSummary(w io.Writer, max int) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "No.\tTime\tSource\tDestination\tProtocol\tLength\tInfo")
	for i := range t.Packets {
		if max > 0 && i >= max {
			break
		}
		p := &t.Packets[i]
		rel := p.Time.Sub(t.Packets[0].Time).Seconds()
		src, dst, proto, info := "?", "?", "non-IP", ""
		if p.IP {
			src, dst = addr(p.Src, p.IPVersion), addr(p.Dst, p.IPVersion)
			proto = fmt.Sprintf("IPv%d/%d", p.IPVersion, p.Proto)
			if n, ok := protoNames[int(p.Proto)]; ok {
				proto = n
			}
			if p.HasPorts {
				info = fmt.Sprintf("%d → %d", p.SPort, p.DPort)
			}
			switch {
			case p.TCP:
				info += fmt.Sprintf(" [%s] Seq=%d Ack=%d Win=%d", FlagNames(p.Flags), p.Seq, p.Ack, p.Window)
				if p.PayloadLen >= 0 {
					info += fmt.Sprintf(" Len=%d", p.PayloadLen)
				}
			case p.Proto == 17 && p.PayloadLen >= 0:
				info += fmt.Sprintf(" Len=%d", p.PayloadLen)
			}
			if !p.WellFormed() {
				info += " [not well formed]"
			}
		}
		fmt.Fprintf(tw, "%d\t%.6f\t%s\t%s\t%s\t%d\t%s\n", i+1, rel, src, dst, proto, p.OrigLen, strings.TrimSpace(info))
	}
	return tw.Flush()
}

func addr(b [16]byte, version int) string {
	if version == 4 {
		return netip.AddrFrom4([4]byte(b[:4])).String()
	}
	return netip.AddrFrom16(b).String()
}
