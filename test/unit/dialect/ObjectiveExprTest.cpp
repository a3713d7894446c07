//===- ObjectiveExprTest.cpp - the objective language's parser -----------===//
//
// The built-ins' expressions parse with the shapes and reads they need;
// mutated expressions never crash the parser and every error points into
// the expression. (The located spec errors are lit tests:
// test/Frontend/objective-errors.textproto.)
//
//===----------------------------------------------------------------------===//

#include "dialect/ObjectiveExpr.h"

#include <gtest/gtest.h>

#include <random>

using namespace hone::objective;

namespace {

Settings settings() {
  Settings s;
  s.values = {{"epsilon", 0.2}, {"epsilon_high", 0.28}, {"beta", 0.04}};
  s.hasReference = true;
  return s;
}

const char *kGrpo =
    "rho = exp(logprob - old_logprob); d = ref_logprob - logprob; "
    "mean(seq_mean(-min(rho * advantage, clip(rho, 1 - epsilon, 1 + "
    "epsilon_high) * advantage) + (exp(d) - d - 1) * beta))";

TEST(ObjectiveExpr, BuiltInsParseWithTheirReads) {
  Error err;
  auto p = parseObjective(kGrpo, settings(), err);
  ASSERT_TRUE(p) << err.message;
  for (const char *q : {"logprob", "old_logprob", "ref_logprob", "advantage",
                        "mask"})
    EXPECT_TRUE(p->uses(q)) << q;
  EXPECT_FALSE(p->uses("entropy"));
  EXPECT_EQ(p->nodes[p->root].shape, Shape::scalar);
  // Bindings are shared: `rho` is one node used twice.
  int exps = 0;
  for (const Node &n : p->nodes)
    exps += n.kind == Node::call && n.fn == Fn::exp;
  EXPECT_EQ(exps, 2); // rho and exp(d)
}

TEST(ObjectiveExpr, ConstantsFoldAndClipBoundsAreConstant) {
  Error err;
  auto p = parseObjective(
      "token_mean(clip(logprob, 1 - epsilon, 2 * (1 + epsilon_high)))",
      settings(), err);
  ASSERT_TRUE(p) << err.message;
  const Node *clip = nullptr;
  for (const Node &n : p->nodes)
    if (n.kind == Node::call && n.fn == Fn::clip)
      clip = &n;
  ASSERT_NE(clip, nullptr);
  EXPECT_DOUBLE_EQ(p->nodes[clip->args[1]].value, 0.8);
  EXPECT_DOUBLE_EQ(p->nodes[clip->args[2]].value, 2.56);
}

TEST(ObjectiveExpr, ErrorsPointIntoTheExpression) {
  Error err;
  std::string e = "rho = exp(logprob - old_logprob); mean(rho * advantage)";
  EXPECT_FALSE(parseObjective(e, settings(), err));
  EXPECT_EQ(err.pos, e.find("rho *"));
  EXPECT_EQ(err.message, "'mean' needs a per-sequence value, got per-token");
  e = "token_mean(-logprb)";
  EXPECT_FALSE(parseObjective(e, settings(), err));
  EXPECT_EQ(err.pos, e.find("logprb"));
  EXPECT_EQ(err.hint, "did you mean 'logprob'?");
}

/// Mutants of valid expressions (deleted, inserted and replaced
/// characters): a program or an error inside the text, never a crash.
TEST(ObjectiveExpr, MutantsNeverCrash) {
  const std::vector<std::string> seeds = {
      kGrpo,
      "s = exp(seq_mean(logprob - old_logprob)); mean(seq_mean(per_token("
      "-min(s * advantage, clip(s, 0.9997, 1.0004) * advantage)))) - 0.01 * "
      "token_mean(entropy)",
      "token_sum(-logprob * sg(exp(logprob))) / 3e-4 + mean(group_mean("
      "reward) * seq_sum(logprob))"};
  const std::string alphabet =
      "()+-*/;=,.e0123456789 abcdefghijklmnopqrstuvwxyz_$\"\\";
  std::mt19937_64 rng(7);
  Settings st = settings();
  int parsed = 0;
  for (int k = 0; k < 20000; ++k) {
    std::string s = seeds[rng() % seeds.size()];
    for (int e = 0, n = 1 + rng() % 4; e < n; ++e) {
      size_t at = rng() % (s.size() + 1);
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
      case 0:
        if (at < s.size())
          s.erase(at, 1 + rng() % 5);
        break;
      case 1:
        s.insert(at, 1, c);
        break;
      default:
        if (at < s.size())
          s[at] = c;
      }
    }
    Error err;
    auto p = parseObjective(s, st, err);
    if (p) {
      ++parsed;
      EXPECT_EQ(p->nodes[p->root].shape, Shape::scalar) << s;
      EXPECT_TRUE(p->nodes[p->root].differentiable) << s;
    } else {
      EXPECT_LE(err.pos, s.size()) << s;
      EXPECT_FALSE(err.message.empty()) << s;
      EXPECT_FALSE(err.hint.empty()) << s;
    }
  }
  EXPECT_GT(parsed, 0);
}

} // namespace
