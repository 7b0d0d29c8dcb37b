//go:build cuda || cudaemu

package cuda

import "unsafe"

// dptr is a device address.
type dptr uintptr

// device is what the ops need from a GPU: memory, copies, kernel launches,
// all ordered on one stream. cuDevice (build tag cuda) implements it with
// gorgonia.org/cu; emuDevice (build tag cudaemu) runs the same CUDA C
// kernels compiled as C++ on the host, so the backend's Go code and the
// kernels can be tested without a GPU.
type device interface {
	// bind prepares the calling goroutine (OS thread lock, current context).
	bind() (release func(), err error)
	alloc(bytes int64) (dptr, error)
	free(p dptr) error
	memsetD8(p dptr, v byte, n int64) error
	memsetD32(p dptr, v uint32, n int64) error
	// htod and dtoh return when the copy is complete.
	htod(dst dptr, src unsafe.Pointer, n int64) error
	dtoh(dst unsafe.Pointer, src dptr, n int64) error
	launch(name string, gx, gy, gz, block, smem int, args []uint64) error
	sync() error
	close() error
}
