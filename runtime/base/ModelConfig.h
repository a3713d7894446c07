// The architecture of a decoder-only transformer, shared by the runtime, the
// checkpoint formats and (mirrored as an attribute) the compiler's model type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hone {

enum class ModelFamily : uint8_t {
  GPT2,  // LayerNorm, GELU, learned positions, biases everywhere
  Llama, // RMSNorm, RoPE, SwiGLU, grouped-query attention (Llama/Qwen2)
};

/// Each family's keyword (#hone.arch's `family` in the IR and the runtime
/// ABI; the spec's Architecture.Family): one list, checked against the
/// dialect's and the spec's enums by test/unit/dialect/ContractTest.cpp.
struct ModelFamilyKeyword {
  ModelFamily family;
  const char *keyword;
};
inline constexpr ModelFamilyKeyword kModelFamilies[] = {
    {ModelFamily::GPT2, "gpt2"}, {ModelFamily::Llama, "llama"}};

inline const char *familyKeyword(ModelFamily f) {
  for (const ModelFamilyKeyword &k : kModelFamilies)
    if (k.family == f)
      return k.keyword;
  return "?";
}
inline std::optional<ModelFamily> familyFromKeyword(std::string_view s) {
  for (const ModelFamilyKeyword &k : kModelFamilies)
    if (s == k.keyword)
      return k.family;
  return std::nullopt;
}

/// What a model's head computes on top of the final hidden state.
enum class HeadKind : uint8_t {
  LM,     // tied or untied vocabulary projection
  Scalar, // one value per position (reward models read the last token)
};

struct ModelConfig {
  ModelFamily family = ModelFamily::Llama;
  int64_t vocabSize = 0;
  int64_t dModel = 0;
  int64_t nLayers = 0;
  int64_t nHeads = 0;
  int64_t nKvHeads = 0; // == nHeads for GPT-2
  int64_t dFf = 0;      // hidden size of the MLP
  int64_t maxSeqLen = 0;
  double normEps = 1e-5;
  double ropeTheta = 10000.0; // Llama family only
  bool tieEmbeddings = true;
  bool qkvBias = false; // Qwen2: true; GPT-2 always has biases
  HeadKind head = HeadKind::LM;
  bool qkNorm = false;  // Qwen3: RMSNorm per head on queries and keys
  /// Dimension of one attention head; 0 means dModel / nHeads (Qwen3 and
  /// newer Llama/Mistral configs may set another, Llama family only).
  int64_t headDimension = 0;
  /// RoPE scaling (Hugging Face `rope_scaling`, Llama family only): None,
  /// "linear" (frequencies / ropeFactor) or "llama3" (Llama 3.1).
  enum class RopeScaling : uint8_t { None, Linear, Llama3 };
  RopeScaling ropeScaling = RopeScaling::None;
  double ropeFactor = 1.0;
  double ropeLowFreqFactor = 1.0;  // llama3 only
  double ropeHighFreqFactor = 4.0; // llama3 only
  int64_t ropeOriginalMaxPos = 8192; // llama3 only

  int64_t headDim() const {
    return headDimension ? headDimension : nHeads ? dModel / nHeads : 0;
  }
};

} // namespace hone
