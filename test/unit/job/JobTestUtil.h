// What the tests of runtime/job share (test/unit/job/*Test.cpp): the
// headers under test and tiny fixtures (a character tokenizer over the toy
// task, a run directory, a one-layer GPT-2 configuration).
#pragma once

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

namespace hone::test {

using namespace hone::job;
using namespace hone::toydata;

inline Tokenizer toyTok() {
  auto t = Tokenizer::character(toyVocabulary(), toySpecialTokens());
  EXPECT_TRUE(t.isOk());
  return t.take();
}

/// A run directory that does not exist yet (the job makes it).
inline std::string tmpDir(const std::string &name) {
  return hone::test::makeTempDir("job-" + name) + "/run";
}

inline ModelConfig tinyConfig(int64_t vocab) {
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

} // namespace hone::test
