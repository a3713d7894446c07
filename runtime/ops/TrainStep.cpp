// hone.train_step: the reads it recomputes (fused into one forward where
// hone-fuse-forwards grouped them), the generated loss kernel, backward and
// the optimizer step, with the on_nan policy.
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

namespace {

// --- the train step ---------------------------------------------------------

struct Read {
  ModelObj *model;
  std::string what; // logprob | logprob+entropy | value | reward
  const hone_tensor *tokens;
  std::vector<int32_t> lengths;
  int64_t B, T;
  /// Padding-free forwards over `lengths` (hone-pack-sequences' `packed`).
  bool packed = false;
  std::vector<float> out0, out1; // l/V/r, H
  std::vector<float> grad0, grad1;
};

Status forwardRows(Read &r, int64_t b0, int64_t n, const ForwardOptions &fo) {
  TokenBatch tb{n, r.T, static_cast<const int32_t *>(r.tokens->data) + b0 * r.T,
                r.lengths.data() + b0};
  ForwardOptions o = fo;
  o.pack = r.packed;
  // The samples of a prompt run its rows once (Transformer.h).
  o.sharePrefix = prefixSharingEnabled();
  return r.model->model->forward(tb, o);
}

/// The train step's forwards run in training mode (LoRA dropout), keyed by
/// the job's seed, rank, step, epoch, mini-batch and micro-batch: the
/// forward a backward re-runs draws the masks of the first.
ForwardOptions trainForward(hone_job *j, double temp, int64_t stepNo,
                            int64_t ep, int64_t u, int64_t k) {
  ForwardOptions fo;
  fo.temperature = temp;
  fo.train = true;
  fo.dropoutSeed = j->seed;
  fo.dropoutRank = uint32_t(j->comm.rank);
  uint64_t h = uint64_t(stepNo);
  for (int64_t x : {ep, u, k})
    h = h * 0x9E3779B97F4A7C15ull + uint64_t(x) + 1;
  fo.dropoutStep = uint32_t(h ^ (h >> 32));
  return fo;
}

/// Reads that run as one forward and one backward (hone-fuse-forwards'
/// fused_reads): micro-batch k of every member (its own rows split into
/// `mini_batches` as alone), concatenated in member order or, where shared
/// prompt rows save more that way, paired (`order`, chooseGroupOrder: DPO's
/// chosen and rejected rows of a record side by side). Members of other
/// lengths (CHORD's rollouts and demonstrations) are concatenated on the
/// longest, `width`: each row padded with 0 past its own length T, which
/// bounds its `lengths`, so that the model (causal) computes its positions
/// as alone and yields 0 past them; packed, only its tokens run. A group of
/// one is the read alone, without a copy.
struct ReadGroup {
  std::vector<Read *> members;
  std::vector<int32_t> tokens, lengths; // the concatenation (2+ members)
  /// The forward's rows (2+ members): set by the forward of the current
  /// micro-batch, read by its scatter and gather.
  std::vector<GroupRow> order;
  int64_t width = 0; // the longest member's T: positions per forward row
  /// Member q's rows in the current micro-batch: [first[q], first[q] + n[q])
  /// of its mini-batch (which starts at row lo[q] of its tokens).
  std::vector<int64_t> lo, first, n;
  /// Micro-batches per optimiser step: the most any member needs.
  int64_t chunks = 0;

  void plan(int64_t updates, int64_t mini, int64_t u) {
    lo.assign(members.size(), 0);
    chunks = 0;
    width = 0;
    for (size_t q = 0; q < members.size(); ++q) {
      width = std::max(width, members[q]->T);
      int64_t rows = members[q]->B / updates, mb = (rows + mini - 1) / mini;
      lo[q] = u * rows;
      chunks = std::max(chunks, (rows + mb - 1) / mb);
    }
  }
  /// Selects micro-batch k; returns the rows of all members together.
  int64_t select(int64_t k, int64_t updates, int64_t mini) {
    first.assign(members.size(), 0);
    n.assign(members.size(), 0);
    int64_t all = 0;
    for (size_t q = 0; q < members.size(); ++q) {
      int64_t rows = members[q]->B / updates, mb = (rows + mini - 1) / mini;
      first[q] = std::min(rows, k * mb);
      n[q] = std::min(rows, first[q] + mb) - first[q];
      all += n[q];
    }
    return all;
  }
  /// The members' rows of the current micro-batch (ReadGroupRows.h).
  std::vector<GroupMember> rows() const {
    std::vector<GroupMember> v;
    for (size_t q = 0; q < members.size(); ++q) {
      const Read *r = members[q];
      v.push_back({static_cast<const int32_t *>(r->tokens->data),
                   r->lengths.data(), r->T, lo[q] + first[q], n[q], first[q],
                   r->what == "reward" ? 1 : r->T});
    }
    return v;
  }
};

Status forwardGroup(ReadGroup &g, const ForwardOptions &fo) {
  Read &r0 = *g.members[0];
  if (g.members.size() == 1)
    return forwardRows(r0, g.lo[0] + g.first[0], g.n[0], fo);
  ForwardOptions packedFo = fo;
  // Packed when every member is; a padded forward over shorter lengths is
  // exact as well (positions past a row's length are read nowhere).
  packedFo.pack = std::all_of(g.members.begin(), g.members.end(),
                              [](const Read *r) { return r->packed; });
  packedFo.sharePrefix = prefixSharingEnabled();
  // Shared prompt rows need a pair's rows side by side (ReadGroupRows.h).
  g.order = chooseGroupOrder(g.rows(), g.width,
                             packedFo.pack && packedFo.sharePrefix &&
                                 !r0.model->model->loraDropoutIn(fo),
                             sharedPrefixRows, g.tokens, g.lengths);
  TokenBatch tb{int64_t(g.lengths.size()), g.width, g.tokens.data(),
                g.lengths.data()};
  return r0.model->model->forward(tb, packedFo);
}

} // namespace

/// hone.train_step (hone_rt_train_step's body), on a lane or inline.
void runTrainStep(OpCtx &c) {
  hone_job *j = c.j;
  const char *loc = c.loc;
  const int32_t n_models = c.nObjs, n_tokens = c.nTokens, n_in = c.nIn,
                n_out = c.nOut;
  void **models = c.objs;
  hone_loss_fn kernel = c.kernel;
  const hone_tensor *in = c.in;
  hone_tensor *out = c.out;
  (void)models;
  const int64_t stepNo = j->job->globalStep() + 1; // as logged
  if (!kernel)
    c.err("no loss kernel");
  if (n_models < 1)
    c.err("no models");
  if (n_tokens < 1 || n_tokens > n_in)
    c.err("expected 1.." + std::to_string(n_in) + " token batches, got " +
          std::to_string(n_tokens));
  std::vector<ModelObj *> ms;
  for (int i = 0; i < n_models; ++i)
    ms.push_back(c.obj<ModelObj>(i, ObjKind::Model, "model"));
  const auto a = c.typed<abi::OpId::train_step>();
  ArenaScope placed(a.arena); // the models' activations where planned
  const std::vector<std::string> &reads = a.reads;
  const std::vector<int64_t> &readers = a.readers;
  if (int(reads.size()) != n_tokens || int(readers.size()) != n_tokens)
    c.err("reads and readers need one entry per token batch (" +
          std::to_string(n_tokens) + ")");
  std::vector<Read> rs(static_cast<size_t>(n_tokens));
  int nOutputs = 0;
  for (int i = 0; i < n_tokens; ++i) {
    Read &r = rs[size_t(i)];
    if (readers[size_t(i)] < 0 || readers[size_t(i)] >= n_models)
      c.err("readers[" + std::to_string(i) + "] names no model");
    r.model = ms[size_t(readers[size_t(i)])];
    r.what = reads[size_t(i)];
    r.tokens = &c.input(i, "tokens", HONE_I32, 2);
    r.B = r.tokens->shape[0];
    r.T = r.tokens->shape[1];
    checkTokens(c, *r.tokens, r.model);
    // Full rows (causal model) except where the last token is read.
    r.lengths = r.what == "reward"
                    ? rowLengths(j, static_cast<const int32_t *>(r.tokens->data),
                                 r.B, r.T)
                    : std::vector<int32_t>(static_cast<size_t>(r.B),
                                           static_cast<int32_t>(r.T));
    HeadKind h = r.model->model->config().head;
    if (r.what == "logprob" || r.what == "logprob+entropy") {
      if (h != HeadKind::LM)
        c.err("reads[" + std::to_string(i) + "] = " + r.what +
              " needs an LM head");
      nOutputs += r.what == "logprob" ? 1 : 2;
    } else if (r.what == "value" || r.what == "reward") {
      if (h != HeadKind::Scalar)
        c.err("reads[" + std::to_string(i) + "] = " + r.what +
              " needs a scalar head");
      nOutputs += 1;
    } else {
      c.err("unknown read '" + r.what +
            "' (logprob, logprob+entropy, value, reward)");
    }
  }
  for (int i = n_tokens; i < n_in; ++i) {
    c.input(i, "input", HONE_F32, in[i].rank);
    if (in[i].rank < 0 || in[i].rank > 2)
      c.err("input " + std::to_string(i) + ": bad rank");
  }
  const std::vector<std::string> &metricNames = a.metric_names;
  if (n_out < 1)
    c.err("expected the loss result");
  c.output(0, "loss", HONE_F32, 0);
  for (int i = 1; i < n_out; ++i)
    c.output(i, "metric", HONE_F32, 0);
  if (!metricNames.empty() && int(metricNames.size()) != n_out - 1)
    c.err("metric_names has " + std::to_string(metricNames.size()) +
          " names for " + std::to_string(n_out - 1) + " metric results");
  for (auto [name, v] : {std::pair<const char *, int64_t>{"mini_batches",
                                                          a.mini_batches},
                         {"epochs", a.epochs},
                         {"updates", a.updates}})
    if (v < 1)
      c.err(std::string(name) + " must be at least 1, got " +
            std::to_string(v));
  int64_t mini = a.mini_batches, epochs = a.epochs;
  // Log-probs at the temperature of the hone.generate that sampled the
  // tokens (1 for data): the lowering writes it.
  double temp = a.temperature;
  for (ModelObj *m : ms)
    if (!m->opt)
      m->opt = std::make_unique<AdamW<float>>(
          *m->model,
          optimizerConfig(j, c.loc, *a.optimizer, j->stageSteps));
  // updates > 1: each pass takes one optimiser step per consecutive
  // 1/updates of the rows (PPO mini-batches); the kernel was compiled for
  // one such mini-batch.
  int64_t updates = a.updates;
  for (Read &r : rs)
    if (r.B % updates != 0)
      c.err("updates = " + std::to_string(updates) + " does not divide the " +
            std::to_string(r.B) + " rows of a token batch");
  for (int i = n_tokens; i < n_in; ++i)
    if (in[i].rank >= 1 && in[i].shape[0] % updates != 0)
      c.err("updates = " + std::to_string(updates) + " does not divide the " +
            std::to_string(in[i].shape[0]) + " rows of input " +
            std::to_string(i));
  // fused_reads[i]: the read whose forward also computes read i.
  std::vector<ReadGroup> groups;
  {
    std::vector<int64_t> lead(static_cast<size_t>(n_tokens));
    for (int i = 0; i < n_tokens; ++i)
      lead[size_t(i)] = i;
    if (a.fused_reads) {
      lead = *a.fused_reads;
      if (int(lead.size()) != n_tokens)
        c.err("fused_reads needs one entry per token batch");
    }
    std::vector<int> groupOf(size_t(n_tokens), -1);
    for (int i = 0; i < n_tokens; ++i) {
      int64_t l = lead[size_t(i)];
      Read &r = rs[size_t(i)];
      if (l == i) {
        groupOf[size_t(i)] = int(groups.size());
        groups.push_back({{&r}, {}, {}});
        continue;
      }
      if (l < 0 || l > i || lead[size_t(l)] != l)
        c.err("fused_reads[" + std::to_string(i) + "] = " + std::to_string(l) +
              " is not an earlier leading read");
      Read &r0 = rs[size_t(l)];
      // Other rows or lengths: concatenated on the longest (ReadGroup).
      if (r0.model != r.model || r0.what != r.what)
        c.err("fused_reads[" + std::to_string(i) +
              "]: read of another model or kind than read " +
              std::to_string(l));
      groups[size_t(groupOf[size_t(l)])].members.push_back(&r);
    }
  }
  // kept_forwards[i] >= 0: the first pass's forward of read i is the one a
  // hone.value ran on its tokens (PPO's v_old), when the model has run no
  // other forward since; otherwise it runs here as usual.
  std::vector<int64_t> kept(size_t(n_tokens), -1);
  if (a.kept_forwards) {
    kept = *a.kept_forwards;
    if (int(kept.size()) != n_tokens)
      c.err("kept_forwards needs one entry per token batch");
    for (int i = 0; i < n_tokens; ++i)
      if (kept[size_t(i)] != -1 &&
          (kept[size_t(i)] < 0 || kept[size_t(i)] >= n_in - n_tokens ||
           rs[size_t(i)].what != "value" || updates != 1 || mini != 1))
        c.err("kept_forwards[" + std::to_string(i) +
              "]: a value read of the whole batch, keeping an input's "
              "forward, expected");
  }
  // recompute_layers[m] (hone-plan-memory under a budget): model m's
  // forwards here keep only their recomputed layers' inputs and backward
  // re-runs those layers (Transformer::setRecomputeLayers; results
  // bit-identical); absent, every layer is kept. A kept forward
  // (kept_forwards) back-propagates in the layout it ran with.
  if (a.recompute_layers && int(a.recompute_layers->size()) != n_models)
    c.err("recompute_layers needs one entry per model (" +
          std::to_string(n_models) + ")");
  for (int i = 0; i < n_models; ++i)
    setRecompute(c, *ms[size_t(i)],
                 a.recompute_layers
                     ? std::optional<int64_t>((*a.recompute_layers)[size_t(i)])
                     : std::nullopt,
                 "recompute_layers[" + std::to_string(i) + "]");
  // keep_logits[m] (hone-plan-memory): model m's training forwards keep
  // their LM head's logits for the backward instead of it recomputing
  // them (Transformer::setKeepLogits; results bit-identical); absent or 0,
  // recomputed. HONE_LM_KEEP=0 recomputes them whatever the plan says.
  if (a.keep_logits && int(a.keep_logits->size()) != n_models)
    c.err("keep_logits needs one entry per model (" +
          std::to_string(n_models) + ")");
  for (int i = 0; i < n_models; ++i) {
    const int64_t keep = a.keep_logits ? (*a.keep_logits)[size_t(i)] : 0;
    if (keep != 0 && keep != 1)
      c.err("keep_logits[" + std::to_string(i) + "] = " +
            std::to_string(keep) + " is not 0 or 1");
    ms[size_t(i)]->model->setKeepLogits(keep == 1 && lmKeepEnabled());
  }
  // The step's tokens as logged (tokens_per_sec when no generation counted
  // them): every row's full length, packed or not, so that the rate
  // compares across --no-pack-sequences.
  int64_t tokens = 0;
  for (Read &r : rs)
    for (int32_t l : r.lengths)
      tokens += l;
  // packed[i] (hone-pack-sequences, docs/passes.md): -1, read i runs padded;
  // k >= 0, it runs padding-free over each row's tokens up to the last
  // nonzero of input k (the loss mask through which alone the objective
  // reads it: later positions change nothing it reads, the model being
  // causal); -2, a reward read, up to the row's last token (where the
  // reward is read).
  if (a.packed) {
    const std::vector<int64_t> &pk = *a.packed;
    if (int(pk.size()) != n_tokens)
      c.err("packed needs one entry per token batch");
    for (int i = 0; i < n_tokens; ++i) {
      Read &r = rs[size_t(i)];
      int64_t k = pk[size_t(i)];
      std::string at =
          "packed[" + std::to_string(i) + "] = " + std::to_string(k) + ": ";
      if (k == -1)
        continue;
      if (k == -2) {
        if (r.what != "reward")
          c.err(at + "-2 (up to the last token) is for reward reads only");
        r.packed = true;
        continue;
      }
      if (k < 0 || k >= n_in - n_tokens)
        c.err(at + "names no input (0.." + std::to_string(n_in - n_tokens - 1) +
              ")");
      if (r.what == "reward")
        c.err(at + "a reward read packs to its rows' last tokens (-2)");
      const hone_tensor &m = in[n_tokens + k];
      if (m.rank != 2 || m.shape[0] != r.B || m.shape[1] != r.T)
        c.err(at + "the mask must be [" + std::to_string(r.B) + ", " +
              std::to_string(r.T) + "] like the read's tokens");
      maskedLengths(m, r.lengths.data());
      r.packed = true;
    }
  }
  // packed_also (pairs i, k): read i, packed to an input mask, runs up to
  // the last nonzero of input k too where that comes later (an objective
  // reading it under several masks: UFT's response and hint masks).
  if (a.packed_also) {
    const std::vector<int64_t> &pa = *a.packed_also;
    if (pa.size() % 2)
      c.err("packed_also needs (read, input) pairs");
    for (size_t p = 0; p < pa.size(); p += 2) {
      int64_t i = pa[p], k = pa[p + 1];
      std::string at = "packed_also (" + std::to_string(i) + ", " +
                       std::to_string(k) + "): ";
      if (i < 0 || i >= n_tokens || !a.packed || (*a.packed)[size_t(i)] < 0)
        c.err(at + "read " + std::to_string(i) +
              " is not packed to an input mask");
      if (k < 0 || k >= n_in - n_tokens)
        c.err(at + "names no input (0.." + std::to_string(n_in - n_tokens - 1) +
              ")");
      Read &r = rs[size_t(i)];
      const hone_tensor &m = in[n_tokens + k];
      if (m.rank != 2 || m.shape[0] != r.B || m.shape[1] != r.T)
        c.err(at + "the mask must be [" + std::to_string(r.B) + ", " +
              std::to_string(r.T) + "] like the read's tokens");
      std::vector<int32_t> more(r.lengths.size());
      maskedLengths(m, more.data());
      for (size_t b = 0; b < more.size(); ++b)
        r.lengths[b] = std::max(r.lengths[b], more[b]);
    }
  }
  // phases[m] (hone-plan-memory, where the objective separates by model:
  // each model's gradients read only the outputs of models of its own
  // phase): each optimiser step runs phase by phase, its models' forwards,
  // the kernel and their backwards, then frees their activations, so one
  // phase's activations are live at a time. The kernel runs once per
  // phase: a phase's gradients do not depend on a later phase's outputs
  // (zeros until their forward), so they are the bits a whole step's
  // kernel gives; the loss and metrics come from the last call, on every
  // output. Absent, one phase.
  std::vector<int64_t> phaseOf(size_t(n_models), 0);
  int64_t nPhases = 1;
  if (a.phases) {
    if (int(a.phases->size()) != n_models)
      c.err("phases needs one entry per model (" + std::to_string(n_models) +
            ")");
    phaseOf = *a.phases;
    for (int64_t ph : phaseOf) {
      if (ph < 0 || ph >= n_models)
        c.err("phases: " + std::to_string(ph) + " is not a phase (0.." +
              std::to_string(n_models - 1) + ")");
      nPhases = std::max(nPhases, ph + 1);
    }
  }
  auto phaseOfGroup = [&](const ReadGroup &g) {
    return phaseOf[size_t(readers[size_t(g.members[0] - rs.data())])];
  };
  // How often each model runs forward per optimiser step: more than once
  // means its kept activations are not those of the slice being
  // back-propagated.
  std::map<ModelObj *, int64_t> forwards;
  for (ReadGroup &g : groups) {
    g.plan(updates, mini, 0);
    forwards[g.members[0]->model] += g.chunks;
  }

  double lossSum = 0;
  std::vector<double> metricSums(size_t(n_out - 1), 0.0);
  StepStats st0;
  bool skipped = false;
  std::string why;
  for (int64_t ep = 0; ep < epochs && !skipped; ++ep)
  for (int64_t u = 0; u < updates && !skipped; ++u) {
    for (ModelObj *m : ms)
      m->model->zeroGrad();
    // Host outputs of the mini-batch's rows [lo, lo + rows) for every read
    // (a later phase's stay zero until its forward).
    for (ReadGroup &g : groups) {
      for (Read *r : g.members) {
        const int64_t per = r->what == "reward" ? 1 : r->T; // values per row
        int64_t rows = r->B / updates;
        r->out0.assign(size_t(rows * per), 0.f);
        r->out1.assign(r->what == "logprob+entropy" ? size_t(rows * r->T) : 0,
                       0.f);
      }
    }
    for (int64_t phase = 0; phase < nPhases && !skipped; ++phase) {
      // Forward over the mini-batch's rows, micro-batched, into the host
      // outputs. A fused group's forward output holds its members' rows in
      // member order.
      for (ReadGroup &g : groups) {
        if (phaseOfGroup(g) != phase)
          continue;
        Read &r0 = *g.members[0];
        g.plan(updates, mini, u);
        size_t read0 = size_t(&r0 - rs.data());
        // Values per forward row: the group's width (members' rows padded
        // to it), one for a reward.
        const int64_t wide = r0.what == "reward" ? 1 : g.width;
        bool reuse = ep == 0 && u == 0 && g.members.size() == 1 &&
                     g.chunks == 1 && kept[read0] >= 0 &&
                     forwards[r0.model] == 1 &&
                     r0.model->keptTokens == r0.tokens->data &&
                     r0.model->keptForward == r0.model->model->forwardCount() &&
                     r0.model->model->batch() == r0.B &&
                     r0.model->model->seqLen() == r0.T &&
                     // A packed forward yields nothing past its lengths: it
                     // serves a read packed to the same lengths only.
                     (r0.model->keptLengths.empty() ||
                      (r0.packed && r0.model->keptLengths == r0.lengths));
        if (reuse)
          j->forwardsKept += 1;
        for (int64_t k = 0; k < g.chunks; ++k) {
          int64_t all = g.select(k, updates, mini);
          if (!reuse)
            check(j, loc,
                  forwardGroup(g, trainForward(j, temp, stepNo, ep, u, k)));
          auto &tm = *r0.model->model;
          std::vector<float> v, h;
          if (r0.what == "logprob" || r0.what == "logprob+entropy") {
            v = tm.toHost(tm.logprobs(), all * wide);
            if (r0.what == "logprob+entropy") {
              if (!tm.entropy())
                c.err("the model yields no entropy");
              h = tm.toHost(tm.entropy(), all * wide);
            }
          } else if (r0.what == "value") {
            v = tm.toHost(tm.values(), all * wide);
          } else {
            v = tm.toHost(tm.rewards(), all);
          }
          // Member rows in order, each its own first `per` values of a
          // forward row of `wide`.
          std::vector<GroupMember> rows = g.rows();
          std::vector<float *> o0, o1;
          for (Read *r : g.members) {
            o0.push_back(r->out0.data());
            o1.push_back(r->out1.data());
          }
          if (g.members.size() == 1) {
            scatterGroupRows(v.data(), wide, rows, o0);
            if (!h.empty())
              scatterGroupRows(h.data(), wide, rows, o1);
          } else {
            scatterGroupRows(v.data(), wide, rows, g.order, o0);
            if (!h.empty())
              scatterGroupRows(h.data(), wide, rows, g.order, o1);
          }
        }
      }
      for (Read &r : rs) {
        r.grad0.assign(r.out0.size(), 0.f);
        r.grad1.assign(r.out1.size(), 0.f);
      }
      // The kernel, once per optimiser step (per phase), on the mini-batch
      // (the inputs' rows of this mini-batch; scalars as they are).
      std::vector<void *> args;
      for (Read &r : rs) {
        args.push_back(r.out0.data());
        if (r.what == "logprob+entropy")
          args.push_back(r.out1.data());
      }
      for (int i = n_tokens; i < n_in; ++i) {
        int64_t row = in[i].rank == 2 ? in[i].shape[1] : 1;
        int64_t first = in[i].rank >= 1 ? u * (in[i].shape[0] / updates) : 0;
        args.push_back(static_cast<float *>(in[i].data) + first * row);
      }
      float loss = 0;
      std::vector<float> metrics(size_t(n_out - 1), 0.f);
      args.push_back(&loss);
      for (float &m : metrics)
        args.push_back(&m);
      for (Read &r : rs) {
        args.push_back(r.grad0.data());
        if (r.what == "logprob+entropy")
          args.push_back(r.grad1.data());
      }
      kernel(args.data());
      if (phase == nPhases - 1) {
        if (j->injectNan.count(stepNo))
          loss = NAN;
        if (j->comm.size > 1) {
          // The ranks' mean loss and metrics: every rank logs, and skips a
          // non-finite step, alike.
          std::vector<double> lm(1 + metrics.size());
          lm[0] = loss;
          for (size_t k = 0; k < metrics.size(); ++k)
            lm[k + 1] = metrics[k];
          j->comm.sum(lm.data(), lm.size());
          loss = float(lm[0] / j->comm.size);
          for (size_t k = 0; k < metrics.size(); ++k)
            metrics[k] = float(lm[k + 1] / j->comm.size);
        }
        lossSum += loss;
        for (size_t k = 0; k < metrics.size(); ++k)
          metricSums[k] += metrics[k];
        if (!std::isfinite(loss)) {
          skipped = true;
          why = "non-finite loss";
          break;
        }
      }
      // Backward per micro-batch from its slice of the gradients.
      for (ReadGroup &grp : groups) {
        if (phaseOfGroup(grp) != phase)
          continue;
        Read &r = *grp.members[0];
        bool recompute = forwards[r.model] > 1;
        auto &tm = *r.model->model;
        Kernels<float> &k = tm.kernels();
        grp.plan(updates, mini, u);
        const int64_t wide = r.what == "reward" ? 1 : grp.width;
        for (int64_t chunk = 0; chunk < grp.chunks; ++chunk) {
          int64_t all = grp.select(chunk, updates, mini);
          if (recompute)
            check(
                j, loc,
                forwardGroup(grp, trainForward(j, temp, stepNo, ep, u, chunk)));
          // The members' gradient slices, concatenated as their rows were:
          // one member copied as it is; a group's rows gathered
          // (ReadGroupRows.h), rows narrower than the group's padded with 0
          // (positions past the row, which the forward yielded as 0).
          DeviceArray<float> d0(&k, all * wide), d1;
          const bool entropy = r.what == "logprob+entropy";
          if (entropy)
            d1 = DeviceArray<float>(&k, all * wide);
          if (grp.members.size() == 1) {
            Read &m = *grp.members[0];
            size_t len = size_t(grp.n[0] * wide);
            k.copyToDevice(d0.data(), m.grad0.data() + grp.first[0] * wide,
                           len * sizeof(float));
            if (entropy)
              k.copyToDevice(d1.data(), m.grad1.data() + grp.first[0] * wide,
                             len * sizeof(float));
          } else {
            std::vector<GroupMember> rows = grp.rows();
            std::vector<const float *> i0, i1;
            for (Read *m : grp.members) {
              i0.push_back(m->grad0.data());
              i1.push_back(m->grad1.data());
            }
            std::vector<float> h0(size_t(all * wide)), h1;
            gatherGroupRows(h0.data(), wide, rows, grp.order, i0);
            k.copyToDevice(d0.data(), h0.data(), h0.size() * sizeof(float));
            if (entropy) {
              h1.resize(h0.size());
              gatherGroupRows(h1.data(), wide, rows, grp.order, i1);
              k.copyToDevice(d1.data(), h1.data(), h1.size() * sizeof(float));
            }
          }
          OutputGrads<float> g;
          if (r.what == "logprob" || r.what == "logprob+entropy")
            g.dlogprob = d0.data();
          else if (r.what == "value")
            g.dvalue = d0.data();
          else
            g.dreward = d0.data();
          if (r.what == "logprob+entropy")
            g.dentropy = d1.data();
          check(j, loc, tm.backward(g));
        }
      }
      // Run by phase: the phase's models free their activations (the plan
      // gives a later phase's the same bytes); a later read runs its own
      // forward.
      if (nPhases > 1)
        for (int i = 0; i < n_models; ++i)
          if (phaseOf[size_t(i)] == phase) {
            ms[size_t(i)]->model->releaseActivations();
            ms[size_t(i)]->keptTokens = nullptr;
          }
    }
    if (skipped)
      break;
    if (j->comm.size > 1) // data parallel: the ranks' mean gradient
      for (ModelObj *m : ms) {
        float *g = m->model->trainableGrad();
        size_t n = size_t(m->model->numTrainable());
        j->comm.sum(g, n);
        const float inv = 1.0f / float(j->comm.size);
        for (size_t i = 0; i < n; ++i)
          g[i] *= inv;
      }
    // Each model's sum of squares, read once: the finite check here and
    // its optimiser's norm (AdamW::step) use the same value.
    double sq = 0;
    std::vector<double> sqs(ms.size());
    for (size_t i = 0; i < ms.size(); ++i) {
      ModelObj *m = ms[i];
      sqs[i] = m->model->kernels().sumSquares(m->model->trainableGrad(),
                                               m->model->numTrainable());
      sq += sqs[i];
    }
    if (!std::isfinite(sq)) {
      skipped = true;
      why = "non-finite gradient";
      break;
    }
    // Offloaded moments (hone-plan-memory's decision 5) are planned at the
    // update alone: in a stage that frees its work buffers at each step's
    // end the step's activations go first (the plan ends them at the last
    // phase; the next forward leases them again), and each update reads
    // its model's moments back into their slot and writes them out after.
    bool offloading = false;
    for (ModelObj *m : ms)
      offloading |= m->opt->offloaded();
    if (offloading && j->memory.releasesAtStepEnd(j->stageName))
      for (ModelObj *m : ms) {
        m->model->releaseActivations();
        m->keptTokens = nullptr;
      }
    for (size_t i = 0; i < ms.size(); ++i) {
      // The learning rate of this stage step for every update in it
      // (runtime/model/Optimizer.h): the schedule spans the stage's steps
      // whatever the epochs and mini-batches (before, PPO's 4 epochs
      // ended its linear decay at a quarter of the stage).
      if (ms[i]->opt->offloaded())
        check(j, loc, ms[i]->opt->fetch());
      auto s = ms[i]->opt->step(false, j->job->stageStepsDone() + 1,
                                sqs[i]);
      if (ms[i]->opt->offloaded())
        check(j, loc, ms[i]->opt->evict());
      if (!s) {
        skipped = true;
        why = s.status().message();
        break;
      }
      if (i == 0 && ep == 0 && u == 0)
        st0 = *s;
    }
  }
  // Offloaded moments still resident (an update that failed) go back.
  for (ModelObj *m : ms)
    if (m->opt->offloaded())
      check(j, loc, m->opt->evict());
  if (skipped) {
    for (ModelObj *m : ms)
      m->model->zeroGrad();
    if (j->abortOnNan)
      fail(j, loc, "hone.train_step: " + why + " at step " +
                       std::to_string(stepNo) +
                       " (on_nan = abort); the run stops without exporting");
    if (j->rollback && !j->nanSteps.count(stepNo))
      rollbackAndRestart(j, loc, stepNo, why);
    warn(j, j->stageName + ": step " + std::to_string(stepNo) +
                " skipped: " + why +
                (j->nanSteps.count(stepNo) ? " (again, after the rollback)"
                                           : ""));
    addMetric(c, "skipped", 1);
    checkSkipLimits(j, loc, stepNo, why);
  } else {
    j->skippedInARow = 0;
  }
  double loss = lossSum / double(epochs * updates);
  wr(out[0], 0, loss);
  addMetric(c, "loss", loss);
  addMetric(c, "grad_norm", skipped ? NAN : st0.gradNorm);
  addMetric(c, "learning_rate", st0.lr);
  for (int i = 1; i < n_out; ++i) {
    double v = metricSums[size_t(i - 1)] / double(epochs * updates);
    wr(out[i], 0, v);
    addMetric(c,
              metricNames.empty() ? "metric" + std::to_string(i - 1)
                                  : metricNames[size_t(i - 1)],
              v);
  }
  addTokens(j, tokens, /*onlyIfNone=*/true);
}

} // namespace hone::ops
