// The architecture of a decoder-only transformer, shared by the runtime, the
// checkpoint formats and the compiler, whose #hone.arch attribute and
// !hone.model type hold the enums defined here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hone {

/// An enumerator and the keyword that spells it outside C++: in the IR, in
/// the runtime ABI's JSON and in the spec.
template <typename E> struct EnumKeyword {
  E value;
  const char *keyword;
};

/// The keyword of `v` in `table` ("?" when missing).
template <typename E, size_t N>
constexpr const char *keywordOf(const EnumKeyword<E> (&table)[N], E v) {
  for (const EnumKeyword<E> &k : table)
    if (k.value == v)
      return k.keyword;
  return "?";
}

/// The enumerator `s` spells in `table`, if any.
template <typename E, size_t N>
std::optional<E> enumFromKeyword(const EnumKeyword<E> (&table)[N],
                                 std::string_view s) {
  for (const EnumKeyword<E> &k : table)
    if (s == k.keyword)
      return k.value;
  return std::nullopt;
}

// The enums of a model's configuration, one definition each: a row
// X(enumerator, keyword) per value, from which the enum and its keyword
// table are built. The compiler's #hone.arch and !hone.model hold these
// enums as parameters, spelt by the keywords (dialect/HoneAttrs.td,
// dialect/HoneTypes.td), as does the runtime ABI's JSON; the spec's
// protobuf enums have the same names (test/unit/dialect/ContractTest.cpp).

/// The transformer families.
#define HONE_MODEL_FAMILIES(X)                                                 \
  /* LayerNorm, GELU, learned positions, biases everywhere */                  \
  X(GPT2, "gpt2")                                                              \
  /* RMSNorm, RoPE, SwiGLU, grouped-query attention (Llama/Qwen2) */           \
  X(Llama, "llama")

/// What a model's head computes on top of the final hidden state.
#define HONE_HEAD_KINDS(X)                                                     \
  /* tied or untied vocabulary projection */                                   \
  X(LM, "lm")                                                                  \
  /* one value per position (reward models read the last token) */             \
  X(Scalar, "scalar")

/// RoPE scaling (Hugging Face `rope_scaling`, Llama family only): none,
/// linear (frequencies / ropeFactor) or llama3 (Llama 3.1's three bands).
#define HONE_ROPE_SCALINGS(X)                                                  \
  X(None, "none")                                                              \
  X(Linear, "linear")                                                          \
  X(Llama3, "llama3")

#define HONE_ENUMERATOR(enumerator, keyword) enumerator,
enum class ModelFamily : uint8_t { HONE_MODEL_FAMILIES(HONE_ENUMERATOR) };
enum class HeadKind : uint8_t { HONE_HEAD_KINDS(HONE_ENUMERATOR) };
enum class RopeScaling : uint8_t { HONE_ROPE_SCALINGS(HONE_ENUMERATOR) };
#undef HONE_ENUMERATOR

#define HONE_KEYWORD(enumerator, keyword) {ModelFamily::enumerator, keyword},
inline constexpr EnumKeyword<ModelFamily> kModelFamilies[] = {
    HONE_MODEL_FAMILIES(HONE_KEYWORD)};
#undef HONE_KEYWORD
#define HONE_KEYWORD(enumerator, keyword) {HeadKind::enumerator, keyword},
inline constexpr EnumKeyword<HeadKind> kHeadKinds[] = {
    HONE_HEAD_KINDS(HONE_KEYWORD)};
#undef HONE_KEYWORD
#define HONE_KEYWORD(enumerator, keyword) {RopeScaling::enumerator, keyword},
inline constexpr EnumKeyword<RopeScaling> kRopeScalings[] = {
    HONE_ROPE_SCALINGS(HONE_KEYWORD)};
#undef HONE_KEYWORD

inline const char *familyKeyword(ModelFamily f) {
  return keywordOf(kModelFamilies, f);
}
inline std::optional<ModelFamily> familyFromKeyword(std::string_view s) {
  return enumFromKeyword(kModelFamilies, s);
}

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
  bool qkNorm = false; // Qwen3: RMSNorm per head on queries and keys
  /// Dimension of one attention head; 0 means dModel / nHeads (Qwen3 and
  /// newer Llama/Mistral configs may set another, Llama family only).
  int64_t headDimension = 0;
  /// RoPE scaling (HONE_ROPE_SCALINGS above).
  using RopeScaling = hone::RopeScaling;
  RopeScaling ropeScaling = RopeScaling::None;
  double ropeFactor = 1.0;
  double ropeLowFreqFactor = 1.0;    // llama3 only
  double ropeHighFreqFactor = 4.0;   // llama3 only
  int64_t ropeOriginalMaxPos = 8192; // llama3 only

  int64_t headDim() const {
    return headDimension ? headDimension : nHeads ? dModel / nHeads : 0;
  }
};

} // namespace hone
