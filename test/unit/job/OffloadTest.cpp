// The CPU job's host tier for offloaded AdamW moments (runtime/job/
// Offload.h, hone-plan-memory's decision 5): updates with the moments
// fetched from and evicted to the file between them are bit-identical to
// updates with resident moments, in direct and buffered I/O; a removed or
// truncated file is an error naming it; the file goes with its object and
// with removeAllOffloadFiles.
#include "runtime/job/Offload.h"
#include "runtime/model/Optimizer.h"
#include "test/unit/model/ModelTestUtil.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace hone;
using namespace hone::test;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/hone-offload-test-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    (void)std::system(cmd.c_str());
  }
};

bool exists(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

/// `updates` AdamW updates of a tiny model from fixed gradients; with
/// `store`, the moments offloaded between them. Returns the weights.
std::vector<float> train(Kernels<float> *k, int updates,
                         std::shared_ptr<job::OffloadFile> store,
                         std::vector<float> *moments = nullptr) {
  auto m = Transformer<float>::create(tinyLlama(), k).take();
  randomizeParams(*m, 3, 0.4);
  AdamWConfig cfg;
  cfg.lr = 1e-2;
  cfg.weightDecay = 0.1;
  AdamW<float> opt(*m, cfg, /*resident=*/store == nullptr);
  if (store)
    opt.setStore(store);
  const int64_t n = m->numTrainable();
  for (int u = 0; u < updates; ++u) {
    m->zeroGrad();
    float *g = m->trainableGrad();
    for (int64_t i = 0; i < n; ++i)
      g[i] = float(((i * 7919 + u * 104729) % 2003) - 1001) * 1e-4f;
    if (store) {
      EXPECT_TRUE(opt.fetch());
    }
    EXPECT_TRUE(opt.step());
    if (store) {
      Status st = opt.evict();
      EXPECT_TRUE(st) << st.toString();
      EXPECT_FALSE(opt.resident());
    }
  }
  if (moments) {
    std::shared_ptr<void> hold;
    auto mv = opt.momentsForIO(false, &hold);
    EXPECT_TRUE(mv);
    moments->assign(mv->first, mv->first + n);
    moments->insert(moments->end(), mv->second, mv->second + n);
  }
  const float *w = m->trainableData();
  return std::vector<float>(w, w + n);
}

} // namespace

TEST(Offload, UpdatesRoundTripBitIdentical) {
  auto k = makeCpuKernels<float>();
  std::vector<float> wantM, gotM;
  std::vector<float> want = train(k.get(), 4, nullptr, &wantM);
  for (const char *mode : {"on", "off"}) {
    TempDir dir;
    setenv("HONE_OFFLOAD_DIRECT", mode, 1);
    auto m = Transformer<float>::create(tinyLlama(), k.get()).take();
    const int64_t bytes = 2 * ((m->numTrainable() * 4 + 63) / 64 * 64);
    auto f = job::OffloadFile::create(dir.path + "/offload", "m0", bytes,
                                      nullptr);
    ASSERT_TRUE(f) << f.status().toString();
    std::shared_ptr<job::OffloadFile> file = std::move(*f);
    std::vector<float> got = train(k.get(), 4, file, &gotM);
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * 4))
        << mode;
    EXPECT_EQ(0, std::memcmp(wantM.data(), gotM.data(), wantM.size() * 4))
        << mode;
    EXPECT_EQ(file->bytesRead(), file->bytesWritten());
    EXPECT_GE(file->bytesWritten(), 4 * 2 * m->numTrainable() * 4);
    // Heap moments (no arena slot here) are not page-aligned: buffered.
    EXPECT_EQ(file->mode(), "write+fdatasync+fadvise");
    const std::string path = file->path();
    EXPECT_TRUE(exists(path));
    file.reset();
    EXPECT_FALSE(exists(path)) << "the file outlives its object";
    EXPECT_FALSE(exists(dir.path + "/offload")) << "the empty folder stays";
  }
  unsetenv("HONE_OFFLOAD_DIRECT");
}

TEST(Offload, DirectTransfersOfPageAlignedMemory) {
  TempDir dir;
  auto f = job::OffloadFile::create(dir.path, "x", 3 * 4096, nullptr);
  ASSERT_TRUE(f);
  void *buf = nullptr;
  ASSERT_EQ(0, posix_memalign(&buf, 4096, 3 * 4096));
  for (int i = 0; i < 3 * 4096; ++i)
    static_cast<unsigned char *>(buf)[i] = static_cast<unsigned char>(i * 31);
  ASSERT_TRUE((*f)->save(0, buf, 3 * 4096));
  std::memset(buf, 0, 3 * 4096);
  ASSERT_TRUE((*f)->load(0, buf, 3 * 4096));
  for (int i = 0; i < 3 * 4096; ++i)
    ASSERT_EQ(static_cast<unsigned char *>(buf)[i],
              static_cast<unsigned char>(i * 31));
  // ext4 and most disk file systems take O_DIRECT; tmpfs does not.
  std::string mode = (*f)->mode();
  EXPECT_TRUE(mode == "O_DIRECT" || mode == "write+fdatasync+fadvise");
  std::free(buf);
}

TEST(Offload, RemovedOrTruncatedFileIsAnErrorNamingIt) {
  auto k = makeCpuKernels<float>();
  for (const char *how : {"removed", "truncated"}) {
    TempDir dir;
    auto m = Transformer<float>::create(tinyLlama(), k.get()).take();
    const int64_t bytes = 2 * ((m->numTrainable() * 4 + 63) / 64 * 64);
    auto f = job::OffloadFile::create(dir.path, "m0", bytes, nullptr);
    ASSERT_TRUE(f);
    AdamW<float> opt(*m, AdamWConfig{}, false);
    opt.setStore(*f);
    const std::string path = (*f)->path();
    if (std::string(how) == "removed")
      ASSERT_EQ(0, ::unlink(path.c_str()));
    else
      ASSERT_EQ(0, ::truncate(path.c_str(), 100));
    Status st = opt.fetch();
    ASSERT_FALSE(st);
    EXPECT_NE(st.toString().find(path), std::string::npos) << st.toString();
    EXPECT_NE(st.toString().find(std::string("was ") + how),
              std::string::npos)
        << st.toString();
  }
}

TEST(Offload, RemoveAllOnExitPaths) {
  TempDir dir;
  auto f = job::OffloadFile::create(dir.path + "/offload", "m1", 4096,
                                    nullptr);
  ASSERT_TRUE(f);
  const std::string path = (*f)->path();
  ASSERT_TRUE(exists(path));
  job::removeAllOffloadFiles();
  EXPECT_FALSE(exists(path));
  EXPECT_FALSE(exists(dir.path + "/offload"));
}
