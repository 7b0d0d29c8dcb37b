// Elementwise kernels: fill, scale, convert, sum of squares, embedding, AdamW,
// softmax cross-entropy.
#include "vec.cuh"

// Fill, Scale, Convert: grid-stride loops over vectors of V elements (V = 4
// when the pointers allow 16-byte f32 / 8-byte bf16 accesses, else 1), the
// last n % V elements one by one.
template <int V>
__device__ __forceinline__ void fill_body(void* p, i64 n, int dt, float v) {
  float f[V];
#pragma unroll
  for (int e = 0; e < V; e++) f[e] = v;
  i64 g = blockIdx.x * (i64)blockDim.x + threadIdx.x, stride = (i64)gridDim.x * blockDim.x, nv = n / V;
  for (i64 i = g; i < nv; i += stride) stv<V>(p, i * V, dt, f);
  for (i64 i = nv * V + g; i < n; i += stride) st(p, i, dt, v);
}

extern "C" __global__ void k_fill(void* p, i64 n, int dt, float v, int vec) {
  if (vec == 4)
    fill_body<4>(p, n, dt, v);
  else
    fill_body<1>(p, n, dt, v);
}

template <int V>
__device__ __forceinline__ void scale_body(void* p, i64 n, int dt, float s) {
  i64 g = blockIdx.x * (i64)blockDim.x + threadIdx.x, stride = (i64)gridDim.x * blockDim.x, nv = n / V;
  for (i64 i = g; i < nv; i += stride) {
    float f[V];
    ldv<V>(p, i * V, dt, f);
#pragma unroll
    for (int e = 0; e < V; e++) f[e] *= s;
    stv<V>(p, i * V, dt, f);
  }
  for (i64 i = nv * V + g; i < n; i += stride) st(p, i, dt, ld(p, i, dt) * s);
}

extern "C" __global__ void k_scale(void* p, i64 n, int dt, float s, int vec) {
  if (vec == 4)
    scale_body<4>(p, n, dt, s);
  else
    scale_body<1>(p, n, dt, s);
}

template <int V>
__device__ __forceinline__ void convert_body(void* dst, int ddt, const void* src, int sdt, i64 n) {
  i64 g = blockIdx.x * (i64)blockDim.x + threadIdx.x, stride = (i64)gridDim.x * blockDim.x, nv = n / V;
  for (i64 i = g; i < nv; i += stride) {
    float f[V];
    ldv<V>(src, i * V, sdt, f);
    stv<V>(dst, i * V, ddt, f);
  }
  for (i64 i = nv * V + g; i < n; i += stride) st(dst, i, ddt, ld(src, i, sdt));
}

extern "C" __global__ void k_convert(void* dst, int ddt, const void* src, int sdt, i64 n, int vec) {
  if (vec == 4)
    convert_body<4>(dst, ddt, src, sdt, n);
  else
    convert_body<1>(dst, ddt, src, sdt, n);
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

// k_embed: one block per row, V elements per access (V = 4 when the table's
// rows and the output view allow it); ids outside [0, vocab) give a zero row.
template <int V>
__device__ __forceinline__ void embed_row(const int* ids, const void* table, int tdt, void* out, i64 os, int odt, int r,
                                          int dim, int vocab) {
  int id = ids[r];
  bool ok = id >= 0 && id < vocab;
  for (int d = threadIdx.x * V; d < dim; d += blockDim.x * V) {
    float f[V];
    if (ok) {
      ldv<V>(table, (i64)id * dim + d, tdt, f);
    } else {
#pragma unroll
      for (int e = 0; e < V; e++) f[e] = 0.f;
    }
    stv<V>(out, r * os + d, odt, f);
  }
}

extern "C" __global__ void k_embed(const int* ids, const void* table, int tdt, void* out, i64 os, int odt, int rows,
                                   int dim, int vocab, int vec) {
  int r = blockIdx.x;
  if (r >= rows) return;
  if (vec == 4)
    embed_row<4>(ids, table, tdt, out, os, odt, r, dim, vocab);
  else
    embed_row<1>(ids, table, tdt, out, os, odt, r, dim, vocab);
}

// k_embed_bwd: dtable[id] += dout[r] for every row r. With span > 0: block
// (x, y) sums the rows [y*span, (y+1)*span) into a shared-memory copy of
// columns [32x, 32x+32) of the whole table (vocab*32 floats of dynamic
// shared memory: lane = column, warps over rows, shared atomics), then adds
// its nonzero sums to dtable: one global atomic per block and touched table
// element instead of one per row and column. span == 0 (tables too tall
// for shared memory): one block per row, one global atomic per element.
extern "C" __global__ void k_embed_bwd(const int* ids, const void* dout, i64 ds, int ddt, float* dtable, int rows,
                                       int dim, int vocab, int span) {
  if (span == 0) {
    int r = blockIdx.x;
    if (r >= rows) return;
    int id = ids[r];
    if (id < 0 || id >= vocab) return;
    for (int d = threadIdx.x; d < dim; d += blockDim.x)
      atomicAdd(&dtable[(i64)id * dim + d], ld(dout, r * ds + d, ddt));
    return;
  }
  DYN_SMEM(sm);
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  int c = blockIdx.x * 32 + lane;
  for (int i = threadIdx.x; i < vocab * 32; i += blockDim.x) sm[i] = 0.f;
  __syncthreads();
  i64 r0 = (i64)blockIdx.y * span, r1 = min(r0 + span, (i64)rows);
  if (c < dim) {
    i64 r = r0 + w;
    for (; r + 3 * nw < r1; r += 4 * nw) {  // four rows in flight per warp
      int id[4];
      float v[4];
#pragma unroll
      for (int u = 0; u < 4; u++) {
        id[u] = ids[r + u * nw];
        v[u] = ld(dout, (r + u * nw) * ds + c, ddt);
      }
#pragma unroll
      for (int u = 0; u < 4; u++)
        if (id[u] >= 0 && id[u] < vocab) atomicAdd(&sm[id[u] * 32 + lane], v[u]);
    }
    for (; r < r1; r += nw) {
      int id = ids[r];
      if (id >= 0 && id < vocab) atomicAdd(&sm[id * 32 + lane], ld(dout, r * ds + c, ddt));
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < vocab * 32; i += blockDim.x) {
    int col = blockIdx.x * 32 + (i & 31);
    float v = sm[i];
    if (v != 0.f && col < dim) atomicAdd(&dtable[(i64)(i >> 5) * dim + col], v);
  }
}

// k_adamw: PyTorch AdamW; bc1 = 1-beta1^step, bc2 = 1-beta2^step from the host.
extern "C" __global__ void k_adamw(float* p, const float* g, float* m, float* v, void* cp, int cdt, i64 n, float lr,
                                   float b1, float b2, float eps, float wd, float gscale, float bc1, float bc2) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float pi = adamw_elem(p, m, v, i, gscale * g[i], lr, b1, b2, eps, wd, bc1, bc2);
    if (cp) st(cp, i, cdt, pi);
  }
}

// k_xent: fused softmax cross-entropy, one warp per row (8 rows per block
// of 256 threads). Rows of up to 32*XENT_MAXC logits are read once into
// registers (lane l holds columns l, l+32, ...); longer rows are read three
// times. dl may alias logits (gpumodel's f32 backward writes the gradient
// in place): every lane reads only its own columns before writing them,
// except Logits[lab] (xl), which lane 0 uses; warp_sync orders that read
// before the other lanes' stores (a shuffle is no memory fence, and the
// compiler may sink the load to its use). dl == 0 skips the gradient.
#define XENT_MAXC 16
extern "C" __global__ void k_xent(const void* logits, i64 ls, int ldt, const int* labels, float* losses, void* dl,
                                  i64 dls, int dldt, int rows, int vocab, float gscale) {
  int lane = threadIdx.x & 31;
  i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (r >= rows) return;  // the whole warp
  int lab = labels[r];
  bool ignored = lab < 0 || lab >= vocab;  // IgnoreIndex and bad labels
  const i64 base = r * ls, dbase = r * dls;
  float xl = ignored ? 0.f : ld(logits, base + lab, ldt);  // before dl (maybe the logits) is written
  if (vocab <= 32 * XENT_MAXC) {
    float v[XENT_MAXC];
    float mx = -INFINITY;
#pragma unroll
    for (int k = 0; k < XENT_MAXC; k++) {
      int c = lane + 32 * k;
      v[k] = c < vocab ? ld(logits, base + c, ldt) : -INFINITY;
      mx = fmaxf(mx, v[k]);
    }
    mx = warp_max(mx);
    float se = 0.f;
#pragma unroll
    for (int k = 0; k < XENT_MAXC; k++)
      if (lane + 32 * k < vocab) se += __expf(v[k] - mx);
    float lse = mx + logf(warp_sum(se));
    if (lane == 0) losses[r] = ignored ? 0.f : lse - xl;
    warp_sync();  // lane 0 has read Logits[lab] (xl) before any lane writes dl, which may alias it
    if (!dl) return;
#pragma unroll
    for (int k = 0; k < XENT_MAXC; k++) {
      int c = lane + 32 * k;
      if (c < vocab) {
        float g = 0.f;
        if (!ignored) {
          g = __expf(v[k] - lse);
          if (c == lab) g -= 1.f;
          g *= gscale;
        }
        st(dl, dbase + c, dldt, g);
      }
    }
    return;
  }
  float mx = -INFINITY;
  for (int c = lane; c < vocab; c += 32) mx = fmaxf(mx, ld(logits, base + c, ldt));
  mx = warp_max(mx);
  float se = 0.f;
  for (int c = lane; c < vocab; c += 32) se += __expf(ld(logits, base + c, ldt) - mx);
  float lse = mx + logf(warp_sum(se));
  if (lane == 0) losses[r] = ignored ? 0.f : lse - xl;
  warp_sync();  // as above
  if (!dl) return;
  for (int c = lane; c < vocab; c += 32) {
    float g = 0.f;
    if (!ignored) {
      g = __expf(ld(logits, base + c, ldt) - lse);
      if (c == lab) g -= 1.f;
      g *= gscale;
    }
    st(dl, dbase + c, dldt, g);
  }
}
