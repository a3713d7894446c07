// safetensors interoperability with the Python `safetensors` package (when
// installed; skipped otherwise), and the Hugging Face tensor-name layouts.
#include "runtime/formats/HfTensorNames.h"
#include "runtime/formats/Safetensors.h"

#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace hone;

namespace {

const std::string &safetensorsPython() {
  static const std::string py = hone::test::oraclePython("safetensors.numpy, numpy");
  return py;
}
bool havePythonSafetensors() { return !safetensorsPython().empty(); }

TEST(HfInterop, ReadsFilesWrittenByPython) {
  if (!havePythonSafetensors())
    GTEST_SKIP() << "no Python with safetensors and numpy";
  std::string dir = hone::test::makeTempDir();
  hone::test::writeText(dir + "/w.py", R"PY(
import sys, numpy as np
from safetensors.numpy import save_file
t = {"w": np.arange(12, dtype=np.float32).reshape(3, 4) / 8,
     "h": np.array([1.5, -2.0, 65504.0], dtype=np.float16),
     "d": np.array([[1e-300]], dtype=np.float64),
     "i": np.array([-(2**40), 7], dtype=np.int64),
     "b": np.array([True, False]),
     "empty": np.zeros((0, 5), dtype=np.float32)}
save_file(t, sys.argv[1], metadata={"format": "np", "who": "python"})
)PY");
  std::string path = dir + "/py.safetensors";
  ASSERT_EQ(
      std::system((safetensorsPython() + " " + dir + "/w.py " + path).c_str()),
      0);
  Expected<SafetensorsFile> f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.isOk()) << f.status().message();
  EXPECT_EQ(f->metadata().at("who"), "python");
  std::vector<float> w = *f->readF32("w");
  ASSERT_EQ(w.size(), 12u);
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(w[i], i / 8.0f);
  EXPECT_EQ(f->find("w")->shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(*f->readF32("h"), (std::vector<float>{1.5f, -2.0f, 65504.0f}));
  EXPECT_EQ(f->find("h")->dtype, DType::F16);
  EXPECT_EQ(f->find("d")->dtype, DType::F64);
  EXPECT_EQ(f->find("i")->dtype, DType::I64);
  EXPECT_EQ(f->find("b")->dtype, DType::BOOL);
  EXPECT_EQ(*f->readF32("b"), (std::vector<float>{1.0f, 0.0f}));
  EXPECT_EQ(f->find("empty")->numel(), 0);
}

TEST(HfInterop, PythonReadsFilesWrittenByHone) {
  if (!havePythonSafetensors())
    GTEST_SKIP() << "no Python with safetensors and numpy";
  std::string dir = hone::test::makeTempDir();
  std::vector<float> w = {0.5f, -1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
  std::vector<uint16_t> h;
  for (float x : w)
    h.push_back(floatToF16(x));
  std::vector<int32_t> i = {1, -2, 3};
  std::vector<TensorWrite> ts = {{"w", DType::F32, {2, 3}, w.data(), 24},
                                 {"h", DType::F16, {6}, h.data(), 12},
                                 {"i", DType::I32, {3}, i.data(), 12}};
  // Sharded: 30-byte shards give three files and an index.
  ASSERT_TRUE(writeCheckpoint(dir, ts, 30, {{"format", "pt"}}).isOk());
  hone::test::writeText(dir + "/r.py", R"PY(
import json, sys, numpy as np
from safetensors.numpy import load_file
d = sys.argv[1]
index = json.load(open(d + "/model.safetensors.index.json"))
t = {}
for f in sorted(set(index["weight_map"].values())):
    t.update(load_file(d + "/" + f))
assert t["w"].dtype == np.float32 and t["w"].shape == (2, 3), t["w"]
assert t["w"].tolist() == [[0.5, -1.0, 2.0], [3.0, 4.0, 5.0]], t["w"]
assert t["h"].dtype == np.float16 and t["h"].tolist() == [0.5, -1, 2, 3, 4, 5]
assert t["i"].dtype == np.int32 and t["i"].tolist() == [1, -2, 3]
assert index["metadata"]["total_size"] == 48
print("python read ok")
)PY");
  EXPECT_EQ(
      std::system((safetensorsPython() + " " + dir + "/r.py " + dir).c_str()),
      0);
}

ModelConfig tiny(ModelFamily family, bool qkvBias, bool tied, HeadKind head) {
  ModelConfig c;
  c.family = family;
  c.vocabSize = 11;
  c.dModel = 8;
  c.nLayers = 2;
  c.nHeads = 2;
  c.nKvHeads = family == ModelFamily::GPT2 ? 2 : 1;
  c.dFf = 12;
  c.maxSeqLen = 16;
  c.qkvBias = qkvBias;
  c.tieEmbeddings = tied;
  c.head = head;
  return c;
}

TEST(HfInterop, TensorLayouts) {
  ModelConfig gpt2 = tiny(ModelFamily::GPT2, false, true, HeadKind::LM);
  std::vector<HfTensorSpec> g = hfTensorLayout(gpt2);
  EXPECT_EQ(g.size(), 2u + 12u * 2 + 2 + 1);
  EXPECT_EQ(g[4].name, "transformer.h.0.attn.c_attn.weight");
  EXPECT_EQ(g[4].shape, (std::vector<int64_t>{8, 24}));
  EXPECT_TRUE(g.back().optional); // tied lm_head
  ModelConfig qwen = tiny(ModelFamily::Llama, true, false, HeadKind::LM);
  std::vector<HfTensorSpec> q = hfTensorLayout(qwen);
  EXPECT_EQ(q.size(), 1u + 12u * 2 + 1 + 1);
  EXPECT_EQ(q[3].name, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(q[3].shape, (std::vector<int64_t>{4, 8})); // 1 kv head x 4
  EXPECT_FALSE(q.back().optional);
  ModelConfig rm = tiny(ModelFamily::Llama, false, true, HeadKind::Scalar);
  EXPECT_EQ(hfTensorLayout(rm).back().name, "score.weight");
  EXPECT_EQ(canonicalHfTensorName(gpt2, "h.0.ln_1.weight"),
            "transformer.h.0.ln_1.weight");
  EXPECT_EQ(canonicalHfTensorName(qwen, "model.norm.weight"),
            "model.norm.weight");
}

TEST(HfInterop, CheckpointLayoutCheck) {
  for (ModelConfig c :
       {tiny(ModelFamily::GPT2, false, true, HeadKind::LM),
        tiny(ModelFamily::Llama, true, false, HeadKind::LM),
        tiny(ModelFamily::Llama, false, true, HeadKind::Scalar)}) {
    std::string dir = hone::test::makeTempDir();
    std::vector<HfTensorSpec> layout = hfTensorLayout(c);
    std::vector<std::vector<float>> data;
    std::vector<TensorWrite> ts;
    for (const HfTensorSpec &s : layout) {
      int64_t n = 1;
      for (int64_t d : s.shape)
        n *= d;
      data.emplace_back(static_cast<size_t>(n), 0.5f);
    }
    for (size_t k = 0; k < layout.size(); ++k)
      ts.push_back({layout[k].name, DType::F32, layout[k].shape, data[k].data(),
                    data[k].size() * 4});
    ASSERT_TRUE(writeCheckpoint(dir, ts).isOk());
    Expected<Checkpoint> ck = Checkpoint::open(dir);
    ASSERT_TRUE(ck.isOk());
    EXPECT_TRUE(checkCheckpointLayout(*ck, c).isOk())
        << checkCheckpointLayout(*ck, c).message();

    // Missing tensor.
    std::vector<TensorWrite> missing(ts.begin() + 1, ts.end());
    ASSERT_TRUE(writeCheckpoint(dir, missing).isOk());
    Status s = checkCheckpointLayout(*Checkpoint::open(dir), c);
    EXPECT_NE(s.message().find("missing tensor '" + layout[0].name + "'"),
              std::string::npos)
        << s.message();
    // Wrong shape.
    std::vector<TensorWrite> bad = ts;
    bad[0].shape = {bad[0].shape[0] * bad[0].shape[1]}; // embeddings, 2-D
    ASSERT_TRUE(writeCheckpoint(dir, bad).isOk());
    s = checkCheckpointLayout(*Checkpoint::open(dir), c);
    EXPECT_NE(s.message().find("has shape"), std::string::npos) << s.message();
    // An extra tensor.
    std::vector<TensorWrite> extra = ts;
    extra.push_back({"something.else", DType::F32, {1}, data[0].data(), 4});
    ASSERT_TRUE(writeCheckpoint(dir, extra).isOk());
    s = checkCheckpointLayout(*Checkpoint::open(dir), c);
    EXPECT_NE(s.message().find("unexpected tensor 'something.else'"),
              std::string::npos);
  }
}

} // namespace
