// Package cpu is the pure-Go reference backend of package gpu, registered as
// "cpu": the oracle every other backend is tested against.
//
// Every op is a plain loop nest written for clarity, not speed, accumulating
// in float64. BF16 buffers hold float32 values rounded to bfloat16 on every
// store, so a BF16 computation here sees the same inputs as on a GPU and
// differs from it only by accumulation order and the final rounding.
//
// The SSD forward pass uses the chunked (state-passing) form of mamba-ssm;
// its tests check it against the plain recurrence. Backward passes are the
// reverse-mode derivative of the recurrence, with states checkpointed at
// chunk starts and recomputed, and are checked by finite differences.
package cpu
