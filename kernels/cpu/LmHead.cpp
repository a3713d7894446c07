// The fused LM head of the CPU backend (logits a vocabulary chunk at a time
// with an online log-sum-exp; the whole [rows, vocab] matrix only when the
// caller keeps it for the backward) and token sampling.
#include "kernels/cpu/CpuOps.h"
#include "kernels/cpu/Gemm.h"
#include "kernels/cpu/MathFns.h"
#include "runtime/base/Philox.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

namespace hone {
namespace cpu {
namespace {

/// Vocabulary chunk: rows x chunk logits stay within ~8 MB.
int64_t vocabChunk(int64_t rows, int64_t vocab) {
  int64_t c = (int64_t(2) << 20) / std::max<int64_t>(rows, 1);
  c = std::max<int64_t>(256, std::min<int64_t>(c, 4096));
  c = c / 16 * 16;
  return std::min(c, vocab);
}
constexpr int64_t kRowBlock = 1024;

/// Where the forward keeps the logits of row block r0 (R rows) and the
/// vocabulary chunk from v0 in a [rows, vocab] buffer: the chunk's R x c
/// block contiguous (leading dimension c, as the scratch), the blocks of a
/// row block one after another. Together they fill R x V elements.
template <typename T>
T *keptChunk(T *keep, int64_t r0, int64_t R, int64_t V, int64_t v0) {
  return keep + r0 * V + R * v0;
}

} // namespace

template <typename T, typename WT>
void lmHeadFwd(const T *hidden, const WT *W, const int32_t *targets,
               const LmHeadShape &s, T *logprob, T *entropy, T *lse,
               LmScratch<T> &zbuf, T *keep) {
  const int64_t D = s.dModel, V = s.vocab;
  const T invT = T(s.invTemperature);
  for (int64_t r0 = 0; r0 < s.rows; r0 += kRowBlock) {
    int64_t R = std::min(kRowBlock, s.rows - r0);
    int64_t C = vocabChunk(R, V);
    T *z = keep ? nullptr : zbuf.get(R * C);
    // Running max, sum exp(z - m), sum exp(z - m) * z, target logit.
    std::vector<T> m(size_t(R), -INFINITY), se(size_t(R), 0), sz(size_t(R), 0),
        zt(size_t(R), 0);
    for (int64_t v0 = 0; v0 < V; v0 += C) {
      int64_t c = std::min(C, V - v0);
      // Kept: the chunk's R x c block in place in `keep` (keptChunk).
      if (keep)
        z = keptChunk(keep, r0, R, V, v0);
      weightGemm(false, true, R, c, D, invT, hidden + r0 * D, D, W + v0 * D, D,
                 T(0), z, c);
#pragma omp parallel for schedule(static) if (R * c >= kParallelMin)
      for (int64_t r = 0; r < R; ++r) {
        const T *zr = z + r * c;
        T mc = zr[0];
        for (int64_t j = 1; j < c; ++j)
          mc = std::max(mc, zr[j]);
        T mOld = m[size_t(r)], mNew = std::max(mOld, mc);
        T a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
        for (int64_t j = 0; j < c; ++j) {
          T e = vexp<T>(zr[j] - mNew);
          a += e;
          b += e * zr[j];
        }
        T f = mOld == -INFINITY ? T(0) : vexp<T>(mOld - mNew);
        se[size_t(r)] = se[size_t(r)] * f + a;
        sz[size_t(r)] = sz[size_t(r)] * f + b;
        m[size_t(r)] = mNew;
        int32_t t = targets[r0 + r];
        if (t >= v0 && t < v0 + c)
          zt[size_t(r)] = zr[t - v0];
      }
    }
    for (int64_t r = 0; r < R; ++r) {
      T l = m[size_t(r)] + std::log(se[size_t(r)]);
      bool valid = targets[r0 + r] >= 0;
      lse[r0 + r] = l;
      logprob[r0 + r] = valid ? zt[size_t(r)] - l : T(0);
      if (entropy)
        entropy[r0 + r] = valid ? l - sz[size_t(r)] / se[size_t(r)] : T(0);
    }
  }
}

template <typename T, typename WT>
void lmHeadBwd(const T *hidden, const WT *W, const int32_t *targets,
               const LmHeadShape &s, const T *lse, const T *entropy,
               const T *dlogprob, const T *dentropy, T *dhidden, T *dW,
               LmScratch<T> &zbuf, T *kept) {
  const int64_t D = s.dModel, V = s.vocab;
  const T invT = T(s.invTemperature);
  for (int64_t r0 = 0; r0 < s.rows; r0 += kRowBlock) {
    int64_t R = std::min(kRowBlock, s.rows - r0);
    int64_t C = vocabChunk(R, V);
    T *z = kept ? nullptr : zbuf.get(R * C);
    for (int64_t v0 = 0; v0 < V; v0 += C) {
      int64_t c = std::min(C, V - v0);
      // Kept by the forward: the same GEMM's bits, turned into dz in place.
      if (kept)
        z = keptChunk(kept, r0, R, V, v0);
      else
        weightGemm(false, true, R, c, D, invT, hidden + r0 * D, D, W + v0 * D,
                   D, T(0), z, c);
#pragma omp parallel for schedule(static) if (R * c >= kParallelMin)
      for (int64_t r = 0; r < R; ++r) {
        T *zr = z + r * c;
        int32_t t = targets[r0 + r];
        if (t < 0) {
          std::memset(zr, 0, size_t(c) * sizeof(T));
          continue;
        }
        T gl = dlogprob ? dlogprob[r0 + r] : T(0);
        T ge = dentropy ? dentropy[r0 + r] : T(0);
        T l = lse[r0 + r], H = entropy ? entropy[r0 + r] : T(0);
        // dz_j = gl (1[j=t] - p_j) - ge p_j (log p_j + H), times invT.
#pragma omp simd
        for (int64_t j = 0; j < c; ++j) {
          T lp = zr[j] - l;
          T p = vexp<T>(lp);
          zr[j] = invT * (-gl * p - ge * p * (lp + H));
        }
        if (t >= v0 && t < v0 + c)
          zr[t - v0] += invT * gl;
      }
      weightGemm(false, false, R, D, c, T(1), z, c, W + v0 * D, D, T(1),
                 dhidden + r0 * D, D);
      if (dW) // null: a frozen head (LoRA base; always for a bf16 W)
        parGemm(true, false, c, D, R, T(1), z, c, hidden + r0 * D, D, T(1),
                dW + v0 * D, D);
    }
  }
}

template <typename T>
void sample(const T *logits, int64_t rows, int64_t V, const SamplerParams &sp,
            const uint32_t *sampleId, const uint32_t *drawIndex,
            const uint8_t *active, int32_t *tokens, T *logprob) {
#pragma omp parallel if (rows * V >= kParallelMin)
  {
    std::vector<T> ebuf(static_cast<size_t>(V));
    std::vector<int32_t> idx;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      if (!active[r])
        continue;
      const T *z = logits + r * V;
      T *e = ebuf.data();
      T m = z[0];
#pragma omp simd reduction(max : m)
      for (int64_t j = 0; j < V; ++j)
        m = std::max(m, z[j]);
      double se = 0;
#pragma omp simd reduction(+ : se)
      for (int64_t j = 0; j < V; ++j) {
        e[j] = vexp<T>(z[j] - m);
        se += double(e[j]);
      }
      int64_t tok = 0;
      if (sp.greedy) {
        while (z[tok] != m)
          ++tok;
      } else {
        PhiloxCounter b =
            philox4x32({drawIndex[r], sampleId[r], sp.step, sp.rank},
                       {uint32_t(sp.seed), uint32_t(sp.seed >> 32)});
        double u = uniformDouble(b[0], b[1]);
        bool truncK = sp.topK > 0 && sp.topK < V, truncP = sp.topP < 1.0;
        if (!truncK && !truncP) {
          double target = u * se, acc = 0;
          tok = -1;
          for (int64_t j = 0; j < V; ++j) {
            acc += double(e[j]);
            if (acc > target) {
              tok = j;
              break;
            }
          }
          if (tok < 0) // rounding: u*se above the running sum
            for (tok = V - 1; tok > 0 && e[tok] == T(0); --tok)
              ;
        } else {
          idx.resize(size_t(V));
          std::iota(idx.begin(), idx.end(), 0);
          auto better = [&](int32_t a, int32_t b) {
            return z[a] > z[b] || (z[a] == z[b] && a < b);
          };
          int64_t keep = truncK ? sp.topK : V;
          if (truncK)
            std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(),
                              better);
          else
            std::sort(idx.begin(), idx.end(), better);
          if (truncP) {
            double mass = 0;
            for (int64_t i = 0; i < keep; ++i)
              mass += double(e[idx[size_t(i)]]);
            double acc = 0;
            int64_t n = 0;
            while (n < keep) {
              acc += double(e[idx[size_t(n)]]);
              ++n;
              if (acc >= sp.topP * mass)
                break;
            }
            keep = std::max<int64_t>(n, 1);
          }
          std::sort(idx.begin(), idx.begin() + keep);
          double total = 0;
          for (int64_t i = 0; i < keep; ++i)
            total += double(e[idx[size_t(i)]]);
          double target = u * total, acc = 0;
          tok = idx[size_t(keep - 1)];
          for (int64_t i = 0; i < keep; ++i) {
            acc += double(e[idx[size_t(i)]]);
            if (acc > target) {
              tok = idx[size_t(i)];
              break;
            }
          }
        }
      }
      tokens[r] = int32_t(tok);
      logprob[r] = T(double(z[tok]) - (double(m) + std::log(se)));
    }
  }
}

#define HONE_CPU_LMHEAD(T)                                                     \
  template void lmHeadFwd<T, T>(const T *, const T *, const int32_t *,         \
                                const LmHeadShape &, T *, T *, T *,            \
                                LmScratch<T> &, T *);                          \
  template void lmHeadBwd<T, T>(                                               \
      const T *, const T *, const int32_t *, const LmHeadShape &, const T *,   \
      const T *, const T *, const T *, T *, T *, LmScratch<T> &, T *);         \
  template void sample<T>(const T *, int64_t, int64_t, const SamplerParams &,  \
                          const uint32_t *, const uint32_t *, const uint8_t *, \
                          int32_t *, T *);
HONE_CPU_LMHEAD(float)
HONE_CPU_LMHEAD(double)
#undef HONE_CPU_LMHEAD
template void lmHeadFwd<float, uint16_t>(const float *, const uint16_t *,
                                         const int32_t *, const LmHeadShape &,
                                         float *, float *, float *,
                                         LmScratch<float> &, float *);
template void lmHeadBwd<float, uint16_t>(const float *, const uint16_t *,
                                         const int32_t *, const LmHeadShape &,
                                         const float *, const float *,
                                         const float *, const float *, float *,
                                         float *, LmScratch<float> &, float *);

} // namespace cpu
} // namespace hone
