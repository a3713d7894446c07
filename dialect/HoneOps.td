//===- HoneOps.td - hone stage-level ops -------------------*- tablegen -*-===//
//
// The stage level: one op per training stage on SSA model states.
//
//===----------------------------------------------------------------------===//

#ifndef HONE_OPS_TD
#define HONE_OPS_TD

include "dialect/HoneTypes.td"
include "dialect/HoneSettings.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

//===----------------------------------------------------------------------===//
// Pipeline
//===----------------------------------------------------------------------===//

def Hone_PipelineOp : Hone_Op<"pipeline", [
    Symbol, SingleBlock, NoTerminator, IsolatedFromAbove]> {
  let summary = "a whole post-training pipeline";
  let description = [{
    Holds the pipeline's models, datasets, rewards and stages in program
    order. `run` carries the run-wide settings the job reads (seed, output
    directory, tokenizer, hardware, checkpointing) as a `#hone.run`; stage
    settings are typed attributes of the stage ops (both in
    dialect/HoneSettings.td). `run` may be left out of IR that is not
    compiled to a job. C++: `getRun()` returns a `RunAttr` (null when
    absent).

    ```mlir
    hone.pipeline @toy {
      %m = hone.model.init "m" {seed = 1 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
      hone.save %m "init" : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, OptionalAttr<Hone_RunAttr>:$run);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let builders = [
    OpBuilder<(ins "::llvm::StringRef":$name), [{
      build($_builder, $_state, $_builder.getStringAttr(name), nullptr);
      $_state.regions.front()->emplaceBlock();
    }]>
  ];
}

//===----------------------------------------------------------------------===//
// Models, data and rewards
//===----------------------------------------------------------------------===//

def Hone_ModelInitOp : Hone_Op<"model.init", [Pure, DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
  let summary = "a freshly initialised model";
  let description = [{
    Weights drawn from the counter-based RNG keyed by `seed`, so the same
    seed gives the same model on every backend. `name` is the spec's model
    name (reports, remarks and `hone.models` annotations use it; see
    `modelName()` in dialect/HoneOps.h).

    ```mlir
    %policy = hone.model.init "policy" {seed = 7 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    ```
  }];
  let arguments = (ins StrAttr:$name, I64Attr:$seed);
  let results = (outs Hone_ModelType:$model);
  let assemblyFormat = "$name attr-dict `:` qualified(type($model))";
}

def Hone_ModelLoadOp : Hone_Op<"model.load", [Pure, DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
  let summary = "a model loaded from a Hugging Face model directory";
  let description = [{
    Reads `config.json` and `model.safetensors` (or a sharded index) from
    `path` (absolute as the frontend resolves it, or relative to the job's
    working directory). Loading is treated as pure: two loads of the
    same directory are the same model, so CSE removes a reload.

    ```mlir
    %base = hone.model.load "base" from "models/base" : !hone.model<#hone.arch<llama, vocab = 32, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 128, max_seq = 64, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    ```
  }];
  let arguments = (ins StrAttr:$name, StrAttr:$path);
  let results = (outs Hone_ModelType:$model);
  let assemblyFormat = "$name `from` $path attr-dict `:` qualified(type($model))";
}

def Hone_ModelNewHeadOp : Hone_Op<"model.new_head", [Pure, DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
  let summary = "the same transformer body with a freshly initialised head";
  let description = [{
    How a critic or reward model starts from a policy: the body is copied
    and a new head of the result's kind is initialised from `seed`.

    ```mlir
    %critic = hone.model.new_head "critic" %policy {seed = 3 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>> -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
    ```
  }];
  let arguments = (ins StrAttr:$name, Hone_ModelType:$base,
                       I64Attr:$seed);
  let results = (outs Hone_ModelType:$model);
  let assemblyFormat =
      "$name $base attr-dict `:` qualified(type($base)) `->` qualified(type($model))";
  let hasVerifier = 1;
}

// Not Pure: two stages that put adapters on the same base train two
// distinct adapter sets, which CSE must not merge into one.
def Hone_ModelLoraOp : Hone_Op<"model.lora", [DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
  let summary = "LoRA adapters on a frozen model";
  let description = [{
    A model that computes `W x + (alpha / rank) B A x` in the targeted
    projections of `base`, whose weights it reads without copying and never
    changes: a stage that trains the result trains A and B only (gradients
    and AdamW moments for them alone), so `base` stays valid as the frozen
    reference of that stage. A starts as PEFT's default (uniform in
    ±1/sqrt(in), drawn from `seed`), B at zero. Llama family with an LM head.
    Saves write PEFT's `adapter_model.safetensors` and `adapter_config.json`.

    ```mlir
    %lora = hone.model.lora "policy" %policy {lora = #hone.lora<rank = 8, alpha = 16.0, dropout = 0.0, target_modules = ["q_proj", "v_proj"], merge_on_save = false>, seed = 42 : i64} : !hone.model<#hone.arch<llama, vocab = 32, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 128, max_seq = 64, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>> -> !hone.model<#hone.arch<llama, vocab = 32, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 128, max_seq = 64, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    ```
  }];
  let arguments = (ins StrAttr:$name, Hone_ModelType:$base,
                       Hone_LoraAttr:$lora, I64Attr:$seed);
  let results = (outs Hone_ModelType:$model);
  let assemblyFormat =
      "$name $base attr-dict `:` qualified(type($base)) `->` qualified(type($model))";
  let hasVerifier = 1;
}

def Hone_DatasetOp : Hone_Op<"dataset", [Pure]> {
  let summary = "a JSONL dataset in a known column layout";
  let description = [{
    `path` (and the optional `eval_path` split) are as the frontend resolved
    them: absolute, or relative to the directory the job runs in (the
    frontend turns the spec's paths, relative to the spec, into absolute
    ones). `settings` (`#hone.dataset_settings`, dialect/HoneSettings.td)
    holds the file's column names, the held-out fraction, the shuffle and
    its seed, and the record cap; IR that is not compiled to a job may leave
    it out, and the lowering to the runtime refuses a dataset without it.
    C++: `getSettings()` returns a `DatasetSettingsAttr` (null when absent).

    ```mlir
    %d = hone.dataset "data/pairs.jsonl" {settings = #hone.dataset_settings<columns = <...>, eval_fraction = 0.0, shuffle = true, shuffle_seed = 3, max_records = 0>} : !hone.dataset<preference>
    ```
  }];
  let arguments = (ins StrAttr:$path, OptionalAttr<StrAttr>:$eval_path,
                       OptionalAttr<Hone_DatasetSettingsAttr>:$settings);
  let results = (outs Hone_DatasetType:$data);
  let assemblyFormat = "$path attr-dict `:` qualified(type($data))";
}

def Hone_RewardVerifierOp : Hone_Op<"reward.verifier", [Pure]> {
  let summary = "a built-in, exact reward";
  let description = [{
    `exact_match` and `numeric_match` (within `tolerance`) compare the
    completion with the record's reference answer; `regex` and `format`
    reward a completion that matches `pattern`; `length` is DAPO's overlong
    shaping: 0 up to `max_length − cache_length` tokens, then a linear
    penalty down to −`penalty` at `max_length`. `settings` holds the rest of
    the spec's message, typed per kind (`#hone.exact_match`,
    `#hone.numeric_match`, `#hone.pattern_reward` for regex and format,
    `#hone.length_shaping`; dialect/HoneSettings.td); IR that is not
    compiled to a job may leave it out, and the lowering to the runtime
    refuses a verifier without it. C++: `getSettingsAttr()` returns an
    `Attribute` (null when absent); `dyn_cast` it to the kind's attribute.

    ```mlir
    %r = hone.reward.verifier numeric_match {tolerance = 1.0e-06 : f64, settings = #hone.numeric_match<extract = "", rel_tolerance = 0.0, correct = 1.0, incorrect = 0.0>} : !hone.reward
    %l = hone.reward.verifier length {cache_length = 4 : i64, max_length = 16 : i64, settings = #hone.length_shaping<penalty = 1.0>} : !hone.reward
    ```
  }];
  let arguments = (ins Hone_VerifierKindAttr:$kind,
                       OptionalAttr<StrAttr>:$pattern,
                       OptionalAttr<F64Attr>:$tolerance,
                       OptionalAttr<I64Attr>:$max_length,
                       OptionalAttr<I64Attr>:$cache_length,
                       OptionalAttr<Hone_VerifierSettingsAttr>:$settings);
  let results = (outs Hone_RewardType:$reward);
  let assemblyFormat = "custom<Keyword>($kind) attr-dict `:` qualified(type($reward))";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The verifier compares against a reference answer in the data.
    bool needsReferenceAnswer() {
      return getKind() == VerifierKind::exact_match ||
             getKind() == VerifierKind::numeric_match;
    }
  }];
}

def Hone_RewardModelOp : Hone_Op<"reward.model", [Pure]> {
  let summary = "a learned reward: a scalar-head model read at the last token";
  let description = [{
    ```mlir
    %r = hone.reward.model %rm : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model);
  let results = (outs Hone_RewardType:$reward);
  let assemblyFormat = "$model attr-dict `:` qualified(type($model))";
  let hasVerifier = 1;
}

def Hone_RewardExternalOp : Hone_Op<"reward.external", [Pure]> {
  let summary = "a reward computed by an external process over JSON lines";
  let description = [{
    Runs `command` (argv) once and keeps it: for each completion the runtime
    writes one JSON object (`prompt`, `completion`, the record's other
    fields) to its stdin and reads one JSON object `{"reward": x}` back.

    ```mlir
    %r = hone.reward.external ["python3", "score.py"] {timeout_s = 30.0 : f64} : !hone.reward
    ```
  }];
  let arguments = (ins StrArrayAttr:$command,
                       F64Attr:$timeout_s);
  let results = (outs Hone_RewardType:$reward);
  let assemblyFormat = "$command attr-dict `:` qualified(type($reward))";
  let hasVerifier = 1;
}

def Hone_RewardCombineOp : Hone_Op<"reward.combine", [Pure]> {
  let summary = "a weighted sum of rewards";
  let description = [{
    ```mlir
    %r = hone.reward.combine %correct, %overlong weights [1.0, 1.0] : !hone.reward
    ```
  }];
  let arguments = (ins Variadic<Hone_RewardType>:$inputs,
                       DenseF64ArrayAttr:$weights);
  let results = (outs Hone_RewardType:$reward);
  let assemblyFormat =
      "$inputs `weights` $weights attr-dict `:` qualified(type($reward))";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Stages
//===----------------------------------------------------------------------===//

// Stages write metrics and checkpoints: never dead, never reordered.
class Hone_StageOp<string mnemonic, list<Trait> traits = []>
    : Hone_Op<mnemonic, !listconcat(traits, [MemoryEffects<[MemWrite]>])> {
  // Settings are typed attributes (dialect/HoneSettings.td), complete
  // after the frontend; a stage's trained state is named by the
  // discardable `hone.output` the frontend sets (the spec's `output`).
  code commonStageDecls = [{}];
}

def Hone_SftOp : Hone_StageOp<"sft", [AllTypesMatch<["policy", "result"]>]> {
  let summary = "supervised fine-tuning on demonstrations";
  let description = [{
    `plain`: `−Σ m·l / Σ m`; `dft`: tokens weighted by `sg(p)`; `iw`:
    sequences weighted by `clip(exp(mean_t(l − l_ref)), 0, 16)`, which
    needs `ref`. Data: `text`, `messages`, `prompt_completion` or
    `prompt_answer` (loss on the completion only).

    ```mlir
    %1 = hone.sft plain %0, %d {batch_size = 8 : i64, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>, steps = 100 : i64} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>, !hone.dataset<prompt_completion>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    ```
  }];
  let arguments = (ins Hone_SftVariantAttr:$variant, Hone_ModelType:$policy,
                       Hone_DatasetType:$data, Optional<Hone_ModelType>:$ref,
                       I64Attr:$steps, I64Attr:$batch_size,
                       Hone_LoopAttr:$loop, Hone_OptimizerAttr:$optimizer,
                       Hone_SftSettingsAttr:$settings);
  let results = (outs Hone_ModelType:$result);
  let assemblyFormat = [{
    custom<Keyword>($variant) $policy `,` $data (`ref` $ref^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = commonStageDecls;
}

def Hone_RewardModelTrainOp : Hone_StageOp<"reward_model"> {
  let summary = "Bradley-Terry reward-model training on preference pairs";
  let description = [{
    Loss `−log σ(r(x, y_w) − r(x, y_l))` with the scalar head read at the
    last token; reports pairwise accuracy. The result has a scalar head and
    the body of `base`.

    ```mlir
    %rm = hone.reward_model %0, %pairs {batch_size = 8 : i64, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.reward_model_settings<center_rewards = 0.0e+00>, steps = 50 : i64} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>, !hone.dataset<preference>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
    ```
  }];
  let arguments = (ins Hone_ModelType:$base, Hone_DatasetType:$data,
                       I64Attr:$steps, I64Attr:$batch_size,
                       Hone_LoopAttr:$loop, Hone_OptimizerAttr:$optimizer,
                       Hone_RewardModelSettingsAttr:$settings);
  let results = (outs Hone_ModelType:$result);
  let assemblyFormat = [{
    $base `,` $data attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = commonStageDecls;
}

def Hone_PreferenceOp : Hone_StageOp<"preference", [AllTypesMatch<["policy", "result"]>]> {
  let summary = "offline preference optimisation (DPO family)";
  let description = [{
    With `Δ = (logπ(y_w) − logπ_ref(y_w)) − (logπ(y_l) − logπ_ref(y_l))`:
    `dpo` `−log σ(βΔ)`, `ipo` `(Δ − 1/(2β))²`, `kto` on unpaired data with
    a batch KL baseline, `orpo` and `simpo` without a reference. `dpo`,
    `ipo` and `kto` need `ref`; `orpo` and `simpo` reject one.

    ```mlir
    %2 = hone.preference dpo %1, %pairs ref %1 {batch_size = 8 : i64, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 1.0e-01, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>, steps = 50 : i64} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>, !hone.dataset<preference>, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    ```
  }];
  let arguments = (ins Hone_PreferenceLossAttr:$loss, Hone_ModelType:$policy,
                       Hone_DatasetType:$data, Optional<Hone_ModelType>:$ref,
                       I64Attr:$steps, I64Attr:$batch_size,
                       Hone_LoopAttr:$loop, Hone_OptimizerAttr:$optimizer,
                       Hone_PreferenceSettingsAttr:$settings);
  let results = (outs Hone_ModelType:$result);
  let assemblyFormat = [{
    custom<Keyword>($loss) $policy `,` $data (`ref` $ref^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = commonStageDecls # [{
    bool needsReference() {
      return getLoss() == PreferenceLoss::dpo ||
             getLoss() == PreferenceLoss::ipo ||
             getLoss() == PreferenceLoss::kto;
    }
  }];
}

def Hone_RlOp : Hone_StageOp<"rl", [AttrSizedOperandSegments,
                                    AllTypesMatch<["policy", "new_policy"]>]> {
  let summary = "online reinforcement learning, optionally mixed with demonstrations";
  let description = [{
    Each step generates `batch_size` completions (`group_size` per prompt),
    scores them with `reward`, estimates advantages as the algorithm says
    (PPO: GAE with the `critic`, which is trained too and yielded as the
    second result; GRPO/Dr. GRPO/DAPO: group-normalised; RLOO: leave one out;
    REINFORCE++: global normalisation; ReMax: greedy baseline) and takes a
    policy-gradient step. `kl_coef > 0` penalises divergence from `ref`.
    A `hybrid` mode mixes in `demos` (CHORD, SRFT, LUFFY, ReLIFT, HPT, UFT).
    `policy_loss` picks a built-in surrogate (GSPO, CISPO, SAPO, dual clip,
    truncated importance sampling); `objective` is a user-written objective
    expression that replaces the policy loss (docs/methods.md).

    ```mlir
    %p = hone.rl grpo %sft, %prompts reward %r ref %sft {batch_size = 16 : i64, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, group_size = 4 : i64, kl_coef = 4.000000e-02 : f64, optimizer = #hone.optimizer<lr = 1.0e-06, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = linear_decay, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, steps = 20 : i64} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>, !hone.dataset<prompt_answer>, !hone.reward, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    ```
  }];
  let arguments = (ins Hone_RlAlgorithmAttr:$algorithm, Hone_ModelType:$policy,
                       Hone_DatasetType:$prompts,
                       Optional<Hone_RewardType>:$reward,
                       Optional<Hone_ModelType>:$ref,
                       Optional<Hone_ModelType>:$critic,
                       Optional<Hone_DatasetType>:$demos,
                       OptionalAttr<Hone_HybridAttr>:$hybrid,
                       I64Attr:$steps, I64Attr:$batch_size,
                       I64Attr:$group_size, F64Attr:$kl_coef,
                       Hone_OptimizerAttr:$optimizer,
                       Hone_GenerationAttr:$generation,
                       Hone_RlSettingsAttr:$settings,
                       OptionalAttr<Hone_GuidanceAttr>:$guidance,
                       OptionalAttr<Hone_PolicyLossAttr>:$policy_loss,
                       OptionalAttr<StrAttr>:$objective);
  let results = (outs Hone_ModelType:$new_policy,
                      Optional<Hone_ModelType>:$new_critic);
  let assemblyFormat = [{
    custom<Keyword>($algorithm) (`hybrid` `(` custom<Keyword>($hybrid)^ `)`)? $policy `,` $prompts
    (`reward` $reward^)? (`ref` $ref^)? (`critic` $critic^)? (`demos` $demos^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = commonStageDecls # [{
    /// Advantages are normalised within groups of samples of one prompt.
    bool usesGroups() { return isGroupAlgorithm(getAlgorithm()); }
  }];
}

def Hone_EvalOp : Hone_Op<"eval", [MemoryEffects<[MemWrite]>]> {
  let summary = "evaluate a model on a dataset";
  let description = [{
    Writes metrics: held-out loss, and with a `reward`, the mean reward and
    accuracy of generated completions, sampled as `settings.generation` says
    (the frontend's default is greedy).

    ```mlir
    hone.eval %m, %test reward %r {name = "after_sft", settings = #hone.eval_settings<every_steps = 0, max_records = 0, generation = <max_new_tokens = 16, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>, !hone.dataset<prompt_answer>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model, Hone_DatasetType:$data,
                       Optional<Hone_RewardType>:$reward,
                       OptionalAttr<StrAttr>:$name,
                       Hone_EvalSettingsAttr:$settings);
  let assemblyFormat = [{
    $model `,` $data (`reward` $reward^)? attr-dict `:` qualified(type($model))
    `,` qualified(type($data))
  }];
  let hasVerifier = 1;
}

def Hone_SaveOp : Hone_Op<"save", [MemoryEffects<[MemWrite]>]> {
  let summary = "write a model as a Hugging Face model directory";
  let description = [{
    `config.json` plus `model.safetensors`, written atomically under the
    run directory.

    ```mlir
    hone.save %m "final" : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model, StrAttr:$path);
  let assemblyFormat = "$model $path attr-dict `:` qualified(type($model))";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Lower levels, one file each
//===----------------------------------------------------------------------===//

// The loss algebra first: the step level uses its comparison predicates.
include "dialect/HoneLossOps.td"
include "dialect/HoneStepOps.td"
include "dialect/HoneExecOps.td"

#endif // HONE_OPS_TD
