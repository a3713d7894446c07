//===- AbiTableTest.cpp - runtime/abi/step_ops.inl against the dialect ----===//
//
// The runtime boundary's table is checked against the registered hone ops:
// every row names a registered op that convert-hone-to-runtime lowers
// through the table with the row's entry point, every ODS attribute is one
// the op declares (and no DISC or LOWER one is), and every op the lowering
// sends through the table has a row. The checker itself must catch planted
// mismatches, each on a doctored copy of the table.
//
//===----------------------------------------------------------------------===//

#include "dialect/HoneOps.h"
#include "passes/RuntimeAbi.h"

#include "mlir/IR/AttributeSupport.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace mlir;
namespace habi = ::hone::abi;

namespace {

class AbiTable : public ::testing::Test {
protected:
  AbiTable() { context.loadDialect<mlir::hone::HoneDialect>(); }

  /// The complaints about the given table.
  std::vector<std::string> check(const std::vector<habi::OpRow> &ops,
                                 const std::vector<habi::AttrRow> &attrs) {
    std::vector<std::string> out;
    unsigned n = mlir::hone::checkAbiTable(&context, ops, attrs,
                                     [&](const llvm::Twine &t) {
                                       out.push_back(t.str());
                                     });
    EXPECT_EQ(n, out.size());
    return out;
  }
  static bool mentions(const std::vector<std::string> &complaints,
                       const std::string &what) {
    for (const std::string &c : complaints)
      if (c.find(what) != std::string::npos)
        return true;
    return false;
  }

  std::vector<habi::OpRow> ops{std::begin(habi::kOps), std::end(habi::kOps)};
  std::vector<habi::AttrRow> attrs{std::begin(habi::kAttrs),
                                  std::end(habi::kAttrs)};
  MLIRContext context;
};

habi::AttrRow *attrOf(std::vector<habi::AttrRow> &attrs, habi::OpId op,
                     const char *name) {
  for (habi::AttrRow &a : attrs)
    if (a.op == op && std::string(a.name) == name)
      return &a;
  return nullptr;
}

TEST_F(AbiTable, MatchesTheRegisteredDialect) {
  std::vector<std::string> complaints = check(ops, attrs);
  for (const std::string &c : complaints)
    ADD_FAILURE() << c;
  EXPECT_GT(habi::kNumOps, 20u);
  EXPECT_GT(habi::kNumAttrs, 50u);
}

TEST_F(AbiTable, RowsAreInIdOrder) {
  // habi::row(id) indexes kOps by id.
  for (size_t i = 0; i < habi::kNumOps; ++i)
    EXPECT_EQ(size_t(habi::kOps[i].id), i) << habi::kOps[i].name;
  EXPECT_STREQ(habi::row(habi::OpId::generate).name, "generate");
  EXPECT_EQ(habi::findOp("train_step")->call, habi::Call::Train);
  EXPECT_EQ(habi::findOp("frobnicate"), nullptr);
  // "lane" is accepted by step and train rows, not by object rows.
  EXPECT_NE(habi::findAttr(*habi::findOp("generate"), "lane"), nullptr);
  EXPECT_EQ(habi::findAttr(*habi::findOp("dataset"), "lane"), nullptr);
}

TEST_F(AbiTable, MisspelledAttributeIsCaught) {
  habi::AttrRow *t = attrOf(attrs, habi::OpId::generate, "temperature");
  ASSERT_NE(t, nullptr);
  t->name = "temprature";
  auto c = check(ops, attrs);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(mentions(c, "'temprature' is ODS, but hone.generate declares "
                          "no such attribute"))
      << c[0];
}

TEST_F(AbiTable, DeclaredAttributeMarkedDiscardableIsCaught) {
  attrOf(attrs, habi::OpId::advantage, "gamma")->from =
      habi::From::Discardable;
  auto c = check(ops, attrs);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(mentions(c, "'gamma' is DISC, but hone.advantage declares it"))
      << c[0];
}

TEST_F(AbiTable, UnregisteredOpIsCaught) {
  ops[size_t(habi::OpId::score)].name = "scores";
  auto c = check(ops, attrs);
  EXPECT_TRUE(mentions(c, "hone.scores is not a registered op"));
  EXPECT_TRUE(mentions(c, "hone.score reaches the runtime but has no row"));
}

TEST_F(AbiTable, MissingRowIsCaught) {
  std::vector<habi::OpRow> fewer;
  for (const habi::OpRow &r : ops)
    if (r.id != habi::OpId::group_filter)
      fewer.push_back(r);
  auto c = check(fewer, attrs);
  EXPECT_TRUE(mentions(c, "hone.group_filter reaches the runtime but has no "
                          "row"));
  EXPECT_TRUE(mentions(c, "attribute 'group_size' names no row"));
}

TEST_F(AbiTable, WrongEntryPointIsCaught) {
  ops[size_t(habi::OpId::dataset)].call = habi::Call::Step;
  auto c = check(ops, attrs);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(mentions(c, "row 'dataset': the lowering calls hone.dataset "
                          "through another entry point"))
      << c[0];
}

TEST_F(AbiTable, StageLevelOpIsCaught) {
  ops[size_t(habi::OpId::eval_step)].name = "eval";
  auto c = check(ops, attrs);
  EXPECT_TRUE(mentions(c, "convert-hone-to-runtime does not lower hone.eval"));
}

} // namespace

// --- runtime/abi/settings.inl ------------------------------------------------

/// Every settings row names a registered hone attribute.
TEST_F(AbiTable, SettingsRowsNameRegisteredAttributes) {
  for (const habi::SettingsRow &r : habi::kSettings) {
    std::string name = std::string(r.attr).substr(1); // "hone.arch"
    EXPECT_TRUE(AbstractAttribute::lookup(name, &context).has_value())
        << r.attr << " is not a registered attribute";
  }
  EXPECT_EQ(habi::findSettings("#hone.optimizer")->id,
            habi::SettingsId::optimizer);
  EXPECT_EQ(habi::findSettings("#hone.rl_settings"), nullptr);
}

/// The writer-side check (convert-hone-to-runtime runs it on every settings
/// object it emits) accepts what the rows list and names each disagreement.
TEST_F(AbiTable, SettingsJsonAgainstTheRows) {
  using mlir::hone::checkSettingsJson;
  const std::string gen = R"({"max_new_tokens":8,"temperature":"inf",)"
                          R"("top_k":0,"top_p":1.0,"stop":["\n"]})";
  EXPECT_EQ(checkSettingsJson(habi::SettingsId::generation, gen), "");
  auto eval = [&](const std::string &g) {
    return checkSettingsJson(habi::SettingsId::eval_settings,
                             R"({"every_steps":5,"max_records":0,)"
                             R"("generation":)" +
                                 g + "}");
  };
  EXPECT_EQ(eval(gen), "");
  // A nested object is checked by its own rows, named by its path.
  std::string noTopK = R"({"max_new_tokens":8,"temperature":1.0,)"
                       R"("top_p":1.0,"stop":[]})";
  EXPECT_EQ(eval(noTopK), "missing setting 'generation.top_k' (an integer)");
  std::string extra = gen.substr(0, gen.size() - 1) + R"(,"seed":1})";
  EXPECT_NE(eval(extra).find("unknown setting 'generation.seed'"),
            std::string::npos)
      << eval(extra);
  std::string badKind = R"({"max_new_tokens":"8","temperature":1.0,)"
                        R"("top_k":0,"top_p":1.0,"stop":[]})";
  EXPECT_EQ(eval(badKind),
            "setting 'generation.max_new_tokens' must be an integer, got \"8\"");
  // An optional member may be absent; a free-form object is not looked into.
  EXPECT_EQ(checkSettingsJson(habi::SettingsId::tokenizer,
                              R"({"file":"t.json","chat_template":"chatml",)"
                              R"("chat_template_kwargs":"{}"})"),
            "");
  EXPECT_NE(checkSettingsJson(habi::SettingsId::generation, "[1]"), "");
}
