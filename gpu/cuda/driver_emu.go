//go:build cudaemu && !cuda

package cuda

/*
#cgo CXXFLAGS: -std=c++20 -O2 -Wno-unused-function
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
int netssm_emu_launch(const char* name, int gx, int gy, int gz, int block, int smem, const uint64_t* args, int nargs,
                      char* err, int errn);
int netssm_emu_coop_launch(const char* name, int grid, int block, int smem, const uint64_t* args, int nargs, char* err,
                           int errn);
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/netssm/netssm/gpu"
)

func init() {
	gpu.Register("cudaemu", func() (gpu.Backend, error) { return OpenEmulator(), nil })
}

// OpenEmulator returns the CUDA backend running its kernels on the CPU
// through the emulator (build tag cudaemu): slow, for tests only.
func OpenEmulator() *Backend {
	return newBackend(&emuDevice{}, "cudaemu", "CUDA kernels emulated on the CPU", 1)
}

// emuDevice keeps "device" memory in C heap blocks; kernels run
// synchronously. The emulator has global state: one launch at a time.
type emuDevice struct {
	// Test hooks (launch failures, docs/gpu.md): refuse makes a launch of
	// the named kernel fail with that CUresult, as a GPU does when a
	// kernel's registers or shared memory do not fit (701, 1) or when a
	// kernel faults (700); maxThreads lowers a kernel's block limit, as
	// the driver reports for a kernel with many registers, both in
	// KernelInfo and at launch (701 above it). Set them before the
	// backend's first use, then call Backend.loadKernelInfo.
	refuse     map[string]int
	maxThreads map[string]int
	// coopBlocks is how many blocks the emulated device holds at once for
	// a cooperative launch (0: emuCoopBlocks); the emulator runs them all
	// as fibers, so tests keep it small.
	coopBlocks int
}

// emuCoopBlocks is the emulator's default co-resident block count.
const emuCoopBlocks = 4

// kernelInfo implements kernelInspector: the hardware's limits (no
// registers to report), lowered per kernel by maxThreads.
func (d *emuDevice) kernelInfo() (map[string]KernelInfo, int, error) {
	return emuKernelInfo(emuMaxBlock, 48<<10, d.maxThreads), emuMaxDynSmem, nil
}

var emuMu sync.Mutex

// hostPtr is the C heap address of an emulated device pointer (written this
// way because the memory is C memory, not Go memory).
func hostPtr(p dptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

func (d *emuDevice) bind() (func(), error) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread, nil
}

func (d *emuDevice) alloc(n int64) (dptr, error) {
	p := C.calloc(C.size_t(n), 1)
	if p == nil {
		return 0, errors.New("out of host memory")
	}
	return dptr(uintptr(p)), nil
}

func (d *emuDevice) free(p dptr) error {
	C.free(hostPtr(p))
	return nil
}

func (d *emuDevice) memsetD8(p dptr, v byte, n int64) error {
	C.memset(hostPtr(p), C.int(v), C.size_t(n))
	return nil
}

func (d *emuDevice) memsetD32(p dptr, v uint32, n int64) error {
	s := unsafe.Slice((*uint32)(hostPtr(p)), n)
	for i := range s {
		s[i] = v
	}
	return nil
}

func (d *emuDevice) htod(dst dptr, src unsafe.Pointer, n int64) error {
	C.memcpy(hostPtr(dst), src, C.size_t(n))
	return nil
}

func (d *emuDevice) dtoh(dst unsafe.Pointer, src dptr, n int64) error {
	C.memcpy(dst, hostPtr(src), C.size_t(n))
	return nil
}

// Launch limits of the GPUs the PTX targets (sm_80/sm_90), checked here so
// that a launch the hardware would refuse fails on the emulator too.
const (
	emuMaxBlock   = 1024
	emuMaxGridYZ  = 65535
	emuMaxGridX   = 1<<31 - 1
	emuMaxDynSmem = 227 << 10 // sm_90 per-block maximum after opting in (sm_80: 163 KiB)
)

func (d *emuDevice) launch(name string, gx, gy, gz, block, smem int, args []uint64) error {
	switch {
	case block < 1 || block > emuMaxBlock:
		return fmt.Errorf("emulator: %s: block of %d threads (1..%d)", name, block, emuMaxBlock)
	case gx < 1 || gx > emuMaxGridX || gy < 1 || gy > emuMaxGridYZ || gz < 1 || gz > emuMaxGridYZ:
		return fmt.Errorf("emulator: %s: grid %dx%dx%d exceeds the hardware limits (x < 2^31, y and z <= 65535)", name, gx, gy, gz)
	case smem < 0 || smem > emuMaxDynSmem:
		return fmt.Errorf("emulator: %s: %d bytes of dynamic shared memory (at most %d per block)", name, smem, emuMaxDynSmem)
	}
	return d.run(name, block, args, func(cname *C.char, cargs *C.uint64_t, msg *C.char, n C.int) C.int {
		return C.netssm_emu_launch(cname, C.int(gx), C.int(gy), C.int(gz), C.int(block), C.int(smem), cargs, C.int(len(args)), msg, n)
	})
}

// run applies the test hooks (refuse, maxThreads) to a launch of name, then
// calls launch with the kernel name and arguments as C values, one launch
// at a time; a non-zero result is the emulator's fault message.
func (d *emuDevice) run(name string, block int, args []uint64, launch func(cname *C.char, cargs *C.uint64_t, msg *C.char, n C.int) C.int) error {
	if c, ok := d.refuse[name]; ok {
		return resultCode(c)
	}
	if t, ok := d.maxThreads[name]; ok && block > t {
		return resultCode(701)
	}
	emuMu.Lock()
	defer emuMu.Unlock()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	cargs := (*C.uint64_t)(C.malloc(C.size_t(8 * max(1, len(args)))))
	defer C.free(unsafe.Pointer(cargs))
	copy(unsafe.Slice((*uint64)(unsafe.Pointer(cargs)), len(args)), args)
	var msg [256]C.char
	if launch(cname, cargs, &msg[0], C.int(len(msg))) != 0 {
		return fmt.Errorf("emulator: %s", C.GoString(&msg[0]))
	}
	return nil
}

// SetEmulatedCoResident sets how many blocks the emulated device holds at
// once for a cooperative launch (n >= 1; the persistent decode's grid is
// at most that), for tests of grid-size dependence. Emulator only.
func (b *Backend) SetEmulatedCoResident(n int) error {
	d, ok := b.dev.(*emuDevice)
	if !ok || n < 1 {
		return fmt.Errorf("cuda: SetEmulatedCoResident(%d): want an emulator backend and n >= 1", n)
	}
	d.coopBlocks = n
	return nil
}

// coResident implements coopDevice.
func (d *emuDevice) coResident(name string, block, smem int) (int, error) {
	if block < 1 || block > emuMaxBlock || smem < 0 || smem > emuMaxDynSmem {
		return 0, nil
	}
	if d.coopBlocks > 0 {
		return d.coopBlocks, nil
	}
	return emuCoopBlocks, nil
}

// coopLaunch implements coopDevice: every block of the grid runs at once;
// a grid larger than coResident fails as cuLaunchCooperativeKernel does
// (CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE, 720).
func (d *emuDevice) coopLaunch(name string, grid, block, smem int, args []uint64) error {
	if n, _ := d.coResident(name, block, smem); grid < 1 || grid > n {
		if grid >= 1 {
			return resultCode(720)
		}
		return fmt.Errorf("emulator: %s: cooperative grid of %d blocks", name, grid)
	}
	return d.run(name, block, args, func(cname *C.char, cargs *C.uint64_t, msg *C.char, n C.int) C.int {
		return C.netssm_emu_coop_launch(cname, C.int(grid), C.int(block), C.int(smem), cargs, C.int(len(args)), msg, n)
	})
}

func (d *emuDevice) sync() error  { return nil }
func (d *emuDevice) close() error { return nil }
