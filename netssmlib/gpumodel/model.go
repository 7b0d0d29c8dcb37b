package gpumodel

import (
	"context"
	"errors"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/netssmlib/mamba"
)

// Options configure a Model.
type Options struct {
	// DType is the dtype of activations and of the working copies of the
	// matrix-product weights: gpu.BF16 (the default when 0) or gpu.F32.
	// Master weights, gradients and AdamW moments are always fp32, and so
	// are the residual stream, the mixer outputs added to it and the logits.
	DType gpu.DType
	// MaxSeq is the longest sequence: the activation buffers are sized for
	// it once, on first use, and longer sequences are refused. 0 sizes them
	// for the sequence at hand and grows them when a longer one comes.
	MaxSeq int
	// ActivationBudget is the bytes of recomputable activations (norm
	// output, conv output, SSD output, gated-norm output and their
	// statistics) that training may keep between the forward and the
	// backward pass; layers beyond it recompute them in the backward pass
	// from the always-kept residual and in_proj output. 0 means 1 GiB;
	// negative means recompute every layer.
	ActivationBudget int64
}

// errNotYet marks a method whose body is being written.
var errNotYet = errors.New("gpumodel: not implemented yet")

// Model is a mamba.Model's weights on a gpu.Backend. It is not safe for
// concurrent use (nor is the backend).
type Model struct {
	be gpu.Backend
	m  *mamba.Model
}

// New uploads m's parameters to be. m must stay alive: Download and Upload
// copy between the device and m.Params.
func New(ctx context.Context, be gpu.Backend, m *mamba.Model, o Options) (*Model, error) {
	return nil, errNotYet
}

// Backend is the backend the model lives on.
func (g *Model) Backend() gpu.Backend { return g.be }

// Close frees the model's device memory (not the backend). Using the model
// afterwards is an error.
func (g *Model) Close() error { return errNotYet }

// Forward returns the logits [len(ids), PaddedVocab] of one sequence (read
// back to the host), for parity checks and scoring.
func (g *Model) Forward(ctx context.Context, ids []int32) (logits []float32, err error) {
	return nil, errNotYet
}

// ForwardBackward runs one sequence forward and backward: targets[t] is the
// next-token target of position t (gpu.IgnoreIndex = -100: not counted). It
// returns the summed cross-entropy and the number of counted targets, and
// adds gradScale * d(lossSum)/dθ into the device gradients.
func (g *Model) ForwardBackward(ctx context.Context, ids, targets []int32, gradScale float32) (lossSum float64, n int, err error) {
	return 0, 0, errNotYet
}

// ZeroGrad sets the device gradients to zero.
func (g *Model) ZeroGrad(ctx context.Context) error { return errNotYet }

// StepOptions are one optimizer step's hyper-parameters.
type StepOptions struct{ LR, Beta1, Beta2, Eps, WeightDecay, MaxGradNorm float64 }

// Step clips the global gradient norm to MaxGradNorm (when > 0, as
// train.ClipGradNorm: the gradients are scaled in place) and applies AdamW
// exactly as train.AdamW.Update (decay on every parameter, bias correction,
// fp32 moments). It returns the norm before clipping and zeroes nothing.
func (g *Model) Step(ctx context.Context, o StepOptions) (gradNorm float64, err error) {
	return 0, errNotYet
}

// OptimizerSteps is the number of AdamW steps taken (train.AdamW.Steps).
func (g *Model) OptimizerSteps() int { return 0 }

// Download copies the device fp32 master weights into m.Params[i].Data.
func (g *Model) Download(ctx context.Context) error { return errNotYet }

// Upload copies m.Params[i].Data into the device master weights and their
// working copies.
func (g *Model) Upload(ctx context.Context) error { return errNotYet }

// ReadOptimizer copies the AdamW moments into mom and vel (shaped like
// m.Params: len(m.Params) slices of each parameter's size) and returns the
// step count.
func (g *Model) ReadOptimizer(ctx context.Context, mom, vel [][]float32) (steps int, err error) {
	return 0, errNotYet
}

// WriteOptimizer sets the AdamW moments and step count (to resume training).
func (g *Model) WriteOptimizer(ctx context.Context, steps int, mom, vel [][]float32) error {
	return errNotYet
}

// Grads returns host copies of the gradients, shaped like m.Params.
func (g *Model) Grads(ctx context.Context) ([][]float32, error) { return nil, errNotYet }

// Decoder generates with a Model's weights one token per row at a time.
type Decoder struct {
	g     *Model
	batch int
}

// NewDecoder allocates the recurrent state of batch rows (zero). With
// useGraph and a backend implementing gpu.GraphCapturer, the whole per-token
// step is captured once and replayed.
func (g *Model) NewDecoder(batch int, useGraph bool) (*Decoder, error) { return nil, errNotYet }

// Prefill resets row, runs the prompt through the chunked forward pass and
// leaves the row's state as if every prompt token had been stepped. It
// returns the logits after the last prompt token [PaddedVocab].
func (d *Decoder) Prefill(ctx context.Context, row int, prompt []int32) (logits []float32, err error) {
	return nil, errNotYet
}

// Step feeds next[b] to row b, advances every row's state and writes the
// next-token logits [batch*PaddedVocab] into logits.
func (d *Decoder) Step(ctx context.Context, next []int32, logits []float32) error { return errNotYet }

// Close frees the decoder's device memory.
func (d *Decoder) Close() error { return errNotYet }
