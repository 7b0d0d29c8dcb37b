// Tensor-core and async-copy primitives shared by the GEMM and SSD kernels:
// mma.sync m16n8k16 bf16 with fp32 accumulators, ldmatrix.x4 (.trans), and
// cp.async 16-byte copies with commit/wait groups. On the emulator (build
// tag cudaemu, NETSSM_EMU) each maps to emu.h's model of the PTX ISA.
#pragma once
#include "common.cuh"

// mma_bf16: d[0..3] += A (16x16, fragments a0..a3) * B (16x8, b0, b1).
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

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
#ifdef NETSSM_EMU
  netssm_emu_cp_async16(smem, gmem, src_bytes);
#else
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes) : "memory");
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#ifdef NETSSM_EMU
  netssm_emu_cp_async_commit();
#else
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#ifdef NETSSM_EMU
  netssm_emu_cp_async_wait(N);
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// ldsm_x4 loads four 8x8 b16 matrices; lane l gives the address of row l%8
// of matrix l/8; register j gets matrix j's (row lane/4, cols 2*(lane%4)+{0,1})
// or, transposed, (rows 2*(lane%4)+{0,1}, col lane/4).
template <bool TRANS>
__device__ __forceinline__ void ldsm_x4(unsigned* r, const void* smem) {
#ifdef NETSSM_EMU
  netssm_emu_ldmatrix(r, 4, TRANS, smem);
#else
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  if (TRANS)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
#endif
}
