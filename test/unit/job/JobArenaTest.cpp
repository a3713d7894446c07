// The job's one arena (runtime/job/JobArena.h): a model's activations and
// KV cache go to the slot the op's placement names, at the plan's offset,
// with results bit-identical to the kernels' own allocation; a slot too
// small, or bytes another buffer holds now, is a counted miss (the model
// then allocates its own) that names the buffer; buffers whose lives do
// not overlap share bytes.
#include "runtime/job/JobArena.h"
#include "runtime/base/Json.h"
#include "runtime/job/MemoryCheck.h"
#include "runtime/model/MemorySizes.h"
#include "test/unit/model/ModelTestUtil.h"

#include <cstring>

using namespace hone;
using namespace hone::test;

namespace {

constexpr int64_t kB = 3, kT = 7;

std::vector<float> logprobsOf(Transformer<float> &m, const Batch &b) {
  Status st = m.forward(b.view());
  EXPECT_TRUE(st) << st.toString();
  return m.toHost(m.logprobs(), b.B * b.T);
}

std::unique_ptr<Transformer<float>> model(Kernels<float> *k) {
  auto m = Transformer<float>::create(tinyLlama(), k);
  EXPECT_TRUE(m);
  randomizeParams(**m, 3, 0.4);
  return m.take();
}

bool inside(const void *p, const char *lo, int64_t bytes) {
  auto *q = static_cast<const char *>(p);
  return q >= lo && q < lo + bytes;
}

TEST(JobArena, ActivationsAtThePlannedOffset) {
  auto k = makeCpuKernels<float>();
  Batch b = randomBatch(tinyLlama().vocabSize, {7, 5, 2}, kT, 5);
  auto own = model(k.get());
  std::vector<float> want = logprobsOf(*own, b);

  auto arena = std::make_shared<job::JobArena>();
  ASSERT_EQ(arena->create(int64_t(1) << 20), "");
  // NaN bytes where the activations go: placed buffers are not cleared,
  // and every one is written before it is read.
  std::memset(arena->base(), 0xff, size_t(1) << 20);
  const int64_t bytes = memsize::activationBytes(tinyLlama(), kB, kT, 4);
  const int64_t off = 4096;
  std::vector<int64_t> placements = {7, WorkPlacer::Activations, off, bytes};
  auto m = model(k.get());
  m->setPlacer(std::make_shared<job::ModelPlacer>(arena, 7, "m0"));
  {
    job::PlacementScope scope(&placements);
    EXPECT_EQ(logprobsOf(*m, b), want); // bit-identical
    EXPECT_TRUE(m->activationsPlaced());
    EXPECT_TRUE(inside(m->logprobs(), arena->base() + off, bytes));
    EXPECT_EQ(arena->heldBytes(), bytes);
    // Backward runs in the placed activations too.
    std::vector<float> d(size_t(kB * kT), 0.5f);
    OutputGrads<float> g;
    g.dlogprob = d.data();
    EXPECT_TRUE(m->backward(g));
  }
  EXPECT_EQ(arena->misses(), 0);
  EXPECT_EQ(arena->placements(), 1);
  m->releaseActivations();
  EXPECT_EQ(arena->heldBytes(), 0);
  // Without a placement for the op, the model allocates its own.
  EXPECT_EQ(logprobsOf(*m, b), want);
  EXPECT_FALSE(m->activationsPlaced());
  EXPECT_EQ(arena->misses(), 0);
}

TEST(JobArena, TooSmallASlotIsAMissNamingTheBuffer) {
  auto k = makeCpuKernels<float>();
  Batch b = randomBatch(tinyLlama().vocabSize, {7, 5, 2}, kT, 5);
  auto arena = std::make_shared<job::JobArena>();
  ASSERT_EQ(arena->create(int64_t(1) << 20), "");
  const int64_t bytes = memsize::activationBytes(tinyLlama(), kB, kT, 4);
  std::vector<int64_t> placements = {0, WorkPlacer::Activations, 0,
                                     bytes - 64};
  auto m = model(k.get());
  m->setPlacer(std::make_shared<job::ModelPlacer>(arena, 0, "m3"));
  job::PlacementScope scope(&placements);
  auto own = model(k.get());
  EXPECT_EQ(logprobsOf(*m, b), logprobsOf(*own, b));
  EXPECT_FALSE(m->activationsPlaced());
  EXPECT_EQ(arena->misses(), 1);
  EXPECT_NE(arena->firstMiss().find("m3 activations: needs " +
                                    std::to_string(bytes)),
            std::string::npos)
      << arena->firstMiss();
}

// Two models planned into the same bytes: fine one after the other (the
// second reuses the first's pages), a miss while the first still holds
// them.
TEST(JobArena, BuffersShareBytesOnlyWhenTheirLivesDoNotOverlap) {
  auto k = makeCpuKernels<float>();
  Batch b = randomBatch(tinyLlama().vocabSize, {7, 5, 2}, kT, 5);
  auto arena = std::make_shared<job::JobArena>();
  ASSERT_EQ(arena->create(int64_t(1) << 20), "");
  const int64_t bytes = memsize::activationBytes(tinyLlama(), kB, kT, 4);
  std::vector<int64_t> placements = {0, WorkPlacer::Activations, 0, bytes,
                                     1, WorkPlacer::Activations, 64, bytes};
  auto a = model(k.get()), c = model(k.get());
  a->setPlacer(std::make_shared<job::ModelPlacer>(arena, 0, "m0"));
  c->setPlacer(std::make_shared<job::ModelPlacer>(arena, 1, "m1"));
  auto own = model(k.get());
  std::vector<float> want = logprobsOf(*own, b);
  job::PlacementScope scope(&placements);
  EXPECT_EQ(logprobsOf(*a, b), want);
  EXPECT_EQ(logprobsOf(*c, b), want); // a still holds its activations
  EXPECT_TRUE(a->activationsPlaced());
  EXPECT_FALSE(c->activationsPlaced());
  EXPECT_EQ(arena->misses(), 1);
  EXPECT_NE(arena->firstMiss().find("m1 activations"), std::string::npos);
  a->releaseActivations();
  c->releaseActivations();
  EXPECT_EQ(logprobsOf(*c, b), want);
  EXPECT_TRUE(c->activationsPlaced());
  EXPECT_EQ(arena->misses(), 1);
}

TEST(JobArena, KvCacheAtThePlannedOffset) {
  auto k = makeCpuKernels<float>();
  const ModelConfig cfg = tinyLlama();
  auto arena = std::make_shared<job::JobArena>();
  ASSERT_EQ(arena->create(int64_t(1) << 20), "");
  const int64_t rows = 4, len = cfg.maxSeqLen;
  const int64_t bytes = memsize::kvCacheBytes(cfg, rows, len, 4);
  const int64_t off = 128;
  std::vector<int64_t> placements = {2, WorkPlacer::KvCache, off, bytes};
  auto m = model(k.get());
  m->setPlacer(std::make_shared<job::ModelPlacer>(arena, 2, "m2"));
  job::PlacementScope scope(&placements);
  auto c = m->reusableKvCache(rows, len);
  ASSERT_TRUE(c) << c.status().toString();
  EXPECT_TRUE(m->kvCachePlaced());
  EXPECT_EQ(m->kvCacheBytesHeld(), bytes);
  for (size_t l = 0; l < (*c)->k.size(); ++l) {
    EXPECT_TRUE(inside((*c)->k[l].data(), arena->base() + off, bytes));
    EXPECT_TRUE(inside((*c)->v[l].data() + (*c)->v[l].size() - 1,
                       arena->base() + off, bytes));
  }
  // The incremental forward over it matches an unplaced model's.
  auto own = model(k.get());
  auto oc = own->reusableKvCache(rows, len);
  ASSERT_TRUE(oc);
  std::vector<int32_t> tok = {1, 2, 3, 4}, start = {0, 0, 0, 0};
  auto h = m->forwardCached(**c, tok.data(), start.data(), rows, 1);
  auto oh = own->forwardCached(**oc, tok.data(), start.data(), rows, 1);
  ASSERT_TRUE(h && oh);
  EXPECT_EQ(m->toHost(*h, rows * cfg.dModel),
            own->toHost(*oh, rows * cfg.dModel));
  m->releaseWorkspaces();
  EXPECT_EQ(arena->heldBytes(), 0);
  EXPECT_EQ(arena->misses(), 0);
}

// generate()'s KV cache and decode workspace go with releaseDecodeState
// (hone.generate's release_decode), the kept activations stay.
TEST(JobArena, ReleaseDecodeStateFreesTheKvCacheLease) {
  auto k = makeCpuKernels<float>();
  const ModelConfig cfg = tinyLlama();
  auto arena = std::make_shared<job::JobArena>();
  ASSERT_EQ(arena->create(int64_t(1) << 20), "");
  const int64_t bytes = memsize::kvCacheBytes(cfg, 2, cfg.maxSeqLen, 4);
  std::vector<int64_t> placements = {0, WorkPlacer::KvCache, 0, bytes};
  auto m = model(k.get());
  m->setPlacer(std::make_shared<job::ModelPlacer>(arena, 0, "m0"));
  job::PlacementScope scope(&placements);
  Batch b = randomBatch(cfg.vocabSize, {7, 5, 2}, kT, 5);
  logprobsOf(*m, b); // activations from the kernels' allocator
  ASSERT_TRUE(m->reusableKvCache(2, cfg.maxSeqLen));
  EXPECT_EQ(arena->heldBytes(), bytes);
  m->releaseDecodeState();
  EXPECT_EQ(m->kvCacheBytesHeld(), 0);
  EXPECT_EQ(arena->heldBytes(), 0);
  EXPECT_GT(m->activationBytesHeld(), 0);
}

// A stage's placed buffers are populated when it begins: the bytes become
// resident (anonymous memory grows by them), a held lease keeps its
// contents, and ranges past the arena are ignored.
TEST(JobArena, PopulateMakesThePlannedBytesResident) {
  auto arena = std::make_shared<job::JobArena>();
  const int64_t size = int64_t(8) << 20;
  ASSERT_EQ(arena->create(size), "");
  bool fresh = true;
  auto held = arena->lease(0, 4096, 1, "held", &fresh);
  ASSERT_TRUE(held);
  std::memset(held.get(), 0x5a, 4096);
  const int64_t before = job::MemoryCheck::anonymousBytes();
  arena->populate(0, size);
  arena->populate(size - 4096, int64_t(1) << 30); // clipped to the arena
  arena->populate(size + 4096, 4096);             // outside: ignored
  const int64_t after = job::MemoryCheck::anonymousBytes();
  if (before > 0) // /proc/self/statm readable
    EXPECT_GE(after - before, size - 4096 - (int64_t(1) << 20));
  EXPECT_EQ(static_cast<unsigned char *>(held.get())[4095], 0x5a);
  EXPECT_EQ(arena->peakHeldBytes(), 4096);
}

// The plan's placed buffers live in a stage: between its point and end,
// `placed` only (an evaluation's buffers after the stage are not).
TEST(JobArena, PlacedBuffersOfAStage) {
  auto plan = json::parse(R"({"peak_bytes": 4096, "points": 20,
    "stages": [{"name": "a", "point": 2, "end": 8},
               {"name": "b", "point": 10, "end": 16}],
    "buffers": [
      {"name": "step_tensors", "kind": "step_tensors", "bytes": 64,
       "offset": 0, "first": 0, "last": 19, "placed": true},
      {"name": "m.weights", "kind": "weights", "bytes": 128, "offset": 64,
       "first": 1, "last": 19},
      {"name": "m.activations", "kind": "activations", "bytes": 256,
       "offset": 192, "first": 3, "last": 8, "placed": true},
      {"name": "m.kv_cache@17", "kind": "kv_cache", "bytes": 512,
       "offset": 192, "first": 17, "last": 17, "placed": true}]})");
  ASSERT_TRUE(plan) << plan.status().toString();
  job::MemoryCheck check;
  ASSERT_EQ(check.begin(&*plan), "");
  using R = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(check.placedInStage("a"), (R{{0, 64}, {192, 256}}));
  EXPECT_EQ(check.placedInStage("b"), (R{{0, 64}}));
  EXPECT_EQ(check.placedInStage("c"), R{});
  check.stop();
}

} // namespace
