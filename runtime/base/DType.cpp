#include "runtime/base/DType.h"

#include <cmath>
#include <cstring>

namespace hone {

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
      dst[i] = f16ToFloat(load<uint16_t>(src + 2 * i));
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
