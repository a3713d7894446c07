//===- HoneOps.cpp - hone ops and their verifiers -------------------------===//
//
// Verifiers reject pipelines that cannot run. Each error names what is wrong
// and carries a note saying how to fix it.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneOps.h"
#include "dialect/MethodFamilies.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::hone;

//===----------------------------------------------------------------------===//
// custom<Keyword>: an enum attribute as a bare keyword (`hone.rl grpo …`)
//===----------------------------------------------------------------------===//

template <typename AttrT>
static ParseResult parseKeyword(OpAsmParser &parser, AttrT &attr) {
  using Enum = decltype(std::declval<AttrT>().getValue());
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (failed(parser.parseOptionalKeyword(&keyword)))
    return failure();
  if (std::optional<Enum> value = symbolizeEnum<Enum>(keyword)) {
    attr = AttrT::get(parser.getContext(), *value);
    return success();
  }
  std::string expected;
  llvm::raw_string_ostream os(expected);
  // Cases are numbered from 0; stringifyEnum gives "" past the last one.
  for (uint32_t v = 0;; ++v) {
    StringRef name = stringifyEnum(static_cast<Enum>(v));
    if (name.empty())
      break;
    os << (v ? ", " : "") << name;
  }
  return parser.emitError(loc) << "unknown keyword '" << keyword
                               << "', expected one of: " << expected;
}

template <typename AttrT>
static void printKeyword(OpAsmPrinter &printer, Operation *, AttrT attr) {
  printer << stringifyEnum(attr.getValue());
}

#define GET_OP_CLASSES
#include "dialect/HoneOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static LogicalResult fail(Operation *op, const Twine &message,
                          const Twine &hint) {
  InFlightDiagnostic diag = op->emitOpError(message);
  diag.attachNote(op->getLoc()) << "hint: " << hint;
  return diag;
}

static LogicalResult checkPositive(Operation *op, StringRef name,
                                   int64_t value) {
  if (value > 0)
    return success();
  return fail(op, "'" + name + "' must be positive, got " + Twine(value),
              "set " + name + " to at least 1");
}

static LogicalResult checkStageSizes(Operation *op, int64_t steps,
                                     int64_t batchSize) {
  if (failed(checkPositive(op, "steps", steps)))
    return failure();
  return checkPositive(op, "batch_size", batchSize);
}

/// An offline stage's examples fit the model's positions.
static LogicalResult checkLoop(Operation *op, LoopAttr loop, Value model) {
  int64_t maxSeq = cast<ModelType>(model.getType()).getArch().getMaxSeq();
  if (loop.getMaxLength() <= maxSeq)
    return success();
  return fail(op,
              "loop.max_length (" + Twine(loop.getMaxLength()) +
                  ") exceeds the model's max_seq (" + Twine(maxSeq) + ")",
              "the model has no positions beyond max_seq");
}

/// A model that generates or is scored token by token needs an LM head.
static LogicalResult checkPolicy(Operation *op, StringRef role, Value model) {
  if (cast<ModelType>(model.getType()).hasLMHead())
    return success();
  return fail(op, "the " + role + " must have an LM head, not a scalar head",
              "pass a language model here; scalar-head models are reward or "
              "value models");
}

/// A reference or critic must read the same tokens as the policy.
static LogicalResult checkSameVocab(Operation *op, StringRef role,
                                    Value policy, Value other) {
  int64_t a = cast<ModelType>(policy.getType()).getArch().getVocab();
  int64_t b = cast<ModelType>(other.getType()).getArch().getVocab();
  if (a == b)
    return success();
  return fail(op,
              "the " + role + " has vocab " + Twine(b) +
                  " but the policy has vocab " + Twine(a),
              "both models must use the same tokenizer");
}

static StringRef layoutName(Value data) {
  return stringifyColumnLayout(cast<DatasetType>(data.getType()).getLayout());
}

/// Whether a reward (through combinations) compares with a reference answer.
static bool rewardNeedsAnswers(Value reward) {
  Operation *def = reward.getDefiningOp();
  if (auto verifier = dyn_cast_or_null<RewardVerifierOp>(def))
    return verifier.needsReferenceAnswer();
  if (auto combine = dyn_cast_or_null<RewardCombineOp>(def))
    return llvm::any_of(combine.getInputs(), rewardNeedsAnswers);
  return false;
}

//===----------------------------------------------------------------------===//
// Models and rewards
//===----------------------------------------------------------------------===//

// Model declarations name their result after the spec's model.
void ModelInitOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  setNameFn(getModel(), getName());
}
void ModelLoadOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  setNameFn(getModel(), getName());
}
void ModelNewHeadOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  setNameFn(getModel(), getName());
}

LogicalResult ModelNewHeadOp::verify() {
  auto from = cast<ModelType>(getBase().getType());
  auto to = cast<ModelType>(getModel().getType());
  if (from.getArch() != to.getArch())
    return fail(*this, "the new head must keep the body's architecture",
                "give the result the same #hone.arch as the operand");
  return success();
}

void ModelLoraOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  setNameFn(getModel(), (getName() + "_lora").str());
}

LogicalResult ModelLoraOp::verify() {
  auto from = cast<ModelType>(getBase().getType());
  if (from != getModel().getType())
    return fail(*this, "adapters keep the model's type",
                "give the result the operand's type");
  if (from.getArch().getFamily() == ::hone::ModelFamily::GPT2)
    return fail(*this, "LoRA applies to the llama family, not gpt2",
                "train all weights, or use a llama-family model");
  if (from.getHead() != ::hone::HeadKind::LM)
    return fail(*this, "LoRA on a scalar-head model is not supported",
                "adapt an LM-head model");
  if (getBase().getDefiningOp<ModelLoraOp>())
    return fail(*this, "the base already carries adapters",
                "stacking adapters is not supported; train the existing "
                "ones");
  return success();
}

LogicalResult RewardVerifierOp::verify() {
  VerifierKind kind = getKind();
  bool usesPattern = kind == VerifierKind::regex || kind == VerifierKind::format;
  bool isLength = kind == VerifierKind::length;
  StringRef name = stringifyVerifierKind(kind);

  if (usesPattern && !getPattern())
    return fail(*this, Twine("the ") + name + " verifier needs a 'pattern'",
                "add pattern = \"…\" (a PCRE2 regular expression)");
  if (!usesPattern && getPattern())
    return fail(*this,
                Twine("'pattern' is not used by the ") + name + " verifier",
                "only regex and format verifiers take a pattern");
  if (getTolerance()) {
    if (kind != VerifierKind::numeric_match)
      return fail(*this,
                  Twine("'tolerance' is not used by the ") + name + " verifier",
                  "only numeric_match takes a tolerance");
    if (!(getTolerance()->convertToDouble() >= 0.0))
      return fail(*this, "'tolerance' must be non-negative",
                  "use 0 for an exact numeric comparison");
  }
  if (!isLength && (getMaxLength() || getCacheLength()))
    return fail(*this,
                Twine("'max_length'/'cache_length' are not used by the ") +
                    name + " verifier",
                "only the length verifier shapes by length");
  if (Attribute settings = getSettingsAttr()) {
    bool fits = false;
    StringRef want;
    switch (kind) {
    case VerifierKind::exact_match:
      fits = isa<ExactMatchAttr>(settings), want = "#hone.exact_match";
      break;
    case VerifierKind::numeric_match:
      fits = isa<NumericMatchAttr>(settings), want = "#hone.numeric_match";
      break;
    case VerifierKind::regex:
    case VerifierKind::format:
      fits = isa<PatternRewardAttr>(settings), want = "#hone.pattern_reward";
      break;
    case VerifierKind::length:
      fits = isa<LengthShapingAttr>(settings), want = "#hone.length_shaping";
      break;
    }
    if (!fits)
      return fail(*this,
                  Twine("the ") + name + " verifier's settings must be a " +
                      want,
                  "each verifier kind has its own settings attribute "
                  "(docs/dialect.md)");
  }
  if (isLength) {
    // I64Attr getters are unsigned; read the attributes as signed.
    int64_t maxLength = getMaxLengthAttr() ? getMaxLengthAttr().getInt() : 0;
    if (maxLength <= 0)
      return fail(*this, "the length verifier needs a positive 'max_length'",
                  "set max_length to the longest completion allowed");
    int64_t cache = getCacheLengthAttr() ? getCacheLengthAttr().getInt() : 0;
    if (cache < 0 || cache >= maxLength)
      return fail(*this,
                  "'cache_length' must be in [0, max_length), got " +
                      Twine(cache),
                  "DAPO uses a cache of a quarter of max_length");
  }
  return success();
}

LogicalResult RewardModelOp::verify() {
  if (cast<ModelType>(getModel().getType()).hasLMHead())
    return fail(*this, "a reward model must have a scalar head",
                "train one with hone.reward_model, or use hone.model.new_head");
  return success();
}

LogicalResult RewardExternalOp::verify() {
  ArrayAttr command = getCommand();
  if (command.empty())
    return fail(*this, "the external reward needs a command",
                "give the program and its arguments, e.g. [\"python3\", "
                "\"score.py\"]");
  for (Attribute arg : command)
    if (cast<StringAttr>(arg).getValue().empty())
      return fail(*this, "the external reward's command has an empty argument",
                  "remove the empty string");
  if (!(getTimeoutS().convertToDouble() > 0.0))
    return fail(*this, "'timeout_s' must be positive",
                "the default is 30 seconds per batch");
  return success();
}

LogicalResult RewardCombineOp::verify() {
  if (getInputs().empty())
    return fail(*this, "needs at least one reward", "list the rewards to sum");
  if (getWeights().size() != getInputs().size())
    return fail(*this,
                "has " + Twine(getInputs().size()) + " rewards but " +
                    Twine(getWeights().size()) + " weights",
                "give one weight per reward");
  for (double w : getWeights())
    if (!std::isfinite(w))
      return fail(*this, "weights must be finite", "check the weight list");
  return success();
}

//===----------------------------------------------------------------------===//
// Stages
//===----------------------------------------------------------------------===//

LogicalResult SftOp::verify() {
  if (failed(checkStageSizes(*this, getSteps(), getBatchSize())) ||
      failed(checkPolicy(*this, "policy", getPolicy())))
    return failure();
  if (failed(checkLoop(*this, getLoop(), getPolicy())))
    return failure();
  auto data = cast<DatasetType>(getData().getType());
  if (!data.hasCompletions())
    return fail(*this,
                Twine("SFT needs demonstrations, but the dataset has layout '") +
                    layoutName(getData()) + "'",
                "use text, messages, prompt_completion or prompt_answer data; "
                "preference pairs belong to hone.preference");
  bool weighted = getVariant() == SftVariant::iw;
  if (weighted && !getRef())
    return fail(*this,
                "importance-weighted SFT needs a reference model ('ref')",
                "pass the model the weights are measured against, usually "
                "the stage's input");
  if (!weighted && getRef())
    return fail(*this,
                Twine("the ") + stringifySftVariant(getVariant()) +
                    " SFT objective does not use a reference model",
                "remove 'ref', or use the iw variant");
  if (getRef() && (failed(checkPolicy(*this, "reference", getRef())) ||
                   failed(checkSameVocab(*this, "reference", getPolicy(),
                                         getRef()))))
    return failure();
  return success();
}

LogicalResult RewardModelTrainOp::verify() {
  if (failed(checkStageSizes(*this, getSteps(), getBatchSize())))
    return failure();
  if (failed(checkLoop(*this, getLoop(), getBase())))
    return failure();
  auto base = cast<ModelType>(getBase().getType());
  auto result = cast<ModelType>(getResult().getType());
  if (result.hasLMHead())
    return fail(*this, "a reward model's result must have a scalar head",
                "write the result type as !hone.model<#arch, scalar>");
  if (base.getArch() != result.getArch())
    return fail(*this, "the reward model must keep the base's architecture",
                "give the result the same #hone.arch as the base");
  if (cast<DatasetType>(getData().getType()).getLayout() !=
      ColumnLayout::preference)
    return fail(*this,
                Twine("a Bradley-Terry reward model needs preference pairs, "
                      "but the dataset has layout '") +
                    layoutName(getData()) + "'",
                "use data with prompt/chosen/rejected columns");
  return success();
}

LogicalResult PreferenceOp::verify() {
  if (failed(checkStageSizes(*this, getSteps(), getBatchSize())) ||
      failed(checkPolicy(*this, "policy", getPolicy())))
    return failure();
  if (failed(checkLoop(*this, getLoop(), getPolicy())))
    return failure();
  StringRef loss = stringifyPreferenceLoss(getLoss());
  ColumnLayout layout = cast<DatasetType>(getData().getType()).getLayout();
  if (getLoss() == PreferenceLoss::kto) {
    if (layout != ColumnLayout::unpaired_preference &&
        layout != ColumnLayout::preference)
      return fail(*this,
                  Twine("KTO needs completions labelled desirable or not, but "
                        "the dataset has layout '") +
                      layoutName(getData()) + "'",
                  "use prompt/completion/label data (pairs also work: chosen "
                  "is desirable, rejected is not)");
  } else if (layout != ColumnLayout::preference) {
    return fail(*this,
                Twine(loss) + " needs chosen/rejected pairs, but the dataset "
                              "has layout '" +
                    layoutName(getData()) + "'",
                "use data with prompt/chosen/rejected columns");
  }
  if (needsReference() && !getRef())
    return fail(*this, Twine(loss) + " needs a reference model ('ref')",
                "pass the frozen starting policy, usually the stage's input");
  if (!needsReference() && getRef())
    return fail(*this,
                Twine(loss) + " is reference-free and takes no 'ref'",
                "remove 'ref'");
  if (getRef() &&
      (failed(checkPolicy(*this, "reference", getRef())) ||
       failed(checkSameVocab(*this, "reference", getPolicy(), getRef()))))
    return failure();
  // beta's range: PreferenceSettingsAttr::verify.
  return success();
}

LogicalResult RlOp::verify() {
  if (failed(checkStageSizes(*this, getSteps(), getBatchSize())) ||
      failed(checkPolicy(*this, "policy", getPolicy())))
    return failure();
  StringRef algo = stringifyRlAlgorithm(getAlgorithm());
  auto prompts = cast<DatasetType>(getPrompts().getType());

  if (!getReward())
    return fail(*this, Twine("the ") + algo + " stage has no reward",
                "add 'reward %r' with a verifier, reward model or external "
                "reward");
  if (!prompts.hasPrompts())
    return fail(*this,
                "RL needs prompts, but the dataset has layout 'text'",
                "use prompt_answer, prompt_completion, prompt_only or messages "
                "data");
  if (rewardNeedsAnswers(getReward()) &&
      prompts.getLayout() != ColumnLayout::prompt_answer &&
      prompts.getLayout() != ColumnLayout::prompt_completion)
    return fail(*this,
                Twine("the reward compares with a reference answer, but the "
                      "dataset has layout '") +
                    layoutName(getPrompts()) + "'",
                "use prompt_answer data (or prompt_completion, whose "
                "completion is taken as the answer)");

  // Critic: PPO trains one, nobody else takes one.
  bool isPpo = getAlgorithm() == RlAlgorithm::ppo;
  if (isPpo && !getCritic())
    return fail(*this, "PPO needs a critic ('critic')",
                "start one with hone.model.new_head on the policy, or use a "
                "critic-free algorithm such as grpo");
  if (!isPpo && getCritic())
    return fail(*this, Twine(algo) + " does not use a critic",
                "remove 'critic', or use ppo");
  if (getCritic()) {
    if (cast<ModelType>(getCritic().getType()).hasLMHead())
      return fail(*this, "the critic must have a scalar head",
                  "make one with hone.model.new_head");
    if (failed(checkSameVocab(*this, "critic", getPolicy(), getCritic())))
      return failure();
  }
  if (bool(getCritic()) != bool(getNewCritic()))
    return fail(*this, "yields a trained critic exactly when it takes one",
                "add or remove the second result");
  if (getNewCritic() && getNewCritic().getType() != getCritic().getType())
    return fail(*this, "the trained critic must have the critic's type",
                "use the critic operand's type for the second result");

  // KL penalty.
  double kl = getKlCoef().convertToDouble();
  if (!(kl >= 0.0))
    return fail(*this, "'kl_coef' must be non-negative",
                "use 0 to train without a KL penalty");
  if (kl > 0.0 && !getRef())
    return fail(*this,
                "a KL penalty (kl_coef = " + llvm::formatv("{0}", kl).str() +
                    ") needs a reference model ('ref')",
                "pass the frozen starting policy as 'ref', or set kl_coef = 0");
  if (getRef() &&
      (failed(checkPolicy(*this, "reference", getRef())) ||
       failed(checkSameVocab(*this, "reference", getPolicy(), getRef()))))
    return failure();

  // Groups: the rules the spec checker states too (dialect/MethodFamilies.h).
  int64_t group = getGroupSize();
  if (auto p = ::hone::methods::groupSizeProblem(
          algo.str(), static_cast<int64_t>(getBatchSize()), group,
          "group_size"))
    return fail(*this, p->message, p->hint);

  // Hybrid guidance: its settings are the attribute of its kind.
  if (bool(getHybrid()) != bool(getGuidanceAttr()))
    return fail(*this,
                getHybrid() ? "a hybrid stage needs its 'guidance' settings"
                            : "'guidance' settings without a hybrid mode",
                "the frontend writes #hone.chord<...> (or srft, luffy, relift, "
                "hpt, uft) for the hybrid it names");
  if (getHybrid()) {
    Attribute g = getGuidanceAttr();
    bool fits = false;
    switch (*getHybrid()) {
    case Hybrid::chord: fits = isa<ChordAttr>(g); break;
    case Hybrid::srft: fits = isa<SrftAttr>(g); break;
    case Hybrid::luffy: fits = isa<LuffyAttr>(g); break;
    case Hybrid::relift: fits = isa<ReliftAttr>(g); break;
    case Hybrid::hpt: fits = isa<HptAttr>(g); break;
    case Hybrid::uft: fits = isa<UftAttr>(g); break;
    }
    if (!fits)
      return fail(*this,
                  Twine("the ") + stringifyHybrid(*getHybrid()) +
                      " hybrid's guidance must be #hone." +
                      stringifyHybrid(*getHybrid()) + "<...>",
                  "match the guidance attribute to the hybrid keyword");
    if (auto l = dyn_cast<LuffyAttr>(g); l && l.getOffPolicyPerGroup() >= group)
      return fail(*this,
                  "off_policy_per_group (" + Twine(l.getOffPolicyPerGroup()) +
                      ") leaves no on-policy sample in groups of " +
                      Twine(group),
                  "use fewer off-policy traces than group_size");
  }
  if (getSettings().getMiniBatches() > 0 &&
      getBatchSize() % getSettings().getMiniBatches() != 0)
    return fail(*this,
                "batch_size (" + Twine(getBatchSize()) +
                    ") must be a multiple of mini_batches (" +
                    Twine(getSettings().getMiniBatches()) + ")",
                "each optimiser step takes a consecutive 1/mini_batches of "
                "the rows");

  // Demonstrations.
  if (getHybrid() && !getDemos())
    return fail(*this,
                Twine("the ") + stringifyHybrid(*getHybrid()) +
                    " hybrid needs demonstrations ('demos')",
                "add 'demos %d' with prompt/completion data");
  if (!getHybrid() && getDemos())
    return fail(*this, "demonstrations are given but no hybrid mode uses them",
                "add hybrid(chord|srft|luffy|relift|hpt|uft), or remove "
                "'demos'");
  if (getDemos() &&
      !cast<DatasetType>(getDemos().getType()).hasCompletions())
    return fail(*this,
                Twine("demonstrations need completions, but the dataset has "
                      "layout '") +
                    layoutName(getDemos()) + "'",
                "use prompt_completion or messages data");
  return success();
}

LogicalResult EvalOp::verify() {
  if (!getReward())
    return success();
  if (failed(checkPolicy(*this, "evaluated model", getModel())))
    return failure();
  if (!cast<DatasetType>(getData().getType()).hasPrompts())
    return fail(*this,
                "evaluating with a reward needs prompts, but the dataset has "
                "layout 'text'",
                "use prompt_answer or prompt_completion data");
  return success();
}

LogicalResult SaveOp::verify() {
  if (getPath().empty())
    return fail(*this, "needs a directory name", "e.g. \"final\"");
  // Writes stay inside the run directory.
  std::string p = ("/" + getPath() + "/").str();
  if (getPath().starts_with("/") || p.find("/../") != std::string::npos)
    return fail(*this,
                "path '" + getPath() + "' leaves the run directory",
                "use a relative path without '..', e.g. \"final\"");
  return success();
}

//===----------------------------------------------------------------------===//
// Scheduled level: events between lanes
//===----------------------------------------------------------------------===//

static LogicalResult verifyLaneEvent(Operation *op, StringRef lane,
                                     int64_t event) {
  if (!llvm::is_contained({"rollout", "learn", "copy", "comm"}, lane))
    return fail(op, Twine("unknown lane '") + lane + "'",
                "lanes: rollout, learn, copy, comm");
  if (event < 0)
    return fail(op, "event ids are not negative", "number events from 0");
  return success();
}

LogicalResult ExecRolloutsResumeOp::verify() {
  if (getRollouts().getTypes() != getResults().getTypes())
    return emitOpError("results must have the types of the rollouts");
  return success();
}

LogicalResult ExecSignalOp::verify() {
  return verifyLaneEvent(*this, getLane(), getEvent());
}

LogicalResult ExecWaitOp::verify() {
  return verifyLaneEvent(*this, getLane(), getEvent());
}
