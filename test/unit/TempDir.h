// Temporary directories for unit tests: made under $TMPDIR (or /tmp), and
// removed when the test process ends with every test passed; a failing run
// keeps them and says where they are, to look at.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <unistd.h>
#include <vector>

namespace hone::test {

/// The directories this process made; the one object removes them at exit.
/// Each process removes only the directories it made itself: a death test's
/// child removes what it made before dying, and leaves its parent's alone.
class TempDirs {
public:
  static TempDirs &get() {
    static TempDirs dirs;
    return dirs;
  }
  void add(const std::string &dir) { dirs_.push_back({dir, ::getpid()}); }
  ~TempDirs() {
    bool passed = ::testing::UnitTest::GetInstance()->Passed();
    for (const auto &[dir, maker] : dirs_) {
      if (maker != ::getpid())
        continue;
      if (!passed) {
        std::fprintf(stderr, "kept for a look (a test failed): %s\n",
                     dir.c_str());
        continue;
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

private:
  TempDirs() = default;
  std::vector<std::pair<std::string, pid_t>> dirs_;
};

/// The base for temporary files: $TMPDIR, else /tmp.
inline std::string tempBase() {
  const char *base = std::getenv("TMPDIR");
  return base && *base ? base : "/tmp";
}

/// A fresh directory <base>/hone-<what>-XXXXXX, removed at exit on success.
inline std::string makeTempDir(const std::string &what) {
  std::string tmpl = tempBase() + "/hone-" + what + "-XXXXXX";
  char *d = ::mkdtemp(tmpl.data());
  EXPECT_NE(d, nullptr) << "cannot make " << tmpl;
  if (!d)
    return tempBase();
  TempDirs::get().add(d);
  return d;
}

} // namespace hone::test
