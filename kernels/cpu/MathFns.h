// Scalar math the CPU kernels use inside `omp simd` loops. The float exp is a
// branch-free Cephes-style polynomial (about 2 ulp) that vectorises; fp64
// uses libm so that gradient checks see exact functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

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

} // namespace cpu
} // namespace hone
