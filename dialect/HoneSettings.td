//===- HoneSettings.td - typed spec settings ---------------*- tablegen -*-===//
//
// Every spec setting a stage, an evaluation or a train step carries, as a
// typed attribute whose parameters are all present: the frontend resolves
// every default (frontend/Defaults.cpp) and writes complete attributes; a
// parameter left out of hand-written IR is a parse error, and the verifiers
// below check ranges. Passes read them through the generated getters
// (`RlSettingsAttr::getEpsilon()` ...), which have no defaults. Each
// attribute mirrors one message of frontend/pipeline.proto field by field,
// except the fields named in its description; test/unit/dialect checks the
// correspondence, so a field added to the proto without its parameter fails.
//
//===----------------------------------------------------------------------===//

#ifndef HONE_SETTINGS_TD
#define HONE_SETTINGS_TD

include "dialect/HoneAttrs.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Hone_KlEstimator : I32EnumAttr<"KlEstimator", "estimator of KL(π‖π_ref) per token", [
    I32EnumAttrCase<"k1", 0>, // l − l_ref
    I32EnumAttrCase<"k2", 1>, // ½(l − l_ref)²
    I32EnumAttrCase<"k3", 2>, // exp(l_ref − l) − (l_ref − l) − 1
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}
def Hone_KlEstimatorAttr : Hone_EnumAttr<Hone_KlEstimator, "kl_estimator">;

def Hone_ScheduleKind : I32EnumAttr<"ScheduleKind", "a value that changes with the step", [
    I32EnumAttrCase<"constant", 0>,      // start
    I32EnumAttrCase<"linear", 1>,        // start → end over total steps
    I32EnumAttrCase<"cosine", 2>,        // start → end, half a cosine
    I32EnumAttrCase<"warmup_cosine", 3>, // 0 → start over warmup, then cosine to end
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}
def Hone_ScheduleKindAttr : Hone_EnumAttr<Hone_ScheduleKind, "schedule_kind">;

def Hone_LrSchedule : I32EnumAttr<"LrSchedule", "learning rate after warm-up", [
    I32EnumAttrCase<"constant_lr", 0>,
    I32EnumAttrCase<"linear_decay", 1>,
    I32EnumAttrCase<"cosine_decay", 2>,
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_KlPlacement : I32EnumAttr<"KlPlacement", "where an RL stage's KL penalty goes", [
    I32EnumAttrCase<"in_reward", 0>, // subtracted from the per-token reward
    I32EnumAttrCase<"in_loss", 1>,   // added to the loss
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_Aggregation : I32EnumAttr<"Aggregation", "how an RL stage aggregates per-token losses", [
    I32EnumAttrCase<"sequence_mean", 0>, // mean of per-sequence token means
    I32EnumAttrCase<"token_mean", 1>,    // Σ over tokens / number of tokens
    I32EnumAttrCase<"constant", 2>,      // Σ over tokens / (batch · max_new_tokens)
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_Device : I32EnumAttr<"Device", "where the job runs", [
    I32EnumAttrCase<"auto_device", 0>, // cuda when a GPU is present, else cpu
    I32EnumAttrCase<"cpu", 1>,
    I32EnumAttrCase<"cuda", 2>,
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_Precision : I32EnumAttr<"Precision", "arithmetic of the training step", [
    I32EnumAttrCase<"auto_precision", 0>, // bf16 on cuda, fp32 on cpu
    I32EnumAttrCase<"fp32", 1>,
    I32EnumAttrCase<"bf16", 2>,
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_OnNan : I32EnumAttr<"OnNan", "what a non-finite loss does", [
    I32EnumAttrCase<"skip", 0>,     // drop the step's update
    I32EnumAttrCase<"rollback", 1>, // restore the last checkpoint, skip the batch
    I32EnumAttrCase<"abort", 2>,    // stop with an error
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_ChatTemplate : I32EnumAttr<"ChatTemplate", "how conversations become text", [
    I32EnumAttrCase<"no_template", 0>, // plain concatenation
    I32EnumAttrCase<"chatml", 1>,
    I32EnumAttrCase<"llama3", 2>,
    // the model's own Jinja template, beside the tokenizer file
    I32EnumAttrCase<"from_model", 3>,
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

def Hone_PolicyLossKind : I32EnumAttr<"PolicyLossKind", "an RL stage's policy-gradient surrogate", [
    I32EnumAttrCase<"clip", 0>,       // −min(ρA, clip(ρ)A)
    I32EnumAttrCase<"gspo", 1>,       // the clip on the sequence ratio
    I32EnumAttrCase<"gspo_token", 2>, // GSPO's value, per-token gradient
    I32EnumAttrCase<"cispo", 3>,      // −sg(min(ρ, 1 + ε_high))·A·l
    I32EnumAttrCase<"sapo", 4>,       // −(4/τ)·σ(τ(ρ − 1))·A
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

// A required double, printed as the shortest float literal that reads back.
class Hone_F64<string desc> : AttrParameter<"::llvm::APFloat", desc> {
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
  let parser = "::mlir::hone::parseF64Param($_parser)";
  let printer = "::mlir::hone::printF64Param($_printer, $_self)";
}
class Hone_I64<string desc> : AttrParameter<"int64_t", desc>;
class Hone_Bool<string desc> : AttrParameter<"bool", desc>;

class Hone_SettingsAttr<string name, string mnemonic>
    : Hone_Attr<name, mnemonic> {
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Shared settings
//===----------------------------------------------------------------------===//

def Hone_OptimizerAttr : Hone_SettingsAttr<"Optimizer", "optimizer"> {
  let summary = "AdamW with a learning-rate schedule and gradient clipping";
  let description = [{
    The stage's optimiser (pipeline.proto `Optimizer`, merged over the
    pipeline's by the frontend). `kind` is left out: AdamW is the only one.
    C++: `OptimizerAttr`; getters return `llvm::APFloat` for reals (call
    `convertToDouble()`), `int64_t`, `bool` and the enum (`LrSchedule`).

    ```mlir
    #hone.optimizer<lr = 1.0e-3, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8,
                    weight_decay = 0.0, schedule = linear_decay,
                    warmup_steps = 0, min_lr_ratio = 0.0, max_grad_norm = 1.0>
    ```
  }];
  let parameters = (ins
    Hone_F64<"peak learning rate, > 0">:$lr,
    Hone_F64<"first-moment decay, in [0, 1)">:$beta1,
    Hone_F64<"second-moment decay, in [0, 1)">:$beta2,
    Hone_F64<"denominator epsilon, > 0">:$eps,
    Hone_F64<"decoupled weight decay, >= 0">:$weight_decay,
    EnumParameter<Hone_LrSchedule>:$schedule,
    Hone_I64<"linear warm-up steps, >= 0">:$warmup_steps,
    Hone_F64<"final learning rate as a fraction of lr, in [0, 1]">:$min_lr_ratio,
    Hone_F64<"global gradient-norm clip, 0 disables, >= 0">:$max_grad_norm
  );
}

def Hone_GenerationAttr : Hone_SettingsAttr<"Generation", "generation"> {
  let summary = "sampling settings";
  let description = [{
    pipeline.proto `Generation`; `samples_per_prompt` is left out: it is
    the RL stage's `group_size` (one place). `temperature = 0` is greedy
    decoding. This is the only place a sampling temperature lives: the
    log-probs of sampled tokens are taken at the temperature of the
    `hone.generate` that produced them (passes/ConvertHoneToRuntime.cpp).
    C++: `GenerationAttr`; `getStop()` returns an `ArrayAttr` of strings.

    ```mlir
    #hone.generation<max_new_tokens = 32, temperature = 1.0, top_k = 0,
                     top_p = 1.0, stop = []>
    ```
  }];
  let parameters = (ins
    Hone_I64<"completion tokens at most, >= 1">:$max_new_tokens,
    Hone_F64<"sampling temperature, >= 0 (0 greedy)">:$temperature,
    Hone_I64<"keep the k most likely tokens, 0 disables, >= 0">:$top_k,
    Hone_F64<"nucleus mass, in (0, 1]">:$top_p,
    AttrParameter<"::mlir::ArrayAttr", "stop strings">:$stop
  );
}

def Hone_LoraAttr : Hone_SettingsAttr<"Lora", "lora"> {
  let summary = "LoRA adapters on a frozen model";
  let description = [{
    pipeline.proto `Lora`, carried by `hone.model.lora`. Each targeted
    projection computes `W x + (alpha / rank) B A x`; only `A [rank, in]`
    and `B [out, rank]` train. `target_modules` holds Hugging Face module
    names (q_proj k_proj v_proj o_proj gate_proj up_proj down_proj).
    C++: `LoraAttr`; `getTargetModules()` returns an `ArrayAttr` of
    strings; `getNumAdapterParameters(arch)` counts A and B.

    ```mlir
    #hone.lora<rank = 8, alpha = 16.0, dropout = 0.0,
               target_modules = ["q_proj", "v_proj"], merge_on_save = false>
    ```
  }];
  let parameters = (ins
    Hone_I64<"rank of B A, >= 1">:$rank,
    Hone_F64<"scale numerator (PEFT lora_alpha), > 0">:$alpha,
    Hone_F64<"dropout on the adapters' input in training forwards, in [0, 1)">:$dropout,
    AttrParameter<"::mlir::ArrayAttr", "targeted module names">:$target_modules,
    Hone_Bool<"saves also write the merged weights">:$merge_on_save
  );
  let extraClassDeclaration = [{
    /// Elements of A and B over every layer of a model of `arch`.
    int64_t getNumAdapterParameters(ArchAttr arch) const;
  }];
}

def Hone_LoopAttr : Hone_SettingsAttr<"Loop", "loop"> {
  let summary = "an offline stage's loop";
  let description = [{
    pipeline.proto `Loop` without `steps` and `batch_size` (attributes of
    the stage op) and `epochs` (turned into `steps` by the frontend).
    C++: `LoopAttr`, getters return `int64_t`.

    ```mlir
    #hone.loop<grad_accum = 1, max_length = 64>
    ```
  }];
  let parameters = (ins
    Hone_I64<"micro-batches per optimiser step, >= 1">:$grad_accum,
    Hone_I64<"longest tokenised example, >= 1">:$max_length
  );
}

def Hone_ScheduleAttr : Hone_SettingsAttr<"Schedule", "schedule"> {
  let summary = "a scalar that changes over the steps of a stage";
  let description = [{
    pipeline.proto `Schedule`. C++: `ScheduleAttr`.

    ```mlir
    #hone.schedule<shape = cosine, start = 1.0, end = 0.0, steps = 100,
                   warmup_steps = 0>
    ```
  }];
  let parameters = (ins
    EnumParameter<Hone_ScheduleKind>:$shape,
    Hone_F64<"value at the start">:$start,
    Hone_F64<"value at the end">:$end,
    Hone_I64<"steps from start to end, >= 0">:$steps,
    Hone_I64<"warm-up steps, >= 0">:$warmup_steps
  );
}

//===----------------------------------------------------------------------===//
// Methods
//===----------------------------------------------------------------------===//

def Hone_SftSettingsAttr : Hone_SettingsAttr<"SftSettings", "sft_settings"> {
  let summary = "supervised fine-tuning settings";
  let description = [{
    pipeline.proto `Sft` without `loop`, `variant` (the op's keyword) and
    `reference` (an operand). C++: `SftSettingsAttr`.

    ```mlir
    #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false,
                       iw_clip = 16.0>
    ```
  }];
  let parameters = (ins
    Hone_Bool<"loss only on completion tokens">:$completion_only_loss,
    Hone_Bool<"loss only on assistant turns">:$assistant_only_loss,
    Hone_F64<"iw_sft: upper clip of the sequence weight, > 0">:$iw_clip
  );
}

def Hone_RewardModelSettingsAttr
    : Hone_SettingsAttr<"RewardModelSettings", "reward_model_settings"> {
  let summary = "Bradley-Terry reward-model settings";
  let description = [{
    pipeline.proto `RewardModelTraining` without `loop`.
    C++: `RewardModelSettingsAttr`.

    ```mlir
    #hone.reward_model_settings<center_rewards = 0.0>
    ```
  }];
  let parameters = (ins
    Hone_F64<"weight of the mean-zero auxiliary loss, >= 0">:$center_rewards
  );
}

def Hone_PreferenceSettingsAttr
    : Hone_SettingsAttr<"PreferenceSettings", "preference_settings"> {
  let summary = "offline preference optimisation settings";
  let description = [{
    pipeline.proto `Preference` without `loop`, `loss` (the op's keyword)
    and `reference` (an operand). Every parameter is present whatever the
    loss; a loss reads the ones its formula names (docs/methods.md).
    C++: `PreferenceSettingsAttr`.

    ```mlir
    #hone.preference_settings<beta = 0.1, label_smoothing = 0.0,
        desirable_weight = 1.0, undesirable_weight = 1.0, simpo_gamma = 0.5,
        precompute_ref_log_probs = true>
    ```
  }];
  let parameters = (ins
    Hone_F64<"beta (DPO/KTO/SimPO temperature, IPO tau, ORPO lambda), > 0">:$beta,
    Hone_F64<"conservative DPO label smoothing, in [0, 0.5)">:$label_smoothing,
    Hone_F64<"kto: weight of desirable examples, >= 0">:$desirable_weight,
    Hone_F64<"kto: weight of undesirable examples, >= 0">:$undesirable_weight,
    Hone_F64<"simpo: target reward margin">:$simpo_gamma,
    Hone_Bool<"dpo, ipo: the reference's log-probs computed once per record before the stage where that pays (hone-precompute-reference); false: in every step">:$precompute_ref_log_probs
  );
}

def Hone_RlSettingsAttr : Hone_SettingsAttr<"RlSettings", "rl_settings"> {
  let summary = "online RL settings";
  let description = [{
    pipeline.proto `Rl` without what the op holds elsewhere: `algorithm`
    (keyword), `steps`, `batch_size`, `beta` (`kl_coef`), the named
    `rewards`/`reward_weights` (the reward operand), `reference`, `critic`,
    `critic_output` (operands and results), `generation` (its own
    attribute) and the hybrid guidance (`guidance`). C++: `RlSettingsAttr`.

    ```mlir
    #hone.rl_settings<grad_accum = 1, max_prompt_length = 24,
        kl_estimator = k3, kl_placement = in_loss, epsilon = 0.2,
        epsilon_high = 0.2, ppo_epochs = 1, mini_batches = 1,
        aggregation = sequence_mean, scale_rewards = true,
        dynamic_sampling = false, max_resample_rounds = 1,
        mask_truncated = false, gamma = 1.0, lam = 0.95, value_clip = 0.2,
        vf_coef = 0.1, entropy_coef = 0.0, staleness = 0>
    ```
  }];
  let parameters = (ins
    Hone_I64<"micro-batches per optimiser step, >= 1">:$grad_accum,
    Hone_I64<"prompt tokens kept (from the left), >= 1">:$max_prompt_length,
    EnumParameter<Hone_KlEstimator>:$kl_estimator,
    EnumParameter<Hone_KlPlacement>:$kl_placement,
    Hone_F64<"lower clip epsilon, >= 0">:$epsilon,
    Hone_F64<"upper clip epsilon, >= 0">:$epsilon_high,
    Hone_I64<"passes over each generated batch, >= 1">:$ppo_epochs,
    Hone_I64<"optimiser steps per pass, >= 1">:$mini_batches,
    EnumParameter<Hone_Aggregation>:$aggregation,
    Hone_Bool<"divide group-centred rewards by their std">:$scale_rewards,
    Hone_Bool<"DAPO dynamic sampling">:$dynamic_sampling,
    Hone_I64<"extra prompt batches for dynamic sampling, >= 0">:$max_resample_rounds,
    Hone_Bool<"no loss on completions cut at max_new_tokens">:$mask_truncated,
    Hone_F64<"ppo: discount, in [0, 1]">:$gamma,
    Hone_F64<"ppo: GAE lambda, in [0, 1]">:$lam,
    Hone_F64<"ppo: value clip range, >= 0">:$value_clip,
    Hone_F64<"ppo: value-loss coefficient, >= 0">:$vf_coef,
    Hone_F64<"entropy bonus coefficient, >= 0">:$entropy_coef,
    Hone_I64<"rollout staleness in steps (hone-pipeline-rollouts), >= 0">:$staleness
  );
  let extraClassDeclaration = [{
    /// The clipped objective's ratio bounds [1 − epsilon, 1 + epsilon_high].
    double getClipLow() const { return 1.0 - getEpsilon().convertToDouble(); }
    double getClipHigh() const { return 1.0 + getEpsilonHigh().convertToDouble(); }
  }];
}

def Hone_PolicyLossAttr : Hone_SettingsAttr<"PolicyLoss", "policy_loss"> {
  let summary = "an RL stage's policy-gradient surrogate and its corrections";
  let description = [{
    pipeline.proto `PolicyLoss`, the optional `policy_loss` of `hone.rl`
    (absent: the clipped surrogate without dual clip or truncated
    importance sampling). The clip range is the stage's `epsilon` and
    `epsilon_high`; `dual_clip` and `tis_cap` are 0 when off.
    C++: `PolicyLossAttr`. docs/methods.md gives every formula.

    ```mlir
    #hone.policy_loss<kind = gspo, dual_clip = 0.0, tis_cap = 2.0,
                      tau_pos = 1.0, tau_neg = 1.05>
    ```
  }];
  let parameters = (ins
    EnumParameter<Hone_PolicyLossKind>:$kind,
    Hone_F64<"dual-clip bound c on −A, > 1 (0: off)">:$dual_clip,
    Hone_F64<"truncated importance sampling cap, >= 1 (0: off)">:$tis_cap,
    Hone_F64<"sapo: gate temperature for A > 0, > 0">:$tau_pos,
    Hone_F64<"sapo: gate temperature for A < 0, > 0">:$tau_neg
  );
}

//===----------------------------------------------------------------------===//
// Hybrid guidance (one per RL stage at most)
//===----------------------------------------------------------------------===//

def Hone_ChordAttr : Hone_SettingsAttr<"Chord", "chord"> {
  let summary = "CHORD: (1 − μ)·L_RL + μ·L_SFT";
  let description = [{
    pipeline.proto `Chord` without `dataset` (the `demos` operand).

    ```mlir
    #hone.chord<mu = <shape = warmup_cosine, start = 0.9, end = 0.05, steps = 10, warmup_steps = 1>,
                token_weighting = true, sft_batch_size = 4>
    ```
  }];
  let parameters = (ins "ScheduleAttr":$mu,
                        Hone_Bool<"weight SFT tokens by sg(p(1 − p))">:$token_weighting,
                        Hone_I64<"expert examples per step, >= 1">:$sft_batch_size);
}

def Hone_SrftAttr : Hone_SettingsAttr<"Srft", "srft"> {
  let summary = "SRFT: entropy-aware SFT + RL in one step";
  let description = [{
    pipeline.proto `Srft` without `dataset`.

    ```mlir
    #hone.srft<sft_coef = 0.5, positive_coef = 0.1>
    ```
  }];
  let parameters = (ins Hone_F64<"demonstration SFT weight, >= 0">:$sft_coef,
                        Hone_F64<"weight on correct self-samples, >= 0">:$positive_coef);
}

def Hone_LuffyAttr : Hone_SettingsAttr<"Luffy", "luffy"> {
  let summary = "LUFFY: off-policy teacher traces in each group";
  let description = [{
    pipeline.proto `Luffy` without `dataset`.

    ```mlir
    #hone.luffy<off_policy_per_group = 1, shaping_gamma = 0.1>
    ```
  }];
  let parameters = (ins Hone_I64<"off-policy traces per group, >= 1">:$off_policy_per_group,
                        Hone_F64<"policy shaping p/(p + gamma), > 0">:$shaping_gamma);
}

def Hone_ReliftAttr : Hone_SettingsAttr<"Relift", "relift"> {
  let summary = "ReLIFT: SFT on a buffer of prompts RL fails";
  let description = [{
    pipeline.proto `Relift` without `dataset`.

    ```mlir
    #hone.relift<buffer_size = 4, sft_steps = 1>
    ```
  }];
  let parameters = (ins Hone_I64<"buffered prompts that trigger SFT, >= 1">:$buffer_size,
                        Hone_I64<"SFT steps per full buffer, >= 1">:$sft_steps);
}

def Hone_HptAttr : Hone_SettingsAttr<"Hpt", "hpt"> {
  let summary = "HPT: RL above an accuracy threshold, SFT below";
  let description = [{
    pipeline.proto `Hpt` without `dataset`.

    ```mlir
    #hone.hpt<threshold = 0.0>
    ```
  }];
  let parameters = (ins Hone_F64<"accuracy threshold, in [0, 1)">:$threshold);
}

def Hone_UftAttr : Hone_SettingsAttr<"Uft", "uft"> {
  let summary = "UFT: prompts extended by an annealed hint";
  let description = [{
    pipeline.proto `Uft` without `dataset`.

    ```mlir
    #hone.uft<hint_fraction = <shape = cosine, start = 1.0, end = 0.0, steps = 10, warmup_steps = 0>,
              sft_coef = 1.0>
    ```
  }];
  let parameters = (ins "ScheduleAttr":$hint_fraction,
                        Hone_F64<"weight of the SFT term on hint tokens, >= 0">:$sft_coef);
}

def Hone_GuidanceAttr : AnyAttrOf<[Hone_ChordAttr, Hone_SrftAttr, Hone_LuffyAttr,
                                   Hone_ReliftAttr, Hone_HptAttr, Hone_UftAttr]>;

//===----------------------------------------------------------------------===//
// Evaluation
//===----------------------------------------------------------------------===//

def Hone_EvalSettingsAttr : Hone_SettingsAttr<"EvalSettings", "eval_settings"> {
  let summary = "an evaluation's settings";
  let description = [{
    pipeline.proto `Evaluation` without `dataset`, `rewards`, `model`
    (operands). C++: `EvalSettingsAttr`.

    ```mlir
    #hone.eval_settings<every_steps = 0, max_records = 0,
        generation = <max_new_tokens = 5, temperature = 0.0, top_k = 0, top_p = 1.0, stop = []>>
    ```
  }];
  let parameters = (ins
    Hone_I64<"also evaluate every N steps of the stages training the model, >= 0">:$every_steps,
    Hone_I64<"prompts evaluated at most, 0 all, >= 0">:$max_records,
    "GenerationAttr":$generation
  );
}

//===----------------------------------------------------------------------===//
// Verifier rewards (hone.reward.verifier's `settings`)
//===----------------------------------------------------------------------===//

def Hone_ExactMatchAttr : Hone_SettingsAttr<"ExactMatch", "exact_match"> {
  let summary = "an exact_match verifier's settings";
  let description = [{
    pipeline.proto `ExactMatch`. `extract` "" compares the whole
    completion. C++: `ExactMatchAttr`.

    ```mlir
    #hone.exact_match<extract = "", strip = true, case_sensitive = true,
                      correct = 1.0, incorrect = 0.0>
    ```
  }];
  let parameters = (ins
    StringRefParameter<"regex whose first group is the answer, \"\" the whole completion">:$extract,
    Hone_Bool<"compare after trimming white space">:$strip,
    Hone_Bool<"compare case-sensitively">:$case_sensitive,
    Hone_F64<"reward when equal, finite">:$correct,
    Hone_F64<"reward otherwise, finite">:$incorrect
  );
}

def Hone_NumericMatchAttr : Hone_SettingsAttr<"NumericMatch", "numeric_match"> {
  let summary = "a numeric_match verifier's settings";
  let description = [{
    pipeline.proto `NumericMatch` without `abs_tolerance` (the op's
    `tolerance`). `extract` "" takes the last number in the completion.
    C++: `NumericMatchAttr`.

    ```mlir
    #hone.numeric_match<extract = "", rel_tolerance = 0.0, correct = 1.0,
                        incorrect = 0.0>
    ```
  }];
  let parameters = (ins
    StringRefParameter<"regex whose first group is the number, \"\" the last number">:$extract,
    Hone_F64<"relative tolerance, >= 0">:$rel_tolerance,
    Hone_F64<"reward when within tolerance, finite">:$correct,
    Hone_F64<"reward otherwise, finite">:$incorrect
  );
}

def Hone_PatternRewardAttr : Hone_SettingsAttr<"PatternReward", "pattern_reward"> {
  let summary = "a regex or format verifier's settings";
  let description = [{
    pipeline.proto `RegexReward` and `FormatReward` (the same fields)
    without `pattern` (the op's). C++: `PatternRewardAttr`.

    ```mlir
    #hone.pattern_reward<match = 1.0, no_match = 0.0>
    ```
  }];
  let parameters = (ins
    Hone_F64<"reward when the pattern matches, finite">:$match,
    Hone_F64<"reward otherwise, finite">:$no_match
  );
}

def Hone_LengthShapingAttr : Hone_SettingsAttr<"LengthShaping", "length_shaping"> {
  let summary = "a length verifier's settings";
  let description = [{
    pipeline.proto `LengthShaping` without `max_length` and `cache_length`
    (the op's). C++: `LengthShapingAttr`.

    ```mlir
    #hone.length_shaping<penalty = 1.0>
    ```
  }];
  let parameters = (ins
    Hone_F64<"reward at max_length is -penalty, >= 0">:$penalty
  );
}

def Hone_VerifierSettingsAttr : AnyAttrOf<[Hone_ExactMatchAttr, Hone_NumericMatchAttr,
                                           Hone_PatternRewardAttr, Hone_LengthShapingAttr]>;

//===----------------------------------------------------------------------===//
// Datasets (hone.dataset's `settings`)
//===----------------------------------------------------------------------===//

def Hone_ColumnsAttr : Hone_SettingsAttr<"Columns", "columns"> {
  let summary = "a dataset's column names";
  let description = [{
    pipeline.proto `Columns`: the file's key for each column of the layout,
    and `role_names` mapping the file's roles onto user/assistant/system
    (a dictionary of strings, empty when none). C++: `ColumnsAttr`.

    ```mlir
    #hone.columns<text = "text", messages = "conversations", role = "from",
                  content = "value", prompt = "prompt", completion = "completion",
                  chosen = "chosen", rejected = "rejected", label = "label",
                  answer = "answer", role_names = {gpt = "assistant", human = "user"}>
    ```
  }];
  let parameters = (ins
    StringRefParameter<"key of a text record">:$text,
    StringRefParameter<"key of a conversation">:$messages,
    StringRefParameter<"key of a message's role">:$role,
    StringRefParameter<"key of a message's text">:$content,
    StringRefParameter<"key of a prompt">:$prompt,
    StringRefParameter<"key of a completion">:$completion,
    StringRefParameter<"key of the chosen completion">:$chosen,
    StringRefParameter<"key of the rejected completion">:$rejected,
    StringRefParameter<"key of an unpaired preference's label">:$label,
    StringRefParameter<"key of the reference answer">:$answer,
    AttrParameter<"::mlir::DictionaryAttr", "file role name to user/assistant/system">:$role_names
  );
}

def Hone_DatasetSettingsAttr : Hone_SettingsAttr<"DatasetSettings", "dataset_settings"> {
  let summary = "how a dataset is read";
  let description = [{
    pipeline.proto `Dataset` without `name`, `path`, `layout` (the op's
    type) and `eval_path` (the op's). C++: `DatasetSettingsAttr`.

    ```mlir
    #hone.dataset_settings<columns = <...>, eval_fraction = 0.0,
                           shuffle = true, shuffle_seed = 42, max_records = 0>
    ```
  }];
  let parameters = (ins
    "ColumnsAttr":$columns,
    Hone_F64<"records held out for evaluation, in [0, 1)">:$eval_fraction,
    Hone_Bool<"shuffle every epoch">:$shuffle,
    Hone_I64<"seed of the shuffle, >= 0">:$shuffle_seed,
    Hone_I64<"records read at most, 0 all, >= 0">:$max_records
  );
}

//===----------------------------------------------------------------------===//
// Run settings (the pipeline's, read by the job)
//===----------------------------------------------------------------------===//

def Hone_CharVocabAttr : Hone_SettingsAttr<"CharVocab", "char_vocab"> {
  let summary = "a character vocabulary";
  let description = [{
    pipeline.proto `CharVocab`: one token per character of `alphabet`
    (UTF-8), after the `special` tokens. C++: `CharVocabAttr`;
    `getSpecial()` returns an `ArrayAttr` of strings.

    ```mlir
    #hone.char_vocab<alphabet = "0123456789+=", special = ["<pad>", "<eos>"]>
    ```
  }];
  let parameters = (ins
    StringRefParameter<"the characters, each once, not empty">:$alphabet,
    AttrParameter<"::mlir::ArrayAttr", "special tokens">:$special
  );
}

def Hone_TokenizerAttr : Hone_SettingsAttr<"Tokenizer", "tokenizer"> {
  let summary = "the pipeline's tokenizer";
  let description = [{
    pipeline.proto `Tokenizer`: exactly one of `chars` (a character
    vocabulary) and `file` (a Hugging Face tokenizer.json, an absolute path
    after the frontend) is given; that is the proto's `oneof`, not a
    default. C++: `TokenizerAttr`; `getChars()` is null when `file` is set.

    ```mlir
    #hone.tokenizer<chars = <alphabet = "0123456789+=", special = ["<pad>"]>,
                    chat_template = no_template, chat_template_kwargs = "{}">
    #hone.tokenizer<file = "/models/qwen/tokenizer.json", chat_template = from_model,
                    chat_template_kwargs = "{\22enable_thinking\22: false}">
    ```

    `chat_template_kwargs` is the text of a JSON object (the template's
    variables by name; `"{}"`: none), only with `from_model`.
  }];
  let parameters = (ins
    OptionalParameter<"CharVocabAttr", "a character vocabulary (oneof with file)">:$chars,
    StringRefParameter<"tokenizer.json path (oneof with chars; absent is empty)", [{""}]>:$file,
    EnumParameter<Hone_ChatTemplate>:$chat_template,
    StringRefParameter<"template variables, a JSON object's text">:$chat_template_kwargs
  );
}

def Hone_HardwareAttr : Hone_SettingsAttr<"Hardware", "hardware"> {
  let summary = "where and how the job runs";
  let description = [{
    pipeline.proto `Hardware`. `memory_budget` is in bytes (the frontend
    parses the spec's "4GiB"); 0 means the spec set none.
    `frozen_precision` (fp32 or bf16, never auto_precision: the frontend
    resolves the spec's auto) is how models that are never trained are
    stored (hone-schedule-stages marks them). C++:
    `HardwareAttr`; the enums are `Device` and `Precision`.

    ```mlir
    #hone.hardware<device = auto_device, memory_budget = 0, ranks = 1,
                   rollout_staleness = 0, precision = auto_precision,
                   frozen_precision = fp32, threads = 0,
                   collective_timeout_s = 300.0>
    ```
  }];
  let parameters = (ins
    EnumParameter<Hone_Device>:$device,
    Hone_I64<"memory budget in bytes, 0 none set, >= 0">:$memory_budget,
    Hone_I64<"data-parallel ranks, >= 1">:$ranks,
    Hone_I64<"iterations generation may run ahead, >= 0">:$rollout_staleness,
    EnumParameter<Hone_Precision>:$precision,
    EnumParameter<Hone_Precision>:$frozen_precision, // fp32 or bf16 (resolved)
    Hone_I64<"threads per rank, 0 all cores, in [0, 1024]">:$threads,
    Hone_F64<"seconds a collective may wait, in [0.1, 86400]">:$collective_timeout_s
  );
}

def Hone_CheckpointingAttr : Hone_SettingsAttr<"Checkpointing", "checkpointing"> {
  let summary = "checkpoints and the non-finite-loss policy";
  let description = [{
    pipeline.proto `Checkpointing`. C++: `CheckpointingAttr`; `getOnNan()`
    returns the `OnNan` enum.

    ```mlir
    #hone.checkpointing<every_steps = 0, keep_last = 2, on_nan = skip,
                        max_skipped_fraction = 0.1, max_skipped_in_a_row = 20,
                        dir = "">
    ```
  }];
  let parameters = (ins
    Hone_I64<"checkpoint every N optimiser steps, 0 only at stage ends, >= 0">:$every_steps,
    Hone_I64<"checkpoints kept, 0 all, >= 0">:$keep_last,
    EnumParameter<Hone_OnNan>:$on_nan,
    Hone_F64<"skipped steps allowed as a fraction of a stage's, in [0, 1]">:$max_skipped_fraction,
    Hone_I64<"skipped steps allowed in a row, >= 0">:$max_skipped_in_a_row,
    StringRefParameter<"checkpoint directory below the run directory, \"\" the default">:$dir
  );
}

def Hone_RunAttr : Hone_SettingsAttr<"Run", "run"> {
  let summary = "the run-wide settings the job reads";
  let description = [{
    pipeline.proto `Pipeline` without what the ops carry (`name`, `models`,
    `datasets`, `rewards`, `stages`, `evaluations`, `exports`, and the
    `optimizer` and `generation` merged into each stage). A pipeline needs
    it to become a job (`hone-convert-to-runtime` refuses one without it);
    IR that stops earlier may leave it out. C++: `RunAttr`.

    ```mlir
    hone.pipeline @toy attributes {run = #hone.run<seed = 42,
        output_dir = "runs/toy",
        tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>,
                     chat_template = no_template>,
        hardware = <device = cpu, memory_budget = 0, ranks = 1,
                    rollout_staleness = 0, precision = auto_precision,
                    threads = 0, collective_timeout_s = 300.0>,
        checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip,
                         max_skipped_fraction = 0.1, max_skipped_in_a_row = 20,
                         dir = "">>} { ... }
    ```
  }];
  let parameters = (ins
    Hone_I64<"seed of every random stream">:$seed,
    StringRefParameter<"run directory">:$output_dir,
    "TokenizerAttr":$tokenizer,
    "HardwareAttr":$hardware,
    "CheckpointingAttr":$checkpointing
  );
}

#endif // HONE_SETTINGS_TD
