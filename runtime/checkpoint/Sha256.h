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

private:
  void block(const uint8_t *p);
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
