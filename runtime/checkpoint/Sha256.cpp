#include "runtime/checkpoint/Sha256.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HONE_SHA_NI 1
#endif

namespace hone::checkpoint {

namespace {
constexpr uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/// FIPS 180-4's compression of one 64-byte block into `h`, portable.
void blockGeneric(uint32_t h_[8], const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i)
    w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 |
           uint32_t(p[4 * i + 2]) << 8 | uint32_t(p[4 * i + 3]);
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5],
           g = h_[6], h = h_[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    uint32_t ch = (e & f) ^ (~e & g);
    uint32_t t1 = h + S1 + ch + K[i] + w[i];
    uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
    uint32_t t2 = S0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h_[0] += a;
  h_[1] += b;
  h_[2] += c;
  h_[3] += d;
  h_[4] += e;
  h_[5] += f;
  h_[6] += g;
  h_[7] += h;
}

#if HONE_SHA_NI
/// The same compression of `n` consecutive blocks with the SHA extensions:
/// each sha256rnds2 runs two rounds on the state held as (A,B,E,F) and
/// (C,D,G,H); sha256msg1/msg2 extend the message schedule four words at a
/// time.
__attribute__((target("sha,sse4.1,ssse3"))) void
blocksShaNi(uint32_t h[8], const uint8_t *p, size_t n) {
  const __m128i bswap =
      _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i *>(h));
  __m128i s1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(h + 4));
  t = _mm_shuffle_epi32(t, 0xB1);           // C D A B
  s1 = _mm_shuffle_epi32(s1, 0x1B);         // E F G H
  __m128i s0 = _mm_alignr_epi8(t, s1, 8);   // A B E F
  s1 = _mm_blend_epi16(s1, t, 0xF0);        // C D G H
  for (; n > 0; --n, p += 64) {
    const __m128i save0 = s0, save1 = s1;
    __m128i w[4];
#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {
      if (g < 4)
        w[g] = _mm_shuffle_epi8(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16 * g)),
            bswap);
      else // W[g] from W[g-4], W[g-3], W[g-2], W[g-1]
        w[g & 3] = _mm_sha256msg2_epu32(
            _mm_add_epi32(_mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]),
                          _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4)),
            w[(g + 3) & 3]);
      __m128i m = _mm_add_epi32(
          w[g & 3], _mm_loadu_si128(reinterpret_cast<const __m128i *>(K + 4 * g)));
      s1 = _mm_sha256rnds2_epu32(s1, s0, m);
      s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
    }
    s0 = _mm_add_epi32(s0, save0);
    s1 = _mm_add_epi32(s1, save1);
  }
  t = _mm_shuffle_epi32(s0, 0x1B);          // F E B A
  s1 = _mm_shuffle_epi32(s1, 0xB1);         // D C H G
  s0 = _mm_blend_epi16(t, s1, 0xF0);        // D C B A
  s1 = _mm_alignr_epi8(s1, t, 8);           // H G F E
  _mm_storeu_si128(reinterpret_cast<__m128i *>(h), s0);
  _mm_storeu_si128(reinterpret_cast<__m128i *>(h + 4), s1);
}

bool cpuHasShaNi() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) ||
      !(c & bit_SSSE3))
    return false;
  return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
#else
bool cpuHasShaNi() { return false; }
#endif

// HONE_SHA256=portable keeps the portable code (A/B measurements).
bool gUseShaNi = [] {
  const char *e = std::getenv("HONE_SHA256");
  return !(e && std::strcmp(e, "portable") == 0) && cpuHasShaNi();
}();
} // namespace

bool Sha256::accelerated() { return gUseShaNi; }

bool Sha256::setAccelerated(bool on) {
  bool was = gUseShaNi;
  gUseShaNi = on && cpuHasShaNi();
  return was;
}

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f,
         0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::blocks(const uint8_t *p, size_t n) {
#if HONE_SHA_NI
  if (gUseShaNi) {
    blocksShaNi(h_, p, n);
    return;
  }
#endif
  for (; n > 0; --n, p += 64)
    blockGeneric(h_, p);
}

void Sha256::update(const void *data, size_t size) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  total_ += size;
  if (bufLen_ > 0) {
    size_t take = std::min(size, 64 - bufLen_);
    std::memcpy(buf_ + bufLen_, p, take);
    bufLen_ += take;
    p += take;
    size -= take;
    if (bufLen_ == 64) {
      blocks(buf_, 1);
      bufLen_ = 0;
    }
  }
  if (size >= 64) {
    blocks(p, size / 64);
    p += size / 64 * 64;
    size %= 64;
  }
  if (size > 0) {
    std::memcpy(buf_, p, size);
    bufLen_ = size;
  }
}

Sha256::Digest Sha256::finish() {
  uint64_t bits = total_ * 8;
  uint8_t pad[72] = {0x80};
  size_t padLen = (bufLen_ < 56) ? 56 - bufLen_ : 120 - bufLen_;
  for (int i = 0; i < 8; ++i)
    pad[padLen + i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
  update(pad, padLen + 8);
  Digest d;
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j)
      d[4 * i + j] = static_cast<uint8_t>(h_[i] >> (24 - 8 * j));
  return d;
}

Sha256::Digest Sha256::hash(std::string_view s) {
  Sha256 h;
  h.update(s);
  return h.finish();
}

std::string Sha256::hex(const Digest &d) {
  static const char *digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

Expected<FileDigest> digestFile(const std::string &path) {
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer; a FIFO
  // or a device (/dev/zero) may never end, so only regular files are read.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return Status::error(path + ": error: cannot open: " +
                         std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const mode_t m = st.st_mode;
    ::close(fd);
    const std::string what = S_ISDIR(m)                 ? "a directory"
                             : S_ISFIFO(m)              ? "a FIFO"
                             : S_ISCHR(m) || S_ISBLK(m) ? "a device"
                                                        : "a special file";
    return Status::error(path + ": error: is " + what +
                             ", not a regular file (hint: copy the data to "
                             "a file and give its path)",
                         "copy the data to a file and give its path");
  }
  Sha256 h;
  FileDigest out;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int err = errno;
      ::close(fd);
      return Status::error(path + ": error: read failed: " +
                           std::strerror(err));
    }
    if (r == 0)
      break;
    h.update(buf.data(), static_cast<size_t>(r));
    out.size += static_cast<uint64_t>(r);
  }
  ::close(fd);
  out.sha256 = Sha256::hex(h.finish());
  return out;
}

} // namespace hone::checkpoint
