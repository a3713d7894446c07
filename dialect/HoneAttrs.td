//===- HoneAttrs.td - hone enums and attributes ------------*- tablegen -*-===//

#ifndef HONE_ATTRS_TD
#define HONE_ATTRS_TD

include "dialect/HoneDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Hone_DataLayout : I32EnumAttr<"ColumnLayout", "column layout of a dataset", [
    I32EnumAttrCase<"text", 0>,                // {"text"}
    I32EnumAttrCase<"messages", 1>,            // {"messages": [{role, content}]}
    I32EnumAttrCase<"prompt_completion", 2>,   // {"prompt", "completion"}
    I32EnumAttrCase<"preference", 3>,          // {"prompt", "chosen", "rejected"}
    I32EnumAttrCase<"unpaired_preference", 4>, // {"prompt", "completion", "label"}
    I32EnumAttrCase<"prompt_answer", 5>,       // {"prompt", "answer"} for verifiers
    I32EnumAttrCase<"prompt_only", 6>,         // {"prompt"} (learned/external rewards)
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_SftVariant : I32EnumAttr<"SftVariant", "supervised fine-tuning objective", [
    I32EnumAttrCase<"plain", 0>, // -Σ m·l / Σ m
    I32EnumAttrCase<"dft", 1>,   // -Σ m·sg(p)·l / Σ m
    I32EnumAttrCase<"iw", 2>,    // importance-weighted against a reference
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_PreferenceLoss : I32EnumAttr<"PreferenceLoss", "preference objective", [
    I32EnumAttrCase<"dpo", 0>, I32EnumAttrCase<"ipo", 1>, I32EnumAttrCase<"kto", 2>,
    I32EnumAttrCase<"orpo", 3>, I32EnumAttrCase<"simpo", 4>,
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_RlAlgorithm : I32EnumAttr<"RlAlgorithm", "online RL algorithm", [
    I32EnumAttrCase<"ppo", 0>, I32EnumAttrCase<"grpo", 1>,
    I32EnumAttrCase<"dr_grpo", 2>, I32EnumAttrCase<"dapo", 3>,
    I32EnumAttrCase<"rloo", 4>, I32EnumAttrCase<"reinforce_pp", 5>,
    I32EnumAttrCase<"remax", 6>,
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_Hybrid : I32EnumAttr<"Hybrid", "how demonstrations enter an RL stage", [
    I32EnumAttrCase<"chord", 0>,  // (1-μ)·L_RL + μ·L_SFT, μ on a schedule
    I32EnumAttrCase<"srft", 1>,   // entropy-weighted SFT + RL in one step
    I32EnumAttrCase<"luffy", 2>,  // off-policy traces in each group, p/(p+γ)
    I32EnumAttrCase<"relift", 3>, // SFT on a buffer of prompts RL fails
    I32EnumAttrCase<"hpt", 4>,    // per prompt: RL if accuracy > γ, else SFT
    I32EnumAttrCase<"uft", 5>,    // prompts extended by an annealed hint
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_VerifierKind : I32EnumAttr<"VerifierKind", "built-in reward verifier", [
    I32EnumAttrCase<"exact_match", 0>,   // completion == reference answer
    I32EnumAttrCase<"numeric_match", 1>, // |number − answer| ≤ tolerance
    I32EnumAttrCase<"regex", 2>,         // completion matches `pattern`
    I32EnumAttrCase<"format", 3>,        // completion follows a template
    I32EnumAttrCase<"length", 4>,        // length shaping (DAPO overlong)
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

// Enum attributes: `#hone<sft_variant dft>` on their own; inside op formats
// they go through custom<Keyword> and print as the bare keyword (`hone.sft dft`).
class Hone_EnumAttr<EnumAttrInfo info, string name>
    : EnumAttr<Hone_Dialect, info, name>;
def Hone_SftVariantAttr : Hone_EnumAttr<Hone_SftVariant, "sft_variant">;
def Hone_PreferenceLossAttr : Hone_EnumAttr<Hone_PreferenceLoss, "preference_loss">;
def Hone_RlAlgorithmAttr : Hone_EnumAttr<Hone_RlAlgorithm, "rl_algorithm">;
def Hone_HybridAttr : Hone_EnumAttr<Hone_Hybrid, "hybrid">;
def Hone_VerifierKindAttr : Hone_EnumAttr<Hone_VerifierKind, "verifier_kind">;

//===----------------------------------------------------------------------===//
// Architecture
//===----------------------------------------------------------------------===//

class Hone_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Hone_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

// A double-precision float, printed as a float literal. No default: the
// frontend's table (frontend/Defaults.cpp) fills every parameter.
class Hone_F64Param<string desc>
    : AttrParameter<"::llvm::APFloat", desc> {
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
  let parser = "::mlir::hone::parseF64Param($_parser)";
  let printer = "::mlir::hone::printF64Param($_printer, $_self)";
}

// The runtime's enums of a model's configuration (runtime/base/ModelConfig.h:
// HONE_MODEL_FAMILIES, HONE_ROPE_SCALINGS), not second ones: parsed and
// printed by their keywords from the runtime's tables, as EnumParameter does
// for a TableGen enum.
def Hone_ModelFamilyParam
    : AttrParameter<"::hone::ModelFamily",
                    "transformer family (runtime/base/ModelConfig.h)"> {
  let parser = "::mlir::hone::parseModelFamily($_parser)";
  let printer = "$_printer << ::hone::keywordOf(::hone::kModelFamilies, $_self)";
}
def Hone_RopeScalingParam
    : AttrParameter<"::hone::RopeScaling",
                    "RoPE scaling (runtime/base/ModelConfig.h)"> {
  let parser = "::mlir::hone::parseRopeScaling($_parser)";
  let printer = "$_printer << ::hone::keywordOf(::hone::kRopeScalings, $_self)";
}

def Hone_ArchAttr : Hone_Attr<"Arch", "arch"> {
  let summary = "architecture of a decoder-only transformer";
  let description = [{
    Every size the runtime needs to lay out a model's weights, so that the
    memory plan and the checks that sizes agree happen at compile time.
    `family` selects GPT-2 (LayerNorm, GELU, learned positions; `kv_heads`
    must equal `heads`) or the Llama/Qwen2 family (RMSNorm, RoPE, SwiGLU,
    grouped-query attention, optional `qkv_bias`). Llama-family options:
    `head_dim` (0: d_model / heads; Qwen3 sets another), `qk_norm` (Qwen3's
    per-head RMSNorm on queries and keys) and RoPE scaling (`rope_scaling`
    linear or llama3 with `rope_factor`, `rope_low_freq`, `rope_high_freq`,
    `rope_original_max`, as Hugging Face's `rope_scaling`).

    ```mlir
    #hone.arch<llama, vocab = 32, d_model = 64, layers = 2, heads = 4,
               kv_heads = 2, ffn = 128, max_seq = 64, rope_theta = 1.0e+04>
    #hone.arch<llama, vocab = 32, d_model = 64, layers = 2, heads = 4,
               kv_heads = 2, ffn = 128, max_seq = 64, head_dim = 32,
               qk_norm = true>
    ```
  }];
  let parameters = (ins
    Hone_ModelFamilyParam:$family,
    "int64_t":$vocab,
    "int64_t":$d_model,
    "int64_t":$layers,
    "int64_t":$heads,
    "int64_t":$kv_heads,
    "int64_t":$ffn,
    "int64_t":$max_seq,
    Hone_F64Param<"normalisation epsilon">:$norm_eps,
    Hone_F64Param<"RoPE base (llama family)">:$rope_theta,
    AttrParameter<"bool", "tied input/output embeddings">:$tied,
    AttrParameter<"bool", "bias on q/k/v (Qwen2)">:$qkv_bias,
    AttrParameter<"int64_t", "head dimension (0: d_model / heads)">:$head_dim,
    AttrParameter<"bool", "per-head q/k RMSNorm (Qwen3)">:$qk_norm,
    Hone_RopeScalingParam:$rope_scaling,
    Hone_F64Param<"RoPE scaling factor">:$rope_factor,
    Hone_F64Param<"llama3 low_freq_factor">:$rope_low_freq,
    Hone_F64Param<"llama3 high_freq_factor">:$rope_high_freq,
    AttrParameter<"int64_t", "llama3 original_max_position_embeddings">:$rope_original_max
  );
  let assemblyFormat = [{
    `<` $family `,` struct($vocab, $d_model, $layers, $heads, $kv_heads, $ffn,
                         $max_seq, $norm_eps, $rope_theta, $tied, $qkv_bias,
                         $head_dim, $qk_norm, $rope_scaling, $rope_factor,
                         $rope_low_freq, $rope_high_freq,
                         $rope_original_max) `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The head dimension in effect (`head_dim`, or d_model / heads).
    int64_t getHeadDimension() const {
      return getHeadDim() ? getHeadDim() : getDModel() / getHeads();
    }
    double getRopeFactorValue() const { return getRopeFactor().convertToDouble(); }
    double getNormEpsValue() const { return getNormEps().convertToDouble(); }
    double getRopeThetaValue() const { return getRopeTheta().convertToDouble(); }
    /// Number of trainable parameters (LM head included when untied).
    int64_t getNumParameters() const;
  }];
}

#endif // HONE_ATTRS_TD
