// Row kernels of the fused LM head (the GEMMs are cuBLAS calls in
// CudaKernels.cu) and token sampling.
//
// Sampling draws the same numbers as the CPU backend: the uniform is
// Philox(seed, step, rank, sampleId[r]) block drawIndex[r] (runtime/core/
// Philox.h, shared code), the weights are exp(z - max) with the CPU's own
// exp polynomial (kernels/cpu/MathFns.h, mirrored below), sums are in double,
// and the kept set for top-k / top-p is the CPU's: the first k (then the
// smallest prefix holding topP of the mass) in the order "larger logit
// first, lower id on ties". The GPU finds that set without sorting: a radix
// select over order-preserving 32-bit keys, by count for top-k and by mass
// for top-p (mass in 64-bit fixed point, so that the per-digit sums are
// exact integer atomics and do not depend on thread order). Then the token
// is the first id, in id order, whose running sum of kept weights exceeds
// u * total. Sums are formed in a different order than on the CPU (per-thread
// segments, then a prefix over segments), so a draw can differ from the
// CPU's only when u * total lies within about 1e-7 (relative) of a running
// sum, i.e. when float rounding of the weights decides it.
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaLaunch.h"
#include "runtime/base/Philox.h"

#include <climits>
#include <cmath>

namespace hone {
namespace cuda {
namespace {

// --- LM head rows -----------------------------------------------------------------

__global__ void lmInitKernel(int64_t rows, float *m, float *se, float *sz,
                             float *zt) {
  HONE_GRID_STRIDE(r, rows) {
    m[r] = -INFINITY;
    se[r] = 0.f;
    sz[r] = 0.f;
    zt[r] = 0.f;
  }
}

/// One block per row of the chunk.
__global__ void lmChunkStatsKernel(const float *__restrict__ z, int64_t c,
                                   int64_t v0, const int32_t *__restrict__ targets,
                                   float *m, float *se, float *sz, float *zt) {
  const int64_t r = blockIdx.x;
  const float *zr = z + r * c;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x)
    mx = fmaxf(mx, zr[j]);
  const float mc = blockMax(mx);
  const float mOld = m[r], mNew = fmaxf(mOld, mc);
  float a = 0.f, bsum = 0.f;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
    const float e = expf(zr[j] - mNew);
    a += e;
    bsum += e * zr[j];
  }
  a = blockSum(a);
  bsum = blockSum(bsum);
  if (threadIdx.x == 0) {
    const float f = mOld == -INFINITY ? 0.f : expf(mOld - mNew);
    se[r] = se[r] * f + a;
    sz[r] = sz[r] * f + bsum;
    m[r] = mNew;
    const int32_t t = targets[r];
    if (t >= v0 && t < v0 + c)
      zt[r] = zr[t - v0];
  }
}

__global__ void lmFinishKernel(int64_t rows, const int32_t *__restrict__ targets,
                               const float *m, const float *se, const float *sz,
                               const float *zt, float *logprob, float *entropy,
                               float *lse) {
  HONE_GRID_STRIDE(r, rows) {
    const float l = m[r] + logf(se[r]);
    const bool valid = targets[r] >= 0;
    lse[r] = l;
    logprob[r] = valid ? zt[r] - l : 0.f;
    if (entropy)
      entropy[r] = valid ? l - sz[r] / se[r] : 0.f;
  }
}

/// dz_j = invT (gl (1[j = t] - p_j) - ge p_j (log p_j + H)); zero for rows
/// without a target. One block per row.
__global__ void lmChunkGradKernel(float *__restrict__ z, int64_t c, int64_t v0,
                                  const int32_t *__restrict__ targets,
                                  const float *__restrict__ lse,
                                  const float *__restrict__ entropy,
                                  const float *__restrict__ dlogprob,
                                  const float *__restrict__ dentropy,
                                  float invT) {
  const int64_t r = blockIdx.x;
  float *zr = z + r * c;
  const int32_t t = targets[r];
  if (t < 0) {
    for (int64_t j = threadIdx.x; j < c; j += blockDim.x)
      zr[j] = 0.f;
    return;
  }
  const float gl = dlogprob ? dlogprob[r] : 0.f;
  const float ge = dentropy ? dentropy[r] : 0.f;
  const float l = lse[r], H = entropy ? entropy[r] : 0.f;
  for (int64_t j = threadIdx.x; j < c; j += blockDim.x) {
    const float lp = zr[j] - l, p = expf(lp);
    float g = invT * (-gl * p - ge * p * (lp + H));
    if (j == int64_t(t) - v0)
      g += invT * gl;
    zr[j] = g;
  }
}

// --- sampling -----------------------------------------------------------------------

constexpr int kSampleThreads = 512;

/// kernels/cpu/MathFns.h expApprox, written with the fused multiply-adds a
/// contracting compiler forms from it (GCC's default -ffp-contract=fast with
/// FMA hardware), so that the weights match the CPU's bit for bit in the
/// common case.
__device__ __forceinline__ float expApprox(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float t = x * 1.44269504088896341f;
  const int32_t ni = int32_t(t + (t >= 0.0f ? 0.5f : -0.5f));
  const float n = float(ni);
  float r = fmaf(-n, 0.693359375f, x);
  r = fmaf(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  const float y = fmaf(p * r, r, r) + 1.0f;
  return y * __int_as_float((ni + 127) << 23);
}

/// Larger logit -> larger key; -0 and +0 share a key (they compare equal).
__device__ __forceinline__ uint32_t orderKey(float z) {
  uint32_t u = __float_as_uint(z == 0.f ? 0.f : z);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

struct SampleCtx {
  const float *z;
  int64_t V, j0, j1; // this thread's contiguous segment [j0, j1)
  float m;           // row max
};

/// The first id j (in id order) where the running sum of w(j) exceeds
/// `target`, or -1. Each thread sums its segment, the block forms an
/// exclusive prefix over segments, and each thread rescans its own segment
/// from that prefix; the smallest hit wins (robust to rounding between a
/// segment's total and its running sums).
template <typename W>
__device__ int64_t findCrossing(const SampleCtx &c, W w, double target) {
  double seg = 0;
  for (int64_t j = c.j0; j < c.j1; ++j)
    seg += w(j);
  double total;
  double acc = blockExclusiveScan(seg, &total);
  int64_t hit = LLONG_MAX;
  for (int64_t j = c.j0; j < c.j1; ++j) {
    acc += w(j);
    if (acc > target) {
      hit = j;
      break;
    }
  }
  hit = blockAllReduce(hit, MinOp(), (int64_t)LLONG_MAX);
  return hit == LLONG_MAX ? -1 : hit;
}

/// Radix select, most significant byte first, over the keys of the ids
/// with inSet(j): returns the key K of the element where the running
/// weight, in descending key order, first reaches `need` (counts for top-k,
/// fixed-point mass for top-p), and in *above the weight of the elements
/// with a larger key. weight(j) is an unsigned 64-bit integer.
template <typename InSet, typename Weight, typename Reached>
__device__ uint32_t radixSelect(const SampleCtx &c, InSet inSet, Weight weight,
                                Reached reached, unsigned long long *above) {
  __shared__ unsigned long long hist[256];
  __shared__ uint32_t chosen;
  __shared__ unsigned long long chosenAbove;
  uint32_t prefix = 0, mask = 0;
  unsigned long long acc = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x)
      hist[i] = 0;
    __syncthreads();
    for (int64_t j = c.j0; j < c.j1; ++j) {
      if (!inSet(j))
        continue;
      const uint32_t k = orderKey(c.z[j]);
      if ((k & mask) == prefix)
        atomicAdd(&hist[(k >> shift) & 255u], weight(j));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      // Digits from high to low = logits from large to small. By
      // construction some digit reaches `need`; the fallback (last
      // non-empty digit) only guards against an inconsistent predicate.
      int d = 255, last = -1;
      unsigned long long a = acc;
      for (; d >= 0; --d) {
        if (hist[d] == 0)
          continue;
        last = d;
        if (reached(a + hist[d]))
          break;
        a += hist[d];
      }
      if (d < 0) {
        d = last < 0 ? 0 : last;
        if (last >= 0)
          a -= hist[d];
      }
      chosen = uint32_t(d);
      chosenAbove = a;
    }
    __syncthreads();
    prefix |= chosen << shift;
    mask |= 255u << shift;
    acc = chosenAbove;
    __syncthreads(); // `chosen` is rewritten in the next round
  }
  *above = acc;
  return prefix;
}

__global__ void __launch_bounds__(kSampleThreads)
    sampleKernel(const float *__restrict__ logits, int64_t V, SamplerParams sp,
                 int massShift, const uint32_t *__restrict__ sampleId,
                 const uint32_t *__restrict__ drawIndex,
                 const uint8_t *__restrict__ active, int32_t *__restrict__ tokens,
                 float *__restrict__ logprob) {
  const int64_t r = blockIdx.x;
  if (!active[r]) // uniform over the block
    return;
  SampleCtx c;
  c.z = logits + r * V;
  c.V = V;
  const int64_t seg = (V + blockDim.x - 1) / blockDim.x;
  c.j0 = min(V, int64_t(threadIdx.x) * seg);
  c.j1 = min(V, c.j0 + seg);
  const float *z = c.z;

  float mx = -INFINITY;
  for (int64_t j = c.j0; j < c.j1; ++j)
    mx = fmaxf(mx, z[j]);
  const float m = blockMax(mx);
  c.m = m;
  double s = 0;
  for (int64_t j = c.j0; j < c.j1; ++j)
    s += double(expApprox(z[j] - m));
  const double se = blockSum(s);
  auto weight = [&](int64_t j) { return double(expApprox(z[j] - m)); };

  int64_t tok = 0;
  if (sp.greedy) {
    int64_t first = LLONG_MAX;
    for (int64_t j = c.j0; j < c.j1; ++j)
      if (z[j] == m) {
        first = j;
        break;
      }
    first = blockAllReduce(first, MinOp(), (int64_t)LLONG_MAX);
    tok = first == LLONG_MAX ? 0 : first;
  } else {
    PhiloxCounter blk =
        philox4x32({drawIndex[r], sampleId[r], sp.step, sp.rank},
                   {uint32_t(sp.seed), uint32_t(sp.seed >> 32)});
    const double u = uniformDouble(blk[0], blk[1]);
    const bool truncK = sp.topK > 0 && sp.topK < V, truncP = sp.topP < 1.0;
    if (!truncK && !truncP) {
      tok = findCrossing(c, weight, u * se);
      if (tok < 0) { // rounding: u*se above the running sum; last nonzero
        int64_t last = -1;
        for (int64_t j = c.j1 - 1; j >= c.j0; --j)
          if (expApprox(z[j] - m) != 0.f) {
            last = j;
            break;
          }
        last = blockAllReduce(last, MaxOp(), (int64_t)-1);
        tok = last < 0 ? 0 : last;
      }
    } else {
      // Top-k: key kThr and the last tied id kCut that stays.
      uint32_t kThr = 0;
      int64_t kCut = V;
      if (truncK) {
        const unsigned long long k = (unsigned long long)sp.topK;
        unsigned long long above = 0;
        kThr = radixSelect(
            c, [](int64_t) { return true; },
            [](int64_t) { return 1ull; },
            [k](unsigned long long n) { return n >= k; }, &above);
        const double ties = double(k - above); // >= 1 tied ids stay
        kCut = findCrossing(
            c,
            [&](int64_t j) { return orderKey(z[j]) == kThr ? 1.0 : 0.0; },
            ties - 0.5);
        if (kCut < 0)
          kCut = V;
      }
      auto keptK = [&](int64_t j) {
        if (!truncK)
          return true;
        const uint32_t key = orderKey(z[j]);
        return key > kThr || (key == kThr && j <= kCut);
      };
      // Top-p within the top-k set: the smallest prefix (same order) whose
      // mass reaches topP of the set's mass.
      uint32_t pThr = 0;
      int64_t pCut = V;
      if (truncP) {
        const double scaleFx = ldexp(1.0, massShift);
        auto fx = [&](int64_t j) {
          return keptK(j) ? __double2ull_rn(double(expApprox(z[j] - m)) *
                                            scaleFx)
                          : 0ull;
        };
        unsigned long long part = 0;
        for (int64_t j = c.j0; j < c.j1; ++j)
          part += fx(j);
        const unsigned long long massFx =
            blockAllReduce(part, SumOp(), 0ull);
        const double need = sp.topP * double(massFx);
        unsigned long long above = 0;
        pThr = radixSelect(
            c, keptK, fx,
            [need](unsigned long long a) { return double(a) >= need; },
            &above);
        // Ties at pThr share one logit, hence one weight w: count how many
        // of them (in id order) the cut needs.
        unsigned long long mine = 0;
        for (int64_t j = c.j0; j < c.j1; ++j)
          if (keptK(j) && orderKey(z[j]) == pThr) {
            mine = fx(j);
            break;
          }
        const unsigned long long w = blockAllReduce(mine, MaxOp(), 0ull);
        unsigned long long t = 1;
        if (w > 0) {
          const double gap = need - double(above);
          if (gap > double(w))
            t = (unsigned long long)ceil(gap / double(w));
          while (t > 1 && double(above + (t - 1) * w) >= need)
            --t;
          while (double(above + t * w) < need)
            ++t;
        }
        pCut = findCrossing(
            c,
            [&](int64_t j) {
              return keptK(j) && orderKey(z[j]) == pThr ? 1.0 : 0.0;
            },
            double(t) - 0.5);
        if (pCut < 0)
          pCut = V; // fewer ties than t: rounding; keep them all
      }
      auto kept = [&](int64_t j) {
        if (!keptK(j))
          return false;
        if (!truncP)
          return true;
        const uint32_t key = orderKey(z[j]);
        return key > pThr || (key == pThr && j <= pCut);
      };
      auto keptWeight = [&](int64_t j) { return kept(j) ? weight(j) : 0.0; };
      double part = 0;
      for (int64_t j = c.j0; j < c.j1; ++j)
        part += keptWeight(j);
      const double total = blockSum(part);
      tok = findCrossing(c, keptWeight, u * total);
      if (tok < 0) { // rounding: the last kept id
        int64_t last = -1;
        for (int64_t j = c.j1 - 1; j >= c.j0; --j)
          if (kept(j)) {
            last = j;
            break;
          }
        last = blockAllReduce(last, MaxOp(), (int64_t)-1);
        tok = last < 0 ? 0 : last;
      }
    }
  }
  if (threadIdx.x == 0) {
    tokens[r] = int32_t(tok);
    logprob[r] = float(double(z[tok]) - (double(m) + log(se)));
  }
}

} // namespace

void lmHeadInit(cudaStream_t stream, int64_t rows, float *m, float *se,
                float *sz, float *zt) {
  lmInitKernel<<<gridFor(rows), kThreads, 0, stream>>>(rows, m, se, sz, zt);
  HONE_CUDA_LAUNCH_CHECK("lmInitKernel");
}

void lmHeadChunkStats(cudaStream_t stream, const float *z, int64_t rows,
                      int64_t c, int64_t v0, const int32_t *targets, float *m,
                      float *se, float *sz, float *zt) {
  if (rows <= 0 || c <= 0)
    return;
  lmChunkStatsKernel<<<unsigned(rows), rowThreads(c), 0, stream>>>(
      z, c, v0, targets, m, se, sz, zt);
  HONE_CUDA_LAUNCH_CHECK("lmChunkStatsKernel");
}

void lmHeadFinish(cudaStream_t stream, int64_t rows, const int32_t *targets,
                  const float *m, const float *se, const float *sz,
                  const float *zt, float *logprob, float *entropy,
                  float *lse) {
  lmFinishKernel<<<gridFor(rows), kThreads, 0, stream>>>(
      rows, targets, m, se, sz, zt, logprob, entropy, lse);
  HONE_CUDA_LAUNCH_CHECK("lmFinishKernel");
}

void lmHeadChunkGrad(cudaStream_t stream, float *z, int64_t rows, int64_t c,
                     int64_t v0, const int32_t *targets, const float *lse,
                     const float *entropy, const float *dlogprob,
                     const float *dentropy, float invT) {
  if (rows <= 0 || c <= 0)
    return;
  lmChunkGradKernel<<<unsigned(rows), rowThreads(c), 0, stream>>>(
      z, c, v0, targets, lse, entropy, dlogprob, dentropy, invT);
  HONE_CUDA_LAUNCH_CHECK("lmChunkGradKernel");
}

void sampleRows(cudaStream_t stream, const float *logits, int64_t rows,
                int64_t vocab, const SamplerParams &p, const uint32_t *sampleId,
                const uint32_t *drawIndex, const uint8_t *active,
                int32_t *tokens, float *logprob) {
  if (rows <= 0 || vocab <= 0)
    return;
  if (rows > INT_MAX)
    failShape("sample: more than INT_MAX rows", __FILE__, __LINE__);
  // Fixed-point scale for top-p masses: each weight is in (0, 1], so
  // vocab * 2^shift must stay below 2^63.
  int bits = 0;
  while ((int64_t(1) << bits) < vocab && bits < 62)
    ++bits;
  int shift = 62 - bits;
  if (shift > 52)
    shift = 52;
  sampleKernel<<<unsigned(rows), kSampleThreads, 0, stream>>>(
      logits, vocab, p, shift, sampleId, drawIndex, active, tokens, logprob);
  HONE_CUDA_LAUNCH_CHECK("sampleKernel");
}

} // namespace cuda
} // namespace hone
