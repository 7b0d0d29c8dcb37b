//go:build cudaemu && !cuda

// The CUDA kernels of gpu/cuda/kernels compiled for the host (see emu.h), a
// fiber scheduler, and netssm_emu_launch, which emuDevice calls with the
// same kernel names and 8-byte-per-argument lists as cuDevice passes to
// cuLaunchKernel.

#include "emu.h"
#include "emu_stamp.h"  // changes with the kernel sources (see gen.sh)

#include "kernels/elementwise.cu"
#include "kernels/norm.cu"
#include "kernels/conv.cu"
#include "kernels/gemm.cu"
#include "kernels/ssd.cu"
#include "kernels/decode.cu"
#include "kernels/decode_persist.cu"
#include "kernels/optim.cu"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

#include <deque>
#include <map>
#include <string>

#include <type_traits>
#include <utility>
#include <vector>

#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for amd64"
#endif

netssm_dim3 blockIdx, blockDim, gridDim;

// ---- fibers: a minimal stack switch (callee-saved registers + rsp) ----
extern "C" void netssm_emu_switch(void** save_sp, void* new_sp);
__asm__(
    ".text\n.globl netssm_emu_switch\n.type netssm_emu_switch,@function\n"
    "netssm_emu_switch:\n"
    "\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
    "\tmovq %rsp, (%rdi)\n\tmovq %rsi, %rsp\n"
    "\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
    "\tret\n.size netssm_emu_switch,.-netssm_emu_switch\n");

namespace {

const size_t kStack = 128 << 10;

struct Fiber {
  void* sp = nullptr;
  char* stack = nullptr;
  bool done = false, waiting = false;
  bool yielded = false;  // left at a spin-wait yield (netssm_emu_yield), not a barrier
};

std::vector<Fiber> fibers;
void* sched_sp;
// nthreads fibers in all, bsize per block: one block, or in a cooperative
// launch (coop) every block of the grid, fiber t being thread t % bsize of
// block t / bsize.
int cur, nthreads, bsize;
bool coop = false;
std::vector<char*> coop_dyn;  // per block of a cooperative launch: its dynamic shared memory
long long yields;
const long long kMaxYields = 5000000;
std::vector<float> xchg;

// Dynamic shared memory: dyn_bytes at the start of a 128-byte aligned block
// of the most a launch may ask for (so that a kernel overrunning it does not
// corrupt the emulator's heap), NaN-filled; under AddressSanitizer the rest
// of the block is poisoned, so plain accesses past dyn_bytes are caught too.
const int kMaxSmem = 227 << 10;
char* dyn = nullptr;       // the running block's dynamic shared memory
char* dyn_base = nullptr;  // that of non-cooperative launches
const float kNaN = NAN;
size_t dyn_bytes = 0;

// The first fault a kernel made in this launch (an access that would fault
// or misbehave on a GPU); netssm_emu_launch reports it.
std::string fault;

// emu_fault records the fault and ends the block, as a trap does on a GPU:
// the faulting thread never resumes and run_block runs no other.
bool aborting = false;
void emu_fault(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void emu_fault(const char* fmt, ...) {
  if (!fault.empty()) return;
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char where[96];
  snprintf(where, sizeof where, " (block %u,%u,%u thread %d)", blockIdx.x, blockIdx.y, blockIdx.z, cur % bsize);
  fault = std::string(buf) + where;
  aborting = true;
  fibers[cur].done = true;
  netssm_emu_switch(&fibers[cur].sp, sched_sp);
  abort();  // never resumed
}

// cp.async state: per thread, the open group and the committed groups in
// order; per 16-byte chunk of dynamic shared memory, the copies in flight.
struct Copy {
  char* dst;
  const char* src;
  int n;
};
struct AsyncState {
  std::vector<Copy> open;
  std::deque<std::vector<Copy>> committed;
};
std::vector<AsyncState> async_state;
std::vector<uint16_t> inflight;
// Per thread, the __syncthreads it has passed; per 16-byte chunk, the
// barrier interval in which ldmatrix last read it and the warps that did.
std::vector<int> sync_epoch;
std::vector<int> read_epoch;
std::vector<uint32_t> read_warps;

long long ldsm_conflicts = 0;
std::map<std::string, long long> launches;
void (*kernel_call)(const uint64_t*);
const uint64_t* kernel_args;

void fiber_main() {
  kernel_call(kernel_args);
  fibers[cur].done = true;
  netssm_emu_switch(&fibers[cur].sp, sched_sp);
  abort();  // a finished fiber is never resumed
}

void fiber_start(Fiber& f) {
  if (!f.stack) f.stack = (char*)malloc(kStack);
#ifdef __SANITIZE_ADDRESS__
  // A fiber ended by a fault left its frames' redzones poisoned.
  ASAN_UNPOISON_MEMORY_REGION(f.stack, kStack);
#endif
  // Stack top: 6 saved registers, then the "return address" fiber_main, then
  // a slot where rsp points on entry to fiber_main (16-byte aligned + 8).
  uintptr_t top = ((uintptr_t)(f.stack + kStack) & ~(uintptr_t)15) - 8;
  void** sp = (void**)top;
  *--sp = (void*)&fiber_main;
  for (int i = 0; i < 6; i++) *--sp = nullptr;
  f.sp = sp;
  f.done = f.waiting = f.yielded = false;
}

// switch_to runs fiber t until it waits, yields or finishes.
void switch_to(int t) {
  cur = t;
  if (coop) {
    blockIdx = {(unsigned)(t / bsize), 0, 0};
    dyn = coop_dyn[t / bsize];
  }
  fibers[t].yielded = false;
  netssm_emu_switch(&sched_sp, fibers[t].sp);
}

// run_block runs every fiber until all have finished; a round runs each live
// fiber until it waits at a barrier, yields or finishes, then releases the
// barrier of each block none of whose live fibers yielded (those are still
// on their way to it).
void run_block() {
  for (int t = 0; t < nthreads; t++) fiber_start(fibers[t]);
  for (AsyncState& a : async_state) a.open.clear(), a.committed.clear();
  std::fill(inflight.begin(), inflight.end(), 0);
  std::fill(sync_epoch.begin(), sync_epoch.end(), 0);
  std::fill(read_epoch.begin(), read_epoch.end(), -1);
  for (;;) {
    int live = 0;
    for (int t = 0; t < nthreads; t++) {
      if (fibers[t].done) continue;
      if (!fibers[t].waiting) {
        switch_to(t);
        if (aborting) return;
      }
      if (!fibers[t].done) live++;
    }
    if (live == 0) return;
    for (int b0 = 0; b0 < nthreads; b0 += bsize) {
      bool spinning = false;
      for (int t = b0; t < b0 + bsize; t++) spinning |= !fibers[t].done && fibers[t].yielded;
      if (!spinning)
        for (int t = b0; t < b0 + bsize; t++) fibers[t].waiting = false;
    }
  }
}

template <typename T>
T unpack(uint64_t v) {
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<T>(static_cast<uintptr_t>(v));
  } else if constexpr (sizeof(T) == 8) {
    return static_cast<T>(v);
  } else if constexpr (std::is_same_v<T, float>) {
    float f;
    uint32_t u = (uint32_t)v;
    memcpy(&f, &u, 4);
    return f;
  } else {
    return static_cast<T>(static_cast<int32_t>(static_cast<uint32_t>(v)));
  }
}

template <typename... A, size_t... I>
void call_impl(void (*k)(A...), const uint64_t* a, std::index_sequence<I...>) {
  k(unpack<A>(a[I])...);
}

struct Kernel {
  const char* name;
  int nargs;
  void (*call)(const uint64_t*);
};

template <typename... A>
constexpr int arity(void (*)(A...)) {
  return sizeof...(A);
}

// k_emu_test_ldmatrix is a self-test of the emulator, not a CUDA kernel
// (no PTX): one warp copies the 16x16 b16 matrix src (row-major) into
// dynamic shared memory (512 bytes) and loads it as the four 8x8 matrices
// q = 0..3 (rows (q&1)*8.., columns (q>>1)*8..) with ldmatrix .x1 (four
// calls), .x2 (two) and .x4 (one), plain and .trans: out[v][lane][q] is
// register q for variant v = 2*log2(nmat) + trans.
void k_emu_test_ldmatrix(const uint16_t* src, uint32_t* out) {
  uint16_t* sm = (uint16_t*)netssm_emu_dyn_smem();
  int lane = threadIdx.x;
  for (int i = 0; i < 8; i++) sm[lane * 8 + i] = src[lane * 8 + i];
  __syncthreads();
  for (int v = 0; v < 6; v++) {
    int nmat = 1 << (v / 2);
    bool trans = v & 1;
    for (int call = 0; call < 4 / nmat; call++) {
      int q = call * nmat + (lane >> 3) % nmat;  // the matrix this lane's address is a row of
      const uint16_t* row = sm + ((q & 1) * 8 + (lane & 7)) * 16 + (q >> 1) * 8;
      netssm_emu_ldmatrix(&out[(v * 32 + lane) * 4 + call * nmat], nmat, trans, row);
    }
  }
}

#define K(k) {#k, arity(k), [](const uint64_t* a) { call_impl(k, a, std::make_index_sequence<arity(k)>{}); }}

const Kernel kernels[] = {
    K(k_fill), K(k_scale), K(k_convert), K(k_sumsq), K(k_embed), K(k_embed_bwd), K(k_adamw), K(k_xent),
    K(k_add_rmsnorm), K(k_add_rmsnorm_bwd), K(k_gated_rmsnorm), K(k_gated_rmsnorm_bwd),
    K(k_conv1d), K(k_conv1d_bwd), K(k_conv1d_step),
    K(k_gemm_f32), K(k_gemm_bf16), K(k_gemv_tb), K(k_gemm_tc_nn), K(k_gemm_tc_nt), K(k_gemm_tc_tn),
    K(k_gemm_tc_tt), K(k_gemm_tc4_nn), K(k_gemm_tc4_nt), K(k_gemm_tc4_tn), K(k_gemm_tc4_tt), K(k_gemm_splitk_reduce),
    K(k_gemm_tc_s4_nn), K(k_gemm_tc_s4_nt), K(k_gemm_tc_s4_tn), K(k_gemm_tc_s4_tt),
    K(k_gemm_tc4_s4_nn), K(k_gemm_tc4_s4_nt), K(k_gemm_tc4_s4_tn), K(k_gemm_tc4_s4_tt),
    K(k_gemm_tc4_k64_nn), K(k_gemm_tc4_k64_nt), K(k_gemm_tc4_k64_tn), K(k_gemm_tc4_k64_tt),
    K(k_gemm_tc_128x256_nn), K(k_gemm_tc_128x256_nt), K(k_gemm_tc_128x256_tn), K(k_gemm_tc_128x256_tt),
    K(k_gemm_tc_256x128_nn), K(k_gemm_tc_256x128_nt), K(k_gemm_tc_256x128_tn), K(k_gemm_tc_256x128_tt),
    K(k_emu_test_ldmatrix),
    K(k_ssd_fwd), K(k_ssd_chunk_state), K(k_ssd_chunk_pass), K(k_ssd_chunk_out), K(k_ssd_bwd), K(k_ssd_bwd_dstate),
    K(k_ssd_bwd_pass), K(k_ssd_bwd_dt), K(k_ssd_bwd_heads), K(k_copy2d), K(k_ssd_step),
    K(k_dec_in), K(k_dec_ssd), K(k_dec_out), K(k_dec_persistent), K(k_grid_barrier_test),
    K(k_gradnorm_partial), K(k_gradnorm_final), K(k_adamw_flat), K(k_accum_sum),
};

}  // namespace

netssm_dim3 netssm_emu_thread_idx() { return netssm_dim3{(unsigned)(cur % bsize), 0, 0}; }

void netssm_emu_yield() {
  if (++yields > kMaxYields)
    emu_fault("a spin-wait loop did not end after %lld yields: it waits on a block that cannot run (a grid barrier in "
              "a launch that is not cooperative?)",
              kMaxYields);
  fibers[cur].yielded = true;
  netssm_emu_switch(&fibers[cur].sp, sched_sp);
}

float* netssm_emu_dyn_smem() { return (float*)dyn; }

// emu_barrier waits for every live thread of the block: the emulator's own
// exchanges (shuffles, mma, ldmatrix) use it; __syncthreads also counts the
// kernel's barriers per thread (sync_epoch), which the shared-memory hazard
// checks compare.
static void emu_barrier() {
  fibers[cur].waiting = true;
  netssm_emu_switch(&fibers[cur].sp, sched_sp);
}

void __syncthreads() {
  sync_epoch[cur]++;
  emu_barrier();
}

float netssm_emu_shfl_xor(float v, int o) {
  int t = cur;
  xchg[t] = v;
  emu_barrier();
  float r = xchg[(t & ~31) | ((t & 31) ^ o)];
  emu_barrier();
  return r;
}

// netssm_emu_mma_bf16 is mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32 with
// the PTX ISA's fragment layout: lane = 4*g + tig; A (16x16, row) regs hold
// (g, 2tig..), (g+8, 2tig..), (g, 2tig+8..), (g+8, 2tig+8..); B (16x8, col)
// (k=2tig.., n=g), (k=2tig+8.., n=g); C/D (g, 2tig..), (g+8, 2tig..).
namespace {
std::vector<uint32_t> mma_a, mma_b;
std::vector<float> mma_c;
float bf(uint32_t r, int hi) { return __uint_as_float(hi ? (r & 0xffff0000u) : (r << 16)); }
}  // namespace

void netssm_emu_mma_bf16(float* d, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
  int t = cur, w = t & ~31;
  uint32_t* A = &mma_a[t * 4];
  A[0] = a0, A[1] = a1, A[2] = a2, A[3] = a3;
  mma_b[t * 2] = b0, mma_b[t * 2 + 1] = b1;
  emu_barrier();
  float Am[16][16], Bm[16][8];
  for (int lane = 0; lane < 32; lane++) {
    int g = lane >> 2, tig = lane & 3;
    const uint32_t* a = &mma_a[(w + lane) * 4];
    const uint32_t* b = &mma_b[(w + lane) * 2];
    for (int h = 0; h < 2; h++) {
      Am[g][2 * tig + h] = bf(a[0], h);
      Am[g + 8][2 * tig + h] = bf(a[1], h);
      Am[g][2 * tig + 8 + h] = bf(a[2], h);
      Am[g + 8][2 * tig + 8 + h] = bf(a[3], h);
      Bm[2 * tig + h][g] = bf(b[0], h);
      Bm[2 * tig + 8 + h][g] = bf(b[1], h);
    }
  }
  emu_barrier();
  int lane = t & 31, g = lane >> 2, tig = lane & 3;
  for (int r = 0; r < 4; r++) {
    int row = g + (r >= 2 ? 8 : 0), col = 2 * tig + (r & 1);
    float s = d[r];
    for (int k = 0; k < 16; k++) s += Am[row][k] * Bm[k][col];
    d[r] = s;
  }
}

// ---- cp.async and ldmatrix ----

namespace {
// smem_chunk is the index of the 16-byte chunk of dynamic shared memory at
// p, or -1 (and a fault naming what) when p is not a 16-byte aligned
// address inside it.
long smem_chunk(const void* p, const char* what) {
  const char* c = (const char*)p;
  if (c < dyn || c + 16 > dyn + dyn_bytes) {
    emu_fault("%s: address %p outside the block's %zu bytes of dynamic shared memory", what, p, dyn_bytes);
    return -1;
  }
  if ((c - dyn) % 16 != 0) {
    emu_fault("%s: shared address %p (offset %td) not 16-byte aligned", what, p, c - dyn);
    return -1;
  }
  return (c - dyn) / 16;
}

void complete(std::vector<Copy>& g) {
  for (const Copy& c : g) {
    memcpy(c.dst, c.src, c.n);
    memset(c.dst + c.n, 0, 16 - c.n);
    inflight[(c.dst - dyn) / 16]--;
  }
}

std::vector<const void*> ldsm_addr;
}  // namespace

void netssm_emu_cp_async16(void* dst, const void* src, int src_bytes) {
  long ch = smem_chunk(dst, "cp.async destination");
  if (ch < 0) return;
  if ((uintptr_t)src % 16 != 0) {
    emu_fault("cp.async: global source %p not 16-byte aligned", src);
    return;
  }
  if (src_bytes < 0 || src_bytes > 16) {
    emu_fault("cp.async: src-size %d outside [0, 16]", src_bytes);
    return;
  }
  uint32_t others = read_warps[ch] & ~(1u << (cur >> 5));
  if (read_epoch[ch] == sync_epoch[cur] && others) {
    emu_fault("cp.async: overwrites shared offset %ld, which warp %d reads in the same barrier interval (missing "
              "__syncthreads)",
              ch * 16, __builtin_ctz(others));
    return;
  }
  inflight[ch]++;
  async_state[cur].open.push_back(Copy{(char*)dst, (const char*)src, src_bytes});
}

void netssm_emu_cp_async_commit() {
  AsyncState& a = async_state[cur];
  a.committed.push_back(std::move(a.open));
  a.open.clear();
}

void netssm_emu_cp_async_wait(int n) {
  AsyncState& a = async_state[cur];
  while ((int)a.committed.size() > n) {
    complete(a.committed.front());
    a.committed.pop_front();
  }
}

void netssm_emu_ldmatrix(unsigned* r, int nmat, bool trans, const void* addr) {
  int t = cur, w = t & ~31, lane = t & 31;
  ldsm_addr[t] = addr;
  emu_barrier();
  bool ok = true;
  for (int i = 0; i < 8 * nmat; i++) {
    long ch = smem_chunk(ldsm_addr[w + i], "ldmatrix row");
    if (ch < 0) {
      ok = false;
    } else if (inflight[ch]) {
      emu_fault("ldmatrix: reads shared offset %ld while a cp.async to it is in flight (missing wait_group or barrier)",
                ch * 16);
      ok = false;
    } else {
      if (read_epoch[ch] != sync_epoch[t]) read_epoch[ch] = sync_epoch[t], read_warps[ch] = 0;
      read_warps[ch] |= 1u << (t >> 5);
    }
  }
  if (ok && lane == 0) {
    // One phase per matrix: the 8 rows (16 bytes each) are served in as many
    // wavefronts as the most distinct rows sharing a 16-byte bank group.
    for (int j = 0; j < nmat; j++) {
      int most = 0;
      for (int q = 0; q < 8; q++) {
        const char* seen[8];
        int cnt = 0;
        for (int i = 0; i < 8; i++) {
          const char* p = (const char*)ldsm_addr[w + 8 * j + i];
          if (((p - dyn) / 16) % 8 != q) continue;
          bool dup = false;
          for (int k = 0; k < cnt; k++) dup |= seen[k] == p;
          if (!dup) seen[cnt++] = p;
        }
        most = max(most, cnt);
      }
      ldsm_conflicts += most - 1;
    }
  }
  for (int j = 0; j < nmat; j++) {
    uint16_t lo = 0, hi = 0;
    if (ok) {
      int c = 2 * (lane & 3);
      if (!trans) {
        const uint16_t* row = (const uint16_t*)ldsm_addr[w + 8 * j + (lane >> 2)];
        lo = row[c], hi = row[c + 1];
      } else {
        lo = ((const uint16_t*)ldsm_addr[w + 8 * j + c])[lane >> 2];
        hi = ((const uint16_t*)ldsm_addr[w + 8 * j + c + 1])[lane >> 2];
      }
    }
    r[j] = (uint32_t)lo | ((uint32_t)hi << 16);
  }
  emu_barrier();
}

// Counters for tests (emu_stats.go).
extern "C" long long netssm_emu_ldsm_conflicts() { return ldsm_conflicts; }
extern "C" long long netssm_emu_launches(const char* name) {
  auto it = launches.find(name);
  return it == launches.end() ? 0 : it->second;
}

namespace {
// prepare checks a launch and sets up the emulator for nfib fibers of
// blocks of block threads: 0, or 1 with err set.
int prepare(const char* name, int nfib, int block, int smem, int nargs, const Kernel** kp, char* err, int errn) {
  const Kernel* k = nullptr;
  for (const Kernel& c : kernels)
    if (strcmp(c.name, name) == 0) k = &c;
  if (!k) {
    snprintf(err, errn, "no kernel %s", name);
    return 1;
  }
  if (k->nargs != nargs) {
    snprintf(err, errn, "%s takes %d arguments, %d given", name, k->nargs, nargs);
    return 1;
  }
  nthreads = nfib;
  bsize = block;
  if ((int)fibers.size() < nfib) fibers.resize(nfib);
  xchg.assign(nfib, 0.f);
  mma_a.assign(nfib * 4, 0);
  mma_b.assign(nfib * 2, 0);
  if (!dyn_base) {
    void* p = nullptr;
    if (posix_memalign(&p, 128, kMaxSmem) != 0) {
      snprintf(err, errn, "%s: no host memory for the emulated shared memory", name);
      return 1;
    }
    dyn_base = (char*)p;
  }
  dyn = dyn_base;
#ifdef __SANITIZE_ADDRESS__
  ASAN_UNPOISON_MEMORY_REGION(dyn, kMaxSmem);
  ASAN_POISON_MEMORY_REGION(dyn + smem, kMaxSmem - smem);
#endif
  for (int i = 0; i + 4 <= smem; i += 4) memcpy(dyn + i, &kNaN, 4);  // uninitialised shared memory reads as NaN
  dyn_bytes = smem;
  inflight.assign(smem / 16 + 1, 0);
  read_epoch.assign(smem / 16 + 1, -1);
  read_warps.assign(smem / 16 + 1, 0);
  sync_epoch.assign(nfib, 0);
  async_state.resize(nfib);
  ldsm_addr.assign(nfib, nullptr);
  fault.clear();
  aborting = false;
  yields = 0;
  launches[name]++;
  *kp = k;
  return 0;
}
}  // namespace

extern "C" int netssm_emu_launch(const char* name, int gx, int gy, int gz, int block, int smem, const uint64_t* args,
                                 int nargs, char* err, int errn) {
  if (block <= 0 || block > 1024 || gx <= 0 || gy <= 0 || gz <= 0 || gy > 65535 || gz > 65535 || smem < 0 || smem > kMaxSmem) {
    snprintf(err, errn, "%s: bad launch shape grid %dx%dx%d block %d smem %d", name, gx, gy, gz, block, smem);
    return 1;
  }
  const Kernel* k;
  if (prepare(name, block, block, smem, nargs, &k, err, errn)) return 1;
  blockDim = {(unsigned)block, 1, 1};
  gridDim = {(unsigned)gx, (unsigned)gy, (unsigned)gz};
  kernel_call = k->call;
  kernel_args = args;
  for (int z = 0; z < gz; z++)
    for (int y = 0; y < gy; y++)
      for (int x = 0; x < gx; x++) {
        blockIdx = {(unsigned)x, (unsigned)y, (unsigned)z};
        run_block();
        if (!fault.empty()) {
          snprintf(err, errn, "%s: %s", name, fault.c_str());
          return 1;
        }
      }
  return 0;
}

// netssm_emu_coop_launch is a cooperative launch (cuLaunchCooperativeKernel)
// of a one-dimensional grid: every block's fibers live at once, each block
// with its own dynamic shared memory, so blocks can wait on each other
// (grid barriers). Blocks of a multiple of 32 threads; static __shared__
// variables are one copy for all blocks here (host statics), so kernels
// launched this way must keep their shared memory dynamic.
extern "C" int netssm_emu_coop_launch(const char* name, int grid, int block, int smem, const uint64_t* args, int nargs,
                                      char* err, int errn) {
  if (block <= 0 || block > 1024 || block % 32 != 0 || grid <= 0 || smem < 0 || smem > kMaxSmem) {
    snprintf(err, errn, "%s: bad cooperative launch shape grid %d block %d smem %d", name, grid, block, smem);
    return 1;
  }
  const Kernel* k;
  if (prepare(name, grid * block, block, smem, nargs, &k, err, errn)) return 1;
  coop_dyn.assign(grid, nullptr);
  int rc = 0;
  for (int i = 0; i < grid && rc == 0; i++) {
    void* p = nullptr;
    if (posix_memalign(&p, 128, max(smem, 16)) != 0) {
      snprintf(err, errn, "%s: no host memory for the emulated shared memory", name);
      rc = 1;
      break;
    }
    coop_dyn[i] = (char*)p;
    for (int j = 0; j + 4 <= smem; j += 4) memcpy(coop_dyn[i] + j, &kNaN, 4);
  }
  if (rc == 0) {
    blockDim = {(unsigned)block, 1, 1};
    gridDim = {(unsigned)grid, 1, 1};
    kernel_call = k->call;
    kernel_args = args;
    coop = true;
    run_block();
    coop = false;
    if (!fault.empty()) {
      snprintf(err, errn, "%s: %s", name, fault.c_str());
      rc = 1;
    }
  }
  for (char* p : coop_dyn) free(p);
  coop_dyn.clear();
  dyn = dyn_base;
  return rc;
}
