package train

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/netssm/netssm/netssmlib/gpumodel"
)

// The device path (Options.Device): the same loop as the CPU path, with the
// forward/backward, clipping and AdamW done by gpumodel. The host model and
// AdamW hold the state a checkpoint saves; they are refreshed from the
// device (syncHost) only to save, and when Train returns.

// openDevice puts the host model (fresh, or as resumed from a checkpoint)
// and, for a resumed run, its AdamW moments on the device.
func (t *trainer) openDevice(ctx context.Context) error {
	be := t.opt.Device
	t.devCtx = context.WithoutCancel(ctx)
	dev, err := gpumodel.New(ctx, be, t.m, gpumodel.Options{DType: DeviceDType(t.opt)})
	if err != nil {
		return fmt.Errorf("train: putting the model on %s (%s): %w", be.Name(), be.DeviceName(), err)
	}
	if t.st.Step > 0 || t.adam.Steps > 0 {
		if err := dev.WriteOptimizer(ctx, t.adam.Steps, t.adam.M, t.adam.V); err != nil {
			dev.Close()
			return fmt.Errorf("train: copying the checkpoint's optimizer state to %s: %w", be.Name(), err)
		}
	}
	t.dev = dev
	t.logf("training on %s, %s compute", be.DeviceName(), DeviceDType(t.opt))
	return nil
}

// closeDevice leaves the host model with the device's weights (when a
// failed run did not save them) and frees the device model.
func (t *trainer) closeDevice() {
	if err := t.syncHost(); err != nil {
		t.logf("warning: %v", err)
	}
	if err := t.dev.Close(); err != nil {
		t.logf("warning: train: freeing the device model: %v", err)
	}
	t.dev = nil
}

// syncHost copies the device's fp32 master weights into the host model and
// its AdamW moments and step count into the host AdamW, so that the CPU
// path's save code writes them.
func (t *trainer) syncHost() error {
	if t.dev == nil || !t.devStale {
		return nil
	}
	if err := t.dev.Download(t.devCtx); err != nil {
		return fmt.Errorf("train: copying the weights from the device: %w", err)
	}
	steps, err := t.dev.ReadOptimizer(t.devCtx, t.adam.M, t.adam.V)
	if err != nil {
		return fmt.Errorf("train: copying the optimizer state from the device: %w", err)
	}
	t.adam.Steps = steps
	t.devStale = false
	return nil
}

// deviceStep is one optimizer step on the device: n micro-batches from
// first, then clipping and AdamW at learning rate lr. It returns the step's
// loss (as accumulate does), the input tokens and the gradient norm before
// clipping. On error the device's partial gradients are dropped.
func (t *trainer) deviceStep(ctx context.Context, perm []int, first, n int, lr float64) (loss float64, tokens int64, norm float64, err error) {
	loss, tokens, err = t.accumulateDevice(ctx, perm, first, n)
	if err != nil {
		if zerr := t.dev.ZeroGrad(t.devCtx); zerr != nil {
			err = errors.Join(err, fmt.Errorf("train: clearing the device's gradients: %w", zerr))
		}
		return 0, 0, 0, err
	}
	// The update runs to completion even if ctx is cancelled meanwhile: a
	// half-applied step could not be saved consistently.
	norm, err = t.dev.Step(t.devCtx, gpumodel.StepOptions{LR: lr, Beta1: t.adam.Beta1, Beta2: t.adam.Beta2,
		Eps: t.adam.Eps, WeightDecay: t.adam.WeightDecay, MaxGradNorm: t.opt.MaxGradNorm})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("train: optimizer step %d on the device: %w", t.st.Step+1, err)
	}
	t.devStale = true
	if err := t.dev.ZeroGrad(t.devCtx); err != nil {
		return 0, 0, 0, fmt.Errorf("train: clearing the device's gradients: %w", err)
	}
	return loss, tokens, norm, nil
}

// accumulateDevice leaves in the device's gradients what accumulate leaves
// in the host's: the gradient of the mean loss over each micro-batch's
// target tokens, averaged over the n micro-batches. The target count of a
// micro-batch is known on the host before any of it runs, so each
// sequence's gradient is scaled as it is added, and so is its loss, which
// the device accumulates: nothing is read back per sequence, the step's loss
// once at the end (before the update, so that a NaN loss stops training with
// the weights unchanged, as on the CPU path).
func (t *trainer) accumulateDevice(ctx context.Context, perm []int, first, n int) (loss float64, tokens int64, err error) {
	for k := range n {
		mb := first + k
		batch, count, err := t.microBatch(ctx, perm, mb)
		if err != nil {
			return 0, 0, err
		}
		for _, s := range batch {
			tokens += int64(len(s.ids))
		}
		if count == 0 {
			continue // nothing to learn from (HF would log NaN)
		}
		scale := 1 / (float64(count) * float64(n))
		got := 0
		for _, s := range batch {
			if err := ctx.Err(); err != nil {
				return 0, 0, err
			}
			c, err := t.dev.ForwardBackwardAsync(ctx, s.ids, s.targets, float32(scale), scale)
			if err != nil {
				return 0, 0, fmt.Errorf("train: example %d: %w", s.i, err)
			}
			got += c
		}
		if got != count {
			return 0, 0, fmt.Errorf("train: the device counted %d target tokens in micro-batch %d, the host %d", got, mb, count)
		}
	}
	loss, err = t.dev.TakeLoss(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("train: reading the loss from the device: %w", err)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, 0, fmt.Errorf("train: loss is %v at step %d", loss, t.st.Step+1)
	}
	return loss, tokens, nil
}
