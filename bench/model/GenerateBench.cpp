// Hone's generation in its own process, for bench/peers/run.py's "gen"
// comparison with transformers' generate: loads a Hugging Face model
// directory, reads prompts as token ids, and runs runtime/model/Generate's
// generate() on batches of them, each call timed in wall and process CPU
// seconds (the peer's loop measures the same two around model.generate).
// Sampling as the peer's: temperature, no top-k/top-p, every row
// generates exactly --new-tokens tokens (no stop tokens: the peer's
// min_new_tokens = max_new_tokens), one sample per prompt.
//
// Usage: hone_bench_generate MODEL_DIR IDS_JSON --batch 64 --new-tokens 32
//          --temperature 0.7 --steps 4 --threads 2 --out RESULT_JSON
// IDS_JSON: a JSON list of prompts, each a list of token ids. Batch s
// takes prompts s*batch .. s*batch+batch-1 (cyclically). RESULT_JSON:
// {"steps": [[wall, cpu], ...], "new_tokens": N}.
#include "bench/model/BenchUtil.h"
#include "kernels/cpu/CpuKernels.h"
#include "runtime/base/Json.h"
#include "runtime/model/Generate.h"
#include "runtime/model/HfModel.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace hone;

namespace {

using bench::cpuNow;
using bench::now;

[[noreturn]] void die(const std::string &m) {
  std::fprintf(stderr, "hone_bench_generate: error: %s\n", m.c_str());
  std::exit(1);
}

} // namespace

int main(int argc, char **argv) {
  bench::passiveOmpThreads(argv); // bench/model/BenchUtil.h says why
  if (argc < 3)
    die("usage: hone_bench_generate MODEL_DIR IDS_JSON [--batch B] "
        "[--new-tokens N] [--temperature T] [--steps S] [--threads n] "
        "[--seed S] --out RESULT_JSON");
  std::string modelDir = argv[1], idsPath = argv[2], outPath;
  int64_t batch = 64, newTokens = 32, steps = 4, threads = 0, seed = 7;
  double temperature = 0.7;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--batch")
      batch = std::stoll(v);
    else if (k == "--new-tokens")
      newTokens = std::stoll(v);
    else if (k == "--temperature")
      temperature = std::stod(v);
    else if (k == "--steps")
      steps = std::stoll(v);
    else if (k == "--threads")
      threads = std::stoll(v);
    else if (k == "--seed")
      seed = std::stoll(v);
    else if (k == "--out")
      outPath = v;
    else
      die("unknown option " + k);
  }
  if (outPath.empty())
    die("--out RESULT_JSON is required");
  if (threads > 0)
    setCpuThreads(int(threads));

  std::ifstream in(idsPath);
  if (!in)
    die("cannot read " + idsPath);
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = json::parse(ss.str());
  if (!doc)
    die(idsPath + ": " + doc.status().toString());
  std::vector<std::vector<int32_t>> prompts;
  for (const json::Value &p : doc->items()) {
    std::vector<int32_t> ids;
    for (const json::Value &t : p.items())
      ids.push_back(int32_t(t.asInt()));
    if (ids.empty())
      die(idsPath + ": an empty prompt");
    prompts.push_back(std::move(ids));
  }
  if (prompts.empty())
    die(idsPath + ": no prompts");

  auto k = makeCpuKernels<float>();
  auto m = loadHfModel(modelDir, k.get());
  if (!m)
    die(m.status().toString());

  SamplingConfig sc;
  sc.samplesPerPrompt = 1;
  sc.maxNewTokens = newTokens;
  sc.temperature = temperature;
  sc.seed = uint64_t(seed);
  std::string out = "{\"steps\": [";
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<std::vector<int32_t>> b;
    for (int64_t i = 0; i < batch; ++i)
      b.push_back(prompts[size_t((s * batch + i) % int64_t(prompts.size()))]);
    sc.step = uint32_t(s);
    const double w0 = now(), c0 = cpuNow();
    auto g = generate(**m, b, sc);
    const double w = now() - w0, c = cpuNow() - c0;
    if (!g)
      die(g.status().toString());
    for (int64_t r = 0; r < batch; ++r)
      if (g->lengths[size_t(r)] - g->promptLengths[size_t(r)] != newTokens)
        die("a row generated fewer tokens than asked");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s[%.6f, %.6f]", s ? ", " : "", w, c);
    out += buf;
  }
  out += "], \"new_tokens\": " + std::to_string(newTokens) + "}\n";
  std::ofstream o(outPath);
  o << out;
  if (!o)
    die("cannot write " + outPath);
  return 0;
}
