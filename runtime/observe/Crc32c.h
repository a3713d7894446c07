// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) as used by TFRecord
// framing, and TensorFlow's masking of stored CRCs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hone::observe {

/// Extends `crc` (0 to start) over data[0 .. size).
uint32_t crc32c(const void *data, size_t size, uint32_t crc = 0);
inline uint32_t crc32c(std::string_view s) {
  return crc32c(s.data(), s.size());
}

/// TensorFlow's mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
inline uint32_t maskCrc(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
inline uint32_t unmaskCrc(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

} // namespace hone::observe
