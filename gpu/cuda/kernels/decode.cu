// Fused decode kernels (gpu.FusedDecoder): a Mamba2 layer's decode step in
// three launches.
//
// k_dec_in:  RMSNorm of the residual rows -> u (shared memory), Out = u W^T,
//            and the conv1d step (+SiLU) on the xBC columns of Out.
// k_dec_ssd: the SSD state update and output per (row, head, p).
// k_dec_out: gated RMSNorm of y with z -> g (shared memory), Out = g W^T,
//            residual += Out.
//
// The GEMV kernels are built for batch 1 (bandwidth-bound on the weights):
// one warp per output column, each lane streaming 16 bytes of the weight row
// per load (8 bf16 or 4 f32) when the row is 16-byte aligned, dot products
// against up to DEC_MAXM rows of the normalised input held in shared memory
// in W's dtype (so the weights are read once per DEC_MAXM rows, and bf16 rows
// halve the shared-memory traffic), warp-shuffle reductions.
// Every block recomputes the norm of its rows (a few KB from L2) instead of
// a separate launch. Grid: x over column groups (grid-stride), y over row
// tiles of mb rows (mb <= DEC_MAXM, chosen on the host so that K floats and
// mb*K elements of W's dtype fit in the dynamic shared memory).
#include "decode.cuh"

extern "C" __global__ void __launch_bounds__(128)
    k_dec_in(const void* x, i64 xs, int xdt, const void* nw, int nwdt, const void* w, i64 ws, int wdt, void* out, i64 os,
             int odt, int M, int N, int K, int mb, float eps, int vec, float* cstate, const void* cw, int cwdt,
             const void* cb, int cbdt, void* cout, i64 cos, int codt, int cdim, int coff, int cwidth, int act) {
  DYN_SMEM(dsm);
  __shared__ float scratch[32];
  dec_in_tile(x, xs, xdt, nw, nwdt, w, ws, wdt, out, os, odt, M, N, K, mb, eps, vec, cstate, cw, cwdt, cb, cbdt, cout, cos, codt, cdim, coff, cwidth, act, blockIdx.x, gridDim.x, blockIdx.y, dsm, scratch);
}

extern "C" __global__ void __launch_bounds__(128)
    k_dec_out(const void* y, i64 ys, int ydt, const void* z, i64 zs, int zdt, const void* nw, int nwdt, const void* w,
              i64 ws, int wdt, void* out, i64 os, int odt, float* res, i64 rs, int M, int N, int K, int gs, int mb,
              float eps, int vec) {
  DYN_SMEM(dsm);
  __shared__ float scratch[32];
  dec_out_tile(y, ys, ydt, z, zs, zdt, nw, nwdt, w, ws, wdt, out, os, odt, res, rs, M, N, K, gs, mb, eps, vec, blockIdx.x, gridDim.x, blockIdx.y, dsm, scratch);
}

// k_dec_ssd: one warp per (row b = blockIdx.z, head h = blockIdx.y, p), the
// lanes over the state dimension; B and C of the head's group are staged in
// shared memory (2N floats). Same arithmetic as k_ssd_step.
extern "C" __global__ void __launch_bounds__(128)
    k_dec_ssd(const void* x, i64 xs, int xdt, const void* dt, i64 dts, int dtdt, const float* dtbias, const float* alog,
              const void* Bm, i64 bs, int bdt, const void* Cm, i64 cs, int cdt, const float* D, void* y, i64 ys, int ydt,
              float* state, int H, int P, int G, int N) {
  DYN_SMEM(dsm);
  dec_ssd_tile(x, xs, xdt, dt, dts, dtdt, dtbias, alog, Bm, bs, bdt, Cm, cs, cdt, D, y, ys, ydt, state, H, P, G, N, blockIdx.x, blockIdx.y, blockIdx.z, dsm);
}
