//===- HoneTypes.td - hone types ---------------------------*- tablegen -*-===//

#ifndef HONE_TYPES_TD
#define HONE_TYPES_TD

include "dialect/HoneAttrs.td"

class Hone_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Hone_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def Hone_ModelType : Hone_Type<"Model", "model"> {
  let summary = "the state of a model: weights (and, while training, optimiser moments)";
  let description = [{
    A model state with its architecture and head. Stages consume one and
    yield a new one; a model that is never consumed again is frozen.

    ```mlir
    !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 128, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    !hone.model<#hone.arch<...>, scalar>   // a reward or value model
    ```
  }];
  let parameters = (ins
    "ArchAttr":$arch,
    // The runtime's enum (runtime/base/ModelConfig.h, HONE_HEAD_KINDS).
    DefaultValuedParameter<"::hone::HeadKind", "::hone::HeadKind::LM",
                           "head (runtime/base/ModelConfig.h)">:$head
  );
  // Hand-written so that an invalid #hone.arch reports only its own error.
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    bool hasLMHead() const { return getHead() == ::hone::HeadKind::LM; }
    /// The same architecture with another head.
    ModelType withHead(::hone::HeadKind head) const {
      return ModelType::get(getContext(), getArch(), head);
    }
  }];
}

def Hone_DatasetType : Hone_Type<"Dataset", "dataset"> {
  let summary = "a dataset of JSONL records in one column layout";
  let description = [{
    ```mlir
    !hone.dataset<preference>   // {"prompt", "chosen", "rejected"}
    ```
  }];
  let parameters = (ins EnumParameter<Hone_DataLayout>:$layout);
  let assemblyFormat = "`<` $layout `>`";
  let extraClassDeclaration = [{
    /// Records carry a prompt that a policy can complete.
    bool hasPrompts() const;
    /// Records carry a target completion (usable for SFT).
    bool hasCompletions() const;
  }];
}

def Hone_RewardType : Hone_Type<"Reward", "reward"> {
  let summary = "a scoring function for completions";
  let description = [{
    A verifier, a learned reward model or an external process, possibly
    combined: `!hone.reward`.
  }];
}

#endif // HONE_TYPES_TD
