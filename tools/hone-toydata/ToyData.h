// Toy tasks with verifiable answers for examples and tests: multi-digit
// addition and multiplication, sorting and parity, generated from a seed,
// with varied prompt templates and in-distribution / out-of-distribution
// (harder: more digits, longer lists) splits. Every character they write is
// in toyVocabulary(), so a character tokenizer over it covers the data.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hone::toydata {

enum class ToyTask { Addition, Multiplication, Sorting, Parity };

Expected<ToyTask> toyTaskFromName(std::string_view name);
const char *toyTaskName(ToyTask t);

struct ToyOptions {
  ToyTask task = ToyTask::Addition;
  /// Operand digits (addition, multiplication), list length (sorting), bit
  /// count (parity): drawn uniformly from [minSize, maxSize].
  int minSize = 1;
  int maxSize = 3;
  uint64_t seed = 0;
  /// Use only the first template (a "frozen" prompt) instead of varying.
  bool singleTemplate = false;
  /// Parity: write the running parity as worked steps in the completion.
  bool workedSteps = false;
};

struct ToyExample {
  std::string prompt;
  std::string answer;     // the reference answer ("579")
  std::string completion; // what SFT trains on (answer, or steps + answer)
};

/// Example `index` of the stream (a pure function of options and index).
ToyExample toyExample(const ToyOptions &opts, uint64_t index);

/// The characters toy tasks use (digits, lowercase letters, punctuation,
/// space), without special tokens.
std::string toyVocabulary();
/// Special tokens of the toy character tokenizer: "<pad>" (id 0) and
/// "<eos>" (id 1).
std::vector<std::string> toySpecialTokens();

/// {"prompt", "answer"} (layout prompt_answer) or {"prompt", "completion"}
/// (prompt_completion).
json::Value toyRecord(const ToyExample &e, bool promptCompletion);

} // namespace hone::toydata
