//===- AttrToJson.cpp - attributes as JSON for the runtime ABI ------------===//

#include "passes/AttrToJson.h"
#include "dialect/HoneOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::hone;

namespace {
void printString(llvm::raw_ostream &os, StringRef s) {
  os << '"';
  for (unsigned char c : s) {
    switch (c) {
    case '"': os << "\\\""; break;
    case '\\': os << "\\\\"; break;
    case '\n': os << "\\n"; break;
    case '\r': os << "\\r"; break;
    case '\t': os << "\\t"; break;
    default:
      if (c < 0x20)
        os << llvm::format("\\u%04x", c);
      else
        os << c;
    }
  }
  os << '"';
}

void printDouble(llvm::raw_ostream &os, double v) {
  if (std::isnan(v)) {
    os << "\"nan\"";
    return;
  }
  if (std::isinf(v)) {
    os << (v > 0 ? "\"inf\"" : "\"-inf\"");
    return;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s(buf);
  // Keep it a JSON number that reads back as a float.
  if (s.find_first_of(".eE") == std::string::npos)
    s += ".0";
  os << s;
}

void printArch(llvm::raw_ostream &os, ArchAttr a) {
  os << "{\"family\":";
  printString(os, ::hone::keywordOf(::hone::kModelFamilies, a.getFamily()));
  os << ",\"vocab\":" << a.getVocab() << ",\"d_model\":" << a.getDModel()
     << ",\"layers\":" << a.getLayers() << ",\"heads\":" << a.getHeads()
     << ",\"kv_heads\":" << a.getKvHeads() << ",\"ffn\":" << a.getFfn()
     << ",\"max_seq\":" << a.getMaxSeq() << ",\"norm_eps\":";
  printDouble(os, a.getNormEps().convertToDouble());
  os << ",\"rope_theta\":";
  printDouble(os, a.getRopeTheta().convertToDouble());
  os << ",\"tied\":" << (a.getTied() ? "true" : "false")
     << ",\"qkv_bias\":" << (a.getQkvBias() ? "true" : "false");
  // Every field, the Llama-family options included: the runtime reads each
  // one and has no default for any.
  os << ",\"head_dim\":" << a.getHeadDim()
     << ",\"qk_norm\":" << (a.getQkNorm() ? "true" : "false")
     << ",\"rope_scaling\":";
  printString(os, ::hone::keywordOf(::hone::kRopeScalings, a.getRopeScaling()));
  os << ",\"rope_factor\":";
  printDouble(os, a.getRopeFactor().convertToDouble());
  os << ",\"rope_low_freq\":";
  printDouble(os, a.getRopeLowFreq().convertToDouble());
  os << ",\"rope_high_freq\":";
  printDouble(os, a.getRopeHighFreq().convertToDouble());
  os << ",\"rope_original_max\":" << a.getRopeOriginalMax();
  os << "}";
}
/// A JSON object written field by field: the typed settings of
/// dialect/HoneSettings.td under their spec (pipeline.proto) names.
class Obj {
public:
  explicit Obj(llvm::raw_ostream &os) : os(os) { os << '{'; }
  ~Obj() { os << '}'; }
  Obj &f(StringRef k, const APFloat &v) {
    key(k);
    printDouble(os, v.convertToDouble());
    return *this;
  }
  Obj &i(StringRef k, int64_t v) {
    key(k);
    os << v;
    return *this;
  }
  Obj &b(StringRef k, bool v) {
    key(k);
    os << (v ? "true" : "false");
    return *this;
  }
  Obj &s(StringRef k, StringRef v) {
    key(k);
    printString(os, v);
    return *this;
  }
  Obj &a(StringRef k, Attribute v) {
    key(k);
    mlir::hone::printJson(os, v);
    return *this;
  }

private:
  void key(StringRef k) {
    if (!first)
      os << ',';
    first = false;
    printString(os, k);
    os << ':';
  }
  llvm::raw_ostream &os;
  bool first = true;
};

/// Typed settings; false if `attr` is none of them.
bool printSettings(llvm::raw_ostream &os, Attribute attr) {
  if (auto o = dyn_cast<OptimizerAttr>(attr)) {
    Obj(os)
        .s("kind", "adamw")
        .f("lr", o.getLr())
        .f("beta1", o.getBeta1())
        .f("beta2", o.getBeta2())
        .f("eps", o.getEps())
        .f("weight_decay", o.getWeightDecay())
        .s("schedule", stringifyLrSchedule(o.getSchedule()))
        .i("warmup_steps", o.getWarmupSteps())
        .f("min_lr_ratio", o.getMinLrRatio())
        .f("max_grad_norm", o.getMaxGradNorm());
    return true;
  }
  if (auto g = dyn_cast<GenerationAttr>(attr)) {
    Obj(os)
        .i("max_new_tokens", g.getMaxNewTokens())
        .f("temperature", g.getTemperature())
        .i("top_k", g.getTopK())
        .f("top_p", g.getTopP())
        .a("stop", g.getStop());
    return true;
  }
  if (auto e = dyn_cast<EvalSettingsAttr>(attr)) {
    Obj(os)
        .i("every_steps", e.getEverySteps())
        .i("max_records", e.getMaxRecords())
        .a("generation", e.getGeneration());
    return true;
  }
  if (auto x = dyn_cast<LoraAttr>(attr)) {
    Obj(os)
        .i("rank", x.getRank())
        .f("alpha", x.getAlpha())
        .f("dropout", x.getDropout())
        .a("target_modules", x.getTargetModules())
        .b("merge_on_save", x.getMergeOnSave());
    return true;
  }
  if (auto l = dyn_cast<LoopAttr>(attr)) {
    Obj(os).i("grad_accum", l.getGradAccum()).i("max_length", l.getMaxLength());
    return true;
  }
  if (auto sc = dyn_cast<ScheduleAttr>(attr)) {
    Obj(os)
        .s("shape", stringifyScheduleKind(sc.getShape()))
        .f("start", sc.getStart())
        .f("end", sc.getEnd())
        .i("steps", sc.getSteps())
        .i("warmup_steps", sc.getWarmupSteps());
    return true;
  }
  if (auto x = dyn_cast<SftSettingsAttr>(attr)) {
    Obj(os)
        .b("completion_only_loss", x.getCompletionOnlyLoss())
        .b("assistant_only_loss", x.getAssistantOnlyLoss())
        .f("iw_clip", x.getIwClip());
    return true;
  }
  if (auto x = dyn_cast<RewardModelSettingsAttr>(attr)) {
    Obj(os).f("center_rewards", x.getCenterRewards());
    return true;
  }
  if (auto x = dyn_cast<PreferenceSettingsAttr>(attr)) {
    Obj(os)
        .f("beta", x.getBeta())
        .f("label_smoothing", x.getLabelSmoothing())
        .f("desirable_weight", x.getDesirableWeight())
        .f("undesirable_weight", x.getUndesirableWeight())
        .f("simpo_gamma", x.getSimpoGamma())
        .b("precompute_ref_log_probs", x.getPrecomputeRefLogProbs());
    return true;
  }
  if (auto x = dyn_cast<RlSettingsAttr>(attr)) {
    Obj(os)
        .i("grad_accum", x.getGradAccum())
        .i("max_prompt_length", x.getMaxPromptLength())
        .s("kl_estimator", stringifyKlEstimator(x.getKlEstimator()))
        .s("kl_placement", stringifyKlPlacement(x.getKlPlacement()))
        .f("epsilon", x.getEpsilon())
        .f("epsilon_high", x.getEpsilonHigh())
        .i("ppo_epochs", x.getPpoEpochs())
        .i("mini_batches", x.getMiniBatches())
        .s("aggregation", stringifyAggregation(x.getAggregation()))
        .b("scale_rewards", x.getScaleRewards())
        .b("dynamic_sampling", x.getDynamicSampling())
        .i("max_resample_rounds", x.getMaxResampleRounds())
        .b("mask_truncated", x.getMaskTruncated())
        .f("gamma", x.getGamma())
        .f("lam", x.getLam())
        .f("value_clip", x.getValueClip())
        .f("vf_coef", x.getVfCoef())
        .f("entropy_coef", x.getEntropyCoef())
        .i("staleness", x.getStaleness());
    return true;
  }
  if (auto x = dyn_cast<ChordAttr>(attr)) {
    Obj(os)
        .a("mu", x.getMu())
        .b("token_weighting", x.getTokenWeighting())
        .i("sft_batch_size", x.getSftBatchSize());
    return true;
  }
  if (auto x = dyn_cast<SrftAttr>(attr)) {
    Obj(os).f("sft_coef", x.getSftCoef()).f("positive_coef", x.getPositiveCoef());
    return true;
  }
  if (auto x = dyn_cast<LuffyAttr>(attr)) {
    Obj(os)
        .i("off_policy_per_group", x.getOffPolicyPerGroup())
        .f("shaping_gamma", x.getShapingGamma());
    return true;
  }
  if (auto x = dyn_cast<ReliftAttr>(attr)) {
    Obj(os).i("buffer_size", x.getBufferSize()).i("sft_steps", x.getSftSteps());
    return true;
  }
  if (auto x = dyn_cast<HptAttr>(attr)) {
    Obj(os).f("threshold", x.getThreshold());
    return true;
  }
  if (auto x = dyn_cast<UftAttr>(attr)) {
    Obj(os).a("hint_fraction", x.getHintFraction()).f("sft_coef", x.getSftCoef());
    return true;
  }
  if (auto x = dyn_cast<ExactMatchAttr>(attr)) {
    Obj(os)
        .s("extract", x.getExtract())
        .b("strip", x.getStrip())
        .b("case_sensitive", x.getCaseSensitive())
        .f("correct", x.getCorrect())
        .f("incorrect", x.getIncorrect());
    return true;
  }
  if (auto x = dyn_cast<NumericMatchAttr>(attr)) {
    Obj(os)
        .s("extract", x.getExtract())
        .f("rel_tolerance", x.getRelTolerance())
        .f("correct", x.getCorrect())
        .f("incorrect", x.getIncorrect());
    return true;
  }
  if (auto x = dyn_cast<PatternRewardAttr>(attr)) {
    Obj(os).f("match", x.getMatch()).f("no_match", x.getNoMatch());
    return true;
  }
  if (auto x = dyn_cast<LengthShapingAttr>(attr)) {
    Obj(os).f("penalty", x.getPenalty());
    return true;
  }
  if (auto x = dyn_cast<ColumnsAttr>(attr)) {
    Obj(os)
        .s("text", x.getText())
        .s("messages", x.getMessages())
        .s("role", x.getRole())
        .s("content", x.getContent())
        .s("prompt", x.getPrompt())
        .s("completion", x.getCompletion())
        .s("chosen", x.getChosen())
        .s("rejected", x.getRejected())
        .s("label", x.getLabel())
        .s("answer", x.getAnswer())
        .a("role_names", x.getRoleNames());
    return true;
  }
  if (auto x = dyn_cast<DatasetSettingsAttr>(attr)) {
    Obj(os)
        .a("columns", x.getColumns())
        .f("eval_fraction", x.getEvalFraction())
        .b("shuffle", x.getShuffle())
        .i("shuffle_seed", x.getShuffleSeed())
        .i("max_records", x.getMaxRecords());
    return true;
  }
  if (auto x = dyn_cast<CharVocabAttr>(attr)) {
    Obj(os).s("alphabet", x.getAlphabet()).a("special", x.getSpecial());
    return true;
  }
  if (auto x = dyn_cast<TokenizerAttr>(attr)) {
    Obj o(os);
    if (x.getChars())
      o.a("chars", x.getChars());
    else
      o.s("file", x.getFile());
    o.s("chat_template", stringifyChatTemplate(x.getChatTemplate()))
        .s("chat_template_kwargs", x.getChatTemplateKwargs());
    return true;
  }
  if (auto x = dyn_cast<HardwareAttr>(attr)) {
    Obj(os)
        .s("device", stringifyDevice(x.getDevice()))
        .i("memory_budget", x.getMemoryBudget())
        .i("ranks", x.getRanks())
        .i("rollout_staleness", x.getRolloutStaleness())
        .s("precision", stringifyPrecision(x.getPrecision()))
        .s("frozen_precision", stringifyPrecision(x.getFrozenPrecision()))
        .i("threads", x.getThreads())
        .f("collective_timeout_s", x.getCollectiveTimeoutS());
    return true;
  }
  if (auto x = dyn_cast<CheckpointingAttr>(attr)) {
    Obj(os)
        .i("every_steps", x.getEverySteps())
        .i("keep_last", x.getKeepLast())
        .s("on_nan", stringifyOnNan(x.getOnNan()))
        .f("max_skipped_fraction", x.getMaxSkippedFraction())
        .i("max_skipped_in_a_row", x.getMaxSkippedInARow())
        .s("dir", x.getDir());
    return true;
  }
  if (auto x = dyn_cast<RunAttr>(attr)) {
    Obj(os)
        .i("seed", x.getSeed())
        .s("output_dir", x.getOutputDir())
        .a("tokenizer", x.getTokenizer())
        .a("hardware", x.getHardware())
        .a("checkpointing", x.getCheckpointing());
    return true;
  }
  return false;
}
} // namespace

void mlir::hone::printJson(llvm::raw_ostream &os, Attribute attr) {
  if (!attr) {
    os << "null";
    return;
  }
  if (auto s = dyn_cast<StringAttr>(attr))
    return printString(os, s.getValue());
  if (auto b = dyn_cast<BoolAttr>(attr)) {
    os << (b.getValue() ? "true" : "false");
    return;
  }
  if (auto i = dyn_cast<IntegerAttr>(attr)) {
    if (i.getType().isInteger(1))
      os << (i.getValue().getBoolValue() ? "true" : "false");
    else if (i.getType().isUnsignedInteger())
      os << i.getValue().getZExtValue();
    else
      os << i.getValue().getSExtValue();
    return;
  }
  if (auto f = dyn_cast<FloatAttr>(attr))
    return printDouble(os, f.getValueAsDouble());
  if (auto d = dyn_cast<DictionaryAttr>(attr)) {
    os << '{';
    llvm::interleave(
        d.getValue(), os,
        [&](NamedAttribute n) {
          printString(os, n.getName().getValue());
          os << ':';
          printJson(os, n.getValue());
        },
        ",");
    os << '}';
    return;
  }
  if (auto a = dyn_cast<ArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.getValue(), os, [&](Attribute e) { printJson(os, e); },
                     ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<DenseI64ArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.asArrayRef(), os, ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<DenseI32ArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.asArrayRef(), os, ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<DenseF64ArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.asArrayRef(), os, [&](double v) { printDouble(os, v); },
                     ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<DenseBoolArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.asArrayRef(), os,
                     [&](bool v) { os << (v ? "true" : "false"); }, ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<ArchAttr>(attr))
    return printArch(os, a);
  if (printSettings(os, attr))
    return;
  if (auto u = dyn_cast<UnitAttr>(attr)) {
    os << "true";
    return;
  }
  if (auto t = dyn_cast<TypeAttr>(attr)) {
    std::string s;
    llvm::raw_string_ostream ts(s);
    t.getValue().print(ts);
    return printString(os, s);
  }
  // Enum attributes print as `#hone<kind keyword>`: the keyword.
  std::string s;
  llvm::raw_string_ostream as(s);
  attr.print(as);
  StringRef text(s);
  if (text.starts_with("#hone<") && text.ends_with(">")) {
    StringRef inner = text.drop_front(6).drop_back();
    return printString(os, inner.rsplit(' ').second.empty()
                               ? inner
                               : inner.rsplit(' ').second);
  }
  printString(os, text);
}

std::string mlir::hone::toJson(Attribute attr) {
  std::string s;
  llvm::raw_string_ostream os(s);
  printJson(os, attr);
  return s;
}

std::string
mlir::hone::toJson(DictionaryAttr dict,
                   ArrayRef<std::pair<StringRef, Attribute>> extra) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << '{';
  bool first = true;
  auto emit = [&](StringRef k, Attribute v) {
    if (!first)
      os << ',';
    first = false;
    printString(os, k);
    os << ':';
    printJson(os, v);
  };
  if (dict)
    for (NamedAttribute n : dict)
      emit(n.getName().getValue(), n.getValue());
  for (auto &[k, v] : extra)
    emit(k, v);
  os << '}';
  return s;
}
