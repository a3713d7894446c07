// Checkpoints: SHA-256 (FIPS 180-2 vectors), round trip, each kind of
// damage detected and skipped, rotation, and a crash test that SIGKILLs a
// writer at random points and checks that latestComplete always returns a
// checkpoint bit-identical to what was written for its step.
#include "runtime/checkpoint/CheckpointDir.h"
#include "runtime/checkpoint/Sha256.h"
#include "runtime/formats/AtomicFile.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <random>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "test/unit/TestDirs.h"

using namespace hone;
using namespace hone::checkpoint;

namespace {

std::string makeTempDir() { return test::makeTempDir("ckpt"); }
using test::listDir;

// Deterministic contents for a step; sizes vary with the step so that a
// stale file of another step cannot pass for this one.
struct StepData {
  std::vector<float> w, b, m, v;
  SaveRequest request(int64_t step) const {
    SaveRequest r;
    r.step = step;
    r.model = {{"w", DType::F32, {int64_t(w.size())}, w.data(), w.size() * 4},
               {"b", DType::F32, {int64_t(b.size())}, b.data(), b.size() * 4}};
    r.optimizer = {
        {"exp_avg.w", DType::F32, {int64_t(m.size())}, m.data(), m.size() * 4},
        {"exp_avg_sq.w", DType::F32, {int64_t(v.size())}, v.data(),
         v.size() * 4}};
    r.state = json::Value::object();
    r.state.set("data_cursor", json::Value(step * 32));
    r.state.set("rng_key", "0x" + std::to_string(step * 7919u) + "abc");
    r.config = json::Value::object();
    r.config.set("model_type", "llama");
    r.extraFiles = {{"spec.textproto", "steps: " + std::to_string(step)}};
    return r;
  }
};

StepData dataFor(int64_t step, size_t base = 20000) {
  StepData d;
  std::mt19937 rng(static_cast<uint32_t>(step * 2654435761u + 1));
  size_t n = base + static_cast<size_t>((step * 7919) % 20000);
  std::uniform_real_distribution<float> u(-1, 1);
  d.w.resize(n);
  d.m.resize(n);
  d.v.resize(n);
  d.b.resize(16);
  for (float &x : d.w)
    x = u(rng);
  for (float &x : d.b)
    x = u(rng);
  for (float &x : d.m)
    x = u(rng);
  for (float &x : d.v)
    x = u(rng) * u(rng);
  return d;
}

::testing::AssertionResult matches(const Loaded &l, int64_t step) {
  StepData d = dataFor(step);
  if (l.step != step)
    return ::testing::AssertionFailure() << "step " << l.step << " != " << step;
  auto same = [](const SafetensorsFile &f, const char *name,
                 const std::vector<float> &want) {
    const TensorInfo *t = f.find(name);
    return t && t->byteSize() == want.size() * 4 &&
           std::memcmp(f.data(*t), want.data(), want.size() * 4) == 0;
  };
  if (!same(l.model, "w", d.w) || !same(l.model, "b", d.b))
    return ::testing::AssertionFailure() << "model differs at step " << step;
  if (!l.optimizer || !same(*l.optimizer, "exp_avg.w", d.m) ||
      !same(*l.optimizer, "exp_avg_sq.w", d.v))
    return ::testing::AssertionFailure() << "optimizer differs";
  json::Value want = d.request(step).state;
  const json::Value *cursor = l.state.find("data_cursor");
  const json::Value *key = l.state.find("rng_key");
  if (!cursor || *cursor != *want.find("data_cursor") || !key ||
      *key != *want.find("rng_key"))
    return ::testing::AssertionFailure() << "state differs";
  Expected<std::string> spec = readFile(l.path + "/spec.textproto");
  if (!spec || *spec != "steps: " + std::to_string(step))
    return ::testing::AssertionFailure() << "extra file differs";
  return ::testing::AssertionSuccess();
}

void flipByte(const std::string &path, long offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x20));
}

} // namespace

TEST(Sha256, Fips180Vectors) {
  EXPECT_EQ(Sha256::hexOf("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::hexOf(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(
      Sha256::hexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in uneven pieces.
  Sha256 h;
  std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left > 0) {
    size_t n = std::min(left, chunk.size());
    h.update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(Sha256::hex(h.finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Lengths around the padding boundary agree between one-shot and split.
  for (size_t n = 50; n < 130; ++n) {
    std::string s(n, 'x');
    Sha256 a;
    a.update(s.substr(0, n / 3));
    a.update(s.substr(n / 3));
    EXPECT_EQ(Sha256::hex(a.finish()), Sha256::hexOf(s)) << n;
  }
}

// The SHA extensions' path (where this CPU has it) and the portable code
// give the same digests: FIPS vectors and pseudo-random data of lengths
// around block boundaries, fed whole and in pieces.
TEST(Sha256, ExtensionsMatchPortable) {
  std::string data(3 * 4096 + 77, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (char &c : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x >> 56);
  }
  auto digests = [&] {
    std::vector<std::string> out;
    for (size_t n : {size_t(0), size_t(1), size_t(55), size_t(56),
                     size_t(63), size_t(64), size_t(65), size_t(127),
                     size_t(128), size_t(1000), size_t(4096), data.size()}) {
      out.push_back(Sha256::hexOf(std::string_view(data).substr(0, n)));
      Sha256 h;
      for (size_t at = 0; at < n; at += 193)
        h.update(data.data() + at, std::min<size_t>(193, n - at));
      out.push_back(Sha256::hex(h.finish()));
    }
    out.push_back(Sha256::hexOf("abc"));
    return out;
  };
  std::vector<std::string> fast = digests();
  bool was = Sha256::setAccelerated(false);
  EXPECT_FALSE(Sha256::accelerated());
  std::vector<std::string> portable = digests();
  Sha256::setAccelerated(was);
  EXPECT_EQ(fast, portable) << (was ? "SHA extensions" : "portable only");
  EXPECT_EQ(portable.back(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Checkpoint, RoundTrip) {
  std::string run = makeTempDir() + "/run";
  StepData d = dataFor(7);
  Expected<std::string> p = save(run, d.request(7));
  ASSERT_TRUE(p.isOk()) << p.status().message();
  EXPECT_EQ(*p, run + "/checkpoint-7");
  EXPECT_EQ(listDir(*p),
            (std::vector<std::string>{"config.json", "manifest.json",
                                      "model.safetensors",
                                      "optimizer.safetensors", "spec.textproto",
                                      "state.json"}));
  EXPECT_EQ(listDir(run), std::vector<std::string>{"checkpoint-7"});
  EXPECT_TRUE(verify(*p).isOk());
  Expected<Loaded> l = load(*p);
  ASSERT_TRUE(l.isOk()) << l.status().message();
  EXPECT_TRUE(matches(*l, 7));
  EXPECT_EQ(l->model.metadata().at("format"), "pt");
  EXPECT_EQ(l->config.find("model_type")->asString(), "llama");
  // state.json starts with the step.
  EXPECT_EQ(readFile(*p + "/state.json")->rfind("{\n  \"step\": 7,", 0), 0u);
  // The manifest lists every other file with its size and hash.
  auto m = json::parse(readFile(*p + "/manifest.json").take());
  ASSERT_TRUE(m.isOk());
  EXPECT_EQ(m->find("files")->size(), 5u);
  for (const json::Value &f : m->find("files")->items()) {
    std::string path = *p + "/" + f.find("name")->asString();
    EXPECT_EQ(f.find("sha256")->asString(), digestFile(path)->sha256);
  }
  std::vector<std::string> skipped;
  auto latest = latestComplete(run, &skipped);
  ASSERT_TRUE(latest.isOk());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->step, 7);
  EXPECT_TRUE(skipped.empty());

  // Saving the same step again replaces it atomically.
  StepData d2 = dataFor(7);
  ASSERT_TRUE(save(run, d2.request(7)).isOk());
  EXPECT_EQ(listDir(run), std::vector<std::string>{"checkpoint-7"});
  EXPECT_TRUE(verify(run + "/checkpoint-7").isOk());

  // No run directory: nothing found, no error.
  auto none = latestComplete(run + "/nope");
  ASSERT_TRUE(none.isOk());
  EXPECT_FALSE(none->has_value());
}

// Each kind of damage to the newest checkpoint: detected, named in one line,
// and the previous complete checkpoint is used.
TEST(Checkpoint, DamageIsDetectedAndSkipped) {
  struct Case {
    const char *what;
    std::function<void(const std::string &)> damage;
    const char *expect;
  };
  std::vector<Case> cases = {
      {"corrupt byte",
       [](const std::string &dir) {
         flipByte(dir + "/model.safetensors", 5000);
       },
       "model.safetensors SHA-256 mismatch"},
      {"corrupt state",
       [](const std::string &dir) { flipByte(dir + "/state.json", 3); },
       "state.json SHA-256 mismatch"},
      {"truncated file",
       [](const std::string &dir) {
         ASSERT_EQ(::truncate((dir + "/optimizer.safetensors").c_str(), 100),
                   0);
       },
       "optimizer.safetensors has 100 bytes"},
      {"missing manifest",
       [](const std::string &dir) {
         ASSERT_EQ(::unlink((dir + "/manifest.json").c_str()), 0);
       },
       "missing manifest.json"},
      {"missing file",
       [](const std::string &dir) {
         ASSERT_EQ(::unlink((dir + "/model.safetensors").c_str()), 0);
       },
       "model.safetensors is missing"},
      {"file replaced by a FIFO",
       [](const std::string &dir) {
         std::string f = dir + "/state.json";
         ASSERT_EQ(::unlink(f.c_str()), 0);
         ASSERT_EQ(::mkfifo(f.c_str(), 0600), 0);
       },
       "state.json is not a regular file (a FIFO;"},
      {"file replaced by a directory",
       [](const std::string &dir) {
         std::string f = dir + "/model.safetensors";
         ASSERT_EQ(::unlink(f.c_str()), 0);
         ASSERT_EQ(::mkdir(f.c_str(), 0700), 0);
       },
       "model.safetensors is not a regular file (a directory;"},
      {"garbled manifest",
       [](const std::string &dir) {
         ASSERT_TRUE(writeFileAtomic(dir + "/manifest.json", "{\"format\":")
                         .isOk());
       },
       "manifest.json:1:"},
      {"manifest of another step",
       [](const std::string &dir) {
         std::string m = readFile(dir + "/manifest.json").take();
         size_t p = m.find("\"step\": 20");
         ASSERT_NE(p, std::string::npos);
         m.replace(p, 10, "\"step\": 21");
         ASSERT_TRUE(writeFileAtomic(dir + "/manifest.json", m).isOk());
       },
       "manifest is for step 21"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.what);
    std::string run = makeTempDir();
    ASSERT_TRUE(save(run, dataFor(10).request(10)).isOk());
    ASSERT_TRUE(save(run, dataFor(20).request(20)).isOk());
    c.damage(run + "/checkpoint-20");
    EXPECT_FALSE(verify(run + "/checkpoint-20").isOk());
    EXPECT_FALSE(load(run + "/checkpoint-20").isOk()); // never loaded
    std::vector<std::string> skipped;
    auto latest = latestComplete(run, &skipped);
    ASSERT_TRUE(latest.isOk());
    ASSERT_TRUE(latest->has_value());
    EXPECT_EQ((*latest)->step, 10);
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].rfind("skipping " + run + "/checkpoint-20: ", 0), 0u)
        << skipped[0];
    EXPECT_NE(skipped[0].find(c.expect), std::string::npos) << skipped[0];
    EXPECT_EQ(skipped[0].find('\n'), std::string::npos);
    Expected<Loaded> l = load((*latest)->path);
    ASSERT_TRUE(l.isOk());
    EXPECT_TRUE(matches(*l, 10));
  }
}

TEST(Checkpoint, LeftoverTempDirIsSkippedAndCleaned) {
  std::string run = makeTempDir();
  ASSERT_TRUE(save(run, dataFor(3).request(3)).isOk());
  // An interrupted save of step 4: a temp dir with some files, no rename.
  std::string tmp = run + "/.checkpoint-4.tmp-99999";
  ASSERT_EQ(::mkdir(tmp.c_str(), 0755), 0);
  ASSERT_TRUE(writeFileAtomic(tmp + "/model.safetensors", "partial").isOk());
  std::vector<std::string> skipped;
  auto latest = latestComplete(run, &skipped);
  ASSERT_TRUE(latest.isOk() && latest->has_value());
  EXPECT_EQ((*latest)->step, 3);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find(".checkpoint-4.tmp-99999: temporary directory of "
                            "an interrupted save"),
            std::string::npos)
      << skipped[0];
  // The next save removes it.
  ASSERT_TRUE(save(run, dataFor(5).request(5)).isOk());
  EXPECT_EQ(listDir(run),
            (std::vector<std::string>{"checkpoint-3", "checkpoint-5"}));
  // Bad requests fail cleanly and leave nothing behind.
  SaveRequest bad = dataFor(6).request(6);
  bad.extraFiles.push_back({"../escape", "x"});
  EXPECT_FALSE(save(run, bad).isOk());
  bad = dataFor(6).request(6);
  bad.extraFiles.push_back({"state.json", "x"});
  EXPECT_FALSE(save(run, bad).isOk());
  EXPECT_EQ(listDir(run),
            (std::vector<std::string>{"checkpoint-3", "checkpoint-5"}));
}

TEST(Checkpoint, RotationKeepsNewestComplete) {
  std::string run = makeTempDir();
  for (int s : {1, 2, 3, 4, 5})
    ASSERT_TRUE(save(run, dataFor(s, 100).request(s)).isOk());
  std::vector<std::string> removed;
  ASSERT_TRUE(rotate(run, 2, 5, &removed).isOk());
  EXPECT_EQ(removed, (std::vector<std::string>{"checkpoint-3", "checkpoint-2",
                                               "checkpoint-1"}));
  EXPECT_EQ(listDir(run),
            (std::vector<std::string>{"checkpoint-4", "checkpoint-5"}));
  // A newer but corrupt checkpoint: the newest complete one (5) is kept
  // even with keepLast = 1, and the corrupt one is left for inspection.
  ASSERT_TRUE(save(run, dataFor(6, 100).request(6)).isOk());
  flipByte(run + "/checkpoint-6/model.safetensors", 200);
  removed.clear();
  ASSERT_TRUE(rotate(run, 1, &removed).isOk());
  EXPECT_EQ(removed, std::vector<std::string>{"checkpoint-4"});
  EXPECT_EQ(listDir(run),
            (std::vector<std::string>{"checkpoint-5", "checkpoint-6"}));
  auto latest = latestComplete(run);
  ASSERT_TRUE(latest.isOk() && latest->has_value());
  EXPECT_EQ((*latest)->step, 5);
  // keepLast 0 is treated as 1.
  ASSERT_TRUE(rotate(run, 0, 5).isOk());
  EXPECT_TRUE(verify(run + "/checkpoint-5").isOk());
}

// A child writes checkpoints in a loop (keep-last-3 rotation) and is
// SIGKILLed at random points, many of them mid-write. After every kill the
// newest complete checkpoint must be bit-identical to what was written for
// its step, and progress never goes backwards.
TEST(Checkpoint, SigkillCrashTest) {
  std::string run = makeTempDir();
  std::mt19937 rng(12345);
  int64_t lastGood = 0;
  int kills = 0, sawLeftover = 0, sawAdvance = 0;
  for (int iter = 0; iter < 24; ++iter) {
    int64_t start = lastGood + 1;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int64_t s = start; s < start + 100000; ++s) {
        if (!save(run, dataFor(s).request(s)).isOk())
          ::_exit(3);
        if (!rotate(run, 3, s).isOk())
          ::_exit(4);
      }
      ::_exit(0);
    }
    int delayUs = 1000 + static_cast<int>(rng() % 200000);
    std::this_thread::sleep_for(std::chrono::microseconds(delayUs));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
    ++kills;

    for (const std::string &n : listDir(run))
      if (n.find(".tmp-") != std::string::npos) {
        ++sawLeftover;
        break;
      }
    std::vector<std::string> skipped;
    auto latest = latestComplete(run, &skipped);
    ASSERT_TRUE(latest.isOk()) << latest.status().message();
    if (!latest->has_value()) {
      ASSERT_EQ(lastGood, 0) << "a complete checkpoint disappeared";
      continue;
    }
    int64_t step = (*latest)->step;
    ASSERT_GE(step, lastGood) << "progress went backwards";
    if (step > lastGood)
      ++sawAdvance;
    Expected<Loaded> l = load((*latest)->path);
    ASSERT_TRUE(l.isOk()) << l.status().message();
    ASSERT_TRUE(matches(*l, step)) << "iteration " << iter;
    lastGood = step;
  }
  EXPECT_GE(kills, 20);
  EXPECT_GT(sawAdvance, 5);
  // Kills landed inside a save (a temporary directory was left) at least
  // once; with fsync per file most saves take milliseconds.
  EXPECT_GT(sawLeftover, 0);
  RecordProperty("kills", kills);
  RecordProperty("mid_write_kills", sawLeftover);
  RecordProperty("last_step", static_cast<int>(lastGood));
  std::printf("crash test: %d kills, %d left a temporary directory, "
              "reached step %lld\n",
              kills, sawLeftover, static_cast<long long>(lastGood));
}
