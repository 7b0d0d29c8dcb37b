//go:build cuda

// Lazy CUDA driver loading for gorgonia.org/cu.
//
// gorgonia.org/cu calls cuInit from its package init and exits the process
// when it fails, and its cgo flags link libcuda.so.1, so an ordinary cuda
// build would not even start on a machine without the NVIDIA driver. This
// file makes the binary independent of the driver:
//
//   - every driver function cu uses (drvsyms.h) is defined here as a
//     trampoline that jumps through a pointer, filled by dlsym after
//     dlopen("libcuda.so.1") or left pointing at a stub that returns
//     CUDA_ERROR_NOT_INITIALIZED;
//   - cu's -lcuda is satisfied by the empty archive nolib/libcuda.a, so the
//     executable has no DT_NEEDED entry for libcuda;
//   - cuInit here loads the driver, records the real result and the dlerror
//     text, and returns success, so cu's init never exits. gpu/cuda's Open
//     reports the recorded failure as gpu.ErrNoDevice.
//
// NETSSM_LIBCUDA overrides the library path (tests use it to simulate a
// machine without a driver).

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int netssm_cu_missing(void) { return 3; /* CUDA_ERROR_NOT_INITIALIZED */ }

#define X(sym) __attribute__((visibility("hidden"))) void* netssm_p_##sym = (void*)netssm_cu_missing;
#include "drvsyms.h"
#undef X

#if defined(__x86_64__)
#define X(sym)                                                             \
  __asm__(".text\n.globl " #sym "\n.type " #sym ",@function\n" #sym ":\n" \
          "\tjmp *netssm_p_" #sym "(%rip)\n.size " #sym ",.-" #sym "\n");
#elif defined(__aarch64__)
#define X(sym)                                                                          \
  __asm__(".text\n.globl " #sym "\n.type " #sym ",%function\n.p2align 2\n" #sym ":\n" \
          "\tadrp x16, netssm_p_" #sym "\n\tldr x16, [x16, :lo12:netssm_p_" #sym "]\n"  \
          "\tbr x16\n.size " #sym ",.-" #sym "\n");
#else
#error "gpu/cuda: driver trampolines are written for amd64 and arm64 only"
#endif
#include "drvsyms.h"
#undef X

static void* netssm_handle;
static int netssm_tried;
static int netssm_init_result = -1;  // CUresult of the real cuInit; -1: driver not loaded
static char netssm_err[512];

// Functions used directly by gpu/cuda (not wrapped by gorgonia.org/cu).
void* netssm_fn_graph[6];
static void* netssm_fn_set_attr;  // cuFuncSetAttribute
static void* netssm_fn_is_capturing;  // cuStreamIsCapturing
static void* netssm_fn_coop;  // cuLaunchCooperativeKernel

static void netssm_load(void) {
  const char* path = getenv("NETSSM_LIBCUDA");
  if (!path || !*path) path = "libcuda.so.1";
  netssm_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!netssm_handle) {
    const char* e = dlerror();
    snprintf(netssm_err, sizeof netssm_err, "%s", e ? e : "dlopen failed");
    return;
  }
#define X(sym)                                   \
  {                                              \
    void* f = dlsym(netssm_handle, #sym);        \
    if (f) netssm_p_##sym = f;                   \
  }
#include "drvsyms.h"
#undef X
  static const char* graph_syms[6] = {"cuStreamBeginCapture_v2", "cuStreamEndCapture", "cuGraphInstantiateWithFlags",
                                      "cuGraphLaunch", "cuGraphExecDestroy", "cuGraphDestroy"};
  for (int i = 0; i < 6; i++) netssm_fn_graph[i] = dlsym(netssm_handle, graph_syms[i]);
  netssm_fn_set_attr = dlsym(netssm_handle, "cuFuncSetAttribute");
  netssm_fn_is_capturing = dlsym(netssm_handle, "cuStreamIsCapturing");
  netssm_fn_coop = dlsym(netssm_handle, "cuLaunchCooperativeKernel");
}

int cuInit(unsigned int flags) {
  if (!netssm_tried) {
    netssm_tried = 1;
    netssm_load();
    if (netssm_handle) {
      int (*real)(unsigned int) = (int (*)(unsigned int))dlsym(netssm_handle, "cuInit");
      if (!real) {
        snprintf(netssm_err, sizeof netssm_err, "driver library has no cuInit");
      } else {
        netssm_init_result = real(flags);
      }
    }
  }
  return 0;  // never fail: gorgonia.org/cu's init would exit the process
}

// netssm_cuda_status returns the real cuInit result (-1: no driver) and
// copies the loader's error text into buf.
int netssm_cuda_status(char* buf, int n) {
  if (!netssm_tried) cuInit(0);
  if (n > 0) {
    strncpy(buf, netssm_err, n - 1);
    buf[n - 1] = 0;
  }
  return netssm_init_result;
}

// CUDA graphs through stream capture (driver API >= 11.4).
typedef int (*fn_begin)(void*, int);
typedef int (*fn_end)(void*, void**);
typedef int (*fn_inst)(void**, void*, unsigned long long);
typedef int (*fn_launch)(void*, void*);
typedef int (*fn_destroy)(void*);

int netssm_capture_begin(void* stream) {
  if (!netssm_fn_graph[0]) return 500;  // CUDA_ERROR_NOT_FOUND
  return ((fn_begin)netssm_fn_graph[0])(stream, 2 /* CU_STREAM_CAPTURE_MODE_RELAXED */);
}

int netssm_capture_end(void* stream, void** exec) {
  void* graph = 0;
  if (!netssm_fn_graph[1] || !netssm_fn_graph[2] || !netssm_fn_graph[5]) return 500;
  int r = ((fn_end)netssm_fn_graph[1])(stream, &graph);
  if (r) return r;
  r = ((fn_inst)netssm_fn_graph[2])(exec, graph, 0);
  ((fn_destroy)netssm_fn_graph[5])(graph);
  return r;
}

int netssm_graph_launch(void* exec, void* stream) {
  if (!netssm_fn_graph[3]) return 500;
  return ((fn_launch)netssm_fn_graph[3])(exec, stream);
}

int netssm_graph_destroy(void* exec) {
  if (!netssm_fn_graph[4]) return 500;
  return ((fn_destroy)netssm_fn_graph[4])(exec);
}

// netssm_func_set_attr is cuFuncSetAttribute (gorgonia.org/cu v0.9.6 lacks
// it): kernels using more than 48 KiB of dynamic shared memory must opt in
// with CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.
int netssm_func_set_attr(void* fn, int attr, int value) {
  if (!netssm_fn_set_attr) return 500;
  return ((int (*)(void*, int, int))netssm_fn_set_attr)(fn, attr, value);
}

// netssm_stream_is_capturing is cuStreamIsCapturing (not in gorgonia.org/cu
// v0.9.6): *status becomes CU_STREAM_CAPTURE_STATUS_NONE (0), _ACTIVE (1) or
// _INVALIDATED (2). The GEMM autotuner must not time kernels (event
// synchronisation) while the stream is captured into a graph.
int netssm_stream_is_capturing(void* stream, int* status) {
  if (!netssm_fn_is_capturing) return 500;
  return ((int (*)(void*, int*))netssm_fn_is_capturing)(stream, status);
}

// netssm_launch_coop is cuLaunchCooperativeKernel (not in gorgonia.org/cu
// v0.9.6) of a one-dimensional grid: every block resident at once, or the
// launch fails (CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE) instead of
// deadlocking a grid barrier. params: nargs 8-byte arguments.
int netssm_launch_coop(void* fn, unsigned grid, unsigned block, unsigned smem, void* stream,
                       const unsigned long long* args, int nargs) {
  if (!netssm_fn_coop) return 500;
  void* params[64];
  if (nargs > 64) return 1;
  for (int i = 0; i < nargs; i++) params[i] = (void*)&args[i];
  typedef int (*fn_coop)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**);
  return ((fn_coop)netssm_fn_coop)(fn, grid, 1, 1, block, 1, 1, smem, stream, params);
}
