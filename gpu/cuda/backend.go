//go:build cuda || cudaemu

package cuda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/netssm/netssm/gpu"
)

// Backend is one CUDA device (or the emulator).
type Backend struct {
	id      *byte
	dev     device
	name    string
	devName string
	sms     int
	arena   dptr // grow-only scratch (SSD, sums)
	arenaN  int64
	closed  bool

	inUse, peak int64 // bytes of live buffers + scratch (gpu.MemoryReporter)

	// SequentialScan makes the SSD forward run as one sequential pass per
	// (sequence, head) instead of the chunked matmul form (for testing and
	// for comparing the two; both compute the same recurrence). The
	// backward is always chunked.
	SequentialScan bool

	// GemmWarps selects the tensor-core GEMM variant per 128x128 tile: 8
	// warps of 64x32 (the default; 0 means 8) or 4 warps of 64x64 (see
	// docs/gpu.md, GEMM). Both compute the same; which is faster is for a
	// GPU benchmark to say.
	GemmWarps int

	// gemmTuning holds GemmKernel, GemmTune and the autotuner's choices
	// (gemm_tune.go).
	gemmTuning

	// launchState holds the kernels' attributes, the kernels found unusable
	// and the fallbacks taken (launch.go).
	launchState
}

func newBackend(dev device, name, devName string, sms int) *Backend {
	b := &Backend{id: new(byte), dev: dev, name: name, devName: devName, sms: max(sms, 1)}
	b.loadKernelInfo()
	return b
}

// buffer is device memory.
type buffer struct {
	owner *byte
	ptr   dptr
	dt    gpu.DType
	n     int
}

func (b *buffer) DType() gpu.DType { return b.dt }
func (b *buffer) Len() int         { return b.n }

// do runs f on a locked OS thread with the context current.
func (b *Backend) do(f func() error) error {
	if b.closed {
		return errors.New("cuda: backend is closed")
	}
	if b.lost != nil {
		return b.lost
	}
	release, err := b.dev.bind()
	if err != nil {
		return err
	}
	defer release()
	return f()
}

// Name implements gpu.Backend.
func (b *Backend) Name() string { return b.name }

// DeviceName implements gpu.Backend.
func (b *Backend) DeviceName() string { return b.devName }

// Alloc implements gpu.Backend.
func (b *Backend) Alloc(dt gpu.DType, n int) (gpu.Buffer, error) {
	if dt.Size() == 0 || n < 0 {
		return nil, fmt.Errorf("cuda: alloc of %d elements of %v", n, dt)
	}
	buf := &buffer{owner: b.id, dt: dt, n: n}
	if n == 0 {
		return buf, nil
	}
	bytes := int64(n) * int64(dt.Size())
	err := b.do(func() error {
		p, err := b.dev.alloc(bytes)
		if err != nil {
			return fmt.Errorf("cuda: allocating %d bytes on %s: %v", bytes, b.devName, err)
		}
		buf.ptr = p
		b.account(bytes)
		return b.dev.memsetD8(p, 0, bytes)
	})
	if err != nil {
		return nil, err
	}
	return buf, nil
}

// Free implements gpu.Backend. It waits for queued work first.
func (b *Backend) Free(g gpu.Buffer) {
	if _, ok := g.(*gpu.View); ok {
		return // a view owns no memory
	}
	buf, err := b.own(g)
	if err != nil || buf.ptr == 0 {
		return
	}
	_ = b.do(func() error {
		_ = b.dev.sync()
		return b.dev.free(buf.ptr)
	})
	b.account(-int64(buf.n) * int64(buf.dt.Size()))
	buf.ptr, buf.n = 0, 0
}

func (b *Backend) own(g gpu.Buffer) (*buffer, error) {
	if v, ok := g.(*gpu.View); ok {
		return b.ownView(v) // optim.go
	}
	buf, ok := g.(*buffer)
	if !ok || buf == nil || buf.owner != b.id {
		return nil, fmt.Errorf("cuda: buffer %T was not allocated by this backend", g)
	}
	return buf, nil
}

// owned checks that every non-nil buffer belongs to this backend.
func (b *Backend) owned(bufs ...gpu.Buffer) error {
	for _, g := range bufs {
		if g == nil {
			continue
		}
		if _, err := b.own(g); err != nil {
			return err
		}
	}
	return nil
}

func span(op string, off, n, length int) error {
	if off < 0 || n < 0 || off+n > length {
		return fmt.Errorf("cuda: %s: range [%d, %d) outside buffer of %d elements", op, off, off+n, length)
	}
	return nil
}

// Write implements gpu.Backend.
func (b *Backend) Write(g gpu.Buffer, off int, src []float32) error {
	buf, err := b.own(g)
	if err != nil {
		return err
	}
	if !buf.dt.IsFloat() {
		return fmt.Errorf("cuda: write: float data into %v buffer", buf.dt)
	}
	if err := span("write", off, len(src), buf.n); err != nil || len(src) == 0 {
		return err
	}
	var host unsafe.Pointer
	var bytes int64
	if buf.dt == gpu.BF16 {
		h := make([]uint16, len(src))
		for i, v := range src {
			h[i] = gpu.BF16Bits(v)
		}
		host, bytes = unsafe.Pointer(&h[0]), int64(len(h))*2
		defer runtime.KeepAlive(h)
	} else {
		host, bytes = unsafe.Pointer(&src[0]), int64(len(src))*4
	}
	dst := buf.ptr + dptr(off*buf.dt.Size())
	return b.do(func() error { return b.dev.htod(dst, host, bytes) })
}

// WriteInt32 implements gpu.Backend.
func (b *Backend) WriteInt32(g gpu.Buffer, off int, src []int32) error {
	buf, err := b.own(g)
	if err != nil {
		return err
	}
	if buf.dt != gpu.I32 {
		return fmt.Errorf("cuda: write: int32 data into %v buffer", buf.dt)
	}
	if err := span("write", off, len(src), buf.n); err != nil || len(src) == 0 {
		return err
	}
	return b.do(func() error { return b.dev.htod(buf.ptr+dptr(off*4), unsafe.Pointer(&src[0]), int64(len(src))*4) })
}

// Read implements gpu.Backend.
func (b *Backend) Read(dst []float32, g gpu.Buffer, off int) error {
	buf, err := b.own(g)
	if err != nil {
		return err
	}
	if !buf.dt.IsFloat() {
		return fmt.Errorf("cuda: read: float data from %v buffer", buf.dt)
	}
	if err := span("read", off, len(dst), buf.n); err != nil || len(dst) == 0 {
		return err
	}
	if buf.dt == gpu.F32 {
		return b.do(func() error { return b.dev.dtoh(unsafe.Pointer(&dst[0]), buf.ptr+dptr(off*4), int64(len(dst))*4) })
	}
	h := make([]uint16, len(dst))
	err = b.do(func() error { return b.dev.dtoh(unsafe.Pointer(&h[0]), buf.ptr+dptr(off*2), int64(len(h))*2) })
	for i, v := range h {
		dst[i] = gpu.FromBF16Bits(v)
	}
	return err
}

// ReadInt32 implements gpu.Backend.
func (b *Backend) ReadInt32(dst []int32, g gpu.Buffer, off int) error {
	buf, err := b.own(g)
	if err != nil {
		return err
	}
	if buf.dt != gpu.I32 {
		return fmt.Errorf("cuda: read: int32 data from %v buffer", buf.dt)
	}
	if err := span("read", off, len(dst), buf.n); err != nil || len(dst) == 0 {
		return err
	}
	return b.do(func() error { return b.dev.dtoh(unsafe.Pointer(&dst[0]), buf.ptr+dptr(off*4), int64(len(dst))*4) })
}

// Sync implements gpu.Backend: it waits for all queued work and reports
// any asynchronous kernel failure.
func (b *Backend) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.do(func() error {
		return b.syncErr(b.dev.sync())
	})
}

// Close implements gpu.Backend.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	// Not b.do: a backend whose context is lost must still release it.
	release, err := b.dev.bind()
	if err == nil {
		err = b.closeLocked()
		release()
	}
	b.closed = true
	return err
}

func (b *Backend) closeLocked() error {
	_ = b.dev.sync()
	if b.arena != 0 {
		_ = b.dev.free(b.arena)
		b.account(-b.arenaN)
		b.arena, b.arenaN = 0, 0
	}
	return b.dev.close()
}

// scratch returns at least n bytes of device scratch memory, valid until the
// next call (work queued on the stream keeps its order).
func (b *Backend) scratch(n int64) (dptr, error) {
	if n <= b.arenaN {
		return b.arena, nil
	}
	if b.arena != 0 {
		_ = b.dev.sync()
		_ = b.dev.free(b.arena)
		b.account(-b.arenaN)
		b.arena, b.arenaN = 0, 0
	}
	p, err := b.dev.alloc(n)
	if err != nil {
		return 0, fmt.Errorf("cuda: allocating %d bytes of scratch on %s: %v", n, b.devName, err)
	}
	b.account(n)
	b.arena, b.arenaN = p, n
	return p, nil
}

// account adds delta bytes to the memory in use and updates the peak.
func (b *Backend) account(delta int64) {
	b.inUse += delta
	b.peak = max(b.peak, b.inUse)
}

// deviceMemInfo reports the free and total memory of the whole device; it
// is set by the cuda build (the emulator has no device to ask).
var deviceMemInfo func(b *Backend) (free, total int64, err error)

// MemoryStats implements gpu.MemoryReporter: InUse and Peak count this
// backend's buffers and its grow-only scratch arena (SSD, reductions);
// DeviceUsed and DeviceTotal come from cuMemGetInfo on a GPU (0 on the
// emulator or when the query fails).
func (b *Backend) MemoryStats() gpu.MemoryStats {
	s := gpu.MemoryStats{InUse: b.inUse, Peak: b.peak}
	if deviceMemInfo != nil && !b.closed {
		if free, total, err := deviceMemInfo(b); err == nil {
			s.DeviceUsed, s.DeviceTotal = total-free, total
		}
	}
	return s
}

// ResetPeak implements gpu.MemoryReporter.
func (b *Backend) ResetPeak() { b.peak = b.inUse }

// Kernel arguments: cu's Launch copies 8 bytes per parameter, so every
// argument is marshalled into a uint64 (little-endian: a 4-byte int or float
// kernel parameter reads the low half).
func ptrArg(p dptr) uint64    { return uint64(p) }
func intArg(v int) uint64     { return uint64(uint32(int32(v))) }
func i64Arg(v int) uint64     { return uint64(int64(v)) }
func f32Arg(v float32) uint64 { return uint64(math.Float32bits(v)) }

// gridFor is the block count of a grid-stride loop over n elements.
func (b *Backend) gridFor(n int64, block int) int {
	g := (n + int64(block) - 1) / int64(block)
	return int(max(1, min(g, int64(b.sms*32))))
}

// mat resolves a view to (pointer to its first element, stride, dtype code).
func (b *Backend) mat(m gpu.Mat) (uint64, uint64, uint64) {
	buf, _ := b.own(m.Buf)
	return ptrArg(buf.ptr + dptr(m.Off*buf.dt.Size())), i64Arg(m.Stride), intArg(int(buf.dt))
}

// vec resolves a buffer to (pointer, dtype code); nil gives a null pointer.
func (b *Backend) vec(g gpu.Buffer) (uint64, uint64) {
	if g == nil {
		return 0, intArg(int(gpu.F32))
	}
	buf, _ := b.own(g)
	return ptrArg(buf.ptr), intArg(int(buf.dt))
}

func (b *Backend) ptr(g gpu.Buffer) uint64 { p, _ := b.vec(g); return p }
