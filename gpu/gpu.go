package gpu

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// DType is the element type of a Buffer.
type DType uint8

// The element types of device memory.
const (
	F32  DType = iota + 1 // IEEE float32
	BF16                  // bfloat16 (upper half of a float32), rounded to nearest even
	I32                   // int32 (token ids, labels)
)

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case BF16:
		return 2
	}
	return 0
}

func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	case I32:
		return "i32"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// IsFloat reports whether d holds floating-point values.
func (d DType) IsFloat() bool { return d == F32 || d == BF16 }

// Buffer is a block of device memory of one dtype, owned by the Backend that
// allocated it. Passing a buffer to another backend is an error.
type Buffer interface {
	DType() DType
	Len() int // number of elements
}

// Mat is a row-major matrix view of a buffer: element (r, c) is at
// Off + r*Stride + c. Its shape is given by the op that uses it.
type Mat struct {
	Buf    Buffer
	Off    int
	Stride int
}

// Dense is the view of a whole buffer as a matrix with cols columns.
func Dense(b Buffer, cols int) Mat { return Mat{Buf: b, Stride: cols} }

// Cols is the view of columns [off, off+...) of a matrix with stride cols
// stored densely in b, e.g. Cols(zxbcdt, dInProj, dInner) is x and the rest.
func Cols(b Buffer, stride, off int) Mat { return Mat{Buf: b, Off: off, Stride: stride} }

// Errors shared by all backends.
var (
	// ErrNoDevice: the backend is compiled in but no usable device (or
	// driver) was found.
	ErrNoDevice = errors.New("gpu: no device")
	// ErrNotImplemented: the backend does not have this op (yet).
	ErrNotImplemented = errors.New("gpu: op not implemented by this backend")
	// ErrUnknownBackend: no backend of that name is compiled into the binary.
	ErrUnknownBackend = errors.New("gpu: unknown backend")
)

// Backend is one compute device: memory management plus the ops of a Mamba2
// training step and decode step. A Backend is not safe for concurrent use:
// ops are issued in order (on GPUs, to one stream) and Sync waits for all of
// them. Errors from asynchronous device work may surface at a later call or
// at Sync.
type Backend interface {
	Name() string       // registry name, e.g. "cpu", "cuda"
	DeviceName() string // human-readable device, e.g. "NVIDIA H200"

	Alloc(dt DType, n int) (Buffer, error) // zero-filled
	Free(b Buffer)
	// Write copies src into b[off:], rounding to b's dtype (F32 or BF16).
	Write(b Buffer, off int, src []float32) error
	WriteInt32(b Buffer, off int, src []int32) error
	// Read copies b[off:off+len(dst)] into dst, widening BF16.
	Read(dst []float32, b Buffer, off int) error
	ReadInt32(dst []int32, b Buffer, off int) error
	Sync(ctx context.Context) error
	Close() error

	Ops
}

// Ops are the kernels. Each validates its arguments (Validate methods below)
// and returns an error naming the argument at fault.
type Ops interface {
	// Fill sets every element of a float buffer to v.
	Fill(ctx context.Context, b Buffer, v float32) error
	// Scale multiplies every element of a float buffer by s.
	Scale(ctx context.Context, b Buffer, s float32) error
	// Convert copies src into dst (same length), converting the dtype.
	Convert(ctx context.Context, dst, src Buffer) error
	// SumSquares returns the sum of squares of all elements of the buffers
	// (accumulated in at least fp32 per block and fp64 across blocks). It
	// waits for the device.
	SumSquares(ctx context.Context, bufs []Buffer) (float64, error)

	Embedding(ctx context.Context, a *EmbeddingArgs) error
	EmbeddingBackward(ctx context.Context, a *EmbeddingArgs) error
	AddRMSNorm(ctx context.Context, a *AddRMSNormArgs) error
	AddRMSNormBackward(ctx context.Context, a *AddRMSNormArgs) error
	Gemm(ctx context.Context, a *GemmArgs) error
	Conv1d(ctx context.Context, a *Conv1dArgs) error
	Conv1dBackward(ctx context.Context, a *Conv1dArgs) error
	Conv1dStep(ctx context.Context, a *Conv1dStepArgs) error
	SSD(ctx context.Context, a *SSDArgs) error
	SSDBackward(ctx context.Context, a *SSDArgs) error
	SSDStep(ctx context.Context, a *SSDStepArgs) error
	GatedRMSNorm(ctx context.Context, a *GatedRMSNormArgs) error
	GatedRMSNormBackward(ctx context.Context, a *GatedRMSNormArgs) error
	CrossEntropy(ctx context.Context, a *CrossEntropyArgs) error
	AdamW(ctx context.Context, a *AdamWArgs) error
}

// Opener opens a device of a backend.
type Opener func() (Backend, error)

var (
	regMu    sync.Mutex
	registry = map[string]Opener{}
)

// Register makes a backend available to Open. It panics on a duplicate name
// (a programming error, as with database/sql).
func Register(name string, open Opener) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("gpu: Register called twice for backend " + name)
	}
	registry[name] = open
}

// Backends lists the registered backend names, sorted.
func Backends() []string {
	regMu.Lock()
	defer regMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the backend registered under name.
func Open(name string) (Backend, error) {
	regMu.Lock()
	open, ok := registry[name]
	regMu.Unlock()
	if !ok {
		hint := ""
		if name == "cuda" {
			hint = " (this binary was built without the cuda build tag)"
		}
		return nil, fmt.Errorf("%w %q%s; compiled in: %v", ErrUnknownBackend, name, hint, Backends())
	}
	return open()
}

// ClipGradNorm computes the global L2 norm of the gradients and, when it
// exceeds maxNorm, scales them by maxNorm/(norm+1e-6), as PyTorch's
// clip_grad_norm_ does. It returns the norm before clipping. maxNorm <= 0
// only measures.
func ClipGradNorm(ctx context.Context, b Backend, grads []Buffer, maxNorm float64) (float64, error) {
	ss, err := b.SumSquares(ctx, grads)
	if err != nil {
		return 0, err
	}
	norm := sqrt(ss)
	if maxNorm > 0 {
		coef := maxNorm / (norm + 1e-6)
		if coef < 1 {
			for _, g := range grads {
				if err := b.Scale(ctx, g, float32(coef)); err != nil {
					return norm, err
				}
			}
		}
	}
	return norm, nil
}

// MemoryStats is a backend's memory use in bytes.
type MemoryStats struct {
	// InUse is the bytes of this backend's live buffers and scratch (at the
	// dtype's device size, also on the host reference backend); Peak is the
	// largest InUse since the backend was opened or ResetPeak was called.
	InUse, Peak int64
	// DeviceUsed and DeviceTotal describe the whole device (every process);
	// 0 when unknown.
	DeviceUsed, DeviceTotal int64
}

// MemoryReporter is implemented by backends that account for their memory.
type MemoryReporter interface {
	MemoryStats() MemoryStats
	// ResetPeak sets Peak to the current InUse.
	ResetPeak()
}

// Graph is a recorded sequence of ops that can be replayed with one launch
// (a CUDA graph). It reads and writes the buffers of the recording: change
// its inputs by writing into those buffers before Launch.
type Graph interface {
	// Launch queues one replay.
	Launch() error
	// Destroy frees the graph; it must not be launched again.
	Destroy()
}

// GraphCapturer is implemented by backends that can record ops into a Graph.
type GraphCapturer interface {
	// CaptureGraph calls record, which must only queue ops (no Read, Write,
	// Sync, Alloc, Free or SumSquares), and returns them as a Graph without
	// running them.
	CaptureGraph(record func() error) (Graph, error)
}

// FusedDecoder is implemented by backends with fused decode ops: a Mamba2
// layer's decode step in three launches instead of six (see the Args
// structs for the exact formulas, each equal to a sequence of Ops). Callers
// check for it with a type assertion and fall back to the unfused ops:
//
//	if fd, ok := be.(gpu.FusedDecoder); ok { ... }
type FusedDecoder interface {
	// DecodeInProj: RMSNorm of the residual, in_proj, conv1d step over xBC.
	DecodeInProj(ctx context.Context, a *DecodeInProjArgs) error
	// DecodeMixer: the SSD decode step per (row, head).
	DecodeMixer(ctx context.Context, a *DecodeMixerArgs) error
	// DecodeOutProj: gated RMSNorm, out_proj, residual add.
	DecodeOutProj(ctx context.Context, a *DecodeOutProjArgs) error
}

// View is a contiguous sub-range of a buffer: elements [Offset, Offset+Len)
// of its Parent, usable wherever a Buffer is (every op, Read, Write, Fill),
// so that many tensors can live in one allocation (the flat parameter,
// gradient and moment buffers of gpumodel). Make one with Slice. A View
// owns no memory: Free ignores it, and it is invalid once its parent is
// freed (ops then report an error).
type View struct {
	parent Buffer
	off, n int
}

// Slice returns the view of b's elements [off, off+n). A view of a view is
// a view of the same parent. It fails on a nil buffer or a range outside b.
func Slice(b Buffer, off, n int) (*View, error) {
	if b == nil {
		return nil, errors.New("gpu: Slice of a nil buffer")
	}
	if off < 0 || n < 0 || off > b.Len()-n {
		return nil, fmt.Errorf("gpu: Slice [%d, %d) outside the buffer of %d elements", off, off+n, b.Len())
	}
	if v, ok := b.(*View); ok {
		return &View{parent: v.parent, off: v.off + off, n: n}, nil
	}
	return &View{parent: b, off: off, n: n}, nil
}

// DType implements Buffer.
func (v *View) DType() DType { return v.parent.DType() }

// Len implements Buffer.
func (v *View) Len() int { return v.n }

// Parent is the buffer the view is of (never itself a View).
func (v *View) Parent() Buffer { return v.parent }

// Offset is the index in Parent of the view's element 0.
func (v *View) Offset() int { return v.off }

// FlatOptimizer is implemented by backends with multi-tensor optimizer ops:
// a whole training step's clipping and AdamW over flat (concatenated)
// parameter, gradient and moment buffers in a few launches, with the norm,
// the clip coefficient and the loss kept in device memory so that nothing
// waits for the host. Callers check for it with a type assertion and fall
// back to ClipGradNorm and one AdamW per tensor.
type FlatOptimizer interface {
	// GradNormClip computes the global L2 norm of a flat gradient buffer
	// and PyTorch's clip coefficient into device memory.
	GradNormClip(ctx context.Context, a *GradNormClipArgs) error
	// AdamWFlat is AdamW over flat buffers, the gradient scale read from
	// device memory (GradNormClip's coefficient).
	AdamWFlat(ctx context.Context, a *AdamWFlatArgs) error
	// AccumulateSum adds Scale times the sum of a buffer to a device
	// accumulator (the loss of a micro-batch).
	AccumulateSum(ctx context.Context, a *AccumulateSumArgs) error
}

// PairValue is the float64 value of an unevaluated fp32 pair hi + lo, the
// form in which GradNormClip and AccumulateSum keep fp64 results in F32
// device buffers.
func PairValue(hi, lo float32) float64 { return float64(hi) + float64(lo) }

// SplitPair is the fp32 pair (hi, lo) of v: hi = fp32(v), lo = fp32(v - hi).
func SplitPair(v float64) (hi, lo float32) {
	hi = float32(v)
	return hi, float32(v - float64(hi))
}
