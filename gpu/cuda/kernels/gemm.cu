// GEMM: C = alpha * op(A) op(B) + beta * C, row-major with leading
// dimensions (strides), op = optional transpose.
//   k_gemm_f32:  fp32 inputs, SIMT, 64x64 tiles, 4x4 outputs per thread.
//   k_gemm_bf16: bf16 inputs on tensor cores (mma.sync m16n8k16, fp32
//                accumulate), 64x64 tiles, 4 warps of 32x32.
// C is f32 or bf16 (cdt); beta == 0 never reads C.
#include "common.cuh"

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

__device__ __forceinline__ void mma_bf16(float* d, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                                         unsigned b1) {
#ifdef NETSSM_EMU
  netssm_emu_mma_bf16(d, a0, a1, a2, a3, b0, b1);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
}

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
