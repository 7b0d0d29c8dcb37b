// SSD scan (Mamba2) in mamba-ssm's chunked matmul form ("state space
// duality"). Per sequence b, chunk c of L steps (the last one may be short,
// Lc <= L) and head h, with dt_t = softplus(DT + bias), A = -exp(A_log) and
// cum_t = A * sum_{k<=t} dt_k inside the chunk:
//
//   S_c    = sum_s exp(cum_L - cum_s) dt_s x_s B_s^T          (k_ssd_chunk_state)
//   CB_c   = C B^T per group, lower 64x64 tiles                (k_ssd_chunk_state)
//   Hin_c  = exp(cum_L(c-1)) Hin_{c-1} + S_{c-1}, Hin_0 = 0   (k_ssd_chunk_pass)
//   y_t    = sum_{s<=t} (C_t.B_s) exp(cum_t - cum_s) dt_s x_s
//            + exp(cum_t) Hin_c C_t + D x_t                    (k_ssd_chunk_out)
//
// The products C B^T, (L x L)(L x P), C Hin^T and X^T (w B) are 64x64 tiles
// on tensor cores (mma.sync m16n8k16, bf16 inputs rounded as mamba-ssm's
// Triton dots round them, fp32 accumulation) when the operands are bf16, or
// fp32 FMAs with the same tiling when they are fp32. Operands are strided
// views read 16 bytes at a time (cp.async where no scaling is applied) into
// swizzled bf16 tiles, two stages deep, and reach the mma through ldmatrix
// (ssd_gemm). C B^T does not depend on the head: it is computed once per
// chunk and group (fp32 scratch) and read by every head. Only the
// chunk-entering states Hin ([B, nc, H, P, N] fp32) and CB are stored; the
// backward recomputes the rest per chunk:
//
//   dHin_c (local) = sum_t exp(cum_t) dy_t C_t^T               (k_ssd_bwd_dstate)
//   dHend_c = gradient of the state leaving chunk c from later chunks,
//   dlast_c = exp(cum_L) <dHend_c, Hin_c>                      (k_ssd_bwd_pass)
//   per chunk, three block roles (k_ssd_bwd; DB and DC compute each
//   (dy_t . x_s) tile once and reuse it for every 64-wide strip of N):
//     DX: dxs_s = sum_{t>=s} (C_t.B_s) e^{cum_t-cum_s} dy_t + e^{cum_L-cum_s} dHend B_s;
//         dx_s = D dy_s + dt_s dxs_s; ddt_direct_s = x_s . dxs_s; dD += x . dy;
//         V_s = dt_s x_s . (e^{cum_L-cum_s} dHend B_s)
//     DB: dB_s = dt_s (sum_{t>=s} e^{cum_t-cum_s} (dy_t.x_s) C_t + e^{cum_L-cum_s} dHend^T x_s)
//     DC: dC_t = sum_{s<=t} e^{cum_t-cum_s} dt_s (dy_t.x_s) B_s + e^{cum_t} Hin^T dy_t;
//         off_t = C_t . (e^{cum_t} Hin^T dy_t);
//         da_k += sum_{t>=k} sum_{s<k} W[t,s], W = (dy_t.x_s)(C_t.B_s) e^{cum_t-cum_s} dt_s
//   da_k = that + sum_{t>=k} off_t + sum_{s<k} V_s + dlast_c, ddt = ddt_direct
//   + A da, dA += sum dt da                                    (k_ssd_bwd_dt)
//
// Each term of da_k is the gradient of one exp(a_{s+1} + .. + a_t) factor
// (s < k <= t) summed directly, never as a difference of large sums, so the
// bf16 rounding of the products does not cancel badly (mamba-ssm's
// _chunk_scan_bwd_ddAcs_stable does the same).
//
// Work per (chunk, head) at NetSSM's shape (P=64, N=128, L=256, H=24, G=1;
// unit u = one 64x64x64 mma tile product, 0.52 MFLOP; 8,192 tokens = 768
// (chunk, head) pairs): chunk_state 8u (+ CB 20u per group = 0.8u per
// head), chunk_out 8u (C Hin^T) + 10u (G X); backward: chunk_state again
// 8.8u, bwd_dstate 8u, DX 8u + 10u, DB 8u + 10u + 20u, DC 8u + 10u + 20u.
// Forward 26.8u (was 46u when every head recomputed C B^T), backward 110.8u
// (was 170u). Bytes and the roofline: docs/gpu.md, "SSD scan"; the model is
// ssdWork in gpu/cuda/ssd_test.go.
//
// k_ssd_fwd (the old sequential recurrence on fp32 CUDA cores) stays for
// Backend.SequentialScan, to compare against; k_ssd_step is the decode step.
#include "common.cuh"
#include "mma.cuh"

#define SSD_TILE 64  // rows and columns of a block's output tile
#define SSD_KT 32    // k-step of the staged operand tiles
#define SSD_LD 33    // padded row of a staged fp32 tile (floats)
#define SSD_GLD 65   // padded row of the L x L tile (floats)
#define SSD_THREADS 128
// Dynamic shared memory of the tile kernels, in floats: two operand regions
// (an fp32 tile [64][SSD_LD], or two stages of a bf16 64x32 tile), the
// L x L tile g [64][SSD_GLD], SSD_THREADS floats of reduction scratch, then
// 3*ChunkSize floats of per-step arrays (dt, cum, a per-kernel factor;
// rounded up to 16 bytes), then (k_ssd_bwd with keep) the kept G tiles.
// gpu/cuda/ssd.go's ssdSmem and ssdBwdPlan mirror it.
#define SSD_OPF (SSD_TILE * SSD_LD)
#define SSD_GKL 72  // row of a kept bf16 G tile (halves): 144 bytes keep 16-byte chunks aligned
#define SSD_SMEM_FIXED (2 * SSD_OPF + SSD_TILE * SSD_GLD + SSD_THREADS)

#ifdef NETSSM_EMU
struct __attribute__((aligned(16))) ssd_u4 {
  unsigned x, y, z, w;
};
#else
typedef uint4 ssd_u4;
#endif

// Shared memory of the tile kernels (all dynamic: ldmatrix reads it).
// ssd_steps_floats: the per-step arrays (3 per step), rounded up to 16 bytes.
__device__ __forceinline__ int ssd_steps_floats(int L) { return (3 * L + 3) & ~3; }

struct ssd_smem {
  float *a, *b, *g, *part, *steps;
};

__device__ __forceinline__ ssd_smem ssd_smem_setup(float* dyn) {
  ssd_smem s;
  s.a = dyn;
  s.b = dyn + SSD_OPF;
  s.g = dyn + 2 * SSD_OPF;
  s.part = s.g + SSD_TILE * SSD_GLD;
  s.steps = s.part + SSD_THREADS;
  return s;
}

__device__ __forceinline__ unsigned ssd_pack(float lo, float hi) {
  return (unsigned)f2bf(lo) | ((unsigned)f2bf(hi) << 16);
}

__device__ __forceinline__ ssd_u4 ssd_pack8(const float* v) {
  ssd_u4 u;
  u.x = ssd_pack(v[0], v[1]);
  u.y = ssd_pack(v[2], v[3]);
  u.z = ssd_pack(v[4], v[5]);
  u.w = ssd_pack(v[6], v[7]);
  return u;
}

// ssd_gm is a matrix in global memory (fp32 or bf16): element (r, c) at
// p[r*s + c] for 0 <= r < rn, 0 <= c < cn, zero elsewhere, times rs[r]
// (shared memory) when rs is set. Rows are time steps of the chunk, columns
// features (p or n), contiguous. vec: rows start 16-byte aligned, so 8
// consecutive columns are one 16-byte (bf16) or two (fp32) vector loads.
struct ssd_gm {
  const void* p;
  i64 s;
  int dt, rn, cn;
  const float* rs;
  bool vec;
};

// ssd_mat makes the ssd_gm of the view base[off + r*s + c].
__device__ __forceinline__ ssd_gm ssd_mat(const void* base, i64 s, int dt, i64 off, int rn, int cn,
                                          const float* rs = nullptr) {
  ssd_gm m;
  m.p = (const char*)base + off * (dt == DT_BF16 ? 2 : 4);
  m.s = s;
  m.dt = dt;
  m.rn = rn;
  m.cn = cn;
  m.rs = rs;
  m.vec = ((unsigned long long)m.p & 15) == 0 && (s & (dt == DT_BF16 ? 7 : 3)) == 0;
  return m;
}

__device__ __forceinline__ float ssd_at(const ssd_gm& m, int r, int c) {
  if (r >= m.rn || c >= m.cn) return 0.f;
  float v = ld(m.p, (i64)r * m.s + c, m.dt);
  return m.rs ? v * m.rs[r] : v;
}

// ssd_row8 is (r, c..c+7) of m as 8 bf16 (zero at columns >= cmax).
__device__ __forceinline__ ssd_u4 ssd_row8(const ssd_gm& m, int r, int c, int cmax) {
  float v[8];
  if (r >= m.rn || c >= cmax) {
    ssd_u4 z;
    z.x = z.y = z.z = z.w = 0u;
    return z;
  }
  if (m.vec && c + 8 <= cmax) {
    if (m.dt == DT_BF16) {
      ssd_u4 u = *(const ssd_u4*)((const unsigned short*)m.p + (i64)r * m.s + c);
      if (!m.rs) return u;
      const unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
      for (int j = 0; j < 4; j++) {
        v[2 * j] = bf2f((unsigned short)(w[j] & 0xffffu));
        v[2 * j + 1] = bf2f((unsigned short)(w[j] >> 16));
      }
    } else {
      const float* q = (const float*)m.p + (i64)r * m.s + c;
      float4 a = *(const float4*)q, b = *(const float4*)(q + 4);
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    }
  } else {
#pragma unroll
    for (int j = 0; j < 8; j++) v[j] = c + j < cmax ? ld(m.p, (i64)r * m.s + c + j, m.dt) : 0.f;
  }
  if (m.rs) {
    const float sc = m.rs[r];
#pragma unroll
    for (int j = 0; j < 8; j++) v[j] *= sc;
  }
  return ssd_pack8(v);
}

// ssd_put8 stores (r, c..c+7) of m (zero at columns >= cmax) as 8 bf16 at
// dst (16-byte aligned shared memory): by cp.async when m is bf16, aligned
// and unscaled (the caller waits for it), else through registers.
__device__ __forceinline__ void ssd_put8(const ssd_gm& m, int r, int c, int cmax, unsigned short* dst) {
  if (m.vec && m.dt == DT_BF16 && !m.rs) {
    const void* src = m.p;
    int bytes = 0;
    if (r < m.rn && c < cmax) {
      src = (const unsigned short*)m.p + (i64)r * m.s + c;
      bytes = min(cmax - c, 8) * 2;
    }
    cp_async16(dst, src, bytes);
  } else {
    *(ssd_u4*)dst = ssd_row8(m, r, c, cmax);
  }
}

// Operands of ssd_gemm are 64 x K tiles, element (i, k) (i: the output row
// for A, the output column for B), given by one of:
//   ssd_rows (TR 0): (i, k) = m(r0 + i, k): k runs along m's columns;
//   ssd_cols (TR 1): (i, k) = m(r0 + k, i): k runs along m's rows (time);
//   ssd_fn<TR>: (i, k) = f(i, k), TR naming the index that runs fastest;
//   ssd_sbo (TR 0): a bf16 tile in shared memory, (i, k) at p[i*SSD_GKL + k].
// A bf16 tile is stored in the operand's own layout, so that 8 consecutive
// elements along its contiguous index are one 16-byte store: TR 0 as
// [64 i][32 k], chunk kc of row i at chunk slot kc ^ ((i >> 1) & 3); TR 1 as
// [32 k][64 i], chunk ic of row k at slot ic ^ (k & 7) (gemm.cu's swizzles:
// the 8 rows of an ldmatrix matrix and the chunks a quarter-warp stores hit
// 8 different bank groups). Fragments come from ldmatrix (TR 0) or
// ldmatrix.trans (TR 1).
struct ssd_rows {
  enum { TR = 0 };
  ssd_gm m;
  int r0;
  __device__ __forceinline__ float val(int i, int k, int K) const { return k < K ? ssd_at(m, r0 + i, k) : 0.f; }
  __device__ __forceinline__ void put(unsigned short* dst, int i, int k, int K) const {
    ssd_put8(m, r0 + i, k, min(m.cn, K), dst);
  }
};
struct ssd_cols {
  enum { TR = 1 };
  ssd_gm m;
  int r0;
  __device__ __forceinline__ float val(int i, int k, int K) const { return k < K ? ssd_at(m, r0 + k, i) : 0.f; }
  __device__ __forceinline__ void put(unsigned short* dst, int i, int k, int K) const {
    if (k < K) {
      ssd_put8(m, r0 + k, i, m.cn, dst);
    } else {
      ssd_u4 z;
      z.x = z.y = z.z = z.w = 0u;
      *(ssd_u4*)dst = z;
    }
  }
};
template <int TRV, class F>
struct ssd_fn {
  enum { TR = TRV };
  F f;
  __device__ __forceinline__ float val(int i, int k, int K) const { return k < K ? f(i, k) : 0.f; }
  __device__ __forceinline__ ssd_u4 chunk(int i, int k, int K) const {
    float v[8];
#pragma unroll
    for (int j = 0; j < 8; j++) v[j] = TR ? (k < K ? f(i + j, k) : 0.f) : (k + j < K ? f(i, k + j) : 0.f);
    return ssd_pack8(v);
  }
  __device__ __forceinline__ void put(unsigned short* dst, int i, int k, int K) const {
    *(ssd_u4*)dst = chunk(i, k, K);
  }
};
struct ssd_sbo {
  enum { TR = 0 };
  const unsigned short* p;
  __device__ __forceinline__ float val(int i, int k, int K) const { return k < K ? bf2f(p[i * SSD_GKL + k]) : 0.f; }
  __device__ __forceinline__ ssd_u4 chunk(int i, int k, int K) const {
    if (k + 8 <= K) return *(const ssd_u4*)(p + i * SSD_GKL + k);
    float v[8];
#pragma unroll
    for (int j = 0; j < 8; j++) v[j] = k + j < K ? bf2f(p[i * SSD_GKL + k + j]) : 0.f;
    return ssd_pack8(v);
  }
  __device__ __forceinline__ void put(unsigned short* dst, int i, int k, int K) const {
    *(ssd_u4*)dst = chunk(i, k, K);
  }
};
__device__ __forceinline__ ssd_sbo ssd_sb(const unsigned short* p) {
  ssd_sbo o;
  o.p = p;
  return o;
}
__device__ __forceinline__ ssd_rows ssd_r(const ssd_gm& m, int r0) {
  ssd_rows o;
  o.m = m;
  o.r0 = r0;
  return o;
}
__device__ __forceinline__ ssd_cols ssd_c(const ssd_gm& m, int r0) {
  ssd_cols o;
  o.m = m;
  o.r0 = r0;
  return o;
}
template <int TR, class F>
__device__ __forceinline__ ssd_fn<TR, F> ssd_f(F f) {
  ssd_fn<TR, F> o{f};
  return o;
}

__device__ __forceinline__ void ssd_zero(float (&acc)[8][4]) {
#pragma unroll
  for (int i = 0; i < 8; i++)
#pragma unroll
    for (int r = 0; r < 4; r++) acc[i][r] = 0.f;
}

// ssd_each calls f(row, col, value) for the block tile's accumulator entries
// this thread holds: warp w owns rows 16w..16w+15, all 64 columns, in the
// mma m16n8 fragment layout.
template <class F>
__device__ __forceinline__ void ssd_each(float (&acc)[8][4], F f) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, tig = lane & 3;
#pragma unroll
  for (int nt = 0; nt < 8; nt++)
#pragma unroll
    for (int r = 0; r < 4; r++) f(16 * w + g + (r >= 2 ? 8 : 0), nt * 8 + 2 * tig + (r & 1), acc[nt][r]);
}

// ssd_scale_rows multiplies row m of the tile by f(m).
template <class F>
__device__ __forceinline__ void ssd_scale_rows(float (&acc)[8][4], F f) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2;
  const float s0 = f(16 * w + g), s1 = f(16 * w + g + 8);
#pragma unroll
  for (int nt = 0; nt < 8; nt++) {
    acc[nt][0] *= s0;
    acc[nt][1] *= s0;
    acc[nt][2] *= s1;
    acc[nt][3] *= s1;
  }
}

// ssd_stage_bf stores k in [k0, k0 + 32) of operand o as bf16 (layout: see
// ssd_rows), 8 elements (16 bytes) per store or cp.async.
template <class O>
__device__ __forceinline__ void ssd_stage_bf(unsigned short* dst, int k0, int K, const O& o) {
#pragma unroll
  for (int c = threadIdx.x; c < SSD_TILE * SSD_KT / 8; c += SSD_THREADS) {
    if (O::TR) {
      const int k = c >> 3, ic = c & 7;
      o.put(dst + k * SSD_TILE + ((ic ^ (k & 7)) << 3), ic << 3, k0 + k, K);
    } else {
      const int i = c >> 2, kc = c & 3;
      o.put(dst + i * SSD_KT + ((kc ^ ((i >> 1) & 3)) << 3), i, k0 + (kc << 3), K);
    }
  }
}

// ssd_stage_f32: dst[i*SSD_LD + k] = o(i, k0 + k), the contiguous index of
// the operand fastest over the threads.
template <class O>
__device__ __forceinline__ void ssd_stage_f32(float* dst, int k0, int K, const O& o) {
  for (int c = threadIdx.x; c < SSD_TILE * SSD_KT; c += SSD_THREADS) {
    const int i = O::TR ? c % SSD_TILE : c / SSD_KT, k = O::TR ? c / SSD_TILE : c % SSD_KT;
    dst[i * SSD_LD + k] = o.val(i, k0 + k, K);
  }
}

// ssd_gemm: acc[m][n] += sum_{k<K} A(m, k) B(n, k) for the 64x64 tile
// (operands: see ssd_rows), 32 values of k at a time. bf: operands rounded
// to bf16 while staging, two stages (each operand's region holds two bf16
// tiles): step k+1 is copied (cp.async where the operand allows) while step
// k's fragments go through ldmatrix and mma.sync (fp32 accumulation); else
// fp32 tiles and FMAs. Every thread of the block must call it (it
// synchronises the block, and ends with a barrier and no copy in flight).
template <class OA, class OB>
__device__ __forceinline__ void ssd_gemm(float (&acc)[8][4], int K, bool bf, const ssd_smem& sm, const OA& oa,
                                         const OB& ob) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, tig = lane & 3;
  if (bf) {
    unsigned short *ah = (unsigned short*)sm.a, *bh = (unsigned short*)sm.b;
    const int nk = (K + SSD_KT - 1) / SSD_KT, j = lane >> 3, r = lane & 7;
    ssd_stage_bf(ah, 0, K, oa);
    ssd_stage_bf(bh, 0, K, ob);
    cp_async_commit();
    for (int kt = 0; kt < nk; kt++) {
      if (kt + 1 < nk) {  // the other stage was last read before the barrier that ended step kt-1
        const int nx = ((kt + 1) & 1) * SSD_TILE * SSD_KT;
        ssd_stage_bf(ah + nx, (kt + 1) * SSD_KT, K, oa);
        ssd_stage_bf(bh + nx, (kt + 1) * SSD_KT, K, ob);
        cp_async_commit();
        cp_async_wait<1>();
      } else {
        cp_async_wait<0>();
      }
      __syncthreads();
      const unsigned short *as = ah + (kt & 1) * SSD_TILE * SSD_KT, *bs = bh + (kt & 1) * SSD_TILE * SSD_KT;
#pragma unroll
      for (int ks = 0; ks < SSD_KT; ks += 16) {
        unsigned a[4];
        if (OA::TR) {  // [k][m]: matrices (m+0,k+0) (m+8,k+0) (m+0,k+8) (m+8,k+8), transposed
          const int k = ks + r + (j >> 1) * 8, mc = (16 * w + (j & 1) * 8) >> 3;
          ldsm_x4<true>(a, as + k * SSD_TILE + ((mc ^ (k & 7)) << 3));
        } else {
          const int row = 16 * w + r + (j & 1) * 8, kc = (ks >> 3) + (j >> 1);
          ldsm_x4<false>(a, as + row * SSD_KT + ((kc ^ ((row >> 1) & 3)) << 3));
        }
#pragma unroll
        for (int q = 0; q < 4; q++) {  // n-tiles 2q, 2q+1: matrices (n+0,k+0) (n+0,k+8) (n+8,k+0) (n+8,k+8)
          unsigned t[4];
          if (OB::TR) {
            const int k = ks + r + (j & 1) * 8, nc = (q * 16 + (j >> 1) * 8) >> 3;
            ldsm_x4<true>(t, bs + k * SSD_TILE + ((nc ^ (k & 7)) << 3));
          } else {
            const int row = q * 16 + r + (j >> 1) * 8, kc = (ks >> 3) + (j & 1);
            ldsm_x4<false>(t, bs + row * SSD_KT + ((kc ^ ((row >> 1) & 3)) << 3));
          }
          mma_bf16(acc[2 * q], a[0], a[1], a[2], a[3], t[0], t[1]);
          mma_bf16(acc[2 * q + 1], a[0], a[1], a[2], a[3], t[2], t[3]);
        }
      }
      __syncthreads();
    }
    return;
  }
  for (int k0 = 0; k0 < K; k0 += SSD_KT) {
    ssd_stage_f32(sm.a, k0, K, oa);
    ssd_stage_f32(sm.b, k0, K, ob);
    __syncthreads();
    const float *ar = sm.a + (16 * w + g) * SSD_LD, *br = sm.b + 2 * tig * SSD_LD;
#pragma unroll 2
    for (int k = 0; k < SSD_KT; k++) {
      const float a0 = ar[k], a1 = ar[8 * SSD_LD + k];
#pragma unroll
      for (int nt = 0; nt < 8; nt++) {
        const float b0 = br[nt * 8 * SSD_LD + k], b1 = br[(nt * 8 + 1) * SSD_LD + k];
        acc[nt][0] += a0 * b0;
        acc[nt][1] += a0 * b1;
        acc[nt][2] += a1 * b0;
        acc[nt][3] += a1 * b1;
      }
    }
    __syncthreads();
  }
}

// ssd_scan: in-place inclusive prefix sum of v[0..n) over the block (reverse:
// suffix sums). part: blockDim.x floats of shared memory. Each thread sums
// a run of ceil(n/blockDim.x) values; the run totals are scanned with
// butterfly shuffles within each warp, then across the warps.
__device__ __forceinline__ void ssd_scan(float* v, int n, bool reverse, float* part) {
  const int per = (n + blockDim.x - 1) / blockDim.x, j0 = threadIdx.x * per, j1 = min(j0 + per, n);
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  __syncthreads();
  float s = 0.f;
  for (int j = j0; j < j1; j++) {
    int i = reverse ? n - 1 - j : j;
    s += v[i];
    v[i] = s;
  }
  float pre = s, tot = s;  // inclusive prefix and total of this lane's aligned group
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, tot, o);
    if (lane & o) pre += other;
    tot += other;
  }
  if (lane == 31) part[w] = pre;
  __syncthreads();
  float off = pre - s;
  for (int k = 0; k < w; k++) off += part[k];
  for (int j = j0; j < j1; j++) v[reverse ? n - 1 - j : j] += off;
  __syncthreads();
}

// ssd_chunk is one (sequence, chunk, head) of a tile kernel: blockIdx.z =
// b*nc + c, blockIdx.y = h. sdt, scum and sw (shared memory, Lc floats
// each) receive dt, cum and a per-kernel factor of the chunk's Lc steps.
struct ssd_chunk {
  int b, c, h, g, t0, Lc;
  i64 row0, zh;  // first row of the chunk in [B*T, .]; (b*nc + c)*H + h
  float A;
  float *sdt, *scum, *sw;
};

__device__ __forceinline__ ssd_chunk ssd_chunk_setup(int T, int H, int G, int L, int nc, const float* alog) {
  ssd_chunk k;
  const int z = blockIdx.z;
  k.b = z / nc;
  k.c = z % nc;
  k.h = blockIdx.y;
  k.g = k.h / (H / G);
  k.t0 = k.c * L;
  k.Lc = min(L, T - k.t0);
  k.row0 = (i64)k.b * T + k.t0;
  k.zh = (i64)z * H + k.h;
  k.A = -expf(alog[k.h]);
  return k;
}

// ssd_cumsum fills sdt and scum (ssd_chunk's doc) and sets sw.
__device__ __forceinline__ void ssd_cumsum(ssd_chunk& k, const ssd_smem& sm, const void* dt, i64 dts, int dtdt,
                                           const float* dtbias) {
  k.sdt = sm.steps;
  k.scum = sm.steps + k.Lc;
  k.sw = sm.steps + 2 * k.Lc;
  const float bias = dtbias[k.h];
  for (int i = threadIdx.x; i < k.Lc; i += blockDim.x) {
    float v = softplusf_(ld(dt, (k.row0 + i) * dts + k.h, dtdt) + bias);
    k.sdt[i] = v;
    k.scum[i] = v * k.A;
  }
  ssd_scan(k.scum, k.Lc, false, sm.part);
}

// ssd_fill sets sw[i] = f(i) for the chunk's steps and synchronises.
template <class F>
__device__ __forceinline__ void ssd_fill(const ssd_chunk& k, F f) {
  for (int i = threadIdx.x; i < k.Lc; i += blockDim.x) k.sw[i] = f(i);
  __syncthreads();
}

// ssd_cb_tile: the (T0, S0) tile (S0 <= T0) of CB[b,c,g][t][s] = C_t . B_s
// of chunk c, group g (entries past the chunk's Lc steps are not written).
// CB: [B*nc, G, LL, LL] fp32, LL = min(L, T).
__device__ __forceinline__ void ssd_cb_tile(const ssd_smem& sm, const void* Bm, i64 bs, int bdt, const void* Cm,
                                            i64 cs, int cdt, float* CB, int T, int G, int N, int L, int nc, int g,
                                            int T0, int S0, bool bf) {
  const int z = blockIdx.z, t0 = (z % nc) * L, Lc = min(L, T - t0), LL = min(L, T);
  if (T0 >= Lc) return;  // uniform over the block
  const i64 row0 = (i64)(z / nc) * T + t0;
  float acc[8][4];
  ssd_zero(acc);
  ssd_gemm(acc, N, bf, sm, ssd_r(ssd_mat(Cm, cs, cdt, row0 * cs + (i64)g * N, Lc, N), T0),
           ssd_r(ssd_mat(Bm, bs, bdt, row0 * bs + (i64)g * N, Lc, N), S0));
  float* out = CB + ((i64)z * G + g) * LL * LL;
  ssd_each(acc, [&](int m, int j, float v) {
    if (T0 + m < Lc && S0 + j < Lc) out[(i64)(T0 + m) * LL + S0 + j] = v;
  });
}

// k_ssd_chunk_state: S[b,c,h][p,n] = sum_s x_s[p] exp(cum_L - cum_s) dt_s B_s[n]
// and logdec[b,c,h] = cum_L (blockIdx.x < nP*nN: the (p, n) tile); and, so
// that it costs no launch of its own, CB[b,c,g] = C B^T of the chunk's steps
// once per group, which all heads of the group read (k_ssd_chunk_out,
// k_ssd_bwd): the nT = nS(nS+1)/2 tiles on and below the diagonal are
// spread over the group's heads, e extra blocks per head, e =
// ceil(nT/(H/G)); block e of head h computes tile (e*(H/G) + h%(H/G)).
// grid (nP*nN + e, H, B*nc).
extern "C" __global__ void __launch_bounds__(SSD_THREADS, 3)
    k_ssd_chunk_state(const void* x, i64 xs, int xdt, const void* dt, i64 dts, int dtdt, const float* dtbias,
                      const float* alog, const void* Bm, i64 bs, int bdt, const void* Cm, i64 cs, int cdt, float* S,
                      float* logdec, float* CB, int T, int H, int P, int G, int N, int L, int nc, int bf) {
  DYN_SMEM(dyn);
  const ssd_smem sm = ssd_smem_setup(dyn);
  const int nN = (N + SSD_TILE - 1) / SSD_TILE, nP = (P + SSD_TILE - 1) / SSD_TILE;
  if ((int)blockIdx.x >= nP * nN) {  // a C B^T tile (uniform over the block)
    const int hpg = H / G, nS = (min(L, T) + SSD_TILE - 1) / SSD_TILE;
    int q = ((int)blockIdx.x - nP * nN) * hpg + (int)blockIdx.y % hpg, ti = 0;
    if (q >= nS * (nS + 1) / 2) return;
    while (q > ti) q -= ++ti;  // q-th tile of the lower triangle: row ti, column q
    ssd_cb_tile(sm, Bm, bs, bdt, Cm, cs, cdt, CB, T, G, N, L, nc, (int)blockIdx.y / hpg, ti * SSD_TILE,
                q * SSD_TILE, bf);
    return;
  }
  ssd_chunk k = ssd_chunk_setup(T, H, G, L, nc, alog);
  ssd_cumsum(k, sm, dt, dts, dtdt, dtbias);
  const int p0 = (blockIdx.x / nN) * SSD_TILE, n0 = (blockIdx.x % nN) * SSD_TILE;
  const float cumL = k.scum[k.Lc - 1];
  ssd_fill(k, [&](int s) { return expf(cumL - k.scum[s]) * k.sdt[s]; });
  float acc[8][4];
  ssd_zero(acc);
  ssd_gemm(acc, k.Lc, bf, sm, ssd_c(ssd_mat(x, xs, xdt, k.row0 * xs + (i64)k.h * P + p0, k.Lc, P - p0), 0),
           ssd_c(ssd_mat(Bm, bs, bdt, k.row0 * bs + (i64)k.g * N + n0, k.Lc, N - n0, k.sw), 0));
  float* out = S + k.zh * P * N;
  ssd_each(acc, [&](int m, int n, float v) {
    if (p0 + m < P && n0 + n < N) out[(i64)(p0 + m) * N + n0 + n] = v;
  });
  if (blockIdx.x == 0 && threadIdx.x == 0) logdec[k.zh] = cumL;
}

// k_ssd_chunk_out: y for a 64-step x 64-p tile of chunk c:
// y_t = exp(cum_t) Hin C_t + sum_{s<=t} G[t,s] x_s + D x_t with
// G[t,s] = (C_t.B_s) exp(cum_t - cum_s) dt_s; grid (ceil(L/64)*ceil(P/64), H, B*nc).
extern "C" __global__ void __launch_bounds__(SSD_THREADS, 3)
    k_ssd_chunk_out(const void* x, i64 xs, int xdt, const void* dt, i64 dts, int dtdt, const float* dtbias,
                    const float* alog, const void* Bm, i64 bs, int bdt, const void* Cm, i64 cs, int cdt,
                    const float* D, void* y, i64 ys, int ydt, const float* Hin, const float* CB, int T, int H, int P,
                    int G, int N, int L, int nc, int bf) {
  DYN_SMEM(dyn);
  const ssd_smem sm = ssd_smem_setup(dyn);
  ssd_chunk k = ssd_chunk_setup(T, H, G, L, nc, alog);
  const int nP = (P + SSD_TILE - 1) / SSD_TILE, tt = blockIdx.x / nP;
  const int T0 = tt * SSD_TILE, p0 = (blockIdx.x % nP) * SSD_TILE;
  if (T0 >= k.Lc) return;  // uniform over the block
  ssd_cumsum(k, sm, dt, dts, dtdt, dtbias);
  const int Lc = k.Lc;
  const ssd_gm Cg = ssd_mat(Cm, cs, cdt, k.row0 * cs + (i64)k.g * N, Lc, N);
  const ssd_gm Xg = ssd_mat(x, xs, xdt, k.row0 * xs + (i64)k.h * P + p0, Lc, P - p0);
  const int LL = min(L, T);
  const float* cbp = CB + ((i64)blockIdx.z * G + k.g) * LL * LL;
  float acc[8][4];
  ssd_zero(acc);
  if (k.c > 0) {
    ssd_gemm(acc, N, bf, sm, ssd_r(Cg, T0), ssd_r(ssd_mat(Hin, N, DT_F32, k.zh * P * N + (i64)p0 * N, P - p0, N), 0));
    ssd_scale_rows(acc, [&](int m) { return T0 + m < Lc ? expf(k.scum[T0 + m]) : 0.f; });
  }
  for (int S0 = 0; S0 <= T0; S0 += SSD_TILE) {
    for (int i = threadIdx.x; i < SSD_TILE * SSD_TILE; i += SSD_THREADS) {
      const int m = i / SSD_TILE, j = i % SSD_TILE, t = T0 + m, s = S0 + j;
      sm.g[m * SSD_GLD + j] =
          (s <= t && t < Lc) ? cbp[(i64)t * LL + s] * expf(k.scum[t] - k.scum[s]) * k.sdt[s] : 0.f;
    }
    __syncthreads();
    ssd_gemm(acc, SSD_TILE, bf, sm, ssd_f<0>([&](int m, int j) { return sm.g[m * SSD_GLD + j]; }), ssd_c(Xg, S0));
  }
  const float Dh = D[k.h];
  ssd_each(acc, [&](int m, int p, float v) {
    int t = T0 + m;
    if (t < Lc && p0 + p < P) st(y, (k.row0 + t) * ys + (i64)k.h * P + p0 + p, ydt, v + Dh * ssd_at(Xg, t, p));
  });
}

// k_ssd_bwd_dstate: dS[b,c,h][p,n] = sum_t exp(cum_t) dy_t[p] C_t[n], the
// gradient reaching the state that enters chunk c from the chunk's own
// outputs; grid (ceil(P/64)*ceil(N/64), H, B*nc).
extern "C" __global__ void __launch_bounds__(SSD_THREADS, 3)
    k_ssd_bwd_dstate(const void* dt, i64 dts, int dtdt, const float* dtbias, const float* alog, const void* Cm,
                     i64 cs, int cdt, const void* dy, i64 dys, int dydt, float* dS, int T, int H, int P, int G,
                     int N, int L, int nc, int bf) {
  DYN_SMEM(dyn);
  const ssd_smem sm = ssd_smem_setup(dyn);
  ssd_chunk k = ssd_chunk_setup(T, H, G, L, nc, alog);
  ssd_cumsum(k, sm, dt, dts, dtdt, dtbias);
  const int nN = (N + SSD_TILE - 1) / SSD_TILE;
  const int p0 = (blockIdx.x / nN) * SSD_TILE, n0 = (blockIdx.x % nN) * SSD_TILE;
  ssd_fill(k, [&](int t) { return expf(k.scum[t]); });
  float acc[8][4];
  ssd_zero(acc);
  ssd_gemm(acc, k.Lc, bf, sm, ssd_c(ssd_mat(dy, dys, dydt, k.row0 * dys + (i64)k.h * P + p0, k.Lc, P - p0, k.sw), 0),
           ssd_c(ssd_mat(Cm, cs, cdt, k.row0 * cs + (i64)k.g * N + n0, k.Lc, N - n0), 0));
  float* out = dS + k.zh * P * N;
  ssd_each(acc, [&](int m, int n, float v) {
    if (p0 + m < P && n0 + n < N) out[(i64)(p0 + m) * N + n0 + n] = v;
  });
}

// k_ssd_bwd_pass: reverse pass over chunks in place, dS[c] becomes dHend[c],
// the gradient reaching chunk c's end state from later chunks:
// dHend[nc-1] = 0, dHend[c-1] = exp(logdec[c]) dHend[c] + dS[c]; and
// dlast[b,c,h] += exp(cum_L) <dHend[c], Hin[c]> (the gradient of every a_k
// of chunk c through the decay of the entering state).
// grid (B*H, ceil(P*N/256)), block 256.
extern "C" __global__ void k_ssd_bwd_pass(float* dS, const float* logdec, const float* Hin, float* dlast, int H,
                                          int P, int N, int nc) {
  __shared__ float scratch[32];
  const int b = blockIdx.x / H, h = blockIdx.x % H;
  const i64 pn = (i64)P * N, i = (i64)blockIdx.y * blockDim.x + threadIdx.x;
  const bool valid = i < pn;
  float g = 0.f;
  for (int c = nc - 1; c >= 0; c--) {
    const i64 zh = ((i64)b * nc + c) * H + h, off = zh * pn + i;
    float loc = valid ? dS[off] : 0.f;
    if (valid) dS[off] = g;
    const float dec = expf(logdec[zh]);
    if (c + 1 < nc && c > 0) {  // uniform; zero otherwise
      float v = valid ? g * Hin[off] : 0.f;
      v = block_sum(v, scratch);
      if (threadIdx.x == 0) atomicAdd(&dlast[zh], dec * v);
    }
    g = dec * g + loc;
  }
}

// ssd_rowsum4 sums v over the 4 lanes that hold one row of a fragment.
__device__ __forceinline__ float ssd_rowsum4(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// k_ssd_bwd: the per-chunk gradients (file comment); blockIdx.x picks the
// role and tile: [0, nS*nP) DX (s-tile, p-strip), then nS DB (s-tile), then
// nS DC (t-tile), nS = ceil(min(L, T)/64). DB and DC blocks cover every
// n-strip, so that (x_s . dy_t) is computed once per tile pair. dx is
// stored; ddt_direct (ddt_acc), da (da_acc), off_t (off_acc), V_s (v_acc),
// dB, dC (heads of a group summed) and dD are added to fp32 accumulators.
// dHend/Hin: [B, nc, H, P, N].
extern "C" __global__ void __launch_bounds__(SSD_THREADS, 2)
    k_ssd_bwd(const void* x, i64 xs, int xdt, const void* dt, i64 dts, int dtdt, const float* dtbias,
              const float* alog, const void* Bm, i64 bs, int bdt, const void* Cm, i64 cs, int cdt, const float* D,
              const void* dy, i64 dys, int dydt, void* dx, i64 dxs, int dxdt, const float* Hin, const float* dHend,
              const float* CB, float* ddt_acc, float* da_acc, float* off_acc, float* v_acc, float* dB_acc, float* dC_acc,
              float* dD_acc, int T, int H, int P,
              int G, int N, int L, int nc, int bf, int keep) {
  DYN_SMEM(dyn);
  const ssd_smem sm = ssd_smem_setup(dyn);
  ssd_chunk k = ssd_chunk_setup(T, H, G, L, nc, alog);
  // nS: 64-step tiles of the longest chunk (as gpu/cuda/ssd.go sizes the grid)
  const int nS = (min(L, T) + SSD_TILE - 1) / SSD_TILE, nP = (P + SSD_TILE - 1) / SSD_TILE;
  int role = blockIdx.x, tile, col0 = 0;
  if (role < nS * nP) {
    tile = role / nP;
    col0 = (role % nP) * SSD_TILE;
    role = 0;
  } else {
    tile = (role - nS * nP) % nS;
    role = role < nS * (nP + 1) ? 1 : 2;
  }
  const int R0 = tile * SSD_TILE, Lc = k.Lc;
  if (R0 >= Lc) return;  // uniform over the block
  ssd_cumsum(k, sm, dt, dts, dtdt, dtbias);
  const float* scum = k.scum;
  const float* sdt = k.sdt;
  const float cumL = scum[Lc - 1];
  const bool last = k.c == nc - 1, first = k.c == 0;
  const i64 GN = (i64)G * N;
  // the chunk's operands: rows are its steps; Xc/DYc/Bc/Cc start at column
  // col0 (the block's p- or n-strip)
  const i64 xo = k.row0 * xs + (i64)k.h * P, dyo = k.row0 * dys + (i64)k.h * P;
  const i64 bo = k.row0 * bs + (i64)k.g * N, co = k.row0 * cs + (i64)k.g * N;
  const ssd_gm Xg = ssd_mat(x, xs, xdt, xo, Lc, P), DYg = ssd_mat(dy, dys, dydt, dyo, Lc, P);
  const ssd_gm Bg = ssd_mat(Bm, bs, bdt, bo, Lc, N);
  const float* hend = dHend + k.zh * P * N;
  const float* hin = Hin + k.zh * P * N;
  const int LL = min(L, T);
  const float* cbp = CB + ((i64)blockIdx.z * G + k.g) * LL * LL;  // k_ssd_cb's C_t . B_s
  auto gt = ssd_f<0>([&](int m, int j) { return sm.g[m * SSD_GLD + j]; });
  // DB and DC compute their G tiles first; with keep (bf16 operands and
  // shared memory for them: gpu/cuda/ssd.go) they are kept (bf16, as staging
  // would round them) in gkeep ([nS][64][SSD_GKL] after the per-step arrays)
  // for the n-strips
  unsigned short* gkeep = (unsigned short*)(sm.steps + ssd_steps_floats(L));
  float acc[8][4], t2[8][4];
  ssd_zero(acc);
  if (role == 0) {  // DX: rows s of [R0, R0+64), columns p of [col0, col0+64)
    const int p0 = col0;
    const ssd_gm Xc = ssd_mat(x, xs, xdt, xo + p0, Lc, P - p0), DYc = ssd_mat(dy, dys, dydt, dyo + p0, Lc, P - p0);
    if (!last) {
      ssd_gemm(acc, N, bf, sm, ssd_r(Bg, R0), ssd_r(ssd_mat(hend, N, DT_F32, (i64)p0 * N, P - p0, N), 0));
      ssd_scale_rows(acc, [&](int m) { return R0 + m < Lc ? expf(cumL - scum[R0 + m]) : 0.f; });
      // V_s = dt_s x_s . (exp(cum_L - cum_s) dHend B_s): the end state's
      // gradient reaches a_k for k > s
      float vs[2] = {0.f, 0.f};
      ssd_each(acc, [&](int m, int p, float v) {
        if (R0 + m < Lc && p0 + p < P) vs[(m & 8) ? 1 : 0] += ssd_at(Xc, R0 + m, p) * v;
      });
      const int lane = threadIdx.x & 31, m0 = 16 * (threadIdx.x >> 5) + (lane >> 2);
#pragma unroll
      for (int i = 0; i < 2; i++) {
        float v = ssd_rowsum4(vs[i]);
        int s = R0 + m0 + 8 * i;
        if ((lane & 3) == 0 && s < Lc) atomicAdd(&v_acc[(k.row0 + s) * H + k.h], sdt[s] * v);
      }
    }
    for (int T0 = R0; T0 < Lc; T0 += SSD_TILE) {
      for (int i = threadIdx.x; i < SSD_TILE * SSD_TILE; i += SSD_THREADS) {  // (B_s . C_t), s fastest
        const int m = i % SSD_TILE, j = i / SSD_TILE, s = R0 + m, t = T0 + j;
        sm.g[m * SSD_GLD + j] = (s <= t && t < Lc) ? cbp[(i64)t * LL + s] * expf(scum[t] - scum[s]) : 0.f;
      }
      __syncthreads();
      ssd_gemm(acc, SSD_TILE, bf, sm, gt, ssd_c(DYc, T0));
    }
    const float Dh = D[k.h];
    float dd = 0.f, rs[2] = {0.f, 0.f};
    ssd_each(acc, [&](int m, int p, float v) {
      int s = R0 + m;
      if (s < Lc && p0 + p < P) {
        float xv = ssd_at(Xc, s, p), dyv = ssd_at(DYc, s, p);
        st(dx, (k.row0 + s) * dxs + (i64)k.h * P + p0 + p, dxdt, Dh * dyv + sdt[s] * v);
        dd += xv * dyv;
        rs[(m & 8) ? 1 : 0] += xv * v;
      }
    });
    const int lane = threadIdx.x & 31, m0 = 16 * (threadIdx.x >> 5) + (lane >> 2);
#pragma unroll
    for (int i = 0; i < 2; i++) {
      float v = ssd_rowsum4(rs[i]);
      int s = R0 + m0 + 8 * i;
      if ((lane & 3) == 0 && s < Lc) atomicAdd(&ddt_acc[(k.row0 + s) * H + k.h], v);
    }
    dd = block_sum(dd, sm.part);
    if (threadIdx.x == 0) atomicAdd(&dD_acc[k.h], dd);
  } else if (role == 1) {  // DB: rows s of [R0, R0+64), every n-strip in turn
    // G[s,t] = (x_s . dy_t) exp(cum_t - cum_s), s <= t, once per tile pair:
    // kept as bf16 for the strips (keep), or each tile's product with every
    // strip of C added to dB at once, so that no accumulator is live while
    // the next G is computed
    for (int T0 = R0; T0 < Lc; T0 += SSD_TILE) {
      unsigned short* gk = gkeep + ((T0 - R0) / SSD_TILE) * SSD_TILE * SSD_GKL;
      ssd_zero(t2);
      ssd_gemm(t2, P, bf, sm, ssd_r(Xg, R0), ssd_r(DYg, T0));
      ssd_each(t2, [&](int m, int j, float v) {
        int s = R0 + m, t = T0 + j;
        float gv = (s <= t && t < Lc) ? v * expf(scum[t] - scum[s]) : 0.f;
        if (keep)
          gk[m * SSD_GKL + j] = f2bf(gv);
        else
          sm.g[m * SSD_GLD + j] = gv;
      });
      __syncthreads();
      if (!keep) {
        for (int n0 = 0; n0 < N; n0 += SSD_TILE) {
          ssd_zero(acc);
          ssd_gemm(acc, SSD_TILE, bf, sm, gt, ssd_c(ssd_mat(Cm, cs, cdt, co + n0, Lc, N - n0), T0));
          ssd_each(acc, [&](int m, int n, float v) {
            int s = R0 + m;
            if (s < Lc && n0 + n < N) atomicAdd(&dB_acc[(k.row0 + s) * GN + (i64)k.g * N + n0 + n], sdt[s] * v);
          });
        }
      }
    }
    for (int n0 = 0; n0 < N; n0 += SSD_TILE) {
      const ssd_gm Cc = ssd_mat(Cm, cs, cdt, co + n0, Lc, N - n0);
      ssd_zero(acc);
      if (!last) {
        ssd_gemm(acc, P, bf, sm, ssd_r(Xg, R0), ssd_c(ssd_mat(hend, N, DT_F32, n0, P, N - n0), 0));
        ssd_scale_rows(acc, [&](int m) { return R0 + m < Lc ? expf(cumL - scum[R0 + m]) : 0.f; });
      }
      if (keep)
        for (int T0 = R0; T0 < Lc; T0 += SSD_TILE)
          ssd_gemm(acc, SSD_TILE, bf, sm, ssd_sb(gkeep + ((T0 - R0) / SSD_TILE) * SSD_TILE * SSD_GKL),
                   ssd_c(Cc, T0));
      ssd_each(acc, [&](int m, int n, float v) {
        int s = R0 + m;
        if (s < Lc && n0 + n < N) atomicAdd(&dB_acc[(k.row0 + s) * GN + (i64)k.g * N + n0 + n], sdt[s] * v);
      });
    }
  } else {  // DC: rows t of [R0, R0+64), every n-strip in turn
    const int lane = threadIdx.x & 31, m0 = 16 * (threadIdx.x >> 5) + (lane >> 2);
    float* carry = sm.part;  // per row t: sum of W[t, s] over the s-tiles done
    if (threadIdx.x < SSD_TILE) carry[threadIdx.x] = 0.f;
    // G[t,s] = (dy_t . x_s) exp(cum_t - cum_s) dt_s, s <= t, once per tile
    // pair (kept as DB keeps its G)
    for (int S0 = 0; S0 <= R0; S0 += SSD_TILE) {
      unsigned short* gk = gkeep + (S0 / SSD_TILE) * SSD_TILE * SSD_GKL;
      ssd_zero(t2);
      ssd_gemm(t2, P, bf, sm, ssd_r(DYg, R0), ssd_r(Xg, S0));
      ssd_each(t2, [&](int m, int j, float v) {
        int t = R0 + m, s = S0 + j;
        float gv = (s <= t && t < Lc) ? v * expf(scum[t] - scum[s]) * sdt[s] : 0.f;
        sm.g[m * SSD_GLD + j] = gv;
        if (keep) gk[m * SSD_GKL + j] = f2bf(gv);
      });
      __syncthreads();
      if (!keep) {
        for (int n0 = 0; n0 < N; n0 += SSD_TILE) {
          ssd_zero(acc);
          ssd_gemm(acc, SSD_TILE, bf, sm, gt, ssd_c(ssd_mat(Bm, bs, bdt, bo + n0, Lc, N - n0), S0));
          ssd_each(acc, [&](int m, int n, float v) {
            int t = R0 + m;
            if (t < Lc && n0 + n < N) atomicAdd(&dC_acc[(k.row0 + t) * GN + (i64)k.g * N + n0 + n], v);
          });
        }
      }
      // W[t,s] = G[t,s] (C_t.B_s), s < t: the gradient of exp(cum_t - cum_s)
      // = exp(a_{s+1} + .. + a_t) reaches each a_k, s < k <= t, so da_k +=
      // sum_{t >= k} sum_{s < k} W[t,s] (no cancellation, as mamba-ssm's
      // _chunk_scan_bwd_ddAcs_stable). (C_t . B_s) from k_ssd_chunk_state.
      for (int i = threadIdx.x; i < SSD_TILE * SSD_TILE; i += SSD_THREADS) {
        const int m = i / SSD_TILE, j = i % SSD_TILE, t = R0 + m, s = S0 + j;
        float* gp = sm.g + m * SSD_GLD + j;
        *gp = (s < t && t < Lc) ? cbp[(i64)t * LL + s] * *gp : 0.f;
      }
      __syncthreads();
      if (threadIdx.x < SSD_TILE) {  // row t: exclusive prefix sums over s, carried across s-tiles
        float run = carry[threadIdx.x];
        float* row = sm.g + threadIdx.x * SSD_GLD;
        for (int j = 0; j < SSD_TILE; j++) {
          float w = row[j];
          row[j] = run;
          run += w;
        }
        carry[threadIdx.x] = run;
      }
      __syncthreads();
      if (threadIdx.x < SSD_TILE) {  // column k: sum over rows t >= k
        int kk = S0 + threadIdx.x;
        float sum = 0.f;
        for (int m = max(0, kk - R0); m < SSD_TILE; m++) sum += sm.g[m * SSD_GLD + threadIdx.x];
        if (kk < Lc && R0 + SSD_TILE > kk) atomicAdd(&da_acc[(k.row0 + kk) * H + k.h], sum);
      }
      __syncthreads();  // sm.g is rewritten by the next s-tile
    }
    for (int n0 = 0; n0 < N; n0 += SSD_TILE) {
      const ssd_gm Cc = ssd_mat(Cm, cs, cdt, co + n0, Lc, N - n0);
      ssd_zero(acc);
      if (!first) {
        ssd_gemm(acc, P, bf, sm, ssd_r(DYg, R0), ssd_c(ssd_mat(hin, N, DT_F32, n0, P, N - n0), 0));
        ssd_scale_rows(acc, [&](int m) { return R0 + m < Lc ? expf(scum[R0 + m]) : 0.f; });
        // off_t = C_t . (exp(cum_t) Hin^T dy_t): the gradient of cum_t through Hin
        float rs[2] = {0.f, 0.f};
        ssd_each(acc, [&](int m, int n, float v) {
          if (R0 + m < Lc && n0 + n < N) rs[(m & 8) ? 1 : 0] += ssd_at(Cc, R0 + m, n) * v;
        });
#pragma unroll
        for (int i = 0; i < 2; i++) {
          float v = ssd_rowsum4(rs[i]);
          int t = R0 + m0 + 8 * i;
          if ((lane & 3) == 0 && t < Lc) atomicAdd(&off_acc[(k.row0 + t) * H + k.h], v);
        }
      }
      if (keep)
        for (int S0 = 0; S0 <= R0; S0 += SSD_TILE)
          ssd_gemm(acc, SSD_TILE, bf, sm, ssd_sb(gkeep + (S0 / SSD_TILE) * SSD_TILE * SSD_GKL),
                   ssd_c(ssd_mat(Bm, bs, bdt, bo + n0, Lc, N - n0), S0));
      ssd_each(acc, [&](int m, int n, float v) {
        int t = R0 + m;
        if (t < Lc && n0 + n < N) atomicAdd(&dC_acc[(k.row0 + t) * GN + (i64)k.g * N + n0 + n], v);
      });
    }
  }
}

// k_ssd_bwd_dt: per (b, c, h) (grid (H, B*nc), block 128), with a_k =
// dt_k A: da_k = da_acc_k (intra-chunk pairs) + sum_{t>=k} off_t (through Hin)
// + sum_{s<k} V_s + dlast (through the end state); ddt = ddt_direct + A da;
// DDT = ddt * softplus'(DT + bias), DDTBias += sum DDT, dA_acc += sum dt da.
extern "C" __global__ void __launch_bounds__(SSD_THREADS, 3)
    k_ssd_bwd_dt(const float* ddt_acc, const float* da_acc, const float* off_acc, const float* v_acc,
                 const float* dlast, const void* dt, i64 dts, int dtdt, const float* dtbias, const float* alog,
                 void* ddt, i64 ddts, int ddtdt, float* ddtbias, float* dA_acc, int T, int H, int L, int nc) {
  DYN_SMEM(dyn);
  __shared__ float part[SSD_THREADS];
  __shared__ float scratch[32];
  // blockIdx.x = h, blockIdx.y = b*nc + c
  const int h = blockIdx.x, z = blockIdx.y, c = z % nc, b = z / nc, t0 = c * L, Lc = min(L, T - t0);
  const i64 row0 = (i64)b * T + t0, zh = (i64)z * H + h;
  const float A = -expf(alog[h]), bias = dtbias[h], last = dlast[zh];
  float *off = dyn, *vs = dyn + Lc;
  for (int i = threadIdx.x; i < Lc; i += blockDim.x) {
    off[i] = off_acc[(row0 + i) * H + h];
    vs[i] = v_acc[(row0 + i) * H + h];
  }
  ssd_scan(off, Lc, true, part);
  ssd_scan(vs, Lc, false, part);
  float sb = 0.f, sa = 0.f;
  for (int i = threadIdx.x; i < Lc; i += blockDim.x) {
    i64 r = (row0 + i) * H + h;
    float raw = ld(dt, (row0 + i) * dts + h, dtdt) + bias, dtv = softplusf_(raw);
    float da = da_acc[r] + off[i] + (vs[i] - v_acc[r]) + last;
    float g = (ddt_acc[r] + A * da) * dsoftplusf_(raw);
    st(ddt, (row0 + i) * ddts + h, ddtdt, g);
    sb += g;
    sa += dtv * da;
  }
  sb = block_sum(sb, scratch);
  if (threadIdx.x == 0) atomicAdd(&ddtbias[h], sb);
  sa = block_sum(sa, scratch);
  if (threadIdx.x == 0) atomicAdd(&dA_acc[h], sa);
}

// k_ssd_chunk_pass: sequential over chunks, elementwise over (b,h,p,n):
// Hin[c] = H; H = exp(logdec[c]) H + S[c] (in place: S becomes Hin, the
// state entering each chunk); FinalState (nullable) gets the last H.
extern "C" __global__ void k_ssd_chunk_pass(float* S, const float* logdec, float* fstate, int Bt, int H, int P, int N,
                                            int nc) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;  // over (b, h, p, n)
  i64 hpn = (i64)H * P * N;
  if (i >= Bt * hpn) return;
  int b = (int)(i / hpn);
  i64 r = i % hpn;  // (h, p, n)
  int h = (int)(r / ((i64)P * N));
  float hcur = 0.f;
  for (int c = 0; c < nc; c++) {
    i64 off = ((i64)b * nc + c) * hpn + r;
    float sc = S[off];
    S[off] = hcur;
    hcur = expf(logdec[((i64)b * nc + c) * H + h]) * hcur + sc;
  }
  if (fstate) fstate[(i64)b * hpn + r] = hcur;
}

// ---- the sequential recurrence (k_ssd_fwd, Backend.SequentialScan) ----
// one block per (p-block, head, sequence); thread (pl, ns) owns state
// entries H[p][n] for n = ns + j*NS, j < nper <= MAXS, in registers.

#define MAXS 8  // states per thread: N <= 8*NS <= 256

struct ssd_geom {
  int b, h, g, pl, ns, p, valid, nper, PB, NS;
};

__device__ __forceinline__ ssd_geom ssd_setup(int H, int G, int P, int N, int PB, int NS) {
  ssd_geom s;
  s.b = blockIdx.z;
  s.h = blockIdx.y;
  s.g = s.h / (H / G);
  s.pl = threadIdx.x / NS;
  s.ns = threadIdx.x % NS;
  s.p = blockIdx.x * PB + s.pl;
  s.valid = s.pl < PB && s.p < P;
  s.nper = (N + NS - 1) / NS;
  s.PB = PB;
  s.NS = NS;
  return s;
}

__device__ __forceinline__ float group_sum(float v, int NS) {
  for (int o = NS >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// ssd_fwd_range runs the recurrence of sequence s.b, head s.h over rows
// [t0, t1) of that sequence, starting from the state init (nullable: zero;
// layout [P][N] of this (b, h)), writing y when y != 0, the end state to endst
// (nullable; layout [P][N]) and sum(dt*A) over the range to *logdec (nullable).
// Inputs are staged TS steps at a time in shared memory (tile: B[TS][N],
// C[TS][N], x[TS][PB], dt[TS]), so a step costs no block barrier.
__device__ __forceinline__ void ssd_fwd_range(const ssd_geom& s, int t0, int t1, const void* x, i64 xs, int xdt,
                                              const void* dt, i64 dts, int dtdt, float bias, float A, const void* Bm,
                                              i64 bs, int bdt, const void* Cm, i64 cs, int cdt, float Dh, void* y,
                                              i64 ys, int ydt, const float* init, float* endst, float* logdec, int T,
                                              int P, int N, int TS, float* tile) {
  float *tB = tile, *tC = tB + TS * N, *tx = tC + TS * N, *tdt = tx + TS * s.PB;
  float hst[MAXS];
#pragma unroll
  for (int j = 0; j < MAXS; j++) {
    int n = s.ns + j * s.NS;
    hst[j] = (init && s.valid && j < s.nper && n < N) ? init[(i64)s.p * N + n] : 0.f;
  }
  float lsum = 0.f;
  for (int tt = t0; tt < t1; tt += TS) {
    int nt = min(TS, t1 - tt);
    const i64 row0 = (i64)s.b * T + tt;
    for (int i = threadIdx.x; i < nt * N; i += blockDim.x) {
      int k = i / N, n = i % N;
      tB[i] = ld(Bm, (row0 + k) * bs + (i64)s.g * N + n, bdt);
      tC[i] = ld(Cm, (row0 + k) * cs + (i64)s.g * N + n, cdt);
    }
    for (int i = threadIdx.x; i < nt * s.PB; i += blockDim.x) {
      int k = i / s.PB, p = blockIdx.x * s.PB + i % s.PB;
      tx[i] = p < P ? ld(x, (row0 + k) * xs + (i64)s.h * P + p, xdt) : 0.f;
    }
    for (int k = threadIdx.x; k < nt; k += blockDim.x) tdt[k] = softplusf_(ld(dt, (row0 + k) * dts + s.h, dtdt) + bias);
    __syncthreads();
    for (int k = 0; k < nt; k++) {
      float dtv = tdt[k], a = expf(dtv * A);
      lsum += dtv * A;
      float xp = s.pl < s.PB ? tx[k * s.PB + s.pl] : 0.f;
      const float *sB = tB + k * N, *sC = tC + k * N;
      float part = 0.f;
#pragma unroll
      for (int j = 0; j < MAXS; j++) {
        int n = s.ns + j * s.NS;
        if (j < s.nper && n < N) {
          hst[j] = a * hst[j] + dtv * xp * sB[n];
          part += hst[j] * sC[n];
        }
      }
      part = group_sum(part, s.NS);
      if (y && s.ns == 0 && s.valid) st(y, (row0 + k) * ys + (i64)s.h * P + s.p, ydt, part + Dh * xp);
    }
    __syncthreads();
  }
  if (endst && s.valid) {
#pragma unroll
    for (int j = 0; j < MAXS; j++) {
      int n = s.ns + j * s.NS;
      if (j < s.nper && n < N) endst[(i64)s.p * N + n] = hst[j];
    }
  }
  if (logdec && threadIdx.x == 0 && blockIdx.x == 0) *logdec = lsum;
}

// k_ssd_fwd: the whole sequence in one block per (p-block, head, sequence).
extern "C" __global__ void k_ssd_fwd(const void* x, i64 xs, int xdt, const void* dt, i64 dts, int dtdt,
                                     const float* dtbias, const float* alog, const void* Bm, i64 bs, int bdt,
                                     const void* Cm, i64 cs, int cdt, const float* D, void* y, i64 ys, int ydt,
                                     float* fstate, int T, int H, int P, int G, int N, int PB, int NS, int TS) {
  DYN_SMEM(sm);
  ssd_geom s = ssd_setup(H, G, P, N, PB, NS);
  float* endst = fstate ? fstate + ((i64)s.b * H + s.h) * P * N : 0;
  ssd_fwd_range(s, 0, T, x, xs, xdt, dt, dts, dtdt, dtbias[s.h], -expf(alog[s.h]), Bm, bs, bdt, Cm, cs, cdt, D[s.h], y,
                ys, ydt, 0, endst, 0, T, P, N, TS, sm);
}


// k_ssd_bwd_heads: DALog += dA * A (A = -exp(A_log)), DD += dD.
extern "C" __global__ void k_ssd_bwd_heads(const float* dA_acc, const float* dD_acc, const float* alog, float* dalog,
                                           float* dd, int H) {
  int h = blockIdx.x * blockDim.x + threadIdx.x;
  if (h >= H) return;
  dalog[h] += dA_acc[h] * -expf(alog[h]);
  dd[h] += dD_acc[h];
}

// k_copy2d: dst[r, c] = src[r*cols + c] (dense fp32 to a strided view).
extern "C" __global__ void k_copy2d(void* dst, i64 ds, int ddt, const float* src, i64 rows, int cols) {
  i64 n = rows * cols;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x)
    st(dst, (i / cols) * ds + i % cols, ddt, src[i]);
}

// k_ssd_step: one decode step, thread per (b, h, p).
extern "C" __global__ void k_ssd_step(const void* x, i64 xs, int xdt, const void* dt, i64 dts, int dtdt,
                                      const float* dtbias, const float* alog, const void* Bm, i64 bs, int bdt,
                                      const void* Cm, i64 cs, int cdt, const float* D, void* y, i64 ys, int ydt,
                                      float* state, int Bt, int H, int P, int G, int N) {
  i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x;
  if (i >= (i64)Bt * H * P) return;
  int p = (int)(i % P), h = (int)((i / P) % H), b = (int)(i / ((i64)P * H));
  int g = h / (H / G);
  float dtv = softplusf_(ld(dt, (i64)b * dts + h, dtdt) + dtbias[h]);
  float a = expf(dtv * -expf(alog[h]));
  float xp = ld(x, (i64)b * xs + (i64)h * P + p, xdt);
  float* s = state + i * N;
  float acc = 0.f;
  for (int n = 0; n < N; n++) {
    float v = a * s[n] + dtv * xp * ld(Bm, (i64)b * bs + (i64)g * N + n, bdt);
    s[n] = v;
    acc += v * ld(Cm, (i64)b * cs + (i64)g * N + n, cdt);
  }
  st(y, (i64)b * ys + (i64)h * P + p, ydt, acc + D[h] * xp);
}
