// k_dec_persistent: a whole decode step (embedding, every layer's three
// fused decode ops, final norm + head) in one cooperative launch.
//
// The host records the launches the fused path would make (k_embed, k_dec_in,
// k_dec_ssd, k_dec_out, in order) into a program in device memory: per
// phase PERSIST_WORDS 64-bit words, a header {kind, gx, gy, gz} and then the
// kernel's argument list exactly as it would be passed to cuLaunchKernel.
// Every block of the persistent grid runs every phase, taking the phase's
// blocks (x fastest) grid-stride, with the fused kernels' own per-block code
// (decode.cuh); a grid-wide barrier separates consecutive phases. The grid
// must be co-resident (a cooperative launch of at most the occupancy limit),
// or the barrier would never open.
//
// Grid barrier: bar[0] counts the blocks arrived, bar[1] is a generation.
// A block's thread 0 reads the generation, then arrives; the last to arrive
// resets the count and bumps the generation; the others spin until the
// generation changes. The count is back at zero after every barrier, so the
// same two words serve every phase and every token (the host zeroes them
// once, and again after a failed launch).
#include "decode.cuh"

#define PERSIST_WORDS 40  // 4 header words + up to 36 arguments
#define PERSIST_ARGS 4
#define PH_EMBED 1
#define PH_IN 2
#define PH_SSD 3
#define PH_OUT 4

// persist_spin is the body of a spin-wait loop: nothing on a GPU; in the
// emulator (one OS thread) it lets the other blocks' fibers run.
#ifdef NETSSM_EMU
#define persist_spin() netssm_emu_yield()
#else
#define persist_spin() ((void)0)
#endif

typedef unsigned long long u64;

__device__ __forceinline__ void grid_barrier(unsigned* bar, unsigned nblocks) {
  __syncthreads();
  if (threadIdx.x == 0) {
    volatile unsigned* gen = bar + 1;
    unsigned g = *gen;
    __threadfence();  // this block's writes before its arrival
    if (atomicAdd(bar, 1u) == nblocks - 1) {
      atomicExch(bar, 0u);
      __threadfence();
      atomicAdd(bar + 1, 1u);
    } else {
      while (*gen == g) persist_spin();
    }
    __threadfence();  // the other blocks' writes before this block's reads
  }
  __syncthreads();
}

__device__ __forceinline__ const void* pa(const u64* a, int i) { return (const void*)(size_t)a[i]; }
__device__ __forceinline__ void* pm(const u64* a, int i) { return (void*)(size_t)a[i]; }
__device__ __forceinline__ int ia(const u64* a, int i) { return (int)(unsigned)a[i]; }
__device__ __forceinline__ i64 la(const u64* a, int i) { return (i64)a[i]; }
__device__ __forceinline__ float fa(const u64* a, int i) { return __uint_as_float((unsigned)a[i]); }

// persist_embed is k_embed's work for row r (its V = 1 path; fp32 output
// holds the table's values exactly either way).
__device__ __forceinline__ void persist_embed(const u64* a, int r) {
  const int* ids = (const int*)pa(a, 0);
  const void* table = pa(a, 1);
  int tdt = ia(a, 2), odt = ia(a, 5), rows = ia(a, 6), dim = ia(a, 7), vocab = ia(a, 8);
  void* out = pm(a, 3);
  i64 os = la(a, 4);
  if (r >= rows) return;
  int id = ids[r];
  bool ok = id >= 0 && id < vocab;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) st(out, r * os + d, odt, ok ? ld(table, (i64)id * dim + d, tdt) : 0.f);
}

extern "C" __global__ void __launch_bounds__(128, 1) k_dec_persistent(const u64* prog, int nphase, unsigned* bar) {
  DYN_SMEM(dsm);  // 32 floats of reduction scratch, then the phase's shared memory
  float* scratch = dsm;
  float* sm = dsm + 32;
  unsigned nb = gridDim.x;
  for (int ph = 0; ph < nphase; ph++) {
    if (ph > 0) grid_barrier(bar, nb);
    const u64* h = prog + (i64)ph * PERSIST_WORDS;
    const u64* a = h + PERSIST_ARGS;
    int kind = (int)h[0], gx = (int)h[1], gy = (int)h[2], gz = (int)h[3];
    if (kind == PH_IN || kind == PH_OUT) {
      // the column loop is grid-stride: fewer x blocks do the same work with
      // fewer repeats of the norm prologue
      gx = max(1, min(gx, (int)nb / gy));
    }
    int total = gx * gy * gz;
    for (int v = blockIdx.x; v < total; v += nb) {
      int bx = v % gx, by = (v / gx) % gy, bz = v / (gx * gy);
      __syncthreads();  // the previous tile's warps are done with shared memory
      switch (kind) {
        case PH_EMBED:
          persist_embed(a, bx);
          break;
        case PH_IN:
          dec_in_tile(pa(a, 0), la(a, 1), ia(a, 2), pa(a, 3), ia(a, 4), pa(a, 5), la(a, 6), ia(a, 7), pm(a, 8), la(a, 9),
                      ia(a, 10), ia(a, 11), ia(a, 12), ia(a, 13), ia(a, 14), fa(a, 15), ia(a, 16), (float*)pm(a, 17),
                      pa(a, 18), ia(a, 19), pa(a, 20), ia(a, 21), pm(a, 22), la(a, 23), ia(a, 24), ia(a, 25), ia(a, 26),
                      ia(a, 27), ia(a, 28), bx, gx, by, sm, scratch);
          break;
        case PH_SSD:
          dec_ssd_tile(pa(a, 0), la(a, 1), ia(a, 2), pa(a, 3), la(a, 4), ia(a, 5), (const float*)pa(a, 6),
                       (const float*)pa(a, 7), pa(a, 8), la(a, 9), ia(a, 10), pa(a, 11), la(a, 12), ia(a, 13),
                       (const float*)pa(a, 14), pm(a, 15), la(a, 16), ia(a, 17), (float*)pm(a, 18), ia(a, 19), ia(a, 20),
                       ia(a, 21), ia(a, 22), bx, by, bz, sm);
          break;
        case PH_OUT:
          dec_out_tile(pa(a, 0), la(a, 1), ia(a, 2), pa(a, 3), la(a, 4), ia(a, 5), pa(a, 6), ia(a, 7), pa(a, 8), la(a, 9),
                       ia(a, 10), pm(a, 11), la(a, 12), ia(a, 13), (float*)pm(a, 14), la(a, 15), ia(a, 16), ia(a, 17),
                       ia(a, 18), ia(a, 19), ia(a, 20), fa(a, 21), ia(a, 22), bx, gx, by, sm, scratch);
          break;
      }
    }
  }
}

// k_grid_barrier_test: nphase rounds; in round r every block adds 1 to
// cnt[r] (one atomic per block) and then, after the barrier, block 0
// thread 0 checks that cnt[r] == gridDim.x and records it in ok[r]. A test
// of the barrier (gpu/cuda tests), 128 threads per block.
extern "C" __global__ void __launch_bounds__(128) k_grid_barrier_test(unsigned* bar, unsigned* cnt, unsigned* ok, int nphase) {
  for (int r = 0; r < nphase; r++) {
    if (threadIdx.x == 0) atomicAdd(cnt + r, 1u);
    grid_barrier(bar, gridDim.x);
    if (blockIdx.x == (unsigned)(r % gridDim.x) && threadIdx.x == 0) ok[r] = *(volatile unsigned*)(cnt + r) == gridDim.x;
  }
}
