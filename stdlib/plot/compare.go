package plot

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/netssm/netssm/netssmlib/fidelity"
)

// This file: bar charts comparing real and synthetic traffic, field by
// field, from a netssmlib/fidelity report:
//
//	fig, err := plot.Compare(report, "ip_proto", "dst_port", "ip_length", "tcp_flags")
//	fig // as a cell's result: the image

// Image is an encoded PNG image; as a cell's result it shows as the image.
type Image []byte

// PNG returns the encoded image.
func (im Image) PNG() []byte { return []byte(im) }

// String describes the image for text-only front ends.
func (im Image) String() string { return fmt.Sprintf("<PNG image, %d bytes>", len(im)) }

var (
	realColor = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	synColor  = color.RGBA{R: 255, G: 127, B: 14, A: 255}
)

// maxBins is the most bins a comparison chart shows; the rest are summed
// into one "other" bar, the bins kept being the largest by combined share.
const maxBins = 16

// Field draws one field of a fidelity report: the share of real and of
// synthetic packets in each bin, side by side.
func Field(f *fidelity.Field) (Image, error) {
	p, err := fieldPlot(f)
	if err != nil {
		return nil, err
	}
	return encode(p, 7*vg.Inch, 3.5*vg.Inch)
}

// Compare draws the named fields of a report (all fields when none are
// named), two charts per row.
func Compare(r *fidelity.Report, fields ...string) (Image, error) {
	if r == nil {
		return nil, fmt.Errorf("plot: nil report")
	}
	var fs []*fidelity.Field
	if len(fields) == 0 {
		for i := range r.Fields {
			fs = append(fs, &r.Fields[i])
		}
	}
	for _, name := range fields {
		f := r.Field(name)
		if f == nil {
			return nil, fmt.Errorf("plot: the report has no field %q", name)
		}
		fs = append(fs, f)
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("plot: the report has no fields")
	}
	cols := 2
	if len(fs) == 1 {
		cols = 1
	}
	rows := (len(fs) + cols - 1) / cols
	w, h := vg.Length(cols)*6*vg.Inch, vg.Length(rows)*3.2*vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	for i, f := range fs {
		p, err := fieldPlot(f)
		if err != nil {
			return nil, err
		}
		p.Draw(tiles.At(dc, i%cols, i/cols))
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return Image(buf.Bytes()), nil
}

func fieldPlot(f *fidelity.Field) (*plot.Plot, error) {
	bins := topBins(f.Bins, maxBins)
	if len(bins) == 0 {
		return nil, fmt.Errorf("plot: field %s has no samples", f.Name)
	}
	realV := make(plotter.Values, len(bins))
	synV := make(plotter.Values, len(bins))
	names := make([]string, len(bins))
	for i, b := range bins {
		realV[i], synV[i], names[i] = b.Real, b.Synthetic, b.Label
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (JSD %s)", f.Name, num(f.JSD))
	p.Y.Label.Text = "share of packets"
	p.Y.Min = 0
	w := vg.Points(float64(300/len(bins)) + 2)
	if w > vg.Points(14) {
		w = vg.Points(14)
	}
	br, err := plotter.NewBarChart(realV, w)
	if err != nil {
		return nil, err
	}
	br.Color, br.LineStyle.Width, br.Offset = realColor, 0, -w/2
	bs, err := plotter.NewBarChart(synV, w)
	if err != nil {
		return nil, err
	}
	bs.Color, bs.LineStyle.Width, bs.Offset = synColor, 0, w/2
	p.Add(br, bs)
	p.Legend.Add("real", br)
	p.Legend.Add("synthetic", bs)
	p.Legend.Top = true
	p.NominalX(names...)
	if len(names) > 6 {
		p.X.Tick.Label.Rotation = 0.8
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	return p, nil
}

// topBins keeps bins in their order, but at most max of them: the largest by
// combined share, the others summed into a final "other" bin.
func topBins(bins []fidelity.Bin, max int) []fidelity.Bin {
	if len(bins) <= max {
		return bins
	}
	idx := make([]int, len(bins))
	for i := range idx {
		idx[i] = i
	}
	// selection of the max-1 largest (small n: simple sort)
	for i := 0; i < max-1; i++ {
		best := i
		for j := i + 1; j < len(idx); j++ {
			a, b := bins[idx[j]], bins[idx[best]]
			if a.Real+a.Synthetic > b.Real+b.Synthetic {
				best = j
			}
		}
		idx[i], idx[best] = idx[best], idx[i]
	}
	keep := make([]bool, len(bins))
	for _, i := range idx[:max-1] {
		keep[i] = true
	}
	var out []fidelity.Bin
	other := fidelity.Bin{Label: "other"}
	for i, b := range bins {
		if keep[i] {
			out = append(out, b)
		} else {
			other.Real += b.Real
			other.Synthetic += b.Synthetic
		}
	}
	return append(out, other)
}

func num(n fidelity.Num) string {
	v := float64(n)
	if v != v {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

func encode(p *plot.Plot, w, h vg.Length) (Image, error) {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return Image(buf.Bytes()), nil
}
