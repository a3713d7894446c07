// Philox4x32-10 (Salmon et al., SC'11; Random123), a counter-based RNG: every
// draw is a pure function of (key, counter), so a draw can be recomputed on
// any thread, rank or device, and a resumed run continues the same stream.
//
// Hone keys every stream by (seed, step, rank, sample):
//   key     = {seed low 32 bits, seed high 32 bits}
//   counter = {index, sample, step, rank}
// where `index` numbers the 4-word blocks drawn inside one stream (e.g. the
// generated position for sampling). CUDA kernels use the same function.
#pragma once

#include <array>
#include <cstdint>

namespace hone {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

#if defined(__CUDACC__)
#define HONE_HOST_DEVICE __host__ __device__
#else
#define HONE_HOST_DEVICE
#endif

HONE_HOST_DEVICE inline PhiloxCounter philox4x32(PhiloxCounter c, PhiloxKey k,
                                                 int rounds = 10) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  const uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) {
      k[0] += W0;
      k[1] += W1;
    }
    uint64_t p0 = uint64_t(M0) * c[0];
    uint64_t p1 = uint64_t(M1) * c[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
  }
  return c;
}

/// A uniform float in [0, 1) from the top 24 bits of a word.
HONE_HOST_DEVICE inline float uniformFloat(uint32_t x) {
  return float(x >> 8) * (1.0f / 16777216.0f);
}
/// A uniform double in [0, 1) from 53 bits of two words.
HONE_HOST_DEVICE inline double uniformDouble(uint32_t hi, uint32_t lo) {
  uint64_t v = (uint64_t(hi) << 21) ^ (uint64_t(lo) >> 11);
  return double(v & ((uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/// One reproducible stream of the (seed, step, rank, sample) family.
class PhiloxStream {
public:
  PhiloxStream(uint64_t seed, uint32_t step, uint32_t rank, uint32_t sample)
      : key_{uint32_t(seed), uint32_t(seed >> 32)}, step_(step), rank_(rank),
        sample_(sample) {}

  /// The 4 words of block `index` (pure: does not advance anything).
  PhiloxCounter block(uint32_t index) const {
    return philox4x32({index, sample_, step_, rank_}, key_);
  }
  /// Uniform in [0, 1) for draw `index`, computed in double precision.
  double uniform(uint32_t index) const {
    PhiloxCounter b = block(index);
    return uniformDouble(b[0], b[1]);
  }

private:
  PhiloxKey key_;
  uint32_t step_, rank_, sample_;
};

} // namespace hone
