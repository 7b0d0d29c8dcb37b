// Device code of the fused decode kernels (decode.cu), shared with the
// persistent decode kernel (decode_persist.cu): the GEMV helpers and each
// kernel's work for one block, given its block indices, its grid width and
// its shared memory (so that a persistent block can do the work of any
// block of the fused launches).
#pragma once
#include "common.cuh"

#define DEC_MAXM 8

struct __align__(16) dec_u4 {
  unsigned x, y, z, w;
};
struct __align__(16) dec_f4 {
  float x, y, z, w;
};

// dec_round rounds v as a store into a buffer of dtype dt would.
__device__ __forceinline__ float dec_round(float v, int dt) { return dt == DT_BF16 ? bf2f(f2bf(v)) : v; }

// dec_fma8_bf16: as dec_fma8 with the rows in bf16 (8 per 16-byte load).
__device__ __forceinline__ void dec_fma8_bf16(float* acc, const unsigned short* su, int K, int mt, int k, const float* f) {
#pragma unroll
  for (int m = 0; m < DEC_MAXM; m++) {
    if (m < mt) {
      dec_u4 a = *(const dec_u4*)(su + m * K + k);
      acc[m] += f[0] * __uint_as_float(a.x << 16) + f[1] * __uint_as_float(a.x & 0xffff0000u) +
                f[2] * __uint_as_float(a.y << 16) + f[3] * __uint_as_float(a.y & 0xffff0000u) +
                f[4] * __uint_as_float(a.z << 16) + f[5] * __uint_as_float(a.z & 0xffff0000u) +
                f[6] * __uint_as_float(a.w << 16) + f[7] * __uint_as_float(a.w & 0xffff0000u);
    }
  }
}

// dec_fma8 adds f[0..7] . rows m < mt of su at columns k..k+7 to acc[m].
__device__ __forceinline__ void dec_fma8(float* acc, const float* su, int K, int mt, int k, const float* f) {
#pragma unroll
  for (int m = 0; m < DEC_MAXM; m++) {
    if (m < mt) {
      dec_f4 a = *(const dec_f4*)(su + m * K + k);
      dec_f4 b = *(const dec_f4*)(su + m * K + k + 4);
      acc[m] += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
    }
  }
}

// dec_dot returns, on lane m < mt, the dot product of row m of su [mt, K]
// (shared memory, in W's dtype) with row n of w (stride ws, dtype wdt); vec:
// the row is 16-byte aligned and K a multiple of 16 bytes. Warp-uniform.
__device__ __forceinline__ float dec_dot(const void* su, int K, int mt, const void* w, i64 ws, int wdt, int vec, int n,
                                         int lane) {
  float acc[DEC_MAXM];
#pragma unroll
  for (int m = 0; m < DEC_MAXM; m++) acc[m] = 0.f;
  if (vec && wdt == DT_BF16) {
    const dec_u4* row = (const dec_u4*)((const unsigned short*)w + (i64)n * ws);
#pragma unroll 2
    for (int k = lane * 8; k < K; k += 256) {
      dec_u4 q = row[k >> 3];
      float f[8] = {__uint_as_float(q.x << 16), __uint_as_float(q.x & 0xffff0000u),
                    __uint_as_float(q.y << 16), __uint_as_float(q.y & 0xffff0000u),
                    __uint_as_float(q.z << 16), __uint_as_float(q.z & 0xffff0000u),
                    __uint_as_float(q.w << 16), __uint_as_float(q.w & 0xffff0000u)};
      dec_fma8_bf16(acc, (const unsigned short*)su, K, mt, k, f);
    }
  } else if (vec) {
    const float* sf = (const float*)su;
    const dec_f4* row = (const dec_f4*)((const float*)w + (i64)n * ws);
#pragma unroll 2
    for (int k = lane * 8; k < K; k += 256) {
      // K is a multiple of 4 here, not necessarily of 8
      dec_f4 q0 = row[k >> 2];
      dec_f4 q1 = k + 4 < K ? row[(k >> 2) + 1] : dec_f4{0.f, 0.f, 0.f, 0.f};
      float f[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
      if (k + 4 < K) {
        dec_fma8(acc, sf, K, mt, k, f);
      } else {
#pragma unroll
        for (int m = 0; m < DEC_MAXM; m++) {
          if (m < mt) {
            dec_f4 a = *(const dec_f4*)(sf + m * K + k);
            acc[m] += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w;
          }
        }
      }
    }
  } else {
    for (int k = lane; k < K; k += 32) {
      float wv = ld(w, (i64)n * ws + k, wdt);
#pragma unroll
      for (int m = 0; m < DEC_MAXM; m++)
        if (m < mt) acc[m] += ld(su, m * K + k, wdt) * wv;
    }
  }
  float v = 0.f;
#pragma unroll
  for (int m = 0; m < DEC_MAXM; m++) {
    if (m < mt) {
      float s = warp_sum(acc[m]);
      if (lane == m) v = s;
    }
  }
  return v;
}

// dec_prefetch_row asks for row n of w to be brought into L2 (a hint: no
// effect on results; nothing in the emulator), so that the weight stream of
// a warp's first column overlaps the block's norm prologue.
__device__ __forceinline__ void dec_prefetch_row(const void* w, i64 ws, int wdt, int K, int N, int n, int lane) {
#ifndef NETSSM_EMU
  if (n >= N) return;
  int es = wdt == DT_BF16 ? 2 : 4;
  const char* row = (const char*)w + (i64)n * ws * es;
  for (int off = lane * 128; off < K * es; off += 32 * 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(row + off));
#endif
}


__device__ __forceinline__ void dec_in_tile(
    const void* x, i64 xs, int xdt, const void* nw, int nwdt, const void* w, i64 ws, int wdt, void* out, i64 os,
             int odt, int M, int N, int K, int mb, float eps, int vec, float* cstate, const void* cw, int cwdt,
             const void* cb, int cbdt, void* cout, i64 cos, int codt, int cdim, int coff, int cwidth, int act,
    int bx, int gx, int by, float* raw, float* scratch) {
  // raw: [K] floats, one row's raw values, then
  void* su = (void*)(raw + K);      // [mb, K] in W's dtype: the normalised rows
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nwarp = blockDim.x >> 5;
  int m0 = by * mb, mt = min(mb, M - m0);
  dec_prefetch_row(w, ws, wdt, K, N, bx * nwarp + wid, lane);
  // u = rmsnorm(x) * weight, rounded to the dtype of W, for the block's
  // rows, the whole block on each row (at batch 1 the block has one row)
  for (int m = 0; m < mt; m++) {
    i64 xr = (i64)(m0 + m) * xs;
    float ss = 0.f;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {  // each thread rereads only its own raw[k]
      float v = ld(x, xr + k, xdt);
      raw[k] = v;
      ss += v * v;
    }
    float rs = rsqrtf(block_sum(ss, scratch) / K + eps);
    for (int k = threadIdx.x; k < K; k += blockDim.x) st(su, m * K + k, wdt, raw[k] * rs * ld(nw, k, nwdt));
  }
  __syncthreads();
  for (int n = bx * nwarp + wid; n < N; n += gx * nwarp) {
    float v = dec_dot(su, K, mt, w, ws, wdt, vec, n, lane);
    if (lane < mt) {
      i64 r = m0 + lane;
      float o = dec_round(v, odt);
      st(out, r * os + n, odt, o);
      if (n >= coff && n < coff + cdim) {  // conv1d step, as k_conv1d_step
        int c = n - coff;
        float* s = cstate + (r * cdim + c) * cwidth;
        for (int k = 0; k + 1 < cwidth; k++) s[k] = s[k + 1];
        s[cwidth - 1] = o;
        float a = cb ? ld(cb, c, cbdt) : 0.f;
        for (int k = 0; k < cwidth; k++) a += ld(cw, (i64)c * cwidth + k, cwdt) * s[k];
        st(cout, r * cos + c, codt, act ? siluf_(a) : a);
      }
    }
  }
}

__device__ __forceinline__ void dec_out_tile(
    const void* y, i64 ys, int ydt, const void* z, i64 zs, int zdt, const void* nw, int nwdt, const void* w,
              i64 ws, int wdt, void* out, i64 os, int odt, float* res, i64 rs, int M, int N, int K, int gs, int mb,
              float eps, int vec,
    int bx, int gx, int by, float* raw, float* scratch) {
  // raw: [K] floats, one row's raw values, then
  void* su = (void*)(raw + K);      // [mb, K] in W's dtype: the normalised rows
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nwarp = blockDim.x >> 5;
  int m0 = by * mb, mt = min(mb, M - m0);
  dec_prefetch_row(w, ws, wdt, K, N, bx * nwarp + wid, lane);
  // g = gated_rmsnorm(y, z) * weight per group, rounded to the dtype of W,
  // the whole block on each (row, group)
  for (int m = 0; m < mt; m++) {
    i64 yr = (i64)(m0 + m) * ys, zr = (i64)(m0 + m) * zs;
    for (int j = 0; j < K / gs; j++) {
      float ss = 0.f;
      for (int d = j * gs + threadIdx.x; d < (j + 1) * gs; d += blockDim.x) {
        float g = ld(y, yr + d, ydt) * siluf_(ld(z, zr + d, zdt));
        raw[d] = g;
        ss += g * g;
      }
      float rsd = rsqrtf(block_sum(ss, scratch) / gs + eps);
      for (int d = j * gs + threadIdx.x; d < (j + 1) * gs; d += blockDim.x) st(su, m * K + d, wdt, raw[d] * rsd * ld(nw, d, nwdt));
    }
  }
  __syncthreads();
  for (int n = bx * nwarp + wid; n < N; n += gx * nwarp) {
    float v = dec_dot(su, K, mt, w, ws, wdt, vec, n, lane);
    if (lane < mt) {
      i64 r = m0 + lane;
      float o = dec_round(v, odt);
      st(out, r * os + n, odt, o);
      if (res) res[r * rs + n] += o;
    }
  }
}

__device__ __forceinline__ void dec_ssd_tile(
    const void* x, i64 xs, int xdt, const void* dt, i64 dts, int dtdt, const float* dtbias, const float* alog,
              const void* Bm, i64 bs, int bdt, const void* Cm, i64 cs, int cdt, const float* D, void* y, i64 ys, int ydt,
              float* state, int H, int P, int G, int N,
    int bx, int by, int bz, float* sbc) {
  int b = bz, h = by, g = h / (H / G);
#ifndef NETSSM_EMU
  {  // start fetching this warp's state row while B and C are staged (a hint)
    int pp = bx * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const float* sr = state + (((i64)b * H + h) * P + pp) * N;
    if (pp < P)
      for (int off = (threadIdx.x & 31) * 32; off < N; off += 32 * 32) asm volatile("prefetch.global.L2 [%0];" ::"l"(sr + off));
  }
#endif
  for (int n = threadIdx.x; n < N; n += blockDim.x) {
    sbc[n] = ld(Bm, (i64)b * bs + (i64)g * N + n, bdt);
    sbc[N + n] = ld(Cm, (i64)b * cs + (i64)g * N + n, cdt);
  }
  __syncthreads();
  int p = bx * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (p >= P) return;  // warp-uniform, after the block's only barrier
  float dtv = softplusf_(ld(dt, (i64)b * dts + h, dtdt) + dtbias[h]);
  float a = expf(dtv * -expf(alog[h]));
  float xp = ld(x, (i64)b * xs + (i64)h * P + p, xdt);
  float* s = state + (((i64)b * H + h) * P + p) * N;
  float acc = 0.f;
  for (int n = lane; n < N; n += 32) {
    float v = a * s[n] + dtv * xp * sbc[n];
    s[n] = v;
    acc += v * sbc[N + n];
  }
  acc = warp_sum(acc);
  if (lane == 0) st(y, (i64)b * ys + (i64)h * P + p, ydt, acc + D[h] * xp);
}
