// Batched KV-cache generation with seeded sampling. Every random draw comes
// from Philox keyed by (seed, step, rank, sample) with the generated position
// as the block index, so a result is bit-identical across runs and thread
// counts, and any single sample can be regenerated on its own.
#pragma once

#include "runtime/model/Transformer.h"

#include <functional>
#include <string>
#include <vector>

namespace hone {

struct SamplingConfig {
  int64_t samplesPerPrompt = 1;
  int64_t maxNewTokens = 16;
  double temperature = 1.0;        // > 0; also the temperature of the log-probs
  int64_t topK = 0;                // 0: off
  double topP = 1.0;               // 1: off
  bool greedy = false;             // argmax (lowest id on ties); no draws
  std::vector<int32_t> stopTokens; // generation of a row ends after one
  /// Generation of a row also ends at the token whose bytes complete one of
  /// these strings in its completion (the token is kept, as Hugging Face's
  /// `stop_strings`); `tokenBytes` gives a token's bytes (the tokenizer's).
  std::vector<std::string> stopStrings;
  std::function<std::string(int32_t)> tokenBytes;
  int32_t padToken = 0;
  uint64_t seed = 0;
  uint32_t step = 0;
  uint32_t rank = 0;
  uint32_t sampleBase = 0; // Philox `sample` of this call's first row
};

/// Row r = prompt r / samplesPerPrompt, sample r % samplesPerPrompt.
/// Layout [batch, seqLen], right-padded with padToken, as Transformer's
/// token-aligned convention: logprobs[r, t] = log p(tokens[r, t] | <t) at the
/// sampling temperature (full softmax, before top-k/top-p truncation) for
/// generated tokens, 0 elsewhere; mask[r, t] = 1 exactly there.
template <typename T> struct GenerationResult {
  int64_t batch = 0;
  int64_t seqLen = 0;
  std::vector<int32_t> tokens;
  std::vector<int32_t> lengths; // prompt + generated
  std::vector<int32_t> promptLengths;
  std::vector<T> logprobs;
  std::vector<uint8_t> mask;
  std::vector<uint8_t> stopped; // ended on a stop token or stop string
};

/// Called once per row, on the generating thread, as soon as the row's last
/// token is sampled (rows that finish early first, the rest at the last
/// step): `partial` holds the row's final tokens, log-probs and mask at
/// `partial.tokens[row * stride ...]` (its `lengths[row]` and
/// `promptLengths[row]` are final; other rows may still grow). Streaming
/// consumers (runtime/ops/Streams.cpp) start scoring a row from here.
template <typename T>
using RowDone = std::function<void(int64_t row,
                                   const GenerationResult<T> &partial,
                                   int64_t stride)>;

template <typename T>
Expected<GenerationResult<T>>
generate(Transformer<T> &model,
         const std::vector<std::vector<int32_t>> &prompts,
         const SamplingConfig &cfg, const RowDone<T> &onRowDone = {});

/// Called for chunked generation (generateInChunks) as RowDone is for one
/// call: `row` is the row of the whole batch, `chunk` the partial result of
/// the chunk holding it, at `chunk.tokens[local * stride ...]`.
template <typename T>
using ChunkRowDone = std::function<void(int64_t row,
                                        const GenerationResult<T> &chunk,
                                        int64_t local, int64_t stride)>;

/// generate() over the prompts `rowsPerChunk` rows at a time (rounded down
/// to whole prompts, at least one), each chunk a call of its own with its
/// KV cache and decode workspace sized for its rows (hone-plan-memory's
/// generation batch, `micro_batch` on hone.generate). A chunk's rows draw
/// the Philox samples they draw in one call over every row (its
/// sampleBase is offset by the rows before it), and decode's kernels give a
/// row the same bits at any row count; so the result equals generate()'s
/// wherever the prefill's GEMMs are row-invariant at both row counts
/// (Generate.ChunkedEqualsWhole). rowsPerChunk <= 0 or >= every row: one
/// call. The result's seqLen is the longest row's, as generate()'s.
template <typename T>
Expected<GenerationResult<T>>
generateInChunks(Transformer<T> &model,
                 const std::vector<std::vector<int32_t>> &prompts,
                 const SamplingConfig &cfg, int64_t rowsPerChunk,
                 const ChunkRowDone<T> &onRowDone = {});

} // namespace hone
