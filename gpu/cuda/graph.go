//go:build cuda

package cuda

import (
	"errors"
	"unsafe"

	"github.com/netssm/netssm/gpu"
)

func init() {
	deviceMemInfo = func(b *Backend) (int64, int64, error) { return b.MemInfo() }
}

// CaptureGraph implements gpu.GraphCapturer with Capture.
func (b *Backend) CaptureGraph(record func() error) (gpu.Graph, error) {
	g, err := b.Capture(record)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return g, nil
}

var _ gpu.GraphCapturer = (*Backend)(nil)

// Graph is a captured sequence of kernel launches (a CUDA graph), replayed
// with one launch: the decode step of a whole model costs one submission
// instead of one per kernel. The buffers and scalar arguments are those of
// the capture; change inputs by writing into the same buffers.
type Graph struct {
	b    *Backend
	exec unsafe.Pointer
}

// Capture records the ops that record issues on b into a Graph instead of
// running them. record must only queue ops (no Read, Write, Sync, Alloc,
// Free or SumSquares, which wait for the device and are not capturable).
func (b *Backend) Capture(record func() error) (*Graph, error) {
	d, ok := b.dev.(*cuDevice)
	if !ok {
		return nil, errors.New("cuda: graph capture needs a CUDA device")
	}
	var exec unsafe.Pointer
	err := b.do(func() error {
		if err := d.stream.Synchronize(); err != nil {
			return err
		}
		if err := captureBegin(&d.stream); err != nil {
			return err
		}
		rerr := record()
		e, err := captureEnd(&d.stream) // always end the capture
		if rerr != nil {
			if e != nil {
				graphDestroy(e)
			}
			return rerr
		}
		exec = e
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Graph{b: b, exec: exec}, nil
}

// Launch queues one replay of the graph on the backend's stream.
func (g *Graph) Launch() error {
	if g.exec == nil {
		return errors.New("cuda: graph destroyed")
	}
	d := g.b.dev.(*cuDevice)
	return g.b.do(func() error { return graphLaunch(g.exec, &d.stream) })
}

// Destroy frees the graph.
func (g *Graph) Destroy() {
	if g.exec != nil {
		_ = g.b.do(func() error { graphDestroy(g.exec); return nil })
		g.exec = nil
	}
}
