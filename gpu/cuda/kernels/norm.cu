// RMSNorm kernels: fused residual add + RMSNorm, gated RMSNorm; forward and
// backward.
//
// Layout: a row is split into chunks of V consecutive elements (V = 4, 2 or
// 1: vector loads, chosen on the host from the views' alignment); thread
// tid of the block owns chunks tid, tid + blockDim, ... (at most NCH = 2
// for V = 4, else 4: 8 or 4 elements; blocks of up to 512 threads, so rows
// of up to 4096 elements, or 2048 unaligned: __launch_bounds__(512) and
// normLayout in ops.go agree) and keeps them in
// registers between the reduction and the output pass, so every element is
// read once. Forward: one block per row. Backward: a block walks rpb rows
// with the weights in registers and its weight-gradient partials too, then
// adds them with one atomic per column.
// Rows the layout cannot take (over 4096, or unaligned over 2048, which
// would need 1024 threads with more registers than an SM has) run a plain
// two-pass loop of 256 threads (vec = 0): forward any width, backward up to
// 4096.
#include "vec.cuh"

// chunks per thread: dim <= NCH(V) * V * blockDim.x (blockDim chosen on the host; dim <= 4096)
#define NCH_OF(V) ((V) == 4 ? 2 : 4)

template <int V>
__device__ __forceinline__ void add_rmsnorm_row(const void* x, i64 xs, int xdt, const void* res, i64 rs, int rdt,
                                                const void* w, int wdt, void* out, i64 os, int odt, float* ro, i64 ros,
                                                float* rstd, int r, int dim, float eps, float* scratch) {
  const int NCH = NCH_OF(V);
  const int nch = dim / V;
  // X is the residual itself (the recompute in gpumodel's backward): its
  // values need not be stored again
  const bool store_ro = !(res == 0 && (const void*)ro == x && xdt == DT_F32 && ros == xs);
  float v[NCH][V];
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    int q = threadIdx.x + k * blockDim.x;
    if (q < nch) {
      ldv<V>(x, r * xs + q * V, xdt, v[k]);
      if (res) {
        float f[V];
        ldv<V>(res, r * rs + q * V, rdt, f);
#pragma unroll
        for (int e = 0; e < V; e++) v[k][e] += f[e];
      }
      if (store_ro) stv<V>(ro, r * ros + q * V, DT_F32, v[k]);
#pragma unroll
      for (int e = 0; e < V; e++) ss += v[k][e] * v[k][e];
    }
  }
  ss = block_sum(ss, scratch);
  float rsd = rsqrtf(ss / dim + eps);
  if (threadIdx.x == 0) rstd[r] = rsd;
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    int q = threadIdx.x + k * blockDim.x;
    if (q < nch) {
      float wv[V], o[V];
      ldv<V>(w, q * V, wdt, wv);
#pragma unroll
      for (int e = 0; e < V; e++) o[e] = v[k][e] * rsd * wv[e];
      stv<V>(out, r * os + q * V, odt, o);
    }
  }
}

extern "C" __global__ void __launch_bounds__(512, 1)
    k_add_rmsnorm(const void* x, i64 xs, int xdt, const void* res, i64 rs, int rdt, const void* w, int wdt, void* out,
    i64 os, int odt, float* ro, i64 ros, float* rstd, int rows, int dim, float eps, int vec) {
  __shared__ float scratch[32];
  int r = blockIdx.x;
  if (r >= rows) return;
  if (vec == 4) {
    add_rmsnorm_row<4>(x, xs, xdt, res, rs, rdt, w, wdt, out, os, odt, ro, ros, rstd, r, dim, eps, scratch);
  } else if (vec == 2) {
    add_rmsnorm_row<2>(x, xs, xdt, res, rs, rdt, w, wdt, out, os, odt, ro, ros, rstd, r, dim, eps, scratch);
  } else if (vec == 1) {
    add_rmsnorm_row<1>(x, xs, xdt, res, rs, rdt, w, wdt, out, os, odt, ro, ros, rstd, r, dim, eps, scratch);
  } else {  // rows the register layout cannot take (see normLayout in ops.go)
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
    for (int d = threadIdx.x; d < dim; d += blockDim.x)
      st(out, r * os + d, odt, ro[r * ros + d] * rsd * ld(w, d, wdt));
  }
}

template <int V>
__device__ __forceinline__ void add_rmsnorm_bwd(const void* dout, i64 dos, int dodt, const void* dres, i64 drs,
                                                int drdt, const float* ro, i64 ros, const float* rstd, const void* w,
                                                int wdt, void* dx, i64 dxs, int dxdt, void* dxc, i64 dxcs, int dxcdt,
                                                float* dw, int rows, int dim, int rpb, float* scratch) {
  const int NCH = NCH_OF(V);
  const int nch = dim / V;
  float wv[NCH][V], acc[NCH][V];
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    int q = threadIdx.x + k * blockDim.x;
#pragma unroll
    for (int e = 0; e < V; e++) acc[k][e] = wv[k][e] = 0.f;
    if (q < nch) ldv<V>(w, q * V, wdt, wv[k]);
  }
  int r0 = blockIdx.x * rpb, r1 = min(r0 + rpb, rows);
  for (int r = r0; r < r1; r++) {
    float rs = rstd[r], dot = 0.f;
    float rh[NCH][V], go[NCH][V];
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      int q = threadIdx.x + k * blockDim.x;
      if (q < nch) {
        ldv<V>(ro, r * ros + q * V, DT_F32, rh[k]);
        ldv<V>(dout, r * dos + q * V, dodt, go[k]);
#pragma unroll
        for (int e = 0; e < V; e++) {
          rh[k][e] *= rs;
          dot += go[k][e] * wv[k][e] * rh[k][e];
          acc[k][e] += go[k][e] * rh[k][e];
        }
      }
    }
    float mean = block_sum(dot, scratch) / dim;
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      int q = threadIdx.x + k * blockDim.x;
      if (q < nch) {
        float o[V], dr[V];
        if (dres) ldv<V>(dres, r * drs + q * V, drdt, dr);
#pragma unroll
        for (int e = 0; e < V; e++) {
          o[e] = rs * (go[k][e] * wv[k][e] - rh[k][e] * mean);
          if (dres) o[e] += dr[e];
        }
        stv<V>(dx, r * dxs + q * V, dxdt, o);
        if (dxc) {  // DX as stored, in the copy's dtype
          if (dxdt == DT_BF16) {
#pragma unroll
            for (int e = 0; e < V; e++) o[e] = bf2f(f2bf(o[e]));
          }
          stv<V>(dxc, r * dxcs + q * V, dxcdt, o);
        }
      }
    }
  }
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    int q = threadIdx.x + k * blockDim.x;
    if (q < nch) {
#pragma unroll
      for (int e = 0; e < V; e++) atomicAdd(&dw[q * V + e], acc[k][e]);
    }
  }
}

// add_rmsnorm_bwd_loop: the scalar backward for rows the register layout
// cannot take (unaligned rows over 2048 elements: 1024 threads would need
// more registers than an SM has): 256 threads, dout and ResidualOut read
// twice, the weight-gradient partials in dynamic shared memory (acc: dim
// floats, each thread its own columns).
__device__ __forceinline__ void add_rmsnorm_bwd_loop(const void* dout, i64 dos, int dodt, const void* dres, i64 drs,
                                                     int drdt, const float* ro, i64 ros, const float* rstd,
                                                     const void* w, int wdt, void* dx, i64 dxs, int dxdt, void* dxc,
                                                     i64 dxcs, int dxcdt, float* dw, int rows, int dim, int rpb,
                                                     float* scratch, float* acc) {
  for (int d = threadIdx.x; d < dim; d += blockDim.x) acc[d] = 0.f;
  int r0 = blockIdx.x * rpb, r1 = min(r0 + rpb, rows);
  for (int r = r0; r < r1; r++) {
    float rs = rstd[r], dot = 0.f;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) {
      float rh = ro[r * ros + d] * rs, go = ld(dout, r * dos + d, dodt);
      dot += go * ld(w, d, wdt) * rh;
      acc[d] += go * rh;
    }
    float mean = block_sum(dot, scratch) / dim;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) {
      float rh = ro[r * ros + d] * rs, g = ld(dout, r * dos + d, dodt) * ld(w, d, wdt);
      float v = rs * (g - rh * mean);
      if (dres) v += ld(dres, r * drs + d, drdt);
      st(dx, r * dxs + d, dxdt, v);
      if (dxc) st(dxc, r * dxcs + d, dxcdt, ld(dx, r * dxs + d, dxdt));
    }
  }
  for (int d = threadIdx.x; d < dim; d += blockDim.x) atomicAdd(&dw[d], acc[d]);
}

extern "C" __global__ void __launch_bounds__(512, 1)
    k_add_rmsnorm_bwd(const void* dout, i64 dos, int dodt, const void* dres, i64 drs, int drdt, const float* ro,
    i64 ros, const float* rstd, const void* w, int wdt, void* dx, i64 dxs, int dxdt, void* dxc, i64 dxcs, int dxcdt,
    float* dw, int rows, int dim, int rpb, int vec) {
  __shared__ float scratch[32];
  if (vec == 4)
    add_rmsnorm_bwd<4>(dout, dos, dodt, dres, drs, drdt, ro, ros, rstd, w, wdt, dx, dxs, dxdt, dxc, dxcs, dxcdt, dw, rows,
                       dim, rpb, scratch);
  else if (vec == 2)
    add_rmsnorm_bwd<2>(dout, dos, dodt, dres, drs, drdt, ro, ros, rstd, w, wdt, dx, dxs, dxdt, dxc, dxcs, dxcdt, dw, rows,
                       dim, rpb, scratch);
  else if (vec == 1)
    add_rmsnorm_bwd<1>(dout, dos, dodt, dres, drs, drdt, ro, ros, rstd, w, wdt, dx, dxs, dxdt, dxc, dxcs, dxcdt, dw, rows,
                       dim, rpb, scratch);
  else {
    DYN_SMEM(acc);
    add_rmsnorm_bwd_loop(dout, dos, dodt, dres, drs, drdt, ro, ros, rstd, w, wdt, dx, dxs, dxdt, dxc, dxcs, dxcdt, dw, rows,
                         dim, rpb, scratch, acc);
  }
}

// Gated RMSNorm (norm_before_gate=False): g = x * silu(z), per group of gs
// columns rstd = 1/sqrt(mean(g^2) + eps), out = g * rstd * w. A chunk lies
// in one group (gs is a multiple of V); one block reduction per group.
template <int V>
__device__ __forceinline__ void gated_rmsnorm_row(const void* x, i64 xs, int xdt, const void* z, i64 zs, int zdt,
                                                  const void* w, int wdt, void* out, i64 os, int odt, float* rstd,
                                                  int r, int dim, int gs, float eps, float* scratch) {
  const int NCH = NCH_OF(V);
  const int nch = dim / V, G = dim / gs;
  float g[NCH][V];
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    int q = threadIdx.x + k * blockDim.x;
    if (q < nch) {
      float zv[V];
      ldv<V>(x, r * xs + q * V, xdt, g[k]);
      ldv<V>(z, r * zs + q * V, zdt, zv);
#pragma unroll
      for (int e = 0; e < V; e++) g[k][e] *= siluf_(zv[e]);
    }
  }
#pragma unroll 1
  for (int j = 0; j < G; j++) {
    float ss = 0.f;
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      int q = threadIdx.x + k * blockDim.x;
      if (q < nch && q * V / gs == j) {
#pragma unroll
        for (int e = 0; e < V; e++) ss += g[k][e] * g[k][e];
      }
    }
    ss = block_sum(ss, scratch);
    float rsd = rsqrtf(ss / gs + eps);
    if (threadIdx.x == 0) rstd[(i64)r * G + j] = rsd;
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      int q = threadIdx.x + k * blockDim.x;
      if (q < nch && q * V / gs == j) {
        float wv[V], o[V];
        ldv<V>(w, q * V, wdt, wv);
#pragma unroll
        for (int e = 0; e < V; e++) o[e] = g[k][e] * rsd * wv[e];
        stv<V>(out, r * os + q * V, odt, o);
      }
    }
  }
}

extern "C" __global__ void __launch_bounds__(512, 1)
    k_gated_rmsnorm(const void* x, i64 xs, int xdt, const void* z, i64 zs, int zdt, const void* w, int wdt, void* out,
    i64 os, int odt, float* rstd, int rows, int dim, int gs, float eps, int vec) {
  __shared__ float scratch[32];
  int r = blockIdx.x;
  if (r >= rows) return;
  if (vec == 4) {
    gated_rmsnorm_row<4>(x, xs, xdt, z, zs, zdt, w, wdt, out, os, odt, rstd, r, dim, gs, eps, scratch);
  } else if (vec == 2) {
    gated_rmsnorm_row<2>(x, xs, xdt, z, zs, zdt, w, wdt, out, os, odt, rstd, r, dim, gs, eps, scratch);
  } else if (vec == 1) {
    gated_rmsnorm_row<1>(x, xs, xdt, z, zs, zdt, w, wdt, out, os, odt, rstd, r, dim, gs, eps, scratch);
  } else {  // rows the register layout cannot take (see normLayout in ops.go)
    int G = dim / gs;
#pragma unroll 1
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
}

template <int V>
__device__ __forceinline__ void gated_rmsnorm_bwd(const void* x, i64 xs, int xdt, const void* z, i64 zs, int zdt,
                                                  const void* w, int wdt, const float* rstd, const void* dout, i64 dos,
                                                  int dodt, void* dx, i64 dxs, int dxdt, void* dz, i64 dzs, int dzdt,
                                                  float* dw, int rows, int dim, int gs, int rpb, float* scratch) {
  const int NCH = NCH_OF(V);
  const int nch = dim / V, G = dim / gs;
  float wv[NCH][V], acc[NCH][V];
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    int q = threadIdx.x + k * blockDim.x;
#pragma unroll
    for (int e = 0; e < V; e++) acc[k][e] = wv[k][e] = 0.f;
    if (q < nch) ldv<V>(w, q * V, wdt, wv[k]);
  }
  int r0 = blockIdx.x * rpb, r1 = min(r0 + rpb, rows);
  for (int r = r0; r < r1; r++) {
    float xv[NCH][V], zv[NCH][V], go[NCH][V];
#pragma unroll
    for (int k = 0; k < NCH; k++) {
      int q = threadIdx.x + k * blockDim.x;
      if (q < nch) {
        ldv<V>(x, r * xs + q * V, xdt, xv[k]);
        ldv<V>(z, r * zs + q * V, zdt, zv[k]);
        ldv<V>(dout, r * dos + q * V, dodt, go[k]);
      }
    }
#pragma unroll 1
    for (int j = 0; j < G; j++) {
      float rs = rstd[(i64)r * G + j], dot = 0.f;
#pragma unroll
      for (int k = 0; k < NCH; k++) {
        int q = threadIdx.x + k * blockDim.x;
        if (q < nch && q * V / gs == j) {
#pragma unroll
          for (int e = 0; e < V; e++) {
            float gh = xv[k][e] * siluf_(zv[k][e]) * rs;
            dot += go[k][e] * wv[k][e] * gh;
            acc[k][e] += go[k][e] * gh;
          }
        }
      }
      float mean = block_sum(dot, scratch) / gs;
#pragma unroll
      for (int k = 0; k < NCH; k++) {
        int q = threadIdx.x + k * blockDim.x;
        if (q < nch && q * V / gs == j) {
          float ox[V], oz[V];
#pragma unroll
          for (int e = 0; e < V; e++) {
            float sz = siluf_(zv[k][e]);
            float gh = xv[k][e] * sz * rs;
            float dg = rs * (go[k][e] * wv[k][e] - gh * mean);
            ox[e] = dg * sz;
            oz[e] = dg * xv[k][e] * dsiluf_(zv[k][e]);
          }
          stv<V>(dx, r * dxs + q * V, dxdt, ox);
          stv<V>(dz, r * dzs + q * V, dzdt, oz);
        }
      }
    }
  }
#pragma unroll
  for (int k = 0; k < NCH; k++) {
    int q = threadIdx.x + k * blockDim.x;
    if (q < nch) {
#pragma unroll
      for (int e = 0; e < V; e++) atomicAdd(&dw[q * V + e], acc[k][e]);
    }
  }
}

// gated_rmsnorm_bwd_loop: as add_rmsnorm_bwd_loop, for the gated norm.
__device__ __forceinline__ void gated_rmsnorm_bwd_loop(const void* x, i64 xs, int xdt, const void* z, i64 zs, int zdt,
                                                       const void* w, int wdt, const float* rstd, const void* dout,
                                                       i64 dos, int dodt, void* dx, i64 dxs, int dxdt, void* dz,
                                                       i64 dzs, int dzdt, float* dw, int rows, int dim, int gs, int rpb,
                                                       float* scratch, float* acc) {
  for (int d = threadIdx.x; d < dim; d += blockDim.x) acc[d] = 0.f;
  int G = dim / gs;
  int r0 = blockIdx.x * rpb, r1 = min(r0 + rpb, rows);
  for (int r = r0; r < r1; r++) {
    for (int j = 0; j < G; j++) {
      float rs = rstd[(i64)r * G + j], dot = 0.f;
      for (int d = j * gs + threadIdx.x; d < (j + 1) * gs; d += blockDim.x) {
        float gh = ld(x, r * xs + d, xdt) * siluf_(ld(z, r * zs + d, zdt)) * rs;
        float go = ld(dout, r * dos + d, dodt);
        dot += go * ld(w, d, wdt) * gh;
        acc[d] += go * gh;
      }
      float mean = block_sum(dot, scratch) / gs;
      for (int d = j * gs + threadIdx.x; d < (j + 1) * gs; d += blockDim.x) {
        float xv = ld(x, r * xs + d, xdt), zv = ld(z, r * zs + d, zdt);
        float gh = xv * siluf_(zv) * rs;
        float dg = rs * (ld(dout, r * dos + d, dodt) * ld(w, d, wdt) - gh * mean);
        st(dx, r * dxs + d, dxdt, dg * siluf_(zv));
        st(dz, r * dzs + d, dzdt, dg * xv * dsiluf_(zv));
      }
    }
  }
  for (int d = threadIdx.x; d < dim; d += blockDim.x) atomicAdd(&dw[d], acc[d]);
}

extern "C" __global__ void __launch_bounds__(512, 1)
    k_gated_rmsnorm_bwd(const void* x, i64 xs, int xdt, const void* z, i64 zs, int zdt, const void* w, int wdt,
    const float* rstd, const void* dout, i64 dos, int dodt, void* dx, i64 dxs, int dxdt, void* dz, i64 dzs, int dzdt,
    float* dw, int rows, int dim, int gs, int rpb, int vec) {
  __shared__ float scratch[32];
  if (vec == 4)
    gated_rmsnorm_bwd<4>(x, xs, xdt, z, zs, zdt, w, wdt, rstd, dout, dos, dodt, dx, dxs, dxdt, dz, dzs, dzdt, dw, rows,
                         dim, gs, rpb, scratch);
  else if (vec == 2)
    gated_rmsnorm_bwd<2>(x, xs, xdt, z, zs, zdt, w, wdt, rstd, dout, dos, dodt, dx, dxs, dxdt, dz, dzs, dzdt, dw, rows,
                         dim, gs, rpb, scratch);
  else if (vec == 1)
    gated_rmsnorm_bwd<1>(x, xs, xdt, z, zs, zdt, w, wdt, rstd, dout, dos, dodt, dx, dxs, dxdt, dz, dzs, dzdt, dw, rows,
                         dim, gs, rpb, scratch);
  else {
    DYN_SMEM(acc);
    gated_rmsnorm_bwd_loop(x, xs, xdt, z, zs, zdt, w, wdt, rstd, dout, dos, dodt, dx, dxs, dxdt, dz, dzs, dzdt, dw, rows,
                           dim, gs, rpb, scratch, acc);
  }
}
