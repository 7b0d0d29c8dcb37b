//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/netssm/netssm/gpu/cuda/kernels"
)

// Launch failures and fallbacks (docs/gpu.md, "Launch failures and
// fallbacks"). The driver JIT-compiles our compute_80 PTX on the target GPU
// and may allocate registers differently from the ptxas we checked with, so
// a kernel can turn out not to fit: too many threads for its registers, or
// more shared memory than the device grants. Such a launch fails
// synchronously and without harming the context (CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
// CUDA_ERROR_INVALID_VALUE); the backend checks what it can before
// launching (KernelInfo), marks a kernel that does not fit unusable and,
// where another kernel computes the same thing, runs that one instead. A
// fault inside a kernel (CUDA_ERROR_ILLEGAL_ADDRESS, CUDA_ERROR_LAUNCH_FAILED)
// is different: it destroys the context, and every later call fails with
// ErrContextLost without launching anything.

// ErrKernelUnfit is matched (errors.Is) by a launch that the device refused
// for its resources, or that the backend did not attempt because the
// kernel's attributes show it cannot fit. The context is still usable.
var ErrKernelUnfit = errors.New("kernel does not fit the device")

// ErrContextLost is matched by a launch or a sync that met a sticky error:
// the CUDA context is unusable; close the backend (and the process) and
// start again.
var ErrContextLost = errors.New("CUDA context lost")

// resultCode is a CUresult returned by a driver call.
type resultCode int

func (r resultCode) Error() string { return resultName(int(r)) }

// resultName names a CUresult (the codes a user is likely to meet here).
func resultName(r int) string {
	names := map[int]string{
		1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY", 3: "CUDA_ERROR_NOT_INITIALIZED",
		34: "CUDA_ERROR_STUB_LIBRARY", 35: "CUDA_ERROR_INSUFFICIENT_DRIVER (driver older than the CUDA API used)",
		46: "CUDA_ERROR_DEVICES_UNAVAILABLE", 100: "CUDA_ERROR_NO_DEVICE (no CUDA-capable device)",
		101: "CUDA_ERROR_INVALID_DEVICE", 218: "CUDA_ERROR_INVALID_PTX", 222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
		500: "CUDA_ERROR_NOT_FOUND", 700: "CUDA_ERROR_ILLEGAL_ADDRESS", 701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
		702: "CUDA_ERROR_LAUNCH_TIMEOUT", 714: "CUDA_ERROR_HARDWARE_STACK_ERROR", 715: "CUDA_ERROR_ILLEGAL_INSTRUCTION",
		716: "CUDA_ERROR_MISALIGNED_ADDRESS", 717: "CUDA_ERROR_INVALID_ADDRESS_SPACE", 718: "CUDA_ERROR_INVALID_PC",
		719: "CUDA_ERROR_LAUNCH_FAILED", 999: "CUDA_ERROR_UNKNOWN",
	}
	if n, ok := names[r]; ok {
		return fmt.Sprintf("%s (%d)", n, r)
	}
	return fmt.Sprintf("CUresult %d", r)
}

// codeOf finds the CUresult in err's chain: a resultCode, or gorgonia.org/cu's
// unexported integer result type.
func codeOf(err error) (int, bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if r, ok := e.(resultCode); ok {
			return int(r), true
		}
		v := reflect.ValueOf(e)
		if t := v.Type(); t.PkgPath() == "gorgonia.org/cu" && v.Kind() == reflect.Int {
			return int(v.Int()), true
		}
	}
	return 0, false
}

// unfitCode reports whether a launch's CUresult means the kernel's resources
// do not fit (synchronous, the context survives).
func unfitCode(c int) bool { return c == 701 || c == 1 }

// stickyCode reports whether a CUresult leaves the context unusable.
func stickyCode(c int) bool {
	switch c {
	case 700, 702, 714, 715, 716, 717, 718, 719:
		return true
	}
	return false
}

// LaunchError is a kernel launch that failed or was not attempted.
type LaunchError struct {
	Kernel     string
	Grid       [3]int
	Block      int
	Smem       int    // dynamic shared memory asked for, bytes
	Code       int    // the CUresult; 0 when the backend refused before launching
	Reason     string // what does not fit, when the backend refused
	Err        error  // the device's error, if it launched
	fit, stuck bool
}

func (e *LaunchError) Error() string {
	var s strings.Builder
	fmt.Fprintf(&s, "cuda: launching %s (grid %dx%dx%d, block %d, %d B dynamic shared memory): ",
		e.Kernel, e.Grid[0], e.Grid[1], e.Grid[2], e.Block, e.Smem)
	switch {
	case e.Reason != "":
		s.WriteString("not launched: " + e.Reason)
	case e.Err != nil:
		s.WriteString(e.Err.Error())
	}
	if e.stuck {
		s.WriteString("; the CUDA context is lost (a fault inside a kernel): no further work can run on this backend")
	}
	return s.String()
}

func (e *LaunchError) Unwrap() error { return e.Err }

// Is makes a refused or resource-failed launch match ErrKernelUnfit and a
// sticky failure match ErrContextLost.
func (e *LaunchError) Is(target error) bool {
	return (target == ErrKernelUnfit && !e.fit) || (target == ErrContextLost && e.stuck)
}

// KernelInfo is what the driver reports about one loaded kernel (after
// the JIT compiled it for this device).
type KernelInfo struct {
	Name string
	// NumRegs is registers per thread (0: unknown, the emulator).
	NumRegs int
	// MaxThreadsPerBlock is the largest block this kernel can launch with on
	// this device, given its registers.
	MaxThreadsPerBlock int
	// SharedSizeBytes is the kernel's static shared memory.
	SharedSizeBytes int
	// LocalSizeBytes is local memory (register spills, stack) per thread.
	LocalSizeBytes int
	// MaxDynamicSharedSizeBytes is the dynamic shared memory the kernel is
	// currently allowed (48 KiB until the backend opts it in to more).
	MaxDynamicSharedSizeBytes int
}

// kernelInspector is a device that reports its kernels' attributes and its
// opt-in shared memory limit per block.
type kernelInspector interface {
	kernelInfo() (map[string]KernelInfo, int, error)
}

// launchState is embedded in Backend.
type launchState struct {
	kinfo     map[string]KernelInfo
	smemOptin int              // device's opt-in shared memory per block (0: unknown)
	kinfoErr  error            // why the attributes could not be read
	unusable  map[string]error // kernels marked unusable, and why
	fallbacks []fallback       // in first-seen order
	lost      error            // set on a sticky error: every later call fails with it
}

type fallback struct {
	what string
	n    int
}

// loadKernelInfo (re)reads the kernels' attributes from the device.
func (b *Backend) loadKernelInfo() {
	if ki, ok := b.dev.(kernelInspector); ok {
		b.kinfo, b.smemOptin, b.kinfoErr = ki.kernelInfo()
	}
}

// KernelInfo returns the attributes of every kernel, sorted by name (nil
// when the device could not report them).
func (b *Backend) KernelInfo() []KernelInfo {
	out := make([]KernelInfo, 0, len(b.kinfo))
	for _, k := range b.kinfo {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MaxSharedOptin is the device's shared memory per block after opting in
// (static plus dynamic), bytes; 0 when unknown.
func (b *Backend) MaxSharedOptin() int { return b.smemOptin }

// Fallbacks lists the kernels marked unusable and the fallbacks taken, with
// how often, in the order first seen.
func (b *Backend) Fallbacks() []string {
	var out []string
	names := make([]string, 0, len(b.unusable))
	for k := range b.unusable {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		out = append(out, fmt.Sprintf("unusable %s: %v", k, b.unusable[k]))
	}
	for _, f := range b.fallbacks {
		out = append(out, fmt.Sprintf("fallback x%d: %s", f.n, f.what))
	}
	if b.lost != nil {
		out = append(out, "context lost: "+b.lost.Error())
	}
	return out
}

// KernelReport is KernelInfo and Fallbacks as text: one line per kernel
// (registers, block limit, static and local memory), the kernels closest
// to a limit flagged, then the fallbacks taken so far.
func (b *Backend) KernelReport() string {
	var s strings.Builder
	if b.kinfoErr != nil {
		fmt.Fprintf(&s, "kernel attributes unavailable: %v\n", b.kinfoErr)
	}
	fmt.Fprintf(&s, "kernels: %d loaded on %s, shared memory per block after opt-in %d B\n", len(b.kinfo), b.devName, b.smemOptin)
	for _, k := range b.KernelInfo() {
		var flags []string
		if k.NumRegs >= 200 {
			flags = append(flags, "many registers")
		}
		if k.MaxThreadsPerBlock < 1024 {
			flags = append(flags, fmt.Sprintf("block <= %d", k.MaxThreadsPerBlock))
		}
		if k.LocalSizeBytes > 0 {
			flags = append(flags, "spills")
		}
		note := ""
		if len(flags) > 0 {
			note = "  <- " + strings.Join(flags, ", ")
		}
		fmt.Fprintf(&s, "kernel %-28s regs %3d  maxThreads %4d  static smem %5d  local %4d  dyn smem allowed %6d%s\n",
			k.Name, k.NumRegs, k.MaxThreadsPerBlock, k.SharedSizeBytes, k.LocalSizeBytes, k.MaxDynamicSharedSizeBytes, note)
	}
	for _, f := range b.Fallbacks() {
		s.WriteString(f + "\n")
	}
	return s.String()
}

// fits checks a launch against the kernel's attributes and the device's
// shared memory limit; nil when it fits or nothing is known.
func (b *Backend) fits(name string, block, smem int) string {
	k, ok := b.kinfo[name]
	if !ok {
		return ""
	}
	if k.MaxThreadsPerBlock > 0 && block > k.MaxThreadsPerBlock {
		return fmt.Sprintf("block of %d threads, the kernel allows at most %d on this device (%d registers per thread)",
			block, k.MaxThreadsPerBlock, k.NumRegs)
	}
	if b.smemOptin > 0 && smem+k.SharedSizeBytes > b.smemOptin {
		return fmt.Sprintf("%d B dynamic + %d B static shared memory, the device allows %d B per block",
			smem, k.SharedSizeBytes, b.smemOptin)
	}
	return ""
}

// usableKernel reports why kernel name must not be launched ("" if it may).
func (b *Backend) usableKernel(name string) string {
	if err := b.unusable[name]; err != nil {
		return err.Error()
	}
	return ""
}

// markUnusable records that the kernel of a launch error cannot run here;
// it reports false when err is not an unfit launch or the kernel was marked
// already (so a caller's fallback loop ends).
func (b *Backend) markUnusable(err error) bool {
	var le *LaunchError
	if !errors.As(err, &le) || !errors.Is(err, ErrKernelUnfit) {
		return false
	}
	if b.unusable == nil {
		b.unusable = map[string]error{}
	}
	if _, ok := b.unusable[le.Kernel]; ok {
		return false
	}
	b.unusable[le.Kernel] = err
	return true
}

// noteFallback counts one fallback.
func (b *Backend) noteFallback(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	for i := range b.fallbacks {
		if b.fallbacks[i].what == what {
			b.fallbacks[i].n++
			return
		}
	}
	b.fallbacks = append(b.fallbacks, fallback{what: what, n: 1})
}

// launch queues kernel name. A launch that cannot fit is not attempted;
// an unfit or sticky failure comes back as a *LaunchError (ErrKernelUnfit,
// ErrContextLost); after a sticky one every launch fails with it.
func (b *Backend) launch(name string, gx, gy, gz, block, smem int, args ...uint64) error {
	if b.lost != nil {
		return b.lost
	}
	le := &LaunchError{Kernel: name, Grid: [3]int{gx, gy, gz}, Block: block, Smem: smem}
	if why := b.fits(name, block, smem); why != "" {
		le.Reason = why
		return le
	}
	err := b.dev.launch(name, gx, gy, gz, block, smem, args)
	if err == nil {
		return nil
	}
	le.Err = err
	c, ok := codeOf(err)
	le.Code = c
	switch {
	case ok && stickyCode(c):
		le.stuck, le.fit = true, true
		b.lost = le
	case ok && unfitCode(c):
	default:
		le.fit = true // another failure: no fallback applies
	}
	return le
}

// syncErr classifies an error from a stream sync: a sticky CUresult loses
// the context.
func (b *Backend) syncErr(err error) error {
	if err == nil {
		return nil
	}
	if c, ok := codeOf(err); ok && stickyCode(c) {
		b.lost = fmt.Errorf("%w on %s: %v (a fault inside a kernel); no further work can run on this backend", ErrContextLost, b.devName, err)
		return b.lost
	}
	return fmt.Errorf("cuda: %s: %v", b.devName, err)
}

// emuKernelInfo is the attribute table a device without a driver to ask
// reports: every kernel of kernels.Names with the hardware's block limit,
// limited per kernel by maxThreads.
func emuKernelInfo(maxBlock, dynDefault int, maxThreads map[string]int) map[string]KernelInfo {
	m := make(map[string]KernelInfo, len(kernels.Names))
	for _, k := range kernels.Names {
		t := maxBlock
		if v, ok := maxThreads[k]; ok {
			t = v
		}
		m[k] = KernelInfo{Name: k, MaxThreadsPerBlock: t, MaxDynamicSharedSizeBytes: dynDefault}
	}
	return m
}
