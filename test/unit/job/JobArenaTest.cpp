// The job's one arena (runtime/job/JobArena.h): a model's activations, KV
// cache, weights, gradients and optimiser moments go to the slot the op's
// placement names, at the plan's offset,
// with results bit-identical to the kernels' own allocation; a slot too
// small, or bytes another buffer holds now, is a counted miss (the model
// then allocates its own) that names the buffer; buffers whose lives do
// not overlap share bytes.
#include "runtime/job/JobArena.h"
#include "runtime/base/Json.h"
#include "runtime/job/MemoryCheck.h"
#include "runtime/model/Generate.h"
#include "runtime/model/MemorySizes.h"
#include "runtime/model/Optimizer.h"
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
  // The backward's gradients have their slot too (a planned model's state
  // without one is a miss: StateOutsideThePlanIsAMiss).
  const int64_t gOff = off + (bytes + 63) / 64 * 64;
  const int64_t gBytes = memsize::parameterBytes(tinyLlama(), 4);
  std::vector<int64_t> placements = {7, WorkPlacer::Activations, off, bytes,
                                     7, WorkPlacer::Gradients, gOff, gBytes};
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
  EXPECT_EQ(arena->misses(), 0) << arena->firstMiss();
  EXPECT_EQ(arena->placements(), 2);
  EXPECT_TRUE(m->gradientsPlaced());
  m->releaseActivations();
  m->releaseGradients();
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

// A model's state at the plan's offsets: weights (fp32, bf16 storage, LoRA
// adapters), gradients and AdamW moments in their slots (sized by
// memsize, as hone-plan-memory sizes them), on bytes that held other
// values, with a training step bit-identical to the kernels' allocation.
TEST(JobArena, ModelStateAtThePlannedOffsets) {
  auto k = makeCpuKernels<float>();
  const ModelConfig cfg = tinyLlama();
  Batch b = randomBatch(cfg.vocabSize, {7, 5, 2}, kT, 5);
  const int64_t arenaBytes = int64_t(8) << 20;
  auto arena = std::make_shared<job::JobArena>();
  ASSERT_EQ(arena->create(arenaBytes), "");
  std::memset(arena->base(), 0xff, size_t(arenaBytes)); // NaN bytes
  const int64_t wb = memsize::parameterBytes(cfg, 4);
  const int64_t ob = memsize::optimizerBytes(cfg, 4);
  const int64_t wOff = 0, gOff = wb, mOff = 2 * wb;
  std::vector<int64_t> create = {4, WorkPlacer::Weights, wOff, wb};
  std::vector<int64_t> train = {4, WorkPlacer::Gradients, gOff, wb,
                                4, WorkPlacer::Moments, mOff, ob};
  auto step = [&](Transformer<float> &m, AdamW<float> &opt) {
    EXPECT_TRUE(m.forward(b.view()));
    std::vector<float> d(size_t(kB * kT), 0.5f);
    OutputGrads<float> g;
    g.dlogprob = d.data();
    EXPECT_TRUE(m.backward(g));
    EXPECT_TRUE(opt.step());
  };
  AdamWConfig oc;
  oc.lr = 1e-2;
  oc.weightDecay = 0.1;
  auto own = model(k.get());
  AdamW<float> ownOpt(*own, oc);
  step(*own, ownOpt);

  std::unique_ptr<Transformer<float>> m;
  {
    job::PlacementScope scope(&create);
    auto made = Transformer<float>::create(
        cfg, k.get(), std::make_shared<job::ModelPlacer>(arena, 4, "m4"));
    ASSERT_TRUE(made) << made.status().toString();
    m = made.take();
  }
  randomizeParams(*m, 3, 0.4);
  EXPECT_TRUE(m->weightsPlaced());
  EXPECT_EQ(static_cast<void *>(m->paramData()), arena->base() + wOff);
  {
    job::PlacementScope scope(&train);
    AdamW<float> opt(*m, oc);
    EXPECT_TRUE(opt.momentsPlaced());
    EXPECT_EQ(static_cast<void *>(opt.firstMoment()), arena->base() + mOff);
    EXPECT_TRUE(inside(opt.secondMoment() + m->numTrainable() - 1,
                       arena->base() + mOff, ob));
    step(*m, opt);
    EXPECT_TRUE(m->gradientsPlaced());
    EXPECT_EQ(static_cast<void *>(m->gradData()), arena->base() + gOff);
    // Bit-identical to the kernels' (zeroed) allocations.
    EXPECT_EQ(m->toHost(m->paramData(), m->numParams()),
              own->toHost(own->paramData(), own->numParams()));
    EXPECT_EQ(m->toHost(m->gradData(), m->numParams()),
              own->toHost(own->gradData(), own->numParams()));
    EXPECT_EQ(m->toHost(opt.secondMoment(), m->numParams()),
              own->toHost(ownOpt.secondMoment(), own->numParams()));
  }
  EXPECT_EQ(arena->misses(), 0) << arena->firstMiss();
  // The moments went with their optimiser; the gradients go at the stage's
  // end, the weights with the model.
  EXPECT_EQ(arena->heldBytes(), 2 * wb);
  m->releaseGradients();
  EXPECT_EQ(arena->heldBytes(), wb);

  // LoRA adapters over m's weights (a view), and their gradients.
  memsize::LoraShape shape;
  shape.rank = 4;
  shape.targets = {"q_proj", "v_proj"};
  LoraConfig lc;
  lc.rank = 4;
  lc.alpha = 8;
  lc.targets = shape.targets;
  const int64_t gb = memsize::loraOptimizerBytes(cfg, shape, 4) / 2;
  const int64_t ab = memsize::loraBytes(cfg, shape, 4) - gb;
  std::vector<int64_t> lora = {6, WorkPlacer::Weights, wb, ab,
                               6, WorkPlacer::Gradients, wb + ab, gb};
  auto ownView = own->baseView();
  ASSERT_TRUE(ownView);
  ASSERT_TRUE((*ownView)->addLora(lc, 9));
  auto view = m->baseView();
  ASSERT_TRUE(view);
  (*view)->setPlacer(std::make_shared<job::ModelPlacer>(arena, 6, "m6"));
  {
    job::PlacementScope scope(&lora);
    ASSERT_TRUE((*view)->addLora(lc, 9));
  }
  EXPECT_TRUE((*view)->weightsPlaced() && (*view)->gradientsPlaced());
  EXPECT_EQ(static_cast<void *>((*view)->loraData()), arena->base() + wb);
  EXPECT_EQ(logprobsOf(**view, b), logprobsOf(**ownView, b));
  EXPECT_EQ((*view)->toHost((*view)->loraData(), (*view)->numTrainable()),
            (*ownView)->toHost((*ownView)->loraData(),
                               (*ownView)->numTrainable()));
  EXPECT_EQ(arena->misses(), 0) << arena->firstMiss();
  view->reset();
  EXPECT_EQ(arena->heldBytes(), wb);

  // A frozen model in bf16 storage, in the frozenBf16Bytes slot.
  const int64_t hb = memsize::frozenBf16Bytes(cfg);
  std::vector<int64_t> frozen = {8, WorkPlacer::Weights, wb, hb};
  auto ownBf16 = Transformer<float>::createFrozenBf16(cfg, k.get());
  ASSERT_TRUE(ownBf16);
  (*ownBf16)->initRandom(11);
  std::unique_ptr<Transformer<float>> f;
  {
    job::PlacementScope scope(&frozen);
    auto made = Transformer<float>::createFrozenBf16(
        cfg, k.get(), std::make_shared<job::ModelPlacer>(arena, 8, "m8"));
    ASSERT_TRUE(made);
    f = made.take();
  }
  f->initRandom(11);
  EXPECT_TRUE(f->weightsPlaced());
  EXPECT_EQ(f->weightBytesHeld(), hb);
  EXPECT_EQ(logprobsOf(*f, b), logprobsOf(**ownBf16, b));
  EXPECT_EQ(arena->misses(), 0) << arena->firstMiss();
}

// A planned model's state with no slot at the op that allocates it, or a
// slot too small, leaves the plan: a counted miss naming it (the model
// then allocates its own, and the job fails at its end).
TEST(JobArena, StateOutsideThePlanIsAMiss) {
  auto k = makeCpuKernels<float>();
  const ModelConfig cfg = tinyLlama();
  auto arena = std::make_shared<job::JobArena>();
  ASSERT_EQ(arena->create(int64_t(1) << 20), "");
  const int64_t wb = memsize::parameterBytes(cfg, 4);
  std::vector<int64_t> small = {1, WorkPlacer::Weights, 0, wb - 64};
  {
    job::PlacementScope scope(&small);
    auto m = Transformer<float>::create(
        cfg, k.get(), std::make_shared<job::ModelPlacer>(arena, 1, "m1"));
    ASSERT_TRUE(m);
    EXPECT_FALSE((*m)->weightsPlaced());
  }
  EXPECT_EQ(arena->misses(), 1);
  EXPECT_NE(arena->firstMiss().find("m1 weights: needs " + std::to_string(wb)),
            std::string::npos)
      << arena->firstMiss();
  // No slot for its gradients at the op running its backward.
  std::vector<int64_t> weights = {2, WorkPlacer::Weights, 0, wb};
  std::unique_ptr<Transformer<float>> m;
  {
    job::PlacementScope scope(&weights);
    auto made = Transformer<float>::create(
        cfg, k.get(), std::make_shared<job::ModelPlacer>(arena, 2, "m2"));
    ASSERT_TRUE(made);
    m = made.take();
    m->zeroGrad();
  }
  EXPECT_TRUE(m->weightsPlaced());
  EXPECT_FALSE(m->gradientsPlaced());
  EXPECT_EQ(arena->misses(), 2);
}

// Generation's last hidden rows and logits in the op's Logits slot
// (memsize::generateTransientBytes for the call's rows), with the KV cache
// and decode workspace in theirs: tokens and log-probs identical to an
// unplaced model's, on bytes that held NaNs; the slot is free again after.
TEST(JobArena, GenerationLogitsAtThePlannedOffset) {
  auto k = makeCpuKernels<float>();
  const ModelConfig cfg = tinyLlama();
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {4, 5}};
  SamplingConfig sc;
  sc.samplesPerPrompt = 2;
  sc.maxNewTokens = 4;
  sc.seed = 7;
  const int64_t rows = 4, len = 3 + 4;
  auto own = model(k.get());
  auto want = generate(*own, prompts, sc);
  ASSERT_TRUE(want) << want.status().toString();

  const int64_t arenaBytes = int64_t(4) << 20;
  auto arena = std::make_shared<job::JobArena>();
  ASSERT_EQ(arena->create(arenaBytes), "");
  std::memset(arena->base(), 0xff, size_t(arenaBytes));
  memsize::LoraShape none;
  const int64_t kv = memsize::kvCacheBytes(cfg, rows, len, 4);
  const int64_t ws =
      memsize::decodeWorkspaceBytes(cfg, 2, 3, rows, 4, &none);
  const int64_t lg = memsize::generateTransientBytes(cfg, rows, 4);
  const int64_t lOff = (kv + ws + 127) / 64 * 64;
  std::vector<int64_t> placements = {3, WorkPlacer::KvCache,   0,    kv,
                                     3, WorkPlacer::Workspace, (kv + 63) / 64 * 64, ws,
                                     3, WorkPlacer::Logits,    lOff, lg};
  auto m = model(k.get());
  m->setPlacer(std::make_shared<job::ModelPlacer>(arena, 3, "m3"));
  job::PlacementScope scope(&placements);
  auto got = generate(*m, prompts, sc);
  ASSERT_TRUE(got) << got.status().toString();
  EXPECT_EQ(got->tokens, want->tokens);
  EXPECT_EQ(got->logprobs, want->logprobs);
  EXPECT_EQ(arena->misses(), 0) << arena->firstMiss();
  // The KV cache, the workspace (prefill, then decode) and the logits.
  EXPECT_GE(arena->placements(), 3);
  // The logits went with the call; the KV cache and workspace stay.
  m->releaseWorkspaces();
  EXPECT_EQ(arena->heldBytes(), 0);
  // A slot for one row is a miss naming the logits.
  placements.back() = memsize::generateTransientBytes(cfg, 1, 4);
  auto again = generate(*m, prompts, sc);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->tokens, want->tokens);
  EXPECT_EQ(arena->misses(), 1);
  EXPECT_NE(arena->firstMiss().find("m3 logits: needs"), std::string::npos)
      << arena->firstMiss();
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
  if (before > 0) { // /proc/self/statm readable
    EXPECT_GE(after - before, size - 4096 - (int64_t(1) << 20));
  }
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
