// Helpers shared by the formats tests: a fresh temporary directory.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

namespace hone::test {

inline std::string makeTempDir() {
  const char *base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base && *base ? base : "/tmp") + "/hone-formats-XXXXXX";
  char *p = ::mkdtemp(tmpl.data());
  return p ? std::string(p) : std::string("/tmp");
}

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
