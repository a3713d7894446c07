// A runtime tensor: a typed, shaped, strided view of bytes on one device.
// Storage is either owned (shared, so copies are cheap views) or borrowed
// from an Arena or a caller. Compute on the CPU is fp32 (fp64 for gradient
// checks); bf16 and fp16 are storage types that checkpoints load through
// toDType().
#pragma once

#include "runtime/base/DType.h"
#include "runtime/base/Status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hone {

using Shape = std::vector<int64_t>;

std::string shapeToString(const Shape &shape);
/// Product of the extents; -1 when a dimension is negative or it overflows.
int64_t shapeNumel(const Shape &shape);

class Tensor {
public:
  Tensor() = default;

  /// A zero-initialised, contiguous, owned CPU tensor.
  static Expected<Tensor> zeros(const Shape &shape, DType dtype);
  /// A non-owning contiguous view of `data` (which must outlive the view).
  static Tensor view(void *data, const Shape &shape, DType dtype,
                     Device device = Device::CPU);

  bool defined() const { return data_ != nullptr || numel() == 0; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const Shape &shape() const { return shape_; }
  const Shape &strides() const { return strides_; } // in elements
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t size(int64_t i) const { return shape_[size_t(i)]; }
  int64_t stride(int64_t i) const { return strides_[size_t(i)]; }
  int64_t numel() const { return shapeNumel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtypeSize(dtype_); }
  bool isContiguous() const;
  bool ownsStorage() const { return storage_ != nullptr; }

  void *raw() const { return data_; }
  template <typename T> T *data() const {
    assert(DTypeOf<T>::value == dtype_ && "Tensor::data<T>() type mismatch");
    return static_cast<T *>(data_);
  }

  /// Same bytes, new shape (contiguous tensors only).
  Expected<Tensor> reshape(const Shape &shape) const;
  /// Rows [begin, end) of the leading dimension, sharing storage.
  Expected<Tensor> narrow0(int64_t begin, int64_t end) const;
  /// A contiguous owned CPU copy converted to `to` (floating types convert
  /// through fp32 or fp64, integer types through int64).
  Expected<Tensor> toDType(DType to) const;
  /// Copies values (converting) into `dst`, which must have the same shape.
  Status copyInto(Tensor &dst) const;

private:
  std::shared_ptr<void> storage_;
  void *data_ = nullptr;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
  Shape shape_;
  Shape strides_;

  static Shape contiguousStrides(const Shape &shape);
};

/// Converts `n` elements between two CPU buffers of (possibly) different type;
/// `to` must be F32, F64, BF16, F16, I32, I64 or U8 (other targets are left
/// untouched; Tensor::toDType and copyInto refuse them with a Status).
void convertElements(const void *src, DType from, void *dst, DType to,
                     int64_t n);

} // namespace hone
