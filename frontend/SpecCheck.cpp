// Checking a parsed spec and resolving its defaults. Every check reports at
// the location of the field it is about and carries a hint; checks go on
// after an error so that independent problems are reported together.
#include "frontend/DatasetProbe.h"
#include "frontend/Defaults.h"
#include "dialect/MethodFamilies.h"
#include "dialect/ObjectiveExpr.h"
#include "frontend/Spec.h"

#include "runtime/support/Json.h"
#include "runtime/tokenizer/Tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace hone::spec {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
std::string fmt(long v) { return std::to_string(v); }
/// Quoted input, cut to a readable length (a 10 MB name made a 10 MB
/// message line).
std::string q(const std::string &s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax)
    return "'" + s + "'";
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut; // not inside a UTF-8 character
  return "'" + s.substr(0, cut) + "...' (" + std::to_string(s.size()) +
         " bytes)";
}

bool isDir(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool isFile(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
/// What a path that exists but is not a regular file is ("" if missing).
std::string fileKind(const std::string &p) {
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

/// Number of UTF-8 code points, or -1 when `s` is not valid UTF-8.
std::vector<std::string> utf8Chars(const std::string &s, bool &ok) {
  std::vector<std::string> out;
  ok = json::isValidUtf8(s);
  if (!ok)
    return out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

/// PCRE2 compile error for `pattern`, or empty.
std::string regexError(const std::string &pattern) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code *re = pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
      PCRE2_UTF | PCRE2_UCP, // as the job compiles it (runtime/job/Rewards.cpp)
      &code, &offset, nullptr);
  if (re) {
    pcre2_code_free(re);
    return {};
  }
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return std::string(reinterpret_cast<char *>(buf)) + " at offset " +
         std::to_string(offset);
}

const char *methodName(const Stage &s) {
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

bool isGroupAlgorithm(Rl::Algorithm a) {
  return methods::isGroupAlgorithm(Rl::Algorithm_Name(a));
}

/// The largest value of an integer field, by field name (0: no limit).
int64_t countLimit(const std::string &field) {
  static const std::map<std::string, int64_t> limits = {
      {"d_model", int64_t(1) << 16},   {"layers", 4096},
      {"heads", 4096},                 {"kv_heads", 4096},
      {"ffn", int64_t(1) << 20},       {"max_seq_len", int64_t(1) << 20},
      {"vocab", int64_t(1) << 24},     {"steps", int64_t(1) << 40},
      {"warmup_steps", int64_t(1) << 40}, {"sft_steps", int64_t(1) << 40},
      {"every_steps", int64_t(1) << 40}, {"keep_last", int64_t(1) << 20},
      {"batch_size", int64_t(1) << 20}, {"sft_batch_size", int64_t(1) << 20},
      {"buffer_size", int64_t(1) << 24}, {"grad_accum", int64_t(1) << 16},
      {"mini_batches", int64_t(1) << 16}, {"ppo_epochs", int64_t(1) << 16},
      {"max_resample_rounds", int64_t(1) << 16},
      {"staleness", int64_t(1) << 16}, {"off_policy_per_group", int64_t(1) << 16},
      {"samples_per_prompt", int64_t(1) << 16},
      {"max_length", int64_t(1) << 20}, {"cache_length", int64_t(1) << 20},
      {"max_prompt_length", int64_t(1) << 20},
      {"max_new_tokens", int64_t(1) << 20}, {"top_k", int64_t(1) << 24},
      {"workers", 1024},               {"ranks", int64_t(1) << 16},
      {"threads", 1024},               {"rollout_staleness", int64_t(1) << 16}};
  auto it = limits.find(field);
  return it == limits.end() ? 0 : it->second;
}

std::string countLimitText(int64_t v) {
  for (int b = 10; b < 63; ++b)
    if (v == int64_t(1) << b)
      return "2^" + std::to_string(b) + " = " + std::to_string(v);
  return std::to_string(v);
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
  template <typename T>
  void positive(const Message &m, const char *field, T v,
                const std::string &hint = "") {
    if (v > 0)
      return;
    error(at(m, field), q(field) + " must be positive, got " + fmt(v),
          hint.empty() ? std::string("use a value of at least 1") : hint);
  }
  template <typename T>
  void nonNegative(const Message &m, const char *field, T v,
                   const std::string &hint = "") {
    if (v >= 0)
      return;
    error(at(m, field), q(field) + " must not be negative, got " + fmt(v),
          hint.empty() ? std::string("use 0 or more") : hint);
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

//===----------------------------------------------------------------------===//
// Top level, models, tokenizer
//===----------------------------------------------------------------------===//

void Checker::checkTop() {
  SourceLoc file{spec_.path, 1, 1};
  // The pipeline's own settings (seed) as pipeline.proto declares them: the
  // job reads the resolved value (it used to fall back to 0 where the
  // schema says 42).
  fillDeclaredDefaults(p_);
  if (p_.models_size() == 0)
    error(file, "the spec declares no models",
          "add 'models { name: \"policy\" init { ... } }'");
  if (p_.stages_size() == 0)
    error(file, "the spec has no stages",
          "add 'stages { dataset: \"...\" sft { } }' (or reward_model, "
          "preference, rl)");
  if (!p_.has_tokenizer())
    error(file, "the spec has no tokenizer",
          "add 'tokenizer { chars { alphabet: \"0123456789+=\" } }' or "
          "'tokenizer { file: \"tokenizer.json\" }'");
  nonNegative(p_, "seed", p_.seed());
  if (p_.has_name()) {
    const std::string &n = p_.name();
    bool ok = !n.empty();
    for (char c : n)
      ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
            c == '-' || c == '.';
    if (!ok)
      error(at(p_, "name"), "pipeline name " + q(n) + " is not a plain name",
            "use letters, digits, '_', '-' and '.'; it names the run "
            "directory");
  } else {
    p_.set_name(defaultPipelineName(spec_.path, spec_.baseDir));
  }
  if (!p_.has_output_dir())
    p_.set_output_dir(defaultOutputDir(p_.name()));
}

void Checker::checkTokenizer() {
  if (!p_.has_tokenizer())
    return;
  Tokenizer &t = *p_.mutable_tokenizer();
  switch (t.kind_case()) {
  case Tokenizer::kChars: {
    CharVocab &cv = *t.mutable_chars();
    // The chat template's markers must be single tokens.
    std::vector<std::string> markers;
    if (t.chat_template() == Tokenizer::chatml)
      markers = {"<|im_start|>", "<|im_end|>"};
    else if (t.chat_template() == Tokenizer::llama3)
      markers = {"<|begin_of_text|>", "<|start_header_id|>",
                 "<|end_header_id|>", "<|eot_id|>"};
    if (cv.special_size() == 0) {
      cv.add_special("<pad>");
      cv.add_special("<bos>");
      cv.add_special("<eos>");
      for (const std::string &m : markers)
        cv.add_special(m);
    } else {
      for (const std::string &m : markers)
        if (std::find(cv.special().begin(), cv.special().end(), m) ==
            cv.special().end())
          error(at(t, "chat_template"),
                "the " + std::string(Tokenizer::ChatTemplate_Name(
                             t.chat_template())) +
                    " template needs the special token " + q(m) +
                    ", which the character vocabulary lacks",
                "add 'special: " + q(m) +
                    "' to 'chars', or leave 'special' out to get the "
                    "defaults and the template's markers");
    }
    bool ok = true;
    std::vector<std::string> chars = utf8Chars(cv.alphabet(), ok);
    if (!ok) {
      error(at(cv, "alphabet"), "the alphabet is not valid UTF-8",
            "write the characters as UTF-8 text");
      break;
    }
    if (chars.empty()) {
      error(at(cv, "alphabet"), "the character vocabulary is empty",
            "set 'alphabet' to every character the data uses, e.g. "
            "\"0123456789+= \"");
      break;
    }
    std::set<std::string> seen;
    for (const std::string &c : chars)
      if (!seen.insert(c).second) {
        error(at(cv, "alphabet"),
              "the alphabet has " + q(c) + " more than once",
              "each character is one token: list it once");
        break;
      }
    for (int i = 0; i < cv.special_size(); ++i) {
      if (cv.special(i).empty())
        error(at(cv, "special", i), "a special token is empty",
              "remove it or give it a name such as \"<eos>\"");
      else if (!seen.insert(cv.special(i)).second)
        error(at(cv, "special", i),
              "special token " + q(cv.special(i)) + " is listed twice",
              "list each special token once");
    }
    tokenizerVocab_ = static_cast<int64_t>(chars.size()) + cv.special_size();
    if (auto t = ::hone::Tokenizer::character(
            cv.alphabet(), {cv.special().begin(), cv.special().end()}))
      charTokenizer_.emplace(t.take());
    break;
  }
  case Tokenizer::kFile: {
    if (!opts_.checkFiles)
      break;
    std::string path = spec_.resolvePath(t.file());
    std::ifstream in(path, std::ios::binary);
    if (t.file().empty() || !in) {
      error(at(t, "file"), "tokenizer file " + q(t.file()) + " not found",
            "paths are relative to the spec's directory (" + spec_.baseDir +
                ")");
      break;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    json::ParseOptions po;
    po.sourceName = t.file();
    auto doc = json::parse(ss.str(), po);
    const json::Value *model = doc ? doc->find("model") : nullptr;
    const json::Value *vocab = model ? model->find("vocab") : nullptr;
    if (!doc || !vocab || !vocab->isObject()) {
      error(at(t, "file"),
            "tokenizer file " + q(t.file()) + " is not a tokenizer.json" +
                (doc ? std::string(" (no model.vocab object)")
                     : ": " + doc.status().message()),
            "give the Hugging Face tokenizer.json of the model");
      break;
    }
    // The runtime's own reader: what the job would refuse (an empty
    // vocabulary, a broken pre-tokenizer regex, ...) is refused here.
    if (!checkTokenizerFile(t, ss.str()))
      break;
    int64_t maxId = -1;
    for (const auto &m : vocab->members())
      if (m.second.isInt())
        maxId = std::max<int64_t>(maxId, m.second.asInt());
    if (const json::Value *added = doc->find("added_tokens"))
      for (const json::Value &a : added->items())
        if (const json::Value *id = a.find("id"); id && id->isInt())
          maxId = std::max<int64_t>(maxId, id->asInt());
    tokenizerVocab_ = maxId + 1;
    break;
  }
  case Tokenizer::KIND_NOT_SET:
    error(at(t), "the tokenizer has neither 'chars' nor 'file'",
          "add 'chars { alphabet: \"...\" }' or 'file: \"tokenizer.json\"'");
    break;
  }
}

bool Checker::checkTokenizerFile(const Tokenizer &t, const std::string &text) {
  auto tok = hone::Tokenizer::fromHfJson(text, t.file());
  if (!tok) {
    error(at(t, "file"),
          "tokenizer file " + q(t.file()) + " cannot be used: " +
              tok.status().message(),
          tok.status().hint().empty()
              ? std::string("give the Hugging Face tokenizer.json of the "
                            "model")
              : tok.status().hint());
    return false;
  }
  if (tok->vocabSize() > countLimit("vocab")) {
    error(at(t, "file"),
          "tokenizer file " + q(t.file()) + " has " +
              fmt(long(tok->vocabSize())) + " tokens, more than " +
              countLimitText(countLimit("vocab")),
          "Hone trains vocabularies of up to 2^24 tokens");
    return false;
  }
  fileTokenizer_.emplace(tok.take());
  return true;
}

bool Checker::checkArchitecture(Architecture &a, const Message &owner) {
  bool ok = true;
  size_t before = diags_.errorCount();
  for (const char *f : {"d_model", "layers", "heads"}) {
    const FieldDescriptor *fd = a.GetDescriptor()->FindFieldByName(f);
    if (!a.GetReflection()->HasField(a, fd)) {
      error(at(a), std::string("the architecture needs ") + q(f),
            "set d_model, layers and heads (e.g. d_model: 64 layers: 2 "
            "heads: 4)");
      ok = false;
    }
  }
  if (!ok)
    return false;
  positive(a, "d_model", a.d_model());
  positive(a, "layers", a.layers());
  positive(a, "heads", a.heads());
  if (!checkArchitectureLimits(a))
    return false;
  if (!a.has_kv_heads())
    a.set_kv_heads(a.heads());
  if (!a.has_vocab() && tokenizerVocab_ > 0)
    a.set_vocab(tokenizerVocab_);
  if (!a.has_ffn() && a.d_model() > 0)
    a.set_ffn(a.family() == Architecture::gpt2
                  ? 4 * a.d_model()
                  : (8 * a.d_model() / 3 + 7) / 8 * 8);
  positive(a, "kv_heads", a.kv_heads());
  positive(a, "ffn", a.ffn());
  positive(a, "max_seq_len", a.max_seq_len());
  if (a.has_vocab())
    positive(a, "vocab", a.vocab());
  if (!(a.norm_eps() > 0))
    error(at(a, "norm_eps"), "'norm_eps' must be positive, got " +
                                 fmt(a.norm_eps()),
          "the usual value is 1e-5");
  if (!(a.rope_theta() > 0))
    error(at(a, "rope_theta"),
          "'rope_theta' must be positive, got " + fmt(a.rope_theta()),
          "the usual value is 10000");
  if (diags_.errorCount() != before)
    return false;
  const int64_t headDim =
      a.has_head_dim() ? a.head_dim() : a.d_model() / a.heads();
  if (a.has_head_dim() && a.head_dim() <= 0)
    error(at(a, "head_dim"),
          "'head_dim' must be positive, got " + fmt(long(a.head_dim())),
          "leave it out for d_model / heads");
  else if (a.has_head_dim() && a.family() == Architecture::gpt2)
    error(at(a, "head_dim"), "'head_dim' applies to the llama family only",
          "gpt2 heads are d_model / heads wide: remove head_dim");
  else if (a.has_head_dim() && headDim % 2 != 0)
    error(at(a, "head_dim"),
          "the head dimension " + fmt(long(headDim)) + " is odd",
          "rotary embeddings rotate pairs of dimensions: make it even");
  else if (!a.has_head_dim() && a.d_model() % a.heads() != 0)
    error(at(a, "heads"),
          "d_model (" + fmt(long(a.d_model())) +
              ") is not a multiple of heads (" + fmt(long(a.heads())) + ")",
          "each head gets d_model / heads dimensions: pick heads dividing "
          "d_model");
  else if (a.family() == Architecture::llama && !a.has_head_dim() &&
           (a.d_model() / a.heads()) % 2 != 0)
    error(at(a, "heads"),
          "the head dimension d_model / heads = " +
              fmt(long(a.d_model() / a.heads())) + " is odd",
          "rotary embeddings rotate pairs of dimensions: make it even");
  if (a.heads() % a.kv_heads() != 0)
    error(at(a, "kv_heads"),
          "heads (" + fmt(long(a.heads())) +
              ") is not a multiple of kv_heads (" + fmt(long(a.kv_heads())) +
              ")",
          "grouped-query attention shares each key/value head among "
          "heads / kv_heads query heads");
  if (a.family() == Architecture::gpt2 && a.kv_heads() != a.heads())
    error(at(a, "kv_heads"), "gpt2 has no grouped-query attention",
          "remove kv_heads, or use family: llama");
  if (a.family() == Architecture::gpt2 && a.has_qkv_bias())
    error(at(a, "qkv_bias"), "'qkv_bias' applies to the llama family only",
          "gpt2 always has biases: remove qkv_bias");
  if (a.qk_norm() && a.family() == Architecture::gpt2)
    error(at(a, "qk_norm"), "'qk_norm' applies to the llama family only",
          "remove qk_norm, or use family: llama");
  else if (a.qk_norm() && a.qkv_bias())
    error(at(a, "qk_norm"), "'qk_norm' with 'qkv_bias' matches no supported "
                            "model (Qwen3 has no q/k/v bias)",
          "remove one of them");
  if (a.has_rope_scaling()) {
    const Architecture::RopeScaling &rs = a.rope_scaling();
    if (a.family() == Architecture::gpt2)
      error(at(a, "rope_scaling"),
            "'rope_scaling' applies to the llama family only",
            "gpt2 uses learned positions: remove rope_scaling");
    else if (!(rs.factor() > 0))
      error(at(rs, "factor"),
            "'factor' must be positive, got " + fmt(rs.factor()),
            "Llama 3.1 uses 8");
    else if (rs.type() == Architecture::RopeScaling::llama3 &&
             !(rs.low_freq_factor() > 0 &&
               rs.high_freq_factor() > rs.low_freq_factor() &&
               rs.original_max_seq_len() > 0))
      error(at(a, "rope_scaling"),
            "llama3 rope_scaling needs 0 < low_freq_factor < "
            "high_freq_factor and a positive original_max_seq_len",
            "Llama 3.1 uses 1, 4 and 8192");
  }
  if (a.family() == Architecture::gpt2 && a.has_rope_theta())
    error(at(a, "rope_theta"), "'rope_theta' applies to the llama family only",
          "gpt2 uses learned positions: remove rope_theta");
  if (!a.has_vocab()) {
    error(at(a), "the architecture needs 'vocab'",
          "set vocab to the tokenizer's vocabulary size");
  } else if (tokenizerVocab_ > 0 && a.vocab() < tokenizerVocab_) {
    error(at(a, "vocab"),
          "vocab (" + fmt(long(a.vocab())) +
              ") is smaller than the tokenizer's vocabulary (" +
              fmt(long(tokenizerVocab_)) + ")",
          "leave vocab out to take the tokenizer's size");
  }
  if (diags_.errorCount() == before)
    checkParameterCount(a);
  return diags_.errorCount() == before;
}

bool Checker::readHfConfig(const Model &m, Architecture &arch) {
  std::string dir = spec_.resolvePath(m.load());
  if (m.load().empty() || !isDir(dir)) {
    error(at(m, "load"), "model directory " + q(m.load()) + " not found",
          "paths are relative to the spec's directory (" + spec_.baseDir +
              ")");
    return false;
  }
  std::ifstream in(dir + "/config.json", std::ios::binary);
  if (!in) {
    error(at(m, "load"), "model directory " + q(m.load()) + " has no config.json",
          "give a Hugging Face model directory (config.json and "
          "model.safetensors)");
    return false;
  }
  if (!isFile(dir + "/model.safetensors") &&
      !isFile(dir + "/model.safetensors.index.json")) {
    error(at(m, "load"),
          "model directory " + q(m.load()) + " has no model.safetensors",
          "Hone reads safetensors weights (a single file or a sharded index)");
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json::ParseOptions po;
  std::string name = m.load() + "/config.json";
  po.sourceName = name;
  auto cfg = json::parse(ss.str(), po);
  if (!cfg || !cfg->isObject()) {
    error(at(m, "load"),
          "cannot read " + q(name) +
              (cfg ? std::string(": not an object")
                   : ": " + cfg.status().message()),
          "config.json must be the Hugging Face model configuration");
    return false;
  }
  auto num = [&](std::initializer_list<const char *> keys) -> const json::Value * {
    for (const char *k : keys)
      if (const json::Value *v = cfg->find(k); v && v->isNumber())
        return v;
    return nullptr;
  };
  std::string type;
  if (const json::Value *t = cfg->find("model_type"); t && t->isString())
    type = t->asString();
  if (type == "gpt2")
    arch.set_family(Architecture::gpt2);
  else if (type == "llama" || type == "qwen2" || type == "qwen3" ||
           type == "mistral")
    arch.set_family(Architecture::llama);
  else {
    error(at(m, "load"),
          "unsupported model_type " + q(type) + " in " + q(name),
          "Hone runs gpt2 and the llama family (llama, mistral, qwen2, "
          "qwen3)");
    return false;
  }
  struct Key {
    std::initializer_list<const char *> names;
    void (Architecture::*set)(int64_t);
    bool required;
  };
  Key keys[] = {
      {{"vocab_size"}, &Architecture::set_vocab, true},
      {{"hidden_size", "n_embd"}, &Architecture::set_d_model, true},
      {{"num_hidden_layers", "n_layer"}, &Architecture::set_layers, true},
      {{"num_attention_heads", "n_head"}, &Architecture::set_heads, true},
      {{"num_key_value_heads"}, &Architecture::set_kv_heads, false},
      {{"intermediate_size", "n_inner"}, &Architecture::set_ffn, false},
      {{"max_position_embeddings", "n_positions"},
       &Architecture::set_max_seq_len, false},
  };
  for (const Key &k : keys) {
    const json::Value *v = num(k.names);
    if (v && v->isInt())
      (arch.*k.set)(v->asInt());
    else if (k.required) {
      error(at(m, "load"),
            q(name) + " has no integer " + q(*k.names.begin()),
            "config.json must be the Hugging Face model configuration");
      return false;
    }
  }
  if (const json::Value *v = num({"rms_norm_eps", "layer_norm_epsilon"}))
    arch.set_norm_eps(v->asDouble());
  if (const json::Value *v = num({"rope_theta"}))
    arch.set_rope_theta(v->asDouble());
  if (const json::Value *v = cfg->find("tie_word_embeddings"); v && v->isBool())
    arch.set_tie_embeddings(v->asBool());
  if (type == "qwen2")
    arch.set_qkv_bias(true);
  if (const json::Value *v = cfg->find("attention_bias"); v && v->isBool())
    arch.set_qkv_bias(v->asBool());
  if (arch.family() == Architecture::gpt2)
    arch.clear_qkv_bias();
  if (type == "qwen3") { // per-head q/k norm; Qwen3Config's head_dim is 128
    arch.set_qk_norm(true);
    arch.set_head_dim(128);
  }
  if (const json::Value *v = num({"head_dim"}); v && v->isInt())
    arch.set_head_dim(v->asInt());
  // RoPE scaling (transformers 5 nests it, and theta, in rope_parameters).
  const json::Value *scaling = cfg->find("rope_scaling");
  if (const json::Value *rp = cfg->find("rope_parameters");
      rp && rp->isObject()) {
    scaling = rp;
    if (const json::Value *t = rp->find("rope_theta"); t && t->isNumber())
      arch.set_rope_theta(t->asDouble());
  }
  if (scaling && scaling->isObject()) {
    std::string kind;
    for (const char *k : {"type", "rope_type"})
      if (const json::Value *t = scaling->find(k); t && t->isString())
        kind = t->asString();
    auto field = [&](const char *k, double def) {
      const json::Value *v = scaling->find(k);
      return v && v->isNumber() ? v->asDouble() : def;
    };
    if (kind == "linear" || kind == "llama3") {
      Architecture::RopeScaling *rs = arch.mutable_rope_scaling();
      rs->set_type(kind == "linear" ? Architecture::RopeScaling::linear
                                    : Architecture::RopeScaling::llama3);
      rs->set_factor(field("factor", 0));
      rs->set_low_freq_factor(field("low_freq_factor", 1));
      rs->set_high_freq_factor(field("high_freq_factor", 4));
      rs->set_original_max_seq_len(
          int64_t(field("original_max_position_embeddings", 8192)));
    } else if (!kind.empty() && kind != "default") {
      error(at(m, "load"),
            "rope_scaling type " + q(kind) + " in " + q(name) +
                " is not supported",
            "Hone implements default, linear and llama3 RoPE scaling");
      return false;
    }
  }
  if (const json::Value *v = cfg->find("use_sliding_window");
      v && v->isBool() && v->asBool()) {
    error(at(m, "load"),
          "sliding-window attention (" + q(name) + ") is not supported",
          "set use_sliding_window to false (full attention)");
    return false;
  }
  // Mistral's sliding window equals full attention up to its length.
  if (const json::Value *v = num({"sliding_window"});
      type == "mistral" && v && v->isInt() && v->asInt() > 0 &&
      v->asInt() < arch.max_seq_len())
    arch.set_max_seq_len(v->asInt());
  // The declared locations are the load field's: report sizes there.
  Architecture checked = arch;
  size_t before = diags_.errorCount();
  DiagnosticList scratch;
  std::swap(scratch, diags_);
  bool ok = checkArchitecture(checked, m);
  std::swap(scratch, diags_);
  if (!ok) {
    std::string why = scratch.all().empty() ? "" : scratch.all()[0].message;
    error(at(m, "load"), "the configuration in " + q(name) + " is invalid: " + why,
          "fix config.json");
  }
  arch = checked;
  return diags_.errorCount() == before;
}

void Checker::checkModels() {
  std::vector<std::string> names;
  for (const Model &m : p_.models())
    names.push_back(m.name());
  for (int i = 0; i < p_.models_size(); ++i) {
    Model &m = *p_.mutable_models(i);
    if (!m.has_name() || m.name().empty()) {
      error(at(p_, "models", i), "the model has no name",
            "add 'name: \"policy\"'; stages refer to models by name");
      continue;
    }
    if (models_.count(m.name())) {
      diags_.error(at(m, "name"), "model " + q(m.name()) + " is declared twice")
          .note(at(*models_[m.name()], "name"), "first declared here");
      continue;
    }
    models_[m.name()] = &m;
    if (!m.has_seed())
      m.set_seed(defaultModelSeed(p_.seed(), i));
    nonNegative(m, "seed", m.seed());
    Architecture arch;
    switch (m.source_case()) {
    case Model::kInit:
      if (checkArchitecture(*m.mutable_init(), m))
        spec_.archOf[m.name()] = m.init();
      break;
    case Model::kLoad:
      if (!opts_.checkFiles)
        break;
      if (readHfConfig(m, arch)) {
        if (tokenizerVocab_ > 0 && arch.vocab() < tokenizerVocab_)
          error(at(m, "load"),
                "the model's vocab_size (" + fmt(long(arch.vocab())) +
                    ") is smaller than the tokenizer's vocabulary (" +
                    fmt(long(tokenizerVocab_)) + ")",
                "use the model's own tokenizer.json");
        spec_.archOf[m.name()] = arch;
      }
      break;
    case Model::kFrom:
      break; // after all declarations are known
    case Model::SOURCE_NOT_SET:
      error(at(m, "name"), "model " + q(m.name()) + " has no source",
            "add 'init { ... }' (a new model), 'load: \"dir\"' (a Hugging "
            "Face directory) or 'from: \"other\"' (another model's body)");
      break;
    }
  }
  // Copies: follow `from` chains to a model with an architecture.
  std::set<std::string> inCycle;
  for (int i = 0; i < p_.models_size(); ++i) {
    const Model &m = p_.models(i);
    // find(), not operator[]: a model skipped above (no name) must not
    // become a null entry.
    auto self = models_.find(m.name());
    if (m.source_case() != Model::kFrom || self == models_.end() ||
        self->second != &m)
      continue;
    if (inCycle.count(m.name()))
      continue;
    const Model *cur = &m;
    std::set<std::string> seen{m.name()};
    std::string chain = m.name();
    bool bad = false;
    while (cur->source_case() == Model::kFrom) {
      chain += " -> " + cur->from();
      auto it = models_.find(cur->from());
      if (it == models_.end()) {
        unknownName(at(*cur, "from"), "model", cur->from(), names,
                    "'from' names another declared model");
        bad = true;
        break;
      }
      if (!seen.insert(cur->from()).second) {
        error(at(m, "from"),
              "model " + q(m.name()) + " is copied from itself (" + chain +
                  ")",
              "'from' chains must end at a model with 'init' or 'load'");
        inCycle.insert(seen.begin(), seen.end());
        bad = true;
        break;
      }
      cur = it->second;
    }
    if (bad || cur == &m)
      continue;
    auto a = spec_.archOf.find(cur->name());
    if (a != spec_.archOf.end())
      spec_.archOf[m.name()] = a->second;
  }
  for (const auto &kv : models_)
    bound_[kv.first] = Binding{kv.first, kv.second->head(), at(*kv.second)};
}

//===----------------------------------------------------------------------===//
// Datasets and rewards
//===----------------------------------------------------------------------===//

const char *layoutName(Dataset::Layout l) {
  return Dataset::Layout_Name(l).c_str();
}

void Checker::checkDatasets() {
  for (int i = 0; i < p_.datasets_size(); ++i) {
    Dataset &d = *p_.mutable_datasets(i);
    if (!d.has_name() || d.name().empty()) {
      error(at(p_, "datasets", i), "the dataset has no name",
            "add 'name: \"train\"'; stages refer to datasets by name");
      continue;
    }
    if (datasets_.count(d.name())) {
      diags_.error(at(d, "name"),
                   "dataset " + q(d.name()) + " is declared twice")
          .note(at(*datasets_[d.name()], "name"), "first declared here");
      continue;
    }
    datasets_[d.name()] = &d;
    fillDeclaredDefaults(d);
    if (!d.has_shuffle_seed())
      d.set_shuffle_seed(defaultShuffleSeed(p_.seed()));
    nonNegative(d, "shuffle_seed", d.shuffle_seed());
    nonNegative(d, "max_records", d.max_records(), "use 0 to read all records");
    inRange(d, "eval_fraction", d.eval_fraction(), 0, 1, true,
            "the fraction of records held out, e.g. 0.1");
    if (d.has_eval_path() && d.eval_fraction() > 0)
      error(at(d, "eval_fraction"),
            "'eval_fraction' and 'eval_path' both give an eval split",
            "keep one of them");
    Columns &cols = *d.mutable_columns();
    fillDeclaredDefaults(cols);
    if (!d.has_path() || d.path().empty()) {
      error(at(d, "name"), "dataset " + q(d.name()) + " has no 'path'",
            "add 'path: \"train.jsonl\"' (relative to the spec)");
      continue;
    }
    if (!opts_.checkFiles)
      continue;
    auto probeOne = [&](const char *field, const std::string &file,
                        Dataset::Layout layout) -> Dataset::Layout {
      std::string full = spec_.resolvePath(file);
      if (!isFile(full)) {
        std::string what = fileKind(full);
        error(at(d, field),
              "dataset file " + q(file) +
                  (what.empty() ? " not found" : " is " + what +
                                                     ", not a file"),
              what.empty() ? "paths are relative to the spec's directory (" +
                                 spec_.baseDir + ")"
                           : std::string("give a JSONL file"));
        return Dataset::auto_;
      }
      DatasetProbe probe =
          probeDataset(full, layout, cols, opts_.recordsToCheck);
      if (!probe.recordError.empty()) {
        std::string where =
            probe.recordLine ? file + ":" + std::to_string(probe.recordLine)
                             : file;
        std::string hint = probe.recordHint;
        if (!hint.empty()) {
        } else if (layout == Dataset::auto_ && !probe.firstKeys.empty()) {
          std::string keys;
          for (const std::string &k : probe.firstKeys)
            keys += (keys.empty() ? "" : ", ") + k;
          hint = "the record's columns are " + keys +
                 "; set 'layout' and 'columns { ... }' to map them";
        } else if (layout != Dataset::auto_) {
          std::string need;
          for (const std::string &k : requiredColumns(layout, cols))
            need += (need.empty() ? "" : ", ") + k;
          hint = "layout " + std::string(layoutName(layout)) + " needs " +
                 need + "; set 'columns { ... }' when the file names them "
                        "differently";
        } else {
          hint = "every line must be one JSON object with the columns of "
                 "one layout (docs/spec.md); set 'layout' and 'columns' to "
                 "say which";
        }
        error(at(d, field), "dataset " + q(d.name()) + ": " + where + ": " +
                                probe.recordError,
              hint);
        return Dataset::auto_;
      }
      if (charTokenizer_)
        if (auto bad = findUnencodableText(full, probe.layout, cols,
                                           *charTokenizer_)) {
          std::string more = bad->records > 1
                                 ? " (" + std::to_string(bad->records) +
                                       " records have such text)"
                                 : "";
          error(at(d, field),
                "dataset " + q(d.name()) + ": " + file + ":" +
                    std::to_string(bad->line) + ": " +
                    (bad->column.empty() ? "" : q(bad->column) + ": ") +
                    bad->why + more,
                bad->column.empty()
                    ? std::string("every record must have the columns of "
                                  "the first")
                    : "add the character to tokenizer.chars.alphabet, or "
                      "remove it from the data");
          return Dataset::auto_;
        }
      // The rows' real lengths, with the job's own tokenization.
      const ::hone::Tokenizer *tk = charTokenizer_   ? &*charTokenizer_
                                    : fileTokenizer_ ? &*fileTokenizer_
                                                     : nullptr;
      auto format =
          tk ? job::textFormatFor(*tk, Tokenizer::ChatTemplate_Name(
                                           p_.tokenizer().chat_template()))
             : Expected<job::TextFormat>(Status::error("none"));
      if (format) {
        RowLengths got = measureRowLengths(full, probe.layout, cols, *format);
        auto [it, fresh] = lengthsOf_.emplace(d.name(), got);
        if (!fresh) { // eval_path: the longest of both files
          auto most = [](int64_t a, int64_t b) {
            return a < 0 || b < 0 ? -1 : std::max(a, b);
          };
          it->second.sequence = most(it->second.sequence, got.sequence);
          it->second.pair = most(it->second.pair, got.pair);
          it->second.prompt = most(it->second.prompt, got.prompt);
          it->second.rows += got.rows;
        }
      }
      if (std::string(field) == "path") {
        spec_.recordsOf[d.name()] = probe.records;
        if (!probe.answerColumn.empty())
          cols.set_answer(probe.answerColumn);
        if (probe.conversational)
          conversational_.insert(d.name());
      }
      return probe.layout;
    };
    Dataset::Layout got = probeOne("path", d.path(), d.layout());
    if (got != Dataset::auto_) {
      d.set_layout(got);
      if (d.has_eval_path())
        probeOne("eval_path", d.eval_path(), got);
    }
  }
}

void Checker::checkRewards() {
  int64_t maxNew = p_.has_generation() && p_.generation().has_max_new_tokens()
                       ? p_.generation().max_new_tokens()
                       : Generation().max_new_tokens();
  for (int i = 0; i < p_.rewards_size(); ++i) {
    Reward &r = *p_.mutable_rewards(i);
    if (!r.has_name() || r.name().empty()) {
      error(at(p_, "rewards", i), "the reward has no name",
            "add 'name: \"correct\"'; stages refer to rewards by name");
      continue;
    }
    if (rewards_.count(r.name())) {
      diags_.error(at(r, "name"), "reward " + q(r.name()) + " is declared twice")
          .note(at(*rewards_[r.name()], "name"), "first declared here");
      continue;
    }
    rewards_[r.name()] = &r;
    auto checkRegex = [&](const Message &m, const char *field,
                          const std::string &pattern) {
      std::string e = regexError(pattern);
      if (!e.empty())
        error(at(m, field), "invalid regular expression: " + e,
              "patterns are PCRE2 syntax; escape special characters with "
              "'\\\\'");
    };
    switch (r.kind_case()) {
    case Reward::kExactMatch:
      if (r.exact_match().has_extract())
        checkRegex(r.exact_match(), "extract", r.exact_match().extract());
      break;
    case Reward::kNumericMatch: {
      const NumericMatch &n = r.numeric_match();
      if (n.has_extract())
        checkRegex(n, "extract", n.extract());
      nonNegative(n, "abs_tolerance", n.abs_tolerance(),
                  "use 0 for an exact comparison");
      nonNegative(n, "rel_tolerance", n.rel_tolerance(),
                  "use 0 for an exact comparison");
      break;
    }
    case Reward::kRegex:
      if (!r.regex().has_pattern())
        error(at(r, "regex"), "the regex reward needs a 'pattern'",
              "add 'pattern: \"...\"' (PCRE2)");
      else
        checkRegex(r.regex(), "pattern", r.regex().pattern());
      break;
    case Reward::kFormat:
      if (!r.format().has_pattern())
        error(at(r, "format"), "the format reward needs a 'pattern'",
              "add 'pattern: \"<answer>.*</answer>\"' (PCRE2, whole "
              "completion)");
      else
        checkRegex(r.format(), "pattern", r.format().pattern());
      break;
    case Reward::kLength: {
      LengthShaping &l = *r.mutable_length();
      if (!l.has_max_length())
        l.set_max_length(maxNew);
      positive(l, "max_length", l.max_length(),
               "the longest completion without penalty plus the cache");
      if (!l.has_cache_length())
        l.set_cache_length(l.max_length() / 4);
      if (l.cache_length() < 0 || l.cache_length() >= l.max_length())
        error(at(l, "cache_length"),
              "'cache_length' must be in [0, max_length), got " +
                  fmt(long(l.cache_length())),
              "DAPO uses a quarter of max_length");
      nonNegative(l, "penalty", l.penalty());
      break;
    }
    case Reward::kModel:
      // Resolved where a stage uses it (the model's state then).
      if (!models_.count(r.model())) {
        std::vector<std::string> names;
        for (const auto &kv : models_)
          names.push_back(kv.first);
        unknownName(at(r, "model"), "model", r.model(), names,
                    "a learned reward names a declared model with "
                    "'head: scalar'");
      } else if (models_[r.model()]->head() != Model::scalar) {
        error(at(r, "model"),
              "reward model " + q(r.model()) + " has an LM head",
              "declare it with 'head: scalar' and train it in a "
              "reward_model stage");
      }
      break;
    case Reward::kExternal: {
      ExternalReward &e = *r.mutable_external();
      if (e.command_size() == 0) {
        error(at(r, "external"), "the external reward needs a 'command'",
              "add 'command: [\"python3\", \"score.py\"]'");
        break;
      }
      for (int j = 0; j < e.command_size(); ++j)
        if (e.command(j).empty())
          error(at(e, "command", j), "the command has an empty argument",
                "remove the empty string");
      const std::string &prog = e.command(0);
      if (opts_.checkFiles && prog.find('/') != std::string::npos &&
          !isFile(spec_.resolvePath(prog)))
        error(at(e, "command", 0), "reward program " + q(prog) + " not found",
              "a program path with '/' is relative to the spec's directory");
      positive(e, "timeout_s", e.timeout_s(), "seconds per request, e.g. 30");
      positive(e, "workers", e.workers());
      break;
    }
    case Reward::KIND_NOT_SET:
      error(at(r, "name"), "reward " + q(r.name()) + " has no kind",
            "add one of exact_match, numeric_match, regex, format, length, "
            "model or external");
      break;
    }
  }
}

//===----------------------------------------------------------------------===//
// Optimiser and generation
//===----------------------------------------------------------------------===//

void Checker::checkOptimizer(const Optimizer &o) {
  if (o.has_lr())
    positive(o, "lr", o.lr(), "a learning rate such as 1e-3 (tiny models) "
                              "or 1e-5 (pretrained ones)");
  inRange(o, "beta1", o.beta1(), 0, 1, true, "the usual value is 0.9");
  inRange(o, "beta2", o.beta2(), 0, 1, true, "the usual value is 0.999");
  positive(o, "eps", o.eps(), "the usual value is 1e-8");
  nonNegative(o, "weight_decay", o.weight_decay());
  nonNegative(o, "warmup_steps", o.warmup_steps());
  inRange(o, "min_lr_ratio", o.min_lr_ratio(), 0, 1, false,
          "a fraction of the peak learning rate");
  nonNegative(o, "max_grad_norm", o.max_grad_norm(),
              "use 0 to disable clipping");
}

void Checker::checkLora(Stage &s, int index, const Binding *m) {
  if (!s.has_lora()) {
    if (m && m->loraStage >= 0)
      error(at(s, "model"),
            "model " + q(s.model()) + " carries the LoRA adapters of stage " +
                q(p_.stages(m->loraStage).name()) +
                "; training all its weights is not supported yet",
            "add 'lora { }' with the same settings to keep training the "
            "adapters");
    return;
  }
  Lora &l = *s.mutable_lora();
  resolveLoraDefaults(l);
  positive(l, "rank", l.rank(), "PEFT's default is 8");
  positive(l, "alpha", l.alpha(), "PEFT's default lora_alpha is 8");
  if (!(l.dropout() >= 0 && l.dropout() < 1))
    error(at(l, "dropout"),
          "'dropout' must be in [0, 1), got " + fmt(l.dropout()),
          "use 0 (no dropout)");
  else if (l.dropout() != 0)
    error(at(l, "dropout"),
          "LoRA dropout is not supported yet (got " + fmt(l.dropout()) + ")",
          "use dropout: 0");
  static const char *known[] = {"q_proj",    "k_proj",  "v_proj",
                                "o_proj",    "gate_proj", "up_proj",
                                "down_proj"};
  std::set<std::string> seen;
  for (int i = 0; i < l.target_modules_size(); ++i) {
    const std::string &t = l.target_modules(i);
    if (std::find(std::begin(known), std::end(known), t) == std::end(known))
      error(at(l, "target_modules"), "unknown LoRA target module " + q(t),
            "use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or "
            "down_proj");
    else if (!seen.insert(t).second)
      error(at(l, "target_modules"),
            "target module " + q(t) + " is named twice", "name it once");
  }
  if (s.has_reward_model())
    error(at(s, "lora"),
          "LoRA on a reward-model stage (a scalar head) is not supported yet",
          "remove 'lora' from stage " + q(s.name()));
  if (!m)
    return;
  auto arch = spec_.archOf.find(m->declared);
  if (arch != spec_.archOf.end() &&
      arch->second.family() == Architecture::gpt2)
    error(at(s, "lora"),
          "LoRA applies to the llama family (Llama, Qwen2/3, Mistral), not "
          "gpt2 model " + q(s.model()),
          "train all weights (remove 'lora'), or use a llama-family model");
  if (m->loraStage >= 0) {
    const Lora &prev = p_.stages(m->loraStage).lora();
    if (prev.rank() != l.rank() || prev.alpha() != l.alpha() ||
        std::set<std::string>(prev.target_modules().begin(),
                              prev.target_modules().end()) != seen)
      error(at(s, "lora"),
            "model " + q(s.model()) + " already carries LoRA adapters of "
            "stage " + q(p_.stages(m->loraStage).name()) +
                " with other settings; stacking adapters is not supported yet",
            "repeat that stage's rank, alpha and target_modules to keep "
            "training its adapters");
  }
}

void Checker::checkGeneration(const Generation &g) {
  positive(g, "max_new_tokens", g.max_new_tokens());
  nonNegative(g, "temperature", g.temperature(),
              "use 0 for greedy decoding, 1 to sample from the model");
  nonNegative(g, "top_k", g.top_k(), "use 0 to disable top-k");
  if (!(g.top_p() > 0 && g.top_p() <= 1))
    error(at(g, "top_p"), "'top_p' must be in (0, 1], got " + fmt(g.top_p()),
          "use 1 to disable nucleus sampling");
  if (g.has_samples_per_prompt())
    positive(g, "samples_per_prompt", g.samples_per_prompt());
  for (int i = 0; i < g.stop_size(); ++i)
    if (g.stop(i).empty())
      error(at(g, "stop", i), "a stop string is empty",
            "remove it; generation always stops at end-of-sequence");
}

//===----------------------------------------------------------------------===//
// Stages
//===----------------------------------------------------------------------===//

const Binding *Checker::model(const SourceLoc &loc, const std::string &name,
                              const std::string &role) {
  auto it = bound_.find(name);
  if (it != bound_.end())
    return &it->second;
  auto out = outputs_.find(name);
  if (out != outputs_.end()) {
    error(loc,
          role + " " + q(name) + " is not defined yet: stage " +
              std::to_string(out->second) + " produces it later",
          "stages run in order; a stage can only use models declared or "
          "produced before it");
    return nullptr;
  }
  std::vector<std::string> names;
  for (const auto &kv : bound_)
    names.push_back(kv.first);
  unknownName(loc, role, name, names,
              "declare it under 'models' or name a stage's output");
  return nullptr;
}

const Dataset *Checker::dataset(const SourceLoc &loc, const std::string &name) {
  auto it = datasets_.find(name);
  if (it != datasets_.end())
    return it->second;
  std::vector<std::string> names;
  for (const auto &kv : datasets_)
    names.push_back(kv.first);
  unknownName(loc, "dataset", name, names,
              "declare it under 'datasets { name: \"" + name +
                  "\" path: \"...\" }'");
  return nullptr;
}

const Reward *Checker::reward(const SourceLoc &loc, const std::string &name) {
  auto it = rewards_.find(name);
  if (it != rewards_.end())
    return it->second;
  std::vector<std::string> names;
  for (const auto &kv : rewards_)
    names.push_back(kv.first);
  unknownName(loc, "reward", name, names,
              "declare it under 'rewards { name: \"" + name + "\" ... }'");
  return nullptr;
}

void Checker::sameVocab(const SourceLoc &loc, const Binding *policy,
                        const Binding *other, const std::string &role) {
  int64_t a = vocabOf(policy), b = vocabOf(other);
  if (a > 0 && b > 0 && a != b)
    error(loc,
          "the " + role + " has vocab " + fmt(long(b)) +
              " but the policy has vocab " + fmt(long(a)),
          "both models must use the same tokenizer and vocabulary size");
}

/// Reports when `d`'s layout is not one of `allowed`; false then.
bool Checker::layoutFits(const SourceLoc &loc, const Dataset &d,
                         const std::vector<Dataset::Layout> &allowed,
                         const std::string &use, const std::string &hint) {
  if (d.layout() == Dataset::auto_)
    return true; // unknown (files not checked, or already reported)
  for (Dataset::Layout l : allowed)
    if (d.layout() == l)
      return true;
  std::string names;
  for (Dataset::Layout l : allowed)
    names += (names.empty() ? "" : ", ") + std::string(layoutName(l));
  error(loc,
        "dataset " + q(d.name()) + " has layout " + layoutName(d.layout()) +
            ", but " + use + " needs " + names,
        hint);
  return false;
}

void Checker::checkStages() {
  for (int i = 0; i < p_.stages_size(); ++i) {
    const Stage &s = p_.stages(i);
    if (s.has_output())
      outputs_.emplace(s.output(), i);
    if (s.has_rl() && s.rl().has_critic_output())
      outputs_.emplace(s.rl().critic_output(), i);
  }
  std::map<std::string, int> names;
  for (int i = 0; i < p_.stages_size(); ++i) {
    Stage &s = *p_.mutable_stages(i);
    if (!s.has_name())
      s.set_name(std::string(methodName(s)) + "_" + std::to_string(i));
    auto [it, fresh] = names.emplace(s.name(), i);
    if (!fresh)
      diags_
          .error(at(s, "name"),
                 "stage name " + q(s.name()) + " is used twice")
          .note(at(p_.stages(it->second), "name"), "first used here");
    checkStage(s, i);
  }
}

void Checker::checkStage(Stage &s, int index) {
  if (s.method_case() == Stage::METHOD_NOT_SET) {
    error(at(p_, "stages", index), "stage " + q(s.name()) + " has no method",
          "add one of 'sft { }', 'reward_model { }', 'preference { }', "
          "'rl { }'");
    return;
  }
  if (!s.has_model()) {
    // The first model with an LM head (reward-model stages: a scalar one).
    Model::Head want = s.has_reward_model() ? Model::scalar : Model::lm;
    for (const Model &m : p_.models())
      if (m.head() == want && !m.name().empty()) {
        s.set_model(m.name());
        break;
      }
    if (!s.has_model()) {
      error(at(p_, "stages", index),
            "stage " + q(s.name()) + " names no model and none fits",
            "add 'model: \"...\"'");
      return;
    }
  }
  const Binding *m = model(at(s, "model"), s.model(), "model");
  if (!s.has_dataset())
    error(at(p_, "stages", index), "stage " + q(s.name()) + " has no dataset",
          "add 'dataset: \"...\"' naming one of the spec's datasets");
  else
    dataset(at(s, "dataset"), s.dataset());
  if (s.has_optimizer())
    checkOptimizer(s.optimizer());
  checkLora(s, index, m);
  if (s.has_save() && s.save().empty())
    error(at(s, "save"), "'save' is an empty path",
          "give a directory name below the output directory");
  else if (s.has_save())
    staysInRunDir(s, "save", s.save());

  // Merge the pipeline's optimiser under the stage's; fill the method's lr.
  Optimizer merged = p_.optimizer();
  merged.MergeFrom(s.optimizer());
  *s.mutable_optimizer() = merged;
  Optimizer &o = *s.mutable_optimizer();
  if (!o.has_lr())
    o.set_lr(defaultLearningRate(s));
  fillDeclaredDefaults(o);

  switch (s.method_case()) {
  case Stage::kSft:
    checkSft(s, *s.mutable_sft(), m);
    break;
  case Stage::kRewardModel:
    checkRewardModel(s, *s.mutable_reward_model(), m);
    break;
  case Stage::kPreference:
    checkPreference(s, *s.mutable_preference(), m);
    break;
  case Stage::kRl:
    checkRl(s, *s.mutable_rl(), m);
    break;
  case Stage::METHOD_NOT_SET:
    break;
  }

  // The output rebinds (or binds a new name to) the trained state.
  if (s.has_output()) {
    if (s.output().empty())
      error(at(s, "output"), "'output' is an empty name",
            "leave it out to keep the model's name");
    else if (s.output() != s.model() && bound_.count(s.output()))
      error(at(s, "output"),
            "output " + q(s.output()) + " would hide model " + q(s.output()),
            "pick a new name for the trained state, or leave 'output' out to "
            "rebind " + q(s.model()));
  } else {
    s.set_output(s.model());
  }
  if (m && !s.output().empty()) {
    Binding b = *m;
    b.loc = at(s, "output");
    if (s.has_lora() && b.loraStage < 0)
      b.loraStage = index;
    bound_[s.output()] = b;
    lastTrained_ = s.output();
  }
}

void Checker::checkLoop(Loop &loop, const Stage &s, const Binding *model,
                        const std::string &datasetName, int64_t longestRow) {
  fillDeclaredDefaults(loop);
  nonNegative(loop, "steps", loop.steps(),
              "use 0 to run 'epochs' passes over the data");
  positive(loop, "epochs", loop.epochs(), "passes over the data, e.g. 1");
  positive(loop, "batch_size", loop.batch_size());
  positive(loop, "grad_accum", loop.grad_accum());
  int64_t maxSeq = maxSeqOf(model);
  if (loop.has_max_length()) {
    positive(loop, "max_length", loop.max_length());
    if (maxSeq > 0 && loop.max_length() > maxSeq)
      error(at(loop, "max_length"),
            "'max_length' (" + fmt(long(loop.max_length())) +
                ") exceeds the model's max_seq_len (" + fmt(long(maxSeq)) +
                ")",
            "the model has no positions beyond max_seq_len");
  } else if (maxSeq > 0) {
    // Shapes from the data: the longest row rounded up, so that no row is
    // cut that max_seq_len would keep (docs/compiler.md).
    loop.set_max_length(lengthFromData(longestRow, maxSeq));
  }
  // Steps from epochs, when the data was read.
  auto rec = spec_.recordsOf.find(datasetName);
  if (loop.steps() == 0 && rec != spec_.recordsOf.end() &&
      loop.batch_size() > 0 && loop.epochs() > 0) {
    const Dataset *d = datasets_.count(datasetName) ? datasets_[datasetName]
                                                    : nullptr;
    long long n = rec->second;
    if (d && d->max_records() > 0)
      n = std::min<long long>(n, d->max_records());
    if (d && d->eval_fraction() > 0)
      n -= static_cast<long long>(std::floor(n * d->eval_fraction()));
    // In double: huge batch sizes or epochs must not overflow (the spec
    // fuzzer found epochs of 1e20).
    // Every data-parallel rank takes its own batch each step.
    double perBatch = double(loop.batch_size()) * double(loop.grad_accum()) *
                      double(std::max<long long>(1, p_.hardware().ranks()));
    double steps = std::ceil(std::ceil(double(n) / perBatch) * loop.epochs());
    if (!(steps <= 1e12)) {
      error(at(loop, "epochs"),
            "epochs (" + fmt(loop.epochs()) + ") give more than 10^12 steps",
            "use fewer epochs, or set 'steps' instead");
      return;
    }
    loop.set_steps(std::max<long long>(1, static_cast<long long>(steps)));
  }
}

void Checker::checkSft(Stage &s, Sft &sft, const Binding *m) {
  fillDeclaredDefaults(sft);
  checkLoop(*sft.mutable_loop(), s, m, s.dataset(),
            lengthsOf(s.dataset()).sequence);
  if (m && m->head != Model::lm)
    error(at(s, "model"), "SFT trains a language model, but " + q(s.model()) +
                              " has a scalar head",
          "name a model with 'head: lm'");
  if (const Dataset *d = datasets_.count(s.dataset()) ? datasets_[s.dataset()]
                                                      : nullptr)
    layoutFits(at(s, "dataset"), *d,
               {Dataset::text, Dataset::messages, Dataset::prompt_completion,
                Dataset::prompt_answer},
               "SFT", "SFT learns from demonstrations; preference pairs "
                      "belong to a preference stage");
  if (sft.variant() == Sft::iw_sft) {
    if (!sft.has_reference())
      sft.set_reference(s.model());
    const Binding *ref = model(at(sft, "reference"), sft.reference(),
                               "reference");
    if (ref && ref != m && ref->head != Model::lm)
      error(at(sft, "reference"), "the reference must have an LM head",
            "name a language model");
    sameVocab(at(sft, "reference"), m, ref, "reference");
  } else if (sft.has_reference()) {
    error(at(sft, "reference"),
          "'reference' is only used by variant iw_sft",
          "remove it, or set 'variant: iw_sft'");
  }
  positive(sft, "iw_clip", sft.iw_clip(), "the paper clips at 16");
}

void Checker::checkRewardModel(Stage &s, RewardModelTraining &rm,
                               const Binding *m) {
  fillDeclaredDefaults(rm);
  checkLoop(*rm.mutable_loop(), s, m, s.dataset(), lengthsOf(s.dataset()).pair);
  if (m && m->head != Model::scalar)
    error(at(s, "model"),
          "a reward model needs a scalar head, but " + q(s.model()) +
              " has an LM head",
          "declare a model with 'head: scalar' (e.g. 'from: \"" + s.model() +
              "\" head: scalar') and train that");
  if (const Dataset *d = datasets_.count(s.dataset()) ? datasets_[s.dataset()]
                                                      : nullptr)
    layoutFits(at(s, "dataset"), *d, {Dataset::preference},
               "a Bradley-Terry reward model",
               "use data with prompt/chosen/rejected columns");
  nonNegative(rm, "center_rewards", rm.center_rewards());
}

void Checker::checkPreference(Stage &s, Preference &pref, const Binding *m) {
  if (!pref.has_beta())
    pref.set_beta(defaultPreferenceBeta(pref.loss()));
  bool ktoWeights =
      (pref.has_desirable_weight() &&
       !atDeclaredDefault(pref, "desirable_weight")) ||
      (pref.has_undesirable_weight() &&
       !atDeclaredDefault(pref, "undesirable_weight"));
  const char *ktoField =
      pref.has_desirable_weight() && !atDeclaredDefault(pref, "desirable_weight")
          ? "desirable_weight"
          : "undesirable_weight";
  fillDeclaredDefaults(pref);
  // KTO's rows pair a prompt with another record's completion: not
  // measured, max_seq_len.
  checkLoop(*pref.mutable_loop(), s, m, s.dataset(),
            pref.loss() == Preference::kto ? -1 : lengthsOf(s.dataset()).pair);
  std::string loss = Preference::Loss_Name(pref.loss());
  if (m && m->head != Model::lm)
    error(at(s, "model"), loss + " trains a language model, but " +
                              q(s.model()) + " has a scalar head",
          "name a model with 'head: lm'");
  if (const Dataset *d = datasets_.count(s.dataset()) ? datasets_[s.dataset()]
                                                      : nullptr) {
    if (pref.loss() == Preference::kto)
      layoutFits(at(s, "dataset"), *d,
                 {Dataset::unpaired_preference, Dataset::preference}, "kto",
                 "use prompt/completion/label data (pairs also work)");
    else
      layoutFits(at(s, "dataset"), *d, {Dataset::preference}, loss,
                 "use data with prompt/chosen/rejected columns");
  }
  positive(pref, "beta", pref.beta(), "TRL's default is 0.1");
  inRange(pref, "label_smoothing", pref.label_smoothing(), 0, 0.5, true,
          "the probability that a preference label is flipped; 0 for none");
  nonNegative(pref, "desirable_weight", pref.desirable_weight());
  nonNegative(pref, "undesirable_weight", pref.undesirable_weight());
  bool refFree =
      pref.loss() == Preference::orpo || pref.loss() == Preference::simpo;
  if (refFree) {
    if (pref.has_reference())
      error(at(pref, "reference"), loss + " uses no reference model",
            "remove 'reference', or use dpo/ipo/kto");
  } else {
    if (!pref.has_reference())
      pref.set_reference(s.model());
    const Binding *ref =
        model(at(pref, "reference"), pref.reference(), "reference");
    if (ref && ref != m && ref->head != Model::lm)
      error(at(pref, "reference"), "the reference must have an LM head",
            "name a language model");
    sameVocab(at(pref, "reference"), m, ref, "reference");
  }
  if (pref.loss() != Preference::kto && ktoWeights)
    error(at(pref, ktoField),
          "desirable/undesirable weights are only used by kto",
          "remove them, or set 'loss: kto'");
}

void Checker::checkRl(Stage &s, Rl &rl, const Binding *m) {
  Rl::Algorithm algo = rl.algorithm();
  std::string name = Rl::Algorithm_Name(algo);
  bool promptFromData = !rl.has_max_prompt_length();
  // Method-dependent defaults (frontend/Defaults.cpp).
  resolveRlDefaults(rl, p_.hardware());

  if (m && m->head != Model::lm)
    error(at(s, "model"), "the RL policy must have an LM head, but " +
                              q(s.model()) + " has a scalar head",
          "name a language model; scalar-head models are critics or reward "
          "models");

  // Generation: the stage's settings over the pipeline's.
  if (rl.has_generation())
    checkGeneration(rl.generation());
  Generation gen = p_.generation();
  gen.MergeFrom(rl.generation());
  bool groupFromStage = rl.generation().has_samples_per_prompt();
  bool groupFromPipeline = p_.generation().has_samples_per_prompt();
  *rl.mutable_generation() = gen;
  Generation &g = *rl.mutable_generation();
  if (!g.has_samples_per_prompt())
    g.set_samples_per_prompt(defaultSamplesPerPrompt(algo));
  fillDeclaredDefaults(g);
  SourceLoc groupLoc = groupFromStage      ? at(g, "samples_per_prompt")
                       : groupFromPipeline ? at(p_.generation(),
                                                "samples_per_prompt")
                                           : at(s, "rl");
  int64_t group = g.samples_per_prompt();

  // Loop sizes.
  nonNegative(rl, "steps", rl.steps(),
              "use 0 for one pass over the prompts");
  positive(rl, "batch_size", rl.batch_size(),
           "completions per step: prompts per step x samples_per_prompt");
  positive(rl, "grad_accum", rl.grad_accum());
  positive(rl, "max_prompt_length", rl.max_prompt_length());
  // Shapes from the data: the longest prompt rounded up, at most the
  // default (docs/compiler.md).
  if (promptFromData && rl.max_prompt_length() > 0)
    rl.set_max_prompt_length(
        lengthFromData(lengthsOf(s.dataset()).prompt, rl.max_prompt_length()));
  // The group-size rules (dialect/MethodFamilies.h, as the verifier).
  if (group > 0)
    if (auto p = methods::groupSizeProblem(name, rl.batch_size(), group,
                                           "samples_per_prompt"))
      error(p->aboutBatch ? at(rl, "batch_size") : groupLoc, p->message,
            p->hint);
  if (rl.mini_batches() > 0 && rl.batch_size() > 0 &&
      rl.batch_size() % rl.mini_batches() != 0)
    error(at(rl, "mini_batches"),
          "batch_size (" + fmt(long(rl.batch_size())) +
              ") must be a multiple of mini_batches (" +
              fmt(long(rl.mini_batches())) + ")",
          "each pass splits the batch into equal mini-batches");
  positive(rl, "mini_batches", rl.mini_batches());
  positive(rl, "ppo_epochs", rl.ppo_epochs());
  int64_t maxSeq = maxSeqOf(m);
  if (maxSeq > 0 && rl.max_prompt_length() > 0 &&
      rl.max_prompt_length() + g.max_new_tokens() > maxSeq)
    error(rl.generation().has_max_new_tokens() &&
                  spec_.locs.has(g, "max_new_tokens")
              ? at(g, "max_new_tokens")
              : at(rl, "max_prompt_length"),
          "max_prompt_length (" + fmt(long(rl.max_prompt_length())) +
              ") + max_new_tokens (" + fmt(long(g.max_new_tokens())) +
              ") exceeds the model's max_seq_len (" + fmt(long(maxSeq)) + ")",
          "shorten prompts or completions, or raise max_seq_len");
  if (g.top_k() > 0 && vocabOf(m) > 0 && g.top_k() > vocabOf(m))
    error(at(g, "top_k"),
          "top_k (" + fmt(long(g.top_k())) + ") exceeds the vocabulary (" +
              fmt(long(vocabOf(m))) + ")",
          "use 0 to disable top-k");
  if (rl.dynamic_sampling() && !isGroupAlgorithm(algo))
    error(at(rl, "dynamic_sampling"),
          "dynamic sampling filters groups, but " + name + " has none",
          "use it with grpo, dr_grpo, dapo or rloo");
  nonNegative(rl, "max_resample_rounds", rl.max_resample_rounds());
  if (rl.staleness() > 0 && !p_.hardware().rollout_staleness())
    error(at(rl, "staleness"),
          "staleness > 0 (generation running ahead of learning) is not "
          "supported yet",
          "use 0: every step generates with the weights it learns from");

  // Objective numbers.
  if (!(rl.epsilon() > 0 && rl.epsilon() < 1))
    error(at(rl, "epsilon"),
          "'epsilon' must be in (0, 1), got " + fmt(rl.epsilon()),
          "the usual clip range is 0.2");
  if (!(rl.epsilon_high() >= rl.epsilon()))
    error(at(rl, "epsilon_high"),
          "'epsilon_high' (" + fmt(rl.epsilon_high()) +
              ") is below 'epsilon' (" + fmt(rl.epsilon()) + ")",
          "clip-higher raises the upper bound: DAPO uses 0.28 with 0.2");
  nonNegative(rl, "beta", rl.beta(), "use 0 to train without a KL penalty");
  inRange(rl, "gamma", rl.gamma(), 0, 1, false, "the discount, usually 1");
  inRange(rl, "lam", rl.lam(), 0, 1, false, "GAE lambda, usually 0.95");
  positive(rl, "value_clip", rl.value_clip(), "the usual value is 0.2");
  nonNegative(rl, "vf_coef", rl.vf_coef());
  nonNegative(rl, "entropy_coef", rl.entropy_coef());
  nonNegative(rl, "staleness", rl.staleness(), "0 is exactly on-policy");
  if (rl.has_policy_loss())
    checkPolicyLoss(rl, name);
  if (rl.has_objective())
    checkObjective(rl, name);
  // Settings of other methods keep their declared defaults in the resolved
  // spec (the IR holds every setting); a value that differs is a mistake.
  if (algo != Rl::ppo)
    for (const char *f : {"gamma", "lam", "value_clip", "vf_coef"})
      if (spec_.locs.has(rl, f) && !atDeclaredDefault(rl, f))
        error(at(rl, f), std::string(q(f)) + " is a PPO setting; " + name +
                             " has no critic",
              "remove it, or use 'algorithm: ppo'");

  // Rewards.
  const Dataset *d =
      datasets_.count(s.dataset()) ? datasets_[s.dataset()] : nullptr;
  if (rl.rewards_size() == 0)
    error(at(s, "rl"), "the " + name + " stage has no reward",
          "add 'rewards: \"...\"' naming a reward of the spec");
  bool answers = false;
  for (int i = 0; i < rl.rewards_size(); ++i)
    if (const Reward *r = reward(at(rl, "rewards", i), rl.rewards(i)))
      answers |= needsAnswers(*r);
  if (rl.reward_weights_size() == 0) {
    for (int i = 0; i < rl.rewards_size(); ++i)
      rl.add_reward_weights(1.0);
  } else if (rl.reward_weights_size() != rl.rewards_size()) {
    error(at(rl, "reward_weights"),
          std::to_string(rl.reward_weights_size()) + " reward weight(s) for " +
              std::to_string(rl.rewards_size()) + " reward(s)",
          "give one weight per reward, in the same order");
  }
  for (int i = 0; i < rl.reward_weights_size(); ++i)
    if (!std::isfinite(rl.reward_weights(i)))
      error(at(rl, "reward_weights", i), "a reward weight is not finite",
            "use a finite number");
  if (d) {
    bool fits = layoutFits(
        at(s, "dataset"), *d,
        {Dataset::prompt_only, Dataset::prompt_answer,
         Dataset::prompt_completion, Dataset::messages},
        "RL", "RL needs prompts: use prompt_answer data for verifiers, "
              "prompt_only for reward models");
    if (fits && answers)
      layoutFits(at(s, "dataset"), *d,
                 {Dataset::prompt_answer, Dataset::prompt_completion},
                 "a reward that compares with a reference answer",
                 "use prompt_answer data (or prompt_completion, whose "
                 "completion is the answer)");
  }

  // Reference.
  if (!rl.has_reference())
    rl.set_reference(s.model());
  const Binding *ref = model(at(rl, "reference"), rl.reference(), "reference");
  if (ref && ref != m && ref->head != Model::lm)
    error(at(rl, "reference"), "the reference must have an LM head",
          "name a language model");
  sameVocab(at(rl, "reference"), m, ref, "reference");

  // Critic.
  if (algo == Rl::ppo) {
    if (!rl.has_critic()) {
      error(at(s, "rl"), "ppo needs a critic",
            "declare 'models { name: \"critic\" from: \"" + s.model() +
                "\" head: scalar }' and set 'critic: \"critic\"'");
    } else {
      const Binding *c = model(at(rl, "critic"), rl.critic(), "critic");
      if (c && c->head != Model::scalar)
        error(at(rl, "critic"),
              "the critic " + q(rl.critic()) + " has an LM head",
              "a critic predicts values: declare it with 'head: scalar'");
      sameVocab(at(rl, "critic"), m, c, "critic");
      if (!rl.has_critic_output())
        rl.set_critic_output(rl.critic());
      if (c) {
        Binding b = *c;
        b.loc = at(rl, "critic_output");
        bound_[rl.critic_output()] = b;
      }
    }
  } else if (rl.has_critic()) {
    error(at(rl, "critic"), name + " uses no critic",
          "remove 'critic', or use 'algorithm: ppo'");
  }

  // Steps default: one pass over the prompts.
  auto rec = spec_.recordsOf.find(s.dataset());
  if (rl.steps() == 0 && rec != spec_.recordsOf.end() && rl.batch_size() > 0 &&
      group > 0) {
    long long prompts = std::max<long long>(1, rl.batch_size() / group);
    rl.set_steps(std::max<long long>(1, (rec->second + prompts - 1) / prompts));
  }
  checkGuidance(s, rl, group);
}

/// The policy loss: which algorithms have the ratio it changes, and its
/// numbers (defaults filled by resolveRlDefaults).
void Checker::checkPolicyLoss(Rl &rl, const std::string &name) {
  PolicyLoss &pl = *rl.mutable_policy_loss();
  std::string kind = PolicyLoss::Kind_Name(pl.kind());
  Rl::Algorithm algo = rl.algorithm();
  if (algo == Rl::rloo || algo == Rl::remax)
    error(at(rl, "policy_loss"),
          name + " is REINFORCE over sequence log-probs: it has no "
                 "importance ratio for 'policy_loss' to change",
          "remove 'policy_loss', or use grpo, dr_grpo or dapo");
  else if (pl.kind() != PolicyLoss::clip && !methods::isGrpoFamily(name))
    error(at(pl, "kind"),
          "policy_loss " + kind + " weighs one advantage per sequence, but " +
              name + " has per-token advantages",
          "use it with grpo, dr_grpo or dapo; " + name +
              " takes 'kind: clip' with dual_clip or tis_cap");
  if (rl.guidance_case() == Rl::kLuffy || rl.guidance_case() == Rl::kSrft)
    error(at(rl, "policy_loss"),
          std::string("the ") +
              (rl.guidance_case() == Rl::kLuffy ? "luffy" : "srft") +
              " hybrid has an objective of its own; 'policy_loss' would "
              "not change it",
          "remove 'policy_loss', or use chord, hpt, relift or uft");
  if (pl.dual_clip() != 0 &&
      !(std::isfinite(pl.dual_clip()) && pl.dual_clip() > 1))
    error(at(pl, "dual_clip"),
          "'dual_clip' must be above 1 (or 0: off), got " +
              fmt(pl.dual_clip()),
          "dual-clip PPO bounds the loss of A < 0 at -c A; Ye et al. use "
          "c = 3");
  if (pl.dual_clip() != 0 && pl.kind() != PolicyLoss::clip)
    error(at(pl, "dual_clip"),
          "'dual_clip' bounds the clipped surrogate, but kind is " + kind,
          "use 'kind: clip' with dual_clip");
  if (pl.tis_cap() != 0 && !(std::isfinite(pl.tis_cap()) && pl.tis_cap() >= 1))
    error(at(pl, "tis_cap"),
          "'tis_cap' must be at least 1 (or 0: off), got " + fmt(pl.tis_cap()),
          "truncated importance sampling caps the weight; 2 is usual (ms-swift's default)");
  for (const char *f : {"tau_pos", "tau_neg"}) {
    double v = f[4] == 'p' ? pl.tau_pos() : pl.tau_neg();
    if (!(std::isfinite(v) && v > 0))
      error(at(pl, f), q(f) + " must be positive, got " + fmt(v),
            "SAPO's paper uses tau_pos 1 and tau_neg 1.05");
    else if (pl.kind() != PolicyLoss::sapo && spec_.locs.has(pl, f) &&
             !atDeclaredDefault(pl, f))
      error(at(pl, f), q(f) + " is a SAPO setting; kind is " + kind,
            "remove it, or use 'kind: sapo'");
  }
}

/// The location of character `pos` of string field `field`: its column
/// in the spec's line when the literal is plain (one line, no escapes),
/// else the field's.
SourceLoc Checker::inString(const Message &m, const char *field, size_t pos) {
  SourceLoc loc = at(m, field);
  if (!loc.isKnown() || loc.line < 1 || loc.col < 1)
    return loc;
  std::ifstream in(loc.file);
  std::string line;
  for (int n = 0; n < loc.line && std::getline(in, line); ++n) {
  }
  if (!in && line.empty())
    return loc;
  size_t q = line.find('"', size_t(loc.col - 1));
  if (q == std::string::npos)
    return loc;
  size_t end = line.find('"', q + 1);
  if (end == std::string::npos || pos > end - q - 1 ||
      line.substr(q + 1, pos).find('\\') != std::string::npos)
    return loc;
  loc.col = int(q + 2 + pos);
  return loc;
}

/// A user-written objective: where it may be used, and its expression
/// (dialect/ObjectiveExpr.h) with a located error and a hint.
void Checker::checkObjective(Rl &rl, const std::string &name) {
  const Objective &o = rl.objective();
  if (!methods::isGrpoFamily(name)) {
    error(at(rl, "objective"),
          "an objective runs on grpo, dr_grpo or dapo stages yet, not " + name,
          "use 'algorithm: grpo' (advantages per sequence, no critic)");
    return;
  }
  if (rl.guidance_case() != Rl::GUIDANCE_NOT_SET) {
    error(at(rl, "objective"),
          "an objective replaces the whole loss, which a hybrid adds to",
          "remove the hybrid, or the objective");
    return;
  }
  if (rl.has_policy_loss()) {
    error(at(rl, "objective"),
          "'objective' and 'policy_loss' both define the policy loss",
          "write the policy loss in the expression, or remove 'objective'");
    return;
  }
  if (!o.has_expr()) {
    error(at(rl, "objective"), "the objective has no 'expr'",
          "add expr: \"token_mean(-logprob)\" or another expression");
    return;
  }
  objective::Settings settings;
  settings.values = {{"epsilon", rl.epsilon()},
                     {"epsilon_high", rl.epsilon_high()},
                     {"beta", rl.beta()}};
  settings.hasReference = rl.beta() > 0;
  objective::Error err;
  if (!objective::parseObjective(o.expr(), settings, err))
    error(inString(o, "expr", err.pos), err.message, err.hint);
}

void Checker::checkGuidance(Stage &s, Rl &rl, int64_t group) {
  auto demos = [&](Message &g, const std::string &field,
                   const std::string &datasetName, const char *what) {
    const Dataset *d = dataset(at(g, field.c_str()), datasetName);
    if (d)
      layoutFits(at(g, field.c_str()), *d,
                 {Dataset::prompt_completion, Dataset::messages,
                  Dataset::prompt_answer, Dataset::text},
                 what, "demonstrations need completions: use "
                       "prompt_completion data");
  };
  auto need = [&](Message &g, bool has, const char *what) {
    if (!has)
      error(at(g), std::string(what) + " needs demonstrations ('dataset')",
            "add 'dataset: \"...\"' naming prompt/completion data");
    return has;
  };
  auto schedule = [&](Schedule &sc, double lo, double hi) {
    fillDeclaredDefaults(sc);
    if (!sc.has_steps())
      sc.set_steps(rl.steps());
    inRange(sc, "start", sc.start(), lo, hi, false,
            "a weight in [" + fmt(lo) + ", " + fmt(hi) + "]");
    inRange(sc, "end", sc.end(), lo, hi, false,
            "a weight in [" + fmt(lo) + ", " + fmt(hi) + "]");
    nonNegative(sc, "steps", sc.steps());
    nonNegative(sc, "warmup_steps", sc.warmup_steps());
  };
  switch (rl.guidance_case()) {
  case Rl::kChord: {
    Chord &c = *rl.mutable_chord();
    if (need(c, c.has_dataset(), "CHORD"))
      demos(c, "dataset", c.dataset(), "CHORD");
    if (!c.has_mu())
      *c.mutable_mu() = defaultChordMu(rl.steps());
    schedule(*c.mutable_mu(), 0, 1);
    fillDeclaredDefaults(c);
    // The step's expert examples are the demonstrations of its prompts.
    int64_t prompts = group > 0 ? rl.batch_size() / group : rl.batch_size();
    if (c.has_sft_batch_size() && c.sft_batch_size() != prompts)
      error(at(c, "sft_batch_size"),
            "sft_batch_size " + fmt(long(c.sft_batch_size())) +
                " is not supported yet: CHORD trains on the demonstrations "
                "of the step's " + fmt(long(prompts)) + " prompts",
            "leave it unset (or set it to batch_size / samples_per_prompt)");
    if (!c.has_sft_batch_size())
      c.set_sft_batch_size(prompts);
    positive(c, "sft_batch_size", c.sft_batch_size());
    break;
  }
  case Rl::kSrft: {
    Srft &c = *rl.mutable_srft();
    if (need(c, c.has_dataset(), "SRFT"))
      demos(c, "dataset", c.dataset(), "SRFT");
    fillDeclaredDefaults(c);
    nonNegative(c, "sft_coef", c.sft_coef());
    nonNegative(c, "positive_coef", c.positive_coef());
    break;
  }
  case Rl::kLuffy: {
    Luffy &c = *rl.mutable_luffy();
    if (need(c, c.has_dataset(), "LUFFY"))
      demos(c, "dataset", c.dataset(), "LUFFY");
    fillDeclaredDefaults(c);
    positive(c, "off_policy_per_group", c.off_policy_per_group());
    if (group > 0 && c.off_policy_per_group() >= group)
      error(at(c, "off_policy_per_group"),
            "off_policy_per_group (" + fmt(long(c.off_policy_per_group())) +
                ") leaves no on-policy sample in groups of " +
                fmt(long(group)),
            "use fewer off-policy traces than samples_per_prompt");
    positive(c, "shaping_gamma", c.shaping_gamma(), "LUFFY uses 0.1");
    break;
  }
  case Rl::kRelift: {
    Relift &c = *rl.mutable_relift();
    if (!c.has_dataset())
      c.set_dataset(s.dataset());
    demos(c, "dataset", c.dataset(), "ReLIFT");
    fillDeclaredDefaults(c);
    if (!c.has_buffer_size())
      c.set_buffer_size(std::max<int64_t>(1, rl.batch_size() /
                                                 std::max<int64_t>(1, group)));
    positive(c, "buffer_size", c.buffer_size());
    positive(c, "sft_steps", c.sft_steps());
    break;
  }
  case Rl::kHpt: {
    Hpt &c = *rl.mutable_hpt();
    if (need(c, c.has_dataset(), "HPT"))
      demos(c, "dataset", c.dataset(), "HPT");
    fillDeclaredDefaults(c);
    inRange(c, "threshold", c.threshold(), 0, 1, true,
            "a rollout accuracy: RL above it, SFT at or below");
    break;
  }
  case Rl::kUft: {
    Uft &c = *rl.mutable_uft();
    if (need(c, c.has_dataset(), "UFT"))
      demos(c, "dataset", c.dataset(), "UFT");
    if (!c.has_hint_fraction())
      *c.mutable_hint_fraction() = defaultUftHint();
    schedule(*c.mutable_hint_fraction(), 0, 1);
    fillDeclaredDefaults(c);
    nonNegative(c, "sft_coef", c.sft_coef());
    break;
  }
  case Rl::GUIDANCE_NOT_SET:
    break;
  }
}

//===----------------------------------------------------------------------===//
// Evaluation, checkpointing, hardware, exports
//===----------------------------------------------------------------------===//

void Checker::checkEvaluations() {
  for (int i = 0; i < p_.evaluations_size(); ++i) {
    Evaluation &e = *p_.mutable_evaluations(i);
    const Dataset *d = nullptr;
    if (!e.has_dataset())
      error(at(p_, "evaluations", i), "the evaluation has no dataset",
            "add 'dataset: \"...\"' naming prompts to generate from");
    else
      d = dataset(at(e, "dataset"), e.dataset());
    if (!e.has_model())
      e.set_model(lastTrained_);
    const Binding *m =
        e.model().empty() ? nullptr : model(at(e, "model"), e.model(), "model");
    if (m && m->head != Model::lm && e.rewards_size() > 0)
      error(at(e, "model"), "the evaluated model has a scalar head and cannot "
                            "generate",
            "evaluate a language model");
    // Without rewards an evaluation reports the held-out loss, which needs
    // completions to score.
    bool completions =
        d && (d->layout() == Dataset::text || d->layout() == Dataset::messages ||
              d->layout() == Dataset::prompt_completion);
    if (e.rewards_size() == 0 && d && !completions)
      error(at(p_, "evaluations", i), "the evaluation has no reward",
            "add 'rewards: \"...\"' naming the rewards to report (without "
            "rewards an evaluation reports the held-out loss of text, "
            "messages or prompt_completion data)");
    bool answers = false;
    for (int j = 0; j < e.rewards_size(); ++j)
      if (const Reward *r = reward(at(e, "rewards", j), e.rewards(j)))
        answers |= needsAnswers(*r);
    if (d && e.rewards_size() > 0) {
      bool fits = layoutFits(at(e, "dataset"), *d,
                             {Dataset::prompt_only, Dataset::prompt_answer,
                              Dataset::prompt_completion, Dataset::messages},
                             "evaluation", "evaluation generates from prompts");
      if (fits && answers)
        layoutFits(at(e, "dataset"), *d,
                   {Dataset::prompt_answer, Dataset::prompt_completion},
                   "a reward that compares with a reference answer",
                   "use prompt_answer data");
    }
    fillDeclaredDefaults(e);
    nonNegative(e, "every_steps", e.every_steps(), "use 0 to evaluate at the "
                                                   "end only");
    if (e.every_steps() > 0 &&
        (e.model().empty() ? p_.stages_size() == 0
                           : outputs_.count(e.model()) == 0))
      error(at(e, "every_steps"),
            "every_steps: no stage trains " +
                (e.model().empty() ? std::string("a model") : q(e.model())),
            "every_steps evaluates during the stages that produce the model; "
            "name a stage's output or use 0 to evaluate once");
    nonNegative(e, "max_records", e.max_records(), "use 0 for all");
    if (e.has_generation())
      checkGeneration(e.generation());
    *e.mutable_generation() =
        evaluationGeneration(p_.generation(), e.generation());
  }
}

void Checker::checkRest() {
  Checkpointing &c = *p_.mutable_checkpointing();
  fillDeclaredDefaults(c);
  nonNegative(c, "every_steps", c.every_steps(), "use 0 to save at stage ends "
                                                 "only");
  nonNegative(c, "keep_last", c.keep_last(), "use 0 to keep all");
  inRange(c, "max_skipped_fraction", c.max_skipped_fraction(), 0, 1, false,
          "the share of a stage's steps that may be skipped; 1 for no limit");
  nonNegative(c, "max_skipped_in_a_row", c.max_skipped_in_a_row(),
              "use 0 for no limit");
  if (!c.dir().empty() &&
      (c.dir()[0] == '/' || ("/" + c.dir() + "/").find("/../") !=
                                std::string::npos))
    error(at(c, "dir"),
          "checkpointing dir " + q(c.dir()) +
              " must stay inside the run directory",
          "use a relative path without '..', e.g. \"checkpoints\", or leave "
          "it empty for the run directory itself");

  Hardware &h = *p_.mutable_hardware();
  fillDeclaredDefaults(h);
  if (!h.memory_budget().empty() && parseByteSize(h.memory_budget()) <= 0)
    error(at(h, "memory_budget"),
          "cannot read memory_budget " + q(h.memory_budget()),
          "write a size such as \"16GiB\", \"512MiB\" or \"2GB\"");
  positive(h, "ranks", h.ranks(), "use 1 for a single process");
  nonNegative(h, "rollout_staleness", h.rollout_staleness(),
              "0 is exactly on-policy");
  if (h.rollout_staleness() > 0)
    error(at(h, "rollout_staleness"),
          "rollout_staleness > 0 (generation running ahead of learning) is "
          "not supported yet",
          "use 0: every step generates with the weights it learns from");
  nonNegative(h, "threads", h.threads(), "use 0 for all cores");
  inRange(h, "collective_timeout_s", h.collective_timeout_s(), 0.1, 86400,
          false, "seconds; the default is 300");
  // bf16 on the cpu is accepted: the job checks the CPU it runs on (AVX-512
  // BF16 or AMX) and otherwise trains in fp32 with a note.

  Optimizer &o = *p_.mutable_optimizer();
  checkOptimizer(o);
  Generation &g = *p_.mutable_generation();
  checkGeneration(g);

  std::set<std::string> paths;
  if (p_.exports_size() == 0 && !lastTrained_.empty()) {
    Export &e = *p_.add_exports();
    e.set_model(lastTrained_);
    e.set_path("final");
  }
  for (int i = 0; i < p_.exports_size(); ++i) {
    Export &e = *p_.mutable_exports(i);
    if (!e.has_model())
      error(at(p_, "exports", i), "the export names no model",
            "add 'model: \"...\"'");
    else
      model(at(e, "model"), e.model(), "model");
    if (e.path().empty())
      error(at(p_, "exports", i), "the export has no 'path'",
            "add 'path: \"final\"' (below the output directory)");
    else if (!staysInRunDir(e, "path", e.path()))
      ;
    else if (!paths.insert(e.path()).second)
      error(at(e, "path"), "two exports write to " + q(e.path()),
            "give each export its own directory");
  }
}

//===----------------------------------------------------------------------===//
// Size limits: every size and count has an upper bound, checked before any
// product of them is formed, so products fit in 64 bits and nothing the
// checks accept overflows, exhausts memory in the compiler or crashes the job
// (docs/reliability.md).
//===----------------------------------------------------------------------===//

constexpr int64_t kMaxParameters = int64_t(1) << 36; // 69e9 (1.1 TB to train)
constexpr int64_t kMaxTokensPerBatch = int64_t(1) << 28;

/// Writes are confined to the run directory: no absolute path, no '..'.
bool Checker::staysInRunDir(const Message &m, const char *field,
                            const std::string &path) {
  if (!path.empty() && path[0] != '/' &&
      ("/" + path + "/").find("/../") == std::string::npos)
    return true;
  error(at(m, field),
        q(field) + " " + q(path) + " leaves the run directory",
        "use a relative path without '..', e.g. \"final\"; the run "
        "directory is output_dir (or the job's --out)");
  return false;
}

bool Checker::checkArchitectureLimits(const Architecture &a) {
  size_t before = diags_.errorCount();
  const Reflection *r = a.GetReflection();
  const Descriptor *d = a.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor *f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_INT64 || !r->HasField(a, f))
      continue;
    int64_t lim = countLimit(f->name()), v = r->GetInt64(a, f);
    if (lim > 0 && v > lim)
      error(at(a, f->name().c_str()),
            q(f->name()) + " is " + fmt(long(v)) + ", more than the largest " +
                "model size Hone accepts (" + countLimitText(lim) + ")",
            "use a value of at most " + std::to_string(lim));
  }
  return diags_.errorCount() == before;
}

void Checker::checkParameterCount(const Architecture &a) {
  // Every factor is bounded (checkArchitectureLimits): no product overflows.
  int64_t dm = a.d_model(), kvDim = a.kv_heads() * (dm / a.heads());
  int64_t mlp = (a.family() == Architecture::gpt2 ? 2 : 3) * dm * a.ffn();
  int64_t layer = 2 * dm * dm + 2 * dm * kvDim + mlp + 4 * dm;
  int64_t embed = a.vocab() * dm * (a.tie_embeddings() ? 1 : 2);
  if (a.family() == Architecture::gpt2)
    embed += a.max_seq_len() * dm;
  int64_t total = a.layers() * layer + embed;
  if (total > kMaxParameters)
    error(at(a), "the model has " + fmt(double(total)) +
                     " parameters, more than the " +
                     fmt(double(kMaxParameters)) + " Hone can train",
          "reduce layers, d_model, ffn or vocab");
}

void Checker::checkCountLimits(const Message &m) {
  const Descriptor *d = m.GetDescriptor();
  const Reflection *r = m.GetReflection();
  if (d->name() == "Architecture")
    return; // checkArchitectureLimits, also for loaded configurations
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor *f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int k = 0; k < r->FieldSize(m, f); ++k)
          checkCountLimits(r->GetRepeatedMessage(m, f, k));
      } else if (r->HasField(m, f)) {
        checkCountLimits(r->GetMessage(m, f));
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_INT64 || f->is_repeated() ||
        !r->HasField(m, f))
      continue;
    int64_t lim = countLimit(f->name()), v = r->GetInt64(m, f);
    if (lim > 0 && v > lim)
      error(at(m, f->name().c_str()),
            q(f->name()) + " is " + fmt(long(v)) + ", more than " +
                countLimitText(lim),
            "use a value of at most " + std::to_string(lim));
  }
}

/// Tokens a step holds at once: batch rows times their length. Runs after checkCountLimits bounded each
/// factor by 2^20, so the products fit in 64 bits.
void Checker::checkBatchProducts() {
  for (const Stage &s : p_.stages()) {
    int64_t rows = 0, len = 0;
    const Message *owner = nullptr;
    const char *field = "batch_size";
    const Loop *loop = s.has_sft()              ? &s.sft().loop()
                       : s.has_reward_model()   ? &s.reward_model().loop()
                       : s.has_preference()     ? &s.preference().loop()
                                                : nullptr;
    if (loop) {
      rows = loop->batch_size();
      len = loop->max_length();
      owner = loop;
    } else if (s.has_rl()) {
      const Generation &g =
          s.rl().has_generation() ? s.rl().generation() : p_.generation();
      rows = s.rl().batch_size();
      len = s.rl().max_prompt_length() + g.max_new_tokens();
      owner = &s.rl();
    }
    if (!owner || rows <= 0 || len <= 0 || rows > (int64_t(1) << 36) ||
        len > (int64_t(1) << 21))
      continue;
    if (rows * len > kMaxTokensPerBatch)
      error(at(*owner, field),
            "a step of this stage holds " + fmt(long(rows)) + " rows of up to " +
                fmt(long(len)) + " tokens (" + fmt(double(rows * len)) +
                "), more than the " + fmt(double(kMaxTokensPerBatch)) +
                " tokens per step Hone accepts",
            "lower batch_size (use grad_accum for a larger effective batch) "
            "or the sequence length");
  }
}

bool Checker::run() {
  size_t before = diags_.errorCount();
  checkTop();
  checkTokenizer();
  checkModels();
  checkDatasets();
  checkRewards();
  checkStages();
  checkEvaluations();
  checkRest();
  checkCountLimits(p_);
  checkBatchProducts();
  // Remaining defaults of models and the chat template.
  for (Model &m : *p_.mutable_models()) {
    fillDeclaredDefaults(m);
    if (m.has_init()) {
      fillDeclaredDefaults(*m.mutable_init());
      if (m.init().family() == Architecture::gpt2)
        dropUnused(*m.mutable_init(), {"rope_theta", "qkv_bias"});
    }
  }
  if (p_.has_tokenizer()) {
    Tokenizer &t = *p_.mutable_tokenizer();
    fillDeclaredDefaults(t);
    // Conversational data needs a chat template.
    for (const Stage &s : p_.stages()) {
      if (conversational_.count(s.dataset()) &&
          t.chat_template() == Tokenizer::no_template) {
        error(at(s, "dataset"),
              "dataset " + q(s.dataset()) +
                  " holds conversations but the tokenizer has no chat "
                  "template",
              "set 'chat_template: chatml' (or llama3) in the tokenizer");
        break;
      }
    }
  }
  for (Dataset &d : *p_.mutable_datasets())
    fillDeclaredDefaults(d);
  return diags_.errorCount() == before;
}

} // namespace

bool checkSpec(LoadedSpec &spec, DiagnosticList &diags,
               const LoadOptions &options) {
  return Checker(spec, diags, options).run();
}

long long parseByteSize(const std::string &text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) ||
                             text[i] == '.'))
    ++i;
  if (i == 0 || i > 24)
    return -1;
  std::string num = text.substr(0, i);
  if (std::count(num.begin(), num.end(), '.') > 1)
    return -1;
  double v = std::atof(num.c_str());
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ')
    unit.erase(unit.begin());
  static const std::pair<const char *, double> units[] = {
      {"", 1},          {"B", 1},           {"KB", 1e3},
      {"MB", 1e6},      {"GB", 1e9},        {"TB", 1e12},
      {"KiB", 1024.0},  {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0}};
  for (const auto &u : units)
    if (unit == u.first) {
      double bytes = v * u.second;
      if (!(bytes >= 1) || bytes > 9e18)
        return -1;
      return static_cast<long long>(bytes);
    }
  return -1;
}

} // namespace hone::spec
