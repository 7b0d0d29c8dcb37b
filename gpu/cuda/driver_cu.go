//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/netssm/netssm/gpu"
	"github.com/netssm/netssm/gpu/cuda/kernels"
	"gorgonia.org/cu"
)

func init() {
	gpu.Register("cuda", func() (gpu.Backend, error) {
		b, err := Open(0)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return b, nil
	})
}

// cuDevice is a GPU through gorgonia.org/cu: the primary context, one
// non-blocking stream, the embedded PTX modules.
type cuDevice struct {
	dev    cu.Device
	ctx    cu.CUContext
	stream cu.Stream
	mods   []cu.Module
	fns    map[string]cu.Function
	smem   map[string]int // dynamic shared memory each kernel has been allowed (above 48 KiB)
	optin  int            // the device's shared memory per block after opting in (0: unknown)
}

// CUDA attribute numbers gorgonia.org/cu v0.9.6 predates.
const (
	cuDevAttrMaxSharedPerBlockOptin = 97 // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
	cuFuncAttrMaxDynamicShared      = 8  // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
)

// kernelInfo implements kernelInspector: cuFuncGetAttribute for every
// loaded kernel (after the JIT compiled it for this device) and the
// device's opt-in shared memory limit. Called inside Open, on its thread.
func (d *cuDevice) kernelInfo() (map[string]KernelInfo, int, error) {
	m := make(map[string]KernelInfo, len(d.fns))
	var errs []string
	for name, fn := range d.fns {
		k := KernelInfo{Name: name}
		for _, q := range []struct {
			attr cu.FunctionAttribute
			dst  *int
		}{
			{cu.NumRegs, &k.NumRegs}, {cu.FnMaxThreadsPerBlock, &k.MaxThreadsPerBlock},
			{cu.SharedSizeBytes, &k.SharedSizeBytes}, {cu.LocalSizeBytes, &k.LocalSizeBytes},
			{cu.FunctionAttribute(cuFuncAttrMaxDynamicShared), &k.MaxDynamicSharedSizeBytes},
		} {
			v, err := fn.Attribute(q.attr)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s attribute %d: %v", name, q.attr, err))
				continue
			}
			*q.dst = v
		}
		m[name] = k
	}
	var err error
	if len(errs) > 0 {
		err = fmt.Errorf("cuda: reading kernel attributes: %s", strings.Join(errs, "; "))
	}
	if d.optin <= 0 && err == nil {
		err = errors.New("cuda: the device did not report its opt-in shared memory per block")
	}
	return m, d.optin, err
}

// Open opens device ordinal. It returns an error wrapping gpu.ErrNoDevice
// when the driver or the device is missing.
func Open(ordinal int) (*Backend, error) {
	if err := driverStatus(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("%w: cuda: counting devices: %v", gpu.ErrNoDevice, err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("%w: cuda: device %d requested, %d present", gpu.ErrNoDevice, ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %v", ordinal, err)
	}
	major, err := dev.Attribute(cu.ComputeCapabilityMajor)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: compute capability: %v", ordinal, err)
	}
	name, _ := dev.Name()
	if major < 8 {
		return nil, fmt.Errorf("%w: cuda: %s has compute capability %d.x; the bf16 kernels need 8.0 or later", gpu.ErrNoDevice, name, major)
	}
	sms, _ := dev.Attribute(cu.MultiprocessorCount)
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("cuda: %s: retaining the primary context: %v", name, err)
	}
	if err := cu.SetCurrentContext(ctx); err != nil {
		return nil, fmt.Errorf("cuda: %s: making the context current: %v", name, err)
	}
	d := &cuDevice{dev: dev, ctx: ctx, fns: map[string]cu.Function{}, smem: map[string]int{}}
	if d.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		_ = dev.ReleasePrimaryCtx()
		return nil, fmt.Errorf("cuda: %s: creating a stream: %v", name, err)
	}
	for _, m := range kernels.Modules() {
		mod, err := cu.LoadData(m.PTX)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("cuda: %s: loading PTX module %s (JIT from compute_80): %v", name, m.Name, err)
		}
		d.mods = append(d.mods, mod)
	}
	for _, k := range kernels.Names {
		found := false
		for _, mod := range d.mods {
			if fn, err := mod.Function(k); err == nil {
				d.fns[k], found = fn, true
				break
			}
		}
		if !found {
			d.close()
			return nil, fmt.Errorf("cuda: kernel %s not found in the embedded PTX", k)
		}
	}
	d.optin, _ = dev.Attribute(cu.DeviceAttribute(cuDevAttrMaxSharedPerBlockOptin))
	b := newBackend(d, "cuda", name, sms)
	b.GemmTune = gemmTuneEnv()
	return b, nil
}

// MemInfo returns the free and total device memory in bytes.
func (b *Backend) MemInfo() (free, total int64, err error) {
	err = b.do(func() error {
		var e error
		free, total, e = cu.MemInfo()
		return e
	})
	return
}

func (d *cuDevice) bind() (func(), error) {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda: set context: %v", err)
	}
	return runtime.UnlockOSThread, nil
}

func (d *cuDevice) alloc(n int64) (dptr, error) {
	p, err := cu.MemAlloc(n)
	return dptr(p), err
}

func (d *cuDevice) free(p dptr) error { return cu.MemFree(cu.DevicePtr(p)) }

func (d *cuDevice) memsetD8(p dptr, v byte, n int64) error {
	return cu.MemsetD8Async(cu.DevicePtr(p), v, n, d.stream)
}

func (d *cuDevice) memsetD32(p dptr, v uint32, n int64) error {
	return cu.MemsetD32Async(cu.DevicePtr(p), uint(v), n, d.stream)
}

func (d *cuDevice) htod(dst dptr, src unsafe.Pointer, n int64) error {
	if err := cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, n, d.stream); err != nil {
		return fmt.Errorf("cuda: copy to device: %v", err)
	}
	return d.stream.Synchronize()
}

func (d *cuDevice) dtoh(dst unsafe.Pointer, src dptr, n int64) error {
	if err := cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), n, d.stream); err != nil {
		return fmt.Errorf("cuda: copy from device: %v", err)
	}
	return d.stream.Synchronize()
}

func (d *cuDevice) launch(name string, gx, gy, gz, block, smem int, args []uint64) error {
	fn, ok := d.fns[name]
	if !ok {
		return fmt.Errorf("kernel %s not loaded", name)
	}
	if smem > maxDynSmemDefault && smem > d.smem[name] {
		if err := setMaxDynamicSmem(fn, smem); err != nil {
			return err
		}
		d.smem[name] = smem
	}
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	return fn.Launch(gx, gy, gz, block, 1, 1, smem, d.stream, params)
}

// cuDevAttrCooperativeLaunch is CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH.
const cuDevAttrCooperativeLaunch = 95

// coResident implements coopDevice: the occupancy API's blocks per SM
// (cuOccupancyMaxActiveBlocksPerMultiprocessor, after opting the kernel in
// to smem bytes of dynamic shared memory) times the SMs.
func (d *cuDevice) coResident(name string, block, smem int) (int, error) {
	fn, ok := d.fns[name]
	if !ok {
		return 0, fmt.Errorf("kernel %s not loaded", name)
	}
	if coop, err := d.dev.Attribute(cu.DeviceAttribute(cuDevAttrCooperativeLaunch)); err != nil || coop == 0 {
		return 0, fmt.Errorf("the device does not support cooperative launches (%v)", err)
	}
	if err := d.allowSmem(name, fn, smem); err != nil {
		return 0, err
	}
	per, err := fn.MaxActiveBlocksPerMultiProcessor(block, int64(smem))
	if err != nil {
		return 0, err
	}
	sms, err := d.dev.Attribute(cu.MultiprocessorCount)
	if err != nil {
		return 0, err
	}
	return per * sms, nil
}

// allowSmem opts fn in to smem bytes of dynamic shared memory when that is
// above the default.
func (d *cuDevice) allowSmem(name string, fn cu.Function, smem int) error {
	if smem > maxDynSmemDefault && smem > d.smem[name] {
		if err := setMaxDynamicSmem(fn, smem); err != nil {
			return err
		}
		d.smem[name] = smem
	}
	return nil
}

// coopLaunch implements coopDevice.
func (d *cuDevice) coopLaunch(name string, grid, block, smem int, args []uint64) error {
	fn, ok := d.fns[name]
	if !ok {
		return fmt.Errorf("kernel %s not loaded", name)
	}
	if err := d.allowSmem(name, fn, smem); err != nil {
		return err
	}
	return launchCooperative(fn, grid, block, smem, &d.stream, args)
}

func (d *cuDevice) sync() error { return d.stream.Synchronize() }

// timeRuns implements kernelTimer with two CUDA events on the stream.
func (d *cuDevice) timeRuns(warmup, reps int, f func() error) (float64, error) {
	if reps < 1 {
		return 0, fmt.Errorf("cuda: timing %d repetitions", reps)
	}
	start, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return 0, fmt.Errorf("cuda: creating a timing event: %v", err)
	}
	defer cu.DestroyEvent(&start)
	stop, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return 0, fmt.Errorf("cuda: creating a timing event: %v", err)
	}
	defer cu.DestroyEvent(&stop)
	for i := 0; i < warmup; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	if err := start.Record(d.stream); err != nil {
		return 0, fmt.Errorf("cuda: recording a timing event: %v", err)
	}
	for i := 0; i < reps; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	if err := stop.Record(d.stream); err != nil {
		return 0, fmt.Errorf("cuda: recording a timing event: %v", err)
	}
	if err := stop.Synchronize(); err != nil {
		return 0, fmt.Errorf("cuda: waiting for a timing event: %v", err)
	}
	ms, err := start.Elapsed(stop)
	if err != nil {
		return 0, fmt.Errorf("cuda: reading a timing event: %v", err)
	}
	return ms * 1000 / float64(reps), nil
}

// capturing implements captureReporter.
func (d *cuDevice) capturing() (bool, error) { return streamCapturing(&d.stream) }

func (d *cuDevice) close() error {
	_ = d.stream.Synchronize()
	for _, m := range d.mods {
		_ = m.Unload()
	}
	d.mods = nil
	_ = d.stream.Destroy()
	return d.dev.ReleasePrimaryCtx()
}
