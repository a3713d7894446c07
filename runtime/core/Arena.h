// An arena: one allocation, tensors at byte offsets inside it (at()) or
// bump-allocated (allocate(), mark()/release()); it records the highest end
// handed out. Not used by compiled jobs: they place their step tensors and
// the models' activations, KV caches and decode workspaces at
// hone-plan-memory's offsets in runtime/job/JobArena.h's block, and check
// their resident peak against the plan (runtime/job/MemoryCheck.h).
#pragma once

#include "runtime/core/Tensor.h"

#include <cstddef>
#include <memory>

namespace hone {

class Arena {
public:
  static constexpr size_t kDefaultAlignment = 64;

  Arena() = default;
  /// Owns `capacity` bytes of zeroed, aligned CPU memory.
  static Expected<Arena> create(size_t capacity,
                                size_t alignment = kDefaultAlignment);
  /// Borrows memory allocated elsewhere (a device allocation, a mapping).
  static Arena wrap(void *base, size_t capacity, Device device,
                    size_t alignment = kDefaultAlignment);

  /// The tensor at a planned offset; fails if it does not fit or the offset
  /// is misaligned for the arena's alignment.
  Expected<Tensor> at(size_t offset, const Shape &shape, DType dtype);
  /// Bump allocation after everything allocated so far.
  Expected<Tensor> allocate(const Shape &shape, DType dtype);
  /// Raw bump allocation; returns the offset.
  Expected<size_t> allocateBytes(size_t bytes);

  size_t mark() const { return top_; }
  void release(size_t mark) { top_ = mark < top_ ? mark : top_; }
  void reset() { top_ = 0; }

  void *base() const { return base_; }
  Device device() const { return device_; }
  size_t capacity() const { return capacity_; }
  size_t used() const { return top_; }
  /// Highest end offset ever handed out (planned or bumped).
  size_t peak() const { return peak_; }
  void resetPeak() { peak_ = top_; }

private:
  std::shared_ptr<void> owned_;
  void *base_ = nullptr;
  size_t capacity_ = 0;
  size_t alignment_ = kDefaultAlignment;
  size_t top_ = 0;
  size_t peak_ = 0;
  Device device_ = Device::CPU;
};

} // namespace hone
