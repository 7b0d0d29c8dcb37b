// The flat optimizer ops (gpu.FlatOptimizer): global gradient norm and clip
// coefficient into device memory, AdamW over flat buffers reading that
// coefficient, and a scaled-sum accumulator for the loss. Reductions are
// fp64 in a fixed order (deterministic: no atomics). Scalars that are
// float64 in Go arrive as fp32 pairs (hi + lo), since kernel arguments are
// marshalled as 8-byte integers.
#include "common.cuh"

#define OPT_THREADS 256

// opt_block_sum reduces v over the block (blockDim.x == OPT_THREADS) in a
// fixed tree order; thread 0 gets the total.
__device__ __forceinline__ double opt_block_sum(double v, double* s) {
  s[threadIdx.x] = v;
  __syncthreads();
  for (int o = OPT_THREADS / 2; o > 0; o >>= 1) {
    if ((int)threadIdx.x < o) s[threadIdx.x] += s[threadIdx.x + o];
    __syncthreads();
  }
  return s[0];
}

// k_gradnorm_partial: partial[blockIdx.x] = sum of g[i]^2 over the block's
// grid-stride elements (fp64).
extern "C" __global__ void k_gradnorm_partial(const void* g, int dt, i64 n, double* partial) {
  __shared__ double s[OPT_THREADS];
  double acc = 0.0;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    double v = ld(g, i, dt);
    acc += v * v;
  }
  double t = opt_block_sum(acc, s);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

// k_gradnorm_final (one block): out = [norm, coef, ss hi, ss lo] from the
// nb partials; coef = max/(norm+1e-6) when max > 0 and that is < 1, else 1.
extern "C" __global__ void k_gradnorm_final(const double* partial, int nb, float maxhi, float maxlo, float* out) {
  __shared__ double s[OPT_THREADS];
  double acc = 0.0;
  for (int i = threadIdx.x; i < nb; i += blockDim.x) acc += partial[i];
  double ss = opt_block_sum(acc, s);
  if (threadIdx.x != 0) return;
  double norm = sqrt(ss);
  double mx = (double)maxhi + (double)maxlo;
  double coef = 1.0;
  if (mx > 0.0) {
    double c = mx / (norm + 1e-6);
    if (c < 1.0) coef = c;
  }
  float hi = (float)ss;
  out[0] = (float)norm;
  out[1] = (float)coef;
  out[2] = hi;
  out[3] = (float)(ss - (double)hi);
}

// k_adamw_flat: k_adamw's arithmetic over flat buffers with the gradient
// scale read from *scale (null: 1); the first copyn updated weights are also
// stored into cp in dtype cdt.
extern "C" __global__ void k_adamw_flat(float* p, const float* g, float* m, float* v, const float* scale, void* cp,
                                        int cdt, i64 copyn, i64 n, float lr, float b1, float b2, float eps, float wd,
                                        float bc1, float bc2) {
  const float gscale = scale ? *scale : 1.f;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float pi = adamw_elem(p, m, v, i, gscale * g[i], lr, b1, b2, eps, wd, bc1, bc2);
    if (i < copyn) st(cp, i, cdt, pi);
  }
}

// k_accum_sum (one block): out[0] + out[1] (an fp32 pair) += scale * sum(src).
extern "C" __global__ void k_accum_sum(const void* src, int dt, i64 n, float shi, float slo, float* out) {
  __shared__ double s[OPT_THREADS];
  double acc = 0.0;
  for (i64 i = threadIdx.x; i < n; i += blockDim.x) acc += (double)ld(src, i, dt);
  double t = opt_block_sum(acc, s);
  if (threadIdx.x != 0) return;
  double r = (double)out[0] + (double)out[1] + ((double)shi + (double)slo) * t;
  float hi = (float)r;
  out[0] = hi;
  out[1] = (float)(r - (double)hi);
}
