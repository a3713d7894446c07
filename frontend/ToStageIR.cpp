// Spec → stage IR. The spec was checked and resolved (defaults filled in), so
// this is a straight walk: declarations first, then stages in order with
// model names bound to SSA values, then evaluations and exports. Over 800
// lines: one walk, one class (Lowering) whose parts each build one
// declaration or stage kind.
#include "frontend/ToStageIR.h"
#include "frontend/SpecDiagnostics.h"

#include "dialect/HoneAttrs.h"
#include "dialect/HoneDialect.h"
#include "dialect/HoneOps.h"
#include "dialect/HoneTypes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/descriptor.h>

#include <cassert>
#include <map>
#include <optional>

namespace mlir::hone {

namespace pb = google::protobuf;
using namespace ::hone::spec;

//===----------------------------------------------------------------------===//
// Messages as attributes
//===----------------------------------------------------------------------===//

static Attribute fieldValue(MLIRContext &ctx, const pb::Message &msg,
                            const pb::FieldDescriptor *f, int i) {
  Builder b(&ctx);
  const pb::Reflection *r = msg.GetReflection();
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
  case pb::FieldDescriptor::CPPTYPE_INT32:
    return b.getI64IntegerAttr(rep ? r->GetRepeatedInt32(msg, f, i)
                                   : r->GetInt32(msg, f));
  case pb::FieldDescriptor::CPPTYPE_INT64:
    return b.getI64IntegerAttr(rep ? r->GetRepeatedInt64(msg, f, i)
                                   : r->GetInt64(msg, f));
  case pb::FieldDescriptor::CPPTYPE_UINT32:
    return b.getI64IntegerAttr(rep ? r->GetRepeatedUInt32(msg, f, i)
                                   : r->GetUInt32(msg, f));
  case pb::FieldDescriptor::CPPTYPE_UINT64:
    return b.getI64IntegerAttr(static_cast<int64_t>(
        rep ? r->GetRepeatedUInt64(msg, f, i) : r->GetUInt64(msg, f)));
  case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    return b.getF64FloatAttr(rep ? r->GetRepeatedDouble(msg, f, i)
                                 : r->GetDouble(msg, f));
  case pb::FieldDescriptor::CPPTYPE_FLOAT:
    return b.getF64FloatAttr(rep ? r->GetRepeatedFloat(msg, f, i)
                                 : r->GetFloat(msg, f));
  case pb::FieldDescriptor::CPPTYPE_BOOL:
    return b.getBoolAttr(rep ? r->GetRepeatedBool(msg, f, i)
                             : r->GetBool(msg, f));
  case pb::FieldDescriptor::CPPTYPE_ENUM:
    return b.getStringAttr(
        (rep ? r->GetRepeatedEnum(msg, f, i) : r->GetEnum(msg, f))->name());
  case pb::FieldDescriptor::CPPTYPE_STRING:
    return b.getStringAttr(rep ? r->GetRepeatedString(msg, f, i)
                               : r->GetString(msg, f));
  case pb::FieldDescriptor::CPPTYPE_MESSAGE:
    return messageToDict(ctx, rep ? r->GetRepeatedMessage(msg, f, i)
                                  : r->GetMessage(msg, f));
  }
  return {};
}

DictionaryAttr messageToDict(MLIRContext &ctx, const pb::Message &msg,
                             ArrayRef<StringRef> skip) {
  const pb::Reflection *r = msg.GetReflection();
  std::vector<const pb::FieldDescriptor *> fields;
  r->ListFields(msg, &fields);
  SmallVector<NamedAttribute> attrs;
  for (const pb::FieldDescriptor *f : fields) {
    if (llvm::is_contained(skip, StringRef(f->name())))
      continue;
    Attribute value;
    if (f->is_repeated()) {
      SmallVector<Attribute> items;
      for (int i = 0, e = r->FieldSize(msg, f); i < e; ++i)
        items.push_back(fieldValue(ctx, msg, f, i));
      value = ArrayAttr::get(&ctx, items);
    } else {
      value = fieldValue(ctx, msg, f, -1);
    }
    attrs.push_back(NamedAttribute(StringAttr::get(&ctx, f->name()), value));
  }
  return DictionaryAttr::get(&ctx, attrs);
}

//===----------------------------------------------------------------------===//
// Lowering
//===----------------------------------------------------------------------===//

namespace {

class Lowering {
public:
  Lowering(const LoadedSpec &spec, MLIRContext &ctx)
      : spec_(spec), p_(spec.pipeline), ctx_(ctx), b_(&ctx) {}

  OwningOpRef<ModuleOp> run();

private:
  Location loc(const pb::Message &m) {
    return toLocation(ctx_, spec_.locs.of(m));
  }
  Location loc(const pb::Message &m, const char *field, int index = -1) {
    return toLocation(ctx_, spec_.locs.of(m, field, index));
  }
  std::string absPath(const std::string &p) {
    SmallString<256> path(spec_.resolvePath(p));
    llvm::sys::fs::make_absolute(path);
    llvm::sys::path::remove_dots(path, /*remove_dot_dot=*/true);
    return std::string(path);
  }
  IntegerAttr i64(int64_t v) { return b_.getI64IntegerAttr(v); }

  ModelType modelType(const std::string &declared, Model::Head head);
  Value model(const std::string &name, Location useLoc);
  Value reward(const pb::RepeatedPtrField<std::string> &names,
               ArrayRef<double> weights, Location useLoc);
  Value rewardByName(const std::string &name, Location useLoc);
  LogicalResult declare();
  LogicalResult lowerStage(const Stage &s);
  RunAttr runSettings();

  const LoadedSpec &spec_;
  const Pipeline &p_;
  MLIRContext &ctx_;
  OpBuilder b_;
  bool failed_ = false;

  std::map<std::string, const Model *> decls_;
  /// The declaration each bound name descends from (for `from` chains).
  std::map<std::string, std::string> declOf_;
  std::map<std::string, Value> models_;
  /// Model states that carry LoRA adapters (a later LoRA stage trains them
  /// on; the checker made sure its settings are the same).
  llvm::DenseSet<Value> loraStates_;
  std::map<std::string, Value> datasets_;
  std::map<std::string, Value> rewards_;
  /// Learned rewards, per reward model state.
  std::map<std::pair<std::string, Operation *>, Value> modelRewards_;
};

ModelType Lowering::modelType(const std::string &declared, Model::Head head) {
  const Architecture &a = spec_.archOf.at(declared);
  // The spec's families are named by the runtime's keywords
  // (test/unit/dialect/ContractTest.cpp checks both lists are the same).
  std::optional<::hone::ModelFamily> family =
      ::hone::familyFromKeyword(Architecture::Family_Name(a.family()));
  assert(family && "a spec family the runtime does not know");
  auto arch = ArchAttr::get(
      &ctx_, *family, a.vocab(), a.d_model(), a.layers(), a.heads(),
      a.kv_heads(), a.ffn(), a.max_seq_len(), llvm::APFloat(a.norm_eps()),
      llvm::APFloat(a.rope_theta()), a.tie_embeddings(), a.qkv_bias(),
      a.head_dim(), a.qk_norm(),
      !a.has_rope_scaling() ? ::hone::RopeScaling::None
      : a.rope_scaling().type() == Architecture::RopeScaling::linear
          ? ::hone::RopeScaling::Linear
          : ::hone::RopeScaling::Llama3,
      llvm::APFloat(a.has_rope_scaling() ? a.rope_scaling().factor() : 1.0),
      llvm::APFloat(a.rope_scaling().low_freq_factor()),
      llvm::APFloat(a.rope_scaling().high_freq_factor()),
      a.rope_scaling().original_max_seq_len());
  return ModelType::get(&ctx_, arch,
                        head == Model::scalar ? ::hone::HeadKind::Scalar
                                              : ::hone::HeadKind::LM);
}

/// The current state bound to `name`; a model copied `from` another is
/// created at its first use, from the other's state there.
Value Lowering::model(const std::string &name, Location useLoc) {
  auto it = models_.find(name);
  if (it != models_.end())
    return it->second;
  auto d = decls_.find(name);
  if (d == decls_.end() || d->second->source_case() != Model::kFrom) {
    emitError(useLoc) << "internal: model '" << name << "' is not bound";
    failed_ = true;
    return {};
  }
  const Model &m = *d->second;
  Value base = model(m.from(), useLoc);
  if (!base)
    return {};
  auto type = modelType(m.name(), m.head());
  Value v = ModelNewHeadOp::create(b_, loc(m, "name"), type,
                                   b_.getStringAttr(m.name()), base,
                                   i64(m.seed()))
                .getResult();
  models_[name] = v;
  return v;
}

Value Lowering::rewardByName(const std::string &name, Location useLoc) {
  auto it = rewards_.find(name);
  if (it != rewards_.end())
    return it->second;
  // A learned reward: the reward model's current state.
  for (const Reward &r : p_.rewards())
    if (r.name() == name && r.kind_case() == Reward::kModel) {
      Value rm = model(r.model(), useLoc);
      if (!rm)
        return {};
      auto key = std::make_pair(name, rm.getDefiningOp());
      auto c = modelRewards_.find(key);
      if (c != modelRewards_.end())
        return c->second;
      Value v = RewardModelOp::create(b_, loc(r, "model"),
                                      RewardType::get(&ctx_), rm)
                    .getResult();
      modelRewards_[key] = v;
      return v;
    }
  emitError(useLoc) << "internal: reward '" << name << "' is not declared";
  failed_ = true;
  return {};
}

Value Lowering::reward(const pb::RepeatedPtrField<std::string> &names,
                       ArrayRef<double> weights, Location useLoc) {
  SmallVector<Value> inputs;
  for (const std::string &n : names) {
    Value v = rewardByName(n, useLoc);
    if (!v)
      return {};
    inputs.push_back(v);
  }
  if (inputs.empty())
    return {};
  bool unit = llvm::all_of(weights, [](double w) { return w == 1.0; });
  if (inputs.size() == 1 && unit)
    return inputs.front();
  SmallVector<double> w(weights.begin(), weights.end());
  w.resize(inputs.size(), 1.0);
  return RewardCombineOp::create(b_, useLoc, RewardType::get(&ctx_), inputs,
                                 b_.getDenseF64ArrayAttr(w))
      .getResult();
}

/// The dialect's enum case with the same name as a spec enum value (the
/// schema and the dialect spell them alike on purpose).
template <typename E>
static E byName(std::optional<E> (*symbolize)(llvm::StringRef),
                const std::string &name) {
  std::optional<E> e = symbolize(name);
  assert(e && "spec enum value without a dialect counterpart");
  return e.value_or(E{});
}

//===----------------------------------------------------------------------===//
// Settings as typed attributes (dialect/HoneSettings.td)
//===----------------------------------------------------------------------===//

/// Reports a field of `m` the frontend's defaults left unset (an internal
/// error: frontend/Defaults.cpp resolves every setting) and returns false.
static bool complete(const pb::Message &m, ArrayRef<StringRef> skip,
                     Location l) {
  const pb::Descriptor *d = m.GetDescriptor();
  const pb::Reflection *r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor *f = d->field(i);
    if (f->is_repeated() || f->containing_oneof() ||
        llvm::is_contained(skip, StringRef(f->name())))
      continue;
    if (!r->HasField(m, f)) {
      emitError(l) << "internal: setting '" << d->name() << "." << f->name()
                   << "' has no value after the frontend's defaults";
      return false;
    }
  }
  return true;
}

static APFloat F(double v) { return APFloat(v); }

static OptimizerAttr optimizerAttr(MLIRContext &ctx, const Optimizer &o,
                                   Location l) {
  if (!complete(o, {"kind"}, l))
    return {};
  return OptimizerAttr::getChecked(
      [&] { return emitError(l); }, &ctx, F(o.lr()), F(o.beta1()),
      F(o.beta2()), F(o.eps()), F(o.weight_decay()),
      byName(symbolizeLrSchedule, Optimizer::LrSchedule_Name(o.schedule())),
      o.warmup_steps(), F(o.min_lr_ratio()), F(o.max_grad_norm()));
}

static GenerationAttr generationAttr(MLIRContext &ctx, const Generation &g,
                                     Location l) {
  if (!complete(g, {"samples_per_prompt"}, l))
    return {};
  Builder b(&ctx);
  SmallVector<StringRef> stop(g.stop().begin(), g.stop().end());
  return GenerationAttr::getChecked(
      [&] { return emitError(l); }, &ctx, g.max_new_tokens(),
      F(g.temperature()), g.top_k(), F(g.top_p()), b.getStrArrayAttr(stop));
}

static LoopAttr loopAttr(MLIRContext &ctx, const Loop &loop, Location l) {
  if (!complete(loop, {"steps", "batch_size", "epochs"}, l))
    return {};
  return LoopAttr::getChecked([&] { return emitError(l); }, &ctx,
                              loop.grad_accum(), loop.max_length());
}

static ScheduleAttr scheduleAttr(MLIRContext &ctx, const Schedule &s,
                                 Location l) {
  if (!complete(s, {}, l))
    return {};
  return ScheduleAttr::getChecked(
      [&] { return emitError(l); }, &ctx,
      byName(symbolizeScheduleKind, Schedule::Shape_Name(s.shape())),
      F(s.start()), F(s.end()), s.steps(), s.warmup_steps());
}

static RlSettingsAttr rlSettingsAttr(MLIRContext &ctx, const Rl &m,
                                     Location l) {
  if (!complete(m,
                {"algorithm", "steps", "batch_size", "beta", "reference",
                 "critic", "critic_output", "policy_loss", "objective"},
                l))
    return {};
  return RlSettingsAttr::getChecked(
      [&] { return emitError(l); }, &ctx, m.grad_accum(),
      m.max_prompt_length(),
      byName(symbolizeKlEstimator, Rl::KlEstimator_Name(m.kl_estimator())),
      byName(symbolizeKlPlacement, Rl::KlPlacement_Name(m.kl_placement())),
      F(m.epsilon()), F(m.epsilon_high()), m.ppo_epochs(), m.mini_batches(),
      byName(symbolizeAggregation, Rl::Aggregation_Name(m.aggregation())),
      m.scale_rewards(), m.dynamic_sampling(), m.max_resample_rounds(),
      m.mask_truncated(), F(m.gamma()), F(m.lam()), F(m.value_clip()),
      F(m.vf_coef()), F(m.entropy_coef()), m.staleness());
}

/// The stage's policy loss; written only when the spec has one (absent:
/// the clipped surrogate).
static PolicyLossAttr policyLossAttr(MLIRContext &ctx, const PolicyLoss &p,
                                     Location l) {
  if (!complete(p, {}, l))
    return {};
  return PolicyLossAttr::getChecked(
      [&] { return emitError(l); }, &ctx,
      byName(symbolizePolicyLossKind, PolicyLoss::Kind_Name(p.kind())),
      F(p.dual_clip()), F(p.tis_cap()), F(p.tau_pos()), F(p.tau_neg()));
}

/// The hybrid's settings (`dataset` is the demos operand).
static Attribute guidanceAttr(MLIRContext &ctx, const Rl &m, Location l) {
  auto err = [&] { return emitError(l); };
  switch (m.guidance_case()) {
  case Rl::kChord: {
    const Chord &c = m.chord();
    ScheduleAttr mu = scheduleAttr(ctx, c.mu(), l);
    if (!mu || !complete(c, {"dataset", "mu"}, l))
      return {};
    return ChordAttr::getChecked(err, &ctx, mu, c.token_weighting(),
                                 c.sft_batch_size());
  }
  case Rl::kSrft:
    if (!complete(m.srft(), {"dataset"}, l))
      return {};
    return SrftAttr::getChecked(err, &ctx, F(m.srft().sft_coef()),
                                F(m.srft().positive_coef()));
  case Rl::kLuffy:
    if (!complete(m.luffy(), {"dataset"}, l))
      return {};
    return LuffyAttr::getChecked(err, &ctx, m.luffy().off_policy_per_group(),
                                 F(m.luffy().shaping_gamma()));
  case Rl::kRelift:
    if (!complete(m.relift(), {"dataset"}, l))
      return {};
    return ReliftAttr::getChecked(err, &ctx, m.relift().buffer_size(),
                                  m.relift().sft_steps());
  case Rl::kHpt:
    if (!complete(m.hpt(), {"dataset"}, l))
      return {};
    return HptAttr::getChecked(err, &ctx, F(m.hpt().threshold()));
  case Rl::kUft: {
    ScheduleAttr h = scheduleAttr(ctx, m.uft().hint_fraction(), l);
    if (!h || !complete(m.uft(), {"dataset", "hint_fraction"}, l))
      return {};
    return UftAttr::getChecked(err, &ctx, h, F(m.uft().sft_coef()));
  }
  case Rl::GUIDANCE_NOT_SET:
    break;
  }
  return {};
}

LogicalResult Lowering::declare() {
  for (const Model &m : p_.models()) {
    decls_[m.name()] = &m;
    if (!spec_.archOf.count(m.name())) {
      emitError(loc(m)) << "internal: model '" << m.name()
                        << "' has no architecture";
      return failure();
    }
  }
  for (const Model &m : p_.models()) {
    Value v;
    if (m.has_init()) {
      v = ModelInitOp::create(b_, loc(m, "name"), modelType(m.name(), m.head()),
                              b_.getStringAttr(m.name()), i64(m.seed()))
              .getResult();
    } else if (m.has_load()) {
      auto lmType = modelType(m.name(), Model::lm);
      v = ModelLoadOp::create(b_, loc(m, "name"), lmType,
                              b_.getStringAttr(m.name()),
                              b_.getStringAttr(absPath(m.load())))
              .getResult();
      if (m.head() == Model::scalar)
        v = ModelNewHeadOp::create(b_, loc(m, "head"),
                                   modelType(m.name(), Model::scalar),
                                   b_.getStringAttr(m.name()), v,
                                   i64(m.seed()))
                .getResult();
    } else {
      continue; // `from`: at first use
    }
    models_[m.name()] = v;
  }

  for (const Dataset &d : p_.datasets()) {
    Location l = NameLoc::get(b_.getStringAttr(d.name()), loc(d));
    auto emit = [&] { return emitError(l); };
    const Columns &c = d.columns();
    if (!complete(c, {}, l) || !complete(d, {"name", "path", "eval_path"}, l))
      return failure();
    SmallVector<NamedAttribute> roles;
    for (const auto &kv : c.role_names())
      roles.push_back(b_.getNamedAttr(kv.first, b_.getStringAttr(kv.second)));
    auto columns = ColumnsAttr::getChecked(
        emit, &ctx_, StringRef(c.text()), StringRef(c.messages()),
        StringRef(c.role()), StringRef(c.content()), StringRef(c.prompt()),
        StringRef(c.completion()), StringRef(c.chosen()),
        StringRef(c.rejected()), StringRef(c.label()), StringRef(c.answer()),
        b_.getDictionaryAttr(roles));
    if (!columns)
      return failure();
    auto settings = DatasetSettingsAttr::getChecked(
        emit, &ctx_, columns, F(d.eval_fraction()), d.shuffle(),
        d.shuffle_seed(), d.max_records());
    if (!settings)
      return failure();
    auto op = DatasetOp::create(
        b_, l,
        DatasetType::get(&ctx_, byName(symbolizeColumnLayout,
                                       Dataset::Layout_Name(d.layout()))),
        b_.getStringAttr(absPath(d.path())),
        d.has_eval_path() ? b_.getStringAttr(absPath(d.eval_path()))
                          : StringAttr(),
        settings);
    op->setAttr("name", b_.getStringAttr(d.name()));
    // The rows' lengths as the job tokenizes them, for the memory plan's
    // bound on a packed batch (docs/compiler.md "Shapes from the data"):
    // [length, rows, length, rows, ...] over the lengths some row has.
    auto lengths = [&](const std::map<std::string, std::vector<int64_t>> &of,
                       StringRef attr) {
      auto it = of.find(d.name());
      if (it == of.end() || it->second.empty())
        return;
      SmallVector<int64_t> pairs;
      for (size_t len = 0; len < it->second.size(); ++len)
        if (it->second[len] > 0)
          pairs.append({int64_t(len), it->second[len]});
      op->setAttr(attr, b_.getDenseI64ArrayAttr(pairs));
    };
    if (d.layout() == Dataset::preference)
      lengths(spec_.pairCountsOf, "hone.pair_lengths");
    else if (d.layout() == Dataset::text || d.layout() == Dataset::messages ||
             d.layout() == Dataset::prompt_completion ||
             d.layout() == Dataset::unpaired_preference) // KTO's rows
      lengths(spec_.sequenceCountsOf, "hone.sequence_lengths");
    // What the job's loader holds for it: the memory plan's dataset row.
    if (auto it = spec_.heldBytesOf.find(d.name());
        it != spec_.heldBytesOf.end() && it->second > 0)
      op->setAttr("hone.held_bytes", b_.getI64IntegerAttr(it->second));
    if (auto it = spec_.recordBytesOf.find(d.name());
        it != spec_.recordBytesOf.end() && it->second > 0)
      op->setAttr("hone.record_bytes", b_.getI64IntegerAttr(it->second));
    // The files' contents as read here: the job refuses them changed.
    if (auto it = spec_.sha256Of.find(d.name()); it != spec_.sha256Of.end())
      op->setAttr("sha256", b_.getStringAttr(it->second));
    if (auto it = spec_.evalSha256Of.find(d.name());
        it != spec_.evalSha256Of.end())
      op->setAttr("eval_sha256", b_.getStringAttr(it->second));
    datasets_[d.name()] = op.getResult();
  }

  for (const Reward &r : p_.rewards()) {
    Location l = NameLoc::get(b_.getStringAttr(r.name()), loc(r));
    auto type = RewardType::get(&ctx_);
    Operation *op = nullptr;
    Attribute settings; // a verifier's typed settings (HoneSettings.td)
    auto emit = [&] { return emitError(l); };
    auto verifier = [&](VerifierKind kind, StringAttr pattern,
                        FloatAttr tolerance, IntegerAttr maxLen,
                        IntegerAttr cache) {
      return RewardVerifierOp::create(
                 b_, l, type, VerifierKindAttr::get(&ctx_, kind), pattern,
                 tolerance, maxLen, cache, Attribute())
          .getOperation();
    };
    switch (r.kind_case()) {
    case Reward::kExactMatch: {
      const ExactMatch &x = r.exact_match();
      op = verifier(VerifierKind::exact_match, {}, {}, {}, {});
      settings = ExactMatchAttr::getChecked(
          emit, &ctx_, StringRef(x.extract()), x.strip(), x.case_sensitive(),
          F(x.correct()), F(x.incorrect()));
      break;
    }
    case Reward::kNumericMatch: {
      const NumericMatch &x = r.numeric_match();
      op = verifier(VerifierKind::numeric_match, {},
                    b_.getF64FloatAttr(x.abs_tolerance()), {}, {});
      settings = NumericMatchAttr::getChecked(
                                  emit, &ctx_, StringRef(x.extract()),
                                  F(x.rel_tolerance()), F(x.correct()),
                                  F(x.incorrect()));
      break;
    }
    case Reward::kRegex:
      op = verifier(VerifierKind::regex,
                    b_.getStringAttr(r.regex().pattern()), {}, {}, {});
      settings = PatternRewardAttr::getChecked(emit, &ctx_,
                                                F(r.regex().match()),
                                                F(r.regex().no_match()));
      break;
    case Reward::kFormat:
      op = verifier(VerifierKind::format,
                    b_.getStringAttr(r.format().pattern()), {}, {}, {});
      settings = PatternRewardAttr::getChecked(emit, &ctx_,
                                                F(r.format().match()),
                                                F(r.format().no_match()));
      break;
    case Reward::kLength:
      op = verifier(VerifierKind::length, {}, {},
                    i64(r.length().max_length()),
                    i64(r.length().cache_length()));
      settings = LengthShapingAttr::getChecked(emit, &ctx_,
                                                F(r.length().penalty()));
      break;
    case Reward::kExternal: {
      SmallVector<StringRef> argv;
      std::vector<std::string> storage;
      for (int i = 0; i < r.external().command_size(); ++i) {
        const std::string &a = r.external().command(i);
        storage.push_back(i == 0 && a.find('/') != std::string::npos
                              ? absPath(a)
                              : a);
      }
      for (const std::string &s : storage)
        argv.push_back(s);
      op = RewardExternalOp::create(b_, l, type, b_.getStrArrayAttr(argv),
                                    b_.getF64FloatAttr(r.external().timeout_s()))
               .getOperation();
      op->setAttr("workers", i64(r.external().workers()));
      break;
    }
    case Reward::kModel:
    case Reward::KIND_NOT_SET:
      break; // learned rewards: at each use
    }
    if (op && isa<RewardVerifierOp>(op)) {
      if (!settings)
        return failure();
      op->setAttr("settings", settings);
    }
    if (op) {
      op->setAttr("name", b_.getStringAttr(r.name()));
      rewards_[r.name()] = op->getResult(0);
    }
  }
  return success();
}

LogicalResult Lowering::lowerStage(const Stage &s) {
  Location l = NameLoc::get(b_.getStringAttr(s.name()), loc(s));
  Value policy = model(s.model(), loc(s, "model"));
  Value data = datasets_.at(s.dataset());
  if (!policy)
    return failure();
  if (s.has_lora() && !loraStates_.contains(policy)) {
    // The stage trains adapters on the frozen state; that state (bound to
    // the model's name still) is what a reference of the same name reads.
    const Lora &lr = s.lora();
    SmallVector<StringRef> targets(lr.target_modules().begin(),
                                   lr.target_modules().end());
    auto attr = LoraAttr::getChecked(
        [&] { return emitError(loc(lr)); }, &ctx_, lr.rank(), F(lr.alpha()),
        F(lr.dropout()), b_.getStrArrayAttr(targets), lr.merge_on_save());
    if (!attr)
      return failure();
    policy = ModelLoraOp::create(b_, loc(s, "lora"), policy.getType(),
                                 b_.getStringAttr(s.model()), policy, attr,
                                 i64(p_.seed()))
                 .getResult();
  }
  Value result;
  OptimizerAttr optimizer = optimizerAttr(ctx_, s.optimizer(), loc(s));
  if (!optimizer)
    return failure();
  switch (s.method_case()) {
  case Stage::kSft: {
    const Sft &m = s.sft();
    SftVariant variant = m.variant() == Sft::dft      ? SftVariant::dft
                         : m.variant() == Sft::iw_sft ? SftVariant::iw
                                                      : SftVariant::plain;
    Value ref = m.variant() == Sft::iw_sft
                    ? model(m.reference(), loc(m, "reference"))
                    : Value();
    LoopAttr loopSettings = loopAttr(ctx_, m.loop(), loc(m));
    if (!loopSettings ||
        !complete(m, {"loop", "variant", "reference"}, loc(m)))
      return failure();
    auto settings = SftSettingsAttr::getChecked(
        [&] { return emitError(loc(m)); }, &ctx_, m.completion_only_loss(),
        m.assistant_only_loss(), F(m.iw_clip()));
    if (!settings)
      return failure();
    result = SftOp::create(b_, l, policy.getType(),
                           SftVariantAttr::get(&ctx_, variant), policy, data,
                           ref, i64(m.loop().steps()),
                           i64(m.loop().batch_size()), loopSettings, optimizer,
                           settings)
                 .getResult();
    break;
  }
  case Stage::kRewardModel: {
    const RewardModelTraining &m = s.reward_model();
    LoopAttr loopSettings = loopAttr(ctx_, m.loop(), loc(m));
    if (!loopSettings || !complete(m, {"loop"}, loc(m)))
      return failure();
    auto settings = RewardModelSettingsAttr::getChecked(
        [&] { return emitError(loc(m)); }, &ctx_, F(m.center_rewards()));
    if (!settings)
      return failure();
    result = RewardModelTrainOp::create(
                 b_, l, policy.getType(), policy, data, i64(m.loop().steps()),
                 i64(m.loop().batch_size()), loopSettings, optimizer, settings)
                 .getResult();
    break;
  }
  case Stage::kPreference: {
    const Preference &m = s.preference();
    PreferenceLoss loss = byName(symbolizePreferenceLoss,
                                 Preference::Loss_Name(m.loss()));
    Value ref = m.has_reference() ? model(m.reference(), loc(m, "reference"))
                                  : Value();
    LoopAttr loopSettings = loopAttr(ctx_, m.loop(), loc(m));
    if (!loopSettings || !complete(m, {"loop", "loss", "reference"}, loc(m)))
      return failure();
    auto settings = PreferenceSettingsAttr::getChecked(
        [&] { return emitError(loc(m)); }, &ctx_, F(m.beta()),
        F(m.label_smoothing()), F(m.desirable_weight()),
        F(m.undesirable_weight()), F(m.simpo_gamma()),
        m.precompute_ref_log_probs());
    if (!settings)
      return failure();
    result = PreferenceOp::create(
                 b_, l, policy.getType(), PreferenceLossAttr::get(&ctx_, loss),
                 policy, data, ref, i64(m.loop().steps()),
                 i64(m.loop().batch_size()), loopSettings, optimizer, settings)
                 .getResult();
    break;
  }
  case Stage::kRl: {
    const Rl &m = s.rl();
    RlAlgorithm algo =
        byName(symbolizeRlAlgorithm, Rl::Algorithm_Name(m.algorithm()));
    Value r = reward(m.rewards(),
                     ArrayRef<double>(m.reward_weights().data(),
                                      m.reward_weights().size()),
                     loc(m, "rewards"));
    if (!r)
      return failure();
    Value ref =
        m.beta() > 0 ? model(m.reference(), loc(m, "reference")) : Value();
    Value critic = m.has_critic() ? model(m.critic(), loc(m, "critic"))
                                  : Value();
    Value demos;
    HybridAttr hybrid;
    std::string demoSet;
    const pb::Message *guidance = nullptr;
    switch (m.guidance_case()) {
    case Rl::kChord:
      hybrid = HybridAttr::get(&ctx_, Hybrid::chord);
      demoSet = m.chord().dataset();
      guidance = &m.chord();
      break;
    case Rl::kSrft:
      hybrid = HybridAttr::get(&ctx_, Hybrid::srft);
      demoSet = m.srft().dataset();
      guidance = &m.srft();
      break;
    case Rl::kLuffy:
      hybrid = HybridAttr::get(&ctx_, Hybrid::luffy);
      demoSet = m.luffy().dataset();
      guidance = &m.luffy();
      break;
    case Rl::kRelift:
      hybrid = HybridAttr::get(&ctx_, Hybrid::relift);
      demoSet = m.relift().dataset();
      guidance = &m.relift();
      break;
    case Rl::kHpt:
      hybrid = HybridAttr::get(&ctx_, Hybrid::hpt);
      demoSet = m.hpt().dataset();
      guidance = &m.hpt();
      break;
    case Rl::kUft:
      hybrid = HybridAttr::get(&ctx_, Hybrid::uft);
      demoSet = m.uft().dataset();
      guidance = &m.uft();
      break;
    case Rl::GUIDANCE_NOT_SET:
      break;
    }
    if (!demoSet.empty())
      demos = datasets_.at(demoSet);
    RlSettingsAttr settings = rlSettingsAttr(ctx_, m, loc(m));
    GenerationAttr generation = generationAttr(ctx_, m.generation(), loc(m));
    Attribute guide = guidance ? guidanceAttr(ctx_, m, loc(*guidance))
                               : Attribute();
    PolicyLossAttr policyLoss =
        m.has_policy_loss()
            ? policyLossAttr(ctx_, m.policy_loss(), loc(m.policy_loss()))
            : PolicyLossAttr();
    if (!settings || !generation || (guidance && !guide) ||
        (m.has_policy_loss() && !policyLoss) ||
        !m.generation().has_samples_per_prompt())
      return failure();
    auto op = RlOp::create(
        b_, l, policy.getType(), critic ? critic.getType() : Type(),
        RlAlgorithmAttr::get(&ctx_, algo), policy, data, r, ref, critic, demos,
        hybrid, i64(m.steps()), i64(m.batch_size()),
        i64(m.generation().samples_per_prompt()), b_.getF64FloatAttr(m.beta()),
        optimizer, generation, settings, guide, policyLoss,
        /*objective=*/StringAttr());
    result = op.getNewPolicy();
    // A user-written objective (checked by the spec checker; parsed again
    // by hone-expand-stages).
    if (m.has_objective())
      op.setObjective(m.objective().expr());
    if (critic) {
      models_[m.critic_output()] = op.getNewCritic();
      op->setAttr("hone.critic_output", b_.getStringAttr(m.critic_output()));
    }
    break;
  }
  case Stage::METHOD_NOT_SET:
    return failure();
  }
  models_[s.output()] = result;
  if (s.has_lora())
    loraStates_.insert(result);
  // The trained state's spec name (modelName() in dialect/HoneOps.h).
  result.getDefiningOp()->setAttr("hone.output", b_.getStringAttr(s.output()));
  if (s.has_save())
    SaveOp::create(b_, loc(s, "save"), result, b_.getStringAttr(s.save()));
  return success();
}

/// The pipeline's run settings (pipeline.proto `Pipeline` less what the ops
/// carry), every field resolved by frontend/Defaults.cpp.
RunAttr Lowering::runSettings() {
  Location l = FileLineColLoc::get(&ctx_, spec_.path, 1, 1);
  const Tokenizer &t = p_.tokenizer();
  const Hardware &h = p_.hardware();
  const Checkpointing &c = p_.checkpointing();
  if (!complete(p_, {"name", "optimizer", "generation"}, l) ||
      !complete(t, {}, l) || !complete(h, {}, l) || !complete(c, {}, l))
    return {};
  auto emit = [&] { return emitError(l); };
  CharVocabAttr chars;
  std::string file;
  if (t.has_chars()) {
    SmallVector<StringRef> special(t.chars().special().begin(),
                                   t.chars().special().end());
    chars = CharVocabAttr::getChecked(emit, &ctx_,
                                      StringRef(t.chars().alphabet()),
                                      b_.getStrArrayAttr(special));
    if (!chars)
      return {};
  } else {
    file = absPath(t.file());
  }
  auto tokenizer = TokenizerAttr::getChecked(
      emit, &ctx_, chars, StringRef(file),
      byName(symbolizeChatTemplate,
             Tokenizer::ChatTemplate_Name(t.chat_template())),
      StringRef(t.chat_template_kwargs()));
  long long budget = h.memory_budget().empty()
                         ? 0
                         : ::hone::spec::parseByteSize(h.memory_budget());
  auto hardware = HardwareAttr::getChecked(
      emit, &ctx_, byName(symbolizeDevice, Hardware::Device_Name(h.device())),
      int64_t(budget), h.ranks(), h.rollout_staleness(),
      byName(symbolizePrecision, Hardware::Precision_Name(h.precision())),
      byName(symbolizePrecision,
             Hardware::Precision_Name(h.frozen_precision())),
      h.threads(), F(h.collective_timeout_s()));
  auto checkpointing = CheckpointingAttr::getChecked(
      emit, &ctx_, c.every_steps(), c.keep_last(),
      byName(symbolizeOnNan, Checkpointing::OnNan_Name(c.on_nan())),
      F(c.max_skipped_fraction()), c.max_skipped_in_a_row(), StringRef(c.dir()));
  if (!tokenizer || !hardware || !checkpointing)
    return {};
  return RunAttr::getChecked(emit, &ctx_, p_.seed(), StringRef(p_.output_dir()),
                             tokenizer, hardware, checkpointing);
}

OwningOpRef<ModuleOp> Lowering::run() {
  ctx_.getOrLoadDialect<HoneDialect>();
  Location fileLoc = FileLineColLoc::get(&ctx_, spec_.path, 1, 1);
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  b_.setInsertionPointToEnd(module->getBody());
  auto pipeline = PipelineOp::create(b_, fileLoc, p_.name());
  RunAttr runSettingsAttr = runSettings();
  if (!runSettingsAttr)
    return nullptr;
  pipeline.setRunAttr(runSettingsAttr);
  b_.setInsertionPointToEnd(&pipeline.getBody().front());

  if (failed(declare()))
    return nullptr;
  for (const Stage &s : p_.stages())
    if (failed(lowerStage(s)) || failed_)
      return nullptr;
  // Each evaluation runs as soon as its model exists: right after the stage
  // that trains it (in spec order among evaluations of the same model), so
  // a pipeline reports every stage's result when the stage ends.
  Block *body = &pipeline.getBody().front();
  llvm::DenseMap<Value, Operation *> lastEval;
  for (int i = 0; i < p_.evaluations_size(); ++i) {
    const Evaluation &e = p_.evaluations(i);
    Value m = model(e.model(), loc(e, "model"));
    // No rewards: the held-out loss only.
    Value r = e.rewards_size() > 0 ? reward(e.rewards(), {}, loc(e, "rewards"))
                                   : Value();
    if (!m || (e.rewards_size() > 0 && !r))
      return nullptr;
    OpBuilder::InsertionGuard guard(b_);
    Operation *after = lastEval.lookup(m);
    if (!after)
      after = m.getDefiningOp();
    // The reward may be declared later than the model (a learned reward).
    if (Operation *rd = r ? r.getDefiningOp() : nullptr;
        rd && after && after->isBeforeInBlock(rd))
      after = rd;
    if (after && after->getBlock() == body)
      b_.setInsertionPointAfter(after);
    else
      b_.setInsertionPointToEnd(body);
    // Named after what it measures: "heldout", or "policy_sft/heldout"
    // when several evaluations use the dataset.
    int sameData = 0;
    for (const Evaluation &o : p_.evaluations())
      sameData += o.dataset() == e.dataset();
    std::string name = sameData > 1 ? (e.model().empty() ? std::string("final") : e.model()) + "/" + e.dataset()
                                    : e.dataset();
    GenerationAttr generation = generationAttr(ctx_, e.generation(), loc(e));
    if (!generation || !complete(e, {"dataset", "model", "generation"}, loc(e)))
      return nullptr;
    auto settings = EvalSettingsAttr::getChecked(
        [&] { return emitError(loc(e)); }, &ctx_, e.every_steps(),
        e.max_records(), generation);
    if (!settings)
      return nullptr;
    lastEval[m] = EvalOp::create(b_, loc(e), m, datasets_.at(e.dataset()), r,
                                 b_.getStringAttr(name), settings);
  }
  for (const Export &e : p_.exports()) {
    Value m = model(e.model(), loc(e, "model"));
    if (!m)
      return nullptr;
    // The default export (the frontend adds "final") has no line of its
    // own: errors about it point at the last stage.
    Location l = loc(e);
    if (auto fl = dyn_cast<FileLineColLoc>(l);
        fl && fl.getLine() == 0 && p_.stages_size() > 0)
      l = loc(p_.stages(p_.stages_size() - 1));
    SaveOp::create(b_, l, m, b_.getStringAttr(e.path()));
  }
  if (failed_ || failed(verify(*module)))
    return nullptr;
  return module;
}

} // namespace

OwningOpRef<ModuleOp> lowerSpecToStageIR(const LoadedSpec &spec,
                                         MLIRContext &ctx) {
  return Lowering(spec, ctx).run();
}

} // namespace mlir::hone
