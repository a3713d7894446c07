// SHA-256 (FIPS 180-4), streaming, for checkpoint manifests.
#pragma once

#include "runtime/base/Status.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hone::checkpoint {

class Sha256 {
public:
  using Digest = std::array<uint8_t, 32>;
  Sha256();
  void update(const void *data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// Finishes and returns the digest; the object must not be updated after.
  Digest finish();

  static Digest hash(std::string_view s);
  static std::string hex(const Digest &d);
  static std::string hexOf(std::string_view s) { return hex(hash(s)); }

  /// Whether blocks are compressed with the CPU's SHA extensions (x86
  /// SHA-NI, detected at run time: Zen and Ice Lake or later; ~5x the
  /// portable code's rate) rather than the portable code. The digest is the
  /// same either way; tests turn it off to compare the two, and
  /// HONE_SHA256=portable keeps the portable code for a process.
  static bool accelerated();
  /// Turns the SHA extensions off (false) or back on where the CPU has
  /// them; returns the previous setting. Process-wide, not thread-safe
  /// against running hashes.
  static bool setAccelerated(bool on);

private:
  void blocks(const uint8_t *p, size_t n);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t bufLen_ = 0;
  uint64_t total_ = 0;
};

/// Size and lower-case hex SHA-256 of a file, read in chunks.
struct FileDigest {
  uint64_t size = 0;
  std::string sha256;
};
Expected<FileDigest> digestFile(const std::string &path);

} // namespace hone::checkpoint
