#include "runtime/model/Generate.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

namespace hone {

template <typename T>
Expected<GenerationResult<T>>
generate(Transformer<T> &model,
         const std::vector<std::vector<int32_t>> &prompts,
         const SamplingConfig &cfg, const RowDone<T> &onRowDone) {
  const ModelConfig &mc = model.config();
  Kernels<T> &k = model.kernels();
  if (mc.head != HeadKind::LM)
    return Status::error("generate: the model has no LM head");
  if (prompts.empty())
    return Status::error("generate: no prompts");
  if (cfg.samplesPerPrompt <= 0 || cfg.maxNewTokens <= 0)
    return Status::error("generate: samplesPerPrompt and maxNewTokens must "
                         "be positive");
  if (!(cfg.temperature > 0))
    return Status::error("generate: temperature must be positive");
  if (!(cfg.topP > 0) || cfg.topP > 1 || cfg.topK < 0)
    return Status::error("generate: topP must be in (0, 1] and topK >= 0");
  const int64_t P = int64_t(prompts.size()), n = cfg.samplesPerPrompt;
  const int64_t R = P * n, V = mc.vocabSize, D = mc.dModel;
  int64_t maxPrompt = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty())
      return Status::error("generate: prompt " + std::to_string(i) +
                           " is empty");
    maxPrompt = std::max<int64_t>(maxPrompt, int64_t(prompts[i].size()));
  }
  if (maxPrompt >= mc.maxSeqLen)
    return Status::error("generate: a prompt of " + std::to_string(maxPrompt) +
                         " tokens leaves no room in the model's maximum "
                         "length " +
                         std::to_string(mc.maxSeqLen));
  const int64_t cacheLen = std::min(mc.maxSeqLen, maxPrompt + cfg.maxNewTokens);
  auto cacheOr = model.reusableKvCache(R, cacheLen);
  if (!cacheOr)
    return cacheOr.status();
  KvCache<T> &cache = **cacheOr;

  // Prefill once per prompt, packed (no padding rows: each prompt's tokens
  // after the previous one's), then copy each prompt's cache to its samples.
  std::vector<int32_t> tok, start(size_t(R), 0), lens(size_t(P), 0);
  for (int64_t i = 0; i < P; ++i) {
    const std::vector<int32_t> &p = prompts[size_t(i)];
    tok.insert(tok.end(), p.begin(), p.end());
    lens[size_t(i)] = int32_t(p.size());
  }
  // Only each prompt's last row's hidden state is read (its next token's
  // logits): the last layer's output projection, MLP and final norm run
  // on those P rows alone (9 % of a GPT-2 d_model 512 x 8 prefill's
  // dense-layer work; the values equal the all-rows prefill's up to the
  // dense layers' rounding at fewer rows: Generate.PrefillLastRowsOnly).
  // HONE_PREFILL_ALL_ROWS=1 runs them on every row (A/B runs, tests).
  const char *allEnv = std::getenv("HONE_PREFILL_ALL_ROWS");
  const bool lastOnly = !(allEnv && std::strcmp(allEnv, "1") == 0);
  auto hid = model.forwardCached(cache, tok.data(), start.data(), P, maxPrompt,
                                 nullptr, lens.data(), lastOnly);
  if (!hid)
    return hid.status();
  // Where the job's plan puts them (the op's Logits slot; not cleared:
  // rows are written before they are read), else from the kernels. After
  // them, the decode steps' weights packed once for this call where the
  // kernels read them packed (Transformer::packDecodeWeights; the weights
  // do not change during a call): decode reads every weight each step,
  // and packing it each time cost 13 % of the dense layers' time on Zen 2
  // (bench/RESULTS.md). Without room for them, decode packs as before;
  // HONE_DECODE_PACK=0 never packs them (A/B runs, tests).
  DeviceArray<T> last, logitsDev, packDev;
  const int64_t lastBytes = (R * D * int64_t(sizeof(T)) + 63) / 64 * 64;
  const int64_t logitBytes = (R * V * int64_t(sizeof(T)) + 63) / 64 * 64;
  const char *packEnv = std::getenv("HONE_DECODE_PACK");
  const int64_t packElems = packEnv && std::strcmp(packEnv, "0") == 0
                                ? 0
                                : model.decodePackElems(R);
  std::shared_ptr<void> lease;
  if (char *p = model.placeState(
          WorkPlacer::Logits,
          lastBytes + logitBytes + packElems * int64_t(sizeof(T)), &lease,
          /*zero=*/false)) {
    last = DeviceArray<T>::borrow(reinterpret_cast<T *>(p), R * D, lease);
    if (packElems > 0)
      packDev = DeviceArray<T>::borrow(
          reinterpret_cast<T *>(p + lastBytes + logitBytes), packElems, lease);
    logitsDev = DeviceArray<T>::borrow(reinterpret_cast<T *>(p + lastBytes),
                                       R * V, std::move(lease));
  } else {
    last = DeviceArray<T>(&k, R * D);
    logitsDev = DeviceArray<T>(&k, R * V);
    if (T *kept = packElems > 0 ? model.keptDecodePack(packElems) : nullptr)
      packDev = DeviceArray<T>::borrow(kept, packElems);
    else if (packElems > 0)
      packDev = DeviceArray<T>(&k, packElems);
  }
  if (!last.data() || !logitsDev.data())
    return Status::error("generate: out of memory allocating logits for " +
                         std::to_string(R) + " rows");
  struct DropPack {
    Transformer<T> &m;
    ~DropPack() { m.dropDecodePack(); }
  } dropPack{model};
  if (packDev.data())
    model.packDecodeWeights(R, packDev.data());
  if (lastOnly)
    k.copy(last.data(), *hid, P * D);
  else
    for (int64_t i = 0, row = 0; i < P; ++i) {
      row += lens[size_t(i)];
      k.copy(last.data() + i * D, *hid + (row - 1) * D, D);
    }
  HONE_TRY(model.logits(last.data(), P, cfg.temperature, logitsDev.data()));
  if (n > 1) {
    const int64_t rowElems = mc.nKvHeads * cacheLen * mc.headDim();
    for (size_t l = 0; l < cache.k.size(); ++l)
      for (int64_t i = P; i-- > 0;)
        for (int64_t j = n; j-- > 0;)
          if (i * n + j != i) {
            k.copy(cache.k[l].data() + (i * n + j) * rowElems,
                   cache.k[l].data() + i * rowElems, rowElems);
            k.copy(cache.v[l].data() + (i * n + j) * rowElems,
                   cache.v[l].data() + i * rowElems, rowElems);
          }
    for (int64_t i = P; i-- > 0;)
      for (int64_t j = n; j-- > 0;)
        if (i * n + j != i)
          k.copy(logitsDev.data() + (i * n + j) * V, logitsDev.data() + i * V,
                 V);
  }

  GenerationResult<T> res;
  res.batch = R;
  const int64_t maxLen = cacheLen;
  res.tokens.assign(size_t(R * maxLen), cfg.padToken);
  res.logprobs.assign(size_t(R * maxLen), T(0));
  res.mask.assign(size_t(R * maxLen), 0);
  res.lengths.assign(size_t(R), 0);
  res.promptLengths.assign(size_t(R), 0);
  res.stopped.assign(size_t(R), 0);
  for (int64_t r = 0; r < R; ++r) {
    const auto &p = prompts[size_t(r / n)];
    std::copy(p.begin(), p.end(), res.tokens.begin() + r * maxLen);
    res.lengths[size_t(r)] = res.promptLengths[size_t(r)] = int32_t(p.size());
  }
  SamplerParams sp;
  sp.topK = cfg.topK;
  sp.topP = cfg.topP;
  sp.greedy = cfg.greedy;
  sp.seed = cfg.seed;
  sp.step = cfg.step;
  sp.rank = cfg.rank;
  // Rows that finish are compacted out of the decode batch: slot i of the
  // cache and of the logits holds row rowAt[i]; slots [0, A) are live.
  std::vector<int64_t> rowAt(static_cast<size_t>(R));
  std::iota(rowAt.begin(), rowAt.end(), 0);
  int64_t A = R;
  std::vector<uint32_t> sampleId(static_cast<size_t>(R)),
      drawIndex(sampleId.size());
  std::vector<uint8_t> active(sampleId.size(), 1);
  std::vector<int32_t> next(sampleId.size(), 0), slotStart(sampleId.size(), 0),
      shared(sampleId.size(), 0);
  std::vector<T> lp(sampleId.size());
  DeviceArray<T, uint32_t> idDev(&k, R), drawDev(&k, R);
  DeviceArray<T, uint8_t> activeDev(&k, R);
  DeviceArray<T, int32_t> tokDev(&k, R);
  DeviceArray<T> lpDev(&k, R);
  k.copyToDevice(activeDev.data(), active.data(), size_t(R));
  const int64_t rowElems = mc.nKvHeads * cacheLen * mc.headDim();
  // Stop strings: each row's last completion bytes, enough to hold a stop
  // string that a new token completes.
  size_t keep = 0;
  for (const std::string &s : cfg.stopStrings)
    keep = std::max(keep, s.size());
  bool byString = keep > 0 && cfg.tokenBytes;
  std::vector<std::string> tail(byString ? size_t(R) : 0);
  for (int64_t s = 0; s < cfg.maxNewTokens; ++s) {
    // Philox stream per original row; the draw index is the position.
    for (int64_t i = 0; i < A; ++i) {
      int64_t r = rowAt[size_t(i)];
      sampleId[size_t(i)] = cfg.sampleBase + uint32_t(r);
      drawIndex[size_t(i)] = uint32_t(res.lengths[size_t(r)]);
    }
    k.copyToDevice(idDev.data(), sampleId.data(), size_t(A) * 4);
    k.copyToDevice(drawDev.data(), drawIndex.data(), size_t(A) * 4);
    k.sample(logitsDev.data(), A, V, sp, idDev.data(), drawDev.data(),
             activeDev.data(), tokDev.data(), lpDev.data());
    k.copyToHost(next.data(), tokDev.data(), size_t(A) * 4);
    k.copyToHost(lp.data(), lpDev.data(), size_t(A) * sizeof(T));
    std::vector<uint8_t> live(static_cast<size_t>(A), 1);
    int64_t nLive = 0;
    for (int64_t i = 0; i < A; ++i) {
      int64_t r = rowAt[size_t(i)];
      int64_t pos = res.lengths[size_t(r)];
      int32_t t = next[size_t(i)];
      res.tokens[size_t(r * maxLen + pos)] = t;
      res.logprobs[size_t(r * maxLen + pos)] = lp[size_t(i)];
      res.mask[size_t(r * maxLen + pos)] = 1;
      res.lengths[size_t(r)] = int32_t(pos + 1);
      bool stop = std::find(cfg.stopTokens.begin(), cfg.stopTokens.end(), t) !=
                  cfg.stopTokens.end();
      if (byString && !stop) {
        std::string &tb = tail[size_t(r)];
        tb += cfg.tokenBytes(t);
        for (const std::string &ss : cfg.stopStrings)
          stop |= !ss.empty() && tb.find(ss) != std::string::npos;
        if (tb.size() >= keep)
          tb.erase(0, tb.size() - (keep - 1));
      }
      res.stopped[size_t(r)] = stop;
      if (stop || pos + 1 >= cacheLen)
        live[size_t(i)] = 0;
      else
        ++nLive;
      if (onRowDone && (!live[size_t(i)] || s + 1 == cfg.maxNewTokens))
        onRowDone(r, res, maxLen);
      slotStart[size_t(i)] = int32_t(pos);
    }
    if (s + 1 == cfg.maxNewTokens || nLive == 0)
      break;
    // Fill the holes left by finished rows with live rows from the end.
    int64_t lo = 0, hi = A - 1;
    while (true) {
      while (lo < A && live[size_t(lo)])
        ++lo;
      while (hi >= 0 && !live[size_t(hi)])
        --hi;
      if (lo >= hi)
        break;
      for (size_t l = 0; l < cache.k.size(); ++l) {
        k.copy(cache.k[l].data() + lo * rowElems,
               cache.k[l].data() + hi * rowElems, rowElems);
        k.copy(cache.v[l].data() + lo * rowElems,
               cache.v[l].data() + hi * rowElems, rowElems);
      }
      rowAt[size_t(lo)] = rowAt[size_t(hi)];
      next[size_t(lo)] = next[size_t(hi)];
      slotStart[size_t(lo)] = slotStart[size_t(hi)];
      live[size_t(lo)] = 1;
      live[size_t(hi)] = 0;
    }
    A = nLive;
    // Samples of one prompt in adjacent slots share the prompt's K/V; the
    // backend may read it once for all of them (compaction above can split
    // such runs, which only costs speed).
    for (int64_t i = 0; i < A; ++i) {
      int64_t pr = rowAt[size_t(i)] / n;
      shared[size_t(i)] = i > 0 && rowAt[size_t(i - 1)] / n == pr
                              ? int32_t(prompts[size_t(pr)].size())
                              : 0;
    }
    auto h = model.forwardCached(cache, next.data(), slotStart.data(), A, 1,
                                 shared.data());
    if (!h)
      return h.status();
    HONE_TRY(model.logits(*h, A, cfg.temperature, logitsDev.data()));
  }
  int64_t longest = 0;
  for (int32_t l : res.lengths)
    longest = std::max<int64_t>(longest, l);
  if (longest < maxLen) {
    auto trim = [&](auto &v) {
      using E = typename std::decay_t<decltype(v)>::value_type;
      std::vector<E> out(static_cast<size_t>(R * longest));
      for (int64_t r = 0; r < R; ++r)
        std::copy(v.begin() + r * maxLen, v.begin() + r * maxLen + longest,
                  out.begin() + r * longest);
      v.swap(out);
    };
    trim(res.tokens);
    trim(res.logprobs);
    trim(res.mask);
  }
  res.seqLen = longest;
  return res;
}

template <typename T>
Expected<GenerationResult<T>>
generateInChunks(Transformer<T> &model,
                 const std::vector<std::vector<int32_t>> &prompts,
                 const SamplingConfig &cfg, int64_t rowsPerChunk,
                 const ChunkRowDone<T> &onRowDone) {
  const int64_t P = int64_t(prompts.size());
  const int64_t n = std::max<int64_t>(cfg.samplesPerPrompt, 1);
  const int64_t per =
      rowsPerChunk <= 0 ? P : std::max<int64_t>(1, rowsPerChunk / n);
  if (per >= P)
    return generate(model, prompts, cfg,
                    onRowDone ? RowDone<T>([&](int64_t r,
                                               const GenerationResult<T> &g,
                                               int64_t stride) {
                      onRowDone(r, g, r, stride);
                    })
                              : RowDone<T>());
  std::vector<GenerationResult<T>> parts;
  for (int64_t p0 = 0; p0 < P; p0 += per) {
    const int64_t p1 = std::min(P, p0 + per);
    std::vector<std::vector<int32_t>> some(prompts.begin() + p0,
                                           prompts.begin() + p1);
    SamplingConfig c = cfg;
    // Every row draws the Philox sample it draws in one call: its row of
    // the whole batch.
    c.sampleBase = cfg.sampleBase + uint32_t(p0 * n);
    RowDone<T> done;
    if (onRowDone)
      done = [&, base = p0 * n](int64_t r, const GenerationResult<T> &g,
                                int64_t stride) {
        onRowDone(base + r, g, r, stride);
      };
    auto g = generate(model, some, c, done);
    if (!g)
      return g.status();
    parts.push_back(g.take());
  }
  GenerationResult<T> res;
  for (const auto &g : parts) {
    res.batch += g.batch;
    res.seqLen = std::max(res.seqLen, g.seqLen);
  }
  const int64_t L = res.seqLen;
  res.tokens.assign(size_t(res.batch * L), cfg.padToken);
  res.logprobs.assign(size_t(res.batch * L), T(0));
  res.mask.assign(size_t(res.batch * L), 0);
  int64_t row = 0;
  for (const auto &g : parts) {
    for (int64_t r = 0; r < g.batch; ++r, ++row) {
      std::copy_n(g.tokens.begin() + r * g.seqLen, g.seqLen,
                  res.tokens.begin() + row * L);
      std::copy_n(g.logprobs.begin() + r * g.seqLen, g.seqLen,
                  res.logprobs.begin() + row * L);
      std::copy_n(g.mask.begin() + r * g.seqLen, g.seqLen,
                  res.mask.begin() + row * L);
    }
    res.lengths.insert(res.lengths.end(), g.lengths.begin(), g.lengths.end());
    res.promptLengths.insert(res.promptLengths.end(), g.promptLengths.begin(),
                             g.promptLengths.end());
    res.stopped.insert(res.stopped.end(), g.stopped.begin(), g.stopped.end());
  }
  return res;
}

template Expected<GenerationResult<float>>
generateInChunks<float>(Transformer<float> &,
                        const std::vector<std::vector<int32_t>> &,
                        const SamplingConfig &, int64_t,
                        const ChunkRowDone<float> &);
template Expected<GenerationResult<double>>
generateInChunks<double>(Transformer<double> &,
                         const std::vector<std::vector<int32_t>> &,
                         const SamplingConfig &, int64_t,
                         const ChunkRowDone<double> &);

template Expected<GenerationResult<float>>
generate<float>(Transformer<float> &, const std::vector<std::vector<int32_t>> &,
                const SamplingConfig &, const RowDone<float> &);
template Expected<GenerationResult<double>>
generate<double>(Transformer<double> &,
                 const std::vector<std::vector<int32_t>> &,
                 const SamplingConfig &, const RowDone<double> &);

} // namespace hone
