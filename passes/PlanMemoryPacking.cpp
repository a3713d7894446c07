//===- PlanMemoryPacking.cpp - hone-plan-memory: liveness, offsets --------===//
//
// The plan of the buffers collected by PlanMemoryBuffers.cpp: bytes live at
// each point (the lower bound), offsets first-fit and greedy-by-size
// (the plan). Shared declarations: PlanMemoryImpl.h.
//
//===----------------------------------------------------------------------===//

#include "passes/PlanMemoryImpl.h"

using namespace mlir;
using namespace mlir::hone;
using namespace mlir::hone::plan_memory;

/// Offsets, packed as placed in `order`: each buffer at the lowest offset
/// free of every placed buffer whose interval overlaps its own. Returns
/// the arena's end.
int64_t Planner::pack(std::vector<Buffer> &bs, ArrayRef<size_t> order) {
  int64_t top = 0;
  SmallVector<size_t> placed;
  for (size_t i : order) {
    Buffer &b = bs[i];
    SmallVector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed)
      if (bs[j].first <= b.last && b.first <= bs[j].last)
        busy.push_back({bs[j].offset, bs[j].offset + bs[j].bytes});
    llvm::sort(busy);
    // 64-byte aligned offsets: the runtime places buffers there
    // (runtime/job/JobArena.h), and the CPU kernels want that alignment
    // (a page for offloaded moments: direct I/O).
    const int64_t a = std::max<int64_t>(64, b.align);
    auto align = [a](int64_t x) { return (x + a - 1) / a * a; };
    int64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (align(offset) + b.bytes <= lo)
        break;
      offset = std::max(offset, hi);
    }
    offset = align(offset);
    b.offset = offset;
    top = std::max(top, offset + b.bytes);
    placed.push_back(i);
  }
  return top;
}

/// Collects, sizes and packs the buffers of the pipeline as it is now.
Figures Planner::plan(PipelineOp pipeline) {
  points.clear(), stageAt.clear(), pointOf.clear(), stageEnds.clear();
  loopStart.clear(), loopEnd.clear();
  buffers.clear(), modelNames.clear(), perModel.clear(), laneScratch.clear();
  Figures fig;
  collect(pipeline);
  if (points.empty())
    return fig;
  loopEnd.assign(points.size(), 0);
  for (unsigned p = 0; p < points.size(); ++p)
    loopEnd[loopStart[p]] = std::max(loopEnd[loopStart[p]], p);
  for (unsigned p = 0; p < points.size(); ++p)
    loopEnd[p] =
        loopStart[p] == p ? std::max(loopEnd[p], p) : loopEnd[loopStart[p]];
  size(pipeline);
  endPhasedActivations();
  endActivationsBeforeUpdate();
  llvm::erase_if(buffers, [](const Buffer &b) { return b.bytes <= 0; });

  // Liveness: bytes live at each point; the lower bound is the maximum.
  SmallVector<int64_t> live(points.size() + 1, 0);
  for (const Buffer &b : buffers) {
    live[b.first] += b.bytes;
    live[b.last + 1] -= b.bytes;
  }
  int64_t running = 0;
  for (unsigned p = 0; p < points.size(); ++p) {
    running += live[p];
    if (running > fig.lowerBound)
      fig.lowerBound = running, fig.peakPoint = p;
  }
  for (const Buffer &b : buffers)
    fig.noReuse += b.bytes;

  // First fit in order of first use, for comparison; then greedy by size
  // (largest first, earlier first on ties), the plan's offsets.
  SmallVector<size_t> order(buffers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  llvm::stable_sort(order, [&](size_t a, size_t b) {
    return buffers[a].first < buffers[b].first;
  });
  fig.firstFit = pack(buffers, order);
  llvm::stable_sort(order, [&](size_t a, size_t b) {
    if (buffers[a].bytes != buffers[b].bytes)
      return buffers[a].bytes > buffers[b].bytes;
    return buffers[a].first < buffers[b].first;
  });
  fig.planned = pack(buffers, order);
  return fig;
}

/// Bytes of the buffer named `name` first live at `first` in the current
/// plan (0: none); names repeat across stages.
int64_t Planner::bytesOf(StringRef name, unsigned first) const {
  for (const Buffer &b : buffers)
    if (b.name == name && b.first == first)
      return b.bytes;
  return 0;
}

llvm::BitVector Planner::peakPoints(const Figures &fig) const {
  SmallVector<int64_t> delta(points.size() + 1, 0);
  for (const Buffer &b : buffers) {
    delta[b.first] += b.bytes;
    delta[b.last + 1] -= b.bytes;
  }
  llvm::BitVector atPeak(points.size(), false);
  int64_t running = 0;
  for (unsigned p = 0; p < points.size(); ++p) {
    running += delta[p];
    atPeak[p] = running >= fig.lowerBound || p == fig.peakPoint;
  }
  return atPeak;
}

bool Planner::liveAt(const Buffer &b, const llvm::BitVector &points) {
  for (unsigned p = b.first; p <= b.last && p < points.size(); ++p)
    if (points[p])
      return true;
  return false;
}
