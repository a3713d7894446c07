// hone-toydata: JSONL for toy tasks with verifiable answers (addition,
// multiplication, sorting, parity), seeded, with varied prompt templates
// and in-distribution / harder out-of-distribution sizes.
//
//   hone-toydata --task addition --n 1000 --min 1 --max 3 --seed 0
//                [--layout prompt_answer|prompt_completion]
//                [--single-template] [--worked-steps] [--out FILE]
//   hone-toydata --vocab          the characters a char tokenizer needs
#include "tools/hone-toydata/ToyData.h"

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace hone;

static int fail(const std::string &msg) {
  std::fprintf(stderr, "hone-toydata: %s\n", msg.c_str());
  return 1;
}

int main(int argc, char **argv) {
  toydata::ToyOptions o;
  long long n = 100;
  bool pc = false;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> const char * {
      return i + 1 < argc ? argv[++i] : nullptr;
    };
    auto num = [&](long long &x) -> bool {
      const char *v = val();
      if (!v)
        return false;
      char *end = nullptr;
      x = std::strtoll(v, &end, 10);
      return *v && !*end && x >= 0;
    };
    long long x = 0;
    if (a == "--help" || a == "-h") {
      std::printf("usage: hone-toydata --task addition|multiplication|sorting|"
                  "parity [--n N] [--min K] [--max K] [--seed S]\n"
                  "       [--layout prompt_answer|prompt_completion] "
                  "[--single-template] [--worked-steps] [--out FILE]\n"
                  "       hone-toydata --vocab\n");
      return 0;
    } else if (a == "--vocab") {
      std::printf("%s\n", toydata::toyVocabulary().c_str());
      return 0;
    } else if (a == "--task") {
      const char *v = val();
      if (!v)
        return fail("error: --task needs a value");
      auto t = toydata::toyTaskFromName(v);
      if (!t)
        return fail(t.status().toString());
      o.task = *t;
    } else if (a == "--n") {
      if (!num(n))
        return fail("error: --n needs a non-negative integer");
    } else if (a == "--min" || a == "--max") {
      if (!num(x) || x < 1 || x > 64)
        return fail("error: " + a + " needs an integer in [1, 64]");
      (a == "--min" ? o.minSize : o.maxSize) = int(x);
    } else if (a == "--seed") {
      if (!num(x))
        return fail("error: --seed needs a non-negative integer");
      o.seed = uint64_t(x);
    } else if (a == "--layout") {
      const char *v = val();
      std::string l = v ? v : "";
      if (l != "prompt_answer" && l != "prompt_completion")
        return fail("error: --layout must be prompt_answer or "
                    "prompt_completion");
      pc = l == "prompt_completion";
    } else if (a == "--single-template") {
      o.singleTemplate = true;
    } else if (a == "--worked-steps") {
      o.workedSteps = true;
    } else if (a == "--out") {
      const char *v = val();
      if (!v)
        return fail("error: --out needs a file");
      out = v;
    } else {
      return fail("error: unknown option '" + a + "' (see --help)");
    }
  }
  if (o.minSize > o.maxSize)
    return fail("error: --min is larger than --max");
  std::FILE *f = out.empty() ? stdout : std::fopen(out.c_str(), "w");
  if (!f)
    return fail(out + ": error: cannot open for writing");
  for (long long i = 0; i < n; ++i) {
    std::string line = json::serialize(
        toydata::toyRecord(toydata::toyExample(o, uint64_t(i)), pc));
    line += '\n';
    if (std::fwrite(line.data(), 1, line.size(), f) != line.size())
      return fail(out + ": error: write failed");
  }
  if (f != stdout && std::fclose(f) != 0)
    return fail(out + ": error: write failed");
  return 0;
}
