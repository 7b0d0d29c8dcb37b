// Package gputest is the conformance suite of package gpu, in the manner of
// testing/fstest: RunAll(t, backend) runs every op of the backend and of the
// pure-Go reference (gpu/cpu) on the same random inputs, on small shapes
// that include ragged edges and strided views, and requires the outputs to
// agree within the tolerance stated per op and dtype. It also checks that
// bad arguments are rejected with errors, trains a tiny Mamba2 model built
// from the ops (Model) on both backends and compares the loss curves, and
// decodes greedily with the step ops (Decoder) on both and compares the
// tokens. BenchTrain and BenchDecode time the same model at any size.
//
// Tolerances (|got-want| <= Atol*max|want| + Rtol*|want|, per element):
//   - f32 data: Rtol 1e-4 (2e-3 for the SSD scan and its backward, whose
//     exponentials and long sums the GPU evaluates in float32), Atol 1e-5 (1e-4 scan);
//   - bf16 outputs or inputs: Rtol 1.6e-2 (two bf16 ulps), Atol 4e-3.
//
// The cpu backend is run against itself in the default build (gpu/cpu's
// tests), so the suite's plumbing is exercised in CI; the oracle's own
// correctness is established separately there (finite differences, the
// chunked scan against the recurrence).
package gputest
