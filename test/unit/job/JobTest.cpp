// Unit tests of runtime/job: batches and masks, data cursor, rewards
// (verifiers, shaping, external process), advantages, KL estimators, the
// loss kernels (gradients against finite differences), the train step
// (micro-batching, NaN handling), argument parsing and the driver.
#include "kernels/backend/Backend.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/job/Advantages.h"
#include "runtime/job/Driver.h"
#include "runtime/job/Rewards.h"
#include "runtime/job/Steps.h"
#include "test/unit/GemmRows.h"
#include "test/unit/TempDir.h"
#include "tools/hone-toydata/ToyData.h"

#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <fstream>
#include <set>
#include <unistd.h>

using namespace hone;
using namespace hone::job;
using namespace hone::toydata;

namespace {

Tokenizer toyTok() {
  auto t = Tokenizer::character(toyVocabulary(), toySpecialTokens());
  EXPECT_TRUE(t.isOk());
  return t.take();
}

/// A run directory that does not exist yet (the job makes it).
std::string tmpDir(const std::string &name) {
  return hone::test::makeTempDir("job-" + name) + "/run";
}

ModelConfig tinyConfig(int64_t vocab) {
  ModelConfig c;
  c.family = ModelFamily::GPT2;
  c.vocabSize = vocab;
  c.dModel = 16;
  c.nLayers = 1;
  c.nHeads = 2;
  c.nKvHeads = 2;
  c.dFf = 32;
  c.maxSeqLen = 32;
  return c;
}

} // namespace

TEST(Batches, SftMaskIsTokenAlignedWithLogprobs) {
  Tokenizer tok = toyTok();
  auto dl = DataLoader::fromJsonl(
      "d.jsonl", "{\"prompt\":\"1+2=\",\"completion\":\"3\"}\n"
                 "{\"prompt\":\"10+20=\",\"completion\":\"30\"}\n",
      0, false);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  fmt.eosToken = 1;
  auto b = makeSftBatch(fmt, *dl, {0, 1});
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  ASSERT_EQ(b->batch, 2);
  ASSERT_EQ(b->seqLen, 9); // "10+20=" + "30" + eos
  EXPECT_EQ(b->lengths[0], 6);
  // row 0: 1 + 2 = | 3 eos  -> mask on tokens 4 ('3') and 5 (eos)
  std::vector<float> want0 = {0, 0, 0, 0, 1, 1, 0, 0, 0};
  for (int t = 0; t < 9; ++t)
    EXPECT_EQ(b->mask[size_t(t)], want0[size_t(t)]) << t;
  EXPECT_EQ(b->tokens[5], 1);        // eos
  EXPECT_EQ(b->tokens[6], 0);        // pad
  EXPECT_EQ(b->maskedTokens(), 2 + 3);
  // completion_only_loss: false trains on the prompt too (TRL).
  fmt.completionOnlyLoss = false;
  auto all = makeSftBatch(fmt, *dl, {0, 1});
  ASSERT_TRUE(all.isOk());
  EXPECT_EQ(all->maskedTokens(), 5 + 8); // all but each row's first token
  EXPECT_EQ(all->tokens, b->tokens);
}

/// An empty completion still trains the EOS token after the prompt
/// (docs/formats.md); it used to be read as an empty text record, which
/// trained nothing and dropped the prompt.
TEST(Batches, EmptyCompletionTrainsEos) {
  Tokenizer tok = toyTok();
  auto dl = DataLoader::fromJsonl(
      "d.jsonl", "{\"prompt\":\"1+2=\",\"completion\":\"\"}\n", 0, false);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  fmt.eosToken = 1;
  auto b = makeSftBatch(fmt, *dl, {0});
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  ASSERT_EQ(b->seqLen, 5); // "1+2=" + eos
  std::vector<float> want = {0, 0, 0, 0, 1};
  for (int t = 0; t < 5; ++t)
    EXPECT_EQ(b->mask[size_t(t)], want[size_t(t)]) << t;
  EXPECT_EQ(b->tokens[4], 1);
}

// assistant_only_loss: a conversation trains on the assistant turns only,
// or (false) on every token of the rendered conversation.
TEST(Batches, AssistantOnlyLoss) {
  std::vector<std::string> special = toySpecialTokens();
  special.push_back("<|im_start|>");
  special.push_back("<|im_end|>");
  std::string chars = toyVocabulary();
  for (char c : std::string("\nasistnuer")) // chatml's role names
    if (chars.find(c) == std::string::npos)
      chars += c;
  auto t = Tokenizer::character(chars, special);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  Tokenizer tok = t.take();
  auto dl = DataLoader::fromJsonl(
      "m.jsonl",
      "{\"messages\":[{\"role\":\"user\",\"content\":\"1+2=\"},"
      "{\"role\":\"assistant\",\"content\":\"3\"}]}\n",
      0, false);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  fmt.eosToken = 1;
  fmt.chat = ChatTemplate::ChatML;
  auto a = tokenizeExample(fmt, dl->example(0));
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  size_t on = 0;
  for (uint8_t m : a->mask)
    on += m;
  EXPECT_GT(on, 0u);
  EXPECT_LT(on, a->ids.size());
  fmt.assistantOnlyLoss = false;
  auto b = tokenizeExample(fmt, dl->example(0));
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->ids, a->ids);
  EXPECT_EQ(b->mask, std::vector<uint8_t>(b->ids.size(), 1));
}

TEST(Batches, PromptBatchRepeatsGroupsWithAnswers) {
  Tokenizer tok = toyTok();
  auto dl = DataLoader::fromJsonl(
      "p.jsonl", "{\"prompt\":\"1+1=\",\"answer\":\"2\",\"id\":7}\n"
                 "{\"prompt\":\"2+2=\",\"answer\":4,\"id\":8}\n",
      0, false);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  auto pb = makePromptBatch(fmt, *dl, {1, 0}, 3);
  ASSERT_TRUE(pb.isOk());
  ASSERT_EQ(pb->prompts.size(), 6u);
  EXPECT_EQ(pb->answers[0], "4");
  EXPECT_EQ(pb->answers[3], "2");
  EXPECT_EQ(pb->prompts[0], pb->prompts[2]);
  EXPECT_EQ(pb->records[4].find("id")->asInt(), 7);
}

TEST(Batches, PreferenceAndKto) {
  Tokenizer tok = toyTok();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  auto pref = DataLoader::fromJsonl(
      "pref.jsonl",
      "{\"prompt\":\"q: \",\"chosen\":\"yes\",\"rejected\":\"no\"}\n", 0,
      false);
  ASSERT_TRUE(pref.isOk()) << pref.status().toString();
  auto pb = makePreferenceBatch(fmt, *pref, {0});
  ASSERT_TRUE(pb.isOk());
  EXPECT_EQ(pb->pairs, 1);
  EXPECT_EQ(pb->seqs.batch, 2);
  EXPECT_EQ(pb->seqs.lengths[0], 6);
  EXPECT_EQ(pb->seqs.lengths[1], 5);
  EXPECT_EQ(pb->seqs.mask[3], 1.f); // 'y'
  EXPECT_EQ(pb->seqs.mask[2], 0.f);
  auto kto = DataLoader::fromJsonl(
      "kto.jsonl", "{\"prompt\":\"a\",\"completion\":\"b\",\"label\":true}\n"
                   "{\"prompt\":\"a\",\"completion\":\"c\",\"label\":false}\n",
      0, false);
  ASSERT_TRUE(kto.isOk()) << kto.status().toString();
  auto kb = makeKtoBatch(fmt, *kto, {0, 1});
  ASSERT_TRUE(kb.isOk());
  EXPECT_EQ(kb->labels, (std::vector<float>{1, 0}));
}

TEST(Batches, ShuffleIsSeededAndCursorResumes) {
  std::string s;
  for (int i = 0; i < 10; ++i)
    s += "{\"text\":\"" + std::to_string(i) + "\"}\n";
  auto a = DataLoader::fromJsonl("t.jsonl", s, 5);
  auto b = DataLoader::fromJsonl("t.jsonl", s, 5);
  ASSERT_TRUE(a.isOk() && b.isOk());
  auto first = a->take(7);
  json::Value cur = a->cursorJson();
  auto rest = a->take(13); // wraps into epochs 1 and 2
  ASSERT_TRUE(b->setCursorJson(cur).isOk());
  EXPECT_EQ(b->take(13), rest);
  // each epoch is a permutation
  auto c = DataLoader::fromJsonl("t.jsonl", s, 5);
  auto e0 = c->take(10);
  std::sort(e0.begin(), e0.end());
  for (size_t i = 0; i < 10; ++i)
    EXPECT_EQ(e0[i], i);
  auto other = DataLoader::fromJsonl("t.jsonl", s, 6);
  EXPECT_NE(other->take(7), first);
  json::Value bad = json::Value::object();
  EXPECT_FALSE(b->setCursorJson(bad).isOk());
}

/// The spec's column names and layout reach the reader (the job reads the
/// data as the compiler checked it), max_records keeps the head of the file
/// and an eval split takes its tail, unshuffled, out of the training data.
TEST(Batches, SpecColumnsAndEvalSplit) {
  std::string path = tmpDir("columns") + ".jsonl";
  {
    std::ofstream f(path);
    for (int i = 0; i < 10; ++i)
      f << "{\"q\":\"" << i << "+1=\",\"r\":\"" << i + 1 << "\"}\n";
  }
  auto opts = datasetOptionsFromSpec("prompt_completion",
                                     {{"prompt", "q"}, {"completion", "r"}});
  ASSERT_TRUE(opts.isOk()) << opts.status().toString();
  auto dl = DataLoader::open(path, *opts, 3, true);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  EXPECT_EQ(dl->info().layout, DatasetLayout::PromptCompletion);
  dl->keepFirst(8);
  DataLoader held = dl->splitTail(2);
  ASSERT_EQ(dl->size(), 6u);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held.example(0).prompt, "6+1=");
  EXPECT_EQ(held.example(1).completion, "8");
  EXPECT_EQ(held.take(3), (std::vector<size_t>{0, 1, 0})); // file order
  auto idx = dl->take(6);
  std::sort(idx.begin(), idx.end());
  EXPECT_EQ(idx, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
  // Without the mapping the file is not prompt_completion data.
  auto plain = datasetOptionsFromSpec("prompt_completion", {});
  ASSERT_TRUE(plain.isOk());
  EXPECT_FALSE(DataLoader::open(path, *plain, 3, true).isOk());
  EXPECT_FALSE(datasetOptionsFromSpec("prompt_completion", {{"prompts", "q"}})
                   .isOk());
  EXPECT_FALSE(datasetOptionsFromSpec("pairs", {}).isOk());
  std::remove(path.c_str());
}

TEST(Rewards, Verifiers) {
  EXPECT_EQ(normalizeAnswer("  The  Answer. "), "the answer");
  EXPECT_EQ(normalizeAnswer("\\boxed{42}"), "42");
  EXPECT_EQ(normalizeAnswer("work #### 17"), "17");
  EXPECT_EQ(exactMatchReward(" 579\n", "579"), 1.0);
  EXPECT_EQ(exactMatchReward("5790", "579"), 0.0);
  EXPECT_EQ(*lastNumber("a 3 then -1,234.5 end"), -1234.5);
  EXPECT_FALSE(lastNumber("none").has_value());
  EXPECT_EQ(numericMatchReward("so x = 3.0001", "3", 1e-3), 1.0);
  EXPECT_EQ(numericMatchReward("so x = 3.1", "3", 1e-3), 0.0);
  auto re = RegexReward::compile("\\d+", false);
  ASSERT_TRUE(re.isOk());
  EXPECT_EQ((*re)("abc 12"), 1.0);
  auto fm = RegexReward::compile("\\d+", true);
  EXPECT_EQ((*fm)("abc 12"), 0.0);
  EXPECT_EQ((*fm)("12"), 1.0);
  EXPECT_FALSE(RegexReward::compile("(", false).isOk());
  EXPECT_EQ(*re->capture("abc 12 34"), "12");
  auto grp = RegexReward::compile("answer: *(\\w+)", false);
  EXPECT_EQ(*grp->capture("the answer: Paris."), "Paris");
  EXPECT_FALSE(grp->capture("no").has_value());
}

// The spec's verifier options (ExactMatch, NumericMatch, RegexReward).
TEST(Rewards, VerifierOptions) {
  auto score = [](VerifierConfig c, const std::string &completion,
                  const std::string &answer) {
    auto v = Verifier::create(c);
    EXPECT_TRUE(v.isOk());
    RewardInput in;
    in.completion = completion;
    in.answer = answer;
    return v->score(in);
  };
  VerifierConfig exact; // strip, case-sensitive by default
  EXPECT_EQ(score(exact, " Paris.\n", "Paris"), 1.0);
  EXPECT_EQ(score(exact, "paris", "Paris"), 0.0);
  VerifierConfig fold = exact;
  fold.caseSensitive = false;
  EXPECT_EQ(score(fold, "paris", "Paris"), 1.0);
  VerifierConfig raw = exact;
  raw.strip = false;
  EXPECT_EQ(score(raw, "Paris ", "Paris"), 0.0);
  EXPECT_EQ(score(raw, "Paris", "Paris"), 1.0);
  VerifierConfig ex = exact;
  ex.extract = "<answer>(.*?)</answer>";
  ex.onTrue = 2;
  ex.onFalse = -1;
  EXPECT_EQ(score(ex, "think... <answer>42</answer> more", "42"), 2.0);
  EXPECT_EQ(score(ex, "think... 42", "42"), -1.0); // no match: incorrect
  EXPECT_EQ(score(ex, "<answer>41</answer>", "42"), -1.0);
  VerifierConfig num;
  num.kind = VerifierConfig::Kind::NumericMatch;
  num.extract = "= *(-?[0-9.]+)";
  EXPECT_EQ(score(num, "x = 3.0 so 7", "3"), 1.0); // extracted, not the last
  num.relTol = 0.1;
  num.extract.clear();
  EXPECT_EQ(score(num, "about 105", "100"), 1.0);
  EXPECT_EQ(score(num, "about 111", "100"), 0.0);
  VerifierConfig re;
  re.kind = VerifierConfig::Kind::Regex;
  re.pattern = "\\d";
  re.onTrue = 0.5;
  re.onFalse = -0.5;
  EXPECT_EQ(score(re, "a1", ""), 0.5);
  EXPECT_EQ(score(re, "ab", ""), -0.5);
}

TEST(Rewards, OverlongShaping) {
  EXPECT_EQ(overlongPenalty(10, 20, 4), 0.0);
  EXPECT_EQ(overlongPenalty(16, 20, 4), 0.0);
  EXPECT_DOUBLE_EQ(overlongPenalty(18, 20, 4), -0.5);
  EXPECT_DOUBLE_EQ(overlongPenalty(20, 20, 4), -1.0);
  EXPECT_EQ(overlongPenalty(25, 20, 4), -1.0);
}

TEST(Rewards, ExternalProcess) {
  // echoes a reward from the request: 1 when completion == answer
  auto ok = ExternalReward::start(
      {"python3", "-c",
       "import sys, json\n"
       "for l in sys.stdin:\n"
       "  r = json.loads(l)\n"
       "  print(json.dumps({'reward': float(r['completion'] == r['answer']) "
       "+ r.get('bonus', 0)}), flush=True)\n"},
      10000, 1);
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  json::Value rec = json::Value::object();
  rec.set("bonus", 0.5);
  auto r = (*ok)->score({{"p", "12", "12", 2, &rec}, {"p", "1", "2", 1, &rec}});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, (std::vector<double>{1.5, 0.5}));

  auto garbage = ExternalReward::start({"sh", "-c", "read l; echo hello"}, 10000, 1);
  ASSERT_TRUE(garbage.isOk());
  auto g = (*garbage)->scoreOne({"p", "c", "a", 1, nullptr});
  ASSERT_FALSE(g.isOk());
  EXPECT_NE(g.status().message().find("hello"), std::string::npos);

  auto dies = ExternalReward::start({"sh", "-c", "exit 3"}, 10000, 1);
  ASSERT_TRUE(dies.isOk());
  auto d = (*dies)->scoreOne({"p", "c", "a", 1, nullptr});
  ASSERT_FALSE(d.isOk());
  EXPECT_NE(d.status().message().find("reward process"), std::string::npos);
  // a dead process stays an error, never a hang
  EXPECT_FALSE((*dies)->scoreOne({"p", "c", "a", 1, nullptr}).isOk());

  auto slow = ExternalReward::start({"sh", "-c", "sleep 30"}, 200, 1);
  ASSERT_TRUE(slow.isOk());
  auto s = (*slow)->scoreOne({"p", "c", "a", 1, nullptr});
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.status().message().find("no reply within"), std::string::npos);

  auto missing = ExternalReward::start({"/nonexistent/scorer"}, 10000, 1);
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("cannot execute"),
            std::string::npos);
}

/// `workers` copies answer in parallel, row i by copy i mod workers: each
/// copy answers with its own process id, so the rewards show which copy
/// scored which row. A copy that fails is the error of its first row.
TEST(Rewards, ExternalWorkersShareTheRows) {
  const char *pidScorer = "while read l; do echo \"{\\\"reward\\\": $$}\"; done";
  auto three = ExternalReward::start({"sh", "-c", pidScorer}, 10000, 3);
  ASSERT_TRUE(three.isOk()) << three.status().toString();
  EXPECT_EQ((*three)->workers(), 3);
  std::vector<RewardInput> rows(7, RewardInput{"p", "c", "a", 1, nullptr});
  auto r = (*three)->score(rows);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::set<double> pids(r->begin(), r->end());
  EXPECT_EQ(pids.size(), 3u);
  for (size_t i = 0; i < r->size(); ++i)
    EXPECT_EQ((*r)[i], (*r)[i % 3]) << "row " << i;
  EXPECT_NE((*r)[0], double(getpid()));

  // One copy answers once, then dies (whichever loses the race for the
  // marker directory): its second row fails, after the other copy's rows.
  std::string once = "read l; echo '{\"reward\": 1}'";
  std::string marker =
      "/tmp/hone_job_test_" + std::to_string(getpid()) + "_first";
  auto two = ExternalReward::start(
      {"sh", "-c",
       "if mkdir \"$0\" 2>/dev/null; then " + std::string(pidScorer) +
           "; else " + once + "; fi",
       marker},
      10000, 2);
  ASSERT_TRUE(two.isOk()) << two.status().toString();
  auto bad = (*two)->score(std::vector<RewardInput>(
      6, RewardInput{"p", "c", "a", 1, nullptr}));
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("died"), std::string::npos)
      << bad.status().toString();
  (*two).reset();
  ::rmdir(marker.c_str());

  for (int w : {0, 1025}) {
    auto wrong = ExternalReward::start({"true"}, 1000, w);
    ASSERT_FALSE(wrong.isOk());
    EXPECT_NE(wrong.status().message().find("workers must be in [1, 1024]"),
              std::string::npos);
  }
}

/// A scorer that times out is killed with everything it started (its
/// process group): a background child used to keep running.
TEST(Rewards, TimedOutScorerChildrenAreKilled) {
  std::string pidFile = "/tmp/hone_job_test_" + std::to_string(getpid()) +
                        "_child.pid";
  auto slow = ExternalReward::start(
      {"sh", "-c", "sleep 60 & echo $! > " + pidFile + "; wait"}, 300, 1);
  ASSERT_TRUE(slow.isOk());
  auto s = (*slow)->scoreOne({"p", "c", "a", 1, nullptr});
  ASSERT_FALSE(s.isOk());
  std::ifstream in(pidFile);
  long child = 0;
  in >> child;
  std::remove(pidFile.c_str());
  ASSERT_GT(child, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) { // reaped by init: a moment
    std::ifstream st("/proc/" + std::to_string(child) + "/stat");
    std::string pid, comm, state;
    gone = !(st >> pid >> comm >> state) || state == "Z";
    if (!gone)
      usleep(10000);
  }
  EXPECT_TRUE(gone) << "the scorer's child " << child << " still runs";
  ::kill(pid_t(child), SIGKILL);
}

TEST(Advantages, GroupNormLooGlobal) {
  std::vector<float> r = {1, 0, 0, 1, 1, 1};
  auto g = groupNormalized(r, 3, true, 0.0);
  ASSERT_TRUE(g.isOk());
  // group {1,0,0}: mean 1/3, unbiased std sqrt(1/3)
  EXPECT_NEAR((*g)[0], (2.0 / 3) / std::sqrt(1.0 / 3), 1e-5);
  EXPECT_NEAR((*g)[3], 0.0, 1e-6);
  auto dr = groupNormalized(r, 3, false);
  EXPECT_NEAR((*dr)[1], -1.0 / 3, 1e-6);
  auto loo = leaveOneOut(r, 3);
  EXPECT_NEAR((*loo)[0], 1.0, 1e-6);
  EXPECT_NEAR((*loo)[1], -0.5, 1e-6);
  EXPECT_FALSE(leaveOneOut(r, 1).isOk());
  EXPECT_FALSE(groupNormalized(r, 4, true).isOk());
  auto keep = dapoGroupFilter(r, 3);
  EXPECT_EQ(*keep, (std::vector<uint8_t>{1, 0}));
  auto gb = greedyBaseline({1, 0}, {0.5f, 0.5f});
  EXPECT_EQ(*gb, (std::vector<float>{0.5f, -0.5f}));
  std::vector<float> x = {1, 2, 3, 100}, m = {1, 1, 1, 0};
  ASSERT_TRUE(globalNormalize(x, m).isOk());
  EXPECT_NEAR(x[0] + x[1] + x[2], 0.0, 1e-5);
  EXPECT_EQ(x[3], 0.f);
}

TEST(Advantages, GaeMatchesDirectSum) {
  // one row, response tokens at t = 1..3
  std::vector<float> rew = {0, 0.1f, -0.2f, 1.0f, 0}, val = {0, 0.5f, 0.3f,
                                                             0.2f, 9},
                     mask = {0, 1, 1, 1, 0}, adv, ret;
  double g = 0.9, l = 0.8;
  ASSERT_TRUE(gae(rew, val, mask, 1, 5, g, l, adv, ret).isOk());
  double d3 = 1.0 - 0.2, d2 = -0.2 + g * 0.2 - 0.3, d1 = 0.1 + g * 0.3 - 0.5;
  EXPECT_NEAR(adv[3], d3, 1e-6);
  EXPECT_NEAR(adv[2], d2 + g * l * d3, 1e-6);
  EXPECT_NEAR(adv[1], d1 + g * l * (d2 + g * l * d3), 1e-6);
  EXPECT_NEAR(ret[1], adv[1] + 0.5, 1e-6);
  EXPECT_EQ(adv[4], 0.f);
  std::vector<float> out;
  ASSERT_TRUE(klPenalizedReturns({1.f}, {0, -1, -1, -1, 0}, {0, -2, -1, -1, 0},
                                 mask, 1, 5, 0.5, out)
                  .isOk());
  EXPECT_NEAR(out[1], 1 - 0.5 * 1.0, 1e-6);
  EXPECT_NEAR(out[2], 1.0, 1e-6);
}

TEST(Advantages, KlEstimators) {
  double l = -1.0, lr = -1.5;
  EXPECT_NEAR(klEstimate(KlKind::K1, l, lr), 0.5, 1e-12);
  EXPECT_NEAR(klEstimate(KlKind::K2, l, lr), 0.125, 1e-12);
  EXPECT_NEAR(klEstimate(KlKind::K3, l, lr), std::exp(-0.5) + 0.5 - 1, 1e-12);
  for (KlKind k : {KlKind::K1, KlKind::K2, KlKind::K3}) {
    double h = 1e-6;
    double fd = (klEstimate(k, l + h, lr) - klEstimate(k, l - h, lr)) / (2 * h);
    EXPECT_NEAR(klEstimateGrad(k, l, lr), fd, 1e-6);
  }
  EXPECT_EQ(klEstimate(KlKind::K3, -2, -2), 0.0);
}

namespace {
struct TinySetup {
  Tokenizer tok = toyTok();
  std::unique_ptr<Kernels<float>> k = makeCpuKernels<float>();
  std::unique_ptr<Transformer<float>> model;
  SeqBatch batch;
  TinySetup() {
    auto m = Transformer<float>::create(tinyConfig(tok.vocabSize()), k.get());
    EXPECT_TRUE(m.isOk());
    model = m.take();
    model->initRandom(3);
    std::string s;
    for (uint64_t i = 0; i < 8; ++i)
      s += json::serialize(toyRecord(toyExample({}, i), true)) + "\n";
    auto dl = DataLoader::fromJsonl("t.jsonl", s, 0, false);
    TextFormat fmt;
    fmt.tokenizer = &tok;
    fmt.eosToken = 1;
    batch = makeSftBatch(fmt, *dl, {0, 1, 2, 3, 4, 5, 6, 7}).take();
  }
};

/// One SFT step (token-mean NLL over the batch's mask) and AdamW: the
/// driver's tests need weights that move with the data.
Expected<double> sftStep(Transformer<float> &m, AdamW<float> &opt,
                         const SeqBatch &b) {
  const TokenBatch v = b.view();
  const int64_t n = v.batch * v.seqLen;
  m.zeroGrad();
  HONE_TRY(m.forward(v));
  std::vector<float> lp = m.toHost(m.logprobs(), n);
  double tokens = 0, loss = 0;
  for (float x : b.mask)
    tokens += x;
  std::vector<float> d(static_cast<size_t>(n));
  for (size_t i = 0; i < d.size(); ++i) {
    loss -= b.mask[i] * lp[i] / tokens;
    d[i] = float(-b.mask[i] / tokens);
  }
  DeviceArray<float> dd(&m.kernels(), n);
  m.kernels().copyToDevice(dd.data(), d.data(), d.size() * sizeof(float));
  OutputGrads<float> g;
  g.dlogprob = dd.data();
  HONE_TRY(m.backward(g));
  auto st = opt.step();
  if (!st)
    return st.status();
  return loss;
}
} // namespace

/// `got` equals `want` bit for bit when `exact`, else within `rel`
/// (relative to max(1, |want|)); the worst difference otherwise.
::testing::AssertionResult sameFloats(const std::vector<float> &got,
                                      const std::vector<float> &want,
                                      bool exact, double rel) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes differ";
  if (exact)
    return std::memcmp(got.data(), want.data(), got.size() * sizeof(float))
               ? ::testing::AssertionFailure() << "bits differ"
               : ::testing::AssertionSuccess();
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])) /
                                std::max(1.0, std::abs(double(want[i]))));
  if (worst <= rel)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "worst relative difference "
                                       << worst;
}

// hone.logprob and hone.value with a micro_batch (hone-plan-memory's
// decision under a budget) run the forward in chunks of rows: every row's
// result must be the one-forward result, whatever the chunk: bit for bit
// where the CPU's GEMMs give a row the same bits whatever the row count
// (test/unit/GemmRows.h), to a few ulp otherwise (Zen 2: measured < 1e-6).
TEST(Steps, MicroBatchedReadsAreBitIdentical) {
  TinySetup a;
  const bool exact = hone::test::gemmRowsInvariant(*a.k);
  std::vector<float> entFull;
  auto full = computeLogprobs(*a.model, a.batch.view(), 0, 0.7, &entFull);
  ASSERT_TRUE(full.isOk());
  for (int64_t mb : {1, 2, 3, 5, 8, 64}) {
    std::vector<float> ent;
    auto lp = computeLogprobs(*a.model, a.batch.view(), mb, 0.7, &ent);
    ASSERT_TRUE(lp.isOk());
    ASSERT_EQ(lp->size(), full->size());
    ASSERT_EQ(ent.size(), entFull.size());
    EXPECT_TRUE(sameFloats(*lp, *full, exact, 1e-5)) << "micro-batch " << mb;
    EXPECT_TRUE(sameFloats(ent, entFull, exact, 1e-5)) << "micro-batch " << mb;
  }
  // hone.value: a scalar-head model.
  ModelConfig vc = tinyConfig(a.tok.vocabSize());
  vc.head = HeadKind::Scalar;
  auto critic = Transformer<float>::create(vc, a.k.get());
  ASSERT_TRUE(critic.isOk());
  auto c = critic.take();
  c->initRandom(5);
  auto vFull = computeValues(*c, a.batch.view(), 0);
  ASSERT_TRUE(vFull.isOk());
  for (int64_t mb : {1, 3, 8}) {
    auto v = computeValues(*c, a.batch.view(), mb);
    ASSERT_TRUE(v.isOk());
    ASSERT_EQ(v->size(), vFull->size());
    EXPECT_TRUE(sameFloats(*v, *vFull, exact, 1e-5)) << "micro-batch " << mb;
  }
}

// hone.logprob and hone.value packed by hone-pack-sequences run padding-free
// over each row's first lengths[b] tokens: there they equal the padded
// forward's results to float rounding, after them they are 0, whatever the
// micro-batch.
TEST(Steps, PackedReadsMatchPadded) {
  TinySetup a;
  const TokenBatch full = a.batch.view();
  const int64_t B = full.batch, T = full.seqLen;
  // Rows cut short of their padding, as a loss mask's last token does.
  std::vector<int32_t> len(full.lengths, full.lengths + B);
  for (int64_t b = 0; b < B; ++b)
    len[size_t(b)] = std::max<int32_t>(1, len[size_t(b)] - int32_t(b % 3));
  TokenBatch cut{B, T, full.tokens, len.data()};
  ASSERT_LT(std::accumulate(len.begin(), len.end(), int64_t(0)), B * T);
  auto expectPacked = [&](const std::vector<float> &padded,
                          const std::vector<float> &packed, double tol,
                          const std::string &what) {
    ASSERT_EQ(padded.size(), packed.size()) << what;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        size_t i = size_t(b * T + t);
        if (t < len[size_t(b)])
          EXPECT_NEAR(packed[i], padded[i], tol)
              << what << " row " << b << " position " << t;
        else
          EXPECT_EQ(packed[i], 0.f) << what << " row " << b << " position " << t;
      }
  };
  std::vector<float> entPadded;
  auto padded = computeLogprobs(*a.model, full, 0, 0.7, &entPadded);
  ASSERT_TRUE(padded.isOk());
  for (int64_t mb : {0, 3}) {
    std::vector<float> ent;
    auto lp = computeLogprobs(*a.model, cut, mb, 0.7, &ent, /*pack=*/true);
    ASSERT_TRUE(lp.isOk()) << lp.status().toString();
    expectPacked(*padded, *lp, 2e-5, "log-probs, micro-batch " + std::to_string(mb));
    expectPacked(entPadded, ent, 2e-5, "entropy, micro-batch " + std::to_string(mb));
  }
  ModelConfig vc = tinyConfig(a.tok.vocabSize());
  vc.head = HeadKind::Scalar;
  auto critic = Transformer<float>::create(vc, a.k.get());
  ASSERT_TRUE(critic.isOk());
  auto c = critic.take();
  c->initRandom(5);
  auto vPadded = computeValues(*c, full, 0);
  ASSERT_TRUE(vPadded.isOk());
  for (int64_t mb : {0, 5}) {
    auto v = computeValues(*c, cut, mb, /*pack=*/true);
    ASSERT_TRUE(v.isOk()) << v.status().toString();
    expectPacked(*vPadded, *v, 2e-5, "values, micro-batch " + std::to_string(mb));
  }
}

TEST(Steps, GenerateLogprobsMatchScoring) {
  TinySetup a;
  SamplingConfig sc;
  sc.maxNewTokens = 5;
  sc.seed = 9;
  sc.stopTokens = {1};
  std::vector<std::vector<int32_t>> prompts = {{5, 6, 7}, {5, 6, 7}, {8, 9}};
  auto ro = generateRollout(*a.model, a.tok, prompts, sc);
  ASSERT_TRUE(ro.isOk()) << ro.status().toString();
  std::vector<float> ent;
  auto lp = computeLogprobs(*a.model, ro->view(), 2, 1.0, &ent);
  ASSERT_TRUE(lp.isOk());
  for (size_t i = 0; i < lp->size(); ++i) {
    if (ro->mask[i] != 0) {
      EXPECT_NEAR((*lp)[i], ro->gen.logprobs[i], 1e-4);
    }
  }
  EXPECT_EQ(ro->completions.size(), 3u);
  EXPECT_FALSE(computeValues(*a.model, ro->view()).isOk()); // LM head
}

TEST(Driver, ParsesArguments) {
  const char *ok[] = {"job", "--device", "cpu", "--out=/tmp/x", "--resume",
                      "--steps-override", "sft=3", "--steps-override", "5"};
  auto a = parseJobArgs(9, ok);
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->device, "cpu");
  EXPECT_EQ(a->outDir, "/tmp/x");
  EXPECT_TRUE(a->resume);
  ASSERT_EQ(a->stepsOverride.size(), 2u);
  EXPECT_EQ(a->lanes, "auto");
  const char *lanes[] = {"job", "--lanes", "off"};
  a = parseJobArgs(3, lanes);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->lanes, "off");
  EXPECT_FALSE(a->trace); // off by default
  const char *badLanes[] = {"job", "--lanes=sometimes"};
  EXPECT_FALSE(parseJobArgs(2, badLanes).isOk());
  const char *trace[] = {"job", "--trace"};
  a = parseJobArgs(2, trace);
  ASSERT_TRUE(a.isOk());
  EXPECT_TRUE(a->trace);
  const char *badTrace[] = {"job", "--trace=yes"}; // a flag, no value
  EXPECT_FALSE(parseJobArgs(2, badTrace).isOk());
  const char *bad1[] = {"job", "--device", "tpu"};
  EXPECT_FALSE(parseJobArgs(3, bad1).isOk());
  const char *bad2[] = {"job", "--frobnicate"};
  EXPECT_FALSE(parseJobArgs(2, bad2).isOk());
  const char *bad3[] = {"job", "--out"};
  EXPECT_FALSE(parseJobArgs(2, bad3).isOk());
  const char *bad4[] = {"job", "--steps-override", "x=-1"};
  EXPECT_FALSE(parseJobArgs(3, bad4).isOk());
  // --threads 100000 segfaulted inside OpenMP; 2^32 wrapped to 0 (all cores)
  for (const char *n : {"100000", "4294967296", "1025"}) {
    const char *many[] = {"job", "--threads", n};
    auto r = parseJobArgs(3, many);
    ASSERT_FALSE(r.isOk()) << n;
    EXPECT_NE(r.status().message().find("more than 1024"), std::string::npos);
  }
  const char *most[] = {"job", "--threads", "1024"};
  EXPECT_TRUE(parseJobArgs(3, most).isOk());
}

/// Two jobs on one run directory: the second is refused with a one-line
/// error naming the holder's pid (it used to truncate the first's metrics
/// and delete its temporary checkpoint directories); the lock goes with the
/// first job, and --resume is refused too while it runs.
/// hardware.threads from a hand-written configuration gets the same bound
/// as --threads.
TEST(Driver, ThreadsAboveTheLimitAreRefused) {
  JobArgs a;
  a.outDir = tmpDir("threads");
  a.threads = 100000;
  auto j = Job::open(a, {});
  ASSERT_FALSE(j.isOk());
  EXPECT_NE(j.status().message().find("hardware.threads: 100000"),
            std::string::npos);
}

TEST(Driver, RunDirectoryIsLockedForTheJobsLife) {
  std::string dir = tmpDir("lock");
  JobArgs a;
  a.outDir = dir;
  a.progress = "off";
  {
    auto first = Job::open(a, {});
    ASSERT_TRUE(first.isOk()) << first.status().toString();
    auto second = Job::open(a, {});
    ASSERT_FALSE(second.isOk());
    std::string msg = second.status().message();
    EXPECT_EQ(msg.find('\n'), std::string::npos);
    EXPECT_NE(msg.find("in use by another job (pid " +
                       std::to_string(long(::getpid())) + ")"),
              std::string::npos)
        << msg;
    JobArgs r = a;
    r.resume = true;
    EXPECT_FALSE(Job::open(r, {}).isOk());
  }
  {
    auto later = Job::open(a, {});
    EXPECT_TRUE(later.isOk()) << later.status().toString();
  }
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
}

TEST(Driver, CudaWithoutBackendIsOneLineError) {
  if (haveCudaBackend())
    GTEST_SKIP() << "built with CUDA";
  JobArgs a;
  a.device = "cuda";
  a.outDir = tmpDir("cuda");
  auto j = Job::open(a, {});
  ASSERT_FALSE(j.isOk());
  EXPECT_EQ(j.status().message().find('\n'), std::string::npos);
  EXPECT_NE(j.status().message().find("CUDA"), std::string::npos);
}

TEST(Driver, CheckpointResumeRestoresEverything) {
  std::string dir = tmpDir("resume");
  std::string data;
  for (uint64_t i = 0; i < 20; ++i)
    data += json::serialize(toyRecord(toyExample({}, i), true)) + "\n";
  Tokenizer tok = toyTok();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  fmt.eosToken = 1;
  int64_t stageSteps = 6;
  auto run = [&](bool resume, int64_t steps,
                 std::vector<float> &weights) -> Status {
    JobArgs a;
    a.outDir = dir;
    a.resume = resume;
    a.progress = "off";
    JobConfig jc;
    jc.specText = "spec";
    jc.checkpointEvery = 2;
    auto job = Job::open(a, jc);
    if (!job)
      return job.status();
    auto m = Transformer<float>::create(tinyConfig(tok.vocabSize()),
                                        &(*job)->kernels());
    (*m)->initRandom(1);
    auto dl = DataLoader::fromJsonl("t.jsonl", data, 4);
    AdamWConfig oc;
    oc.lr = 1e-2;
    AdamW<float> opt(**m, oc);
    auto s0 = (*job)->beginStage(
        "sft", stageSteps,
        {{{"policy", &**m}}, {{"policy", &opt}}, {{"sft", &*dl}}});
    if (!s0)
      return s0.status();
    for (int64_t s = *s0; s < steps; ++s) {
      auto b = makeSftBatch(fmt, *dl, dl->take(4));
      auto loss = sftStep(**m, opt, *b);
      if (!loss)
        return loss.status();
      int64_t tokens = 0;
      for (int64_t r = 0; r < b->view().batch; ++r)
        tokens += b->view().lengths[r];
      HONE_TRY((*job)->endStep(s + 1, {{"loss", *loss}}, tokens));
    }
    weights.assign((*m)->paramData(), (*m)->paramData() + (*m)->numParams());
    return Status::ok();
  };
  std::vector<float> full, part, resumed;
  ASSERT_TRUE(run(false, 6, full).isOk());
  // a second fresh run into the same directory is refused
  auto again = run(false, 6, part);
  ASSERT_FALSE(again.isOk());
  EXPECT_NE(again.toString().find("--resume"), std::string::npos);
  std::string cmd = "rm -rf '" + dir + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_TRUE(run(false, 3, part).isOk()); // stops after step 3 (ckpt at 2)
  ASSERT_TRUE(run(true, 6, resumed).isOk());
  ASSERT_EQ(full.size(), resumed.size());
  for (size_t i = 0; i < full.size(); ++i)
    ASSERT_EQ(full[i], resumed[i]) << i;
  auto rows = observe::readMetricsJsonl(dir + "/metrics.jsonl");
  ASSERT_TRUE(rows.isOk());
  EXPECT_EQ(rows->size(), 6u);
  std::ifstream spec(dir + "/spec.resolved.textproto");
  std::string text((std::istreambuf_iterator<char>(spec)), {});
  EXPECT_EQ(text, "spec");
  // A checkpoint past the stage's end (the spec changed) is an error; the
  // stage used to end quietly with the later checkpoint's weights.
  stageSteps = 3;
  Status past = run(true, 3, part);
  ASSERT_FALSE(past.isOk());
  EXPECT_NE(
      past.message().find(
          "the checkpoint is at step 6 of stage 'sft', which has 3 steps"),
      std::string::npos)
      << past.toString();
}
