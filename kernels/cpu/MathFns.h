// Scalar math the CPU kernels use inside `omp simd` loops. The float exp is a
// branch-free Cephes-style polynomial (about 2 ulp) that vectorises; fp64
// uses libm so that gradient checks see exact functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace hone {
namespace cpu {

#pragma omp declare simd notinbranch
inline float expApprox(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // Nearest integer by truncating conversion (floorf does not vectorise
  // under the default -ftrapping-math).
  float t = x * 1.44269504088896341f;
  int32_t ni = int32_t(t + (t >= 0.0f ? 0.5f : -0.5f));
  float n = float(ni);
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = (ni + 127) << 23;
  // A bit cast the vectoriser sees through (memcpy here blocks `omp simd`).
  return y * __builtin_bit_cast(float, bits);
}

template <typename T> inline T vexp(T x);
template <> inline float vexp<float>(float x) { return expApprox(x); }
template <> inline double vexp<double>(double x) { return std::exp(x); }

template <typename T> inline T vtanh(T x) {
  // tanh(x) = 1 - 2 / (exp(2x) + 1), stable at both ends.
  return T(1) - T(2) / (vexp<T>(T(2) * x) + T(1));
}
template <> inline double vtanh<double>(double x) { return std::tanh(x); }

template <typename T> inline T vsigmoid(T x) {
  return T(1) / (T(1) + vexp<T>(-x));
}


// --- GPT-2's GELU (tanh form) in float, a row at a time ----------------------
//
// gelu(v) = 0.5 v (1 + tanh(u)), u = sqrt(2/pi) (v + 0.044715 v^3), computed
// as v s with s = 0.5 (1 + tanh(u)) = e r, e = exp(2u), r = 1 / (1 + e) (no
// cancellation where tanh(u) is near -1, which 1 + tanh(u) had), and
// gelu'(v) = s + 2 v s r sqrt(2/pi) (1 + 3 * 0.044715 v^2) (1 - tanh^2 =
// 4 s r). 2u is clamped to [-87, 80] (exp and r stay normal floats; s is 1
// to float precision from 2u = 17 on). With AVX2 + FMA, r is the hardware
// reciprocal estimate refined by one Newton step (the division was the
// forward's bottleneck on Zen 2), 8 values at a time; the last n % 8 values
// go through the same 8-wide code in a padded block, so every value gets
// the same operations wherever it lies and whoever calls (the training
// forward and backward, decode's fused linear layers): results are
// bit-identical among them and across thread counts. Without AVX2 the
// scalar form below with a true division. Checked against float64 in
// test/unit/kernels/cpu/GeluKernelTest.cpp.
constexpr float kGelu2K = float(2 * 0.7978845608028654); // 2 sqrt(2/pi)
constexpr float kGeluC = 0.044715f;
constexpr float kGeluDt0 = float(0.7978845608028654);
constexpr float kGeluDt2 = float(3 * 0.044715 * 0.7978845608028654);

#if defined(__AVX2__) && defined(__FMA__)
namespace avx2 {
/// exp(x) for x in [-87, 88], 8 at a time: expApprox's reduction and
/// polynomial with explicit FMAs.
inline __m256 expPoly(__m256 x) {
  __m256 n = _mm256_round_ps(
      _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r,
                             _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
} // namespace avx2

namespace gelu8 {
using avx2::expPoly;
/// s = e r and r = 1 / (1 + e), e = exp(2u), for the 8 values v.
inline void sr(__m256 v, __m256 &s, __m256 &r) {
  const __m256 v2 = _mm256_mul_ps(v, v);
  __m256 u2 = _mm256_mul_ps(
      _mm256_mul_ps(v, _mm256_set1_ps(kGelu2K)),
      _mm256_fmadd_ps(v2, _mm256_set1_ps(kGeluC), _mm256_set1_ps(1.0f)));
  u2 = _mm256_min_ps(_mm256_max_ps(u2, _mm256_set1_ps(-87.0f)),
                     _mm256_set1_ps(80.0f));
  const __m256 e = expPoly(u2);
  const __m256 d = _mm256_add_ps(e, _mm256_set1_ps(1.0f));
  const __m256 r0 = _mm256_rcp_ps(d);
  // One Newton step: r0 + r0 (1 - d r0).
  r = _mm256_fmadd_ps(r0, _mm256_fnmadd_ps(d, r0, _mm256_set1_ps(1.0f)), r0);
  s = _mm256_mul_ps(e, r);
}
inline __m256 fwd(__m256 v) {
  __m256 s, r;
  sr(v, s, r);
  return _mm256_mul_ps(v, s);
}
inline __m256 bwd(__m256 v, __m256 dy) {
  __m256 s, r;
  sr(v, s, r);
  const __m256 dt = _mm256_fmadd_ps(_mm256_mul_ps(v, v),
                                    _mm256_set1_ps(kGeluDt2),
                                    _mm256_set1_ps(kGeluDt0));
  // s + (2 v s r) dt
  const __m256 g = _mm256_fmadd_ps(
      _mm256_mul_ps(_mm256_mul_ps(_mm256_add_ps(v, v), s), r), dt, s);
  return _mm256_mul_ps(dy, g);
}
} // namespace gelu8
#else
inline void geluSr(float v, float &s, float &r) {
  float u2 = (v * kGelu2K) * (1.0f + kGeluC * (v * v));
  u2 = u2 < -87.0f ? -87.0f : (u2 > 80.0f ? 80.0f : u2);
  const float e = expApprox(u2);
  r = 1.0f / (1.0f + e);
  s = e * r;
}
#endif

/// y[i] = gelu(x[i]) for i < n (y may alias x).
inline void geluRowF(const float *x, float *y, int64_t n) {
#if defined(__AVX2__) && defined(__FMA__)
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, gelu8::fwd(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(t, x + i, size_t(n - i) * sizeof(float));
    _mm256_store_ps(t, gelu8::fwd(_mm256_load_ps(t)));
    std::memcpy(y + i, t, size_t(n - i) * sizeof(float));
  }
#else
  for (int64_t i = 0; i < n; ++i) {
    float s, r;
    geluSr(x[i], s, r);
    y[i] = x[i] * s;
  }
#endif
}

/// dx[i] = dy[i] gelu'(x[i]) for i < n (dx may alias dy).
inline void geluGradRowF(const float *x, const float *dy, float *dx,
                         int64_t n) {
#if defined(__AVX2__) && defined(__FMA__)
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dx + i, gelu8::bwd(_mm256_loadu_ps(x + i),
                                        _mm256_loadu_ps(dy + i)));
  if (i < n) {
    alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    alignas(32) float g[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(t, x + i, size_t(n - i) * sizeof(float));
    std::memcpy(g, dy + i, size_t(n - i) * sizeof(float));
    _mm256_store_ps(g, gelu8::bwd(_mm256_load_ps(t), _mm256_load_ps(g)));
    std::memcpy(dx + i, g, size_t(n - i) * sizeof(float));
  }
#else
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    float s, r;
    geluSr(v, s, r);
    const float dt = kGeluDt0 + kGeluDt2 * (v * v);
    dx[i] = dy[i] * (s + ((v + v) * s * r) * dt);
  }
#endif
}

} // namespace cpu
} // namespace hone
