// Host emulation of the CUDA device code used by gpu/cuda/kernels, for the
// cudaemu build (emu.cc): every CUDA thread of a block is a fiber on one OS
// thread; __syncthreads and warp shuffles are barriers over the block's live
// fibers; blocks run one after another. Only what the netssm kernels use is
// provided. It checks the kernels' indexing and the Go side's argument
// marshalling on machines without a GPU; it says nothing about speed, and
// its mma.sync follows the documented fragment layout.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NETSSM_EMU 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct netssm_dim3 {
  unsigned x, y, z;
};
netssm_dim3 netssm_emu_thread_idx();
extern netssm_dim3 blockIdx, blockDim, gridDim;
#define threadIdx (netssm_emu_thread_idx())

float* netssm_emu_dyn_smem();
#define DYN_SMEM(name) float* name = netssm_emu_dyn_smem()

void __syncthreads();
float netssm_emu_shfl_xor(float v, int o);
inline float __shfl_xor_sync(unsigned, float v, int o) { return netssm_emu_shfl_xor(v, o); }
void netssm_emu_mma_bf16(float* d, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1);

// Asynchronous copies (cp.async.cg.shared.global, 16 bytes, src-size form):
// a copy is queued in the calling thread's open group and performed when a
// cp.async.wait_group lets that group complete, so shared memory read before
// the wait sees the old contents. Checked: dst inside the block's dynamic
// shared memory and both addresses 16-byte aligned, src_bytes in [0, 16];
// reading (ldmatrix) a 16-byte chunk with a copy still in flight is a fault,
// and so is a copy into a chunk another warp read (ldmatrix) since the last
// __syncthreads.
void netssm_emu_cp_async16(void* dst, const void* src, int src_bytes);
void netssm_emu_cp_async_commit();
void netssm_emu_cp_async_wait(int n);
// ldmatrix.sync.aligned.m8n8.x{1,2,4}[.trans].shared.b16 (nmat 1, 2, 4):
// lanes 8j..8j+7 give the row addresses of matrix j (16-byte aligned, inside
// dynamic shared memory); r[j] gets matrix j's elements (row lane/4, columns
// 2*(lane%4) and +1), or with trans (rows 2*(lane%4) and +1, column lane/4),
// the lower-indexed element in the low half. Counts bank conflicts.
void netssm_emu_ldmatrix(unsigned* r, int nmat, bool trans, const void* addr);

inline float __uint_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  memcpy(&u, &f, 4);
  return u;
}
struct __attribute__((aligned(8))) float2 {
  float x, y;
};
struct __attribute__((aligned(16))) float4 {
  float x, y, z, w;
};
struct __attribute__((aligned(8))) uint2 {
  unsigned x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float __expf(float x) { return expf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
template <class T>
inline T min(T a, T b) {
  return a < b ? a : b;
}
template <class T>
inline T max(T a, T b) {
  return a > b ? a : b;
}
// One OS thread runs all fibers: plain adds are atomic here.
inline float atomicAdd(float* p, float v) {
  float o = *p;
  *p = o + v;
  return o;
}
inline double atomicAdd(double* p, double v) {
  double o = *p;
  *p = o + v;
  return o;
}
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  unsigned o = *p;
  *p = o + v;
  return o;
}
inline unsigned atomicExch(unsigned* p, unsigned v) {
  unsigned o = *p;
  *p = v;
  return o;
}
// Fibers switch only at barriers, shuffles and yields, so every write is
// visible to every other fiber: a fence has nothing to do.
inline void __threadfence() {}
// netssm_emu_yield lets the other fibers run: a spin-wait loop must call it
// (kernels/decode_persist.cu), or a block waiting on another block would
// spin forever on the one OS thread. In a cooperative launch (every block
// of the grid live at once) the waited-for block runs; elsewhere (blocks one
// after another) a wait on another block can never end, and after a bound
// on the yields the launch fails with a fault instead of hanging.
void netssm_emu_yield();
