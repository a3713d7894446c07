// Element types of checkpoint tensors (the safetensors dtype names) and
// conversions of the storage types to and from fp32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "runtime/base/DType.h"

namespace hone {

// The element types themselves (hone::DType, dtypeName, parseDType,
// dtypeSize, isFloating) and the scalar conversions (f16ToFloat,
// floatToF16, bf16ToFloat, floatToBf16, fp8 decoders) are the runtime's,
// in runtime/base/DType.h.

/// Converts n elements of type `from` stored at src (any alignment,
/// little-endian) to fp32.
void convertToF32(DType from, const void *src, size_t n, float *dst);

} // namespace hone
