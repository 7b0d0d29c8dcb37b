package cpu

import (
	"context"

	"github.com/netssm/netssm/gpu"
)

// SSDSequential runs the SSD forward pass by the plain recurrence.
func (be *Backend) SSDSequential(ctx context.Context, a *gpu.SSDArgs) error {
	if err := begin(ctx, a.Validate(false), nil); err != nil {
		return err
	}
	return be.ssdForward(ctx, a, true)
}
