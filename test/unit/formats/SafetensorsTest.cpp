#include "runtime/formats/Safetensors.h"

#include "runtime/formats/AtomicFile.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <dirent.h>

using namespace hone;
using hone::test::makeTempDir;

namespace {

/// A safetensors file from a raw header string and data size.
std::string rawFile(const std::string &header, size_t dataBytes,
                    uint64_t sizeField = UINT64_MAX) {
  std::string out;
  uint64_t n = sizeField == UINT64_MAX ? header.size() : sizeField;
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((n >> (8 * i)) & 0xFF);
  out += header;
  out.append(dataBytes, '\x01');
  return out;
}

std::string parseError(const std::string &bytes) {
  Expected<SafetensorsFile> f = SafetensorsFile::fromBuffer(
      "t.safetensors", reinterpret_cast<const uint8_t *>(bytes.data()),
      bytes.size());
  EXPECT_FALSE(f.isOk());
  return f ? std::string() : f.status().message();
}

#define EXPECT_ERROR(bytes, substr)                                            \
  do {                                                                         \
    std::string _m = parseError(bytes);                                        \
    EXPECT_NE(_m.find(substr), std::string::npos) << _m;                       \
  } while (0)

TEST(Safetensors, HostileFiles) {
  EXPECT_ERROR(std::string("abc"), "t.safetensors:@0: error: file is 3 bytes");
  EXPECT_ERROR(rawFile("{}", 0, uint64_t(1) << 40), "larger than the 100 MiB");
  EXPECT_ERROR(rawFile("{}", 0, 1000), "runs past the end of the file");
  EXPECT_ERROR(rawFile("[]", 0), "does not start with '{'");
  EXPECT_ERROR(rawFile("{\"a\":", 0), "t.safetensors:1:6: error: expected a "
                                      "JSON value, found end of input (byte "
                                      "13) in the JSON header");
  EXPECT_ERROR(rawFile("{\"a\": 1}", 0), "tensor 'a' is a number");
  EXPECT_ERROR(rawFile(R"({"a":{"dtype":"F32","shape":[1]}})", 4),
               "lacks data_offsets");
  EXPECT_ERROR(
      rawFile(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", 4),
      "unknown dtype 'Q4'");
  EXPECT_ERROR(
      rawFile(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
      "non-negative integers");
  EXPECT_ERROR(
      rawFile(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
      "non-negative integers");
  EXPECT_ERROR(rawFile(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,
                       4],"data_offsets":[0,4]}})",
                       4),
               "overflow");
  // dtype x shape != byte length.
  EXPECT_ERROR(
      rawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
      "F32 shape holds 2 elements (8 bytes) but data_offsets span 4 bytes");
  EXPECT_ERROR(
      rawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
      "is before begin");
  EXPECT_ERROR(
      rawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 4),
      "data_offsets must be [begin, end]");
  // Past the end of the file.
  EXPECT_ERROR(
      rawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
      "past the end of the data (4 bytes)");
  // Overlapping tensors.
  EXPECT_ERROR(rawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                          "b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       8),
               "overlaps the previous tensor");
  // A gap between tensors.
  EXPECT_ERROR(rawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                          "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                       12),
               "gap after the previous tensor");
  // Trailing bytes that no tensor covers.
  EXPECT_ERROR(
      rawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 9),
      "5 bytes not covered by any tensor");
  // Duplicate names.
  EXPECT_ERROR(rawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                          "a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       8),
               "duplicate key \"a\"");
  // Metadata must be a string map.
  EXPECT_ERROR(rawFile(R"({"__metadata__":{"n":1}})", 0),
               "__metadata__ value 'n' is a number");
  EXPECT_ERROR(rawFile(R"({"__metadata__":[]})", 0),
               "__metadata__ must be an object");
  EXPECT_ERROR(rawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],
                          "extra":1}})",
                       4),
               "unknown field 'extra'");
}

TEST(Safetensors, EmptyAndZeroSizedTensorsAreValid) {
  std::string f = rawFile("{}", 0);
  EXPECT_TRUE(SafetensorsFile::fromBuffer(
                  "x", reinterpret_cast<const uint8_t *>(f.data()), f.size())
                  .isOk());
  std::string g =
      rawFile(R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})", 0);
  Expected<SafetensorsFile> sf = SafetensorsFile::fromBuffer(
      "x", reinterpret_cast<const uint8_t *>(g.data()), g.size());
  ASSERT_TRUE(sf.isOk()) << sf.status().message();
  EXPECT_EQ(sf->find("z")->numel(), 0);
}

TEST(Safetensors, RoundTripAllDtypes) {
  std::string dir = makeTempDir();
  std::vector<float> f32 = {1.0f, -2.5f, 3.25f, 0.0f, 0.125f, 256.0f};
  std::vector<double> f64 = {1.0, -1e300, 0.5};
  std::vector<int64_t> i64 = {-1, 0, INT64_MAX};
  std::vector<int32_t> i32 = {7, -7};
  std::vector<uint16_t> bf16, f16;
  for (float v : f32) {
    bf16.push_back(floatToBf16(v));
    f16.push_back(floatToF16(v));
  }
  std::vector<uint8_t> u8 = {0, 255, 3};
  std::vector<TensorWrite> ts = {
      {"f32", DType::F32, {2, 3}, f32.data(), f32.size() * 4},
      {"f64", DType::F64, {3}, f64.data(), f64.size() * 8},
      {"i64", DType::I64, {3}, i64.data(), i64.size() * 8},
      {"i32", DType::I32, {1, 2}, i32.data(), i32.size() * 4},
      {"bf16", DType::BF16, {6}, bf16.data(), bf16.size() * 2},
      {"f16", DType::F16, {6}, f16.data(), f16.size() * 2},
      {"u8", DType::U8, {3}, u8.data(), 3},
      {"scalar", DType::F32, {}, f32.data(), 4},
  };
  std::string path = dir + "/m.safetensors";
  ASSERT_TRUE(writeSafetensors(path, ts, {{"format", "pt"}}).isOk());
  Expected<SafetensorsFile> f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.isOk()) << f.status().message();
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->headerSize() % 8, 0u);
  ASSERT_EQ(f->tensors().size(), ts.size());
  for (const TensorWrite &w : ts) {
    const TensorInfo *t = f->find(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->dtype, w.dtype);
    EXPECT_EQ(t->shape, w.shape);
    ASSERT_EQ(t->byteSize(), w.byteSize);
    EXPECT_EQ(std::memcmp(f->data(*t), w.data, w.byteSize), 0) << w.name;
  }
  EXPECT_EQ(*f->readF32("f32"), f32);
  EXPECT_EQ(*f->readF32("bf16"), f32); // all exactly representable in bf16
  EXPECT_EQ(*f->readF32("f16"), f32);
  EXPECT_EQ((*f->readF32("i32"))[1], -7.0f);
  EXPECT_EQ((*f->readF32("u8"))[1], 255.0f);
  EXPECT_EQ((*f->readF32("f64"))[2], 0.5f);
  EXPECT_EQ(f->find("scalar")->numel(), 1);
  EXPECT_FALSE(f->readF32("nope").isOk());
  // Byte-identical re-serialization.
  Expected<std::string> again = serializeSafetensors(ts, {{"format", "pt"}});
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(*again, hone::test::readText(path));
}

TEST(Safetensors, WriterRejectsBadInput) {
  float x[2] = {1, 2};
  EXPECT_FALSE(serializeSafetensors({{"a", DType::F32, {3}, x, 8}}).isOk());
  EXPECT_FALSE(serializeSafetensors(
                   {{"a", DType::F32, {2}, x, 8}, {"a", DType::F32, {2}, x, 8}})
                   .isOk());
  EXPECT_FALSE(
      serializeSafetensors({{"__metadata__", DType::F32, {2}, x, 8}}).isOk());
  EXPECT_FALSE(
      serializeSafetensors({{"a", DType::F32, {2}, nullptr, 8}}).isOk());
}

TEST(Safetensors, HalfConversions) {
  EXPECT_EQ(f16ToFloat(0x3C00), 1.0f);
  EXPECT_EQ(f16ToFloat(0xC000), -2.0f);
  EXPECT_EQ(f16ToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(f16ToFloat(0x0001), std::ldexp(1.0f, -24)); // smallest subnormal
  EXPECT_TRUE(std::isinf(f16ToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(f16ToFloat(0x7E00)));
  EXPECT_EQ(bf16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(bf16ToFloat(0xC2F7), -123.5f);
  // Every half round-trips through float exactly.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = f16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f))
      continue;
    ASSERT_EQ(floatToF16(f), h) << h;
  }
  for (uint32_t b = 0; b < 0x10000; b += 7) {
    float f = bf16ToFloat(static_cast<uint16_t>(b));
    if (std::isnan(f))
      continue;
    ASSERT_EQ(floatToBf16(f), b) << b;
  }
  // Round to nearest even.
  EXPECT_EQ(floatToBf16(bf16ToFloat(0x3F80) + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(floatToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(floatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(floatToF16(70000.0f), 0x7C00);
  EXPECT_EQ(fp8e4m3ToFloat(0x38), 1.0f);
  EXPECT_EQ(fp8e4m3ToFloat(0x7E), 448.0f);
  EXPECT_TRUE(std::isnan(fp8e4m3ToFloat(0x7F)));
  EXPECT_EQ(fp8e5m2ToFloat(0x3C), 1.0f);
}

size_t countFiles(const std::string &dir) {
  size_t n = 0;
  DIR *d = opendir(dir.c_str());
  while (dirent *e = readdir(d))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

TEST(Safetensors, ShardedCheckpointRoundTrip) {
  std::string dir = makeTempDir();
  std::vector<std::vector<float>> data;
  std::vector<TensorWrite> ts;
  for (int i = 0; i < 5; ++i) {
    data.emplace_back(100, static_cast<float>(i));
  }
  for (int i = 0; i < 5; ++i)
    ts.push_back({"layer." + std::to_string(i) + ".w",
                  DType::F32,
                  {10, 10},
                  data[i].data(),
                  400});
  // 1000-byte shards hold two tensors each: 3 shards.
  ASSERT_TRUE(writeCheckpoint(dir, ts, 1000, {{"format", "pt"}}).isOk());
  EXPECT_EQ(countFiles(dir), 4u); // 3 shards + index, no temp files left
  std::string index =
      hone::test::readText(dir + "/model.safetensors.index.json");
  EXPECT_NE(index.find("\"total_size\": 2000"), std::string::npos) << index;
  EXPECT_NE(index.find("model-00003-of-00003.safetensors"), std::string::npos);
  Expected<Checkpoint> ck = Checkpoint::open(dir);
  ASSERT_TRUE(ck.isOk()) << ck.status().message();
  EXPECT_EQ(ck->shards().size(), 3u);
  EXPECT_EQ(ck->size(), 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(*ck->readF32("layer." + std::to_string(i) + ".w"), data[i]);
  // Opening the index file directly works too.
  EXPECT_TRUE(Checkpoint::open(dir + "/model.safetensors.index.json").isOk());

  // Re-saving small replaces the sharded form with a single file.
  ASSERT_TRUE(writeCheckpoint(dir, ts).isOk());
  EXPECT_EQ(countFiles(dir), 4u); // stale shards stay, index is gone
  Expected<Checkpoint> single = Checkpoint::open(dir);
  ASSERT_TRUE(single.isOk());
  EXPECT_EQ(single->shards().size(), 1u);
  EXPECT_EQ(*single->readF32("layer.4.w"), data[4]);
}

TEST(Safetensors, HostileIndex) {
  std::string dir = makeTempDir();
  float x[1] = {1};
  ASSERT_TRUE(
      writeSafetensors(dir + "/a.safetensors", {{"w", DType::F32, {1}, x, 4},
                                                {"v", DType::F32, {1}, x, 4}})
          .isOk());
  auto openWith = [&](const std::string &index) {
    hone::test::writeText(dir + "/model.safetensors.index.json", index);
    Expected<Checkpoint> c = Checkpoint::open(dir);
    EXPECT_FALSE(c.isOk()) << index;
    return c ? std::string() : c.status().message();
  };
  EXPECT_NE(openWith("{}").find("needs a \"weight_map\""), std::string::npos);
  EXPECT_NE(openWith(R"({"weight_map": {"w": "../a.safetensors"}})")
                .find("plain file name"),
            std::string::npos);
  EXPECT_NE(openWith(R"({"weight_map": {"w": 3}})").find(":1:22: error"),
            std::string::npos);
  EXPECT_NE(openWith(R"({"weight_map": {"w": "missing.safetensors"}})")
                .find("cannot open"),
            std::string::npos);
  EXPECT_NE(
      openWith(
          R"({"weight_map": {"w": "a.safetensors", "q": "a.safetensors"}})")
          .find("'q' is in"),
      std::string::npos);
  EXPECT_NE(openWith(R"({"weight_map": {"w": "a.safetensors"}})")
                .find("tensor 'v' is not listed"),
            std::string::npos);
  hone::test::writeText(
      dir + "/model.safetensors.index.json",
      R"({"weight_map": {"w": "a.safetensors", "v": "a.safetensors"}})");
  EXPECT_TRUE(Checkpoint::open(dir).isOk());
}

TEST(Safetensors, AtomicWriteLeavesNoTempOnFailure) {
  std::string dir = makeTempDir();
  {
    Expected<AtomicFile> f = AtomicFile::create(dir + "/x.bin");
    ASSERT_TRUE(f.isOk());
    ASSERT_TRUE(f->write("partial").isOk());
    // Destroyed without commit.
  }
  EXPECT_EQ(countFiles(dir), 0u);
  ASSERT_TRUE(writeFileAtomic(dir + "/x.bin", "one").isOk());
  ASSERT_TRUE(writeFileAtomic(dir + "/x.bin", "two").isOk());
  EXPECT_EQ(hone::test::readText(dir + "/x.bin"), "two");
  EXPECT_EQ(countFiles(dir), 1u);
  EXPECT_FALSE(writeFileAtomic("/nonexistent-dir/x", "a").isOk());
}

} // namespace
