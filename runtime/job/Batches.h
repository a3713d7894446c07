// Training batches from datasets: a shuffled, resumable record stream
// (DataLoader) and the batch builders of each stage kind.
//
// Masks are token-aligned with Transformer's log-prob convention
// (logprob[b,t] = log p(tokens[b,t] | tokens[b,<t])): mask[b,t] = 1 when the
// prediction of token t is trained on, so a loss is sum(mask * logprob).
// Position 0 is never masked in (nothing predicts it).
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/Sequences.h"
#include "runtime/model/Transformer.h"
#include "runtime/tokenizer/ChatTemplate.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hone::job {

/// A right-padded batch [batch, seqLen] with a float mask of the same shape.
struct SeqBatch {
  int64_t batch = 0;
  int64_t seqLen = 0;
  std::vector<int32_t> tokens;
  std::vector<int32_t> lengths;
  std::vector<float> mask;
  TokenBatch view() const {
    return {batch, seqLen, tokens.data(), lengths.data()};
  }
  /// Sum of the mask.
  double maskedTokens() const;
  /// Builds from sequences (seqLen = longest; every sequence non-empty).
  static Expected<SeqBatch> fromSequences(const std::vector<Sequence> &seqs,
                                          int32_t padToken);
};

/// RL prompts: row r is prompt r / groupSize (each prompt repeated
/// groupSize times, consecutively).
struct PromptBatch {
  int64_t numPrompts = 0;
  int64_t groupSize = 1;
  std::vector<std::vector<int32_t>> prompts; // numPrompts*groupSize rows
  std::vector<std::string> promptText;       // per row
  std::vector<std::string> answers;          // per row ("" when none)
  std::vector<json::Value> records;          // per row, the full record
};

/// Preference pairs as one batch: rows [0, n) chosen, [n, 2n) rejected.
struct PreferenceBatch {
  int64_t pairs = 0;
  SeqBatch seqs;
};

/// KTO: completions with their desirability labels.
struct KtoBatch {
  SeqBatch seqs;
  std::vector<float> labels; // 1 desirable, 0 undesirable
};

/// A dataset held in memory with a deterministic shuffled order: epoch e
/// visits the records in a permutation drawn from Philox(seed, e); the
/// cursor (epoch, index) is all that resuming needs. Epochs wrap.
class DataLoader {
public:
  static Expected<DataLoader>
  open(const std::string &path,
       std::optional<DatasetLayout> layout = std::nullopt,
       uint64_t seed = 0, bool shuffle = true);
  /// With the spec's column names (and an imposed layout, if any).
  static Expected<DataLoader> open(const std::string &path,
                                   const DatasetOptions &options,
                                   uint64_t seed, bool shuffle);
  /// From records already read (tests).
  static Expected<DataLoader> fromJsonl(const std::string &name,
                                        const std::string &contents,
                                        uint64_t seed = 0, bool shuffle = true);

  struct Cursor {
    uint64_t epoch = 0;
    uint64_t index = 0;
  };

  size_t size() const { return examples_.size(); }
  const DatasetInfo &info() const { return info_; }
  const Example &example(size_t i) const { return examples_[i]; }
  /// The record as read (every column, for external reward processes).
  const json::Value &record(size_t i) const { return records_[i]; }
  /// "FILE:LINE" of a record, for messages about it.
  std::string where(const Example &ex) const {
    return path_ + ":" + std::to_string(ex.line);
  }

  /// Keeps the first n records (file order).
  void keepFirst(size_t n);
  /// Moves the last n records (file order) into an unshuffled loader of
  /// their own (an evaluation split); this one keeps the rest.
  DataLoader splitTail(size_t n);

  /// Indices of the next n records, advancing the cursor.
  std::vector<size_t> take(size_t n);
  Cursor cursor() const { return cursor_; }
  void setCursor(Cursor c);
  json::Value cursorJson() const;
  Status setCursorJson(const json::Value &v);

private:
  DataLoader() = default;
  /// `records`: how many the file holds (JsonlReader::countRecords), for
  /// arrays of exactly that length.
  static Expected<DataLoader> build(DatasetReader reader, JsonlReader raw,
                                    uint64_t seed, bool shuffle,
                                    size_t records);
  void permute();

  DatasetInfo info_;
  std::string path_;
  std::vector<Example> examples_;
  std::vector<json::Value> records_;
  std::vector<size_t> order_;
  uint64_t seed_ = 0;
  bool shuffle_ = true;
  Cursor cursor_;
  uint64_t permEpoch_ = ~uint64_t(0);
};

Expected<SeqBatch> makeSftBatch(const TextFormat &fmt, const DataLoader &data,
                                const std::vector<size_t> &indices);
Expected<PromptBatch> makePromptBatch(const TextFormat &fmt,
                                      const DataLoader &data,
                                      const std::vector<size_t> &indices,
                                      int64_t groupSize);
Expected<PreferenceBatch> makePreferenceBatch(const TextFormat &fmt,
                                              const DataLoader &data,
                                              const std::vector<size_t> &idx);
Expected<KtoBatch> makeKtoBatch(const TextFormat &fmt, const DataLoader &data,
                                const std::vector<size_t> &indices);

} // namespace hone::job
