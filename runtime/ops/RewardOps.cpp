// Rewards and what follows them: hone.score, hone.shape_reward,
// hone.advantage, hone.group_accuracy, hone.indicator, hone.group_filter.
#include "runtime/ops/Ops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace hone::ops {

std::vector<double> scoreRows(hone_job *j, const OpCtx &c, RewardObj *r,
                              const std::vector<ScoreRow> &rows, int64_t T) {
  std::vector<double> out(rows.size(), 0.0);
  switch (r->kind) {
  case RewardObj::Kind::Verifier:
    for (size_t i = 0; i < rows.size(); ++i)
      out[i] = r->verifier->score(rows[i].in);
    break;
  case RewardObj::Kind::Length:
    for (size_t i = 0; i < rows.size(); ++i)
      out[i] = r->penalty * overlongPenalty(rows[i].in.completionTokens,
                                            r->maxLength, r->cacheLength);
    break;
  case RewardObj::Kind::Model: {
    auto &m = *r->model->model;
    std::vector<int32_t> tok, len;
    for (const ScoreRow &s : rows) {
      tok.insert(tok.end(), s.tokens, s.tokens + T);
      int64_t last = 0;
      for (int64_t t = 0; t < T; ++t)
        if (s.mask[t] > 0)
          last = t;
      len.push_back(int32_t(std::max<int64_t>(last + 1, 1)));
    }
    TokenBatch tb{int64_t(rows.size()), T, tok.data(), len.data()};
    // In groups of modelScoreRows() rows, as a streamed score computes
    // them (runtime/ops/Streams.cpp): the same forwards either way, each
    // over its rows' tokens only (packed: a row that finished early costs
    // its own length, which is what the first finished row waits for).
    // On CUDA (never streamed) the whole batch at once, padded.
    bool cuda = j->args.device == "cuda";
    auto v = rewardModelScores(m, tb, cuda ? int64_t(0) : modelScoreRows(),
                               !cuda);
    if (!v)
      c.err(v.status().message());
    for (size_t i = 0; i < rows.size(); ++i)
      out[i] = (*v)[i];
    break;
  }
  case RewardObj::Kind::External: {
    std::vector<RewardInput> ins;
    for (const ScoreRow &s : rows)
      ins.push_back(s.in);
    auto v = r->external->score(ins);
    if (!v)
      c.err(v.status().message());
    out = v.take();
    break;
  }
  case RewardObj::Kind::Combine:
    for (size_t p = 0; p < r->parts.size(); ++p) {
      auto v = scoreRows(j, c, r->parts[p], rows, T);
      for (size_t i = 0; i < rows.size(); ++i)
        out[i] += r->weights[p] * v[i];
    }
    break;
  }
  return out;
}

namespace {

const DataLoader *datasetOfId(hone_job *j, const OpCtx &c, int64_t id,
                              size_t *rec) {
  int64_t d = id >> kIdShift, r = id & kIdMask;
  if (id < 0 || d >= int64_t(j->datasets.size()))
    c.err("record id " + std::to_string(id) + " names no dataset");
  const DataLoader *dl = j->datasets[size_t(d)]->data.get();
  if (r >= int64_t(dl->size()))
    c.err("record id " + std::to_string(id) + " out of range");
  *rec = size_t(r);
  return dl;
}

} // namespace

ScoreRow scoreRowOf(hone_job *j, const OpCtx &c, const int32_t *tokens,
                    const float *mask, int64_t b, int64_t B, int64_t T,
                    const hone_tensor &ids) {
  int64_t rows = ids.shape[0];
  size_t rec = 0;
  const DataLoader *dl = datasetOfId(j, c, i64At(ids, b / (B / rows)), &rec);
  const Example &ex = dl->example(rec);
  ScoreRow s;
  s.tokens = tokens;
  s.mask = mask;
  s.in.prompt = ex.prompt;
  s.in.answer = !ex.answer.empty() ? ex.answer : ex.completion;
  s.in.completion = decodeResponse(j, tokens, mask, T, &s.in.completionTokens);
  s.in.record = &dl->record(rec);
  return s;
}

void opScore(OpCtx &c) {
  hone_job *j = c.j;
  auto *r = c.obj<RewardObj>(0, ObjKind::Reward, "reward");
  c.counts(1, 1, 3, 3, 1, 1);
  const auto a = c.typed<abi::OpId::score>();
  ArenaScope placed(a.arena); // reward models' activations where planned
  const hone_tensor &tok = c.input(0, "tokens", HONE_I32, 2);
  int64_t B = tok.shape[0], T = tok.shape[1];
  const hone_tensor &mk = c.input(1, "mask", -1, 2, B, T);
  const hone_tensor &ids = c.input(2, "ids", HONE_I64, 1);
  int64_t rows = ids.shape[0];
  if (rows <= 0 || B % rows != 0)
    c.err("ids has " + std::to_string(rows) + " rows, which do not divide " +
          std::to_string(B) + " sequences");
  c.output(0, "scores", -1, 1, B);
  std::vector<double> v;
  if (c.stream) {
    // Streamed (hone-stream-scores): a worker scored each row with the
    // same function as it finished generating (runtime/ops/Streams.cpp).
    v = streamedScores(c, B);
  } else {
    std::vector<float> mask = toF(mk);
    const int32_t *tp = static_cast<const int32_t *>(tok.data);
    std::vector<ScoreRow> sr;
    sr.reserve(size_t(B));
    for (int64_t b = 0; b < B; ++b)
      sr.push_back(scoreRowOf(j, c, tp + b * T, mask.data() + b * T, b, B, T,
                              ids));
    std::lock_guard<std::mutex> g(j->scoreMu);
    v = scoreRows(j, c, r, sr, T);
  }
  double mean = 0, sd = 0;
  for (int64_t b = 0; b < B; ++b) {
    wr(c.out[0], b, v[size_t(b)]);
    mean += v[size_t(b)];
  }
  mean /= double(B);
  for (double x : v)
    sd += (x - mean) * (x - mean);
  sd = B > 1 ? std::sqrt(sd / double(B - 1)) : 0;
  addMetric(c, "reward", mean);
  addMetric(c, "reward_std", sd);
}

void opShapeReward(OpCtx &c) {
  c.counts(0, 0, 4, 4, 1, 1);
  const auto a = c.typed<abi::OpId::shape_reward>();
  const std::string &kind = a.kind;
  double beta = a.kl_coef;
  const hone_tensor &sc = c.input(0, "score", -1, 1);
  int64_t B = sc.shape[0];
  const hone_tensor &mk = c.input(1, "mask", -1, 2, B);
  int64_t T = mk.shape[1];
  const hone_tensor &lo = c.input(2, "l_old", -1, 2, B, T);
  const hone_tensor &lr = c.input(3, "l_ref", -1, 2, B, T);
  if (kind == "token_kl") {
    c.output(0, "reward", -1, 2, B, T);
    for (int64_t b = 0; b < B; ++b) {
      int64_t last = -1;
      for (int64_t t = 0; t < T; ++t) {
        double m = rd(mk, b * T + t);
        if (m > 0)
          last = t;
        wr(c.out[0], b * T + t,
           -beta * (rd(lo, b * T + t) - rd(lr, b * T + t)) * m);
      }
      if (last >= 0)
        wr(c.out[0], b * T + last, rd(c.out[0], b * T + last) + rd(sc, b));
    }
  } else if (kind == "seq_kl") {
    c.output(0, "reward", -1, 1, B);
    for (int64_t b = 0; b < B; ++b) {
      double kl = 0;
      for (int64_t t = 0; t < T; ++t)
        kl += rd(mk, b * T + t) * (rd(lo, b * T + t) - rd(lr, b * T + t));
      wr(c.out[0], b, rd(sc, b) - beta * kl);
    }
  } else {
    c.err("unknown kind '" + kind + "' (token_kl, seq_kl)");
  }
}

void opAdvantage(OpCtx &c) {
  const auto a = c.typed<abi::OpId::advantage>();
  const std::string &kind = a.kind;
  int64_t G = a.group_size;
  double eps = a.eps;
  auto groups = [&](int64_t B) {
    if (G < 1 || B % G != 0)
      c.err("group_size " + std::to_string(G) + " does not divide " +
            std::to_string(B));
  };
  if (kind == "group_norm" || kind == "group_center" ||
      kind == "leave_one_out") {
    c.counts(0, 0, 1, 1, 1, 1);
    const hone_tensor &r = c.input(0, "rewards", -1, 1);
    int64_t B = r.shape[0];
    groups(B);
    if (kind == "leave_one_out" && G < 2)
      c.err("leave_one_out needs group_size >= 2");
    c.output(0, "advantages", -1, 1, B);
    for (int64_t g0 = 0; g0 < B; g0 += G) {
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < G; ++i)
        sum += rd(r, g0 + i);
      double mean = sum / double(G);
      for (int64_t i = 0; i < G; ++i)
        sq += (rd(r, g0 + i) - mean) * (rd(r, g0 + i) - mean);
      double sd = G > 1 ? std::sqrt(sq / double(G - 1)) : 0.0;
      for (int64_t i = 0; i < G; ++i) {
        double x = rd(r, g0 + i), a;
        if (kind == "group_norm")
          a = (x - mean) / (sd + eps);
        else if (kind == "group_center")
          a = x - mean;
        else
          a = x - (sum - x) / double(G - 1);
        wr(c.out[0], g0 + i, a);
      }
    }
  } else if (kind == "greedy_baseline") {
    c.counts(0, 0, 2, 2, 1, 1);
    const hone_tensor &r = c.input(0, "rewards", -1, 1);
    int64_t B = r.shape[0];
    const hone_tensor &g = c.input(1, "greedy rewards", -1, 1, B);
    c.output(0, "advantages", -1, 1, B);
    for (int64_t b = 0; b < B; ++b)
      wr(c.out[0], b, rd(r, b) - rd(g, b));
  } else if (kind == "gae") {
    c.counts(0, 0, 3, 3, 2, 2);
    const hone_tensor &r = c.input(0, "token rewards", -1, 2);
    int64_t B = r.shape[0], T = r.shape[1];
    const hone_tensor &m = c.input(1, "mask", -1, 2, B, T);
    const hone_tensor &v = c.input(2, "values", -1, 2, B, T);
    c.output(0, "advantages", -1, 2, B, T);
    c.output(1, "returns", -1, 2, B, T);
    double gamma = a.gamma, lam = a.lambda;
    for (int64_t b = 0; b < B; ++b) {
      double nextV = 0, nextA = 0;
      for (int64_t t = T - 1; t >= 0; --t) {
        int64_t i = b * T + t;
        if (rd(m, i) <= 0) {
          wr(c.out[0], i, 0);
          wr(c.out[1], i, 0);
          continue;
        }
        double delta = rd(r, i) + gamma * nextV - rd(v, i);
        double a = delta + gamma * lam * nextA;
        wr(c.out[0], i, a);
        wr(c.out[1], i, a + rd(v, i));
        nextV = rd(v, i);
        nextA = a;
      }
    }
  } else if (kind == "global_norm") {
    c.counts(0, 0, 2, 2, 1, 1);
    const hone_tensor &r = c.input(0, "token rewards", -1, 2);
    int64_t B = r.shape[0], T = r.shape[1];
    const hone_tensor &m = c.input(1, "mask", -1, 2, B, T);
    c.output(0, "advantages", -1, 2, B, T);
    std::vector<double> ret(size_t(B * T), 0.0);
    double sum = 0, cnt = 0;
    for (int64_t b = 0; b < B; ++b) {
      double acc = 0;
      for (int64_t t = T - 1; t >= 0; --t) {
        int64_t i = b * T + t;
        if (rd(m, i) > 0) {
          acc += rd(r, i);
          ret[size_t(i)] = acc;
          sum += acc;
          cnt += 1;
        }
      }
    }
    double mean = cnt > 0 ? sum / cnt : 0, sq = 0;
    for (int64_t i = 0; i < B * T; ++i)
      if (rd(m, i) > 0)
        sq += (ret[size_t(i)] - mean) * (ret[size_t(i)] - mean);
    double sd = cnt > 1 ? std::sqrt(sq / (cnt - 1)) : 0;
    for (int64_t i = 0; i < B * T; ++i)
      wr(c.out[0], i,
         rd(m, i) > 0 ? (ret[size_t(i)] - mean) / (sd + eps) : 0.0);
  } else {
    c.err("unknown kind '" + kind +
          "' (gae, group_norm, group_center, leave_one_out, greedy_baseline, "
          "global_norm)");
  }
}

void opGroupAccuracy(OpCtx &c) {
  c.counts(0, 0, 1, 1, 2, 2);
  const auto a = c.typed<abi::OpId::group_accuracy>();
  int64_t G = a.group_size;
  double th = a.threshold;
  const hone_tensor &r = c.input(0, "rewards", -1, 1);
  int64_t B = r.shape[0];
  if (G < 1 || B % G)
    c.err("group_size " + std::to_string(G) + " does not divide " +
          std::to_string(B));
  c.output(0, "per prompt", -1, 1, B / G);
  c.output(1, "per sample", -1, 1, B);
  for (int64_t p = 0; p < B / G; ++p) {
    double k = 0;
    for (int64_t i = 0; i < G; ++i)
      k += rd(r, p * G + i) > th;
    wr(c.out[0], p, k / double(G));
    for (int64_t i = 0; i < G; ++i)
      wr(c.out[1], p * G + i, k / double(G));
  }
}

void opIndicator(OpCtx &c) {
  c.counts(0, 0, 1, 1, 1, 1);
  const hone_tensor &x = c.input(0, "input", -1, c.in[0].rank);
  if (x.rank > 2)
    c.err("expected a tensor of rank 0 to 2");
  c.output(0, "result", x.dtype, x.rank, x.rank >= 1 ? x.shape[0] : -1,
           x.rank >= 2 ? x.shape[1] : -1);
  const auto attrs = c.typed<abi::OpId::indicator>();
  const std::string &pred = attrs.predicate;
  double v = attrs.value;
  int64_t n = numel(x);
  for (int64_t i = 0; i < n; ++i) {
    double a = rd(x, i);
    bool on = pred == "lt"   ? a < v
              : pred == "le" ? a <= v
              : pred == "gt" ? a > v
              : pred == "ge" ? a >= v
                             : (c.err("unknown predicate '" + pred +
                                      "' (lt, le, gt, ge)"),
                                false);
    wr(c.out[0], i, on ? 1.0 : 0.0);
  }
}

void opGroupFilter(OpCtx &c) {
  if (c.nIn < 1 || c.nOut != c.nIn)
    c.err("expected the rewards and N values as inputs and N + 1 results, "
          "got " + std::to_string(c.nIn) + " inputs and " +
          std::to_string(c.nOut) + " results");
  c.counts(0, 0, 1, 64, 1, 64);
  const auto a = c.typed<abi::OpId::group_filter>();
  int64_t G = a.group_size;
  double th = a.threshold;
  const hone_tensor &r = c.input(0, "rewards", -1, 1);
  int64_t Bp = r.shape[0];
  if (G < 1 || Bp % G)
    c.err("group_size does not divide the rewards");
  const hone_tensor &valid = c.output(c.nOut - 1, "valid", -1, 1);
  int64_t B = valid.shape[0];
  if (B % G)
    c.err("group_size does not divide the kept rows");
  std::vector<int64_t> keep;
  for (int64_t g0 = 0; g0 < Bp && int64_t(keep.size()) < B; g0 += G) {
    int64_t k = 0;
    for (int64_t i = 0; i < G; ++i)
      k += rd(r, g0 + i) > th;
    if (k > 0 && k < G)
      for (int64_t i = 0; i < G; ++i)
        keep.push_back(g0 + i);
  }
  for (int i = 1; i < c.nIn; ++i) {
    const hone_tensor &v = c.in[i];
    if (v.rank < 1 || v.shape[0] != Bp)
      c.err("input " + std::to_string(i) + ": leading dimension must be " +
            std::to_string(Bp) + ", got " + shapeStr(v));
    hone_tensor &o = c.out[i - 1];
    if (o.dtype != v.dtype || o.rank != v.rank || o.shape[0] != B ||
        (v.rank == 2 && o.shape[1] != v.shape[1]))
      c.err("result " + std::to_string(i - 1) + ": expected " +
            std::to_string(B) + " rows like input " + std::to_string(i) +
            ", got " + shapeStr(o));
    size_t row = dtypeSize(v.dtype) * size_t(v.rank == 2 ? v.shape[1] : 1);
    auto *dst = static_cast<char *>(o.data);
    std::memset(dst, 0, row * size_t(B));
    for (size_t k = 0; k < keep.size(); ++k)
      std::memcpy(dst + k * row,
                  static_cast<const char *>(v.data) + size_t(keep[k]) * row,
                  row);
  }
  for (int64_t b = 0; b < B; ++b)
    wr(c.out[c.nOut - 1], b, b < int64_t(keep.size()) ? 1.0 : 0.0);
}

} // namespace hone::ops
