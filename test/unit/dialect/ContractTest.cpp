//===- ContractTest.cpp - the spec schema and the dialect cannot drift ----===//
//
// pipeline.proto and the dialect spell every enum alike (the frontend maps
// them by name), the enums of a model's configuration have one definition
// (runtime/base/ModelConfig.h) that the dialect holds and the spec's names
// match, and every typed settings attribute (dialect/HoneSettings.td)
// holds exactly its proto message's fields, minus the ones its description
// says live elsewhere. Adding an algorithm, a loss or a setting to one side
// only fails here.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneDialect.h"
#include "dialect/HoneOps.h"
#include "dialect/MethodFamilies.h"
#include "dialect/SettingRanges.h"
#include "frontend/ToStageIR.h"
#include "runtime/base/ModelConfig.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <cmath>
#include <limits>
#include <set>

using namespace mlir;
using namespace mlir::hone;
namespace pb = google::protobuf;
namespace spec = ::hone::spec;

namespace {

/// The names of a proto enum's values.
std::set<std::string> protoNames(const pb::EnumDescriptor *e) {
  std::set<std::string> out;
  for (int i = 0; i < e->value_count(); ++i)
    out.insert(e->value(i)->name());
  return out;
}

/// The names of a dialect enum's cases (cases are numbered from 0).
template <typename E>
std::set<std::string> dialectNames(llvm::StringRef (*stringify)(E),
                                   uint32_t maxValue) {
  std::set<std::string> out;
  for (uint32_t i = 0; i <= maxValue; ++i)
    out.insert(stringify(static_cast<E>(i)).str());
  return out;
}

/// Checks the two enums name the same cases, except `renames` (proto name →
/// dialect name) the frontend maps explicitly.
void expectSameCases(const std::set<std::string> &proto,
                     std::set<std::string> dialect,
                     const std::map<std::string, std::string> &renames = {}) {
  std::set<std::string> mapped;
  for (const std::string &p : proto)
    mapped.insert(renames.count(p) ? renames.at(p) : p);
  EXPECT_EQ(mapped, dialect);
}

TEST(Contract, EnumsMatchTheSpecSchema) {
  expectSameCases(protoNames(spec::Rl::Algorithm_descriptor()),
                  dialectNames(stringifyRlAlgorithm,
                               getMaxEnumValForRlAlgorithm()));
  expectSameCases(protoNames(spec::Preference::Loss_descriptor()),
                  dialectNames(stringifyPreferenceLoss,
                               getMaxEnumValForPreferenceLoss()));
  expectSameCases(protoNames(spec::Sft::Variant_descriptor()),
                  dialectNames(stringifySftVariant,
                               getMaxEnumValForSftVariant()),
                  {{"iw_sft", "iw"}});
  expectSameCases(protoNames(spec::Optimizer::LrSchedule_descriptor()),
                  dialectNames(stringifyLrSchedule,
                               getMaxEnumValForLrSchedule()));
  expectSameCases(protoNames(spec::Rl::KlEstimator_descriptor()),
                  dialectNames(stringifyKlEstimator,
                               getMaxEnumValForKlEstimator()));
  expectSameCases(protoNames(spec::Rl::KlPlacement_descriptor()),
                  dialectNames(stringifyKlPlacement,
                               getMaxEnumValForKlPlacement()));
  expectSameCases(protoNames(spec::Rl::Aggregation_descriptor()),
                  dialectNames(stringifyAggregation,
                               getMaxEnumValForAggregation()));
  expectSameCases(protoNames(spec::PolicyLoss::Kind_descriptor()),
                  dialectNames(stringifyPolicyLossKind,
                               getMaxEnumValForPolicyLossKind()));
  expectSameCases(protoNames(spec::Schedule::Shape_descriptor()),
                  dialectNames(stringifyScheduleKind,
                               getMaxEnumValForScheduleKind()));
  // The hybrids are the Rl message's `guidance` oneof.
  std::set<std::string> guidance;
  const pb::OneofDescriptor *g =
      spec::Rl::descriptor()->FindOneofByName("guidance");
  ASSERT_NE(g, nullptr);
  for (int i = 0; i < g->field_count(); ++i)
    guidance.insert(g->field(i)->name());
  expectSameCases(guidance,
                  dialectNames(stringifyHybrid, getMaxEnumValForHybrid()));
}

/// Each table's keywords name one enumerator each, both ways.
template <typename E, size_t N>
std::set<std::string> keywords(const ::hone::EnumKeyword<E> (&table)[N]) {
  std::set<std::string> names;
  for (const ::hone::EnumKeyword<E> &k : table) {
    names.insert(k.keyword);
    EXPECT_EQ(::hone::enumFromKeyword(table, k.keyword), k.value);
    EXPECT_STREQ(::hone::keywordOf(table, k.value), k.keyword);
  }
  EXPECT_EQ(names.size(), N);
  return names;
}

/// The enums of a model's configuration have one definition
/// (runtime/base/ModelConfig.h), which #hone.arch and !hone.model hold:
/// the spec's protobuf enums have the same names (the frontend maps the
/// family by name; a spec without rope_scaling means "none"), and the IR
/// parses and prints every value by its keyword.
TEST(Contract, ModelConfigEnumsHaveOneDefinition) {
  std::set<std::string> families = keywords(::hone::kModelFamilies);
  std::set<std::string> heads = keywords(::hone::kHeadKinds);
  std::set<std::string> scalings = keywords(::hone::kRopeScalings);
  expectSameCases(protoNames(spec::Architecture::Family_descriptor()),
                  families);
  expectSameCases(protoNames(spec::Model::Head_descriptor()), heads);
  std::set<std::string> specScalings =
      protoNames(spec::Architecture::RopeScaling::Type_descriptor());
  specScalings.insert("none");
  expectSameCases(specScalings, scalings);
  EXPECT_FALSE(::hone::familyFromKeyword("qwen2").has_value());

  MLIRContext context;
  context.loadDialect<HoneDialect>();
  auto roundTrip = [&](const std::string &family, const std::string &scaling,
                       const std::string &head) {
    std::string arch = "#hone.arch<" + family +
                       ", vocab = 16, d_model = 32, layers = 1, heads = 2, "
                       "kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = "
                       "1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias "
                       "= false, head_dim = 0, qk_norm = false, rope_scaling "
                       "= " +
                       scaling +
                       ", rope_factor = 2.0e+00, rope_low_freq = 1.0e+00, "
                       "rope_high_freq = 4.0e+00, rope_original_max = 16>";
    std::string text = "!hone.model<" + arch +
                       (head == "lm" ? std::string() : ", " + head) + ">";
    auto type = dyn_cast_or_null<ModelType>(parseType(text, &context));
    ASSERT_TRUE(type) << text;
    EXPECT_EQ(type.getArch().getFamily(), ::hone::familyFromKeyword(family));
    EXPECT_EQ(type.getArch().getRopeScaling(),
              ::hone::enumFromKeyword(::hone::kRopeScalings, scaling));
    EXPECT_EQ(type.getHead(),
              ::hone::enumFromKeyword(::hone::kHeadKinds, head));
    std::string printed;
    llvm::raw_string_ostream os(printed);
    os << Type(type);
    EXPECT_EQ(printed, text);
  };
  for (const std::string &family : families)
    roundTrip(family, "none", "lm");
  // RoPE scaling is a llama-family option.
  for (const std::string &scaling : scalings)
    roundTrip("llama", scaling, "lm");
  for (const std::string &head : heads)
    roundTrip("llama", "none", head);
}

/// The one definition of the algorithm families (dialect/MethodFamilies.h)
/// is what the dialect's queries answer.
TEST(Contract, AlgorithmFamiliesHaveOneDefinition) {
  for (uint32_t i = 0; i <= getMaxEnumValForRlAlgorithm(); ++i) {
    auto a = static_cast<RlAlgorithm>(i);
    std::string name = stringifyRlAlgorithm(a).str();
    EXPECT_EQ(isGroupAlgorithm(a), ::hone::methods::isGroupAlgorithm(name));
    EXPECT_EQ(isGrpoFamily(a), ::hone::methods::isGrpoFamily(name));
  }
  EXPECT_TRUE(::hone::methods::isGroupAlgorithm("rloo"));
  EXPECT_FALSE(::hone::methods::isGrpoFamily("rloo"));
}

/// The top-level parameter names of a printed `#hone.x<a = ..., b = <...>>`.
std::set<std::string> paramNames(Attribute attr) {
  std::string text;
  llvm::raw_string_ostream os(text);
  attr.print(os);
  std::vector<std::string> items(1);
  int depth = 0;
  bool quoted = false;
  for (size_t i = text.find('<') + 1; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
      continue;
    }
    if (c == '"')
      quoted = true;
    else if (c == '<' || c == '[' || c == '(' || c == '{')
      ++depth;
    else if (c == '>' || c == ']' || c == ')' || c == '}')
      --depth;
    if (depth < 0)
      break;
    if (depth == 0 && c == ',')
      items.emplace_back();
    else
      items.back() += c;
  }
  std::set<std::string> names;
  for (const std::string &item : items) {
    std::string n = item.substr(0, item.find('='));
    n.erase(0, n.find_first_not_of(' '));
    n.erase(n.find_last_not_of(' ') + 1);
    names.insert(n);
  }
  return names;
}

/// The fields of a proto message minus `elsewhere`.
std::set<std::string> fields(const pb::Descriptor *d,
                             std::set<std::string> elsewhere) {
  std::set<std::string> out;
  for (int i = 0; i < d->field_count(); ++i)
    if (!elsewhere.count(d->field(i)->name()))
      out.insert(d->field(i)->name());
  return out;
}

/// Every example lowers to stage IR whose settings attributes hold exactly
/// their messages' fields; every kind of settings attribute is seen.
TEST(Contract, SettingsAttributesMirrorTheSpecSchema) {
  MLIRContext ctx;
  ctx.loadDialect<HoneDialect>();
  std::map<std::string, std::set<std::string>> expected = {
      {"optimizer", fields(spec::Optimizer::descriptor(), {"kind"})},
      {"generation",
       fields(spec::Generation::descriptor(), {"samples_per_prompt"})},
      {"loop",
       fields(spec::Loop::descriptor(), {"steps", "batch_size", "epochs"})},
      {"schedule", fields(spec::Schedule::descriptor(), {})},
      {"lora", fields(spec::Lora::descriptor(), {})},
      {"sft_settings",
       fields(spec::Sft::descriptor(), {"loop", "variant", "reference"})},
      {"reward_model_settings",
       fields(spec::RewardModelTraining::descriptor(), {"loop"})},
      {"preference_settings",
       fields(spec::Preference::descriptor(), {"loop", "loss", "reference"})},
      {"rl_settings",
       fields(spec::Rl::descriptor(),
              {"algorithm", "steps", "batch_size", "beta", "rewards",
               "reward_weights", "reference", "critic", "critic_output",
               "generation", "chord", "srft", "luffy", "relift", "hpt",
               "uft", "policy_loss", "objective"})},
      {"policy_loss", fields(spec::PolicyLoss::descriptor(), {})},
      {"chord", fields(spec::Chord::descriptor(), {"dataset"})},
      {"srft", fields(spec::Srft::descriptor(), {"dataset"})},
      {"luffy", fields(spec::Luffy::descriptor(), {"dataset"})},
      {"relift", fields(spec::Relift::descriptor(), {"dataset"})},
      {"hpt", fields(spec::Hpt::descriptor(), {"dataset"})},
      {"uft", fields(spec::Uft::descriptor(), {"dataset"})},
      {"eval_settings",
       fields(spec::Evaluation::descriptor(), {"dataset", "rewards", "model"})},
      {"exact_match", fields(spec::ExactMatch::descriptor(), {})},
      {"numeric_match",
       fields(spec::NumericMatch::descriptor(), {"abs_tolerance"})},
      {"pattern_reward", fields(spec::RegexReward::descriptor(), {"pattern"})},
      {"length_shaping",
       fields(spec::LengthShaping::descriptor(), {"max_length", "cache_length"})},
      {"run", fields(spec::Pipeline::descriptor(),
                     {"name", "models", "datasets", "rewards", "stages",
                      "optimizer", "generation", "evaluations", "exports"})},
      // The tokenizer's oneof: a character vocabulary here (every example
      // uses one; a `file` tokenizer prints `file` in place of `chars`).
      {"tokenizer", fields(spec::Tokenizer::descriptor(), {"file"})},
      {"char_vocab", fields(spec::CharVocab::descriptor(), {})},
      {"dataset_settings",
       fields(spec::Dataset::descriptor(),
              {"name", "path", "layout", "eval_path"})},
      {"columns", fields(spec::Columns::descriptor(), {})},
      {"hardware", fields(spec::Hardware::descriptor(), {})},
      {"checkpointing", fields(spec::Checkpointing::descriptor(), {})},
  };
  // regex and format share #hone.pattern_reward: their messages must agree.
  EXPECT_EQ(fields(spec::RegexReward::descriptor(), {}),
            fields(spec::FormatReward::descriptor(), {}));
  std::set<std::string> seen;
  auto check = [&](Attribute a) {
    if (!a || !isa<OptimizerAttr, GenerationAttr, LoopAttr, ScheduleAttr,
                   SftSettingsAttr, RewardModelSettingsAttr,
                   PreferenceSettingsAttr, RlSettingsAttr, ChordAttr,
                   SrftAttr, LuffyAttr, ReliftAttr, HptAttr, UftAttr,
                   EvalSettingsAttr, ExactMatchAttr, NumericMatchAttr,
                   PatternRewardAttr, LengthShapingAttr, RunAttr,
                   TokenizerAttr, CharVocabAttr, HardwareAttr,
                   CheckpointingAttr, DatasetSettingsAttr, ColumnsAttr,
                   PolicyLossAttr, LoraAttr>(a))
      return;
    std::string mnemonic = a.getAbstractAttribute().getName().str();
    mnemonic = mnemonic.substr(mnemonic.find('.') + 1);
    seen.insert(mnemonic);
    ASSERT_TRUE(expected.count(mnemonic)) << mnemonic;
    EXPECT_EQ(paramNames(a), expected[mnemonic]) << mnemonic;
  };
  std::filesystem::path examples =
      std::filesystem::path(HONE_SOURCE_DIR) / "examples";
  // Every example, and the grpo example with its exact_match reward turned
  // into a numeric_match (no example uses one).
  std::vector<std::pair<std::filesystem::path, std::vector<std::string>>> specs;
  for (auto &dir : std::filesystem::directory_iterator(examples))
    specs.push_back({dir.path() / "spec.textproto", {}});
  specs.push_back({examples / "grpo" / "spec.textproto",
                   {"rewards[0].numeric_match.rel_tolerance=0.01"}});
  for (auto &[specPath, overrides] : specs) {
    // Examples whose model is built at test time (make_model.py) load in
    // their own e2e test (test/Frontend/examples.test skips them too).
    if (!std::filesystem::exists(specPath) ||
        std::filesystem::exists(specPath.parent_path() / "make_model.py"))
      continue;
    spec::DiagnosticList diags;
    auto loaded = spec::loadSpec(specPath.string(), overrides, diags);
    ASSERT_TRUE(loaded) << specPath;
    auto module = lowerSpecToStageIR(*loaded, ctx);
    ASSERT_TRUE(module) << specPath;
    module->walk([&](Operation *op) {
      for (NamedAttribute n : op->getAttrs()) {
        check(n.getValue());
        n.getValue().walk([&](Attribute inner) { check(inner); });
      }
    });
  }
  for (auto &[name, _] : expected)
    EXPECT_TRUE(seen.count(name)) << "no example uses #hone." << name;
}


/// dialect/SettingRanges.def names real settings, once each: every row's
/// field is a number of its pipeline.proto message, and no setting has two
/// rows. (A row whose attribute parameter is misspelt, or that a verifier
/// does not check, fails every verification of that attribute.)
TEST(Contract, SettingRangesNameSpecFieldsOnce) {
  std::set<std::pair<std::string, std::string>> specKeys, attrKeys;
  for (const ::hone::ranges::Row &r : ::hone::ranges::kRows) {
    const pb::Descriptor *d = pb::DescriptorPool::generated_pool()
                                  ->FindMessageTypeByName(
                                      std::string("hone.spec.") + r.message);
    ASSERT_NE(d, nullptr) << r.message;
    const pb::FieldDescriptor *f = d->FindFieldByName(r.field);
    ASSERT_NE(f, nullptr) << r.message << "." << r.field;
    EXPECT_TRUE(f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE ||
                f->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT ||
                f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT32 ||
                f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64 ||
                f->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT32 ||
                f->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64)
        << r.message << "." << r.field;
    EXPECT_TRUE(specKeys.insert({r.message, r.field}).second)
        << r.message << "." << r.field << " has two rows";
    EXPECT_EQ(*r.attr == 0, *r.param == 0) << r.message << "." << r.field;
    if (*r.attr) {
      EXPECT_TRUE(attrKeys.insert({r.attr, r.param}).second)
          << "#hone." << r.attr << " " << r.param << " has two rows";
    }
  }
}

/// The rules read as the table says, NaN and infinities refused.
TEST(Contract, SettingRangeRules) {
  using ::hone::ranges::admits;
  const auto *lr = ::hone::ranges::specRow("Optimizer", "lr");
  const auto *beta1 = ::hone::ranges::specRow("Optimizer", "beta1");
  const auto *dual = ::hone::ranges::specRow("PolicyLoss", "dual_clip");
  ASSERT_TRUE(lr && beta1 && dual);
  EXPECT_TRUE(admits(*lr, 1e-5));
  EXPECT_FALSE(admits(*lr, 0));
  EXPECT_FALSE(admits(*lr, std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(admits(*lr, std::nan("")));
  EXPECT_TRUE(admits(*beta1, 0));
  EXPECT_FALSE(admits(*beta1, 1));
  EXPECT_TRUE(admits(*dual, 0));
  EXPECT_FALSE(admits(*dual, 1));
  EXPECT_TRUE(admits(*dual, 3));
  EXPECT_EQ(::hone::ranges::requirement(*beta1), "be in [0, 1)");
  EXPECT_EQ(::hone::ranges::attrRow("arch", "max_seq"),
            ::hone::ranges::specRow("Architecture", "max_seq_len"));
}

} // namespace
