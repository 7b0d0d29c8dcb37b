// GEMM: C = alpha * op(A) op(B) + beta * C, row-major with leading
// dimensions (strides), op = optional transpose.
//   k_gemm_tc_{nn,nt,tn,tt}: the fast path for bf16 inputs (see below):
//                128x128x32 block tiles, 8 warps of 64x32 (k_gemm_tc4_*:
//                4 warps of 64x64), a 3-stage
//                cp.async pipeline (k_gemm_tc_s4_*, k_gemm_tc4_s4_*: 4
//                stages; k_gemm_tc_128x256_*, k_gemm_tc_256x128_*: larger
//                tiles, 8 warps of 64x64), ldmatrix from XOR-swizzled shared memory,
//                mma.sync m16n8k16 with fp32 accumulation, optional split-K
//                (k_gemm_splitk_reduce sums the partial tiles in order).
//   k_gemm_f32:  fp32 inputs, SIMT, 64x64 tiles, 4x4 outputs per thread.
//   k_gemm_bf16: bf16 inputs on tensor cores (mma.sync m16n8k16, fp32
//                accumulate), 64x64 tiles, 4 warps of 32x32: the fallback for
//                bf16 operands the fast path cannot take (rows not 16-byte
//                aligned).
// C is f32 or bf16 (cdt); beta == 0 never reads C.
#include "common.cuh"
#include "mma.cuh"

#define TM 64
#define TN 64
#define TK 16

extern "C" __global__ void __launch_bounds__(256) k_gemm_f32(int ta, int tb, int M, int N, int K, float alpha,
                                                             float beta, const float* A, i64 lda, const float* B,
                                                             i64 ldb, void* C, i64 ldc, int cdt) {
  __shared__ float As[TK][TM + 1];
  __shared__ float Bs[TK][TN + 1];
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  int m0 = blockIdx.y * TM, n0 = blockIdx.x * TN;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
  for (int k0 = 0; k0 < K; k0 += TK) {
    for (int i = threadIdx.x; i < TM * TK; i += 256) {
      int mm, kk;
      if (ta) { mm = i % TM; kk = i / TM; } else { kk = i % TK; mm = i / TK; }
      int gm = m0 + mm, gk = k0 + kk;
      As[kk][mm] = (gm < M && gk < K) ? (ta ? A[(i64)gk * lda + gm] : A[(i64)gm * lda + gk]) : 0.f;
    }
    for (int i = threadIdx.x; i < TN * TK; i += 256) {
      int nn, kk;
      if (tb) { kk = i % TK; nn = i / TK; } else { nn = i % TN; kk = i / TN; }
      int gn = n0 + nn, gk = k0 + kk;
      Bs[kk][nn] = (gn < N && gk < K) ? (tb ? B[(i64)gn * ldb + gk] : B[(i64)gk * ldb + gn]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TK; kk++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        a[i] = As[kk][ty + 16 * i];
        b[i] = Bs[kk][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < M && n < N) {
        float v = alpha * acc[i][j];
        if (beta != 0.f) v += beta * ld(C, (i64)m * ldc + n, cdt);
        st(C, (i64)m * ldc + n, cdt, v);
      }
    }
}

#define BM 64
#define BN 64
#define BK 32
#define BKP (BK + 8)  // padded row: 80 bytes, keeps 4-byte fragment loads aligned

extern "C" __global__ void __launch_bounds__(128)
    k_gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, float beta, const unsigned short* A, i64 lda,
                const unsigned short* B, i64 ldb, void* C, i64 ldc, int cdt) {
  __shared__ __align__(16) unsigned short As[BM][BKP];  // As[m][k]
  __shared__ __align__(16) unsigned short Bs[BN][BKP];  // Bs[n][k]
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int g = lane >> 2, tig = lane & 3;
  int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
  int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  float acc[2][4][4];
#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;
  for (int k0 = 0; k0 < K; k0 += BK) {
    for (int i = threadIdx.x; i < BM * BK; i += 128) {
      int mm, kk;
      if (ta) { mm = i % BM; kk = i / BM; } else { kk = i % BK; mm = i / BK; }
      int gm = m0 + mm, gk = k0 + kk;
      As[mm][kk] = (gm < M && gk < K) ? (ta ? A[(i64)gk * lda + gm] : A[(i64)gm * lda + gk]) : (unsigned short)0;
    }
    for (int i = threadIdx.x; i < BN * BK; i += 128) {
      int nn, kk;
      if (tb) { kk = i % BK; nn = i / BK; } else { nn = i % BN; kk = i / BN; }
      int gn = n0 + nn, gk = k0 + kk;
      Bs[nn][kk] = (gn < N && gk < K) ? (tb ? B[(i64)gn * ldb + gk] : B[(i64)gk * ldb + gn]) : (unsigned short)0;
    }
    __syncthreads();
#pragma unroll
    for (int ks = 0; ks < BK; ks += 16) {
      unsigned a[2][4], b[4][2];
#pragma unroll
      for (int mi = 0; mi < 2; mi++) {
        int rb = wm + mi * 16;
        a[mi][0] = *(const unsigned*)&As[rb + g][ks + tig * 2];
        a[mi][1] = *(const unsigned*)&As[rb + g + 8][ks + tig * 2];
        a[mi][2] = *(const unsigned*)&As[rb + g][ks + tig * 2 + 8];
        a[mi][3] = *(const unsigned*)&As[rb + g + 8][ks + tig * 2 + 8];
      }
#pragma unroll
      for (int ni = 0; ni < 4; ni++) {
        int nb = wn + ni * 8;
        b[ni][0] = *(const unsigned*)&Bs[nb + g][ks + tig * 2];
        b[ni][1] = *(const unsigned*)&Bs[nb + g][ks + tig * 2 + 8];
      }
#pragma unroll
      for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
          mma_bf16(acc[mi][ni], a[mi][0], a[mi][1], a[mi][2], a[mi][3], b[ni][0], b[ni][1]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int mi = 0; mi < 2; mi++)
#pragma unroll
    for (int ni = 0; ni < 4; ni++)
#pragma unroll
      for (int r = 0; r < 4; r++) {
        int m = m0 + wm + mi * 16 + g + (r >= 2 ? 8 : 0);
        int n = n0 + wn + ni * 8 + tig * 2 + (r & 1);
        if (m < M && n < N) {
          float v = alpha * acc[mi][ni][r];
          if (beta != 0.f) v += beta * ld(C, (i64)m * ldc + n, cdt);
          st(C, (i64)m * ldc + n, cdt, v);
        }
      }
}

// k_gemv_tb: C = alpha * A B^T + beta * C for a few rows (M <= 8; decode),
// A [M,K] and B [N,K] row-major in f32 or bf16: one warp per output column
// n streams row n of B once for all M rows of A.
#define GEMV_MAXM 8
extern "C" __global__ void k_gemv_tb(int M, int N, int K, float alpha, float beta, const void* A, i64 lda, int adt,
                                     const void* B, i64 ldb, int bdt, void* C, i64 ldc, int cdt) {
  int n = (int)((blockIdx.x * (i64)blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
  if (n >= N) return;  // uniform per warp
  float acc[GEMV_MAXM];
#pragma unroll
  for (int m = 0; m < GEMV_MAXM; m++) acc[m] = 0.f;
  for (int k = lane; k < K; k += 32) {
    float w = ld(B, (i64)n * ldb + k, bdt);
#pragma unroll
    for (int m = 0; m < GEMV_MAXM; m++)
      if (m < M) acc[m] += ld(A, (i64)m * lda + k, adt) * w;
  }
#pragma unroll
  for (int m = 0; m < GEMV_MAXM; m++) {
    if (m < M) {
      float v = warp_sum(acc[m]);
      if (lane == 0) {
        v *= alpha;
        if (beta != 0.f) v += beta * ld(C, (i64)m * ldc + n, cdt);
        st(C, (i64)m * ldc + n, cdt, v);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The fast bf16 path: k_gemm_tc_<a><b>, a/b = n (as stored: A [M,K], B [K,N])
// or t (transposed: A stored [K,M], B stored [N,K]).
//
// Block tile BM x BN (128x128 for the k_gemm_tc_* and k_gemm_tc4_* kernels),
// K step BK (32 or 64), STAGES stages in dynamic shared memory
// (STAGES * (BM + BN) * BK * 2 bytes: 48 KiB for the 3-stage 128x128x32
// kernels, which needs no opt-in attribute; the host opts the larger ones in
// with cuFuncSetAttribute). Warp tiles are TC_WM x WN. Each operand tile
// is kept in shared memory in its global layout, so that every 16-byte
// cp.async chunk is a plain copy:
//   K-contiguous (A as stored, B transposed): [ROWS][BK k] = BK/8 chunks a
//     row; chunk c of row r lives at chunk slot c ^ ((r >> 1) & 3) (BK 32)
//     or c ^ (r & 7) (BK 64): tc_kslot;
//   row-contiguous (A transposed, B as stored): [BK k][ROWS cols] = ROWS/8
//     chunks a row; chunk c of row k at slot c ^ (k & 7).
// Either way the 8 row addresses of one 8x8 ldmatrix matrix (8 consecutive
// rows, same chunk) fall in 8 different 16-byte bank groups, and so do the 8
// chunks one quarter-warp writes with cp.async: no bank conflicts. Fragments
// come from ldmatrix.x4 (K-contiguous) or ldmatrix.x4.trans (row-contiguous).
//
// Edges: chunks past M, N or K are zero-filled by cp.async's src-size form
// (src-size = the bytes inside the matrix, 0..16), so M, N, K are arbitrary;
// rows must start 16-byte aligned (pointer and stride in elements a multiple
// of 8), which the host checks before choosing this path.
//
// Grid: x = output tiles in grouped order (TC_GROUP tile rows at a time, for
// L2 reuse of the B columns and A rows in flight), z = K splits. With ws ==
// nullptr the block applies alpha/beta and writes C; otherwise it writes its
// raw fp32 partial tile to ws[z][M][N] and k_gemm_splitk_reduce finishes.
#undef BM  // the fallback kernel's tile macros; BM, BN are template parameters below
#undef BN
#undef BK
#define TC_WM 64  // warp tile rows; columns WN: 32 (64x32) or 64 (64x64)
#define TC_GROUP 8

// tc_kslot is the 16-byte slot of K chunk kc in row `row` of a K-contiguous
// tile of BK columns: 4 chunks a row (BK 32: two rows share a 128-byte bank
// line) swizzled by (row >> 1) & 3, or 8 (BK 64: a row is a bank line)
// swizzled by row & 7; either way 8 consecutive rows' chunk kc are 8
// distinct bank groups.
template <int BK>
__device__ __forceinline__ int tc_kslot(int row, int kc) {
  static_assert(BK == 32 || BK == 64, "K step 32 or 64");
  return BK == 32 ? kc ^ ((row >> 1) & 3) : kc ^ (row & 7);
}

// tc_load_tile issues the cp.async copies of one operand tile: ROWS rows
// r0.. (M or N side) and BK columns k0.. of a matrix stored K-contiguous
// (KCONT: element (r, k) at p[r*ld + k]) or row-contiguous (element (r, k)
// at p[k*ld + r]), with R rows and K columns in all, into dst (swizzled as
// described above).
template <bool KCONT, int ROWS, int BK, int THREADS>
__device__ __forceinline__ void tc_load_tile(unsigned short* dst, const unsigned short* p, i64 ld, int R, int K,
                                             int r0, int k0) {
  static_assert(ROWS * BK / 8 % THREADS == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int i = 0; i < ROWS * BK / 8 / THREADS; i++) {
    int c = threadIdx.x + i * THREADS;
    const unsigned short* src = p;
    int bytes = 0;
    if (KCONT) {
      int row = c / (BK / 8), kc = c % (BK / 8);
      int r = r0 + row, k = k0 + kc * 8;
      if (r < R && k < K) {
        src = p + (i64)r * ld + k;
        bytes = min(K - k, 8) * 2;
      }
      cp_async16(dst + row * BK + (tc_kslot<BK>(row, kc) << 3), src, bytes);
    } else {
      int row = c / (ROWS / 8), rc = c % (ROWS / 8);
      int k = k0 + row, r = r0 + rc * 8;
      if (k < K && r < R) {
        src = p + (i64)k * ld + r;
        bytes = min(R - r, 8) * 2;
      }
      cp_async16(dst + row * ROWS + ((rc ^ (row & 7)) << 3), src, bytes);
    }
  }
}

template <bool TA, bool TB, int BM, int BN, int BK, int STAGES, int WN>
__device__ __forceinline__ void gemm_tc(int M, int N, int K, float alpha, float beta, const unsigned short* A, i64 lda,
                                        const unsigned short* B, i64 ldb, void* C, i64 ldc, int cdt, int kchunk,
                                        float* ws) {
  DYN_SMEM(smf);
  unsigned short* sm = (unsigned short*)smf;  // [stage][A tile, B tile]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, tig = lane & 3;
  constexpr int WARPS_N = BN / WN, THREADS = (BM / TC_WM) * WARPS_N * 32;
  constexpr int TILE_A = BM * BK, STAGE = (BM + BN) * BK;  // elements
  constexpr int CST = BN + 8;  // row stride (floats) of the epilogue's staging tile
  static_assert(TC_WM * CST * 4 <= STAGES * STAGE * 2, "the epilogue's staging tile must fit in the pipeline's smem");
  constexpr int MI = TC_WM / 16, NI = WN / 8;  // mma tiles per warp
  const int wm = (warp / WARPS_N) * TC_WM, wn = (warp % WARPS_N) * WN;

  // grouped tile order
  const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
  const int pid = blockIdx.x, per_group = TC_GROUP * tiles_n;
  const int first_m = (pid / per_group) * TC_GROUP;
  const int gsz = min(tiles_m - first_m, TC_GROUP);
  const int m0 = (first_m + (pid % per_group) % gsz) * BM;
  const int n0 = ((pid % per_group) / gsz) * BN;
  const int kbeg = blockIdx.z * kchunk, kend = min(K, kbeg + kchunk);
  const int ktiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; i++)
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
      for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;

  // Prologue: stages 0..STAGES-2. One commit per stage, empty or not, so
  // that wait_group counts stay in step.
#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < ktiles) {
      unsigned short* st_ = sm + s * STAGE;
      tc_load_tile<!TA, BM, BK, THREADS>(st_, A, lda, M, kend, m0, kbeg + s * BK);
      tc_load_tile<TB, BN, BK, THREADS>(st_ + TILE_A, B, ldb, N, kend, n0, kbeg + s * BK);
    }
    cp_async_commit();
  }

  for (int kt = 0; kt < ktiles; kt++) {
    cp_async_wait<STAGES - 2>();  // this thread's copies of tile kt are done
    __syncthreads();                 // everyone's are; everyone finished tile kt-1
    {
      int nk = kt + STAGES - 1;
      if (nk < ktiles) {
        unsigned short* st_ = sm + (nk % STAGES) * STAGE;
        tc_load_tile<!TA, BM, BK, THREADS>(st_, A, lda, M, kend, m0, kbeg + nk * BK);
        tc_load_tile<TB, BN, BK, THREADS>(st_ + TILE_A, B, ldb, N, kend, n0, kbeg + nk * BK);
      }
      cp_async_commit();
    }
    const unsigned short* As = sm + (kt % STAGES) * STAGE;
    const unsigned short* Bs = As + TILE_A;
    const int j = lane >> 3, r = lane & 7;
    // K step 64 runs as two unrolled halves of 32 (not unrolled into one):
    // fully unrolled, the compiler keeps more fragments live and spills.
#pragma unroll 1
    for (int kh = 0; kh < BK; kh += 32)
#pragma unroll
    for (int ks = kh; ks < kh + 32; ks += 16) {
      unsigned a[MI][4], b[NI][2];
#pragma unroll
      for (int mi = 0; mi < MI; mi++) {
        if (!TA) {  // As[m][k]: matrices (m+0,k+0) (m+8,k+0) (m+0,k+8) (m+8,k+8)
          int row = wm + mi * 16 + r + (j & 1) * 8, kc = (ks >> 3) + (j >> 1);
          ldsm_x4<false>(a[mi], As + row * BK + (tc_kslot<BK>(row, kc) << 3));
        } else {  // As[k][m], transposed on load
          int k = ks + r + (j >> 1) * 8, mc = (wm + mi * 16 + (j & 1) * 8) >> 3;
          ldsm_x4<true>(a[mi], As + k * BM + ((mc ^ (k & 7)) << 3));
        }
      }
#pragma unroll
      for (int p = 0; p < NI / 2; p++) {
        unsigned t[4];
        if (TB) {  // Bs[n][k]: matrices (n+0,k+0) (n+0,k+8) (n+8,k+0) (n+8,k+8)
          int row = wn + p * 16 + r + (j >> 1) * 8, kc = (ks >> 3) + (j & 1);
          ldsm_x4<false>(t, Bs + row * BK + (tc_kslot<BK>(row, kc) << 3));
        } else {  // Bs[k][n], transposed on load
          int k = ks + r + (j & 1) * 8, nc = (wn + p * 16 + (j >> 1) * 8) >> 3;
          ldsm_x4<true>(t, Bs + k * BN + ((nc ^ (k & 7)) << 3));
        }
        b[2 * p][0] = t[0], b[2 * p][1] = t[1], b[2 * p + 1][0] = t[2], b[2 * p + 1][1] = t[3];
      }
#pragma unroll
      for (int mi = 0; mi < MI; mi++)
#pragma unroll
        for (int ni = 0; ni < NI; ni++)
          mma_bf16(acc[mi][ni], a[mi][0], a[mi][1], a[mi][2], a[mi][3], b[ni][0], b[ni][1]);
    }
  }
  cp_async_wait<0>();  // only empty groups are left; leave none in flight

  // Epilogue, through shared memory one 64-row slice of the tile at a time
  // (the warps of that half write their accumulators, rows padded to
  // CST floats so the 8-byte stores of a half-warp hit distinct banks),
  // so that global stores are row-contiguous: a warp stores 128 consecutive
  // elements, 16 (f32) or 8 (bf16) bytes a thread where C's alignment
  // allows. With ws, the raw fp32 partial tile goes to ws[z] instead.
  __syncthreads();  // every warp is done reading the pipeline's tiles
  float* cs = (float*)sm;  // [TC_WM][CST]
  const bool f32 = cdt != DT_BF16;
  const bool vec = ws ? (N & 3) == 0 : (ldc & 3) == 0 && (((unsigned long long)C) & (f32 ? 15 : 7)) == 0;
  float* wsz = ws ? ws + (i64)blockIdx.z * M * N : nullptr;
#pragma unroll 1
  for (int half = 0; half < BM / TC_WM; half++) {
    if (wm == half * TC_WM) {
#pragma unroll
      for (int mi = 0; mi < MI; mi++)
#pragma unroll
        for (int ni = 0; ni < NI; ni++)
#pragma unroll
          for (int h = 0; h < 2; h++)
            *(float2*)&cs[(mi * 16 + g + h * 8) * CST + wn + ni * 8 + tig * 2] =
                make_float2(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]);
    }
    __syncthreads();
#pragma unroll 1
    for (int i = threadIdx.x; i < TC_WM * (BN / 4); i += THREADS) {
      const int r = i / (BN / 4), c = (i % (BN / 4)) * 4;
      const int m = m0 + half * TC_WM + r, n = n0 + c;
      if (m >= M || n >= N) continue;
      const float4 v = *(const float4*)&cs[r * CST + c];
      const float x[4] = {v.x, v.y, v.z, v.w};
      const bool full = vec && n + 3 < N;
      if (wsz) {
        float* o = wsz + (i64)m * N + n;
        if (full)
          *(float4*)o = v;
        else
          for (int j = 0; j < 4 && n + j < N; j++) o[j] = x[j];
        continue;
      }
      const i64 o = (i64)m * ldc + n;
      if (full && f32) {
        float4* q = (float4*)((float*)C + o);
        float4 y = make_float4(alpha * v.x, alpha * v.y, alpha * v.z, alpha * v.w);
        if (beta != 0.f) {
          const float4 c0 = *q;
          y.x += beta * c0.x, y.y += beta * c0.y, y.z += beta * c0.z, y.w += beta * c0.w;
        }
        *q = y;
      } else if (full) {
        uint2* q = (uint2*)((unsigned short*)C + o);
        float y[4];
        for (int j = 0; j < 4; j++) y[j] = alpha * x[j];
        if (beta != 0.f) {
          const uint2 c0 = *q;
          y[0] += beta * bf2f((unsigned short)(c0.x & 0xffffu)), y[1] += beta * bf2f((unsigned short)(c0.x >> 16));
          y[2] += beta * bf2f((unsigned short)(c0.y & 0xffffu)), y[3] += beta * bf2f((unsigned short)(c0.y >> 16));
        }
        uint2 w;
        w.x = (unsigned)f2bf(y[0]) | ((unsigned)f2bf(y[1]) << 16);
        w.y = (unsigned)f2bf(y[2]) | ((unsigned)f2bf(y[3]) << 16);
        *q = w;
      } else {
        for (int j = 0; j < 4 && n + j < N; j++) {
          float y = alpha * x[j];
          if (beta != 0.f) y += beta * ld(C, o + j, cdt);
          st(C, o + j, cdt, y);
        }
      }
    }
    __syncthreads();  // before the next half overwrites cs
  }
}

#define TC_KERNEL(name, TA, TB, BM, BN, BK, STAGES, WN, MINB)                                                     \
  extern "C" __global__ void __launch_bounds__((BM / TC_WM) * (BN / WN) * 32, MINB)                                 \
      name(int M, int N, int K, float alpha, float beta, const unsigned short* A, i64 lda, const unsigned short* B,   \
           i64 ldb, void* C, i64 ldc, int cdt, int kchunk, float* ws) {                                              \
    gemm_tc<TA, TB, BM, BN, BK, STAGES, WN>(M, N, K, alpha, beta, A, lda, B, ldb, C, ldc, cdt, kchunk, ws);          \
  }
#define TC_KERNELS(prefix, BM, BN, BK, STAGES, WN, MINB)                 \
  TC_KERNEL(prefix##nn, false, false, BM, BN, BK, STAGES, WN, MINB)      \
  TC_KERNEL(prefix##nt, false, true, BM, BN, BK, STAGES, WN, MINB)       \
  TC_KERNEL(prefix##tn, true, false, BM, BN, BK, STAGES, WN, MINB)       \
  TC_KERNEL(prefix##tt, true, true, BM, BN, BK, STAGES, WN, MINB)
// The variants (gemm.go's tcVariants lists the same). 128x128, K step 32,
// 3 stages (48 KiB): 8 warps of 64x32 (256 threads) and 4 warps of 64x64
// (128 threads: a third less shared-memory traffic per mma, twice the
// accumulator registers); two blocks per SM.
TC_KERNELS(k_gemm_tc_, 128, 128, 32, 3, 32, 2)
TC_KERNELS(k_gemm_tc4_, 128, 128, 32, 3, 64, 2)
// The same with 4 stages (64 KiB: two blocks per SM still fit in sm_80's
// 164 KiB and sm_90's 228 KiB): one more K tile in flight.
TC_KERNELS(k_gemm_tc_s4_, 128, 128, 32, 4, 32, 2)
TC_KERNELS(k_gemm_tc4_s4_, 128, 128, 32, 4, 64, 2)
// K step 64, 3 stages (96 KiB: two blocks per SM on sm_90, one on sm_80),
// 4 warps of 64x64: half the barriers and pipeline waits per flop. (The
// 8-warp form spills under its 128-register cap.)
TC_KERNELS(k_gemm_tc4_k64_, 128, 128, 64, 3, 64, 2)
// 128x256 and 256x128, 8 warps of 64x64, K step 32, 3 stages (72 KiB):
// half the global and shared-memory traffic per flop of 128x128; one block
// per SM (8 warps of ~220 registers).
TC_KERNELS(k_gemm_tc_128x256_, 128, 256, 32, 3, 64, 1)
TC_KERNELS(k_gemm_tc_256x128_, 256, 128, 32, 3, 64, 1)

// k_gemm_splitk_reduce: C = alpha * sum_z ws[z] + beta * C, summing the
// splits in order (deterministic).
extern "C" __global__ void k_gemm_splitk_reduce(int M, int N, int splits, const float* ws, float alpha, float beta,
                                                void* C, i64 ldc, int cdt) {
  i64 total = (i64)M * N, stride = (i64)gridDim.x * blockDim.x;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total; i += stride) {
    float s = 0.f;
    for (int z = 0; z < splits; z++) s += ws[z * total + i];
    i64 m = i / N, n = i - m * N, o = m * ldc + n;
    float v = alpha * s;
    if (beta != 0.f) v += beta * ld(C, o, cdt);
    st(C, o, cdt, v);
  }
}
