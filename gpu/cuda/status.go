//go:build cuda

package cuda

/*
#cgo LDFLAGS: -ldl -L${SRCDIR}/nolib
#include <stdlib.h>
int netssm_cuda_status(char* buf, int n);
int netssm_capture_begin(void* stream);
int netssm_capture_end(void* stream, void** exec);
int netssm_graph_launch(void* exec, void* stream);
int netssm_graph_destroy(void* exec);
int netssm_func_set_attr(void* fn, int attr, int value);
int netssm_stream_is_capturing(void* stream, int* status);
int netssm_launch_coop(void* fn, unsigned grid, unsigned block, unsigned smem, void* stream,
                       const unsigned long long* args, int nargs);
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/netssm/netssm/gpu"
	"gorgonia.org/cu"
)

// result names a CUresult.
func result(r int) string { return resultName(r) }

// driverStatus reports whether the driver loaded and cuInit succeeded.
func driverStatus() error {
	var buf [512]C.char
	r := int(C.netssm_cuda_status(&buf[0], C.int(len(buf))))
	msg := C.GoString(&buf[0])
	switch {
	case r == -1:
		return fmt.Errorf("%w: cuda: cannot load the NVIDIA driver library (%s); is the NVIDIA driver installed?", gpu.ErrNoDevice, msg)
	case r != 0:
		return fmt.Errorf("%w: cuda: cuInit failed: %v", gpu.ErrNoDevice, result(int(r)))
	}
	return nil
}

// rawStream is the CUstream inside a cu.Stream (a struct of one C pointer).
func rawStream(s *cu.Stream) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(s)) }

func captureBegin(s *cu.Stream) error {
	if r := C.netssm_capture_begin(rawStream(s)); r != 0 {
		return fmt.Errorf("cuda: begin stream capture: %v", result(int(r)))
	}
	return nil
}

func captureEnd(s *cu.Stream) (unsafe.Pointer, error) {
	var exec unsafe.Pointer
	if r := C.netssm_capture_end(rawStream(s), &exec); r != 0 {
		return nil, fmt.Errorf("cuda: end stream capture: %v", result(int(r)))
	}
	return exec, nil
}

func graphLaunch(exec unsafe.Pointer, s *cu.Stream) error {
	if r := C.netssm_graph_launch(exec, rawStream(s)); r != 0 {
		return fmt.Errorf("cuda: graph launch: %v", result(int(r)))
	}
	return nil
}

func graphDestroy(exec unsafe.Pointer) { C.netssm_graph_destroy(exec) }

// maxDynSmemDefault is the dynamic shared memory a kernel may use without
// opting in; sm_80 and sm_90 allow up to 163 KiB / 227 KiB per block after
// cuFuncSetAttribute.
const maxDynSmemDefault = 48 << 10

// setMaxDynamicSmem lets fn launch with up to n bytes of dynamic shared
// memory (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8).
func setMaxDynamicSmem(fn cu.Function, n int) error {
	// cu.Function is a struct holding only the CUfunction handle.
	h := *(*unsafe.Pointer)(unsafe.Pointer(&fn))
	if r := C.netssm_func_set_attr(h, 8, C.int(n)); r != 0 {
		return fmt.Errorf("cuda: allowing %d bytes of dynamic shared memory: %w", n, resultCode(r))
	}
	return nil
}

// streamCapturing reports whether s is being captured into a CUDA graph
// (cuStreamIsCapturing; an invalidated capture counts as capturing).
func streamCapturing(s *cu.Stream) (bool, error) {
	var st C.int
	if r := C.netssm_stream_is_capturing(rawStream(s), &st); r != 0 {
		return false, fmt.Errorf("cuda: querying stream capture: %v", result(int(r)))
	}
	return st != 0, nil
}

// launchCooperative queues a cooperative launch of fn (cuLaunchCooperativeKernel).
func launchCooperative(fn cu.Function, grid, block, smem int, s *cu.Stream, args []uint64) error {
	h := *(*unsafe.Pointer)(unsafe.Pointer(&fn))
	n := max(1, len(args))
	cargs := (*C.ulonglong)(C.malloc(C.size_t(8 * n)))
	defer C.free(unsafe.Pointer(cargs))
	copy(unsafe.Slice((*uint64)(unsafe.Pointer(cargs)), n), args)
	if r := C.netssm_launch_coop(h, C.uint(grid), C.uint(block), C.uint(smem), rawStream(s), cargs, C.int(len(args))); r != 0 {
		return resultCode(r)
	}
	return nil
}
