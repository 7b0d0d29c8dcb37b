// Depthwise causal conv1d (+ SiLU) over [rows = batch*seq, channels] views:
// forward, backward (input gradient and weight/bias gradient in one pass)
// and decode step.
//
// Training kernels: thread (x) per V consecutive channels (V-element vector
// loads, chosen on the host from the views' alignment; V = 1 for W > 4, so
// that the wide register windows exist only in the scalar variant), block y per tile of
// `tile` consecutive rows, walked in order with the last W inputs (and, in
// the backward, the last W pre-activation gradients) of each channel in
// registers, so that every input element is read once per tile plus a halo
// of W-1 rows (instead of W times in the forward and ~W*W+2W times in the
// old backward, which recomputed the pre-activation for every use).
#include "vec.cuh"

#define CONV_MAXW 8  // Width <= CONV_MAXW (checked on the host)

// conv_fwd: rows [r0, r0+tile) of channels c..c+V-1; MW >= W.
template <int V, int MW>
__device__ __forceinline__ void conv_fwd(const void* x, i64 xs, int xdt, const void* w, int wdt, const void* bias,
                                         int bdt, void* out, i64 os, int odt, int T, int W, int act, int c, i64 r0,
                                         i64 r1) {
  float wv[V][MW], bv[V], hx[V][MW];  // hx[v][j] = x[r-j]
#pragma unroll
  for (int v = 0; v < V; v++) {
    bv[v] = bias ? ld(bias, c + v, bdt) : 0.f;
#pragma unroll
    for (int j = 0; j < MW; j++) {
      wv[v][j] = j < W ? ld(w, (i64)(c + v) * W + (W - 1 - j), wdt) : 0.f;  // tap of x[r-j]
      hx[v][j] = 0.f;
    }
  }
  // halo: the W-1 rows before r0 (masked per row by its sequence position)
  for (i64 r = max(r0 - (W - 1), (i64)0); r < r0; r++) {
    float f[V];
    ldv<V>(x, r * xs + c, xdt, f);
#pragma unroll
    for (int v = 0; v < V; v++) {
#pragma unroll
      for (int j = MW - 1; j > 0; j--) hx[v][j] = hx[v][j - 1];
      hx[v][0] = f[v];
    }
  }
  int t = (int)(r0 % T);
  float f[V];  // row r's inputs, loaded one row ahead
  ldv<V>(x, r0 * xs + c, xdt, f);
  for (i64 r = r0; r < r1; r++, t = t + 1 == T ? 0 : t + 1) {
    float fn[V], o[V];
    if (r + 1 < r1) ldv<V>(x, (r + 1) * xs + c, xdt, fn);
#pragma unroll
    for (int v = 0; v < V; v++) {
#pragma unroll
      for (int j = MW - 1; j > 0; j--) hx[v][j] = hx[v][j - 1];
      hx[v][0] = f[v];
      float s = bv[v];
#pragma unroll
      for (int j = 0; j < MW; j++)
        if (j <= t) s += wv[v][j] * hx[v][j];  // wv is 0 past W
      o[v] = act ? siluf_(s) : s;
      f[v] = fn[v];
    }
    stv<V>(out, r * os + c, odt, o);
  }
}

extern "C" __global__ void k_conv1d(const void* x, i64 xs, int xdt, const void* w, int wdt, const void* bias, int bdt,
                                    void* out, i64 os, int odt, int B, int T, int C, int W, int act, int vec, int tile) {
  int c = (blockIdx.x * blockDim.x + threadIdx.x) * vec;
  if (c >= C) return;
  i64 rows = (i64)B * T, r0 = (i64)blockIdx.y * tile, r1 = min(r0 + tile, rows);
  if (vec == 4)
    conv_fwd<4, 4>(x, xs, xdt, w, wdt, bias, bdt, out, os, odt, T, W, act, c, r0, r1);
  else if (vec == 2)
    conv_fwd<2, 4>(x, xs, xdt, w, wdt, bias, bdt, out, os, odt, T, W, act, c, r0, r1);
  else {
    conv_fwd<1, CONV_MAXW>(x, xs, xdt, w, wdt, bias, bdt, out, os, odt, T, W, act, c, r0, r1);
  }
}

// conv_bwd: for rows [r0, r1) of channels c..c+V-1, dx and the partial sums
// of dweight/dbias. With dpre[r] = dout[r] * silu'(pre[r]) (or dout):
//   dx[s]    = sum_k w[k] dpre[s+(W-1)-k]   (same sequence)
//   dw[k]   += sum_t dpre[t] x[t-(W-1)+k],  db += sum_t dpre[t]
// Rows r = r0 .. r1+W-2 are walked in order; at row r, dpre[r] is computed
// from the last W inputs and dx of row r-(W-1) from the last W dpre.
template <int V, int MW>
__device__ __forceinline__ void conv_bwd(const void* x, i64 xs, int xdt, const void* w, int wdt, const void* bias,
                                         int bdt, const void* dout, i64 dos, int dodt, void* dx, i64 dxs, int dxdt,
                                         float* dw, float* db, int T, int W, int act, int c, i64 r0, i64 r1,
                                         i64 rows) {
  // wv[v][j]: the tap of x[r-j]; wf[v][j]: tap j; hd[v][j] = dpre[r-j];
  // aw[v][j]: dweight of the tap of x[r-j]
  float wv[V][MW], wf[V][MW], bv[V], hx[V][MW], hd[V][MW], aw[V][MW], ab[V];
#pragma unroll
  for (int v = 0; v < V; v++) {
    bv[v] = bias ? ld(bias, c + v, bdt) : 0.f;
    ab[v] = 0.f;
#pragma unroll
    for (int j = 0; j < MW; j++) {
      wv[v][j] = j < W ? ld(w, (i64)(c + v) * W + (W - 1 - j), wdt) : 0.f;
      wf[v][j] = j < W ? ld(w, (i64)(c + v) * W + j, wdt) : 0.f;
      hx[v][j] = hd[v][j] = aw[v][j] = 0.f;
    }
  }
  for (i64 r = max(r0 - (W - 1), (i64)0); r < r0; r++) {
    float f[V];
    ldv<V>(x, r * xs + c, xdt, f);
#pragma unroll
    for (int v = 0; v < V; v++) {
#pragma unroll
      for (int j = MW - 1; j > 0; j--) hx[v][j] = hx[v][j - 1];
      hx[v][0] = f[v];
    }
  }
  i64 rend = r1 + (W - 1);
  // t: position of row r in its sequence; ts: that of row r-(W-1), whose dx
  // is written at row r (meaningless while r-(W-1) < r0: nothing written)
  int t = (int)(r0 % T), ts = (int)(((r0 - (W - 1)) % T + T) % T);
  float f[V], g[V];  // row r's inputs and output gradients, loaded one row ahead
  if (r0 < rows) {
    ldv<V>(x, r0 * xs + c, xdt, f);
    ldv<V>(dout, r0 * dos + c, dodt, g);
  }
  for (i64 r = r0; r < rend; r++, t = t + 1 == T ? 0 : t + 1, ts = ts + 1 == T ? 0 : ts + 1) {
    bool in = r < rows;  // past the last row: dpre = 0 (as past a sequence's end)
    float fn[V], gn[V], o[V];
    if (r + 1 < rend && r + 1 < rows) {
      ldv<V>(x, (r + 1) * xs + c, xdt, fn);
      ldv<V>(dout, (r + 1) * dos + c, dodt, gn);
    }
#pragma unroll
    for (int v = 0; v < V; v++) {
#pragma unroll
      for (int j = MW - 1; j > 0; j--) {
        hx[v][j] = hx[v][j - 1];
        hd[v][j] = hd[v][j - 1];
      }
      hx[v][0] = in ? f[v] : 0.f;
      float d = 0.f;
      if (in) {
        d = g[v];
        if (act) {
          float s = bv[v];
#pragma unroll
          for (int j = 0; j < MW; j++)
            if (j <= t) s += wv[v][j] * hx[v][j];
          d *= dsiluf_(s);
        }
      }
      hd[v][0] = d;
      if (r < r1) {
        ab[v] += d;
#pragma unroll
        for (int j = 0; j < MW; j++)
          if (j <= t) aw[v][j] += d * hx[v][j];
      }
      // dx[r-(W-1)] = sum_j w[j] dpre[r-j] over the rows r-j of its own
      // sequence: those at most T-1-ts rows after it (wf is 0 past W)
      float a = 0.f;
#pragma unroll
      for (int j = 0; j < MW; j++)
        if (W - 1 - j <= T - 1 - ts) a += wf[v][j] * hd[v][j];
      o[v] = a;
      f[v] = fn[v];
      g[v] = gn[v];
    }
    i64 s = r - (W - 1);
    if (s >= r0) stv<V>(dx, s * dxs + c, dxdt, o);
  }
#pragma unroll
  for (int v = 0; v < V; v++) {
#pragma unroll
    for (int j = 0; j < MW; j++)
      if (j < W) atomicAdd(&dw[(i64)(c + v) * W + (W - 1 - j)], aw[v][j]);
    if (db) atomicAdd(&db[c + v], ab[v]);
  }
}

// k_conv1d_bwd: dx (overwritten) and dweight/dbias (accumulated: one atomic
// per thread and tap at the end).
extern "C" __global__ void k_conv1d_bwd(const void* x, i64 xs, int xdt, const void* w, int wdt, const void* bias,
                                        int bdt, const void* dout, i64 dos, int dodt, void* dx, i64 dxs, int dxdt,
                                        float* dw, float* db, int B, int T, int C, int W, int act, int vec, int tile) {
  int c = (blockIdx.x * blockDim.x + threadIdx.x) * vec;
  if (c >= C) return;
  i64 rows = (i64)B * T, r0 = (i64)blockIdx.y * tile, r1 = min(r0 + tile, rows);
  if (vec == 4)
    conv_bwd<4, 4>(x, xs, xdt, w, wdt, bias, bdt, dout, dos, dodt, dx, dxs, dxdt, dw, db, T, W, act, c, r0, r1, rows);
  else if (vec == 2)
    conv_bwd<2, 4>(x, xs, xdt, w, wdt, bias, bdt, dout, dos, dodt, dx, dxs, dxdt, dw, db, T, W, act, c, r0, r1, rows);
  else {
    conv_bwd<1, CONV_MAXW>(x, xs, xdt, w, wdt, bias, bdt, dout, dos, dodt, dx, dxs, dxdt, dw, db, T, W, act, c, r0, r1,
                           rows);
  }
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
