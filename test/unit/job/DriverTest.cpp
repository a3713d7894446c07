// Unit tests of runtime/job/Driver: argument parsing, the run directory's
// lock, one-line errors, checkpoint and resume.
#include "test/unit/job/JobTestUtil.h"

using namespace hone;
using namespace hone::job;
using namespace hone::test;
using namespace hone::toydata;

namespace {

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
