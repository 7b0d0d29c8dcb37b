// Package plot draws line charts for notebook cells with gonum/plot:
// Lines renders a finished chart as PNG, and Live redraws one in place as
// points arrive, such as a training loss curve fed from
// train.Options.OnLog:
//
//	lp := plot.NewLive("training", "step", "loss")
//	opts.OnLog = func(e train.Event) { lp.Add("loss", float64(e.Step), e.Loss) }
//	... train ...
//	lp.Flush()
//
// Live is throttled (two redraws a second at most; Flush draws the last
// state) and shows nothing outside a notebook kernel, where its PNG method
// still renders the chart.
package plot

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/netssm/netssm/internal/displayhook"
	"github.com/netssm/netssm/stdlib/display"
)

// Size of the charts, in points.
const (
	Width  = 6 * vg.Inch
	Height = 3.5 * vg.Inch
)

// Series is one named line of a chart.
type Series struct {
	Name string
	X, Y []float64
}

// Lines renders series as a PNG line chart. Points with NaN or infinite
// coordinates are left out; X and Y must have the same length.
func Lines(title, xlabel, ylabel string, series ...Series) ([]byte, error) {
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot: series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		pts := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if finite(s.X[j]) && finite(s.Y[j]) {
				pts = append(pts, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("plot: series %q: %w", s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		if s.Name != "" {
			p.Legend.Add(s.Name, l)
		}
	}
	p.Legend.Top = true
	w, err := p.WriterTo(Width, Height, "png")
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return buf.Bytes(), nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Live is a chart that redraws in place (one display_id) as points are
// added. It is safe for concurrent use.
type Live struct {
	title, xlabel, ylabel string

	mu     sync.Mutex
	series map[string]*Series
	order  []string
	h      *display.Handle // nil outside a kernel
	last   time.Time
	dirty  bool
}

// NewLive returns an empty live chart; it shows up with the first point.
func NewLive(title, xlabel, ylabel string) *Live {
	l := &Live{title: title, xlabel: xlabel, ylabel: ylabel, series: map[string]*Series{}}
	if displayhook.Active() {
		l.h = display.New()
	}
	return l
}

// Add appends the point (x, y) to the named series and redraws if the
// last redraw is more than half a second old.
func (l *Live) Add(series string, x, y float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.series[series]
	if s == nil {
		s = &Series{Name: series}
		l.series[series] = s
		l.order = append(l.order, series)
	}
	s.X = append(s.X, x)
	s.Y = append(s.Y, y)
	l.dirty = true
	if time.Since(l.last) >= 500*time.Millisecond {
		l.redraw()
	}
}

// Flush redraws now if points were added since the last redraw.
func (l *Live) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dirty {
		l.redraw()
	}
}

// PNG renders the chart as it is now (it makes a Live displayable as a
// cell's result).
func (l *Live) PNG() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := Lines(l.title, l.xlabel, l.ylabel, l.snapshot()...)
	if err != nil {
		return nil
	}
	return b
}

// snapshot copies the series in the order they were added; l.mu held.
func (l *Live) snapshot() []Series {
	out := make([]Series, 0, len(l.order))
	for _, n := range l.order {
		s := l.series[n]
		out = append(out, Series{Name: s.Name, X: append([]float64(nil), s.X...), Y: append([]float64(nil), s.Y...)})
	}
	return out
}

// redraw publishes the chart; l.mu held.
func (l *Live) redraw() {
	l.last, l.dirty = time.Now(), false
	if l.h == nil {
		return
	}
	png, err := Lines(l.title, l.xlabel, l.ylabel, l.snapshot()...)
	if err != nil {
		l.h.Update(display.Text(err.Error()))
		return
	}
	b := display.PNG(png)
	b["text/plain"] = l.summary()
	l.h.Update(b)
}

// summary is the text form: the last point of each series.
func (l *Live) summary() string {
	names := append([]string(nil), l.order...)
	sort.Strings(names)
	s := l.title
	for _, n := range names {
		se := l.series[n]
		if k := len(se.X); k > 0 {
			s += fmt.Sprintf("  %s: %g at %g", n, se.Y[k-1], se.X[k-1])
		}
	}
	return s
}
