// Bytes the runtime allocates for a model and its work, as functions of the
// architecture and the shapes. The compiler's memory plan (hone-plan-memory)
// links this library and sizes every buffer with it; the runtime's own
// allocations (Transformer, generate(), the CPU kernels) are checked against
// it by test/unit/model/MemorySizesTest.cpp and, at run time, by the job's
// memory check. Plain C++: no MLIR, no kernels.
#pragma once

#include "runtime/base/ModelConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace hone::memsize {

/// LoRA adapters as Transformer::addLora lays them out: the rank and the
/// targeted Hugging Face module names (LoraConfig's rank and targets), and
/// whether dropout is on (LoraConfig's dropout > 0: the activations then
/// hold one dropped-out adapter input as scratch).
struct LoraShape {
  int64_t rank = 0;
  std::vector<std::string> targets;
  bool dropout = false;
  bool any() const { return rank > 0 && !targets.empty(); }
};

/// Sizes saturate at 64 PiB (absurd shapes never wrap).
/// Bytes of one device allocation of `bytes` (the CPU backend rounds every
/// allocation up to 64 bytes).
int64_t allocation(int64_t bytes);

/// Elements of the model's flat parameter buffer (heads included, each
/// tensor padded to 64 bytes of `elemBytes` elements): what
/// Transformer<T>::numParams() returns for sizeof(T) == elemBytes.
int64_t parameters(const ModelConfig &cfg, int64_t elemBytes);
/// Weights or gradients: one flat array of parameters() elements.
int64_t parameterBytes(const ModelConfig &cfg, int64_t elemBytes);
/// A frozen model stored in bf16 (Transformer::createFrozenBf16): its
/// matrices as bf16 in a buffer of parameters(cfg, 4) elements, its norm
/// gains and biases in fp32 (each group padded to 64 bytes); no gradients.
int64_t frozenBf16Bytes(const ModelConfig &cfg);
/// AdamW's first and second moments.
int64_t optimizerBytes(const ModelConfig &cfg, int64_t elemBytes);

/// A packed (padding-free) batch's size: its tokens (sum of the rows'
/// lengths, the stream's rows) and the sum of their squares (attention
/// probabilities per head: each row's len x len).
struct PackedRows {
  int64_t tokens = 0;
  int64_t squares = 0;
};
PackedRows packedRows(const int32_t *lengths, int64_t batch);

/// Activations and scratch one forward()+backward() of a batch x seqLen
/// micro-batch keeps (Transformer::workspaceBytes).
/// With adapters (`lora`, not null), their per-layer products and the
/// backward's x A^T scratch too, and with dropout the dropped-out input of
/// the widest targeted module's group. With `packed` (not null), for the
/// batch run packed: packed->tokens rows, nHeads * packed->squares
/// attention probabilities; the per-token outputs keep batch x seqLen.
/// `recomputeLayers`: the model's Transformer::setRecomputeLayers (layers
/// 0..r-1 share one layer's working buffers; clamped to [0, layers]).
/// `keepLogits`: a training forward of an LM-head model with
/// Transformer::setKeepLogits, which also keeps its logits (rows x vocab,
/// keptLogitsBytes); ignored for a scalar head.
int64_t activationBytes(const ModelConfig &cfg, int64_t batch, int64_t seqLen,
                        int64_t elemBytes, const LoraShape *lora = nullptr,
                        const PackedRows *packed = nullptr,
                        int64_t recomputeLayers = 0, bool keepLogits = false);
/// The part of activationBytes that keepLogits adds for `rows` rows of the
/// stream (batch x seqLen padded, PackedRows::tokens packed).
int64_t keptLogitsBytes(const ModelConfig &cfg, int64_t rows,
                        int64_t elemBytes);

/// The KV cache generate() keeps for `rows` sequences of cacheLen tokens.
int64_t kvCacheBytes(const ModelConfig &cfg, int64_t rows, int64_t cacheLen,
                     int64_t elemBytes);
/// The incremental-forward workspace generate() leaves allocated after a
/// call: `prompts` prompts of promptLen tokens prefilled, then decoded as
/// `rows` sequences (prompts x samples).
int64_t decodeWorkspaceBytes(const ModelConfig &cfg, int64_t prompts,
                             int64_t promptLen, int64_t rows, int64_t elemBytes,
                             const LoraShape *lora = nullptr);
/// generate()'s transient buffers during a call: last hidden states and
/// logits of every row, and the decode steps' packed weights.
int64_t generateTransientBytes(const ModelConfig &cfg, int64_t rows,
                               int64_t elemBytes);

/// The CPU kernels' LM-head scratch for a forward or backward over `rows`
/// rows (vocabulary-chunked logits; the plan's lm_head_scratch slot, which
/// the job hands the kernels: setCpuLmHeadScratch).
int64_t lmHeadScratchBytes(int64_t rows, int64_t vocab, int64_t elemBytes);

// The runtime's own memory (memsize::runtimeBytes, laneRuntimeBytes):
// runtime/model/RuntimeSizes.h.


/// Elements of a model's adapter buffer (Transformer::numTrainable() of a
/// LoRA model): A [rank, in] and B [out, rank] of every targeted
/// projection, each layer's group (q/k/v, o, gate/up, down) padded to 64
/// bytes.
int64_t loraParameters(const ModelConfig &cfg, const LoraShape &lora,
                       int64_t elemBytes);
/// What a LoRA model (hone.model.lora, or the snapshot of one) allocates
/// beside the base it shares: adapter weights, their gradients and the
/// frozen norm gains' gradient scratch.
int64_t loraBytes(const ModelConfig &cfg, const LoraShape &lora,
                  int64_t elemBytes);
/// AdamW's moments of a LoRA model: adapter-sized.
int64_t loraOptimizerBytes(const ModelConfig &cfg, const LoraShape &lora,
                           int64_t elemBytes);

} // namespace hone::memsize
