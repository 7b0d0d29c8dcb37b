// Vector loads and stores of V consecutive elements (V = 1, 2 or 4) of a
// float buffer of dtype dt, for the memory-bound kernels (norm.cu, conv.cu,
// elementwise.cu): one 4/8-byte access for 2/4 bf16, one 8/16-byte access
// for 2/4 f32. The caller guarantees the alignment (element index and
// pointer a multiple of V elements; the host picks V with vecWidth in
// ops.go); the emulator checks it and aborts the test process otherwise,
// since a misaligned vector access faults on a GPU.
#pragma once
#include "common.cuh"

#ifdef NETSSM_EMU
#include <stdio.h>
#include <stdlib.h>
#endif

template <int B>
struct vraw;
template <>
struct __align__(4) vraw<4> {
  unsigned u[1];
};
template <>
struct __align__(8) vraw<8> {
  unsigned u[2];
};
template <>
struct __align__(16) vraw<16> {
  unsigned u[4];
};

__device__ __forceinline__ void vec_check(const void* p, int bytes) {
#ifdef NETSSM_EMU
  if ((uintptr_t)p % bytes != 0) {
    fprintf(stderr, "netssm emulator: misaligned %d-byte vector access at %p\n", bytes, p);
    abort();
  }
#endif
}

// ldv sets f[0..V) to elements i..i+V-1 of p.
template <int V>
__device__ __forceinline__ void ldv(const void* p, i64 i, int dt, float* f) {
  if (V == 1) {
    f[0] = ld(p, i, dt);
  } else if (dt == DT_BF16) {
    const unsigned short* q = (const unsigned short*)p + i;
    vec_check(q, V * 2);
    vraw<(V > 1 ? V : 2) * 2> r = *(const vraw<(V > 1 ? V : 2) * 2>*)q;
#pragma unroll
    for (int k = 0; k < V / 2; k++) {
      f[2 * k] = __uint_as_float(r.u[k] << 16);
      f[2 * k + 1] = __uint_as_float(r.u[k] & 0xffff0000u);
    }
  } else {
    const float* q = (const float*)p + i;
    vec_check(q, V * 4);
    vraw<(V > 1 ? V : 2) * 4> r = *(const vraw<(V > 1 ? V : 2) * 4>*)q;
#pragma unroll
    for (int k = 0; k < V; k++) f[k] = __uint_as_float(r.u[k]);
  }
}

// stv stores f[0..V) into elements i..i+V-1 of p (bf16: rounded to nearest even).
template <int V>
__device__ __forceinline__ void stv(void* p, i64 i, int dt, const float* f) {
  if (V == 1) {
    st(p, i, dt, f[0]);
  } else if (dt == DT_BF16) {
    unsigned short* q = (unsigned short*)p + i;
    vec_check(q, V * 2);
    vraw<(V > 1 ? V : 2) * 2> r;
#pragma unroll
    for (int k = 0; k < V / 2; k++) r.u[k] = (unsigned)f2bf(f[2 * k]) | ((unsigned)f2bf(f[2 * k + 1]) << 16);
    *(vraw<(V > 1 ? V : 2) * 2>*)q = r;
  } else {
    float* q = (float*)p + i;
    vec_check(q, V * 4);
    vraw<(V > 1 ? V : 2) * 4> r;
#pragma unroll
    for (int k = 0; k < V; k++) r.u[k] = __float_as_uint(f[k]);
    *(vraw<(V > 1 ? V : 2) * 4>*)q = r;
  }
}
