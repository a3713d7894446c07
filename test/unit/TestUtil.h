// Helpers shared by the unit tests: a fresh temporary directory, text files,
// the Python oracle interpreter.
#pragma once

#include "test/unit/TempDir.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

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

#ifdef HONE_BINARY_DIR
/// The first Python that imports `mods` (e.g. "tokenizers"), quoted for a
/// shell: $HONE_ORACLE_PYTHON, the optional venv build/pyvenv
/// (HONE_SETUP_EXTRAS=1 scripts/setup-deps), python3 on PATH; empty if none.
/// For tests compiled with HONE_BINARY_DIR.
inline std::string oraclePython(const std::string &mods) {
  std::vector<std::string> cands;
  if (const char *env = std::getenv("HONE_ORACLE_PYTHON"))
    cands.push_back(env);
  cands.push_back(HONE_BINARY_DIR "/pyvenv/bin/python");
  cands.push_back("python3");
  for (const std::string &c : cands)
    if (std::system(
            ("'" + c + "' -c 'import " + mods + "' >/dev/null 2>&1").c_str()) ==
        0)
      return "'" + c + "'";
  return {};
}
#endif

} // namespace hone::test
