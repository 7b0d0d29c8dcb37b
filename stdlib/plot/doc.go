// Package plot draws the figures of netssm's notebooks as PNG images with
// gonum.org/v1/plot (pure Go): a live training-loss curve and bar charts
// comparing real and synthetic traffic field by field (from a
// netssmlib/fidelity report).
//
// Every figure type has a PNG() []byte method, so a figure as the last
// expression of a cell shows as an image, and display.Display or a
// display.Handle's Update show it at once or in place:
//
//	lp := plot.NewLoss("training loss")
//	h := display.New()
//	opts.OnLog = func(step int, loss float64) { lp.Add(step, loss); h.Update(lp) }
//
//	plot.Compare(report, "ip_length", "dst_port", "tcp_flags")
package plot
