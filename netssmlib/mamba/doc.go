// Package mamba is mamba-ssm's MambaLMHeadModel with Mamba2 mixers in pure
// Go: configuration (NetSSM's config.json), parameters with mamba-ssm's
// initialisation and PyTorch state_dict names, the chunked SSD forward pass,
// a hand-written backward pass for batch-1 training, and the recurrent step
// mode for constant-cost decoding.
//
// All weights are fp32 master copies held as flat []float32 slices
// (row-major, PyTorch's shapes). Activations live in a per-model workspace
// that is allocated once per sequence length and reused, so the hot loops do
// not allocate. Matrix products go through one blocked, multi-goroutine
// kernel (gemmNT) with an AVX2/FMA micro-kernel on amd64 and a portable Go
// fallback elsewhere.
//
// What the package leaves to others: checkpoint file formats beyond
// safetensors (netssmlib/checkpoint), optimisers, training loops, sampling
// and tokenisation.
//
// A Model is not safe for concurrent use: Forward, ForwardBackward, Step and
// Prefill share its workspace. Use one Model per goroutine (they may share
// nothing but the Config).
package mamba
