package fidelity

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report compares a synthetic trace with a real one.
type Report struct {
	Real      TraceSummary `json:"real"`
	Synthetic TraceSummary `json:"synthetic"`
	// Fields are the per-field distribution comparisons.
	Fields []Field `json:"fields"`
	// Shares are the well-formedness and statefulness shares side by side.
	Shares []Share `json:"shares"`
	// Distance is the mean of the scored components (the JSD of every
	// scored field and the Diff of every scored share): 0 = indistinguishable by these
	// measures, 1 = nothing in common. A field with samples on one side
	// only (e.g. no TCP at all) counts as 1, one with none on either side
	// is left out; a share undefined on either side is left out.
	Distance Num `json:"distance"`
}

// TraceSummary describes one trace.
type TraceSummary struct {
	Path       string         `json:"path"`
	Format     string         `json:"format"`
	Packets    int            `json:"packets"`
	IPPackets  int            `json:"ip_packets"`
	TCPPackets int            `json:"tcp_packets"`
	UDPPackets int            `json:"udp_packets"`
	Flows      int            `json:"flows"`
	TCPFlows   int            `json:"tcp_flows"`
	LinkTypes  map[string]int `json:"link_types"`
}

// Field compares the distribution of one header field.
type Field struct {
	Name string `json:"name"`
	// Kind is "categorical" (JSD only) or "numeric" (JSD over Bins and
	// EMD over raw values).
	Kind string `json:"kind"`
	// Scored: the JSD is part of Distance. Inter-arrival times are not
	// scored: converted traces usually draw them from the real capture.
	Scored bool `json:"scored"`
	JSD    Num  `json:"jsd"`
	// EMD is the earth mover's distance in the field's units (bytes,
	// hops, port numbers, packets); EMDNorm divides it by the range of the
	// pooled values (0 when all values are equal).
	EMD           Num   `json:"emd"`
	EMDNorm       Num   `json:"emd_norm"`
	NReal         int   `json:"n_real"`
	NSynthetic    int   `json:"n_synthetic"`
	MeanReal      Num   `json:"mean_real"` // numeric fields only
	MeanSynthetic Num   `json:"mean_synthetic"`
	Bins          []Bin `json:"bins"`
}

// Bin is one histogram bin with each trace's share of the samples.
type Bin struct {
	Label     string  `json:"label"`
	Lo        int     `json:"lo"` // numeric bins: [Lo, Hi]; categorical: the value
	Hi        int     `json:"hi"`
	Real      float64 `json:"real"`
	Synthetic float64 `json:"synthetic"`
}

// Share is one proportion measured on both traces.
type Share struct {
	Name      string `json:"name"`
	Real      Num    `json:"real"`
	Synthetic Num    `json:"synthetic"`
	Diff      Num    `json:"diff"`   // |Real - Synthetic|; 1 when defined on one side only
	Scored    bool   `json:"scored"` // part of Distance
	Note      string `json:"note"`
}

// fieldDef describes how a field is extracted and binned.
type fieldDef struct {
	name    string
	numeric bool
	value   func(p *Packet) (int, bool)
	bin     func(v int) (lo, hi int)
	label   func(lo, hi int) string
}

func rangeLabel(lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
}

func portBin(v int) (int, int) {
	switch {
	case v < 1024:
		return v, v
	case v < 49152:
		lo := 1024 + (v-1024)/1024*1024
		return lo, lo + 1023
	default:
		return 49152, 65535
	}
}

func width(w int) func(int) (int, int) {
	return func(v int) (int, int) { lo := v / w * w; return lo, lo + w - 1 }
}

var protoNames = map[int]string{1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 58: "ICMPv6", 132: "SCTP"}

// FlagNames writes TCP flags as names joined by "+", e.g. "SYN+ACK".
func FlagNames(f uint8) string {
	if f == 0 {
		return "none"
	}
	var s []string
	for i, n := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"} {
		if f&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, "+")
}

var fieldDefs = []fieldDef{
	{name: "ip_proto", value: func(p *Packet) (int, bool) { return int(p.Proto), p.IP },
		label: func(v, _ int) string {
			if n, ok := protoNames[v]; ok {
				return n
			}
			return strconv.Itoa(v)
		}},
	{name: "src_port", numeric: true, value: func(p *Packet) (int, bool) { return int(p.SPort), p.HasPorts }, bin: portBin},
	{name: "dst_port", numeric: true, value: func(p *Packet) (int, bool) { return int(p.DPort), p.HasPorts }, bin: portBin},
	{name: "ip_length", numeric: true, value: func(p *Packet) (int, bool) { return p.IPLen, p.IP },
		bin: func(v int) (int, int) {
			if v < 2048 {
				return width(16)(v)
			}
			return width(1024)(v)
		}},
	{name: "ttl_hop_limit", numeric: true, value: func(p *Packet) (int, bool) { return int(p.TTL), p.IP }, bin: width(1)},
	{name: "tcp_flags", value: func(p *Packet) (int, bool) { return int(p.Flags), p.TCP },
		label: func(v, _ int) string { return FlagNames(uint8(v)) }},
	{name: "tcp_window", numeric: true, value: func(p *Packet) (int, bool) { return int(p.Window), p.TCP }, bin: width(1024)},
}

// flowSizeBin: 1, 2-3, 4-7, ...
func flowSizeBin(v int) (int, int) {
	lo := 1
	for lo*2 <= v {
		lo *= 2
	}
	return lo, lo*2 - 1
}

// log2Bin: 0, 1, 2-3, 4-7, ...
func log2Bin(v int) (int, int) {
	if v <= 0 {
		return 0, 0
	}
	return flowSizeBin(v)
}

// gaps is the histogram of inter-arrival times in microseconds (negative
// gaps of out-of-order records count as 0).
func gaps(pkts []Packet) map[int]int {
	h := map[int]int{}
	for i := 1; i < len(pkts); i++ {
		h[int(max(pkts[i].Time.Sub(pkts[i-1].Time).Microseconds(), 0))]++
	}
	return h
}

// Evaluate reads both captures and compares them.
func Evaluate(ctx context.Context, realPath, syntheticPath string) (*Report, error) {
	r, err := ReadFile(ctx, realPath, ReadOptions{})
	if err != nil {
		return nil, err
	}
	s, err := ReadFile(ctx, syntheticPath, ReadOptions{})
	if err != nil {
		return nil, err
	}
	return Compare(r, s), nil
}

// Compare computes the report for two traces.
func Compare(real, synthetic *Trace) *Report {
	rep := &Report{}
	fr, fs := measureFlows(real.Packets), measureFlows(synthetic.Packets)
	rep.Real = summarize(real, fr)
	rep.Synthetic = summarize(synthetic, fs)
	for _, d := range fieldDefs {
		rep.Fields = append(rep.Fields, compareField(d, collect(real.Packets, d), collect(synthetic.Packets, d)))
	}
	rep.Fields = append(rep.Fields, compareField(fieldDef{name: "flow_packets", numeric: true, bin: flowSizeBin}, fr.sizes, fs.sizes))
	for i := range rep.Fields {
		rep.Fields[i].Scored = true
	}
	rep.Fields = append(rep.Fields, compareField(fieldDef{name: "inter_arrival_us", numeric: true, bin: log2Bin}, gaps(real.Packets), gaps(synthetic.Packets)))

	wr, ws := wellFormed(real.Packets), wellFormed(synthetic.Packets)
	add := func(name string, r, s Num, scored bool, note string) {
		d := Num(math.Abs(float64(r - s)))
		switch nr, ns := math.IsNaN(float64(r)), math.IsNaN(float64(s)); {
		case nr && ns:
			d = Num(math.NaN())
		case nr || ns:
			d = 1
		}
		rep.Shares = append(rep.Shares, Share{Name: name, Real: r, Synthetic: s, Diff: d, Scored: scored, Note: note})
	}
	add("well_formed", wr.all, ws.all, true, "all checks below pass")
	add("ip_header_valid", wr.ip, ws.ip, false, "IP version, header length, length field >= header, header captured")
	add("ipv4_checksum_valid", wr.csum, ws.csum, false, "of IPv4 packets")
	add("l4_header_valid", wr.l4, ws.l4, false, "TCP data offset / UDP length consistent with the IP length")
	add("length_consistent", wr.length, ws.length, false, "orig_len matches the IP length (Ethernet padding allowed to 64 bytes), caplen <= orig_len")
	add("tcp_handshake_order", share(fr.handshakes, fr.tcpFlows), share(fs.handshakes, fs.tcpFlows), true, "TCP flows opening SYN, SYN-ACK, ACK with matching numbers")
	add("tcp_seq_monotone", share(fr.seqMono, fr.pairs), share(fs.seqMono, fs.pairs), true, "same-direction segment pairs whose sequence number does not go back")
	add("tcp_seq_exact", share(fr.seqExact, fr.pairs), share(fs.seqExact, fs.pairs), true, "pairs where seq = previous seq + its length (+SYN/FIN)")
	add("tcp_ack_monotone", share(fr.ackMono, fr.ackPairs), share(fs.ackMono, fs.ackPairs), true, "pairs whose acknowledgement number does not go back")

	var sum float64
	var n int
	score := func(v Num, defR, defS bool) {
		switch {
		case !defR && !defS:
			return
		case !defR || !defS:
			sum++
		default:
			sum += float64(v)
		}
		n++
	}
	for _, f := range rep.Fields {
		if f.Scored {
			score(f.JSD, f.NReal > 0, f.NSynthetic > 0)
		}
	}
	for _, s := range rep.Shares {
		// A share undefined on a side (no TCP flows, no same-direction
		// segment pairs) has no opportunity to differ: left out. The
		// lack itself shows in the field JSDs (tcp_flags, flow_packets).
		if s.Scored && !math.IsNaN(float64(s.Real)) && !math.IsNaN(float64(s.Synthetic)) {
			score(s.Diff, true, true)
		}
	}
	rep.Distance = Num(math.NaN())
	if n > 0 {
		rep.Distance = Num(sum / float64(n))
	}
	return rep
}

func collect(pkts []Packet, d fieldDef) map[int]int {
	h := map[int]int{}
	for i := range pkts {
		if v, ok := d.value(&pkts[i]); ok {
			h[v]++
		}
	}
	return h
}

func compareField(d fieldDef, r, s map[int]int) Field {
	f := Field{Name: d.name, Kind: "categorical", EMD: Num(math.NaN()), EMDNorm: Num(math.NaN())}
	f.NReal, f.NSynthetic = int(total(r)), int(total(s))
	f.MeanReal, f.MeanSynthetic = Num(math.NaN()), Num(math.NaN())
	if d.numeric {
		f.MeanReal, f.MeanSynthetic = mean(r), mean(s)
	}
	bin := d.bin
	if bin == nil {
		bin = func(v int) (int, int) { return v, v }
	}
	label := d.label
	if label == nil {
		label = rangeLabel
	}
	br, bs := map[int]int{}, map[int]int{}
	his := map[int]int{}
	for v, c := range r {
		lo, hi := bin(v)
		br[lo] += c
		his[lo] = hi
	}
	for v, c := range s {
		lo, hi := bin(v)
		bs[lo] += c
		his[lo] = hi
	}
	f.JSD = Num(jsd(br, bs))
	keys := make([]int, 0, len(his))
	for k := range his {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		b := Bin{Label: label(k, his[k]), Lo: k, Hi: his[k]}
		if f.NReal > 0 {
			b.Real = float64(br[k]) / float64(f.NReal)
		}
		if f.NSynthetic > 0 {
			b.Synthetic = float64(bs[k]) / float64(f.NSynthetic)
		}
		f.Bins = append(f.Bins, b)
	}
	if d.numeric {
		f.Kind = "numeric"
		f.EMD = Num(EMD(r, s))
		if !math.IsNaN(float64(f.EMD)) {
			f.EMDNorm = 0
			if rg := valueRange(r, s); rg > 0 {
				f.EMDNorm = Num(float64(f.EMD) / float64(rg))
			}
		}
	}
	return f
}

func mean(h map[int]int) Num {
	var s, n float64
	for v, c := range h {
		s += float64(v) * float64(c)
		n += float64(c)
	}
	if n == 0 {
		return Num(math.NaN())
	}
	return Num(s / n)
}

type wfShares struct{ all, ip, csum, l4, length Num }

func wellFormed(pkts []Packet) wfShares {
	var all, ip, csum, v4, l4, length int
	for i := range pkts {
		p := &pkts[i]
		if p.WellFormed() {
			all++
		}
		if p.IPValid {
			ip++
		}
		if p.IPVersion == 4 {
			v4++
			if p.ChecksumOK {
				csum++
			}
		}
		if p.IP && p.L4Valid {
			l4++
		}
		if p.IP && p.LengthOK {
			length++
		}
	}
	n := len(pkts)
	return wfShares{share(all, n), share(ip, n), share(csum, v4), share(l4, n), share(length, n)}
}

func summarize(t *Trace, st stateful) TraceSummary {
	s := TraceSummary{Path: t.Path, Format: t.Format, Packets: len(t.Packets), Flows: st.flows, TCPFlows: st.tcpFlows, LinkTypes: map[string]int{}}
	for i := range t.Packets {
		p := &t.Packets[i]
		if p.IP {
			s.IPPackets++
		}
		if p.IP && p.Proto == 6 {
			s.TCPPackets++
		}
		if p.IP && p.Proto == 17 {
			s.UDPPackets++
		}
	}
	for lt, n := range t.LinkTypes {
		s.LinkTypes[linkName(lt)] += n
	}
	return s
}

func linkName(lt int) string {
	switch lt {
	case 0:
		return "null"
	case 1:
		return "ethernet"
	case 12, 14, 101:
		return "raw"
	case 108:
		return "loop"
	case 113:
		return "linux_sll"
	case 228:
		return "ipv4"
	case 229:
		return "ipv6"
	case 276:
		return "linux_sll2"
	}
	return "linktype_" + strconv.Itoa(lt)
}

func fmtNum(v Num, prec int) string {
	if math.IsNaN(float64(v)) {
		return "n/a"
	}
	return strconv.FormatFloat(float64(v), 'f', prec, 64)
}

// WriteText prints the report as aligned text tables.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, t := range []struct {
		role string
		s    TraceSummary
	}{{"real", r.Real}, {"synthetic", r.Synthetic}} {
		fmt.Fprintf(tw, "%s:\t%s (%s): %d packets, %d IP (%d TCP, %d UDP), %d flows (%d TCP)\n",
			t.role, t.s.Path, t.s.Format, t.s.Packets, t.s.IPPackets, t.s.TCPPackets, t.s.UDPPackets, t.s.Flows, t.s.TCPFlows)
	}
	fmt.Fprintf(tw, "distance:\t%s (mean of the scored (*) JSDs and share differences; 0 = same, 1 = disjoint)\n\n", fmtNum(r.Distance, 4))
	fmt.Fprintln(tw, "field\tJSD\tEMD\tEMD/range\tmean real\tmean synthetic\tn real\tn synthetic\tscored\t")
	for _, f := range r.Fields {
		sc := ""
		if f.Scored {
			sc = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t\n", f.Name, fmtNum(f.JSD, 4), fmtNum(f.EMD, 2), fmtNum(f.EMDNorm, 4),
			fmtNum(f.MeanReal, 1), fmtNum(f.MeanSynthetic, 1), f.NReal, f.NSynthetic, sc)
	}
	fmt.Fprintln(tw, "\nshare\treal\tsynthetic\tdiff\tscored\t")
	for _, s := range r.Shares {
		sc := ""
		if s.Scored {
			sc = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", s.Name, fmtNum(s.Real, 4), fmtNum(s.Synthetic, 4), fmtNum(s.Diff, 4), sc)
	}
	return tw.Flush()
}

// String is the text report (WriteText), for notebooks and logs.
func (r *Report) String() string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

// Field returns the comparison of the named field (see Fields), or nil.
func (r *Report) Field(name string) *Field {
	for i := range r.Fields {
		if r.Fields[i].Name == name {
			return &r.Fields[i]
		}
	}
	return nil
}

// Share returns the named share (see Shares), or nil.
func (r *Report) Share(name string) *Share {
	for i := range r.Shares {
		if r.Shares[i].Name == name {
			return &r.Shares[i]
		}
	}
	return nil
}
