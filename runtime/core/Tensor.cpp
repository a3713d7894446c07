#include "runtime/core/Tensor.h"

#include <cstdlib>
#include <limits>

namespace hone {

std::string shapeToString(const Shape &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t shapeNumel(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      return -1;
    n *= d;
  }
  return n;
}

Shape Tensor::contiguousStrides(const Shape &shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

Expected<Tensor> Tensor::zeros(const Shape &shape, DType dtype) {
  int64_t n = shapeNumel(shape);
  if (n < 0)
    return Status::error("tensor: invalid shape " + shapeToString(shape));
  size_t bytes = size_t(n) * dtypeSize(dtype);
  size_t rounded = (bytes + 63) / 64 * 64;
  void *p = rounded ? std::aligned_alloc(64, rounded) : nullptr;
  if (rounded && !p)
    return Status::error("tensor: out of memory allocating " +
                         std::to_string(bytes) + " bytes");
  if (p)
    std::memset(p, 0, rounded);
  Tensor t;
  t.storage_ = std::shared_ptr<void>(p, [](void *q) { std::free(q); });
  t.data_ = p;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.strides_ = contiguousStrides(shape);
  return t;
}

Tensor Tensor::view(void *data, const Shape &shape, DType dtype,
                    Device device) {
  Tensor t;
  t.data_ = data;
  t.dtype_ = dtype;
  t.device_ = device;
  t.shape_ = shape;
  t.strides_ = contiguousStrides(shape);
  return t;
}

bool Tensor::isContiguous() const {
  return strides_ == contiguousStrides(shape_);
}

Expected<Tensor> Tensor::reshape(const Shape &shape) const {
  if (!isContiguous())
    return Status::error("tensor: reshape of a non-contiguous tensor");
  if (shapeNumel(shape) != numel())
    return Status::error("tensor: cannot reshape " + shapeToString(shape_) +
                         " to " + shapeToString(shape));
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = contiguousStrides(shape);
  return t;
}

Expected<Tensor> Tensor::narrow0(int64_t begin, int64_t end) const {
  if (shape_.empty() || begin < 0 || end < begin || end > shape_[0])
    return Status::error("tensor: narrow0 [" + std::to_string(begin) + ", " +
                         std::to_string(end) + ") out of range for " +
                         shapeToString(shape_));
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.data_ = static_cast<char *>(data_) +
            size_t(begin * strides_[0]) * dtypeSize(dtype_);
  return t;
}

namespace {
double loadF(const void *p, DType t, int64_t i) {
  switch (t) {
  case DType::F32:
    return static_cast<const float *>(p)[i];
  case DType::F64:
    return static_cast<const double *>(p)[i];
  case DType::BF16:
    return bf16ToFloat(static_cast<const uint16_t *>(p)[i]);
  case DType::F16:
    return f16ToFloat(static_cast<const uint16_t *>(p)[i]);
  case DType::I32:
    return static_cast<const int32_t *>(p)[i];
  case DType::I64:
    return double(static_cast<const int64_t *>(p)[i]);
  case DType::U8:
  case DType::BOOL:
    return static_cast<const uint8_t *>(p)[i];
  case DType::I8:
    return static_cast<const int8_t *>(p)[i];
  case DType::U16:
    return static_cast<const uint16_t *>(p)[i];
  case DType::I16:
    return static_cast<const int16_t *>(p)[i];
  case DType::U32:
    return static_cast<const uint32_t *>(p)[i];
  case DType::U64:
    return double(static_cast<const uint64_t *>(p)[i]);
  case DType::F8_E4M3:
    return fp8e4m3ToFloat(static_cast<const uint8_t *>(p)[i]);
  case DType::F8_E5M2:
    return fp8e5m2ToFloat(static_cast<const uint8_t *>(p)[i]);
  }
  return 0;
}
int64_t loadI(const void *p, DType t, int64_t i) {
  switch (t) {
  case DType::I32:
    return static_cast<const int32_t *>(p)[i];
  case DType::I64:
    return static_cast<const int64_t *>(p)[i];
  case DType::U8:
    return static_cast<const uint8_t *>(p)[i];
  default:
    return int64_t(loadF(p, t, i));
  }
}
} // namespace

/// convertElements writes the compute and storage types only.
static Status checkConversionTarget(DType to) {
  switch (to) {
  case DType::F32:
  case DType::F64:
  case DType::BF16:
  case DType::F16:
  case DType::I32:
  case DType::I64:
  case DType::U8:
    return Status::ok();
  default:
    return Status::error(std::string("tensor: cannot convert to ") +
                         dtypeName(to));
  }
}

void convertElements(const void *src, DType from, void *dst, DType to,
                     int64_t n) {
  if (from == to) {
    std::memcpy(dst, src, size_t(n) * dtypeSize(to));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    switch (to) {
    case DType::F32:
      static_cast<float *>(dst)[i] = float(loadF(src, from, i));
      break;
    case DType::F64:
      static_cast<double *>(dst)[i] = loadF(src, from, i);
      break;
    case DType::BF16:
      static_cast<uint16_t *>(dst)[i] = floatToBf16(float(loadF(src, from, i)));
      break;
    case DType::F16:
      static_cast<uint16_t *>(dst)[i] = floatToF16(float(loadF(src, from, i)));
      break;
    case DType::I32:
      static_cast<int32_t *>(dst)[i] = int32_t(loadI(src, from, i));
      break;
    case DType::I64:
      static_cast<int64_t *>(dst)[i] = loadI(src, from, i);
      break;
    case DType::U8:
      static_cast<uint8_t *>(dst)[i] = uint8_t(loadI(src, from, i));
      break;
    default: // not a compute type: Tensor::toDType refuses it
      return;
    }
  }
}

Expected<Tensor> Tensor::toDType(DType to) const {
  if (device_ != Device::CPU)
    return Status::error("tensor: toDType needs a CPU tensor");
  if (!isContiguous())
    return Status::error("tensor: toDType of a non-contiguous tensor");
  HONE_TRY(checkConversionTarget(to));
  auto out = Tensor::zeros(shape_, to);
  if (!out)
    return out.status();
  convertElements(data_, dtype_, out->data_, to, numel());
  return out;
}

Status Tensor::copyInto(Tensor &dst) const {
  if (dst.shape_ != shape_)
    return Status::error("tensor: copy from " + shapeToString(shape_) +
                         " into " + shapeToString(dst.shape_));
  if (device_ != Device::CPU || dst.device_ != Device::CPU)
    return Status::error("tensor: copyInto needs CPU tensors");
  if (!isContiguous() || !dst.isContiguous())
    return Status::error("tensor: copyInto needs contiguous tensors");
  if (dst.dtype_ != dtype_)
    HONE_TRY(checkConversionTarget(dst.dtype_));
  convertElements(data_, dtype_, dst.data_, dst.dtype_, numel());
  return Status::ok();
}

} // namespace hone
