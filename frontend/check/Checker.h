// The spec checker: one Checker walks a parsed spec, reports every mistake
// at the field it is about with a hint and goes on, and resolves defaults.
// Its checks live in one file per spec section (frontend/check/*.cpp:
// Models, Tokenizer, Data, Rewards, Training, Stages, Rl, Run, Limits;
// Checker.cpp holds the top level, the order of the checks and checkSpec).
#pragma once

#include "frontend/DatasetProbe.h"
#include "frontend/Defaults.h"
#include "dialect/MethodFamilies.h"
#include "dialect/SettingRanges.h"
#include "dialect/ObjectiveExpr.h"
#include "frontend/Spec.h"

#include "runtime/base/Json.h"
#include "runtime/base/Regex.h"
#include "runtime/base/Utf8.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace hone::spec::check {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

inline std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
inline std::string fmt(long v) { return std::to_string(v); }
/// Quoted input, cut to a readable length (a 10 MB name made a 10 MB
/// message line).
inline std::string q(const std::string &s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax)
    return "'" + s + "'";
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut; // not inside a UTF-8 character
  return "'" + s.substr(0, cut) + "...' (" + std::to_string(s.size()) +
         " bytes)";
}

inline bool isDir(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
inline bool isFile(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
/// What a path that exists but is not a regular file is ("" if missing).
inline std::string fileKind(const std::string &p) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0)
    return "";
  if (S_ISDIR(st.st_mode))
    return "a directory";
  if (S_ISFIFO(st.st_mode))
    return "a FIFO";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
    return "a device";
  return "not a regular file";
}

/// The characters of `s`; ok is false (and the list empty) when `s` is not
/// valid UTF-8.
inline std::vector<std::string> utf8Chars(const std::string &s, bool &ok) {
  std::vector<std::string> out;
  ok = isValidUtf8(s);
  if (!ok)
    return out;
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8SequenceLength(static_cast<unsigned char>(s[i]));
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

/// PCRE2 compile error for `pattern`, or empty: the job compiles it the same
/// way (runtime/base/Regex.h).
inline std::string regexError(const std::string &pattern) {
  size_t offset = 0;
  auto re = Regex::compile(pattern, /*jit=*/false, &offset);
  if (re)
    return {};
  return re.status().message() + " at offset " + std::to_string(offset);
}

inline const char *methodName(const Stage &s) {
  switch (s.method_case()) {
  case Stage::kSft:
    return "sft";
  case Stage::kRewardModel:
    return "reward_model";
  case Stage::kPreference:
    return "preference";
  case Stage::kRl:
    return "rl";
  case Stage::METHOD_NOT_SET:
    break;
  }
  return "stage";
}

inline bool isGroupAlgorithm(Rl::Algorithm a) {
  return methods::isGroupAlgorithm(Rl::Algorithm_Name(a));
}

/// The largest value of an integer field, by field name (0: no limit):
/// dialect/SettingRanges.def's HONE_COUNT_LIMIT rows, which the dialect's
/// verifiers read too.
inline int64_t countLimit(const std::string &field) {
  return ::hone::ranges::countLimit(field);
}

inline std::string countLimitText(int64_t v) {
  for (int b = 10; b < 63; ++b)
    if (v == int64_t(1) << b)
      return "2^" + std::to_string(b) + " = " + std::to_string(v);
  return std::to_string(v);
}

inline const char *layoutName(Dataset::Layout l) {
  return Dataset::Layout_Name(l).c_str();
}

/// What a name is bound to while the stages are walked in order.
struct Binding {
  std::string declared; // the model declaration the state descends from
  Model::Head head = Model::lm;
  SourceLoc loc; // where the name was bound
  int loraStage = -1; // the stage that added LoRA adapters, if any
};

class Checker {
public:
  Checker(LoadedSpec &spec, DiagnosticList &diags, const LoadOptions &opts)
      : spec_(spec), p_(spec.pipeline), diags_(diags), opts_(opts) {}

  bool run();

private:
  SourceLoc at(const Message &m, const char *field, int index = -1) {
    return spec_.locs.of(m, field, index);
  }
  SourceLoc at(const Message &m) { return spec_.locs.of(m); }
  void error(const SourceLoc &loc, const std::string &msg,
             const std::string &hint) {
    diags_.error(loc, msg).note("hint: " + hint);
  }
  /// `field` of `m` against its row of dialect/SettingRanges.def (the rows
  /// the dialect's verifiers read too); false after reporting a violation.
  bool range(const Message &m, const char *field);
  template <typename T>
  void positive(const Message &m, const char *field, T v,
                const std::string &hint = "") {
    if (v > 0)
      return;
    error(at(m, field), q(field) + " must be positive, got " + fmt(v),
          hint.empty() ? std::string("use a value of at least 1") : hint);
  }
  void inRange(const Message &m, const char *field, double v, double lo,
               double hi, bool hiOpen, const std::string &hint) {
    if (v >= lo && (hiOpen ? v < hi : v <= hi))
      return;
    error(at(m, field),
          q(field) + " must be in [" + fmt(lo) + ", " + fmt(hi) +
              (hiOpen ? ")" : "]") + ", got " + fmt(v),
          hint);
  }
  void unknownName(const SourceLoc &loc, const std::string &what,
                   const std::string &name,
                   const std::vector<std::string> &known,
                   const std::string &hint) {
    auto b = diags_.error(loc, "unknown " + what + " " + q(name));
    std::string best = closestMatch(name, known);
    if (!best.empty())
      b.note("did you mean " + q(best) + "?");
    else
      b.note("hint: " + hint);
  }

  /// Clears fields that only other variants use, unless the spec wrote them
  /// (then a check reports them), so the resolved spec stays minimal and
  /// loads again.
  void dropUnused(Message &m, std::initializer_list<const char *> fields) {
    for (const char *f : fields)
      if (!spec_.locs.has(m, f))
        m.GetReflection()->ClearField(
            &m, m.GetDescriptor()->FindFieldByName(f));
  }

  /// Whether double field `f` of `m` holds the default pipeline.proto
  /// declares for it.
  static bool atDeclaredDefault(const Message &m, const char *f) {
    const FieldDescriptor *fd = m.GetDescriptor()->FindFieldByName(f);
    return fd && fd->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE &&
           m.GetReflection()->GetDouble(m, fd) == fd->default_value_double();
  }

  void checkTop();
  void checkModels();
  bool checkArchitecture(Architecture &a, const Message &owner);
  bool readHfConfig(const Model &m, Architecture &arch);
  void checkTokenizer();
  bool checkTokenizerFile(const Tokenizer &t, const std::string &text);
  void checkModelChatTemplate(Tokenizer &t, const std::string &path);
  void checkTemplateKwargs(const Tokenizer &t);
  // Why the tokenizer directory's template was not taken as the default
  // (reported if conversational data needs a template).
  Status modelTemplateProblem_;
  void checkDatasets();
  void checkRewards();
  void checkOptimizer(const Optimizer &o);
  void checkLora(Stage &s, int index, const Binding *model);
  void checkGeneration(const Generation &g);
  void checkStages();
  void checkStage(Stage &s, int index);
  void checkLoop(Loop &loop, const Stage &s, const Binding *model,
                 const std::string &datasetName, int64_t longestRow);
  /// The dataset's longest rows (measured when a tokenizer was read), or
  /// unknown (-1 each).
  RowLengths lengthsOf(const std::string &dataset) const {
    auto it = lengthsOf_.find(dataset);
    return it == lengthsOf_.end() ? RowLengths() : it->second;
  }
  void checkSft(Stage &s, Sft &sft, const Binding *model);
  void checkRewardModel(Stage &s, RewardModelTraining &rm,
                        const Binding *model);
  void checkPreference(Stage &s, Preference &pref, const Binding *model);
  void checkRl(Stage &s, Rl &rl, const Binding *model);
  void checkPolicyLoss(Rl &rl, const std::string &name);
  void checkObjective(Rl &rl, const std::string &name);
  SourceLoc inString(const Message &m, const char *field, size_t pos);
  void checkGuidance(Stage &s, Rl &rl, int64_t group);
  void checkEvaluations();
  void checkRest();
  bool staysInRunDir(const Message &m, const char *field,
                     const std::string &path);
  bool checkArchitectureLimits(const Architecture &a);
  void checkParameterCount(const Architecture &a);
  void checkCountLimits(const Message &m);
  void checkBatchProducts();

  /// Resolves a model name against the current bindings.
  const Binding *model(const SourceLoc &loc, const std::string &name,
                       const std::string &role);
  /// Resolves a dataset name; returns its layout (auto_ when unknown).
  const Dataset *dataset(const SourceLoc &loc, const std::string &name);
  const Reward *reward(const SourceLoc &loc, const std::string &name);
  bool needsAnswers(const Reward &r) const {
    return r.kind_case() == Reward::kExactMatch ||
           r.kind_case() == Reward::kNumericMatch;
  }
  int64_t maxSeqOf(const Binding *b) const {
    if (!b)
      return 0;
    auto it = spec_.archOf.find(b->declared);
    return it == spec_.archOf.end() ? 0 : it->second.max_seq_len();
  }
  int64_t vocabOf(const Binding *b) const {
    if (!b)
      return 0;
    auto it = spec_.archOf.find(b->declared);
    return it == spec_.archOf.end() ? 0 : it->second.vocab();
  }
  void sameVocab(const SourceLoc &loc, const Binding *policy,
                 const Binding *other, const std::string &role);
  bool layoutFits(const SourceLoc &loc, const Dataset &d,
                  const std::vector<Dataset::Layout> &allowed,
                  const std::string &use, const std::string &hint);

  LoadedSpec &spec_;
  Pipeline &p_;
  DiagnosticList &diags_;
  LoadOptions opts_;

  std::map<std::string, const Model *> models_;
  std::map<std::string, const Dataset *> datasets_;
  std::map<std::string, const Reward *> rewards_;
  std::map<std::string, Binding> bound_;
  /// Names bound by stage outputs, with the stage index, for hints.
  std::map<std::string, int> outputs_;
  std::set<std::string> conversational_;
  int64_t tokenizerVocab_ = 0;
  /// A valid character tokenizer, which every dataset's text is checked
  /// against (cheap, unlike encoding whole datasets with a tokenizer.json).
  std::optional<::hone::Tokenizer> charTokenizer_;
  /// A valid tokenizer.json: measures the datasets' rows (lengthsOf_).
  std::optional<::hone::Tokenizer> fileTokenizer_;
  /// Datasets' longest rows, path and eval_path together (docs/compiler.md
  /// "Shapes from the data").
  std::map<std::string, RowLengths> lengthsOf_;
  std::string lastTrained_;
};

} // namespace hone::spec::check
