//===- HoneSettings.cpp - typed spec settings: range checks ---------------===//
//
// The ranges of dialect/HoneSettings.td. The frontend checks the same
// ranges at the spec's field locations (frontend/check/); these hold
// for IR from anywhere else (hand-written, rewritten by a plugin).
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneAttrs.h"
#include "dialect/MethodFamilies.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/JSON.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::hone;

namespace {
/// Checks `name`'s value against a range and reports the first violation.
class Ranges {
public:
  Ranges(function_ref<InFlightDiagnostic()> emitError, StringRef attr)
      : emitError(emitError), attr(attr) {}

  Ranges &atLeast(StringRef name, double v, double lo) {
    return check(v >= lo, name, v, ">= " + num(lo));
  }
  Ranges &above(StringRef name, double v, double lo) {
    return check(v > lo, name, v, "> " + num(lo));
  }
  /// lo <= v < hi (hiOpen) or lo <= v <= hi.
  Ranges &within(StringRef name, double v, double lo, double hi,
                 bool hiOpen = false) {
    bool ok = v >= lo && (hiOpen ? v < hi : v <= hi);
    return check(ok, name, v,
                 "in [" + num(lo) + ", " + num(hi) + (hiOpen ? ")" : "]"));
  }
  Ranges &finite(StringRef name, double v) {
    return check(std::isfinite(v), name, v, "finite");
  }
  LogicalResult result() const { return failure(failed); }

private:
  static std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  Ranges &check(bool ok, StringRef name, double v, const std::string &want) {
    if (!failed && (!ok || std::isnan(v))) {
      failed = true;
      emitError() << "#hone." << attr << ": " << name << " = " << num(v)
                  << " must be " << want;
    }
    return *this;
  }
  function_ref<InFlightDiagnostic()> emitError;
  StringRef attr;
  bool failed = false;
};

double d(const APFloat &v) { return v.convertToDouble(); }
} // namespace

LogicalResult OptimizerAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    APFloat lr, APFloat beta1, APFloat beta2,
                                    APFloat eps, APFloat weightDecay,
                                    LrSchedule, int64_t warmupSteps,
                                    APFloat minLrRatio, APFloat maxGradNorm) {
  return Ranges(emitError, "optimizer")
      .above("lr", d(lr), 0)
      .finite("lr", d(lr))
      .within("beta1", d(beta1), 0, 1, /*hiOpen=*/true)
      .within("beta2", d(beta2), 0, 1, /*hiOpen=*/true)
      .above("eps", d(eps), 0)
      .atLeast("weight_decay", d(weightDecay), 0)
      .atLeast("warmup_steps", double(warmupSteps), 0)
      .within("min_lr_ratio", d(minLrRatio), 0, 1)
      .atLeast("max_grad_norm", d(maxGradNorm), 0)
      .result();
}

LogicalResult LoraAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t rank, APFloat alpha, APFloat dropout,
                               ArrayAttr targets, bool) {
  static const char *known[] = {"q_proj",    "k_proj",  "v_proj",
                                "o_proj",    "gate_proj", "up_proj",
                                "down_proj"};
  if (!targets || targets.empty())
    return emitError() << "#hone.lora: target_modules must name at least "
                          "one module";
  llvm::SmallDenseSet<StringRef> seen;
  for (Attribute a : targets) {
    auto s = dyn_cast<StringAttr>(a);
    if (!s || !llvm::is_contained(known, s.getValue()))
      return emitError() << "#hone.lora: unknown target module " << a
                         << " (q_proj, k_proj, v_proj, o_proj, gate_proj, "
                            "up_proj, down_proj)";
    if (!seen.insert(s.getValue()).second)
      return emitError() << "#hone.lora: target module " << a
                         << " is named twice";
  }
  return Ranges(emitError, "lora")
      .atLeast("rank", double(rank), 1)
      .above("alpha", d(alpha), 0)
      .finite("alpha", d(alpha))
      .within("dropout", d(dropout), 0, 1, /*hiOpen=*/true)
      .result();
}

int64_t LoraAttr::getNumAdapterParameters(ArchAttr arch) const {
  const int64_t d = arch.getDModel(), f = arch.getFfn();
  const int64_t q = arch.getHeads() * arch.getHeadDimension();
  const int64_t kv = arch.getKvHeads() * arch.getHeadDimension();
  int64_t perRank = 0; // in + out of every targeted projection
  for (Attribute a : getTargetModules()) {
    StringRef m = cast<StringAttr>(a).getValue();
    perRank += m == "q_proj"                       ? d + q
               : m == "k_proj" || m == "v_proj"    ? d + kv
               : m == "o_proj"                     ? q + d
                                                   : d + f; // MLP projections
  }
  double n = double(perRank) * double(getRank()) * double(arch.getLayers());
  if (!(n < 0x1p62))
    return std::numeric_limits<int64_t>::max();
  return perRank * getRank() * arch.getLayers();
}

LogicalResult
GenerationAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t maxNewTokens, APFloat temperature, int64_t topK,
                       APFloat topP, ArrayAttr stop) {
  if (!stop || !llvm::all_of(stop, [](Attribute a) {
        auto s = dyn_cast<StringAttr>(a);
        return s && !s.getValue().empty();
      }))
    return emitError() << "#hone.generation: stop must be an array of "
                          "non-empty strings";
  return Ranges(emitError, "generation")
      .atLeast("max_new_tokens", double(maxNewTokens), 1)
      .atLeast("temperature", d(temperature), 0)
      .finite("temperature", d(temperature))
      .atLeast("top_k", double(topK), 0)
      .above("top_p", d(topP), 0)
      .within("top_p", d(topP), 0, 1)
      .result();
}

LogicalResult LoopAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t gradAccum, int64_t maxLength) {
  return Ranges(emitError, "loop")
      .atLeast("grad_accum", double(gradAccum), 1)
      .atLeast("max_length", double(maxLength), 1)
      .result();
}

LogicalResult ScheduleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   ScheduleKind, APFloat start, APFloat end,
                                   int64_t steps, int64_t warmupSteps) {
  return Ranges(emitError, "schedule")
      .finite("start", d(start))
      .finite("end", d(end))
      .atLeast("steps", double(steps), 0)
      .atLeast("warmup_steps", double(warmupSteps), 0)
      .result();
}

LogicalResult
SftSettingsAttr::verify(function_ref<InFlightDiagnostic()> emitError, bool,
                        bool, APFloat iwClip) {
  return Ranges(emitError, "sft_settings").above("iw_clip", d(iwClip), 0).result();
}

LogicalResult RewardModelSettingsAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, APFloat centerRewards) {
  return Ranges(emitError, "reward_model_settings")
      .atLeast("center_rewards", d(centerRewards), 0)
      .result();
}

LogicalResult PreferenceSettingsAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, APFloat beta,
    APFloat labelSmoothing, APFloat desirableWeight, APFloat undesirableWeight,
    APFloat simpoGamma) {
  return Ranges(emitError, "preference_settings")
      .above("beta", d(beta), 0)
      .finite("beta", d(beta))
      .within("label_smoothing", d(labelSmoothing), 0, 0.5, /*hiOpen=*/true)
      .atLeast("desirable_weight", d(desirableWeight), 0)
      .atLeast("undesirable_weight", d(undesirableWeight), 0)
      .finite("simpo_gamma", d(simpoGamma))
      .result();
}

LogicalResult RlSettingsAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, int64_t gradAccum,
    int64_t maxPromptLength, KlEstimator, KlPlacement, APFloat epsilon,
    APFloat epsilonHigh, int64_t ppoEpochs, int64_t miniBatches, Aggregation,
    bool, bool, int64_t maxResampleRounds, bool, APFloat gamma, APFloat lam,
    APFloat valueClip, APFloat vfCoef, APFloat entropyCoef, int64_t staleness) {
  return Ranges(emitError, "rl_settings")
      .atLeast("grad_accum", double(gradAccum), 1)
      .atLeast("max_prompt_length", double(maxPromptLength), 1)
      .atLeast("epsilon", d(epsilon), 0)
      .atLeast("epsilon_high", d(epsilonHigh), 0)
      .atLeast("ppo_epochs", double(ppoEpochs), 1)
      .atLeast("mini_batches", double(miniBatches), 1)
      .atLeast("max_resample_rounds", double(maxResampleRounds), 0)
      .within("gamma", d(gamma), 0, 1)
      .within("lam", d(lam), 0, 1)
      .atLeast("value_clip", d(valueClip), 0)
      .atLeast("vf_coef", d(vfCoef), 0)
      .atLeast("entropy_coef", d(entropyCoef), 0)
      .atLeast("staleness", double(staleness), 0)
      .result();
}

LogicalResult PolicyLossAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, PolicyLossKind,
    APFloat dualClip, APFloat tisCap, APFloat tauPos, APFloat tauNeg) {
  Ranges r(emitError, "policy_loss");
  // 0 switches dual clip and truncated IS off.
  if (d(dualClip) != 0.0)
    r.above("dual_clip", d(dualClip), 1);
  if (d(tisCap) != 0.0)
    r.atLeast("tis_cap", d(tisCap), 1);
  return r.finite("dual_clip", d(dualClip))
      .finite("tis_cap", d(tisCap))
      .above("tau_pos", d(tauPos), 0)
      .above("tau_neg", d(tauNeg), 0)
      .finite("tau_pos", d(tauPos))
      .finite("tau_neg", d(tauNeg))
      .result();
}

LogicalResult ChordAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                ScheduleAttr mu, bool, int64_t sftBatchSize) {
  if (!mu)
    return emitError() << "#hone.chord: mu must be a #hone.schedule";
  return Ranges(emitError, "chord")
      .within("mu.start", mu.getStart().convertToDouble(), 0, 1)
      .within("mu.end", mu.getEnd().convertToDouble(), 0, 1)
      .atLeast("sft_batch_size", double(sftBatchSize), 1)
      .result();
}

LogicalResult SrftAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               APFloat sftCoef, APFloat positiveCoef) {
  return Ranges(emitError, "srft")
      .atLeast("sft_coef", d(sftCoef), 0)
      .atLeast("positive_coef", d(positiveCoef), 0)
      .result();
}

LogicalResult LuffyAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t offPolicyPerGroup,
                                APFloat shapingGamma) {
  return Ranges(emitError, "luffy")
      .atLeast("off_policy_per_group", double(offPolicyPerGroup), 1)
      .above("shaping_gamma", d(shapingGamma), 0)
      .result();
}

LogicalResult ReliftAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t bufferSize, int64_t sftSteps) {
  return Ranges(emitError, "relift")
      .atLeast("buffer_size", double(bufferSize), 1)
      .atLeast("sft_steps", double(sftSteps), 1)
      .result();
}

LogicalResult HptAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              APFloat threshold) {
  return Ranges(emitError, "hpt")
      .within("threshold", d(threshold), 0, 1, /*hiOpen=*/true)
      .result();
}

LogicalResult UftAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              ScheduleAttr hintFraction, APFloat sftCoef) {
  if (!hintFraction)
    return emitError() << "#hone.uft: hint_fraction must be a #hone.schedule";
  return Ranges(emitError, "uft")
      .within("hint_fraction.start", hintFraction.getStart().convertToDouble(), 0, 1)
      .within("hint_fraction.end", hintFraction.getEnd().convertToDouble(), 0, 1)
      .atLeast("sft_coef", d(sftCoef), 0)
      .result();
}

LogicalResult
EvalSettingsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         int64_t everySteps, int64_t maxRecords,
                         GenerationAttr generation) {
  if (!generation)
    return emitError() << "#hone.eval_settings: generation must be a "
                          "#hone.generation";
  return Ranges(emitError, "eval_settings")
      .atLeast("every_steps", double(everySteps), 0)
      .atLeast("max_records", double(maxRecords), 0)
      .result();
}

LogicalResult ExactMatchAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                     StringRef, bool, bool, APFloat correct,
                                     APFloat incorrect) {
  return Ranges(emitError, "exact_match")
      .finite("correct", d(correct))
      .finite("incorrect", d(incorrect))
      .result();
}

LogicalResult
NumericMatchAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         StringRef, APFloat relTolerance, APFloat correct,
                         APFloat incorrect) {
  return Ranges(emitError, "numeric_match")
      .atLeast("rel_tolerance", d(relTolerance), 0)
      .finite("rel_tolerance", d(relTolerance))
      .finite("correct", d(correct))
      .finite("incorrect", d(incorrect))
      .result();
}

LogicalResult
PatternRewardAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          APFloat match, APFloat noMatch) {
  return Ranges(emitError, "pattern_reward")
      .finite("match", d(match))
      .finite("no_match", d(noMatch))
      .result();
}

LogicalResult
LengthShapingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          APFloat penalty) {
  return Ranges(emitError, "length_shaping")
      .atLeast("penalty", d(penalty), 0)
      .finite("penalty", d(penalty))
      .result();
}

LogicalResult ColumnsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  StringRef text, StringRef messages,
                                  StringRef role, StringRef content,
                                  StringRef prompt, StringRef completion,
                                  StringRef chosen, StringRef rejected,
                                  StringRef label, StringRef answer,
                                  DictionaryAttr roleNames) {
  for (StringRef k : {text, messages, role, content, prompt, completion,
                      chosen, rejected, label, answer})
    if (k.empty())
      return emitError() << "#hone.columns: a column name is empty";
  if (!roleNames || !llvm::all_of(roleNames, [](NamedAttribute n) {
        return isa<StringAttr>(n.getValue());
      }))
    return emitError() << "#hone.columns: role_names must map names to "
                          "strings";
  return success();
}

LogicalResult
DatasetSettingsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                            ColumnsAttr columns, APFloat evalFraction, bool,
                            int64_t shuffleSeed, int64_t maxRecords) {
  if (!columns)
    return emitError() << "#hone.dataset_settings: columns must be a "
                          "#hone.columns";
  return Ranges(emitError, "dataset_settings")
      .within("eval_fraction", d(evalFraction), 0, 1, /*hiOpen=*/true)
      .atLeast("shuffle_seed", double(shuffleSeed), 0)
      .atLeast("max_records", double(maxRecords), 0)
      .result();
}

LogicalResult CharVocabAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    StringRef alphabet, ArrayAttr special) {
  if (alphabet.empty())
    return emitError() << "#hone.char_vocab: alphabet must not be empty";
  if (!special || !llvm::all_of(special, [](Attribute a) {
        return isa<StringAttr>(a);
      }))
    return emitError() << "#hone.char_vocab: special must be a list of "
                          "strings";
  return success();
}

LogicalResult
TokenizerAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      CharVocabAttr chars, StringRef file,
                      ChatTemplate chatTemplate, StringRef templateKwargs) {
  if (bool(chars) == !file.empty())
    return emitError() << "#hone.tokenizer: give exactly one of chars and "
                          "file";
  if (chatTemplate == ChatTemplate::from_model && file.empty())
    return emitError() << "#hone.tokenizer: chat_template from_model needs "
                          "a tokenizer file (the template is read beside it)";
  llvm::Expected<llvm::json::Value> kw = llvm::json::parse(templateKwargs);
  if (!kw) {
    std::string why = llvm::toString(kw.takeError());
    return emitError() << "#hone.tokenizer: chat_template_kwargs is not "
                          "JSON: "
                       << why;
  }
  const llvm::json::Object *obj = kw->getAsObject();
  if (!obj)
    return emitError() << "#hone.tokenizer: chat_template_kwargs must be a "
                          "JSON object";
  if (!obj->empty() && chatTemplate != ChatTemplate::from_model)
    return emitError() << "#hone.tokenizer: chat_template_kwargs are "
                          "variables of the model's own template; they need "
                          "chat_template = from_model";
  return success();
}

LogicalResult HardwareAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   Device, int64_t memoryBudget, int64_t ranks,
                                   int64_t rolloutStaleness, Precision,
                                   Precision frozenPrecision, int64_t threads,
                                   APFloat collectiveTimeoutS) {
  if (frozenPrecision == Precision::auto_precision)
    return emitError() << "#hone.hardware: frozen_precision must be fp32 or "
                          "bf16 (the frontend resolves the spec's auto)";
  return Ranges(emitError, "hardware")
      .atLeast("memory_budget", double(memoryBudget), 0)
      .atLeast("ranks", double(ranks), 1)
      .atLeast("rollout_staleness", double(rolloutStaleness), 0)
      .within("threads", double(threads), 0, 1024)
      .within("collective_timeout_s", d(collectiveTimeoutS), 0.1, 86400)
      .result();
}

LogicalResult
CheckpointingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          int64_t everySteps, int64_t keepLast, OnNan,
                          APFloat maxSkippedFraction, int64_t maxSkippedInARow,
                          StringRef) {
  return Ranges(emitError, "checkpointing")
      .atLeast("every_steps", double(everySteps), 0)
      .atLeast("keep_last", double(keepLast), 0)
      .within("max_skipped_fraction", d(maxSkippedFraction), 0, 1)
      .atLeast("max_skipped_in_a_row", double(maxSkippedInARow), 0)
      .result();
}

LogicalResult RunAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              int64_t, StringRef, TokenizerAttr tokenizer,
                              HardwareAttr hardware,
                              CheckpointingAttr checkpointing) {
  if (!tokenizer || !hardware || !checkpointing)
    return emitError() << "#hone.run: tokenizer, hardware and checkpointing "
                          "must be #hone.tokenizer, #hone.hardware and "
                          "#hone.checkpointing";
  return success();
}

bool mlir::hone::isGroupAlgorithm(RlAlgorithm a) {
  return ::hone::methods::isGroupAlgorithm(stringifyRlAlgorithm(a).str());
}

bool mlir::hone::isGrpoFamily(RlAlgorithm a) {
  return ::hone::methods::isGrpoFamily(stringifyRlAlgorithm(a).str());
}
