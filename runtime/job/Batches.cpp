#include "runtime/job/Batches.h"

#include "runtime/base/Philox.h"
#include "runtime/data/HeldBytes.h"

#include <algorithm>
#include <numeric>

namespace hone::job {

double SeqBatch::maskedTokens() const {
  double s = 0;
  for (float m : mask)
    s += m;
  return s;
}

Expected<SeqBatch> SeqBatch::fromSequences(const std::vector<Sequence> &seqs,
                                           int32_t padToken) {
  SeqBatch b;
  b.batch = int64_t(seqs.size());
  if (b.batch == 0)
    return Status::error("error: batches: empty batch");
  for (const Sequence &s : seqs) {
    if (s.ids.empty())
      return Status::error("error: batches: empty sequence");
    b.seqLen = std::max<int64_t>(b.seqLen, int64_t(s.ids.size()));
  }
  b.tokens.assign(size_t(b.batch * b.seqLen), padToken);
  b.mask.assign(size_t(b.batch * b.seqLen), 0.f);
  b.lengths.resize(size_t(b.batch));
  for (int64_t r = 0; r < b.batch; ++r) {
    const Sequence &s = seqs[size_t(r)];
    b.lengths[size_t(r)] = int32_t(s.ids.size());
    for (size_t t = 0; t < s.ids.size(); ++t) {
      b.tokens[size_t(r * b.seqLen) + t] = s.ids[t];
      b.mask[size_t(r * b.seqLen) + t] = t > 0 && s.mask[t] ? 1.f : 0.f;
    }
  }
  return b;
}

// --- DataLoader ------------------------------------------------------------

Expected<DataLoader> DataLoader::build(DatasetReader reader, JsonlReader raw,
                                       uint64_t seed, bool shuffle,
                                       size_t records) {
  DataLoader d;
  d.seed_ = seed;
  d.shuffle_ = shuffle;
  d.path_ = raw.name();
  // The arrays exactly as long as the records (JsonlReader::countRecords),
  // and each record's strings and arrays exactly as long as their contents
  // (shrinkHeld, as read): what the memory plan counts
  // (runtime/data/HeldBytes.h). Growth by doubling would leave up to half
  // the array unused, and a copy of everything at the end (as this did)
  // held every record twice at once: 2.9 GiB against a plan of 1.9 GiB for
  // a 291 MB file of 1.5 million records.
  d.examples_.reserve(records);
  d.records_.reserve(records);
  Example ex;
  JsonlRecord rec;
  for (;;) {
    auto more = reader.next(ex);
    if (!more)
      return more.status();
    if (!*more)
      break;
    // the raw record of the same line (blank lines are skipped by both)
    for (;;) {
      auto r = raw.next(rec);
      if (!r)
        return r.status();
      if (!*r)
        return Status::error(raw.name() + ": error: record stream ended early");
      if (rec.line == ex.line)
        break;
    }
    shrinkHeld(ex);
    shrinkHeld(rec.value);
    d.examples_.push_back(std::move(ex));
    d.records_.push_back(std::move(rec.value));
    ex = Example();
  }
  d.info_ = reader.info();
  if (d.examples_.empty())
    return Status::error(raw.name() + ": error: dataset has no records");
  // A file that changed between the count and the read: exact again (the
  // elements move, their strings stay where they are).
  d.examples_.shrink_to_fit();
  d.records_.shrink_to_fit();
  d.order_.resize(d.examples_.size());
  return d;
}

Expected<DataLoader> DataLoader::open(const std::string &path,
                                      std::optional<DatasetLayout> layout,
                                      uint64_t seed, bool shuffle) {
  auto r = DatasetReader::open(path, layout);
  if (!r)
    return r.status();
  auto raw = JsonlReader::open(path);
  if (!raw)
    return raw.status();
  auto records = JsonlReader::countRecords(path);
  if (!records)
    return records.status();
  return build(r.take(), raw.take(), seed, shuffle, *records);
}

Expected<DataLoader> DataLoader::open(const std::string &path,
                                      const DatasetOptions &options,
                                      uint64_t seed, bool shuffle) {
  auto r = DatasetReader::open(path, options);
  if (!r)
    return r.status();
  auto raw = JsonlReader::open(path);
  if (!raw)
    return raw.status();
  auto records = JsonlReader::countRecords(path);
  if (!records)
    return records.status();
  return build(r.take(), raw.take(), seed, shuffle, *records);
}

void DataLoader::keepFirst(size_t n) {
  if (n >= examples_.size())
    return;
  examples_.resize(n);
  records_.resize(n);
  order_.resize(n);
  examples_.shrink_to_fit(); // the bytes of the records dropped go back
  records_.shrink_to_fit();
  order_.shrink_to_fit();
  permEpoch_ = ~uint64_t(0);
  cursor_ = Cursor();
}

DataLoader DataLoader::splitTail(size_t n) {
  n = std::min(n, examples_.size());
  size_t keep = examples_.size() - n;
  DataLoader tail;
  tail.info_ = info_;
  tail.path_ = path_;
  tail.shuffle_ = false;
  tail.examples_.assign(std::make_move_iterator(examples_.begin() + long(keep)),
                        std::make_move_iterator(examples_.end()));
  tail.records_.assign(std::make_move_iterator(records_.begin() + long(keep)),
                       std::make_move_iterator(records_.end()));
  tail.order_.resize(tail.examples_.size());
  keepFirst(keep);
  return tail;
}

Expected<DataLoader> DataLoader::fromJsonl(const std::string &name,
                                           const std::string &contents,
                                           uint64_t seed, bool shuffle) {
  auto r = DatasetReader::fromJsonl(JsonlReader::fromString(name, contents));
  if (!r)
    return r.status();
  // Not counted first (test data): the arrays grow, then shrink to fit.
  return build(r.take(), JsonlReader::fromString(name, contents), seed,
               shuffle, 0);
}

void DataLoader::permute() {
  if (permEpoch_ == cursor_.epoch)
    return;
  std::iota(order_.begin(), order_.end(), size_t(0));
  if (shuffle_) {
    // Fisher-Yates with draws from Philox(seed, epoch)
    PhiloxStream s(seed_, uint32_t(cursor_.epoch), 0,
                   uint32_t(cursor_.epoch >> 32));
    for (size_t i = order_.size(); i > 1; --i) {
      PhiloxCounter b = s.block(uint32_t(i));
      uint64_t v = (uint64_t(b[0]) << 32) | b[1];
      std::swap(order_[i - 1], order_[size_t(v % i)]);
    }
  }
  permEpoch_ = cursor_.epoch;
}

std::vector<size_t> DataLoader::take(size_t n) {
  std::vector<size_t> out;
  out.reserve(n);
  while (out.size() < n) {
    if (cursor_.index >= examples_.size()) {
      cursor_.index = 0;
      ++cursor_.epoch;
    }
    permute();
    out.push_back(order_[size_t(cursor_.index++)]);
  }
  return out;
}

void DataLoader::setCursor(Cursor c) { cursor_ = c; }

json::Value DataLoader::cursorJson() const {
  json::Value v = json::Value::object();
  v.set("epoch", int64_t(cursor_.epoch));
  v.set("index", int64_t(cursor_.index));
  v.set("records", int64_t(examples_.size()));
  return v;
}

Status DataLoader::setCursorJson(const json::Value &v) {
  const json::Value *e = v.find("epoch"), *i = v.find("index"),
                    *n = v.find("records");
  if (!e || !i || !e->isInt() || !i->isInt() || e->asInt() < 0 ||
      i->asInt() < 0)
    return Status::error("error: data cursor: expected {epoch, index}");
  if (n && n->isInt() && size_t(n->asInt()) != examples_.size())
    return Status::error("error: data cursor: the dataset has " +
                             std::to_string(examples_.size()) +
                             " records, the checkpoint was taken with " +
                             std::to_string(n->asInt()),
                         "resume with the dataset the run started with");
  cursor_ = {uint64_t(e->asInt()), uint64_t(i->asInt())};
  return Status::ok();
}

// --- batch builders --------------------------------------------------------

Expected<SeqBatch> makeSftBatch(const TextFormat &fmt, const DataLoader &data,
                                const std::vector<size_t> &indices) {
  std::vector<Sequence> seqs;
  for (size_t i : indices) {
    auto s = tokenizeExample(fmt, data.example(i));
    if (!s)
      return s.status();
    seqs.push_back(s.take());
  }
  return SeqBatch::fromSequences(seqs, fmt.padToken);
}

Expected<PromptBatch> makePromptBatch(const TextFormat &fmt,
                                      const DataLoader &data,
                                      const std::vector<size_t> &indices,
                                      int64_t groupSize) {
  if (groupSize <= 0)
    return Status::error("error: batches: group size must be positive");
  PromptBatch b;
  b.numPrompts = int64_t(indices.size());
  b.groupSize = groupSize;
  for (size_t i : indices) {
    const Example &ex = data.example(i);
    auto p = tokenizePrompt(fmt, ex);
    if (!p)
      return p.status();
    std::string answer = data.info().layout == DatasetLayout::PromptAnswer
                             ? ex.answer
                             : ex.completion;
    for (int64_t g = 0; g < groupSize; ++g) {
      b.prompts.push_back(*p);
      b.promptText.push_back(ex.prompt);
      b.answers.push_back(answer);
      b.records.push_back(data.record(i));
    }
  }
  return b;
}

Expected<PreferenceBatch> makePreferenceBatch(const TextFormat &fmt,
                                              const DataLoader &data,
                                              const std::vector<size_t> &idx) {
  std::vector<Sequence> chosen, rejected;
  for (size_t i : idx) {
    const Example &ex = data.example(i);
    auto c = tokenizePair(fmt, ex, ex.chosen, ex.chosenMessages);
    if (!c)
      return c.status();
    auto r = tokenizePair(fmt, ex, ex.rejected, ex.rejectedMessages);
    if (!r)
      return r.status();
    chosen.push_back(c.take());
    rejected.push_back(r.take());
  }
  chosen.insert(chosen.end(), rejected.begin(), rejected.end());
  auto sb = SeqBatch::fromSequences(chosen, fmt.padToken);
  if (!sb)
    return sb.status();
  PreferenceBatch b;
  b.pairs = int64_t(idx.size());
  b.seqs = sb.take();
  return b;
}

Expected<KtoBatch> makeKtoBatch(const TextFormat &fmt, const DataLoader &data,
                                const std::vector<size_t> &indices) {
  std::vector<Sequence> seqs;
  KtoBatch b;
  for (size_t i : indices) {
    const Example &ex = data.example(i);
    auto s = tokenizePair(fmt, ex, ex.completion, ex.completionMessages);
    if (!s)
      return s.status();
    seqs.push_back(s.take());
    b.labels.push_back(ex.label ? 1.f : 0.f);
  }
  auto sb = SeqBatch::fromSequences(seqs, fmt.padToken);
  if (!sb)
    return sb.status();
  b.seqs = sb.take();
  return b;
}

} // namespace hone::job
