// Elementwise kernels: fill, scale, convert, sum of squares, embedding, AdamW.
#include "common.cuh"

extern "C" __global__ void k_fill(void* p, i64 n, int dt, float v) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) st(p, i, dt, v);
}

extern "C" __global__ void k_scale(void* p, i64 n, int dt, float s) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x)
    st(p, i, dt, ld(p, i, dt) * s);
}

extern "C" __global__ void k_convert(void* dst, int ddt, const void* src, int sdt, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x)
    st(dst, i, ddt, ld(src, i, sdt));
}

// k_sumsq adds the sum of squares of p to *out (one double atomic per block).
extern "C" __global__ void k_sumsq(const void* p, i64 n, int dt, double* out) {
  __shared__ float scratch[32];
  float s = 0.f;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float v = ld(p, i, dt);
    s += v * v;
  }
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) atomicAdd(out, (double)s);
}

// k_embed: one block per row; ids outside [0, vocab) give a zero row.
extern "C" __global__ void k_embed(const int* ids, const void* table, int tdt, void* out, i64 os, int odt, int rows,
                                   int dim, int vocab) {
  int r = blockIdx.x;
  if (r >= rows) return;
  int id = ids[r];
  bool ok = id >= 0 && id < vocab;
  for (int d = threadIdx.x; d < dim; d += blockDim.x)
    st(out, r * os + d, odt, ok ? ld(table, (i64)id * dim + d, tdt) : 0.f);
}

extern "C" __global__ void k_embed_bwd(const int* ids, const void* dout, i64 ds, int ddt, float* dtable, int rows,
                                       int dim, int vocab) {
  int r = blockIdx.x;
  if (r >= rows) return;
  int id = ids[r];
  if (id < 0 || id >= vocab) return;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) atomicAdd(&dtable[(i64)id * dim + d], ld(dout, r * ds + d, ddt));
}

// k_adamw: PyTorch AdamW; bc1 = 1-beta1^step, bc2 = 1-beta2^step from the host.
extern "C" __global__ void k_adamw(float* p, const float* g, float* m, float* v, void* cp, int cdt, i64 n, float lr,
                                   float b1, float b2, float eps, float wd, float gscale, float bc1, float bc2) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float gi = gscale * g[i];
    float pi = p[i] * (1.f - lr * wd);
    float mi = b1 * m[i] + (1.f - b1) * gi;
    float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    pi -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
    if (cp) st(cp, i, cdt, pi);
  }
}

// k_xent: fused softmax cross-entropy, one block per row. dl may alias
// logits; dl == 0 skips the gradient.
extern "C" __global__ void k_xent(const void* logits, i64 ls, int ldt, const int* labels, float* losses, void* dl,
                                  i64 dls, int dldt, int rows, int vocab, float gscale) {
  __shared__ float scratch[32];
  __shared__ float s_lab;
  int r = blockIdx.x;
  if (r >= rows) return;
  int lab = labels[r];
  bool ignored = lab < 0 || lab >= vocab;  // IgnoreIndex and bad labels
  const i64 base = r * ls;
  float mx = -INFINITY;
  for (int v = threadIdx.x; v < vocab; v += blockDim.x) mx = fmaxf(mx, ld(logits, base + v, ldt));
  mx = block_max(mx, scratch);
  float se = 0.f;
  for (int v = threadIdx.x; v < vocab; v += blockDim.x) se += __expf(ld(logits, base + v, ldt) - mx);
  se = block_sum(se, scratch);
  float lse = mx + logf(se);
  if (threadIdx.x == 0) s_lab = ignored ? 0.f : ld(logits, base + lab, ldt);
  __syncthreads();
  if (threadIdx.x == 0) losses[r] = ignored ? 0.f : lse - s_lab;
  if (!dl) return;
  const i64 dbase = r * dls;
  for (int v = threadIdx.x; v < vocab; v += blockDim.x) {
    float g = 0.f;
    if (!ignored) {
      g = __expf(ld(logits, base + v, ldt) - lse);
      if (v == lab) g -= 1.f;
      g *= gscale;
    }
    st(dl, dbase + v, dldt, g);
  }
}
