//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"gorgonia.org/cu"
)

// TestLaunchErrorCodes checks that gorgonia.org/cu's errors, as Launch and
// Synchronize return them, are classified: 701 and 1 as unfit (fallback),
// 700 and 719 as sticky (context lost), others as neither. No GPU needed.
func TestLaunchErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err           error
		code          int
		unfit, sticky bool
	}{
		{cu.LaunchOutOfResources, 701, true, false},
		{cu.InvalidValue, 1, true, false},
		{cu.IllegalAddress, 700, false, true},
		{cu.LaunchFailed, 719, false, true},
		{cu.OutOfMemory, 2, false, false},
		{fmt.Errorf("allowing smem: %w", resultCode(1)), 1, true, false},
	} {
		got, ok := codeOf(fmt.Errorf("wrapped: %w", c.err))
		if !ok || got != c.code {
			t.Errorf("%v: code %d (found %v), want %d", c.err, got, ok, c.code)
			continue
		}
		b := &Backend{dev: failingDevice{c.err}, devName: "test"}
		err := b.launch("k_fill", 1, 1, 1, 32, 0)
		if errors.Is(err, ErrKernelUnfit) != c.unfit || errors.Is(err, ErrContextLost) != c.sticky {
			t.Errorf("%v: launch error %v: unfit %v sticky %v, want %v %v", c.err, err,
				errors.Is(err, ErrKernelUnfit), errors.Is(err, ErrContextLost), c.unfit, c.sticky)
		}
		if again := b.launch("k_fill", 1, 1, 1, 32, 0); c.sticky != errors.Is(again, ErrContextLost) {
			t.Errorf("%v: the launch after it: %v", c.err, again)
		}
	}
}

// failingDevice fails every launch with err.
type failingDevice struct{ err error }

func (d failingDevice) bind() (func(), error)                                  { return func() {}, nil }
func (d failingDevice) alloc(int64) (dptr, error)                              { return 0, d.err }
func (d failingDevice) free(dptr) error                                        { return nil }
func (d failingDevice) memsetD8(dptr, byte, int64) error                       { return d.err }
func (d failingDevice) memsetD32(dptr, uint32, int64) error                    { return d.err }
func (d failingDevice) htod(dptr, unsafe.Pointer, int64) error                 { return d.err }
func (d failingDevice) dtoh(unsafe.Pointer, dptr, int64) error                 { return d.err }
func (d failingDevice) launch(string, int, int, int, int, int, []uint64) error { return d.err }
func (d failingDevice) sync() error                                            { return d.err }
func (d failingDevice) close() error                                           { return nil }
