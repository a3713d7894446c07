//===- HoneAttrs.cpp - hone enums and attributes --------------------------===//

#include "dialect/HoneAttrs.h"
#include "dialect/HoneDialect.h"
#include "dialect/RangeVerifier.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace mlir::hone;

#include "dialect/HoneEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/HoneAttrs.cpp.inc"

FailureOr<llvm::APFloat> mlir::hone::parseF64Param(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return llvm::APFloat(value);
}

void mlir::hone::printF64Param(AsmPrinter &printer,
                               const llvm::APFloat &value) {
  double d = value.convertToDouble();
  char buf[40];
  // MLIR float literals need a '.', so use %e, which always has one.
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision, d);
    if (std::strtod(buf, nullptr) == d)
      break;
  }
  printer << buf;
}

/// A keyword of one of the runtime's enum tables (runtime/base/ModelConfig.h).
template <typename E, size_t N>
static FailureOr<E>
parseRuntimeKeyword(AsmParser &parser, const ::hone::EnumKeyword<E> (&table)[N],
                    StringRef what) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  if (std::optional<E> value = ::hone::enumFromKeyword(table, keyword))
    return *value;
  InFlightDiagnostic diag = parser.emitError(loc)
                            << "unknown " << what << " '" << keyword
                            << "', expected one of:";
  for (size_t k = 0; k < N; ++k)
    diag << (k ? ", " : " ") << table[k].keyword;
  return failure();
}

FailureOr<::hone::ModelFamily> mlir::hone::parseModelFamily(AsmParser &parser) {
  return parseRuntimeKeyword(parser, ::hone::kModelFamilies, "model family");
}

FailureOr<::hone::RopeScaling> mlir::hone::parseRopeScaling(AsmParser &parser) {
  return parseRuntimeKeyword(parser, ::hone::kRopeScalings, "rope_scaling");
}

LogicalResult
ArchAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                 ::hone::ModelFamily family, int64_t vocab, int64_t dModel,
                 int64_t layers, int64_t heads, int64_t kvHeads, int64_t ffn,
                 int64_t maxSeq, llvm::APFloat normEpsAttr,
                 llvm::APFloat ropeThetaAttr, bool tied, bool qkvBias,
                 int64_t headDim, bool qkNorm, ::hone::RopeScaling ropeScaling,
                 llvm::APFloat ropeFactorAttr, llvm::APFloat ropeLowAttr,
                 llvm::APFloat ropeHighAttr, int64_t ropeOriginalMax) {
  double normEps = normEpsAttr.convertToDouble();
  double ropeTheta = ropeThetaAttr.convertToDouble();
  if (failed(RangeCheck(emitError, "arch")
                 .rule("vocab", double(vocab))
                 .rule("d_model", double(dModel))
                 .rule("layers", double(layers))
                 .rule("heads", double(heads))
                 .rule("kv_heads", double(kvHeads))
                 .rule("ffn", double(ffn))
                 .rule("max_seq", double(maxSeq))
                 .rule("norm_eps", normEps)
                 .result()))
    return failure();
  if (headDim < 0)
    return emitError() << "head_dim must be positive (or 0: d_model / heads), "
                          "got "
                       << headDim;
  if (!headDim && dModel % heads != 0)
    return emitError() << "heads (" << heads << ") must divide d_model ("
                       << dModel << ")";
  if (heads % kvHeads != 0)
    return emitError() << "kv_heads (" << kvHeads << ") must divide heads ("
                       << heads << ")";
  if (family == ::hone::ModelFamily::GPT2) {
    if (kvHeads != heads)
      return emitError() << "gpt2 has no grouped-query attention: kv_heads ("
                         << kvHeads << ") must equal heads (" << heads << ")";
    if (qkvBias)
      return emitError()
             << "qkv_bias is a llama-family option; gpt2 always has biases";
    if (headDim || qkNorm || ropeScaling != ::hone::RopeScaling::None)
      return emitError() << "head_dim, qk_norm and rope_scaling are "
                            "llama-family options";
  } else {
    int64_t hd = headDim ? headDim : dModel / heads;
    if (hd % 2 != 0)
      return emitError() << "rotary embeddings need an even head dimension, "
                            "got "
                         << hd;
    if (qkNorm && qkvBias)
      return emitError() << "qk_norm (Qwen3) with qkv_bias matches no "
                            "supported family";
    double factor = ropeFactorAttr.convertToDouble();
    double low = ropeLowAttr.convertToDouble();
    double high = ropeHighAttr.convertToDouble();
    if (ropeScaling != ::hone::RopeScaling::None && !(factor > 0.0))
      return emitError() << "rope_factor must be positive, got " << factor;
    if (ropeScaling == ::hone::RopeScaling::Llama3 &&
        !(low > 0.0 && high > low && ropeOriginalMax > 0))
      return emitError() << "llama3 rope scaling needs 0 < rope_low_freq < "
                            "rope_high_freq and a positive rope_original_max";
    if (!(ropeTheta > 0.0))
      return emitError() << "rope_theta must be positive, got " << ropeTheta;
  }
  return success();
}

/// Saturates at INT64_MAX: the same sum is formed in double first, and when
/// it stays below 2^62 every (non-negative) term of the int64 sum does too.
int64_t ArchAttr::getNumParameters() const {
  auto count = [&](auto zero) {
    using T = decltype(zero);
    T d = T(getDModel()), f = T(getFfn()), v = T(getVocab());
    T kvDim = T(getKvHeads()) * T(getHeadDimension());
    T qDim = T(getHeads()) * T(getHeadDimension());
    T perLayer, extra;
    if (getFamily() == ::hone::ModelFamily::GPT2) {
      // ln1, qkv, proj, ln2, fc, fc_proj (weights and biases).
      perLayer = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d +
                 (d * f + f) + (f * d + d);
      extra = T(getMaxSeq()) * d + 2 * d; // positions, final LayerNorm
    } else {
      perLayer = d + d * qDim + 2 * d * kvDim + qDim * d + d + 3 * d * f;
      if (getQkvBias())
        perLayer += qDim + 2 * kvDim;
      if (getQkNorm())
        perLayer += 2 * T(getHeadDimension());
      extra = d; // final RMSNorm
    }
    T embeddings = v * d * T(getTied() ? 1 : 2);
    return embeddings + extra + T(getLayers()) * perLayer;
  };
  if (!(count(0.0) < 0x1p62))
    return std::numeric_limits<int64_t>::max();
  return count(int64_t(0));
}

void HoneDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/HoneAttrs.cpp.inc"
      >();
}
