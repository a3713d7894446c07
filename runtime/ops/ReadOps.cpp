// Model reads: hone.generate (sampling with the spec's stop strings),
// hone.logprob and hone.value.
#include "runtime/ops/Ops.h"
#include "runtime/ops/ReadGroupRows.h"

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

/// The spec's generation `stop` strings, matched on the completion's bytes
/// through the job's tokenizer.
void setStopStrings(hone_job *j, SamplingConfig &sc,
                    const std::vector<std::string> &stop) {
  if (!j->tokenizer)
    return;
  for (const std::string &s : stop)
    if (!s.empty())
      sc.stopStrings.push_back(s);
  const Tokenizer *tok = &*j->tokenizer;
  if (!sc.stopStrings.empty())
    sc.tokenBytes = [tok](int32_t id) { return tok->tokenBytes(id); };
}

void opGenerate(OpCtx &c) {
  hone_job *j = c.j;
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  c.counts(1, 1, 3, 6, 3, 4);
  const hone_tensor &pt = c.input(0, "prompts", HONE_I32, 2);
  int64_t P = pt.shape[0], Tp = pt.shape[1];
  const hone_tensor &pm = c.input(1, "prompt mask", -1, 2, P, Tp);
  c.input(2, "step", HONE_I64, 0);
  const auto a = c.typed<abi::OpId::generate>();
  ArenaScope placed(a.arena); // the KV cache and workspace where planned
  int64_t n = a.n;
  if (n < 1)
    c.err("n must be at least 1");
  const hone_tensor &tok = c.output(0, "tokens", HONE_I32, 2, n * P);
  int64_t B = n * P, T = tok.shape[1];
  if (T <= Tp)
    c.err("result length " + std::to_string(T) +
          " leaves no room after prompts of " + std::to_string(Tp));
  c.output(1, "mask", -1, 2, B, T);
  c.output(2, "logprobs", -1, 2, B, T);
  int64_t offPolicy = a.off_policy;
  const hone_tensor *demo = nullptr, *demoMask = nullptr;
  int64_t hint = -1;
  double hintFraction = -1; // hint_is_fraction: the hint as a fraction
  if (c.nIn >= 5) {
    demo = &c.input(3, "demos", HONE_I32, 2, P);
    demoMask = &c.input(4, "demo mask", -1, 2, P, demo->shape[1]);
  }
  if (c.nIn == 6) {
    c.input(5, "hint_len", -1, 0);
    double v = std::max(0.0, rd(c.in[5], 0));
    if (a.hint_is_fraction) {
      hintFraction = std::min(v, 1.0);
      hint = 0;
    } else {
      hint = int64_t(std::llround(v));
    }
  } else if (c.nIn == 4) {
    c.err("demos need a demo mask");
  }
  bool luffy = demo && hint < 0 && offPolicy > 0;
  bool uft = demo && hint >= 0;
  if (c.nOut == 4) {
    if (!luffy && !uft)
      c.err("a 4th result needs demos with off_policy (LUFFY) or a hint");
    if (luffy)
      c.output(3, "off-policy flag", -1, 1, B);
    else
      c.output(3, "hint mask", -1, 2, B, T);
  } else if (luffy || uft) {
    c.err("demos with off_policy or a hint yield a 4th result");
  }
  if (offPolicy > n)
    c.err("off_policy exceeds n");
  checkTokens(c, pt, m);

  // Demo completions: the masked tokens of each demo row.
  std::vector<std::vector<int32_t>> demoResp(static_cast<size_t>(P)), demoFull(static_cast<size_t>(P));
  if (demo) {
    int64_t Td = demo->shape[1];
    const int32_t *dp = static_cast<const int32_t *>(demo->data);
    for (int64_t p = 0; p < P; ++p) {
      int32_t len = rowLengths(j, dp + p * Td, 1, Td)[0];
      for (int64_t t = 0; t < len; ++t) {
        demoFull[size_t(p)].push_back(dp[p * Td + t]);
        if (rd(*demoMask, p * Td + t) > 0)
          demoResp[size_t(p)].push_back(dp[p * Td + t]);
      }
    }
  }
  // Prompts without padding, each repeated n times.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int64_t> hintLen;
  const int32_t *pp = static_cast<const int32_t *>(pt.data);
  for (int64_t p = 0; p < P; ++p) {
    std::vector<int32_t> ids;
    for (int64_t t = 0; t < Tp; ++t)
      if (rd(pm, p * Tp + t) > 0)
        ids.push_back(pp[p * Tp + t]);
    if (ids.empty())
      ids.push_back(j->fmt.eosToken >= 0 ? j->fmt.eosToken : 0);
    int64_t h = 0;
    if (uft) {
      h = hintFraction >= 0
              ? int64_t(std::llround(hintFraction *
                                     double(demoResp[size_t(p)].size())))
              : hint;
      h = std::min<int64_t>(h, int64_t(demoResp[size_t(p)].size()));
      h = std::min<int64_t>(h, T - int64_t(ids.size()) - 1);
      h = std::max<int64_t>(h, 0);
      ids.insert(ids.end(), demoResp[size_t(p)].begin(),
                 demoResp[size_t(p)].begin() + h);
    }
    for (int64_t k = 0; k < n; ++k) {
      prompts.push_back(ids);
      hintLen.push_back(h);
    }
  }
  int64_t maxPrompt = 0;
  for (auto &p : prompts)
    maxPrompt = std::max<int64_t>(maxPrompt, int64_t(p.size()));
  SamplingConfig sc;
  sc.samplesPerPrompt = 1;
  sc.maxNewTokens = std::max<int64_t>(T - std::max(Tp, maxPrompt), 1);
  sc.temperature = a.temperature;
  sc.topK = a.top_k;
  sc.topP = a.top_p;
  sc.greedy = a.greedy || sc.temperature <= 0;
  if (sc.temperature <= 0)
    sc.temperature = 1.0;
  if (j->fmt.eosToken >= 0)
    sc.stopTokens = {j->fmt.eosToken};
  if (a.stop)
    setStopStrings(j, sc, *a.stop);
  sc.padToken = j->fmt.padToken;
  sc.seed = j->seed;
  // A rollout generated ahead (hone-pipeline-rollouts) draws the numbers of
  // the step that learns from it, as it would on-policy.
  sc.step = uint32_t(j->job->globalStep() + c.ahead);
  sc.rank = uint32_t(j->comm.rank); // each rank draws its own samples
  auto *op = static_cast<int32_t *>(c.out[0].data);
  bool maskTruncated = a.mask_truncated;
  // Row b's results from row gb of a generation result whose row stride is
  // `stride` (the final result, or the partial one of the call or chunk a
  // finished row is published from); returns the row's share of
  // completions/mean_length.
  auto writeRow = [&](int64_t b, const GenerationResult<float> &g,
                      int64_t gb, int64_t stride) {
    double rowLen = 0;
    bool demoRow = luffy && (b % n) >= n - offPolicy;
    int64_t plen = g.promptLengths[size_t(gb)];
    // mask_truncated: a sample that ran out of room without end-of-sequence
    // gets no loss.
    int64_t glen = g.lengths[size_t(gb)];
    bool truncated =
        maskTruncated && !demoRow &&
        (j->fmt.eosToken < 0 || glen <= plen ||
         g.tokens[size_t(gb * stride + glen - 1)] != j->fmt.eosToken);
    for (int64_t t = 0; t < T; ++t) {
      int32_t id = j->fmt.padToken;
      double mk = 0, lp = 0;
      if (demoRow) {
        const auto &f = demoFull[size_t(b / n)];
        if (t < int64_t(f.size())) {
          id = f[size_t(t)];
          mk = rd(*demoMask, (b / n) * demo->shape[1] + t) > 0;
        }
      } else if (t < glen) {
        id = g.tokens[size_t(gb * stride + t)];
        mk = truncated ? 0.0 : g.mask[size_t(gb * stride + t)];
        lp = mk ? g.logprobs[size_t(gb * stride + t)] : 0.0;
      }
      op[b * T + t] = id;
      wr(c.out[1], b * T + t, mk);
      wr(c.out[2], b * T + t, lp);
      if (uft)
        wr(c.out[3], b * T + t,
           (t >= plen - hintLen[size_t(b)] && t < plen) ? 1.0 : 0.0);
      rowLen += truncated ? double(t >= plen && t < glen) : mk;
    }
    if (luffy)
      wr(c.out[3], b, demoRow ? 1.0 : 0.0);
    return rowLen;
  };
  // Streaming (hone-stream-scores): each row's results are written as soon
  // as it finishes, and scoring workers take it from there
  // (runtime/ops/Streams.cpp); the values are those written otherwise.
  std::vector<double> rowLens(static_cast<size_t>(B), 0.0);
  ChunkRowDone<float> onRow;
  if (c.stream && !demo)
    onRow = [&](int64_t b, const GenerationResult<float> &g, int64_t gb,
                int64_t stride) {
      rowLens[size_t(b)] = writeRow(b, g, gb, stride);
      publishRow(*c.stream, b);
    };
  // micro_batch (hone-plan-memory's generation batch under a budget): the
  // rows generated that many at a time, each chunk with a KV cache and
  // decode workspace for its rows; every row draws what it draws in one
  // call (generateInChunks).
  int64_t chunk = 0;
  if (a.micro_batch) {
    if (*a.micro_batch < 1)
      c.err("micro_batch must be at least 1 row, got " +
            std::to_string(*a.micro_batch));
    chunk = *a.micro_batch;
  }
  auto ro = generateInChunks(*m->model, prompts, sc, chunk, onRow);
  if (c.stream)
    closeStream(*c.stream);
  // hone-plan-memory's release_decode: the KV cache and the decode
  // workspace are planned for this call alone (a stage freeing its work
  // buffers each step): they go now, before the step's other forwards.
  if (a.release_decode) {
    j->memory.sample(); // the generation's peak, before the release
    m->model->releaseDecodeState();
  }
  if (!ro)
    c.err(ro.status().message());
  const auto &g = *ro;
  m->generates += 1;
  for (int64_t b = 0; b < B; ++b)
    m->generatedTokens += g.lengths[size_t(b)] - g.promptLengths[size_t(b)];
  if (!onRow)
    for (int64_t b = 0; b < B; ++b)
      rowLens[size_t(b)] = writeRow(b, g, b, g.seqLen);
  double lenSum = 0; // counts of tokens: exact in any order
  for (double x : rowLens)
    lenSum += x;
  addMetric(c, "completions/mean_length", lenSum / double(B));
  // completions/digest: FNV-1a over each row's tokens up to its last one
  // that is not padding, and that count (so the tensor's padded width does
  // not matter), folded to 24 bits so TensorBoard's float32 scalars hold it
  // exactly. Two runs log the same digest at a step when their rollouts
  // there are the same: how a test finds the first step at which two runs
  // that differ only in float rounding sample different tokens.
  uint32_t h = 2166136261u;
  auto mix = [&h](uint32_t v) {
    for (int k = 0; k < 4; ++k, v >>= 8)
      h = (h ^ (v & 0xffu)) * 16777619u;
  };
  for (int64_t b = 0; b < B; ++b) {
    const int32_t *row = op + b * T;
    int64_t n = T;
    while (n > 0 && row[n - 1] == j->fmt.padToken)
      --n;
    for (int64_t t = 0; t < n; ++t)
      mix(uint32_t(row[t]));
    mix(uint32_t(n));
  }
  addMetric(c, "completions/digest", double((h >> 24) ^ (h & 0xffffffu)));
  int64_t tokens = 0;
  for (int64_t b = 0; b < B; ++b)
    tokens += g.lengths[size_t(b)];
  addTokens(j, tokens);
}

/// hone-plan-memory's release_activations on a frozen read (its model
/// runs no backward in the stage): the activations go after the op, as the
/// plan assumes (docs/passes.md).
/// micro_batch (hone-plan-memory under a budget): the forward over that many
/// rows at a time; absent, all rows at once (0).
static int64_t microBatch(const OpCtx &c, std::optional<int64_t> micro) {
  if (micro && *micro < 1)
    c.err("micro_batch must be at least 1 row, got " + std::to_string(*micro));
  return micro ? *micro : 0;
}

static void releaseIfPlanned(OpCtx &c, ModelObj &m, bool release) {
  if (release) {
    c.j->memory.sample(); // the forward's peak, before the release
    m.model->releaseActivations();
  }
}

void opLogprob(OpCtx &c) {
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  // Several token batches of one shape (hone-fuse-forwards merged reads of
  // one frozen model): one forward over their rows concatenated, results
  // per batch (its log-probs, then its entropy when set).
  const auto a = c.typed<abi::OpId::logprob>();
  ArenaScope placed(a.arena); // the activations where planned
  // packed (hone-pack-sequences): a mask per batch follows the batches;
  // each row runs padding-free up to its mask's last nonzero position.
  bool ent = a.entropy, packed = a.packed;
  int n = std::max(1, packed ? c.nIn / 2 : c.nIn), per = ent ? 2 : 1;
  if (packed && c.nIn % 2)
    c.err("packed needs one mask per token batch, got " +
          std::to_string(c.nIn) + " inputs");
  c.counts(1, 1, 1, packed ? 2 * n : n, per * n, per * n);
  const hone_tensor &tok = c.input(0, "tokens", HONE_I32, 2);
  int64_t B = tok.shape[0], T = tok.shape[1];
  for (int k = 0; k < n; ++k) {
    c.input(k, "tokens", HONE_I32, 2, B, T);
    if (packed)
      c.input(n + k, "packed mask", -1, 2, B, T);
    c.output(per * k, "logprobs", -1, 2, B, T);
    if (ent)
      c.output(per * k + 1, "entropy", -1, 2, B, T);
  }
  if (m->model->config().head != HeadKind::LM)
    c.err("log-probs need a model with an LM head");
  for (int k = 0; k < n; ++k)
    checkTokens(c, c.in[k], m);
  // Full rows: the model is causal, so padding after a sequence changes
  // nothing before it (and a sampled pad id inside a response stays scored).
  // Packed: up to each row's last masked token.
  int64_t all = B * n;
  std::vector<int32_t> len(static_cast<size_t>(all), static_cast<int32_t>(T));
  if (packed)
    for (int k = 0; k < n; ++k)
      maskedLengths(c.in[n + k], len.data() + k * B);
  // Several batches: one forward over their rows, batch after batch or,
  // where shared prompt rows save more that way, paired (row b of every
  // batch together: DPO's reference on a record's chosen and rejected
  // rows; ReadGroupRows.h).
  std::vector<GroupMember> batches;
  for (int k = 0; k < n; ++k)
    batches.push_back({static_cast<const int32_t *>(c.in[k].data),
                       len.data() + k * B, T, 0, B, 0, T});
  std::vector<int32_t> rows, rowLen;
  std::vector<GroupRow> order;
  if (n > 1)
    order = chooseGroupOrder(batches, T, packed && prefixSharingEnabled(),
                             sharedPrefixRows, rows, rowLen);
  TokenBatch tb{all, T,
                n > 1 ? rows.data() : static_cast<const int32_t *>(tok.data),
                n > 1 ? rowLen.data() : len.data()};
  std::vector<float> h;
  // micro_batch (hone-plan-memory under a budget): the forward over that
  // many rows at a time; results bit-identical (docs/passes.md).
  // row_group (hone-stream-scores, reference log-probs of a generate's
  // rows): that many rows a forward, streamed or not, so that a streamed
  // read (its worker computed each group as its rows finished decoding,
  // runtime/ops/Streams.cpp) and this one are the same forwards.
  // The temperature is that of the hone.generate that sampled the tokens
  // (1 for data): the lowering writes it.
  microBatch(c, a.micro_batch);
  if (a.row_group && *a.row_group < 1)
    c.err("row_group must be at least 1 row, got " +
          std::to_string(*a.row_group));
  int64_t micro = logprobRowGroup(c);
  setRecompute(c, *m, a.recompute_layers);
  Expected<std::vector<float>> lp = std::vector<float>();
  if (c.stream && n == 1 && !ent)
    lp = streamedLogprobs(c, B, T);
  else
    lp = computeLogprobs(*m->model, tb, micro, a.temperature,
                         ent ? &h : nullptr, packed);
  if (!lp)
    c.err(lp.status().message());
  // Each batch's rows back in its own order.
  auto split = [&](std::vector<float> &v) {
    if (n == 1)
      return;
    std::vector<float> byBatch(v.size());
    std::vector<float *> out;
    for (int k = 0; k < n; ++k)
      out.push_back(byBatch.data() + k * B * T);
    scatterGroupRows(v.data(), T, batches, order, out);
    v.swap(byBatch);
  };
  split(*lp);
  if (ent)
    split(h);
  for (int k = 0; k < n; ++k)
    for (int64_t i = 0; i < B * T; ++i) {
      wr(c.out[per * k], i, (*lp)[size_t(k * B * T + i)]);
      if (ent)
        wr(c.out[per * k + 1], i, h[size_t(k * B * T + i)]);
    }
  releaseIfPlanned(c, *m, a.release_activations);
}

/// hone.reference_table (hone-precompute-reference): the reference's
/// masked log-prob sums of every training pair, once, before the stage.
void opReferenceTable(OpCtx &c) {
  hone_job *j = c.j;
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  auto *d = c.obj<DatasetObj>(1, ObjKind::Dataset, "dataset");
  c.counts(2, 2, 0, 0, 1, 1);
  const auto a = c.typed<abi::OpId::reference_table>();
  hone_tensor &table = c.out[0];
  c.output(0, "table", -1, 2);
  const int64_t N = table.shape[0], T = a.max_length, R = a.rows;
  if (table.shape[1] != 2)
    c.err("the table is [N, 2]");
  if (T < 2 || R < 1)
    c.err("max_length must be at least 2 and rows at least 1");
  if (m->model->config().head != HeadKind::LM)
    c.err("log-probs need a model with an LM head");
  if (T > m->model->config().maxSeqLen)
    c.err("sequence length " + std::to_string(T) +
          " exceeds the model's max_seq " +
          std::to_string(m->model->config().maxSeqLen));
  const DataLoader &dl = *d->data;
  const size_t rows = dl.size();
  if (int64_t(rows) > N)
    c.err("the dataset has " + std::to_string(rows) +
          " training records, the compiled table " + std::to_string(N) +
          " (hint: recompile the spec against this dataset)");
  const size_t bytes = size_t(numel(table)) * (table.dtype == HONE_F64 ? 8 : 4);
  std::memset(table.data, 0, bytes);
  // A resumed job whose checkpoint is in this stage (or a later one): the
  // model may not be the reference any more (an earlier stage is skipped);
  // the checkpoint's table fills this one when the stage begins.
  const int stage = j->job->stagesBegun();
  const bool resumed = !j->inStage && j->job->resumeStage() >= stage;
  j->referenceTables.push_back(
      {table.data, bytes, stage, resumed && j->job->resumeStage() == stage});
  if (resumed)
    return;
  ArenaScope placed(a.arena); // the activations where planned
  setRecompute(c, *m, a.recompute_layers);
  const int64_t V = m->model->config().vocabSize;
  // This rank's records: every ranks-th, from its rank on.
  std::vector<size_t> mine;
  for (size_t i = size_t(j->comm.rank); i < rows; i += size_t(j->comm.size))
    mine.push_back(i);
  std::vector<int32_t> tok, len;
  std::vector<float> mask;
  for (size_t first = 0; first < mine.size(); first += size_t(R)) {
    const int64_t n = std::min<int64_t>(R, int64_t(mine.size() - first));
    tok.assign(size_t(2 * n * T), j->fmt.padToken);
    mask.assign(size_t(2 * n * T), 0.0f);
    len.assign(size_t(2 * n), 1);
    for (int64_t k = 0; k < n; ++k) {
      auto [ch, rj] = pairOf(j, c, dl, dl.example(mine[first + size_t(k)]), T);
      for (int side = 0; side < 2; ++side) {
        const Sequence &q = side ? rj : ch;
        const int64_t row = side * n + k;
        for (size_t t = 0; t < q.ids.size(); ++t) {
          if (q.ids[t] < 0 || q.ids[t] >= V)
            c.err("token id " + std::to_string(q.ids[t]) +
                  " out of the vocabulary [0," + std::to_string(V) + ")");
          tok[size_t(row * T) + t] = q.ids[t];
          mask[size_t(row * T) + t] = q.mask[t];
          if (q.mask[t] != 0)
            len[size_t(row)] = int32_t(t + 1);
        }
      }
    }
    // Packed as hone-pack-sequences packs the reference's reads: each row
    // up to its loss mask's last nonzero; a record's chosen and rejected
    // rows side by side where their shared prompt rows save more that way
    // (ReadGroupRows.h), as in the train step's and hone.logprob's forwards.
    std::vector<GroupMember> sides;
    for (int side = 0; side < 2; ++side)
      sides.push_back({tok.data() + side * n * T, len.data() + side * n, T, 0,
                       n, 0, T});
    std::vector<int32_t> rowTok, rowLen;
    std::vector<GroupRow> order =
        chooseGroupOrder(sides, T, prefixSharingEnabled(), sharedPrefixRows,
                         rowTok, rowLen);
    TokenBatch tb{2 * n, T, rowTok.data(), rowLen.data()};
    auto lp = computeLogprobs(*m->model, tb, 0, 1.0, nullptr, true);
    if (!lp)
      c.err(lp.status().message());
    std::vector<float> bySide(lp->size());
    scatterGroupRows(lp->data(), T, sides, order,
                     std::vector<float *>{bySide.data(), bySide.data() + n * T});
    lp->swap(bySide);
    for (int64_t k = 0; k < n; ++k)
      for (int side = 0; side < 2; ++side) {
        const int64_t row = side * n + k;
        double sum = 0;
        for (int64_t t = 0; t < T; ++t)
          if (mask[size_t(row * T + t)] != 0)
            sum += double(mask[size_t(row * T + t)]) *
                   double((*lp)[size_t(row * T + t)]);
        wr(table, 2 * int64_t(mine[first + size_t(k)]) + side, sum);
      }
  }
  releaseIfPlanned(c, *m, a.release_activations);
  // Every rank's records: the others' entries are 0 here, so the sum is
  // exact and every rank holds rank 0's bits.
  if (j->comm.size > 1) {
    if (table.dtype == HONE_F64)
      j->comm.sum(static_cast<double *>(table.data), size_t(numel(table)));
    else
      j->comm.sum(static_cast<float *>(table.data), size_t(numel(table)));
  }
}

void opValue(OpCtx &c) {
  hone_job *j = c.j;
  auto *m = c.obj<ModelObj>(0, ObjKind::Model, "model");
  const auto a = c.typed<abi::OpId::value>();
  ArenaScope placed(a.arena); // the activations where planned
  // packed (hone-pack-sequences): the last input is a mask; each row runs
  // padding-free up to its last nonzero position.
  bool packed = a.packed;
  c.counts(1, 1, packed ? 2 : 1, packed ? 3 : 2, 1, 1);
  const int nIn = packed ? c.nIn - 1 : c.nIn; // tokens [, last mask]
  const hone_tensor &tok = c.input(0, "tokens", HONE_I32, 2);
  int64_t B = tok.shape[0], T = tok.shape[1];
  if (m->model->config().head != HeadKind::Scalar)
    c.err("values need a model with a scalar head");
  checkTokens(c, tok, m);
  auto len = rowLengths(j, static_cast<const int32_t *>(tok.data), B, T);
  if (packed)
    maskedLengths(c.input(nIn, "packed mask", -1, 2, B, T), len.data());
  TokenBatch tb{B, T, static_cast<const int32_t *>(tok.data), len.data()};
  int64_t micro = microBatch(c, a.micro_batch);
  setRecompute(c, *m, a.recompute_layers);
  auto v = computeValues(*m->model, tb, micro, packed);
  if (!v)
    c.err(v.status().message());
  // One forward over every row: its activations may serve a train step's
  // first forward on these tokens (kept_forwards), packed over these
  // lengths or padded.
  m->keptTokens = tok.data;
  m->keptForward = m->model->forwardCount();
  m->keptLengths = packed ? len : std::vector<int32_t>();
  if (nIn == 1) {
    c.output(0, "values", -1, 2, B, T);
    fromF(c.out[0], *v);
  } else {
    const hone_tensor &mk = c.input(1, "mask", -1, 2, B, T);
    c.output(0, "values", -1, 1, B);
    for (int64_t b = 0; b < B; ++b) {
      int64_t last = len[size_t(b)] - 1;
      for (int64_t t = 0; t < T; ++t)
        if (rd(mk, b * T + t) > 0)
          last = t;
      wr(c.out[0], b, (*v)[size_t(b * T + last)]);
    }
  }
  releaseIfPlanned(c, *m, a.release_activations);
}

} // namespace hone::ops
