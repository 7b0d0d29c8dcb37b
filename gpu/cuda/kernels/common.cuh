// Shared helpers of the netssm CUDA kernels. Compiled by nvcc 11.8 to PTX
// (-arch=compute_80); see gen.sh.
#pragma once

// DYN_SMEM declares the block's dynamic shared memory (the emulator of
// gpu/cuda/emu.h, build tag cudaemu, provides its own).
#ifndef NETSSM_EMU
#define DYN_SMEM(name) extern __shared__ float name[]
#endif

// dtype codes, equal to gpu.DType in Go.
#define DT_F32 1
#define DT_BF16 2

typedef long long i64;

__device__ __forceinline__ float bf2f(unsigned short h) { return __uint_as_float(((unsigned)h) << 16); }

// f2bf rounds to nearest even, NaN stays NaN (as gpu.BF16Bits).
__device__ __forceinline__ unsigned short f2bf(float f) {
  unsigned u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

// ld reads element i of a float buffer of dtype dt (uniform across a warp).
__device__ __forceinline__ float ld(const void* p, i64 i, int dt) {
  if (dt == DT_BF16) return bf2f(((const unsigned short*)p)[i]);
  return ((const float*)p)[i];
}

__device__ __forceinline__ void st(void* p, i64 i, int dt, float v) {
  if (dt == DT_BF16)
    ((unsigned short*)p)[i] = f2bf(v);
  else
    ((float*)p)[i] = v;
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + __expf(-x)); }
__device__ __forceinline__ float siluf_(float x) { return x * sigmoidf_(x); }
__device__ __forceinline__ float dsiluf_(float x) {
  float s = sigmoidf_(x);
  return s * (1.f + x * (1.f - s));
}
// softplus as mamba-ssm's Triton kernels: identity above 20.
__device__ __forceinline__ float softplusf_(float x) { return x > 20.f ? x : log1pf(expf(x)); }
__device__ __forceinline__ float dsoftplusf_(float x) { return x > 20.f ? 1.f : 1.f / (1.f + expf(-x)); }

// warp_sync is __syncwarp(): lanes of a warp are not in lockstep since
// Volta, and a shuffle orders no memory accesses, so a lane that reads what
// another lane of its warp writes (or writes what it reads) needs this in
// between. The emulator (no __syncwarp) uses a shuffle, which there is a
// barrier over the block's threads: stronger.
__device__ __forceinline__ void warp_sync() {
#ifdef NETSSM_EMU
  (void)__shfl_xor_sync(0xffffffffu, 0.f, 0);
#else
  __syncwarp();
#endif
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// block_sum reduces v over the block (blockDim.x a multiple of 32, <= 1024)
// and returns the total to every thread. scratch: 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : 0.f;
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// adamw_elem is one element of PyTorch's AdamW (bc1 = 1-beta1^step,
// bc2 = 1-beta2^step from the host; gi the scaled gradient); it returns the
// updated weight. Shared by k_adamw and k_adamw_flat.
__device__ __forceinline__ float adamw_elem(float* p, float* m, float* v, i64 i, float gi, float lr, float b1,
                                            float b2, float eps, float wd, float bc1, float bc2) {
  float pi = p[i] * (1.f - lr * wd);
  float mi = b1 * m[i] + (1.f - b1) * gi;
  float vi = b2 * v[i] + (1.f - b2) * gi * gi;
  pi -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
  p[i] = pi;
  m[i] = mi;
  v[i] = vi;
  return pi;
}
