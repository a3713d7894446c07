// Advantage estimators, KL estimators and group filters: host-side float
// math on per-token [B, T] (token-aligned, masked) and per-sequence [B]
// arrays. Rows of a group are consecutive (row r is in group r / groupSize).
#pragma once

#include "runtime/base/Status.h"

#include <cstdint>
#include <vector>

namespace hone::job {

/// GAE over each row's masked (response) positions, in order:
///   delta_t = r_t + gamma * V_next - V_t,  A_t = delta_t + gamma*lambda*A_next
/// with V_next = 0 after the last masked token. returns = A + V. Unmasked
/// positions get 0.
Status gae(const std::vector<float> &rewards, const std::vector<float> &values,
           const std::vector<float> &mask, int64_t B, int64_t T, double gamma,
           double lambda, std::vector<float> &advantages,
           std::vector<float> &returns);

/// GRPO: (r - mean_g) / (std_g + eps) with the unbiased (n-1) std as TRL;
/// divideStd = false gives Dr. GRPO's r - mean_g.
Expected<std::vector<float>> groupNormalized(const std::vector<float> &scores,
                                             int64_t groupSize, bool divideStd,
                                             double eps = 1e-4);
/// RLOO: r_i - mean_{j != i} r_j within each group (groupSize >= 2).
Expected<std::vector<float>> leaveOneOut(const std::vector<float> &scores,
                                         int64_t groupSize);
/// ReMax: r - r_greedy (baselines per row).
Expected<std::vector<float>> greedyBaseline(const std::vector<float> &scores,
                                            const std::vector<float> &baseline);
/// REINFORCE++ returns: A_t = score - beta * sum_{s >= t} (l_old_s - l_ref_s)
/// over masked positions (0 elsewhere).
Status klPenalizedReturns(const std::vector<float> &score,
                          const std::vector<float> &oldLogprob,
                          const std::vector<float> &refLogprob,
                          const std::vector<float> &mask, int64_t B, int64_t T,
                          double beta, std::vector<float> &out);
/// Whitens per-token values over the masked positions of the whole batch:
/// (x - mean) / (std + eps) (REINFORCE++'s global normalisation).
Status globalNormalize(std::vector<float> &x, const std::vector<float> &mask,
                       double eps = 1e-8);
/// Per-sequence values broadcast onto the masked tokens of each row.
std::vector<float> broadcastToTokens(const std::vector<float> &perSeq,
                                     const std::vector<float> &mask, int64_t T);
/// DAPO dynamic sampling: keep[g] = the group's scores are not all equal
/// (with 0/1 rewards: 0 < #correct < G).
Expected<std::vector<uint8_t>> dapoGroupFilter(const std::vector<float> &scores,
                                               int64_t groupSize);

enum class KlKind { K1, K2, K3 };
/// Per-token KL(pi || ref) estimate from l = log pi, lr = log ref:
/// k1 = l - lr, k2 = (l - lr)^2 / 2, k3 = exp(lr - l) - (lr - l) - 1.
double klEstimate(KlKind kind, double logp, double logref);
/// d klEstimate / d logp.
double klEstimateGrad(KlKind kind, double logp, double logref);
/// Masked token-mean of the estimate over a batch.
double meanKl(KlKind kind, const std::vector<float> &logp,
              const std::vector<float> &logref, const std::vector<float> &mask);

/// Mean and (population) std of a vector.
void meanStd(const std::vector<float> &x, double &mean, double &stdDev);

} // namespace hone::job
