//===- HoneStepOps.td - hone step-level ops ----------------*- tablegen -*-===//
//
// The step level: one step's dataflow inside a stage loop, on statically
// shaped tensors (docs/design.md, "IR levels"). `hone-expand-stages` writes it.
//
// Shapes: `B` sequences a step, `P = B / G` prompts with `G` samples each,
// `T` tokens a sequence (prompt and response, padded; max lengths bound
// generation). Tokens are `tensor<BxTxi32>`, record ids `tensor<Bxi64>`,
// masks, log-probs, values and rewards `f32` or `f64` tensors: masks hold 0
// or 1, the response (loss) mask is 0 on prompt and padding tokens.
//
// Every step op that draws random numbers or reads data takes the step
// counter: the runtime keys its counter-based RNG and data cursor by it, so
// the ops are functions of their operands.
//
//===----------------------------------------------------------------------===//

#ifndef HONE_STEP_OPS_TD
#define HONE_STEP_OPS_TD

include "dialect/HoneTypes.td"
include "dialect/HoneSettings.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Enums and types
//===----------------------------------------------------------------------===//

def Hone_DataPart : I32EnumAttr<"DataPart", "what hone.data.next reads from a record", [
    I32EnumAttrCase<"sequences", 0>, // tokens, loss mask, ids
    I32EnumAttrCase<"pairs", 1>,     // chosen tokens, mask, rejected tokens, mask, ids
    I32EnumAttrCase<"labelled", 2>,  // tokens, mask, label, mismatched tokens, mask, ids
    I32EnumAttrCase<"prompts", 3>,   // prompt tokens, prompt mask, ids
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}
def Hone_DataPartAttr : Hone_EnumAttr<Hone_DataPart, "data_part">;

def Hone_AdvantageKind : I32EnumAttr<"AdvantageKind", "advantage estimator", [
    I32EnumAttrCase<"gae", 0>,             // PPO: GAE(γ, λ) over token rewards and values
    I32EnumAttrCase<"group_norm", 1>,      // GRPO: (r − mean_g)/(std_g + ε)
    I32EnumAttrCase<"group_center", 2>,    // Dr. GRPO: r − mean_g
    I32EnumAttrCase<"leave_one_out", 3>,   // RLOO: r_i − mean_{j≠i} r_j
    I32EnumAttrCase<"greedy_baseline", 4>, // ReMax: r − r(greedy)
    I32EnumAttrCase<"global_norm", 5>,     // REINFORCE++: return-to-go, batch-normalised
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}
def Hone_AdvantageKindAttr : Hone_EnumAttr<Hone_AdvantageKind, "advantage_kind">;

def Hone_RewardShaping : I32EnumAttr<"RewardShaping", "reward shaping with a KL penalty", [
    I32EnumAttrCase<"token_kl", 0>, // r_t = −β(l_old − l_ref)_t, plus the score on the last token
    I32EnumAttrCase<"seq_kl", 1>,   // r = score − β Σ_t m (l_old − l_ref)
  ]> {
  let cppNamespace = "::mlir::hone";
  let genSpecializedAttr = 0;
}
def Hone_RewardShapingAttr : Hone_EnumAttr<Hone_RewardShaping, "reward_shaping">;

// Hone_ScheduleKind lives in HoneSettings.td (#hone.schedule uses it).

def Hone_BufferType : Hone_Type<"Buffer", "buffer"> {
  let summary = "a bounded FIFO of record ids (ReLIFT's hard prompts)";
  let description = [{
    ```mlir
    !hone.buffer<64>
    ```
  }];
  let parameters = (ins "int64_t":$capacity);
  let assemblyFormat = "`<` $capacity `>`";
}

def Hone_TokenTensor : Type<
    And<[AnyRankedTensor.predicate,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getRank() == 2">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).hasStaticShape()">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getElementType().isInteger(32)">]>,
    "a static tensor<BxTxi32> of token ids", "::mlir::RankedTensorType">;
def Hone_IdTensor : Type<
    And<[AnyRankedTensor.predicate,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getRank() == 1">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).hasStaticShape()">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getElementType().isInteger(64)">]>,
    "a static tensor<Bxi64> of record ids", "::mlir::RankedTensorType">;
def Hone_FloatTensor : Type<
    And<[AnyRankedTensor.predicate,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getRank() <= 2">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).hasStaticShape()">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getElementType().isF32() || ::llvm::cast<::mlir::RankedTensorType>($_self).getElementType().isF64()">]>,
    "a static f32/f64 tensor of rank 0, 1 or 2", "::mlir::RankedTensorType">;

class Hone_StepOp<string mnemonic, list<Trait> traits = []>
    : Hone_Op<mnemonic, traits>;

//===----------------------------------------------------------------------===//
// Data and generation
//===----------------------------------------------------------------------===//

def Hone_ScheduleOp : Hone_StepOp<"schedule", [Pure]> {
  let summary = "a scalar that follows a schedule over the steps";
  let description = [{
    CHORD's μ and UFT's hint length. With `s = step / total` (after the
    warm-up for `warmup_cosine`):
    `constant`: `start`; `linear`: `start + (end − start)·s`; `cosine`:
    `end + (start − end)·(1 + cos(πs))/2`; `warmup_cosine`: `start·step/warmup`
    during the first `warmup` steps, then the cosine from `start` to `end`.

    ```mlir
    %mu = hone.schedule warmup_cosine %step {start = 5.000000e-01 : f64, end = 5.000000e-02 : f64, warmup = 10 : i64, total = 100 : i64} : tensor<f32>
    ```
  }];
  let arguments = (ins Hone_ScheduleKindAttr:$kind, Index:$step, F64Attr:$start,
                       F64Attr:$end,
                       I64Attr:$warmup, I64Attr:$total);
  let results = (outs Hone_FloatTensor:$value);
  let assemblyFormat = "custom<Keyword>($kind) $step attr-dict `:` type($value)";
  let hasVerifier = 1;
}

def Hone_DataNextOp : Hone_StepOp<"data.next", [Pure]> {
  let summary = "the next batch of records, tokenised, packed and masked";
  let description = [{
    Batch number `step` of `data` (shuffled by the dataset's seed, one epoch
    after another), tokenised with the pipeline's tokenizer and chat
    template, padded or cut to `T`. Results by `part`:

    - `sequences`: tokens `[B,T]`, loss mask `[B,T]` (completion tokens only
      when the layout has a prompt), record ids `[B]`;
    - `pairs`: chosen tokens, chosen mask, rejected tokens, rejected mask,
      ids;
    - `labelled` (KTO): tokens, mask, label `[B]` (1 desirable), the
      mismatched completions (record `i`'s prompt with record `i+1`'s
      completion) and their mask, ids;
    - `prompts`: prompt tokens `[P,Tp]` (left-padded), prompt mask, ids.

    The loss mask follows `completion_only_loss` (prompt/completion records:
    the completion and EOS only) and `assistant_only_loss` (conversations:
    the assistant turns only); false trains on every token. An SFT stage
    sets both from its spec (`sft_settings`, TRL's options of the same
    names); preference and RL stages always train on completions and
    assistant turns and write `true` for both.

    ```mlir
    %tok, %m, %ids = hone.data.next sequences %d, %step {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion> -> tensor<8x32xi32>, tensor<8x32xf32>, tensor<8xi64>
    ```
  }];
  let arguments = (ins Hone_DataPartAttr:$part, Hone_DatasetType:$data, Index:$step,
                       BoolAttr:$completion_only_loss,
                       BoolAttr:$assistant_only_loss);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = [{
    custom<Keyword>($part) $data `,` $step attr-dict `:` qualified(type($data)) `->` type($results)
  }];
  let hasVerifier = 1;
}

def Hone_DataFetchOp : Hone_StepOp<"data.fetch", [Pure]> {
  let summary = "the records with the given ids, as sequences";
  let description = [{
    Reads records by id (the demonstrations of prompts a hybrid needs: a
    hybrid's `demos` dataset is aligned with its prompts, row `i` solving
    prompt `i`). Results: tokens, loss mask (masked as `hone.data.next`
    masks sequences, by `completion_only_loss` and `assistant_only_loss`).

    ```mlir
    %tok, %m = hone.data.fetch %demos[%ids] {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion>, tensor<2xi64> -> tensor<2x32xi32>, tensor<2x32xf32>
    ```
  }];
  let arguments = (ins Hone_DatasetType:$data, Hone_IdTensor:$ids,
                       BoolAttr:$completion_only_loss,
                       BoolAttr:$assistant_only_loss);
  let results = (outs Hone_TokenTensor:$tokens, Hone_FloatTensor:$mask);
  let assemblyFormat = [{
    $data `[` $ids `]` attr-dict `:` qualified(type($data)) `,` type($ids) `->` type($tokens) `,` type($mask)
  }];
  let hasVerifier = 1;
}

def Hone_GenerateOp : Hone_StepOp<"generate", [Pure, AttrSizedOperandSegments]> {
  let summary = "sample completions of prompts with a policy";
  let description = [{
    `n` completions per prompt (so `B = n·P`, samples of one prompt
    consecutive), at most `T − Tp` new tokens, sampled with the seeded RNG
    (`temperature`, `top_k`, `top_p`) or greedily. Results: tokens `[B,T]`
    (prompt then completion), response mask `[B,T]`, the behaviour policy's
    log-probs `[B,T]` (0 off the response), then optionally:

    - with `demos` and `off_policy = k > 0` (LUFFY): the last `k` members of
      every group are the prompt's demonstration instead of a sample; an
      extra result `[B]` is 1 for them (their behaviour log-probs are 0);
    - with `demos` and a `hint_len` (UFT): every sample starts with the first
      `hint_len` tokens of the demonstration (with `hint_is_fraction`, that
      fraction of the demonstration's completion, rounded); an extra result
      `[B,T]` masks those hint tokens (the response mask excludes them).

    With `mask_truncated`, completions that reach the end of the result
    without an end-of-sequence token get a zero response mask (TRL's
    `mask_truncated_completions`). A completion also ends at the token that
    completes one of the `stop` strings (kept in the completion, as Hugging
    Face's `stop_strings`); it counts as ended, not truncated.

    `temperature` is the only sampling temperature of the step: log-probs of
    the tokens this op produced (`hone.logprob`, `hone.train_step` reads,
    also through `hone.group_filter`) are taken at the same temperature; the
    lowering reads it from here (`producingGenerate()` in
    dialect/HoneOps.h), so a pass that changes it changes both.

    ```mlir
    %tok, %m, %l_old = hone.generate %policy, %ptok, %pmask, %step {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!hone.model<...>, tensor<2x8xi32>, tensor<2x8xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
    ```
  }];
  let arguments = (ins Hone_ModelType:$policy, Hone_TokenTensor:$prompts,
                       Hone_FloatTensor:$prompt_mask, Index:$step,
                       Optional<Hone_TokenTensor>:$demos,
                       Optional<Hone_FloatTensor>:$demo_mask,
                       Optional<Hone_FloatTensor>:$hint_len,
                       I64Attr:$n,
                       F64Attr:$temperature,
                       I64Attr:$top_k,
                       F64Attr:$top_p,
                       BoolAttr:$greedy,
                       I64Attr:$off_policy,
                       BoolAttr:$hint_is_fraction,
                       BoolAttr:$mask_truncated,
                       OptionalAttr<StrArrayAttr>:$stop);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = [{
    $policy `,` $prompts `,` $prompt_mask `,` $step
    (`demos` $demos^ `,` $demo_mask)? (`hint` $hint_len^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Model reads
//===----------------------------------------------------------------------===//

def Hone_ReferenceTableOp : Hone_StepOp<"reference_table", [Pure]> {
  let summary = "a frozen model's masked log-prob sums over every preference pair of a dataset";
  let description = [{
    One pass of `model` (a frozen reference) over every training pair of
    `data` in file order, each pair once: `table[i] = (Σ_t m_c·l_c,
    Σ_t m_r·l_r)` for record `i`, the chosen and rejected completions'
    log-probs summed under their loss masks, tokenized as
    `hone.data.next pairs` tokenizes them (cut to `max_length`). The
    forwards run packed (each row to its mask's last nonzero), `rows`
    pairs (2 × `rows` sequences) at a time. Rows past the dataset's
    training rows (an `eval_fraction` tail) stay 0. With data-parallel
    ranks each rank computes every `ranks`-th pair and the table is summed
    over the ranks, so every rank holds all of it. The table is kept in
    the stage's checkpoints: a resumed job reads it back instead of
    running the reference again. Made by `hone-precompute-reference`.

    ```mlir
    %t = hone.reference_table %ref, %d {max_length = 16 : i64, rows = 4 : i64} : !hone.model<...>, !hone.dataset<preference> -> tensor<12x2xf32>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model, Hone_DatasetType:$data,
                       I64Attr:$max_length, I64Attr:$rows);
  let results = (outs Hone_FloatTensor:$table);
  let assemblyFormat = [{
    $model `,` $data attr-dict `:` qualified(type($model)) `,` qualified(type($data)) `->` type($table)
  }];
  let hasVerifier = 1;
}

def Hone_ReferenceRowsOp : Hone_StepOp<"reference_rows", [Pure]> {
  let summary = "a batch's rows of a hone.reference_table";
  let description = [{
    The chosen and rejected sums of `table` (`[N,2]`) at the batch's record
    ids (`hone.data.next`'s ids: the record in the low bits); an id past
    the table is an error.

    ```mlir
    %sc, %sr = hone.reference_rows %t[%ids] : tensor<12x2xf32>, tensor<4xi64> -> tensor<4xf32>, tensor<4xf32>
    ```
  }];
  let arguments = (ins Hone_FloatTensor:$table, Hone_IdTensor:$ids);
  let results = (outs Hone_FloatTensor:$chosen, Hone_FloatTensor:$rejected);
  let assemblyFormat = [{
    $table `[` $ids `]` attr-dict `:` type($table) `,` type($ids) `->` type($chosen) `,` type($rejected)
  }];
  let hasVerifier = 1;
}

def Hone_LogprobOp : Hone_StepOp<"logprob", [Pure, AttrSizedOperandSegments]> {
  let summary = "per-token log-probabilities (and entropy) of a model over sequences";
  let description = [{
    `l_t = log π(y_t | y_<t)` at every position (0 at the first), with the
    entropy of `π(· | y_<t)` as a second result when `entropy` is set. The
    LM head and log-softmax are fused and chunked over the vocabulary.

    With several token batches of one type (hone-fuse-forwards merges the
    reference's reads of DPO's chosen and rejected), the model runs one
    forward over their rows concatenated; the results stay per batch (its
    log-probs, then its entropy when set), so consumers are unchanged.

    With `packed` masks, one per token batch (set by hone-pack-sequences
    where every consumer reads the results only at that mask's nonzero
    positions), the forward runs padding-free: each row's tokens up to its
    mask's last nonzero position (at least one token) as one stream,
    positions restarting per row, attention within each row. Results up to
    there are the padded forward's to float rounding, 0 after it.

    `micro_batch` (set by hone-plan-memory when the memory budget needs it)
    runs the forward over at most that many rows at a time, so the model
    keeps activations for `micro_batch` rows instead of all of them. Each
    row's result is the one-forward result (rows do not interact in a
    forward): bit-identical where the CPU's GEMMs give a row the same bits
    whatever the row count, within a few ulp otherwise
    (test/unit/job/StepsTest.cpp, test/unit/GemmRows.h).

    ```mlir
    %l_ref = hone.logprob %ref, %tok : !hone.model<...>, tensor<8x32xi32> -> tensor<8x32xf32>
    %l_c, %l_r = hone.logprob %ref, %c, %r : !hone.model<...>, tensor<8x32xi32>, tensor<8x32xi32> -> tensor<8x32xf32>, tensor<8x32xf32>
    %l = hone.logprob %ref, %tok packed(%m : tensor<8x32xf32>) : !hone.model<...>, tensor<8x32xi32> -> tensor<8x32xf32>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model, Variadic<Hone_TokenTensor>:$tokens,
                       Variadic<Hone_FloatTensor>:$pack_masks,
                       UnitAttr:$entropy, OptionalAttr<I64Attr>:$micro_batch);
  let results = (outs Variadic<Hone_FloatTensor>:$results);
  // Passes create reads whole and padded; hone-pack-sequences adds the
  // masks, hone-plan-memory sets micro_batch.
  let builders = [
    OpBuilder<(ins "TypeRange":$results, "Value":$model, "ValueRange":$tokens,
                   "UnitAttr":$entropy), [{
      build($_builder, $_state, results, model, tokens, ValueRange(), entropy,
            IntegerAttr());
    }]>
  ];
  let assemblyFormat = [{
    $model `,` $tokens (`packed` `(` $pack_masks^ `:` type($pack_masks) `)`)?
    attr-dict `:` qualified(type($model)) `,` type($tokens) `->` type($results)
  }];
  let hasVerifier = 1;
}

def Hone_ValueOp : Hone_StepOp<"value", [Pure, AttrSizedOperandSegments]> {
  let summary = "a scalar-head model's output at every position, or at the last";
  let description = [{
    Values `[B,T]` of a critic, or with `last` the output at each sequence's
    last token `[B]` given its mask (a reward model's score).

    With a `packed` mask (set by hone-pack-sequences where every consumer
    reads the values only at that mask's nonzero positions: PPO's `v_old`
    in GAE and the value loss), the forward runs padding-free over each
    row's tokens up to the mask's last nonzero position (at least one);
    values there are the padded forward's to float rounding, 0 after it.

    `micro_batch` (set by hone-plan-memory under a memory budget) runs the
    forward over at most that many rows at a time, with results
    bit-identical to one forward where the CPU's GEMMs give a row the same
    bits whatever the row count, within a few ulp otherwise.

    ```mlir
    %v = hone.value %critic, %tok : !hone.model<..., scalar>, tensor<8x32xi32> -> tensor<8x32xf32>
    %v = hone.value %critic, %tok packed(%m : tensor<8x32xf32>) : !hone.model<..., scalar>, tensor<8x32xi32> -> tensor<8x32xf32>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model, Hone_TokenTensor:$tokens,
                       Optional<Hone_FloatTensor>:$mask,
                       Optional<Hone_FloatTensor>:$pack_mask,
                       OptionalAttr<I64Attr>:$micro_batch);
  let results = (outs Hone_FloatTensor:$values);
  let builders = [
    OpBuilder<(ins "Type":$values, "Value":$model, "Value":$tokens,
                   "Value":$mask), [{
      build($_builder, $_state, values, model, tokens, mask, Value(),
            IntegerAttr());
    }]>
  ];
  let assemblyFormat = [{
    $model `,` $tokens (`last` $mask^)?
    (`packed` `(` $pack_mask^ `:` type($pack_mask) `)`)?
    attr-dict `:` qualified(type($model)) `,`
    type($tokens) (`,` type($mask)^)? `->` type($values)
  }];
  let hasVerifier = 1;
}

def Hone_ScoreOp : Hone_StepOp<"score", [Pure]> {
  let summary = "score completions with a reward";
  let description = [{
    One scalar per sequence `[B]`: verifiers compare the decoded response
    with its record's answer (`ids` has one row per sequence, or per prompt
    when samples of a prompt are consecutive: sequence `i` has record
    `ids[i / (B / rows)]`), reward models read their score at the last
    token, external rewards are asked over JSON lines.

    ```mlir
    %r = hone.score %reward, %tok, %m, %ids : tensor<8x32xi32>, tensor<8x32xf32>, tensor<8xi64> -> tensor<8xf32>
    ```
  }];
  let arguments = (ins Hone_RewardType:$reward, Hone_TokenTensor:$tokens,
                       Hone_FloatTensor:$mask, Hone_IdTensor:$ids);
  let results = (outs Hone_FloatTensor:$scores);
  let assemblyFormat = [{
    $reward `,` $tokens `,` $mask `,` $ids attr-dict `:` type($tokens) `,` type($mask)
    `,` type($ids) `->` type($scores)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Rewards and advantages
//===----------------------------------------------------------------------===//

def Hone_ShapeRewardOp : Hone_StepOp<"shape_reward", [Pure, AllTypesMatch<["mask", "l_old", "l_ref"]>]> {
  let summary = "put a KL penalty against the reference into the reward";
  let description = [{
    `token_kl` (PPO, REINFORCE++): `r_t = −β(l_old − l_ref)_t·m_t`, plus the
    score on each sequence's last response token; result `[B,T]`.
    `seq_kl` (RLOO): `r = score − β Σ_t m (l_old − l_ref)`; result `[B]`.

    ```mlir
    %r_t = hone.shape_reward token_kl %score, %m, %l_old, %l_ref {kl_coef = 5.000000e-02 : f64} : tensor<8xf32>, tensor<8x32xf32> -> tensor<8x32xf32>
    ```
  }];
  let arguments = (ins Hone_RewardShapingAttr:$kind, Hone_FloatTensor:$score,
                       Hone_FloatTensor:$mask, Hone_FloatTensor:$l_old,
                       Hone_FloatTensor:$l_ref, F64Attr:$kl_coef);
  let results = (outs Hone_FloatTensor:$reward);
  let assemblyFormat = [{
    custom<Keyword>($kind) $score `,` $mask `,` $l_old `,` $l_ref attr-dict `:`
    type($score) `,` type($mask) `->` type($reward)
  }];
  let hasVerifier = 1;
}

def Hone_AdvantageOp : Hone_StepOp<"advantage", [Pure]> {
  let summary = "advantage estimation";
  let description = [{
    Operands and results by `kind` (`G = group_size`):

    | kind | operands | results |
    |---|---|---|
    | `gae` | token rewards `[B,T]`, mask, values `[B,T]` | advantages `[B,T]`, returns `[B,T]` |
    | `group_norm` | rewards `[B]` | `(r − mean_g r)/(std_g r + eps)` `[B]` |
    | `group_center` | rewards `[B]` | `r − mean_g r` `[B]` |
    | `leave_one_out` | rewards `[B]` | `r_i − Σ_{j≠i} r_j/(G − 1)` `[B]` |
    | `greedy_baseline` | rewards `[B]`, greedy rewards `[B]` | `r − r_greedy` `[B]` |
    | `global_norm` | token rewards `[B,T]`, mask | `A_t = Σ_{s≥t} r_s`, whitened over all masked tokens of the batch `[B,T]` |

    GAE: `δ_t = r_t + γV_{t+1} − V_t`, `A_t = Σ_k (γλ)^k δ_{t+k}` over the
    response, returns `A + V`. `std` uses Bessel's correction.

    ```mlir
    %a = hone.advantage group_norm %r {group_size = 4 : i64, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<8xf32>) -> tensor<8xf32>
    %a, %ret = hone.advantage gae %r_t, %m, %v {gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, group_size = 1 : i64, eps = 1.000000e-06 : f64} : (tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) -> (tensor<8x32xf32>, tensor<8x32xf32>)
    ```
  }];
  let arguments = (ins Hone_AdvantageKindAttr:$kind,
                       Variadic<Hone_FloatTensor>:$inputs,
                       I64Attr:$group_size,
                       F64Attr:$gamma,
                       F64Attr:$lambda,
                       F64Attr:$eps);
  let results = (outs Variadic<Hone_FloatTensor>:$results);
  let assemblyFormat = [{
    custom<Keyword>($kind) $inputs attr-dict `:` functional-type($inputs, $results)
  }];
  let hasVerifier = 1;
}

def Hone_GroupAccuracyOp : Hone_StepOp<"group_accuracy", [Pure]> {
  let summary = "per prompt, the fraction of its samples that are correct";
  let description = [{
    A sample is correct when its reward exceeds `threshold`. Results: the
    accuracy per prompt `[P]` and the same broadcast to its samples `[B]`.
    HPT switches on it, ReLIFT buffers prompts whose accuracy is 0.

    ```mlir
    %acc_p, %acc = hone.group_accuracy %r {group_size = 4 : i64, threshold = 5.000000e-01 : f64} : tensor<8xf32> -> tensor<2xf32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Hone_FloatTensor:$rewards, I64Attr:$group_size,
                       F64Attr:$threshold);
  let results = (outs Hone_FloatTensor:$per_prompt, Hone_FloatTensor:$per_sample);
  let assemblyFormat = [{
    $rewards attr-dict `:` type($rewards) `->` type($per_prompt) `,` type($per_sample)
  }];
  let hasVerifier = 1;
}

def Hone_IndicatorOp : Hone_StepOp<"indicator", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "1 where a comparison with a constant holds, else 0";
  let description = [{
    Elementwise `input <predicate> value ? 1 : 0`: the per-prompt and
    per-sample switches of the hybrids (HPT's accuracy above γ, SRFT's
    correct samples, ReLIFT's unsolved prompts), computed between steps
    where the loss algebra does not run.

    ```mlir
    %use_rl = hone.indicator gt %acc, 2.500000e-01 : tensor<8xf32>
    ```
  }];
  let arguments = (ins Hone_CmpPredicateAttr:$predicate, Hone_FloatTensor:$input,
                       F64Attr:$value);
  let results = (outs Hone_FloatTensor:$result);
  let assemblyFormat = [{
    custom<Keyword>($predicate) $input `,` $value attr-dict `:` type($input)
  }];
}

def Hone_GroupFilterOp : Hone_StepOp<"group_filter", [Pure]> {
  let summary = "keep the groups whose rewards differ (DAPO dynamic sampling)";
  let description = [{
    From an over-sampled batch of `B'` sequences (`B'/G` groups), keeps the
    first groups with `0 < #correct < G` (reward above `threshold`), in
    order, and gathers every tensor in `values` (leading dimension `B'`) to
    `B` rows. The last result `[B]` is 1 for kept rows and 0 for padding
    when fewer groups qualified; objectives multiply their mask by it.

    ```mlir
    %tok, %m, %valid = hone.group_filter %r (%tok0, %m0) {group_size = 4 : i64, threshold = 5.000000e-01 : f64} : tensor<16xf32>, tensor<16x32xi32>, tensor<16x32xf32> -> tensor<8x32xi32>, tensor<8x32xf32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Hone_FloatTensor:$rewards, Variadic<AnyRankedTensor>:$values,
                       I64Attr:$group_size,
                       F64Attr:$threshold);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = [{
    $rewards `(` $values `)` attr-dict `:` type($rewards) `,` type($values) `->` type($results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Buffers (ReLIFT)
//===----------------------------------------------------------------------===//

def Hone_BufferInitOp : Hone_StepOp<"buffer.init", [Pure]> {
  let summary = "an empty buffer";
  let description = [{
    ```mlir
    %b = hone.buffer.init : !hone.buffer<64>
    ```
  }];
  let results = (outs Hone_BufferType:$buffer);
  let assemblyFormat = "attr-dict `:` qualified(type($buffer))";
}

def Hone_BufferPushOp : Hone_StepOp<"buffer.push", [Pure, AllTypesMatch<["buffer", "result"]>]> {
  let summary = "append the ids whose select flag is set";
  let description = [{
    Appends `ids[i]` for each `select[i] ≠ 0`; when full, the oldest ids are
    dropped.

    ```mlir
    %b1 = hone.buffer.push %b0, %ids, %hard : !hone.buffer<64>, tensor<2xi64>, tensor<2xf32>
    ```
  }];
  let arguments = (ins Hone_BufferType:$buffer, Hone_IdTensor:$ids,
                       Hone_FloatTensor:$select);
  let results = (outs Hone_BufferType:$result);
  let assemblyFormat = [{
    $buffer `,` $ids `,` $select attr-dict `:` qualified(type($buffer)) `,` type($ids) `,` type($select)
  }];
  let hasVerifier = 1;
}

def Hone_BufferPopOp : Hone_StepOp<"buffer.pop", [Pure, AllTypesMatch<["buffer", "result"]>]> {
  let summary = "take a batch of ids once the buffer holds one";
  let description = [{
    `ready` is true when the buffer holds at least as many ids as `ids` has
    rows; then the oldest are removed and returned. Otherwise the buffer is
    unchanged and `ids` is unspecified.

    ```mlir
    %b2, %ids, %ready = hone.buffer.pop %b1 : !hone.buffer<64> -> tensor<8xi64>
    ```
  }];
  let arguments = (ins Hone_BufferType:$buffer);
  let results = (outs Hone_BufferType:$result, Hone_IdTensor:$ids, I1:$ready);
  let assemblyFormat = "$buffer attr-dict `:` qualified(type($buffer)) `->` type($ids)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Training
//===----------------------------------------------------------------------===//

def Hone_TrainStepOp : Hone_StepOp<"train_step", [
    AttrSizedOperandSegments, IsolatedFromAbove,
    MemoryEffects<[MemWrite]>]> {
  let summary = "forward, objective, backward and optimiser step on a batch";
  let description = [{
    Runs the forward pass of `models[readers[i]]` on `tokens[i]` for every
    token batch, reading what `reads[i]` says:

    | read | block arguments |
    |---|---|
    | `logprob` | per-token log-probs `[B,T]` |
    | `logprob+entropy` | log-probs `[B,T]`, entropies `[B,T]` |
    | `value` | per-token values `[B,T]` (critic) |
    | `reward` | the output at each sequence's last non-padding token `[B]` (reward model) |

    These are the region's differentiable arguments, followed by one
    argument per `inputs` operand (masks, old and reference log-probs,
    advantages, schedules: constants of the step). The `objective` region
    computes the scalar loss in the loss algebra and yields it with named
    metrics. `hone-differentiate` adds the `gradient` region: the same
    computation that also yields `∂loss/∂arg` for every differentiable
    argument. The runtime back-propagates those through the models,
    accumulates over `mini_batches` micro-batches, clips and takes an
    optimiser step with `optimizer` settings, `epochs` times over the batch
    (PPO). With `updates = U` > 1 each pass takes U optimiser steps, one per
    consecutive 1/U of the rows (PPO mini-batches, TRL `num_mini_batches`);
    the objective is then written for one such mini-batch: every region
    argument and every input of rank >= 1 has 1/U of the operand's rows.
    Results: the updated models, and the loss and metrics averaged over the
    optimiser steps.

    `fused_reads` (set by `hone-fuse-forwards`) gives, for every token
    batch, the index of the read whose forward also computes it: reads
    that share one (the same model and read) run as one forward and one
    backward over their rows concatenated in read order (or, where shared
    prompt rows save more, row b of every read together: docs/runtime.md
    "Shared prompt rows"), micro-batch by micro-batch; the region still
    sees one argument per read (views of the concatenated output). Batches of other rows or lengths (CHORD's
    rollouts and demonstrations) are concatenated on the longest length,
    each row padded past its own (a causal model: positions before a
    row's length are those of the row alone; packed, its tokens only).
    Absent, every read runs on its own.

    `kept_forwards` (set by `hone-fuse-forwards`) gives, for every token
    batch, -1 or the index `k` of an `inputs` operand that a `hone.value`
    computed from the read's model on the read's tokens (PPO's `v_old`):
    the first pass's forward of that read is the one that op ran, its
    activations kept by the model, so the step runs one forward of the
    model fewer. Only a `value` read that runs as one forward per optimiser
    step (`updates` and `mini_batches` 1, no other read of the model) may
    have one; the runtime runs the forward itself when the model has run
    another forward since.

    `arg_names` names the region's arguments (the generated kernel's
    parameters) for readers and the runtime. `kernel` names the fused loss-and-gradient function that
    `hone-outline-loss-kernels` generates for the step.

    ```mlir
    %p1, %loss = hone.train_step (%p0) tokens(%tok) inputs(%m) {readers = array<i64: 0>, reads = ["logprob"], epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!model, tensor<4x16xi32>, tensor<4x16xf32>) -> (!model, tensor<f32>) objective {
    ^bb0(%l: tensor<4x16xf32>, %mask: tensor<4x16xf32>):
      %nl = hone.loss.neg %l : tensor<4x16xf32>
      %loss = hone.loss.masked_reduce token_mean %nl, %mask : tensor<4x16xf32> -> tensor<f32>
      hone.loss.yield %loss : tensor<f32>
    }
    ```
  }];
  let arguments = (ins Variadic<Hone_ModelType>:$models,
                       Variadic<Hone_TokenTensor>:$tokens,
                       Variadic<Hone_FloatTensor>:$inputs,
                       DenseI64ArrayAttr:$readers, StrArrayAttr:$reads,
                       OptionalAttr<StrArrayAttr>:$arg_names,
                       OptionalAttr<StrAttr>:$kernel,
                       I64Attr:$epochs,
                       I64Attr:$mini_batches,
                       Hone_OptimizerAttr:$optimizer,
                       I64Attr:$updates,
                       OptionalAttr<DenseI64ArrayAttr>:$fused_reads,
                       OptionalAttr<DenseI64ArrayAttr>:$kept_forwards);
  // The updated models (one per trained model), the loss, the metrics.
  let results = (outs Variadic<AnyType>:$results);
  let regions = (region SizedRegion<1>:$objective, AnyRegion:$gradient);
  let assemblyFormat = [{
    `(` $models `)` `tokens` `(` $tokens `)` (`inputs` `(` $inputs^ `)`)? attr-dict
    `:` functional-type(operands, results) `objective` $objective (`gradient` $gradient^)?
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::ResultRange getNewModels() {
      return getResults().take_front(getModels().size());
    }
    ::mlir::Value getLoss() { return getResult(getModels().size()); }
    ::mlir::ResultRange getMetrics() {
      return getResults().drop_front(getModels().size() + 1);
    }
    /// Number of leading block arguments that hold model outputs (the
    /// differentiable ones).
    unsigned getNumDiffArgs();
    /// The type a region argument has for an operand of type `t` when each
    /// optimiser step sees 1/`updates` of the rows (rank 0: unchanged).
    static ::mlir::Type miniBatchType(::mlir::Type t, int64_t updates) {
      auto r = ::llvm::cast<::mlir::RankedTensorType>(t);
      if (r.getRank() == 0 || updates <= 1)
        return t;
      ::llvm::SmallVector<int64_t> shape(r.getShape());
      shape[0] /= updates;
      return r.clone(shape);
    }
    /// The element type of the objective (f32 or f64).
    ::mlir::Type getLossElementType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getLoss().getType()).getElementType();
    }
  }];
}

def Hone_SyncWeightsOp : Hone_StepOp<"sync_weights", [MemoryEffects<[MemWrite]>]> {
  let summary = "copy a trained policy's weights to the rollout engine";
  let description = [{
    After a learning step, generation must use the new weights. Without
    `to`, generation reads the policy itself and the op copies nothing. With
    `to` (hone-pipeline-rollouts: the rollout lane's own weights, a
    `hone.exec.snapshot` of the policy), the policy's weights are copied
    into the target, which must have the same architecture.

    ```mlir
    hone.sync_weights %p1 : !hone.model<...>
    hone.sync_weights %p1 to %roll : !hone.model<...>, !hone.model<...>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model,
                       Optional<Hone_ModelType>:$target);
  let assemblyFormat = [{
    $model (`to` $target^)? attr-dict `:` qualified(type($model))
    (`,` qualified(type($target))^)?
  }];
  let builders = [OpBuilder<(ins "Value":$model), [{
    build($_builder, $_state, model, Value());
  }]>];
  let hasVerifier = 1;
}

def Hone_EvalStepOp : Hone_StepOp<"eval_step", [MemoryEffects<[MemWrite]>]> {
  let summary = "evaluate a model on a dataset and log metrics";
  let description = [{
    Held-out loss on `data`, and with a reward, mean reward and accuracy of
    greedy completions; metrics are logged under `name`.

    ```mlir
    hone.eval_step %m, %test reward %r {name = "final"} : !hone.model<...>, !hone.dataset<prompt_answer>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model, Hone_DatasetType:$data,
                       Optional<Hone_RewardType>:$reward,
                       OptionalAttr<StrAttr>:$name,
                       Hone_EvalSettingsAttr:$settings);
  let assemblyFormat = [{
    $model `,` $data (`reward` $reward^)? attr-dict `:` qualified(type($model)) `,` qualified(type($data))
  }];
}

#endif // HONE_STEP_OPS_TD
