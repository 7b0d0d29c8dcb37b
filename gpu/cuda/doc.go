//go:build cuda || cudaemu

// Package cuda is the CUDA backend of package gpu, registered as "cuda". It
// is built only with the cuda build tag (cgo, cuda.h at compile time) and
// uses gorgonia.org/cu for the context, memory, stream, modules and kernel
// launches. The kernels are CUDA C in gpu/cuda/kernels, compiled to PTX
// (compute_80) and embedded; the driver JIT-compiles them at Open.
//
// A cuda-built binary starts and runs on machines without a GPU or NVIDIA
// driver: loader.c loads libcuda lazily and keeps gorgonia.org/cu's init from
// exiting the process; Open then returns an error wrapping gpu.ErrNoDevice
// that says why (no libcuda.so.1, or cuInit's error such as "no CUDA-capable
// device").
//
// All work is queued in order on one non-blocking stream; Read, ReadInt32,
// SumSquares and Sync wait for it. Each call pins its goroutine to an OS
// thread and makes the device's primary context current there.
//
// With the cudaemu build tag instead, the same Go code and the same kernels
// (compiled as C++ with emu.h) run on the CPU as the "cudaemu" backend
// (OpenEmulator), so that tests check the kernels without a GPU.
//
// Files: backend.go and ops.go, ssd.go (the ops, over the device interface
// of device.go); driver_cu.go (cu), status.go, loader.c and drvsyms.h
// (driver loading), graph.go (CUDA graphs); driver_emu.go, emu.cc, emu.h
// (the emulator).
//
// Limits (ErrNotImplemented beyond them): norm widths <= 4096, conv width
// <= 8, SSD ChunkSize <= 1024 and Batch*chunks <= 65535 (with
// SequentialScan also state size and head dim <= 256).
package cuda
