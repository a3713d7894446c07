// Whether this CPU's GEMM gives a row the same bits whatever the number of
// rows in the call. Micro-batched reads (docs/passes.md) and data-sized
// shapes (docs/compiler.md) are bit-identical to one full call exactly when
// it does: OpenBLAS's SkylakeX kernels (Zen 4, Xeon with AVX-512) do; its
// Haswell kernels and oneDNN on an AVX2-only CPU (Zen 2) compute the tail
// rows of a call with other instruction sequences, so there such results
// agree to a few units in the last place instead. Tests compare bit for bit
// where this probe says so, and within a tolerance otherwise.
#pragma once

#include "kernels/Kernels.h"

#include <cstdint>
#include <cstring>
#include <vector>

namespace hone::test {

/// Y = X W^T (the linear layers' product) for the first m rows of X, for
/// several m, against the same rows of one call over all rows.
template <typename T> bool gemmRowsInvariant(Kernels<T> &k) {
  const int64_t rows = 24;
  for (int64_t in : {32, 64, 96})
    for (int64_t out : {1, 16, 48, 64, 176}) {
      std::vector<T> x(size_t(rows * in)), w(size_t(out * in));
      uint32_t s = 12345;
      auto next = [&s] {
        s = s * 1664525u + 1013904223u;
        return T(double(s >> 8) / double(1 << 24) - 0.5);
      };
      for (T &v : x)
        v = next();
      for (T &v : w)
        v = next();
      auto product = [&](int64_t m) {
        std::vector<T> y(size_t(m * out));
        k.gemm(false, true, m, out, in, T(1), x.data(), in, w.data(), in,
               T(0), y.data(), out);
        return y;
      };
      std::vector<T> all = product(rows);
      for (int64_t m : {1, 3, 5, 8, 15}) {
        std::vector<T> part = product(m);
        if (std::memcmp(part.data(), all.data(), part.size() * sizeof(T)))
          return false;
      }
    }
  return true;
}

} // namespace hone::test
