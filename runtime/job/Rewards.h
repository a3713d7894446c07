// Rewards: rule-based verifiers, DAPO's overlong length shaping, a learned
// reward model (scalar head read at the last token) and an external reward
// process speaking JSON lines over stdin/stdout.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Regex.h"
#include "runtime/base/Status.h"
#include "runtime/model/Transformer.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace hone::job {

/// The normalisation exact_match applies to both sides (its `strip`):
/// leading/trailing whitespace trimmed, inner whitespace runs collapsed to
/// one space, ASCII lowercased (unless `keepCase`), one trailing '.'
/// removed, and a "\boxed{X}" or "####  X" wrapper reduced to X.
std::string normalizeAnswer(std::string_view s, bool keepCase = false);
/// 1 when normalizeAnswer(completion) == normalizeAnswer(answer), else 0.
double exactMatchReward(std::string_view completion, std::string_view answer);
/// The last number in the text: optional '-', digits with optional ','
/// thousands separators and an optional fraction ("1,234.5" -> 1234.5).
std::optional<double> lastNumber(std::string_view text);
/// 1 when both texts hold a number and |x - y| <= absTol + relTol * |y|.
double numericMatchReward(std::string_view completion, std::string_view answer,
                          double absTol = 1e-6, double relTol = 0.0);
/// DAPO overlong shaping of a completion of `len` tokens: 0 up to
/// lMax - lCache, then linear ((lMax - lCache) - len) / lCache down to -1 at
/// lMax, -1 beyond.
double overlongPenalty(int64_t len, int64_t lMax, int64_t lCache);

/// A PCRE2 pattern (runtime/base/Regex.h). regex reward: 1 when it matches
/// anywhere; format reward: 1 when it matches the whole completion.
class RegexReward {
public:
  static Expected<RegexReward> compile(const std::string &pattern,
                                       bool fullMatch);
  double operator()(std::string_view text) const;
  /// The first match's group 1 (the whole match without groups); none when
  /// the pattern does not match.
  std::optional<std::string> capture(std::string_view text) const;

private:
  std::optional<Regex> re_;
  bool full_ = false;
};

/// One completion to score.
struct RewardInput {
  std::string prompt;
  std::string completion;
  std::string answer;
  int64_t completionTokens = 0;
  /// The dataset record (its other fields go to external processes).
  const json::Value *record = nullptr;
};

/// A built-in verifier by name.
struct VerifierConfig {
  enum class Kind { ExactMatch, NumericMatch, Regex, Format } kind =
      Kind::ExactMatch;
  double absTol = 1e-6, relTol = 0.0; // numeric_match
  std::string pattern;                // regex / format
  /// exact_match / numeric_match: a regex whose group 1 (else the whole
  /// match) is the answer in the completion; no match scores `onFalse`.
  std::string extract;
  bool strip = true;         // exact_match: compare normalizeAnswer forms
  bool caseSensitive = true; // exact_match
  /// The scores: correct/incorrect (exact, numeric), match/no_match (regex,
  /// format).
  double onTrue = 1.0, onFalse = 0.0;
};

class Verifier {
public:
  static Expected<Verifier> create(const VerifierConfig &cfg);
  double score(const RewardInput &in) const;

private:
  VerifierConfig cfg_;
  std::optional<RegexReward> re_, extract_;
};

/// Learned reward: a scalar-head Transformer read at the last token of each
/// row of a batch (prompt + completion), `microBatch` rows a forward (0:
/// all). `pack`: each forward runs its rows' tokens only, no padding
/// (ForwardOptions::pack): a row that finished early costs its own length,
/// not the batch's (the streamed first finished row's wait, issue 21).
Expected<std::vector<float>> rewardModelScores(Transformer<float> &rm,
                                               const TokenBatch &batch,
                                               int64_t microBatch = 0,
                                               bool pack = false);

/// An external process, started once (fork/exec, no shell) and kept. For
/// each completion it gets one line {"prompt":…, "completion":…, "answer":…,
/// <the record's other fields>} on stdin and must answer one line
/// {"reward": x} on stdout within the timeout. A process that dies, times
/// out or answers anything else is an error naming it (and is stopped);
/// nothing hangs, nothing crashes.
class ExternalReward {
public:
  /// Starts `workers` copies of the program (spec `workers`): score()
  /// sends them requests in parallel, row i to copy i mod workers, so the
  /// rewards do not depend on the count.
  static Expected<std::unique_ptr<ExternalReward>>
  start(const std::vector<std::string> &argv, int timeoutMs, int workers);
  ~ExternalReward();
  Expected<std::vector<double>> score(const std::vector<RewardInput> &inputs);
  /// One request to the first copy.
  Expected<double> scoreOne(const RewardInput &in);
  int workers() const { return 1 + int(more_.size()); }

private:
  ExternalReward() = default;
  void stop();
  std::string describe() const;
  std::string exitReason();

  std::string name_;
  pid_t pid_ = -1;
  int fd_ = -1;
  int timeoutMs_ = 0;
  std::string buf_;
  bool dead_ = false;
  std::vector<std::unique_ptr<ExternalReward>> more_; // copies 2..workers
};

} // namespace hone::job
