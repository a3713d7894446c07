#include "runtime/core/Arena.h"

#include <cstdlib>
#include <cstring>

namespace hone {

static bool isPowerOfTwo(size_t a) { return a && !(a & (a - 1)); }

Expected<Arena> Arena::create(size_t capacity, size_t alignment) {
  if (!isPowerOfTwo(alignment))
    return Status::error("arena: alignment must be a power of two");
  size_t rounded = (capacity + alignment - 1) / alignment * alignment;
  if (rounded < capacity)
    return Status::error("arena: capacity overflows");
  void *p = rounded ? std::aligned_alloc(alignment, rounded) : nullptr;
  if (rounded && !p)
    return Status::error("arena: out of memory reserving " +
                         std::to_string(capacity) + " bytes");
  if (p)
    std::memset(p, 0, rounded);
  Arena a;
  a.owned_ = std::shared_ptr<void>(p, [](void *q) { std::free(q); });
  a.base_ = p;
  a.capacity_ = capacity;
  a.alignment_ = alignment;
  return a;
}

Arena Arena::wrap(void *base, size_t capacity, Device device,
                  size_t alignment) {
  Arena a;
  a.base_ = base;
  a.capacity_ = capacity;
  a.alignment_ = alignment;
  a.device_ = device;
  return a;
}

Expected<Tensor> Arena::at(size_t offset, const Shape &shape, DType dtype) {
  int64_t n = shapeNumel(shape);
  if (n < 0)
    return Status::error("arena: invalid shape " + shapeToString(shape));
  size_t bytes = size_t(n) * dtypeSize(dtype);
  if (offset % alignment_ != 0)
    return Status::error("arena: offset " + std::to_string(offset) +
                         " is not aligned to " + std::to_string(alignment_));
  if (offset > capacity_ || bytes > capacity_ - offset)
    return Status::error(
        "arena: tensor " + shapeToString(shape) + " " + dtypeName(dtype) +
            " at offset " + std::to_string(offset) + " needs " +
            std::to_string(offset + bytes) + " bytes; the arena has " +
            std::to_string(capacity_),
        "the memory plan and the arena size disagree");
  if (offset + bytes > peak_)
    peak_ = offset + bytes;
  return Tensor::view(static_cast<char *>(base_) + offset, shape, dtype,
                      device_);
}

Expected<size_t> Arena::allocateBytes(size_t bytes) {
  size_t off = (top_ + alignment_ - 1) / alignment_ * alignment_;
  if (off > capacity_ || bytes > capacity_ - off)
    return Status::error(
        "arena: out of memory: " + std::to_string(bytes) +
        " bytes requested, " +
        std::to_string(capacity_ - (off < capacity_ ? off : capacity_)) +
        " free of " + std::to_string(capacity_));
  top_ = off + bytes;
  if (top_ > peak_)
    peak_ = top_;
  return off;
}

Expected<Tensor> Arena::allocate(const Shape &shape, DType dtype) {
  int64_t n = shapeNumel(shape);
  if (n < 0)
    return Status::error("arena: invalid shape " + shapeToString(shape));
  auto off = allocateBytes(size_t(n) * dtypeSize(dtype));
  if (!off)
    return off.status();
  return Tensor::view(static_cast<char *>(base_) + *off, shape, dtype, device_);
}

} // namespace hone
