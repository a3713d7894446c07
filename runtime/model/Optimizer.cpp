#include "runtime/model/Optimizer.h"

#include <cmath>

namespace hone {

double LrSchedule::multiplier(int64_t t) const {
  if (warmupSteps > 0 && t <= warmupSteps)
    return double(t) / double(warmupSteps);
  if (kind == Kind::Constant)
    return 1.0;
  int64_t span = totalSteps - warmupSteps;
  if (span <= 0)
    return minLrRatio;
  double progress = double(t - warmupSteps) / double(span);
  if (progress >= 1.0)
    return minLrRatio;
  if (progress < 0.0)
    progress = 0.0;
  if (kind == Kind::Linear)
    return minLrRatio + (1.0 - minLrRatio) * (1.0 - progress);
  return minLrRatio +
         (1.0 - minLrRatio) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

template <typename T>
AdamW<T>::AdamW(Transformer<T> &model, const AdamWConfig &cfg)
    : model_(model), cfg_(cfg) {
  // Both moments in the model's Moments slot for the op running now, when
  // the job planned it (memsize::optimizerBytes: two padded arrays).
  const int64_t n = model.numTrainable();
  const int64_t mb = (n * int64_t(sizeof(T)) + 63) / 64 * 64;
  std::shared_ptr<void> lease;
  if (char *p = model.placeState(WorkPlacer::Moments, 2 * mb, &lease)) {
    m_ = DeviceArray<T>::borrow(reinterpret_cast<T *>(p), n, lease);
    v_ = DeviceArray<T>::borrow(reinterpret_cast<T *>(p + mb), n,
                                std::move(lease));
    return;
  }
  m_ = DeviceArray<T>(&model.kernels(), n);
  v_ = DeviceArray<T>(&model.kernels(), n);
}

template <typename T>
Expected<StepStats> AdamW<T>::step(bool zeroGrads, int64_t scheduleAt) {
  Kernels<T> &k = model_.kernels();
  double norm =
      std::sqrt(k.sumSquares(model_.trainableGrad(), model_.numTrainable()));
  if (!std::isfinite(norm))
    return Status::error("optimizer: gradient norm is not finite (" +
                             std::to_string(norm) + "); update skipped",
                         "lower the learning rate or check the loss for "
                         "NaN/inf inputs");
  double scale = 1.0;
  if (cfg_.maxGradNorm > 0 && norm > cfg_.maxGradNorm)
    scale = cfg_.maxGradNorm / (norm + 1e-6);
  int64_t t = t_ + 1;
  double lr = cfg_.lr * cfg_.schedule.multiplier(scheduleAt > 0 ? scheduleAt : t);
  double bc1 = 1.0 - std::pow(cfg_.beta1, double(t));
  double bc2 = 1.0 - std::pow(cfg_.beta2, double(t));
  T *w = model_.trainableData(), *g = model_.trainableGrad();
  for (const ParamInfo &p : model_.trainableParams())
    k.adamw(w + p.offset, g + p.offset, m_.data() + p.offset,
            v_.data() + p.offset, p.numel, lr, cfg_.beta1, cfg_.beta2, cfg_.eps,
            p.decay ? cfg_.weightDecay : 0.0, bc1, bc2, scale, zeroGrads);
  t_ = t;
  return StepStats{norm, lr, t};
}

template class AdamW<float>;
template class AdamW<double>;

} // namespace hone
