// Data ops: hone.data.next and hone.data.fetch, which tokenize the dataset's
// rows into right-padded [B, T] tokens and loss masks.
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

namespace {

// Writes right-padded sequences into [B,T] tokens and mask tensors.
void putSeqs(hone_job *j, const std::vector<Sequence> &seqs, hone_tensor &tok,
             hone_tensor &mask) {
  int64_t T = tok.shape[1];
  auto *tp = static_cast<int32_t *>(tok.data);
  for (size_t b = 0; b < seqs.size(); ++b)
    for (int64_t t = 0; t < T; ++t) {
      bool in = t < int64_t(seqs[b].ids.size());
      tp[int64_t(b) * T + t] = in ? seqs[b].ids[size_t(t)] : j->fmt.padToken;
      wr(mask, int64_t(b) * T + t, in ? double(seqs[b].mask[size_t(t)]) : 0.0);
    }
}

/// A record that cannot be tokenized, at the record: "FILE:LINE: WHAT".
[[noreturn]] void recordErr(const OpCtx &c, const DataLoader &dl,
                            const Example &ex, const Status &s) {
  std::string m = s.message();
  c.err(dl.where(ex) + ": " + (m.rfind("error: ", 0) == 0 ? m.substr(7) : m));
}

/// A data.next / data.fetch op's masks: an SFT stage's spec settings, true
/// for both in preference and RL stages; always sent (runtime/abi/step_ops.inl).
template <typename A> LossMasks masksOf(const A &a) {
  return {a.completion_only_loss, a.assistant_only_loss};
}

} // namespace

Sequence seqOf(hone_job *j, const OpCtx &c, const DataLoader &dl,
               const Example &ex, int64_t T, LossMasks masks) {
  TextFormat f = j->fmt;
  f.maxSeqLen = T;
  f.completionOnlyLoss = masks.completionOnly;
  f.assistantOnlyLoss = masks.assistantOnly;
  auto s = tokenizeExample(f, ex);
  if (!s)
    recordErr(c, dl, ex, s.status());
  Sequence q = s.take();
  if (int64_t(q.ids.size()) > T) {
    q.ids.resize(size_t(T));
    q.mask.resize(size_t(T));
  }
  return q;
}

std::pair<Sequence, Sequence> pairOf(hone_job *j, const OpCtx &c,
                                     const DataLoader &dl, const Example &ex,
                                     int64_t T) {
  TextFormat f = j->fmt;
  f.maxSeqLen = T;
  auto a = tokenizePair(f, ex, ex.chosen, ex.chosenMessages);
  auto b = tokenizePair(f, ex, ex.rejected, ex.rejectedMessages);
  if (!a || !b)
    recordErr(c, dl, ex, !a ? a.status() : b.status());
  std::pair<Sequence, Sequence> r{a.take(), b.take()};
  for (Sequence *s : {&r.first, &r.second})
    if (int64_t(s->ids.size()) > T) {
      s->ids.resize(size_t(T));
      s->mask.resize(size_t(T));
    }
  return r;
}

namespace {

/// Whether a row keeps a trainable token after truncation (the first token
/// is never predicted).
bool trainable(const Sequence &s) {
  for (size_t t = 1; t < s.mask.size(); ++t)
    if (s.mask[t] > 0)
      return true;
  return false;
}

/// Rows that train nothing after truncation to T tokens (an SFT row with an
/// empty mask; a preference pair with either side empty, whose loss would
/// then see only the other side; a KTO row with an empty mask) are counted
/// for the stage's end. A first batch with no trainable row at all ends
/// the job, which would otherwise train on nothing with loss 0 (DPO:
/// log 2, gradient 0) and exit 0.
void countUntrained(const OpCtx &c, DatasetObj &d,
                    const std::vector<size_t> &idx,
                    const std::vector<bool> &trained, int64_t T,
                    const char *what) {
  int64_t none = 0;
  for (size_t k = 0; k < trained.size(); ++k) {
    if (trained[k])
      continue;
    ++none;
    if (d.rowsUntrained++ == 0)
      d.firstUntrainedLine = d.data->example(idx[k]).line;
  }
  bool first = d.rowsRead == 0;
  d.rowsRead += int64_t(trained.size());
  d.untrainedPairs = std::string(what) == "pair";
  if (first && none == int64_t(trained.size()) && none > 0)
    c.err(d.path + ":" + std::to_string(d.firstUntrainedLine) + ": no " + what +
          " of the first batch (" + std::to_string(none) +
          ") has a trainable token within " + std::to_string(T) +
          " tokens: the prompts fill the sequence (hint: raise max_seq_len "
          "or max_length, or shorten the prompts)");
}

/// This rank's share of the next `n * ranks` rows: every rank's cursor moves
/// alike and each takes its own consecutive `n`.
std::vector<size_t> takeRows(hone_job *j, DataLoader &dl, size_t n) {
  std::vector<size_t> all = dl.take(n * size_t(j->comm.size));
  if (j->comm.size == 1)
    return all;
  auto first = all.begin() + std::ptrdiff_t(n) * j->comm.rank;
  return std::vector<size_t>(first, first + std::ptrdiff_t(n));
}

} // namespace

void opDataNext(OpCtx &c) {
  hone_job *j = c.j;
  auto *d = c.obj<DatasetObj>(0, ObjKind::Dataset, "dataset");
  c.counts(1, 1, 1, 1, 3, 6);
  c.input(0, "step", HONE_I64, 0);
  const auto a = c.typed<abi::OpId::data_next>();
  const std::string &part = a.part;
  DataLoader &dl = *d->data;
  auto ids = [&](int i, const std::vector<size_t> &idx) {
    hone_tensor &t = c.out[i];
    c.output(i, "ids", HONE_I64, 1, int64_t(idx.size()));
    for (size_t k = 0; k < idx.size(); ++k)
      wr(t, int64_t(k), double((d->index << kIdShift) | int64_t(idx[k])));
  };
  if (part == "sequences") {
    if (c.nOut != 3)
      c.err("part sequences yields 3 results");
    const hone_tensor &tok = c.output(0, "tokens", HONE_I32, 2);
    int64_t B = tok.shape[0], T = tok.shape[1];
    c.output(1, "mask", -1, 2, B, T);
    c.output(2, "ids", HONE_I64, 1, B);
    auto idx = takeRows(j, dl, size_t(B));
    std::vector<Sequence> seqs;
    for (size_t i : idx)
      seqs.push_back(seqOf(j, c, dl, dl.example(i), T, masksOf(a)));
    std::vector<bool> trained;
    for (const Sequence &q : seqs)
      trained.push_back(trainable(q));
    countUntrained(c, *d, idx, trained, T, "row");
    putSeqs(j, seqs, c.out[0], c.out[1]);
    ids(2, idx);
  } else if (part == "prompts") {
    if (c.nOut != 3)
      c.err("part prompts yields 3 results");
    const hone_tensor &tok = c.output(0, "prompt tokens", HONE_I32, 2);
    int64_t P = tok.shape[0], T = tok.shape[1];
    c.output(1, "prompt mask", -1, 2, P, T);
    c.output(2, "ids", HONE_I64, 1, P);
    auto idx = takeRows(j, dl, size_t(P));
    auto *tp = static_cast<int32_t *>(c.out[0].data);
    for (size_t k = 0; k < idx.size(); ++k) {
      auto p = tokenizePrompt(j->fmt, dl.example(idx[k]));
      if (!p)
        recordErr(c, dl, dl.example(idx[k]), p.status());
      std::vector<int32_t> ids = p.take();
      if (int64_t(ids.size()) > T) // keep the end of an over-long prompt
        ids.erase(ids.begin(), ids.end() - T);
      int64_t off = T - int64_t(ids.size()); // left-padded
      for (int64_t t = 0; t < T; ++t) {
        bool in = t >= off;
        tp[int64_t(k) * T + t] = in ? ids[size_t(t - off)] : j->fmt.padToken;
        wr(c.out[1], int64_t(k) * T + t, in ? 1.0 : 0.0);
      }
    }
    ids(2, idx);
  } else if (part == "pairs") {
    if (c.nOut != 5)
      c.err("part pairs yields 5 results");
    const hone_tensor &tok = c.output(0, "chosen tokens", HONE_I32, 2);
    int64_t B = tok.shape[0], T = tok.shape[1];
    c.output(1, "chosen mask", -1, 2, B, T);
    c.output(2, "rejected tokens", HONE_I32, 2, B, T);
    c.output(3, "rejected mask", -1, 2, B, T);
    c.output(4, "ids", HONE_I64, 1, B);
    auto idx = takeRows(j, dl, size_t(B));
    std::vector<Sequence> ch, rj;
    for (size_t i : idx) {
      auto [a, b] = pairOf(j, c, dl, dl.example(i), T);
      ch.push_back(std::move(a));
      rj.push_back(std::move(b));
    }
    std::vector<bool> trained;
    for (size_t k = 0; k < ch.size(); ++k)
      trained.push_back(trainable(ch[k]) && trainable(rj[k]));
    countUntrained(c, *d, idx, trained, T, "pair");
    putSeqs(j, ch, c.out[0], c.out[1]);
    putSeqs(j, rj, c.out[2], c.out[3]);
    ids(4, idx);
  } else if (part == "labelled") {
    if (c.nOut != 6)
      c.err("part labelled yields 6 results");
    const hone_tensor &tok = c.output(0, "tokens", HONE_I32, 2);
    int64_t B = tok.shape[0], T = tok.shape[1];
    c.output(1, "mask", -1, 2, B, T);
    c.output(2, "label", -1, 1, B);
    c.output(3, "mismatched tokens", HONE_I32, 2, B, T);
    c.output(4, "mismatched mask", -1, 2, B, T);
    c.output(5, "ids", HONE_I64, 1, B);
    auto idx = takeRows(j, dl, size_t(B));
    std::vector<Sequence> s, mm;
    TextFormat f = j->fmt;
    f.maxSeqLen = T;
    for (size_t k = 0; k < idx.size(); ++k) {
      const Example &ex = dl.example(idx[k]);
      const Example &nx = dl.example(idx[(k + 1) % idx.size()]);
      s.push_back(seqOf(j, c, dl, ex, T, masksOf(a)));
      auto m = tokenizePair(f, ex, nx.completion, nx.completionMessages);
      if (!m)
        recordErr(c, dl, nx, m.status());
      Sequence q = m.take();
      if (int64_t(q.ids.size()) > T) {
        q.ids.resize(size_t(T));
        q.mask.resize(size_t(T));
      }
      mm.push_back(q);
      wr(c.out[2], int64_t(k), ex.label ? 1.0 : 0.0);
    }
    std::vector<bool> trained;
    for (const Sequence &q : s)
      trained.push_back(trainable(q));
    countUntrained(c, *d, idx, trained, T, "row");
    putSeqs(j, s, c.out[0], c.out[1]);
    putSeqs(j, mm, c.out[3], c.out[4]);
    ids(5, idx);
  } else {
    c.err("unknown part '" + part + "' (sequences, prompts, pairs, labelled)");
  }
}

void opDataFetch(OpCtx &c) {
  auto *d = c.obj<DatasetObj>(0, ObjKind::Dataset, "dataset");
  c.counts(1, 1, 1, 1, 2, 2);
  const hone_tensor &ids = c.input(0, "ids", HONE_I64, 1);
  int64_t n = ids.shape[0];
  const hone_tensor &tok = c.output(0, "tokens", HONE_I32, 2, n);
  c.output(1, "mask", -1, 2, n, tok.shape[1]);
  const auto a = c.typed<abi::OpId::data_fetch>();
  std::vector<Sequence> seqs;
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = i64At(ids, i) & kIdMask; // aligned datasets: same record
    if (i64At(ids, i) < 0 || r >= int64_t(d->data->size()))
      c.err("record id " + std::to_string(i64At(ids, i)) + " out of range");
    seqs.push_back(
        seqOf(c.j, c, *d->data, d->data->example(size_t(r)), tok.shape[1],
              masksOf(a)));
  }
  putSeqs(c.j, seqs, c.out[0], c.out[1]);
}

/// hone.reference_rows: the batch's rows of a hone.reference_table.
void opReferenceRows(OpCtx &c) {
  c.counts(0, 0, 2, 2, 2, 2);
  const hone_tensor &table = c.input(0, "table", -1, 2);
  const hone_tensor &ids = c.input(1, "ids", HONE_I64, 1);
  int64_t N = table.shape[0], B = ids.shape[0];
  if (table.shape[1] != 2)
    c.err("the table is [N, 2], got [" + std::to_string(N) + ", " +
          std::to_string(table.shape[1]) + "]");
  c.output(0, "chosen", -1, 1, B);
  c.output(1, "rejected", -1, 1, B);
  for (int64_t b = 0; b < B; ++b) {
    int64_t id = i64At(ids, b), r = id & kIdMask;
    if (id < 0 || r >= N)
      c.err("record id " + std::to_string(id) + " past the table's " +
            std::to_string(N) + " rows");
    wr(c.out[0], b, rd(table, 2 * r));
    wr(c.out[1], b, rd(table, 2 * r + 1));
  }
}

} // namespace hone::ops
