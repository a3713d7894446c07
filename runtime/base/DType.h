// Element types and devices of runtime tensors, and the conversions between
// the storage types checkpoints use (bf16, fp16) and the compute types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace hone {

/// Element types, with the safetensors names (the superset checkpoints use;
/// runtime tensors compute in F32/F64 and index with I32/I64).
enum class DType : uint8_t {
  BOOL,
  U8,
  I8,
  U16,
  I16,
  F16,
  BF16,
  U32,
  I32,
  F32,
  U64,
  I64,
  F64,
  F8_E4M3,
  F8_E5M2,
};

/// Where a tensor's bytes live. Kernels of one backend only touch their own.
enum class Device : uint8_t { CPU, CUDA };

inline size_t dtypeSize(DType t) {
  switch (t) {
  case DType::BOOL:
  case DType::U8:
  case DType::I8:
  case DType::F8_E4M3:
  case DType::F8_E5M2:
    return 1;
  case DType::U16:
  case DType::I16:
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::U32:
  case DType::I32:
  case DType::F32:
    return 4;
  case DType::U64:
  case DType::I64:
  case DType::F64:
    return 8;
  }
  return 0;
}

/// The safetensors spelling: "F32", "BF16", "I64", ...
inline const char *dtypeName(DType t) {
  switch (t) {
  case DType::BOOL:
    return "BOOL";
  case DType::U8:
    return "U8";
  case DType::I8:
    return "I8";
  case DType::U16:
    return "U16";
  case DType::I16:
    return "I16";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  case DType::U32:
    return "U32";
  case DType::I32:
    return "I32";
  case DType::F32:
    return "F32";
  case DType::U64:
    return "U64";
  case DType::I64:
    return "I64";
  case DType::F64:
    return "F64";
  case DType::F8_E4M3:
    return "F8_E4M3";
  case DType::F8_E5M2:
    return "F8_E5M2";
  }
  return "?";
}

inline std::optional<DType> parseDType(std::string_view name) {
  for (int i = 0; i <= int(DType::F8_E5M2); ++i)
    if (name == dtypeName(DType(i)))
      return DType(i);
  return std::nullopt;
}

inline bool isFloating(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 ||
         t == DType::F64 || t == DType::F8_E4M3 || t == DType::F8_E5M2;
}

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> {
  static constexpr DType value = DType::F32;
};
template <> struct DTypeOf<double> {
  static constexpr DType value = DType::F64;
};
template <> struct DTypeOf<int32_t> {
  static constexpr DType value = DType::I32;
};
template <> struct DTypeOf<int64_t> {
  static constexpr DType value = DType::I64;
};
template <> struct DTypeOf<uint8_t> {
  static constexpr DType value = DType::U8;
};

inline uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16ToFloat(uint16_t h) { return bitsFloat(uint32_t(h) << 16); }

/// Round to nearest even, NaN stays NaN (quiet).
inline uint16_t floatToBf16(float f) {
  uint32_t u = floatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  if (exp == 0) {
    if (man == 0)
      return bitsFloat(sign);
    // Subnormal: value = man * 2^-24.
    float v = float(man) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31)
    return bitsFloat(sign | 0x7f800000u | (man << 13));
  return bitsFloat(sign | ((exp + 112) << 23) | (man << 13));
}

/// Round to nearest even with overflow to infinity and gradual underflow.
inline uint16_t floatToF16(float f) {
  uint32_t u = floatBits(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u)
    return uint16_t(sign | 0x7e00);
  if (a >= 0x477ff000u) // rounds to >= 65536 -> inf
    return uint16_t(sign | 0x7c00);
  if (a < 0x38800000u) { // below the smallest normal half (2^-14)
    // Subnormal or zero: scale so that the half's ulp (2^-24) is 1, round.
    float v = bitsFloat(a) * 16777216.0f;
    // nearbyint with ties-to-even under the default rounding mode.
    float r = v + 12582912.0f - 12582912.0f; // 1.5*2^23 trick
    return uint16_t(sign | uint16_t(r));
  }
  uint32_t e = ((a >> 23) - 112) << 10;
  uint32_t m = (a >> 13) & 0x3ff;
  uint32_t rest = a & 0x1fff;
  uint32_t h = e | m;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
    ++h; // may carry into the exponent, which is the correct rounding
  return uint16_t(sign | h);
}

/// OCP FP8 E5M2: the top byte of an fp16.
inline float fp8e5m2ToFloat(uint8_t v) { return f16ToFloat(uint16_t(v) << 8); }

/// OCP FP8 E4M3FN: no infinities, 0x7F/0xFF are NaN.
inline float fp8e4m3ToFloat(uint8_t v) {
  bool neg = v & 0x80;
  uint32_t exp = (v >> 3) & 0xF;
  uint32_t mant = v & 0x7;
  float r;
  if (exp == 0xF && mant == 0x7)
    r = bitsFloat(0x7fc00000u);
  else if (exp == 0) // subnormal: mant/8 * 2^-6
    r = float(mant) * (1.0f / 512.0f);
  else
    r = bitsFloat(((exp + 120) << 23) | (mant << 20));
  return neg ? -r : r;
}

/// Converts n elements of type `from` stored at src (any alignment,
/// little-endian) to fp32 (DType.cpp).
void convertToF32(DType from, const void *src, size_t n, float *dst);

} // namespace hone
