// Depthwise causal conv1d (+ SiLU) over [rows = batch*seq, channels] views:
// forward, backward (input gradient; weight/bias gradient) and decode step.
#include "common.cuh"

// pre-activation at (b, t, c)
__device__ __forceinline__ float conv_pre(const void* x, i64 xs, int xdt, const void* w, int wdt, const void* bias,
                                          int bdt, int row0, int t, int c, int W) {
  float s = bias ? ld(bias, c, bdt) : 0.f;
  for (int k = 0; k < W; k++) {
    int u = t - (W - 1) + k;
    if (u >= 0) s += ld(w, (i64)c * W + k, wdt) * ld(x, (i64)(row0 + u) * xs + c, xdt);
  }
  return s;
}

extern "C" __global__ void k_conv1d(const void* x, i64 xs, int xdt, const void* w, int wdt, const void* bias, int bdt,
                                    void* out, i64 os, int odt, int B, int T, int C, int W, int act) {
  i64 n = (i64)B * T * C;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    int c = (int)(i % C);
    i64 row = i / C;
    int t = (int)(row % T);
    int row0 = (int)(row - t);
    float s = conv_pre(x, xs, xdt, w, wdt, bias, bdt, row0, t, c, W);
    st(out, row * os + c, odt, act ? siluf_(s) : s);
  }
}

// k_conv1d_bwd_dx: dx[s] = sum_k dpre[s+(W-1)-k] * w[k], recomputing pre.
extern "C" __global__ void k_conv1d_bwd_dx(const void* x, i64 xs, int xdt, const void* w, int wdt, const void* bias,
                                           int bdt, const void* dout, i64 dos, int dodt, void* dx, i64 dxs, int dxdt,
                                           int B, int T, int C, int W, int act) {
  i64 n = (i64)B * T * C;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    int c = (int)(i % C);
    i64 row = i / C;
    int s = (int)(row % T);
    int row0 = (int)(row - s);
    float acc = 0.f;
    for (int k = 0; k < W; k++) {
      int t = s + (W - 1) - k;
      if (t >= T) continue;
      float d = ld(dout, (i64)(row0 + t) * dos + c, dodt);
      if (act) d *= dsiluf_(conv_pre(x, xs, xdt, w, wdt, bias, bdt, row0, t, c, W));
      acc += d * ld(w, (i64)c * W + k, wdt);
    }
    st(dx, row * dxs + c, dxdt, acc);
  }
}

#define CONV_MAXW 8
// k_conv1d_bwd_dw: thread per channel, block y covers a span of rows;
// partial sums of dweight/dbias are added atomically.
extern "C" __global__ void k_conv1d_bwd_dw(const void* x, i64 xs, int xdt, const void* w, int wdt, const void* bias,
                                           int bdt, const void* dout, i64 dos, int dodt, float* dw, float* db, int B,
                                           int T, int C, int W, int act, int span) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float aw[CONV_MAXW];
#pragma unroll
  for (int k = 0; k < CONV_MAXW; k++) aw[k] = 0.f;
  float ab = 0.f;
  i64 r0 = (i64)blockIdx.y * span, r1 = min(r0 + span, (i64)B * T);
  for (i64 row = r0; row < r1; row++) {
    int t = (int)(row % T);
    int row0 = (int)(row - t);
    float d = ld(dout, row * dos + c, dodt);
    if (act) d *= dsiluf_(conv_pre(x, xs, xdt, w, wdt, bias, bdt, row0, t, c, W));
    ab += d;
#pragma unroll
    for (int k = 0; k < CONV_MAXW; k++) {
      int u = t - (W - 1) + k;
      if (k < W && u >= 0) aw[k] += d * ld(x, (i64)(row0 + u) * xs + c, xdt);
    }
  }
#pragma unroll
  for (int k = 0; k < CONV_MAXW; k++)
    if (k < W) atomicAdd(&dw[(i64)c * W + k], aw[k]);
  if (db) atomicAdd(&db[c], ab);
}

extern "C" __global__ void k_conv1d_step(const void* x, i64 xs, int xdt, float* state, const void* w, int wdt,
                                         const void* bias, int bdt, void* out, i64 os, int odt, int B, int C, int W,
                                         int act) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= (i64)B * C) return;
  int c = (int)(i % C), b = (int)(i / C);
  float* s = state + i * W;
  for (int k = 0; k + 1 < W; k++) s[k] = s[k + 1];
  s[W - 1] = ld(x, (i64)b * xs + c, xdt);
  float acc = bias ? ld(bias, c, bdt) : 0.f;
  for (int k = 0; k < W; k++) acc += ld(w, (i64)c * W + k, wdt) * s[k];
  st(out, (i64)b * os + c, odt, act ? siluf_(acc) : acc);
}
