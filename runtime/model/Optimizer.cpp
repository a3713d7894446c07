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
AdamW<T>::AdamW(Transformer<T> &model, const AdamWConfig &cfg, bool resident)
    : model_(model), cfg_(cfg) {
  if (resident)
    allocate();
}

template <typename T> void AdamW<T>::allocate() {
  // Both moments in the model's Moments slot for the op running now, when
  // the job planned it (memsize::optimizerBytes: two padded arrays; an
  // offloaded pair's slot is page-rounded, for direct I/O of the whole).
  const int64_t n = numel();
  const int64_t mb = momentBytes();
  const int64_t page = 4096;
  const int64_t bytes = store_ ? (2 * mb + page - 1) / page * page : 2 * mb;
  std::shared_ptr<void> lease;
  if (char *p = model_.placeState(WorkPlacer::Moments, bytes, &lease)) {
    m_ = DeviceArray<T>::borrow(reinterpret_cast<T *>(p), n, lease);
    v_ = DeviceArray<T>::borrow(reinterpret_cast<T *>(p + mb), n,
                                std::move(lease));
    return;
  }
  m_ = DeviceArray<T>(&model_.kernels(), n);
  v_ = DeviceArray<T>(&model_.kernels(), n);
}

template <typename T> Status AdamW<T>::fetch() {
  if (resident())
    return Status::ok();
  allocate();
  if (!store_)
    return Status::ok(); // zeros
  const int64_t mb = momentBytes();
  const int64_t n = numel() * int64_t(sizeof(T));
  char *m = reinterpret_cast<char *>(m_.data());
  if (reinterpret_cast<char *>(v_.data()) == m + mb) {
    // Placed together: one read of the whole page-rounded image.
    const int64_t page = 4096;
    HONE_TRY(store_->load(0, m, (2 * mb + page - 1) / page * page));
    return Status::ok();
  }
  HONE_TRY(store_->load(0, m_.data(), n));
  HONE_TRY(store_->load(mb, v_.data(), n));
  return Status::ok();
}

template <typename T> Status AdamW<T>::evict() {
  if (!store_ || !m_.data())
    return Status::ok();
  const int64_t mb = momentBytes();
  const int64_t n = numel() * int64_t(sizeof(T));
  char *m = reinterpret_cast<char *>(m_.data());
  bool together = reinterpret_cast<char *>(v_.data()) == m + mb;
  const int64_t page = 4096;
  const int64_t whole = (2 * mb + page - 1) / page * page;
  if (together) {
    HONE_TRY(store_->save(0, m, whole));
  } else {
    HONE_TRY(store_->save(0, m_.data(), n));
    HONE_TRY(store_->save(mb, v_.data(), n));
  }
  bool placed = m_.borrowed();
  m_.reset();
  v_.reset();
  if (placed && together)
    store_->released(m, whole);
  return Status::ok();
}

template <typename T>
Expected<std::pair<T *, T *>>
AdamW<T>::momentsForIO(bool write, std::shared_ptr<void> *hold) {
  if (resident() || !store_)
    return std::make_pair(m_.data(), v_.data());
  auto mapped = store_->map(write);
  if (!mapped)
    return mapped.status();
  char *base = mapped->get();
  *hold = *mapped;
  return std::make_pair(reinterpret_cast<T *>(base),
                        reinterpret_cast<T *>(base + momentBytes()));
}

template <typename T>
Expected<StepStats> AdamW<T>::step(bool zeroGrads, int64_t scheduleAt,
                                   double gradSumSquares) {
  Kernels<T> &k = model_.kernels();
  if (!resident())
    return Status::error("optimizer: the moments are offloaded (fetch() "
                         "them before an update)");
  double norm = std::sqrt(
      gradSumSquares >= 0
          ? gradSumSquares
          : k.sumSquares(model_.trainableGrad(), model_.numTrainable()));
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
