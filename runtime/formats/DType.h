// Element types of checkpoint tensors (the safetensors dtype names) and
// conversions of the storage types to and from fp32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hone {

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

/// The safetensors spelling: "F32", "BF16", "I64", ...
const char *dtypeName(DType t);
std::optional<DType> parseDType(std::string_view name);
size_t dtypeSize(DType t);
bool isFloatingDType(DType t);

/// IEEE binary16 / bfloat16 / fp8 to fp32 (exact).
float halfToFloat(uint16_t h);
float bf16ToFloat(uint16_t b);
float fp8e4m3ToFloat(uint8_t v); // E4M3FN: no infinities, 0x7F/0xFF NaN
float fp8e5m2ToFloat(uint8_t v);
/// fp32 to IEEE binary16 / bfloat16, rounding to nearest even; NaN stays NaN.
uint16_t floatToHalf(float f);
uint16_t floatToBf16(float f);

/// Converts n elements of type `from` stored at src (any alignment,
/// little-endian) to fp32.
void convertToF32(DType from, const void *src, size_t n, float *dst);

} // namespace hone
