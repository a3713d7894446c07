// Decode's dense layers alone: Kernels::linearRows (CPU backend, W [in,
// out], bias, residual and GELU fused as a GPT-2 decode step calls them) over
// the four matrices of every layer of a GPT-2 stack, as GFLOP per CPU-second
// and per wall second. Each round runs the default path and then the one
// HONE_LINEAR_PANELS=1 forces (without AVX-512: linearPanel's 512-row
// panels instead of linearRowsStrips' 64-column blocks; with AVX-512 both
// are the same) and then with every W packed beforehand
// (Kernels::packLinearRows, as a generate call packs its decode weights),
// interleaved so that load hits all alike, and checks that all give the
// same bits.
//
// Usage: hone_bench_linear_rows [--rows 64] [--d 512] [--layers 8]
//          [--reps 10] [--rounds 3] [--threads 1]
#include "bench/model/BenchUtil.h"
#include "kernels/cpu/CpuKernels.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace hone;

int main(int argc, char **argv) {
  bench::passiveOmpThreads(argv); // bench/model/BenchUtil.h says why
  int64_t rows = 64, D = 512, layers = 8, reps = 10, rounds = 3, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (k == "--rows")
      rows = v;
    else if (k == "--d")
      D = v;
    else if (k == "--layers")
      layers = v;
    else if (k == "--reps")
      reps = v;
    else if (k == "--rounds")
      rounds = v;
    else if (k == "--threads")
      threads = v;
    else {
      std::fprintf(stderr, "hone_bench_linear_rows: error: unknown option %s\n",
                   k.c_str());
      return 1;
    }
  }
  if (rows < 1 || D < 16 || D % 16 || layers < 1 || reps < 1 || rounds < 1 ||
      threads < 1) {
    std::fprintf(stderr, "hone_bench_linear_rows: error: --rows, --layers, "
                         "--reps, --rounds, --threads >= 1, --d a multiple "
                         "of 16\n");
    return 1;
  }
  setCpuThreads(int(threads));
  auto k = makeCpuKernels<float>();
  const int64_t F = 4 * D;
  struct Layer {
    std::vector<float> qkv, o, fc, proj, bq, bo, bf, bp;
  };
  std::vector<Layer> L(static_cast<size_t>(layers));
  uint32_t s = 1;
  auto rnd = [&] {
    s = s * 1664525u + 1013904223u;
    return (float(s >> 8) / 16777216.0f - 0.5f) * 0.1f;
  };
  for (Layer &l : L) {
    l.qkv.resize(size_t(D * 3 * D));
    l.o.resize(size_t(D * D));
    l.fc.resize(size_t(D * F));
    l.proj.resize(size_t(F * D));
    for (auto *v : {&l.qkv, &l.o, &l.fc, &l.proj})
      for (float &x : *v)
        x = rnd();
    l.bq.assign(size_t(3 * D), 0.01f);
    l.bo.assign(size_t(D), 0.01f);
    l.bf.assign(size_t(F), 0.01f);
    l.bp.assign(size_t(D), 0.01f);
  }
  std::vector<float> x(size_t(rows * F)), res(size_t(rows * D));
  for (float &v : x)
    v = rnd();
  for (float &v : res)
    v = rnd();
  const double flops = 2.0 * double(rows) * double(layers) *
                       (3.0 * D * D + D * D + 2.0 * D * F) * double(reps);
  // Path 2: every W packed once beforehand (Kernels::packLinearRows, as a
  // generate call packs its model's decode weights), read in place.
  struct Packed {
    std::vector<float> qkv, o, fc, proj;
  };
  std::vector<Packed> P(L.size());
  auto pack = [&](const std::vector<float> &w, int64_t in, int64_t out,
                  std::vector<float> &dst) {
    dst.resize(size_t(k->linearRowsPackSize(rows, in, out, false)));
    if (!dst.empty())
      k->packLinearRows(w.data(), in, out, false, dst.data());
  };
  for (size_t i = 0; i < L.size(); ++i) {
    pack(L[i].qkv, D, 3 * D, P[i].qkv);
    pack(L[i].o, D, D, P[i].o);
    pack(L[i].fc, D, F, P[i].fc);
    pack(L[i].proj, F, D, P[i].proj);
  }
  auto ptr = [](const std::vector<float> &v) {
    return v.empty() ? nullptr : v.data();
  };
  constexpr int kPaths = 3;
  std::vector<float> out[kPaths];
  double cpu[kPaths] = {0, 0, 0}, wall[kPaths] = {0, 0, 0};
  for (int64_t r = 0; r < rounds; ++r)
    for (int path = 0; path < kPaths; ++path) {
      if (path == 1)
        setenv("HONE_LINEAR_PANELS", "1", 1);
      std::vector<float> qkv(size_t(rows * 3 * D)), mid(size_t(rows * D)),
          act(size_t(rows * F)), y(size_t(rows * D));
      const double w0 = bench::now(), c0 = bench::cpuNow();
      for (int64_t rep = 0; rep < reps && path == 2; ++rep)
        for (size_t i = 0; i < L.size(); ++i) {
          Layer &l = L[i];
          k->linearRowsPacked(x.data(), rows, D, 3 * D, l.qkv.data(),
                              ptr(P[i].qkv), false, l.bq.data(), nullptr,
                              false, qkv.data());
          k->linearRowsPacked(x.data(), rows, D, D, l.o.data(), ptr(P[i].o),
                              false, l.bo.data(), res.data(), false,
                              mid.data());
          k->linearRowsPacked(x.data(), rows, D, F, l.fc.data(), ptr(P[i].fc),
                              false, l.bf.data(), nullptr, true, act.data());
          k->linearRowsPacked(act.data(), rows, F, D, l.proj.data(),
                              ptr(P[i].proj), false, l.bp.data(), mid.data(),
                              false, y.data());
        }
      for (int64_t rep = 0; rep < reps && path < 2; ++rep)
        for (Layer &l : L) {
          k->linearRows(x.data(), rows, D, 3 * D, l.qkv.data(), false,
                        l.bq.data(), nullptr, false, qkv.data());
          k->linearRows(x.data(), rows, D, D, l.o.data(), false, l.bo.data(),
                        res.data(), false, mid.data());
          k->linearRows(x.data(), rows, D, F, l.fc.data(), false, l.bf.data(),
                        nullptr, true, act.data());
          k->linearRows(act.data(), rows, F, D, l.proj.data(), false,
                        l.bp.data(), mid.data(), false, y.data());
        }
      wall[path] += bench::now() - w0;
      cpu[path] += bench::cpuNow() - c0;
      unsetenv("HONE_LINEAR_PANELS");
      y.insert(y.end(), qkv.begin(), qkv.end());
      out[path] = std::move(y);
    }
  bool same = true;
  for (int p = 1; p < kPaths; ++p)
    same = same && std::memcmp(out[0].data(), out[p].data(),
                               out[0].size() * sizeof(float)) == 0;
  std::printf("linearRows, %lld rows, d_model %lld x %lld layers, %lld "
              "thread(s), %lld interleaved rounds:\n",
              (long long)rows, (long long)D, (long long)layers,
              (long long)threads, (long long)rounds);
  const char *name[kPaths] = {"default", "HONE_LINEAR_PANELS=1",
                              "W packed beforehand"};
  for (int p = 0; p < kPaths; ++p)
    std::printf("  %-21s %6.1f GFLOP per CPU-second, %6.1f GFLOP/s wall\n",
                name[p], flops * double(rounds) / cpu[p] * 1e-9,
                flops * double(rounds) / wall[p] * 1e-9);
  std::printf("  same bits: %s\n", same ? "yes" : "NO");
  return same ? 0 : 1;
}
