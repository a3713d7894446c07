#include "runtime/job/LossAbi.h"

#include <algorithm>
#include <cmath>

extern "C" void hone_loss_sft_ref(void **args) {
  const int64_t *dims = static_cast<const int64_t *>(args[0]);
  const int64_t n = dims[0] * dims[1];
  const float *lp = static_cast<const float *>(args[1]);
  const float *mask = static_cast<const float *>(args[2]);
  const float norm = *static_cast<const float *>(args[3]);
  float *loss = static_cast<float *>(args[4]);
  float *dlp = static_cast<float *>(args[5]);
  const double inv = norm > 0 ? 1.0 / norm : 0.0;
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    acc += double(mask[i]) * lp[i];
    dlp[i] = float(-mask[i] * inv);
  }
  *loss = float(-acc * inv);
}

extern "C" void hone_loss_grpo_ref(void **args) {
  const int64_t R = static_cast<const int64_t *>(args[0])[0];
  const int64_t T = static_cast<const int64_t *>(args[0])[1];
  const float *lp = static_cast<const float *>(args[1]);
  const float *old = static_cast<const float *>(args[2]);
  const float *ref = static_cast<const float *>(args[3]);
  const float *adv = static_cast<const float *>(args[4]);
  const float *mask = static_cast<const float *>(args[5]);
  const double batchTokens = *static_cast<const float *>(args[6]);
  const double batchSeqs = *static_cast<const float *>(args[7]);
  const float *hp = static_cast<const float *>(args[8]);
  float *loss = static_cast<float *>(args[9]);
  float *dlp = static_cast<float *>(args[10]);
  float *clipRatio = static_cast<float *>(args[11]);
  float *kl = static_cast<float *>(args[12]);
  const double epsLow = hp[0], epsHigh = hp[1], beta = hp[2];
  const int agg = int(hp[3]);
  const double constant = hp[4] > 0 ? hp[4] : 1.0;
  const double statW = batchTokens > 0 ? 1.0 / batchTokens : 0.0;
  double L = 0, clipped = 0, klSum = 0;
  for (int64_t r = 0; r < R; ++r) {
    double len = 0;
    for (int64_t t = 0; t < T; ++t)
      len += mask[r * T + t];
    if (len == 0)
      continue;
    double w;
    if (agg == 0)
      w = 1.0 / (len * std::max(1.0, batchSeqs));
    else if (agg == 1)
      w = statW;
    else
      w = 1.0 / (constant * std::max(1.0, batchSeqs));
    for (int64_t t = 0; t < T; ++t) {
      const int64_t i = r * T + t;
      if (mask[i] == 0)
        continue;
      const double m = mask[i];
      const double a = adv[i];
      const double rho = std::exp(double(lp[i]) - double(old[i]));
      const double rc = std::min(std::max(rho, 1.0 - epsLow), 1.0 + epsHigh);
      const double unclipped = rho * a, clippedObj = rc * a;
      double obj, dobj;
      if (unclipped <= clippedObj) {
        obj = unclipped;
        dobj = rho * a;
      } else {
        obj = clippedObj;
        dobj = 0.0; // the clipped branch is constant in logprob
        clipped += m;
      }
      const double d = double(ref[i]) - double(lp[i]);
      const double k3 = std::exp(d) - d - 1.0;
      const double dk3 = 1.0 - std::exp(d); // d k3 / d logprob
      L += m * w * (-(obj - beta * k3));
      dlp[i] = float(m * w * (-(dobj - beta * dk3)));
      klSum += m * k3;
    }
  }
  *loss = float(L);
  *clipRatio = float(clipped * statW);
  *kl = float(klSum * statW);
}
