// Helpers shared by the formats tests: a fresh temporary directory.
#pragma once

#include "test/unit/TempDir.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

namespace hone::test {

/// A fresh directory, removed when every test of the process passed.
inline std::string makeTempDir() { return makeTempDir("formats"); }

inline void writeText(const std::string &path, const std::string &data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}

inline std::string readText(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)),
                     std::istreambuf_iterator<char>());
}

} // namespace hone::test
