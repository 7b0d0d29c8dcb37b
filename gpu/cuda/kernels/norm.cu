// RMSNorm kernels: fused residual add + RMSNorm, gated RMSNorm; forward and
// backward. Forward: one block per row. Backward: a block walks several rows
// and keeps its weight-gradient partials in registers (columns tid + k*blockDim,
// k < MAXK), then adds them with one atomic per column.
#include "common.cuh"

#define MAXK 16  // dim <= MAXK * blockDim.x (checked on the host)

extern "C" __global__ void k_add_rmsnorm(const void* x, i64 xs, int xdt, const void* res, i64 rs, int rdt,
                                         const void* w, int wdt, void* out, i64 os, int odt, float* ro, i64 ros,
                                         float* rstd, int rows, int dim, float eps) {
  __shared__ float scratch[32];
  int r = blockIdx.x;
  if (r >= rows) return;
  float ss = 0.f;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) {
    float v = ld(x, r * xs + d, xdt);
    if (res) v += ld(res, r * rs + d, rdt);
    ro[r * ros + d] = v;
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  float rsd = rsqrtf(ss / dim + eps);
  if (threadIdx.x == 0) rstd[r] = rsd;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) st(out, r * os + d, odt, ro[r * ros + d] * rsd * ld(w, d, wdt));
}

extern "C" __global__ void k_add_rmsnorm_bwd(const void* dout, i64 dos, int dodt, const void* dres, i64 drs, int drdt,
                                             const float* ro, i64 ros, const float* rstd, const void* w, int wdt,
                                             void* dx, i64 dxs, int dxdt, float* dw, int rows, int dim, int rpb) {
  __shared__ float scratch[32];
  float acc[MAXK];
#pragma unroll
  for (int k = 0; k < MAXK; k++) acc[k] = 0.f;
  int r0 = blockIdx.x * rpb, r1 = min(r0 + rpb, rows);
  for (int r = r0; r < r1; r++) {
    float rs = rstd[r], dot = 0.f;
#pragma unroll
    for (int k = 0; k < MAXK; k++) {
      int d = threadIdx.x + k * blockDim.x;
      if (d < dim) {
        float rh = ro[r * ros + d] * rs, go = ld(dout, r * dos + d, dodt);
        dot += go * ld(w, d, wdt) * rh;
        acc[k] += go * rh;
      }
    }
    float mean = block_sum(dot, scratch) / dim;
#pragma unroll
    for (int k = 0; k < MAXK; k++) {
      int d = threadIdx.x + k * blockDim.x;
      if (d < dim) {
        float rh = ro[r * ros + d] * rs, g = ld(dout, r * dos + d, dodt) * ld(w, d, wdt);
        float v = rs * (g - rh * mean);
        if (dres) v += ld(dres, r * drs + d, drdt);
        st(dx, r * dxs + d, dxdt, v);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < MAXK; k++) {
    int d = threadIdx.x + k * blockDim.x;
    if (d < dim) atomicAdd(&dw[d], acc[k]);
  }
}

extern "C" __global__ void k_gated_rmsnorm(const void* x, i64 xs, int xdt, const void* z, i64 zs, int zdt,
                                           const void* w, int wdt, void* out, i64 os, int odt, float* rstd, int rows,
                                           int dim, int gs, float eps) {
  __shared__ float scratch[32];
  int r = blockIdx.x;
  if (r >= rows) return;
  int G = dim / gs;
  for (int j = 0; j < G; j++) {
    float ss = 0.f;
    for (int d = j * gs + threadIdx.x; d < (j + 1) * gs; d += blockDim.x) {
      float g = ld(x, r * xs + d, xdt) * siluf_(ld(z, r * zs + d, zdt));
      ss += g * g;
    }
    ss = block_sum(ss, scratch);
    float rsd = rsqrtf(ss / gs + eps);
    if (threadIdx.x == 0) rstd[(i64)r * G + j] = rsd;
    for (int d = j * gs + threadIdx.x; d < (j + 1) * gs; d += blockDim.x) {
      float g = ld(x, r * xs + d, xdt) * siluf_(ld(z, r * zs + d, zdt));
      st(out, r * os + d, odt, g * rsd * ld(w, d, wdt));
    }
  }
}

extern "C" __global__ void k_gated_rmsnorm_bwd(const void* x, i64 xs, int xdt, const void* z, i64 zs, int zdt,
                                               const void* w, int wdt, const float* rstd, const void* dout, i64 dos,
                                               int dodt, void* dx, i64 dxs, int dxdt, void* dz, i64 dzs, int dzdt,
                                               float* dw, int rows, int dim, int gs, int rpb) {
  __shared__ float scratch[32];
  float acc[MAXK];
#pragma unroll
  for (int k = 0; k < MAXK; k++) acc[k] = 0.f;
  int G = dim / gs;
  int r0 = blockIdx.x * rpb, r1 = min(r0 + rpb, rows);
  for (int r = r0; r < r1; r++) {
    for (int j = 0; j < G; j++) {
      float rs = rstd[(i64)r * G + j], dot = 0.f;
#pragma unroll
      for (int k = 0; k < MAXK; k++) {
        int d = threadIdx.x + k * blockDim.x;
        if (d >= j * gs && d < (j + 1) * gs) {
          float gh = ld(x, r * xs + d, xdt) * siluf_(ld(z, r * zs + d, zdt)) * rs;
          float go = ld(dout, r * dos + d, dodt);
          dot += go * ld(w, d, wdt) * gh;
          acc[k] += go * gh;
        }
      }
      float mean = block_sum(dot, scratch) / gs;
#pragma unroll
      for (int k = 0; k < MAXK; k++) {
        int d = threadIdx.x + k * blockDim.x;
        if (d >= j * gs && d < (j + 1) * gs) {
          float xv = ld(x, r * xs + d, xdt), zv = ld(z, r * zs + d, zdt);
          float gh = xv * siluf_(zv) * rs;
          float dg = rs * (ld(dout, r * dos + d, dodt) * ld(w, d, wdt) - gh * mean);
          st(dx, r * dxs + d, dxdt, dg * siluf_(zv));
          st(dz, r * dzs + d, dzdt, dg * xv * dsiluf_(zv));
        }
      }
    }
  }
#pragma unroll
  for (int k = 0; k < MAXK; k++) {
    int d = threadIdx.x + k * blockDim.x;
    if (d < dim) atomicAdd(&dw[d], acc[k]);
  }
}
