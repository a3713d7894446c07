// AdamW (decoupled weight decay, bias correction) with global-norm gradient
// clipping and learning-rate schedules, over a Transformer's flat parameter
// and gradient buffers.
#pragma once

#include "runtime/model/Transformer.h"

namespace hone {

/// Learning-rate multiplier for update number t (1-based: the first
/// optimiser step is t = 1):
///  - warmup (t <= warmupSteps): t / warmupSteps;
///  - Constant: 1; Linear: decays linearly from 1 at warmupSteps to
///    minLrRatio at totalSteps; Cosine: minLrRatio + (1 - minLrRatio) *
///    0.5 * (1 + cos(pi * progress)). Past totalSteps it stays at minLrRatio.
struct LrSchedule {
  enum class Kind { Constant, Linear, Cosine };
  Kind kind = Kind::Constant;
  int64_t warmupSteps = 0;
  int64_t totalSteps = 0;
  double minLrRatio = 0.0;
  double multiplier(int64_t t) const;
};

struct AdamWConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weightDecay = 0.0; // applied to ParamInfo::decay tensors only
  double maxGradNorm = 0.0; // <= 0: no clipping
  LrSchedule schedule;
};

struct StepStats {
  double gradNorm = 0; // global L2 norm before clipping
  double lr = 0;       // learning rate used by this step
  int64_t step = 0;    // number of updates done, this one included
};

/// Where an AdamW's moments wait between updates when they are offloaded
/// (hone-plan-memory's decision 5; the job's offload file,
/// runtime/job/Offload.h). The stored image: first moment at byte 0, second
/// at momentBytes(), zeros where never written.
class MomentStore {
public:
  virtual ~MomentStore() = default;
  /// Reads [at, at + bytes) of the stored image into `dst`.
  virtual Status load(int64_t at, void *dst, int64_t bytes) = 0;
  /// Writes `bytes` from `src` at `at`, out of memory when this returns
  /// (not left in the page cache).
  virtual Status save(int64_t at, const void *src, int64_t bytes) = 0;
  /// The stored image mapped (read-only, or shared writable with `write`),
  /// for a checkpoint's write or resume's read; unmapped (and written
  /// back) when the holder is dropped.
  virtual Expected<std::shared_ptr<char>> map(bool write) = 0;
  /// The moments' memory [p, p + bytes) was handed back.
  virtual void released(void *p, int64_t bytes) {
    (void)p;
    (void)bytes;
  }
};

template <typename T> class AdamW {
public:
  /// `resident` false: the moments are not allocated (offloaded from the
  /// start: setStore() gives their store, zeros).
  AdamW(Transformer<T> &model, const AdamWConfig &cfg, bool resident = true);

  /// One update from the model's accumulated gradients. zeroGrads clears
  /// them in the same pass (as Transformer::zeroGrad() would). Fails, without
  /// updating (or clearing), when the gradient norm is not finite.
  /// scheduleAt > 0: the learning rate is the schedule's at that point
  /// instead of at this update's count (bias correction still counts
  /// updates). The runtime passes the stage's step, so every update of one
  /// RL iteration (PPO epochs, mini-batches, a hybrid's extra SFT step)
  /// uses that iteration's rate and the schedule spans the stage's steps,
  /// as TRL's PPO trainer steps its scheduler once per batch.
  /// gradSumSquares >= 0: the sum of squares of the model's gradients as
  /// Kernels::sumSquares returned it for them (the caller's finite check
  /// computed it already); the step then does not read the gradients a
  /// second time for the norm (same value, so the same bits). < 0: computed
  /// here.
  Expected<StepStats> step(bool zeroGrads = false, int64_t scheduleAt = 0,
                           double gradSumSquares = -1);

  const AdamWConfig &config() const { return cfg_; }
  int64_t stepCount() const { return t_; }
  /// Optimiser state for checkpoints: first and second moments laid out
  /// like Transformer::trainableParams() (same offsets; a LoRA model's
  /// adapters only), and the step count.
  T *firstMoment() const { return m_.data(); }
  T *secondMoment() const { return v_.data(); }
  /// Whether the moments lie in memory the model's placer lent.
  bool momentsPlaced() const { return m_.borrowed(); }
  void setStepCount(int64_t t) { t_ = t; }

  // Offload (hone-plan-memory's decision 5): between updates the moments
  // wait in `store`, and step() needs them resident.
  void setStore(std::shared_ptr<MomentStore> store) {
    store_ = std::move(store);
  }
  bool offloaded() const { return store_ != nullptr; }
  bool resident() const { return m_.data() != nullptr || numel() == 0; }
  /// Bytes of one moment in the stored image (64-byte padded).
  int64_t momentBytes() const {
    return (numel() * int64_t(sizeof(T)) + 63) / 64 * 64;
  }
  /// Makes the moments resident: placed in the current op's Moments slot
  /// (else allocated), read back from the store. No-op when resident.
  Status fetch();
  /// Writes the moments to the store and hands their memory back
  /// (MomentStore::released). No-op when not resident or no store.
  Status evict();
  /// The moments for a checkpoint: resident ones, else the store's image
  /// mapped (`write` for resume's read into them); `hold` keeps the
  /// mapping until dropped.
  Expected<std::pair<T *, T *>> momentsForIO(bool write,
                                             std::shared_ptr<void> *hold);

private:
  int64_t numel() const { return model_.numTrainable(); }
  /// The moments in the model's Moments slot for the op running now, else
  /// the kernels' memory.
  void allocate();

  Transformer<T> &model_;
  AdamWConfig cfg_;
  DeviceArray<T> m_, v_;
  int64_t t_ = 0;
  std::shared_ptr<MomentStore> store_;
};

extern template class AdamW<float>;
extern template class AdamW<double>;

} // namespace hone
