// Unit tests of runtime/job/Rewards: verifiers and their options,
// overlong shaping, external scoring processes (workers, timeouts).
#include "test/unit/job/JobTestUtil.h"

using namespace hone;
using namespace hone::job;
using namespace hone::test;
using namespace hone::toydata;

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
