//===- HoneSettings.cpp - typed spec settings: range checks ---------------===//
//
// The ranges of dialect/HoneSettings.td. The frontend checks the same
// ranges at the spec's field locations (frontend/check/); these hold
// for IR from anywhere else (hand-written, rewritten by a plugin).
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneAttrs.h"
#include "dialect/MethodFamilies.h"
#include "dialect/RangeVerifier.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/JSON.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::hone;

namespace {
double d(const APFloat &v) { return v.convertToDouble(); }
} // namespace

LogicalResult OptimizerAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                    APFloat lr, APFloat beta1, APFloat beta2,
                                    APFloat eps, APFloat weightDecay,
                                    LrSchedule, int64_t warmupSteps,
                                    APFloat minLrRatio, APFloat maxGradNorm) {
  return RangeCheck(emitError, "optimizer")
      .rule("lr", d(lr))
      .rule("beta1", d(beta1))
      .rule("beta2", d(beta2))
      .rule("eps", d(eps))
      .rule("weight_decay", d(weightDecay))
      .rule("warmup_steps", double(warmupSteps))
      .rule("min_lr_ratio", d(minLrRatio))
      .rule("max_grad_norm", d(maxGradNorm))
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
  return RangeCheck(emitError, "lora")
      .rule("rank", double(rank))
      .rule("alpha", d(alpha))
      .rule("dropout", d(dropout))
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
  return RangeCheck(emitError, "generation")
      .rule("max_new_tokens", double(maxNewTokens))
      .rule("temperature", d(temperature))
      .rule("top_k", double(topK))
      .rule("top_p", d(topP))
      .result();
}

LogicalResult LoopAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t gradAccum, int64_t maxLength) {
  return RangeCheck(emitError, "loop")
      .rule("grad_accum", double(gradAccum))
      .rule("max_length", double(maxLength))
      .result();
}

LogicalResult ScheduleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   ScheduleKind, APFloat start, APFloat end,
                                   int64_t steps, int64_t warmupSteps) {
  return RangeCheck(emitError, "schedule")
      .finite("start", d(start))
      .finite("end", d(end))
      .rule("steps", double(steps))
      .rule("warmup_steps", double(warmupSteps))
      .result();
}

LogicalResult
SftSettingsAttr::verify(function_ref<InFlightDiagnostic()> emitError, bool,
                        bool, APFloat iwClip) {
  return RangeCheck(emitError, "sft_settings").rule("iw_clip", d(iwClip)).result();
}

LogicalResult RewardModelSettingsAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, APFloat centerRewards) {
  return RangeCheck(emitError, "reward_model_settings")
      .rule("center_rewards", d(centerRewards))
      .result();
}

LogicalResult PreferenceSettingsAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, APFloat beta,
    APFloat labelSmoothing, APFloat desirableWeight, APFloat undesirableWeight,
    APFloat simpoGamma, bool /*precomputeRefLogProbs*/) {
  return RangeCheck(emitError, "preference_settings")
      .rule("beta", d(beta))
      .rule("label_smoothing", d(labelSmoothing))
      .rule("desirable_weight", d(desirableWeight))
      .rule("undesirable_weight", d(undesirableWeight))
      .finite("simpo_gamma", d(simpoGamma))
      .result();
}

LogicalResult RlSettingsAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, int64_t gradAccum,
    int64_t maxPromptLength, KlEstimator, KlPlacement, APFloat epsilon,
    APFloat epsilonHigh, int64_t ppoEpochs, int64_t miniBatches, Aggregation,
    bool, bool, int64_t maxResampleRounds, bool, APFloat gamma, APFloat lam,
    APFloat valueClip, APFloat vfCoef, APFloat entropyCoef, int64_t staleness) {
  if (std::string p = ::hone::ranges::clipHigherProblem(d(epsilon),
                                                       d(epsilonHigh));
      !p.empty())
    return emitError() << "#hone.rl_settings: " << p << " ("
                       << ::hone::ranges::kClipHigherHint << ")";
  return RangeCheck(emitError, "rl_settings")
      .rule("grad_accum", double(gradAccum))
      .rule("max_prompt_length", double(maxPromptLength))
      .rule("epsilon", d(epsilon))
      .rule("epsilon_high", d(epsilonHigh))
      .rule("ppo_epochs", double(ppoEpochs))
      .rule("mini_batches", double(miniBatches))
      .rule("max_resample_rounds", double(maxResampleRounds))
      .rule("gamma", d(gamma))
      .rule("lam", d(lam))
      .rule("value_clip", d(valueClip))
      .rule("vf_coef", d(vfCoef))
      .rule("entropy_coef", d(entropyCoef))
      .rule("staleness", double(staleness))
      .result();
}

LogicalResult PolicyLossAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, PolicyLossKind,
    APFloat dualClip, APFloat tisCap, APFloat tauPos, APFloat tauNeg) {
  return RangeCheck(emitError, "policy_loss")
      .rule("dual_clip", d(dualClip))
      .rule("tis_cap", d(tisCap))
      .rule("tau_pos", d(tauPos))
      .rule("tau_neg", d(tauNeg))
      .result();
}

LogicalResult ChordAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                ScheduleAttr mu, bool, int64_t sftBatchSize) {
  if (!mu)
    return emitError() << "#hone.chord: mu must be a #hone.schedule";
  return RangeCheck(emitError, "chord")
      .within("mu.start", mu.getStart().convertToDouble(), 0, 1)
      .within("mu.end", mu.getEnd().convertToDouble(), 0, 1)
      .rule("sft_batch_size", double(sftBatchSize))
      .result();
}

LogicalResult SrftAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               APFloat sftCoef, APFloat positiveCoef) {
  return RangeCheck(emitError, "srft")
      .rule("sft_coef", d(sftCoef))
      .rule("positive_coef", d(positiveCoef))
      .result();
}

LogicalResult LuffyAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t offPolicyPerGroup,
                                APFloat shapingGamma) {
  return RangeCheck(emitError, "luffy")
      .rule("off_policy_per_group", double(offPolicyPerGroup))
      .rule("shaping_gamma", d(shapingGamma))
      .result();
}

LogicalResult ReliftAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t bufferSize, int64_t sftSteps) {
  return RangeCheck(emitError, "relift")
      .rule("buffer_size", double(bufferSize))
      .rule("sft_steps", double(sftSteps))
      .result();
}

LogicalResult HptAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              APFloat threshold) {
  return RangeCheck(emitError, "hpt")
      .rule("threshold", d(threshold))
      .result();
}

LogicalResult UftAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              ScheduleAttr hintFraction, APFloat sftCoef) {
  if (!hintFraction)
    return emitError() << "#hone.uft: hint_fraction must be a #hone.schedule";
  return RangeCheck(emitError, "uft")
      .within("hint_fraction.start", hintFraction.getStart().convertToDouble(), 0, 1)
      .within("hint_fraction.end", hintFraction.getEnd().convertToDouble(), 0, 1)
      .rule("sft_coef", d(sftCoef))
      .result();
}

LogicalResult
EvalSettingsAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         int64_t everySteps, int64_t maxRecords,
                         GenerationAttr generation) {
  if (!generation)
    return emitError() << "#hone.eval_settings: generation must be a "
                          "#hone.generation";
  return RangeCheck(emitError, "eval_settings")
      .rule("every_steps", double(everySteps))
      .rule("max_records", double(maxRecords))
      .result();
}

LogicalResult ExactMatchAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                     StringRef, bool, bool, APFloat correct,
                                     APFloat incorrect) {
  return RangeCheck(emitError, "exact_match")
      .finite("correct", d(correct))
      .finite("incorrect", d(incorrect))
      .result();
}

LogicalResult
NumericMatchAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         StringRef, APFloat relTolerance, APFloat correct,
                         APFloat incorrect) {
  return RangeCheck(emitError, "numeric_match")
      .rule("rel_tolerance", d(relTolerance))
      .finite("correct", d(correct))
      .finite("incorrect", d(incorrect))
      .result();
}

LogicalResult
PatternRewardAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          APFloat match, APFloat noMatch) {
  return RangeCheck(emitError, "pattern_reward")
      .finite("match", d(match))
      .finite("no_match", d(noMatch))
      .result();
}

LogicalResult
LengthShapingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          APFloat penalty) {
  return RangeCheck(emitError, "length_shaping")
      .rule("penalty", d(penalty))
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
  return RangeCheck(emitError, "dataset_settings")
      .rule("eval_fraction", d(evalFraction))
      .rule("shuffle_seed", double(shuffleSeed))
      .rule("max_records", double(maxRecords))
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
  if (memoryBudget < 0)
    return emitError() << "#hone.hardware: memory_budget = " << memoryBudget
                       << " must not be negative (0: no budget)";
  return RangeCheck(emitError, "hardware")
      .rule("ranks", double(ranks))
      .rule("rollout_staleness", double(rolloutStaleness))
      .rule("threads", double(threads))
      .rule("collective_timeout_s", d(collectiveTimeoutS))
      .result();
}

LogicalResult
CheckpointingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          int64_t everySteps, int64_t keepLast, OnNan,
                          APFloat maxSkippedFraction, int64_t maxSkippedInARow,
                          StringRef) {
  return RangeCheck(emitError, "checkpointing")
      .rule("every_steps", double(everySteps))
      .rule("keep_last", double(keepLast))
      .rule("max_skipped_fraction", d(maxSkippedFraction))
      .rule("max_skipped_in_a_row", double(maxSkippedInARow))
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
