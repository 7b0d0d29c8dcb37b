package cpu

import (
	"context"
	"fmt"
	"math"

	"github.com/netssm/netssm/gpu"
)

func init() {
	gpu.Register("cpu", func() (gpu.Backend, error) { return New(), nil })
}

// Backend is the reference backend. Its zero value is not usable; use New.
type Backend struct {
	id          *byte
	inUse, peak int64 // bytes of live buffers at their device dtype size (gpu.MemoryReporter)
}

// New returns a reference backend.
func New() *Backend { return &Backend{id: new(byte)} }

// buffer is host memory: floats in f (BF16 kept rounded), ints in i.
type buffer struct {
	owner *byte
	dt    gpu.DType
	f     []float32
	i     []int32
	freed bool
}

func (b *buffer) DType() gpu.DType { return b.dt }
func (b *buffer) Len() int {
	if b.dt == gpu.I32 {
		return len(b.i)
	}
	return len(b.f)
}

// Name implements gpu.Backend.
func (be *Backend) Name() string { return "cpu" }

// DeviceName implements gpu.Backend.
func (be *Backend) DeviceName() string { return "host CPU (pure-Go reference)" }

// Alloc implements gpu.Backend.
func (be *Backend) Alloc(dt gpu.DType, n int) (gpu.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: alloc of %d elements", n)
	}
	b := &buffer{owner: be.id, dt: dt}
	switch dt {
	case gpu.F32, gpu.BF16:
		b.f = make([]float32, n)
	case gpu.I32:
		b.i = make([]int32, n)
	default:
		return nil, fmt.Errorf("cpu: alloc: unknown dtype %v", dt)
	}
	be.inUse += int64(n) * int64(dt.Size())
	be.peak = max(be.peak, be.inUse)
	return b, nil
}

// Free implements gpu.Backend: the buffer's memory goes back to the garbage
// collector and the buffer has no elements afterwards (using it is an error
// reported by the op, not a crash). Freeing twice is a no-op, and so is
// freeing a gpu.View.
func (be *Backend) Free(g gpu.Buffer) {
	if _, ok := g.(*gpu.View); ok {
		return // a view owns no memory
	}
	b, err := be.own(g)
	if err != nil { // foreign or already freed
		return
	}
	be.inUse -= int64(b.Len()) * int64(b.dt.Size())
	b.f, b.i, b.freed = nil, nil, true
}

// MemoryStats implements gpu.MemoryReporter: the bytes the live buffers
// would take on a device (BF16 counts 2 bytes an element, although the
// reference keeps it widened). The reference has no scratch memory to count
// and no device: DeviceUsed and DeviceTotal are 0.
func (be *Backend) MemoryStats() gpu.MemoryStats {
	return gpu.MemoryStats{InUse: be.inUse, Peak: be.peak}
}

// ResetPeak implements gpu.MemoryReporter.
func (be *Backend) ResetPeak() { be.peak = be.inUse }

func (be *Backend) own(b gpu.Buffer) (*buffer, error) {
	if v, ok := b.(*gpu.View); ok {
		return be.ownView(v)
	}
	cb, ok := b.(*buffer)
	if !ok || cb == nil || cb.owner != be.id {
		return nil, fmt.Errorf("cpu: buffer %T was not allocated by this backend", b)
	}
	if cb.freed {
		return nil, fmt.Errorf("cpu: %v buffer used after Free", cb.dt)
	}
	return cb, nil
}

func span(op string, off, n, length int) error {
	if off < 0 || n < 0 || off+n > length {
		return fmt.Errorf("cpu: %s: range [%d, %d) outside buffer of %d elements", op, off, off+n, length)
	}
	return nil
}

// Write implements gpu.Backend.
func (be *Backend) Write(b gpu.Buffer, off int, src []float32) error {
	cb, err := be.own(b)
	if err != nil {
		return err
	}
	if !cb.dt.IsFloat() {
		return fmt.Errorf("cpu: write: float data into %v buffer", cb.dt)
	}
	if err := span("write", off, len(src), len(cb.f)); err != nil {
		return err
	}
	for i, v := range src {
		cb.f[off+i] = round(cb.dt, float64(v))
	}
	return nil
}

// WriteInt32 implements gpu.Backend.
func (be *Backend) WriteInt32(b gpu.Buffer, off int, src []int32) error {
	cb, err := be.own(b)
	if err != nil {
		return err
	}
	if cb.dt != gpu.I32 {
		return fmt.Errorf("cpu: write: int32 data into %v buffer", cb.dt)
	}
	if err := span("write", off, len(src), len(cb.i)); err != nil {
		return err
	}
	copy(cb.i[off:], src)
	return nil
}

// Read implements gpu.Backend.
func (be *Backend) Read(dst []float32, b gpu.Buffer, off int) error {
	cb, err := be.own(b)
	if err != nil {
		return err
	}
	if !cb.dt.IsFloat() {
		return fmt.Errorf("cpu: read: float data from %v buffer", cb.dt)
	}
	if err := span("read", off, len(dst), len(cb.f)); err != nil {
		return err
	}
	copy(dst, cb.f[off:])
	return nil
}

// ReadInt32 implements gpu.Backend.
func (be *Backend) ReadInt32(dst []int32, b gpu.Buffer, off int) error {
	cb, err := be.own(b)
	if err != nil {
		return err
	}
	if cb.dt != gpu.I32 {
		return fmt.Errorf("cpu: read: int32 data from %v buffer", cb.dt)
	}
	if err := span("read", off, len(dst), len(cb.i)); err != nil {
		return err
	}
	copy(dst, cb.i[off:])
	return nil
}

// Sync implements gpu.Backend (all work is synchronous).
func (be *Backend) Sync(ctx context.Context) error { return ctx.Err() }

// Close implements gpu.Backend.
func (be *Backend) Close() error { return nil }

func round(dt gpu.DType, v float64) float32 {
	if dt == gpu.BF16 {
		return gpu.RoundBF16(float32(v))
	}
	return float32(v)
}

// mat is a resolved gpu.Mat.
type mat struct {
	b      *buffer
	off, s int
}

func (m mat) at(r, c int) float64 { return float64(m.b.f[m.off+r*m.s+c]) }
func (m mat) set(r, c int, v float64) {
	m.b.f[m.off+r*m.s+c] = round(m.b.dt, v)
}

func (be *Backend) mat(m gpu.Mat) mat {
	b, err := be.own(m.Buf)
	if err != nil {
		panic(err) // owned buffers are checked by ownership() before
	}
	return mat{b, m.Off, m.Stride}
}

// vec returns the float data of an owned buffer (nil for nil).
func (be *Backend) vec(b gpu.Buffer) []float32 {
	if b == nil {
		return nil
	}
	cb, _ := be.own(b)
	return cb.f
}

// owned checks that every non-nil buffer belongs to this backend, so that
// the accessors above cannot fail afterwards.
func (be *Backend) owned(bufs ...gpu.Buffer) error {
	for _, b := range bufs {
		if b == nil {
			continue
		}
		if _, err := be.own(b); err != nil {
			return err
		}
	}
	return nil
}

func begin(ctx context.Context, validate error, owned error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if validate != nil {
		return validate
	}
	return owned
}

// Fill implements gpu.Ops.
func (be *Backend) Fill(ctx context.Context, b gpu.Buffer, v float32) error {
	cb, err := be.own(b)
	if err != nil {
		return err
	}
	if !cb.dt.IsFloat() {
		return fmt.Errorf("cpu: fill: %v buffer", cb.dt)
	}
	r := round(cb.dt, float64(v))
	for i := range cb.f {
		cb.f[i] = r
	}
	return ctx.Err()
}

// Scale implements gpu.Ops.
func (be *Backend) Scale(ctx context.Context, b gpu.Buffer, s float32) error {
	cb, err := be.own(b)
	if err != nil {
		return err
	}
	if !cb.dt.IsFloat() {
		return fmt.Errorf("cpu: scale: %v buffer", cb.dt)
	}
	for i, v := range cb.f {
		cb.f[i] = round(cb.dt, float64(v)*float64(s))
	}
	return ctx.Err()
}

// Convert implements gpu.Ops.
func (be *Backend) Convert(ctx context.Context, dst, src gpu.Buffer) error {
	d, err := be.own(dst)
	if err != nil {
		return err
	}
	s, err := be.own(src)
	if err != nil {
		return err
	}
	if !d.dt.IsFloat() || !s.dt.IsFloat() || d.Len() != s.Len() {
		return fmt.Errorf("cpu: convert: %v[%d] to %v[%d]", s.dt, s.Len(), d.dt, d.Len())
	}
	for i, v := range s.f {
		d.f[i] = round(d.dt, float64(v))
	}
	return ctx.Err()
}

// SumSquares implements gpu.Ops.
func (be *Backend) SumSquares(ctx context.Context, bufs []gpu.Buffer) (float64, error) {
	var s float64
	for _, b := range bufs {
		cb, err := be.own(b)
		if err != nil {
			return 0, err
		}
		if !cb.dt.IsFloat() {
			return 0, fmt.Errorf("cpu: sum_squares: %v buffer", cb.dt)
		}
		for _, v := range cb.f {
			s += float64(v) * float64(v)
		}
	}
	return s, ctx.Err()
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func silu(x float64) float64 { return x * sigmoid(x) }

// dsilu is d silu(x) / dx.
func dsilu(x float64) float64 {
	s := sigmoid(x)
	return s * (1 + x*(1-s))
}

// softplus matches mamba-ssm's Triton kernels: x above 20 passes through.
func softplus(x float64) float64 {
	if x > 20 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// dsoftplus is d softplus(x) / dx with the same threshold.
func dsoftplus(x float64) float64 {
	if x > 20 {
		return 1
	}
	return sigmoid(x)
}
