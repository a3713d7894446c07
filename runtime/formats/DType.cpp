#include "runtime/formats/DType.h"

#include <cmath>
#include <cstring>

namespace hone {

namespace {
struct DTypeDesc {
  DType type;
  const char *name;
  size_t size;
};
constexpr DTypeDesc kDTypes[] = {
    {DType::BOOL, "BOOL", 1},       {DType::U8, "U8", 1},
    {DType::I8, "I8", 1},           {DType::U16, "U16", 2},
    {DType::I16, "I16", 2},         {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},       {DType::U32, "U32", 4},
    {DType::I32, "I32", 4},         {DType::F32, "F32", 4},
    {DType::U64, "U64", 8},         {DType::I64, "I64", 8},
    {DType::F64, "F64", 8},         {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E5M2, "F8_E5M2", 1},
};
} // namespace

const char *dtypeName(DType t) { return kDTypes[static_cast<int>(t)].name; }
size_t dtypeSize(DType t) { return kDTypes[static_cast<int>(t)].size; }

std::optional<DType> parseDType(std::string_view name) {
  for (const DTypeDesc &d : kDTypes)
    if (name == d.name)
      return d.type;
  return std::nullopt;
}

bool isFloatingDType(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 ||
         t == DType::F64 || t == DType::F8_E4M3 || t == DType::F8_E5M2;
}

static float bitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
static uint32_t floatToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) // inf / NaN
    return bitsToFloat(sign | 0x7F800000 | (mant << 13));
  if (exp == 0) {
    if (mant == 0)
      return bitsToFloat(sign);
    // Subnormal: value = mant * 2^-24.
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return bitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

float bf16ToFloat(uint16_t b) {
  return bitsToFloat(static_cast<uint32_t>(b) << 16);
}

float fp8e5m2ToFloat(uint8_t v) {
  return halfToFloat(static_cast<uint16_t>(v) << 8);
}

float fp8e4m3ToFloat(uint8_t v) {
  bool neg = v & 0x80;
  uint32_t exp = (v >> 3) & 0xF;
  uint32_t mant = v & 0x7;
  float r;
  if (exp == 0xF && mant == 0x7)
    r = std::nanf("");
  else if (exp == 0)
    r = std::ldexp(static_cast<float>(mant), -9); // mant/8 * 2^-6
  else
    r = std::ldexp(1.0f + static_cast<float>(mant) / 8.0f,
                   static_cast<int>(exp) - 7);
  return neg ? -r : r;
}

uint16_t floatToBf16(float f) {
  uint32_t u = floatToBits(f);
  if ((u & 0x7FFFFFFF) > 0x7F800000) // NaN: keep it quiet and a NaN
    return static_cast<uint16_t>((u >> 16) | 0x40);
  uint32_t rounding = 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

uint16_t floatToHalf(float f) {
  uint32_t u = floatToBits(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  uint32_t absU = u & 0x7FFFFFFF;
  if (absU > 0x7F800000) // NaN
    return sign | 0x7E00;
  if (absU >= 0x477FF000) // rounds to >= 65520: infinity
    return sign | 0x7C00;
  if (absU < 0x38800000) { // below the smallest normal half (2^-14)
    // Subnormal half: value / 2^-24, rounded to nearest even.
    float a = bitsToFloat(absU);
    float scaled = a * 16777216.0f;   // 2^24, exact
    float r = std::nearbyint(scaled); // default mode: nearest even
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t exp = (absU >> 23) - 112;
  uint32_t mant = absU & 0x7FFFFF;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
    ++h; // may carry into the exponent, which is the correct result
  return sign | static_cast<uint16_t>(h);
}

template <typename T> static T load(const unsigned char *p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

void convertToF32(DType from, const void *srcv, size_t n, float *dst) {
  const auto *src = static_cast<const unsigned char *>(srcv);
  switch (from) {
  case DType::F32:
    std::memcpy(dst, src, n * 4);
    return;
  case DType::F64:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(load<double>(src + 8 * i));
    return;
  case DType::F16:
    for (size_t i = 0; i < n; ++i)
      dst[i] = halfToFloat(load<uint16_t>(src + 2 * i));
    return;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i)
      dst[i] = bf16ToFloat(load<uint16_t>(src + 2 * i));
    return;
  case DType::F8_E4M3:
    for (size_t i = 0; i < n; ++i)
      dst[i] = fp8e4m3ToFloat(src[i]);
    return;
  case DType::F8_E5M2:
    for (size_t i = 0; i < n; ++i)
      dst[i] = fp8e5m2ToFloat(src[i]);
    return;
  case DType::BOOL:
    for (size_t i = 0; i < n; ++i)
      dst[i] = src[i] ? 1.0f : 0.0f;
    return;
  case DType::U8:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(src[i]);
    return;
  case DType::I8:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(static_cast<int8_t>(src[i]));
    return;
  case DType::U16:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(load<uint16_t>(src + 2 * i));
    return;
  case DType::I16:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(load<int16_t>(src + 2 * i));
    return;
  case DType::U32:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(load<uint32_t>(src + 4 * i));
    return;
  case DType::I32:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(load<int32_t>(src + 4 * i));
    return;
  case DType::U64:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(load<uint64_t>(src + 8 * i));
    return;
  case DType::I64:
    for (size_t i = 0; i < n; ++i)
      dst[i] = static_cast<float>(load<int64_t>(src + 8 * i));
    return;
  }
}

} // namespace hone
