// The job's one arena: a single mapping of the memory plan's peak
// (hone-plan-memory's peak_bytes) in which the runtime places the buffers
// the plan gives offsets to: the step tensors (hone_rt_arena), each
// model's activations, KV cache and incremental-forward workspace, and its
// state: weights (bf16 storage, LoRA adapters), gradients and AdamW moments
// (the op's `arena` placements, through ModelPlacer: the model-creating op
// places the weights, the train step the gradients, the stage begin the
// moments), and each generation's logits. On CUDA the arena is one device
// allocation (createOnDevice). Buffers whose live ranges do not overlap share bytes, so
// reusing them costs no allocation and no page fault: the pages stay
// resident from one use to the next.
//
// Only leased bytes become resident (populated when leased, as the
// kernels' own allocations are), so bytes the plan reserves for buffers the
// runtime does not place (the `runtime` row, or a CUDA job's LM-head
// scratch slots) never do here. The CPU kernels' LM-head scratch is each
// lane's lm_head_scratch slot, leased for the whole job (hone_rt_begin). At a stage's end dropFree() hands
// back the pages no lease holds, so one stage's placements do not stay
// resident into the next. A planned model's state allocated where the op
// has no slot for it is counted as a miss (ModelPlacer::unplaced).
//
// Every placement is a lease on [offset, offset + bytes): one that overlaps
// a lease held now (the runtime keeping a buffer longer than the plan's
// live range, or two lanes running ops the plan put in one slot) is
// refused and counted as a miss; the model then allocates its own memory,
// as without a plan, and the job's memory summary names the first miss.
#pragma once

#include "runtime/model/Transformer.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hone::job {

class JobArena {
public:
  JobArena();
  ~JobArena();
  JobArena(const JobArena &) = delete;
  JobArena &operator=(const JobArena &) = delete;

  /// Maps `bytes` (nothing resident yet; transparent huge pages advised as
  /// the CPU backend does, unless HONE_CPU_HUGEPAGES=off). An error string
  /// when the mapping fails.
  std::string create(int64_t bytes);
  /// The arena in `k`'s device memory (a CUDA job): one allocation of
  /// `bytes` from its allocator (one cudaMalloc, zeroed), given back with
  /// the arena; no page advice, and dropFree() keeps the bytes. `k` must
  /// outlive every lease (the job's kernels do).
  std::string createOnDevice(Kernels<float> *k, int64_t bytes);
  bool active() const;
  char *base() const;
  int64_t size() const;

  /// Leases [offset, offset + bytes) to `tag` (what it holds; `what` names
  /// it in a miss): null, counted as a miss, when the range leaves the
  /// arena or overlaps a lease held now. *fresh is false when the last
  /// lease of exactly these bytes had the same tag and nothing else took
  /// them since (their contents are that buffer's own).
  std::shared_ptr<void> lease(int64_t offset, int64_t bytes, uint64_t tag,
                              const std::string &what, bool *fresh);
  /// Counts a placement that could not be made (`why` names it).
  void noteMiss(const std::string &why);
  /// Makes [offset, offset + bytes) resident now (a stage's placed
  /// buffers, when it begins: their page faults move to the stage's
  /// start, and the arena holds the plan's bytes whatever the buffers
  /// touch). Ranges outside the arena are ignored.
  void populate(int64_t offset, int64_t bytes);
  /// Gives the pages no lease holds back to the system.
  void dropFree();
  /// Gives back the whole pages inside [offset, offset + bytes) that no
  /// lease holds now (a buffer handed back for good: offloaded moments).
  /// Returns the bytes dropped.
  int64_t dropRange(int64_t offset, int64_t bytes);
  /// The most bytes leases held at once (what the placed buffers touched;
  /// the plan's slots are upper bounds).
  int64_t peakHeldBytes() const;

  /// Leases taken, placements missed, and the first miss ("" if none).
  int64_t placements() const;
  int64_t misses() const;
  std::string firstMiss() const;
  /// Bytes held by leases now.
  int64_t heldBytes() const;

private:
  struct State;
  std::shared_ptr<State> st_;
};

/// The placements of the op running on this thread: quadruples (plan model
/// id, kind, offset, bytes), kind 0 activations, 1 KV cache, 2 workspace,
/// 3 weights, 4 gradients, 5 optimiser moments (WorkPlacer::Kind), from the
/// op's `arena` attribute. Set for the op's body by a scope.
class PlacementScope {
public:
  explicit PlacementScope(const std::vector<int64_t> *placements);
  ~PlacementScope();
  PlacementScope(const PlacementScope &) = delete;
  PlacementScope &operator=(const PlacementScope &) = delete;
  static const std::vector<int64_t> *current();

private:
  const std::vector<int64_t> *prev_;
};

/// A model's placer: its slots are the current op's placements for its
/// plan id, in `arena`.
class ModelPlacer final : public WorkPlacer {
public:
  ModelPlacer(std::shared_ptr<JobArena> arena, int64_t planId,
              std::string name)
      : arena_(std::move(arena)), id_(planId), name_(std::move(name)) {}
  Slot slot(Kind kind) override;
  std::shared_ptr<void> take(Kind kind, Slot s, int64_t bytes,
                             bool *fresh) override;
  void unplaced(Kind kind, int64_t bytes) override;

private:
  std::shared_ptr<JobArena> arena_;
  int64_t id_;
  std::string name_;
};

} // namespace hone::job
