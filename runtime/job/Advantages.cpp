#include "runtime/job/Advantages.h"

#include <cmath>

namespace hone::job {

namespace {
Status checkGroups(size_t n, int64_t g, int64_t minG = 1) {
  if (g < minG)
    return Status::error("error: advantage: group size must be at least " +
                         std::to_string(minG));
  if (n % size_t(g) != 0)
    return Status::error("error: advantage: " + std::to_string(n) +
                         " scores do not split into groups of " +
                         std::to_string(g));
  return Status::ok();
}
Status checkTokens(size_t n, int64_t B, int64_t T) {
  if (B < 0 || T < 0 || n != size_t(B * T))
    return Status::error("error: advantage: expected " +
                         std::to_string(B * T) + " per-token values, got " +
                         std::to_string(n));
  return Status::ok();
}
} // namespace

Status gae(const std::vector<float> &rewards, const std::vector<float> &values,
           const std::vector<float> &mask, int64_t B, int64_t T, double gamma,
           double lambda, std::vector<float> &adv, std::vector<float> &ret) {
  HONE_TRY(checkTokens(rewards.size(), B, T));
  HONE_TRY(checkTokens(values.size(), B, T));
  HONE_TRY(checkTokens(mask.size(), B, T));
  adv.assign(size_t(B * T), 0.f);
  ret.assign(size_t(B * T), 0.f);
  for (int64_t b = 0; b < B; ++b) {
    double nextV = 0, nextA = 0;
    for (int64_t t = T - 1; t >= 0; --t) {
      size_t i = size_t(b * T + t);
      if (mask[i] == 0)
        continue;
      double delta = rewards[i] + gamma * nextV - values[i];
      double a = delta + gamma * lambda * nextA;
      adv[i] = float(a);
      ret[i] = float(a + values[i]);
      nextV = values[i];
      nextA = a;
    }
  }
  return Status::ok();
}

Expected<std::vector<float>> groupNormalized(const std::vector<float> &s,
                                             int64_t g, bool divideStd,
                                             double eps) {
  HONE_TRY(checkGroups(s.size(), g));
  std::vector<float> out(s.size());
  for (size_t g0 = 0; g0 < s.size(); g0 += size_t(g)) {
    double mean = 0;
    for (int64_t i = 0; i < g; ++i)
      mean += s[g0 + size_t(i)];
    mean /= double(g);
    double var = 0;
    for (int64_t i = 0; i < g; ++i)
      var += (s[g0 + size_t(i)] - mean) * (s[g0 + size_t(i)] - mean);
    double sd = g > 1 ? std::sqrt(var / double(g - 1)) : 0.0;
    for (int64_t i = 0; i < g; ++i) {
      double a = s[g0 + size_t(i)] - mean;
      out[g0 + size_t(i)] =
          float(divideStd ? (sd + eps > 0 ? a / (sd + eps) : 0.0) : a);
    }
  }
  return out;
}

Expected<std::vector<float>> leaveOneOut(const std::vector<float> &s,
                                         int64_t g) {
  HONE_TRY(checkGroups(s.size(), g, 2));
  std::vector<float> out(s.size());
  for (size_t g0 = 0; g0 < s.size(); g0 += size_t(g)) {
    double sum = 0;
    for (int64_t i = 0; i < g; ++i)
      sum += s[g0 + size_t(i)];
    for (int64_t i = 0; i < g; ++i) {
      double x = s[g0 + size_t(i)];
      out[g0 + size_t(i)] = float(x - (sum - x) / double(g - 1));
    }
  }
  return out;
}

Expected<std::vector<float>> greedyBaseline(const std::vector<float> &s,
                                            const std::vector<float> &b) {
  if (s.size() != b.size())
    return Status::error("error: advantage: scores and greedy baselines "
                         "differ in length");
  std::vector<float> out(s.size());
  for (size_t i = 0; i < s.size(); ++i)
    out[i] = s[i] - b[i];
  return out;
}

Status klPenalizedReturns(const std::vector<float> &score,
                          const std::vector<float> &oldLp,
                          const std::vector<float> &refLp,
                          const std::vector<float> &mask, int64_t B, int64_t T,
                          double beta, std::vector<float> &out) {
  if (score.size() != size_t(B))
    return Status::error("error: advantage: expected one score per row");
  HONE_TRY(checkTokens(oldLp.size(), B, T));
  HONE_TRY(checkTokens(refLp.size(), B, T));
  HONE_TRY(checkTokens(mask.size(), B, T));
  out.assign(size_t(B * T), 0.f);
  for (int64_t b = 0; b < B; ++b) {
    double acc = 0;
    for (int64_t t = T - 1; t >= 0; --t) {
      size_t i = size_t(b * T + t);
      if (mask[i] == 0)
        continue;
      acc += double(oldLp[i]) - double(refLp[i]);
      out[i] = float(score[size_t(b)] - beta * acc);
    }
  }
  return Status::ok();
}

Status globalNormalize(std::vector<float> &x, const std::vector<float> &mask,
                       double eps) {
  if (x.size() != mask.size())
    return Status::error("error: advantage: values and mask differ in size");
  double n = 0, sum = 0, sq = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (mask[i] != 0) {
      n += 1;
      sum += x[i];
    }
  if (n == 0)
    return Status::ok();
  double mean = sum / n;
  for (size_t i = 0; i < x.size(); ++i)
    if (mask[i] != 0)
      sq += (x[i] - mean) * (x[i] - mean);
  double sd = std::sqrt(sq / n);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = mask[i] != 0 ? float((x[i] - mean) / (sd + eps)) : 0.f;
  return Status::ok();
}

std::vector<float> broadcastToTokens(const std::vector<float> &perSeq,
                                     const std::vector<float> &mask,
                                     int64_t T) {
  std::vector<float> out(mask.size(), 0.f);
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i] != 0)
      out[i] = perSeq[i / size_t(T)];
  return out;
}

Expected<std::vector<uint8_t>> dapoGroupFilter(const std::vector<float> &s,
                                               int64_t g) {
  HONE_TRY(checkGroups(s.size(), g));
  std::vector<uint8_t> keep;
  for (size_t g0 = 0; g0 < s.size(); g0 += size_t(g)) {
    bool varied = false;
    for (int64_t i = 1; i < g; ++i)
      varied |= s[g0 + size_t(i)] != s[g0];
    keep.push_back(varied ? 1 : 0);
  }
  return keep;
}

double klEstimate(KlKind kind, double l, double lr) {
  double d = l - lr;
  switch (kind) {
  case KlKind::K1:
    return d;
  case KlKind::K2:
    return 0.5 * d * d;
  case KlKind::K3:
    return std::exp(-d) + d - 1.0;
  }
  return 0;
}

double klEstimateGrad(KlKind kind, double l, double lr) {
  double d = l - lr;
  switch (kind) {
  case KlKind::K1:
    return 1.0;
  case KlKind::K2:
    return d;
  case KlKind::K3:
    return 1.0 - std::exp(-d);
  }
  return 0;
}

double meanKl(KlKind kind, const std::vector<float> &l,
              const std::vector<float> &lr, const std::vector<float> &m) {
  double s = 0, n = 0;
  for (size_t i = 0; i < m.size() && i < l.size() && i < lr.size(); ++i)
    if (m[i] != 0) {
      s += klEstimate(kind, l[i], lr[i]);
      n += 1;
    }
  return n > 0 ? s / n : 0.0;
}

void meanStd(const std::vector<float> &x, double &mean, double &sd) {
  mean = 0;
  sd = 0;
  if (x.empty())
    return;
  for (float v : x)
    mean += v;
  mean /= double(x.size());
  for (float v : x)
    sd += (v - mean) * (v - mean);
  sd = std::sqrt(sd / double(x.size()));
}

} // namespace hone::job
