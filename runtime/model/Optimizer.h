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

template <typename T> class AdamW {
public:
  AdamW(Transformer<T> &model, const AdamWConfig &cfg);

  /// One update from the model's accumulated gradients. zeroGrads clears
  /// them in the same pass (as Transformer::zeroGrad() would). Fails, without
  /// updating (or clearing), when the gradient norm is not finite.
  /// scheduleAt > 0: the learning rate is the schedule's at that point
  /// instead of at this update's count (bias correction still counts
  /// updates). The runtime passes the stage's step, so every update of one
  /// RL iteration (PPO epochs, mini-batches, a hybrid's extra SFT step)
  /// uses that iteration's rate and the schedule spans the stage's steps,
  /// as TRL's PPO trainer steps its scheduler once per batch.
  Expected<StepStats> step(bool zeroGrads = false, int64_t scheduleAt = 0);

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

private:
  Transformer<T> &model_;
  AdamWConfig cfg_;
  DeviceArray<T> m_, v_;
  int64_t t_ = 0;
};

extern template class AdamW<float>;
extern template class AdamW<double>;

} // namespace hone
