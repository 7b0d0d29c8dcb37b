// Package gpu is the compute layer the Mamba2 model sits on: a small Backend
// abstraction over device memory and the kernels of one Mamba2 training step
// and one decode step, with a registry of backends.
//
// Backends:
//   - gpu/cpu: the pure-Go reference implementation (the oracle), always built;
//   - gpu/cuda: the CUDA implementation, built only with the cuda build tag
//     (it links gorgonia.org/cu and needs cgo and cuda.h).
//
// A backend registers itself from init with Register; callers pick one with
// Open(name). Open returns ErrNoDevice when the backend is compiled in but no
// usable device exists, and an error wrapping ErrUnknownBackend when no backend
// of that name was compiled in. Ops a backend does not have yet return
// ErrNotImplemented.
//
// # Memory and views
//
// Device memory is a Buffer of one DType (F32, BF16 or I32) owned by the
// backend that allocated it. Matrix operands are Mat views: a buffer, an
// element offset and a row stride, so that the column slices of in_proj's
// output (z, xBC, dt) and of the conv output (x, B, C) are used in place, as
// mamba-ssm does with strided PyTorch views.
//
// # Gradient conventions
//
// Forward and backward of an op share one argument struct. Backward passes
// overwrite activation gradients (DX, DZ, ...) and accumulate (+=) parameter
// gradients (DWeight, DTable, DALog, ...), which are always F32, so that
// gradient accumulation over micro-batches needs no extra pass.
//
// # Semantics
//
// The ops follow mamba-ssm (Mamba2 mixer, RMSNorm with residual in fp32,
// RMSNormGated with norm_before_gate=False, the SSD scan with
// dt = softplus(dt + dt_bias), A = -exp(A_log),
// h_t = exp(dt*A) h_{t-1} + dt * x_t B_t^T, y_t = h_t C_t + D x_t) and
// PyTorch (AdamW, clip_grad_norm_, cross_entropy with ignore_index -100).
// Each argument struct's documentation gives the exact formula.
package gpu
