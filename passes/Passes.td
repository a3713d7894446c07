//===- Passes.td - hone passes -----------------------------*- tablegen -*-===//

#ifndef HONE_PASSES_TD
#define HONE_PASSES_TD

include "mlir/Pass/PassBase.td"

def EstimateMemory : Pass<"hone-estimate-memory", "::mlir::hone::PipelineOp"> {
  let summary = "bound each stage's model-state memory and check it against the budget";
  let description = [{
    The stage-level part of Hone's static memory plan. For every stage it
    sums the bytes of the model states that must be resident while it runs:
    fp32 weights, gradients and both AdamW moments (16 bytes a parameter)
    for each model the stage trains (the policy; PPO's critic too), and fp32
    weights (4 bytes a parameter) for each frozen model it reads (reference,
    reward model; 2 bytes a parameter with `hardware.frozen_precision: bf16`
    (the default with `precision: bf16`), where
    such models are stored in bf16, LoRA bases excepted). The figure is attached as `hone.state_bytes` to the stage
    and the maximum as `hone.peak_state_bytes` to the pipeline.

    When a budget is known — the pass option, or a nonzero `memory_budget`
    in the pipeline's `#hone.run<hardware = ...>` — a stage over it is a compile error that names the
    stage, its figure and the budget:

    ```mlir
    // hone-opt --hone-estimate-memory
    %1 = hone.sft plain %0, %d {batch_size = 8 : i64, steps = 10 : i64} : ...
    // becomes
    %1 = hone.sft plain %0, %d {batch_size = 8 : i64, hone.state_bytes = 1234 : i64, steps = 10 : i64} : ...
    ```

    A reference equal to the policy counts twice (the scheduler snapshots
    it). This is an early bound; the whole job's plan, with activations,
    KV caches and workspaces and the runtime's own sizes, is
    `hone-plan-memory` on the scheduled IR.
  }];
  let options = [
    Option<"precomputeReference", "precompute-reference", "bool", "true",
           "count no frozen reference for a DPO/IPO stage that "
           "hone-precompute-reference takes out of its loop">,
    Option<"budgetBytes", "budget-bytes", "int64_t", /*default=*/"0",
           "memory budget in bytes (0: the pipeline's hardware.memory_budget, if set)">
  ];
}


//===----------------------------------------------------------------------===//
// Step level and the loss algebra (issue 5)
//===----------------------------------------------------------------------===//

def ExpandStages : Pass<"hone-expand-stages", "::mlir::hone::PipelineOp"> {
  let summary = "turn every stage op into a loop of step ops with its objective";
  let description = [{
    Each `hone.sft`, `hone.reward_model`, `hone.preference` and `hone.rl`
    becomes an `scf.for` over its `steps` whose iteration arguments are the
    trained model states (policy; PPO's critic too). The loop body reads a
    batch (`hone.data.next`), generates and scores (RL), computes reference
    log-probs, advantages and schedules, and ends in a `hone.train_step`
    whose `objective` region is the method's loss in the loss algebra.
    `hone.eval` becomes `hone.eval_step`. `docs/methods.md` lists every
    objective with its formula and the settings it reads. Settings come from
    the stage ops' typed attributes (`#hone.loop`, `#hone.optimizer`,
    `#hone.rl_settings`, ...: dialect/HoneSettings.td), complete after the
    frontend; the pass has no defaults of its own. Every op that takes a
    model gets a `hone.models` annotation with the models' spec names
    (`modelNamesOf` in dialect/HoneOps.h); each stage loop keeps the stage's
    output name in `hone.outputs`.

    Shapes: offline stages read `B = batch_size × loop.grad_accum` sequences
    of `T = loop.max_length` tokens; RL stages left-pad prompts to
    `Tp = min(max_prompt_length, max_seq − 1)` tokens and hold
    `T = min(max_seq, Tp + generation.max_new_tokens)` tokens a sequence.

    ```mlir
    %1 = hone.sft plain %0, %d {batch_size = 4 : i64, steps = 10 : i64, loop = #hone.loop<...>, optimizer = #hone.optimizer<...>, settings = #hone.sft_settings<...>} : ...
    // becomes
    %1 = scf.for %i = %c0 to %c10 step %c1 iter_args(%p = %0) -> (!model) {
      %tok, %m, %ids = hone.data.next sequences %d, %i : ...
      %p1, %loss = hone.train_step(%p) tokens(%tok) inputs(%m) {...} objective {
      ^bb0(%l: tensor<4x32xf32>, %mask: tensor<4x32xf32>):
        %nl = hone.loss.neg %l : tensor<4x32xf32>
        %loss = hone.loss.masked_reduce token_mean %nl, %mask : ...
        hone.loss.yield %loss : tensor<f32>
      }
      scf.yield %p1 : !model
    }
    ```
  }];
  let options = [
    Option<"useF64", "f64", "bool", /*default=*/"false",
           "compute objectives in float64 (tests); float32 otherwise">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"];
}

def DecomposeLoss : Pass<"hone-decompose-loss"> {
  let summary = "rewrite composite loss ops into the primitive ones";
  let description = [{
    `ratio`, `kl`, `seq_mean`, masked `seq_sum`, `masked_reduce`, `mean` and
    `group_std` become element-wise ops, `sum`, unmasked `seq_sum`,
    `group_mean`, `broadcast` and constants, following their definitions.
    `hone-differentiate` and the lowering work on the primitives.

    ```mlir
    %r = hone.loss.ratio %a, %b : tensor<4x8xf32>
    // becomes
    %d = hone.loss.sub %a, %b : tensor<4x8xf32>
    %r = hone.loss.exp %d : tensor<4x8xf32>
    ```
  }];
}

def Differentiate : Pass<"hone-differentiate"> {
  let summary = "reverse-mode autodiff of every train step's objective";
  let description = [{
    For each `hone.train_step`, writes the `gradient` region: the objective
    (decomposed into primitives) followed by its adjoint, yielding the loss,
    the metrics and `∂loss/∂arg` for every differentiable block argument
    (the model outputs: log-probs, entropies, values, rewards). No gradient
    flows through `hone.loss.stop_gradient` or `hone.loss.cmp`, nor into the
    condition of `hone.loss.select`. Objectives that use an op outside the
    loss algebra on a differentiable value, or whose loss does not depend on
    any model output, are errors.

    ```mlir
    // objective: loss = Σ m·(−l) / Σ m
    // gradient:  ∂loss/∂l = −m / max(Σ m, 1)
    ```
  }];
}

def OutlineLossKernels : Pass<"hone-outline-loss-kernels", "::mlir::ModuleOp"> {
  let summary = "one function per train step: fused loss and gradient";
  let description = [{
    Copies each differentiated `hone.train_step`'s `gradient` region into a
    `func.func` named after its `kernel` attribute (set here when absent to
    `<pipeline>_step<N>`) in the enclosing module. Its parameters are the
    region's arguments; its results the loss, the metrics and the
    gradients. With `kernels-only`, everything else in the module is erased
    so that the module lowers to LLVM on its own.

    ```mlir
    func.func @sft_step0(%l: tensor<4x8xf32>, %m: tensor<4x8xf32>) -> (tensor<f32>, tensor<4x8xf32>)
    ```
  }];
  let options = [
    Option<"kernelsOnly", "kernels-only", "bool", /*default=*/"false",
           "erase everything but the generated kernels">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def ConvertHoneLossToLinalg : Pass<"convert-hone-loss-to-linalg"> {
  let summary = "lower the (decomposed) loss algebra to linalg on tensors";
  let description = [{
    Element-wise ops become `linalg.generic` with `arith`/`math` bodies,
    reductions `linalg.generic` reductions into `linalg.fill`ed tensors,
    group means reshape `[B]` to `[B/G, G]`. Composite ops are decomposed
    first. The result bufferizes and lowers through loops to LLVM or to GPU
    kernels (`hone-loss-to-llvm`, `hone-loss-to-nvvm` pipelines).

    ```mlir
    %y = hone.loss.exp %x : tensor<4x8xf32>
    // becomes
    %e = tensor.empty() : tensor<4x8xf32>
    %y = linalg.generic {...} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
    ^bb0(%a: f32, %o: f32):
      %r = math.exp %a : f32
      linalg.yield %r : f32
    } -> tensor<4x8xf32>
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def PrecomputeReference : Pass<"hone-precompute-reference", "::mlir::hone::PipelineOp"> {
  let summary = "a preference stage's reference log-probs computed once per dataset record";
  let description = [{
    DPO and IPO read their frozen reference only through each pair's
    masked log-prob sums `Σ_t m·l_ref` (chosen and rejected), constants of
    the dataset's records. A stage loop whose train step reads a model
    defined outside the loop only that way (every read a `hone.logprob` of
    one `hone.data.next pairs` token batch, used by the objective only as
    `seq_sum(x − l_ref, mask)` with that batch's own loss mask) gets a
    `hone.reference_table` before the loop (one pass of the reference over
    every training pair, each once whatever the epochs, `rows` = the
    stage's batch of pairs a forward, packed) and reads the batch's rows of
    it by record id (`hone.reference_rows`); the objective becomes
    `seq_sum(x, mask) − s_ref`, equal up to float rounding, and the step's
    argument names get `_sum`. The reference is then read before the stage
    only: no snapshot of the starting policy is made, and the train phase's
    memory plan no longer holds its weights.

    Applied where it lowers the reference's FLOPs (the loop reads at least
    as many pairs per rank as the dataset holds, i.e. one epoch or more) or
    the train phase's peak (nothing in or after the loop reads the
    reference); a remark on the table says what it replaced (pairs,
    GFLOP, residency), and `honec --report` prints a line per table. Not
    applied (a remark says why) when the dataset's records are not known
    at compile time (`--no-file-checks`). KTO does not qualify: its
    mismatched rows pair a record's prompt with the next record of the
    shuffled batch, no function of one record. `enabled=false` (honec
    `--no-precompute-reference`) leaves the loops as expanded, and the
    spec's `preference.precompute_ref_log_probs: false` (TRL's option of
    that name; `#hone.preference_settings`, which hone-expand-stages
    copies onto the loop as `hone.precompute_reference = false`) leaves its
    stage's loop;
    `hone-estimate-memory` applies the same decision
    (`precomputesReference`) and counts no frozen reference for such a
    stage.

    The table is exact to float rounding: metrics within float32 tolerance
    of the program without the pass (the reference's forwards run over
    other batches; at DPO's first step, policy = reference,
    `rewards/accuracies` compares sums of rounding noise). It is kept in
    the stage's checkpoints, so a resume (also into a stage after one that
    trained the reference) is bit-identical; with data-parallel ranks each
    rank computes every ranks-th record and the table is summed over them.
    The memory plan sizes its forward as a phase of its own before the
    stage (activations released after it, one working set for its layers;
    under a budget its pairs a forward are halved like a frozen read's
    micro-batch). Measured (bench/RESULTS.md, Zen 2, 2026-12-07): the
    scaled DPO case (d_model 512 x 8 layers, batch 32) peaks at 546 MiB
    against 634 MiB without the pass and 2771 MiB for the padded, unpacked
    program (5.07x); DPO with 2 epochs runs 1.14x fewer GFLOP and 1.15x
    less CPU.

    ```mlir
    scf.for ... {
      %d:5 = hone.data.next pairs %data, %i ...
      %lc = hone.logprob %ref, %d#0 ...
      %lr = hone.logprob %ref, %d#2 ...
      hone.train_step(...) inputs(%d#1, %d#3, %lc, %lr) ...
    }
    // becomes
    %t = hone.reference_table %ref, %data {max_length = 16 : i64, rows = 4 : i64} ... -> tensor<12x2xf32>
    scf.for ... {
      %d:5 = hone.data.next pairs %data, %i ...
      %sc, %sr = hone.reference_rows %t[%d#4] ...
      hone.train_step(...) inputs(%d#1, %d#3, %sc, %sr) ...
    }
    ```
  }];
  let options = [
    Option<"enabled", "enabled", "bool", "true",
           "precompute the reference's log-prob sums where it pays">,
  ];
}

def FuseForwards : Pass<"hone-fuse-forwards", "::mlir::hone::PipelineOp"> {
  let summary = "one forward and one backward per model and train step";
  let description = [{
    A `hone.train_step` that reads one model on several token batches
    (DPO, IPO, KTO, ORPO, SimPO: chosen and rejected; the reward model:
    the pair; CHORD, SRFT, HPT: the rollouts and the demonstrations) ran
    that model forward once per batch and, because the model then ran
    more than once per optimiser step, once more before each backward: 4
    forwards and 2 backwards for two batches. This pass sets the step's
    `fused_reads` (per read, the first read it shares a forward with), and
    the runtime runs one forward and one backward over the reads' rows
    concatenated, micro-batch by micro-batch: 1 and 1 over the rows of
    both, 6 forward-equivalents of model FLOPs instead of 8 for batches of
    one shape. The objective region is unchanged; its arguments are views
    of the concatenated output. Every row is computed by the same kernels
    as before: forward outputs, and so the loss and metrics of a step, are
    the same to float rounding; the weight gradient sums the rows in
    another order. The runtime may interleave the reads' rows (a record's
    chosen and rejected side by side) where shared prompt rows save more
    that way (docs/runtime.md "Shared prompt rows"): a forward over DPO's
    pairs then runs each record's prompt once.

    Reads of one model and read kind with the same token type always
    share a forward. Batches of other rows or lengths (CHORD's rollouts,
    prompt + max_new_tokens positions, and demonstrations of the stage's
    sequence length) are concatenated on the longer length, each row
    padded with 0 past its own: the model is causal, so a row's positions
    are computed as alone and those past it yield 0 (unit test
    ShapesFromData); packed (`hone-pack-sequences` on every member), the
    stream holds each row's tokens only. Such reads share a forward where
    that forward and its backward (3 forward-equivalents; 4 when
    micro-batched) cost no more than separate forwards (4 each), each
    counted as it will run. honec runs `hone-pack-sequences` first, so the
    pass reads its decision (the step's `packed`): where every member is
    packed, the fused forward costs the sum of the members' packed
    forwards (one stream of their real tokens: dataset rows at their mean
    lengths, rollouts at their padded length, the bound), and the reads
    share it; otherwise (`--no-pack-sequences`, or a member left padded)
    the cost is counted padded, over the longer length: CHORD's 8 x 24
    rollouts and 2 x 32 demonstrations share it, 4 x 8 and 2 x 16 batches
    do not, nor 8 x 24 and 2 x 64 (CHORD at `max_seq_len` 64: 3 x 10 x 64
    row-positions against 4 x (8 x 24 + 2 x 64)), which share it packed.
    Reads of different
    models or kinds stay apart; a step that already has `fused_reads` is
    left as it is. `honec --no-fuse-forwards` leaves the pass out.

    Under a memory budget fusion is a trade: the fused forward keeps every
    member's activations until its one backward, where the unfused step
    re-runs each read's forward before its backward and keeps one read's
    activations at a time. The pass decides on FLOPs at step level; the
    memory side is decided where the budget is known, by the memory plan
    (`hone-plan-memory`, its decisions below), with code of this pass
    (passes/FuseForwardsBudget.cpp): when the plan is over the budget and a
    fused group's activation buffer is live at its peak, the group is
    planned both ways, apart (`fused_reads` undone for that model) and
    fused with per-layer recomputation (`recompute_layers` R), each with
    the fewest recomputed layers (none, then 2 .. L) that fits, and of
    those that fit the one with fewer FLOPs per train step is kept: apart
    costs 4 forward-equivalents of each read (+ (R-1)/L), fused 3 of the
    group's forward (4 when micro-batched; + (R-1)/L); a tie stays fused.
    When neither fits, the step stays fused and the plan's own decisions go
    on. The choice is a remark and a line of the plan's `decisions`
    (`honec --report`), with both variants' peaks and GFLOP, e.g. CHORD at
    `max_seq_len` 64 (fused 6.1 MiB, fused recomputing both layers 4.7 MiB,
    apart 4.3 MiB): under 4.5 MiB kept apart ("fused does not fit"), under
    5 MB kept fused with `recompute_layers` 2 (0.2324 against 0.2656 GFLOP
    per train step). `honec --report` counts the model work after the plan,
    so it shows what runs (4 -> 4 forwards kept apart; a recomputed layer's
    re-run forward in the GFLOP). Tests: `test/Pipelines/honec-fuse-budget.test`,
    `e2e.compiled.fuse_forwards_budget` (both jobs within their plans; fused
    with recomputed layers bit-identical to the unconstrained job, apart
    within float32 rounding of it).

    Frozen-model reads: `hone.logprob` ops in one block on the same model
    value, with the same `entropy`, token type and sampling temperature
    (DPO's, IPO's reference on chosen and rejected) become one
    `hone.logprob` over all their token batches, which the runtime runs as
    one forward over the rows concatenated; each result keeps its uses.

    Kept forwards (PPO's `v_old`): a `hone.value` (without `last`) of the
    model value a train step reads, on the same tokens and in the same
    block, that feeds the step as an input, computed the step's first
    forward of that read already: the critic's weights are unchanged until
    the step's first optimiser step. Where the step runs that model once
    over the whole batch per optimiser step (its only read; `updates` and
    `mini_batches` 1) the pass sets `kept_forwards`, and the runtime
    back-propagates the first pass through the activations the model kept
    from `hone.value`: one critic forward fewer per iteration, the same
    activations, so the same results bit for bit. Other passes (epochs 2
    and later) run their forward as before.

    ```mlir
    %lc = hone.logprob %ref, %chosen : !m, tensor<8x32xi32> -> tensor<8x32xf32>
    %lr = hone.logprob %ref, %rejected : !m, tensor<8x32xi32> -> tensor<8x32xf32>
    // becomes
    %lc, %lr = hone.logprob %ref, %chosen, %rejected : !m, tensor<8x32xi32>, tensor<8x32xi32> -> tensor<8x32xf32>, tensor<8x32xf32>

    %p1, %loss = hone.train_step (%p0) tokens(%chosen, %rejected) inputs(...)
        {readers = array<i64: 0, 0>, reads = ["logprob", "logprob"], ...}
    // becomes
    %p1, %loss = hone.train_step (%p0) tokens(%chosen, %rejected) inputs(...)
        {fused_reads = array<i64: 0, 0>, readers = array<i64: 0, 0>, ...}
    ```
  }];
}

def StreamScores : Pass<"hone-stream-scores", "::mlir::hone::PipelineOp"> {
  let summary = "score rows while the rest of the batch still decodes";
  let description = [{
    Rows of a `hone.generate` batch finish at different steps (a stop
    token, a stop string); the rest of the batch decodes on. A
    `hone.score` can take a row as soon as it ends, overlapping scoring
    with decoding (RLHFuse's stage fusion within an iteration): with an
    external reward process (a verifier service, a code sandbox) its
    latency then hides behind the decode instead of following it.

    This pass marks such pairs with discardable unit attributes:
    `stream_rows` on the `hone.generate` and `stream` on each `hone.score`
    whose tokens and mask are that generate's results 0 and 1, when the
    generate has no demonstrations (LUFFY, UFT) and the reward is a
    `hone.reward.verifier`, a `hone.reward.external`, a `hone.reward.model`
    or a `hone.reward.combine` of those. The runtime (runtime/ops/Streams.cpp)
    then writes each row's results when it ends and scores it with the
    unstreamed op's function: a verifier or a process on that row alone, a
    reward model one row per forward on the CPU (computed on the score's
    worker as the row ends; the unstreamed op runs the same forwards), so
    scores and everything after
    them are those of the unstreamed order, with lanes or inline (the host
    holds the generate until its scores have attached).

    Reference log-probs can stream too, when asked (`logprob-rows=N`,
    `honec --stream-logprobs` for N = 8; off by default: on 2 cores the
    grouped reads cost more than they overlapped, bench/RESULTS.md): a
    `hone.logprob` of one token batch, the generate's result 0 (packed to
    its result 1 or padded), by a model defined outside the read's region
    (frozen: the loop does not change it), without entropy, gets
    `row_group = N` (at most the batch's rows), the rows of each forward,
    and `stream`. The runtime computes each group's forward on the read's
    worker once the group's last row ends, where cores are idle beside
    decoding, else after it (docs/runtime.md). With `stream=false`
    (`honec --no-stream-scores`) the pass sets only `row_group`: the
    unstreamed program computes the same forwards after decoding, so
    results are bit-identical either way.

    ```mlir
    %tok, %m, %l_old = hone.generate %policy, %ptok, %pmask, %step {..., stream_rows} : ...
    %s = hone.score %verifier, %tok, %m, %ids {stream} : ...
    // with logprob-rows=8:
    %l_ref = hone.logprob %ref, %tok packed(%m : tensor<8x24xf32>) {row_group = 8 : i64, stream} : ...
    ```
  }];
  let options = [
    Option<"stream", "stream", "bool", /*default=*/"true",
           "mark streams (false: only fix reference reads' row groups, "
           "as honec --no-stream-scores)">,
    Option<"logprobRows", "logprob-rows", "int64_t", /*default=*/"0",
           "rows per forward of a streamable reference read (0: reference "
           "reads are left whole and unstreamed; honec --stream-logprobs "
           "sets 8)">,
  ];
}

def PackSequences : Pass<"hone-pack-sequences", "::mlir::hone::PipelineOp"> {
  let summary = "padding-free forwards (train steps, frozen reads) where exact";
  let description = [{
    Token batches are padded to the stage's sequence length; the padding
    rows cost the model as much as real tokens (and attention more). This
    pass marks the reads of a `hone.train_step` that the runtime may run
    padding-free, in the discardable attribute `packed` (one entry per
    token batch): `k >= 0` runs the read over each row's tokens up to the
    last nonzero of input `k` (its loss mask), `-2` (reward reads) up to
    the row's last token, `-1` padded. The runtime concatenates the rows'
    real tokens into one stream with positions restarting at 0 per row
    and block-diagonal causal attention (kernels/Kernels.h,
    `AttentionShape::offsets`, CPU and CUDA), as TRL's `padding_free`,
    and scatters the outputs back to the padded layout, 0 at positions
    past a row's length.

    The mark is exact, and so on by default: a read is packed only where
    the objective reads each of its per-token outputs solely through masked
    reductions (`seq_sum` with a mask, `seq_mean`, `masked_reduce`) under
    one mask that is an input of the step with the tokens' shape, or under
    products of masks that all have such an input as a factor (DAPO's loss
    mask times its row filter), possibly after element-wise ops; a product
    with such a mask counts as masking (the objective expression's
    `token_sum`). Positions after a row's last masked token then change
    nothing the objective sees (the model is causal), so the loss, the
    metrics and the gradients are those of the padded program to float
    rounding (GEMMs over fewer rows). Every example method qualifies but
    UFT (two masks without a common factor). A read used otherwise (an
    unmasked mean, masks without a common input factor) stays padded, and a remark on its step lists each
    read's decision and why (`honec --report` lists the packed reads of
    every step). A step that already has
    `packed` is left as it is.

    Frozen reads outside train steps (`hone.logprob`: the reference's
    log-probs, the policy's own with truncated importance sampling;
    `hone.value` without `last`: PPO's `v_old`) get `packed` mask operands,
    one per token batch, where every use of the batch's results is read
    only where that mask is nonzero: a train step's input that the
    objective reads as above (under a mask input that is one of the step's
    operands), a KL penalty shaped into the reward (`hone.shape_reward`'s
    `l_old` and `l_ref`, under its mask) or GAE's values (under its mask).
    The mask must be defined before the read; a read with several batches
    packs when all of them do. Otherwise the read stays padded with a
    remark saying why. honec runs this pass before `hone-fuse-forwards`,
    which then decides on the reads' packed cost and merges frozen reads
    packed alike (DPO's reference on chosen and rejected: one
    `hone.logprob` with both masks).
    PPO's `v_old` and the critic's read in the train step then pack to the
    same response mask, so the kept forward (`kept_forwards`) is a packed
    one that serves the packed read.

    `honec --no-pack-sequences` leaves the pass out. Not yet: bins of
    several rows (one stream per micro-batch), shrinking the step's
    activation memory to the packed rows.

    ```mlir
    %p1, %loss = hone.train_step (%p0) tokens(%tok) inputs(%mask) {reads = ["logprob"], ...}
        objective { ^bb0(%l: tensor<8x64xf32>, %m: tensor<8x64xf32>):
          %nl = hone.loss.neg %l : tensor<8x64xf32>
          %loss = hone.loss.masked_reduce token_mean %nl, %m : ... }
    // becomes
    %p1, %loss = hone.train_step (%p0) tokens(%tok) inputs(%mask) {packed = array<i64: 0>, reads = ["logprob"], ...}
    // and a reference read whose results only such a step reads
    %l_ref = hone.logprob %ref, %tok : !hone.model<...>, tensor<8x64xi32> -> tensor<8x64xf32>
    // becomes
    %l_ref = hone.logprob %ref, %tok packed(%mask : tensor<8x64xf32>) : !hone.model<...>, tensor<8x64xi32> -> tensor<8x64xf32>
    ```
  }];
}

def ScheduleStages : Pass<"hone-schedule-stages", "::mlir::hone::PipelineOp"> {
  let summary = "step IR → scheduled IR: snapshots of frozen models, stage brackets";
  let description = [{
    Models are mutable handles in the runtime: `hone.train_step` updates its
    model in place. Where a stage loop trains a model state (an `scf.for`
    iter_arg initialised with it) that is also read inside or after the loop
    — GRPO's reference is the SFT model it starts from — the readers get a
    `hone.exec.snapshot` taken before the loop. Every stage loop (the
    top-level `scf.for` loops `hone-expand-stages` makes) is bracketed by
    `hone.exec.stage_begin` (whose result becomes the loop's lower bound, so
    `--resume` skips finished steps), `hone.exec.step_end` at the end of each
    iteration and `hone.exec.stage_end`; the stage's name comes from the
    loop's location. With `hardware.frozen_precision: bf16` (the default
    with `precision: bf16`), every snapshot and
    every `hone.model.load` that only forward-pass readers use (no loop
    trains it, no LoRA or copy is made of it) gets the discardable
    attribute `storage = "bf16"`: the runtime keeps it in bf16 and
    `hone-plan-memory` sizes it so (docs/runtime.md, "Frozen models in
    bf16").

    ```mlir
    %rl = scf.for %i = %c0 to %c20 step %c1 iter_args(%p = %sft) -> (!model) {
      %lref = hone.logprob %sft, ...
    // becomes
    %ref = hone.exec.snapshot %sft : !model
    %first = hone.exec.stage_begin "grpo" steps 20
    %rl = scf.for %i = %first to %c20 step %c1 iter_args(%p = %sft) -> (!model) {
      %lref = hone.logprob %ref, ...
      ...
      hone.exec.step_end %i
      scf.yield ...
    }
    hone.exec.stage_end
    ```
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect"];
}

def PipelineRollouts : Pass<"hone-pipeline-rollouts", "::mlir::hone::PipelineOp"> {
  let summary = "software-pipelines RL stage loops: rollouts run `staleness` steps ahead of learning";
  let description = [{
    An RL stage loop whose `#hone.rl_settings` has `staleness = k > 0`
    (the stage's `hone.stage_settings`) is rewritten so that generation and
    scoring of step i + k run while step i learns. The rollout part of the
    body (`hone.data.next` of prompts, every `hone.generate` of the policy,
    `hone.score`, `hone.group_filter`, a hybrid's `hone.data.fetch` and the
    pure ops without regions they need, such as `arith` on the step or
    UFT's `hone.schedule`) reads a copy of the policy's weights, a
    `hone.exec.snapshot` marked `hone.rollout_weights` and taken at the
    stage's start; a pure op learning also reads is computed again there.
    The learning part (PPO's critic, reference log-probs, advantages, the
    train step, ReLIFT's SFT steps) ends with `hone.sync_weights %p to
    %roll`, which copies the policy the step yields into it (on the copy
    lane). Every rollout value the learning part reads
    gets k loop-carried slots, so hone-plan-arena holds each rollout buffer
    k + 1 times (the slots, which are the loop's results, and the batch being
    generated).

    - prologue: the rollouts of steps `first` .. `first + k - 1`
      (`hone.stage_part = "prologue"`), handed through
      `hone.exec.rollouts_resume` (which, on a run resumed inside the
      stage, yields the checkpoint's rollouts instead; the runtime skips the
      prologue then);
    - steady state: `scf.for %i = %first to N - k` (`hone.pipelined = k`):
      the rollout of step `%i + k`, then step `%i` learning from slot 0, the
      weight sync, and the slots shifted by one;
    - epilogue: `scf.for %i = max(%first, N - k) to N`
      (`hone.stage_part = "epilogue"`): learning from slot 0 without
      generating or syncing, the slots shifted.

    Before each `hone.exec.step_end`, `hone.exec.rollouts_in_flight` names
    the rollouts of the next k steps (the epilogue repeats its last slot to
    keep their number): a checkpoint written at that step end stores them,
    so a killed run resumes bit-identically. Rollout ops carry `hone.ahead`
    (the steps between the op and the step that learns from its result):
    the runtime logs their metrics (reward, completion lengths) at that step,
    so `metrics.jsonl` pairs each step's loss with the reward of the batch
    it learned from, and draws their sampling noise for that step, as an
    on-policy run would. The importance ratio's `l_old` is the generating
    weights' log-probs (the behaviour policy), carried with the tokens; with
    `policy_loss.tis_cap` the learner's own log-probs before the update are
    `l_old` and the generator's are `l_rollout`, weighting each token by
    `sg(min(exp(l_old - l_rollout), cap))`. `hone.exec.stage_begin` gets
    `staleness = k`. Errors (at the loop): a staleness not below the stage's
    steps, a loop without a generate or with a generate of anything but its
    policy, a loop without a `hone.sync_weights`, a yielded policy not
    computed before the step end, a rollout op that reads what learning
    produces.
    Runs after hone-schedule-stages and before hone-plan-arena; a stage with
    staleness 0 is left alone.

    ```mlir
    %first = hone.exec.stage_begin "grpo" steps 20
    %r = scf.for %i = %first to %c20 step %c1 iter_args(%p = %init) -> (!model) {
      %tok, %m, %lold = hone.generate %p, ..., %i ...
      %p1, %loss = hone.train_step (%p) ... inputs(%m, %lold, ...)
      hone.sync_weights %p1 : !model
      hone.exec.step_end %i
      scf.yield %p1
    } {hone.stage_settings = {settings = #hone.rl_settings<..., staleness = 1>}}
    // becomes
    %first = hone.exec.stage_begin "grpo" steps 20 {staleness = 1 : i64}
    %roll = hone.exec.snapshot %init {hone.rollout_weights}
    %g0:3 = hone.generate %roll, ..., %first {hone.stage_part = "prologue"}
    %s:3 = hone.exec.rollouts_resume %g0#0, %g0#1, %g0#2
    %r:4 = scf.for %i = %first to %c19 step %c1
        iter_args(%p = %init, %t = %s#0, %mk = %s#1, %lo = %s#2) {
      %i1 = arith.addi %i, %c1 : index
      %tok, %m, %lold = hone.generate %roll, ..., %i1 {hone.ahead = 1}
      %p1, %loss = hone.train_step (%p) ... inputs(%mk, %lo, ...)
      hone.sync_weights %p1 to %roll : !model, !model
      hone.exec.rollouts_in_flight %tok, %m, %lold
      hone.exec.step_end %i
      scf.yield %p1, %tok, %m, %lold
    } {hone.pipelined = 1}
    %from = arith.maxsi %first, %c19 : index
    %e:4 = scf.for %i = %from to %c20 ... iter_args(%p = %r#0, %t = %r#1, ...) {
      %p1, %loss = hone.train_step (%p) ... inputs(%mk, %lo, ...)
      hone.exec.rollouts_in_flight %t, %mk, %lo
      hone.exec.step_end %i
      scf.yield %p1, %t, %mk, %lo
    } {hone.stage_part = "epilogue"}
    ```
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def PlanArena : Pass<"hone-plan-arena", "::mlir::hone::PipelineOp"> {
  let summary = "scheduled IR: a static arena offset for every step tensor";
  let description = [{
    Every tensor that a step op yields gets a buffer in one arena per
    pipeline, at an offset fixed at compile time. A value lives from its
    producer to the last op of its block that uses it (directly or inside a
    nested region); the intervals of a block are packed first-fit in
    definition order, 64-byte aligned. A nested block (a stage loop's body,
    an `scf.if` branch) packs above everything its parent block holds. The
    offsets are printed on the producer as `hone.offsets` (one per result,
    -1 for results that are not tensors), each loop or `scf.if` records the
    arena's end while its region runs as `hone.arena_top` (the step's peak),
    and the pipeline records the arena's size as `hone.arena_bytes`. In the
    body of a pipelined stage loop (`hone.pipelined`, hone-pipeline-rollouts)
    every value lives to the end of the body: its rollout and learning ops
    run at once on two lanes, and bytes shared between them would order them.

    ```mlir
    hone.pipeline @p attributes {hone.arena_bytes = 3456 : i64} {
      ...
      scf.for %i = %first to %c20 step %c1 iter_args(%p = %m) -> (!model) {
        %tok, %m, %ids = hone.data.next prompts %d, %i {hone.offsets = array<i64: 0, 128, 256>} : ...
        %seq:3 = hone.generate %p, %tok, %m, %i {n = 4 : i64, hone.offsets = array<i64: 320, 1344, 2368>, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : ...
    ```
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect"];
}

def PlanMemory : Pass<"hone-plan-memory", "::mlir::hone::PipelineOp"> {
  let summary = "scheduled IR: liveness and offsets of every byte the job holds, checked against the budget";
  let description = [{
    The job's whole memory plan. Over the scheduled program (ops in program
    order, one stage-loop iteration standing for all) every buffer the
    runtime will hold gets a size and a live interval:
    - weights of every model object the runtime creates
      (`hone.model.init`/`load`/`new_head`, and each `hone.exec.snapshot`,
      the frozen copy of a reference equal to the policy; bf16 for those
      `storage = "bf16"` marks), alive to the end (the runtime keeps
      every model object to the job's end; not yet: a model no later op
      reads giving its bytes to later stages, which would lower no
      example's peak today: each multi-stage example reads all its models
      in its last stage); a LoRA model
      (`hone.model.lora`, or the snapshot of one) shares its base's weights
      and holds its adapters, their gradients and a norm-gain gradient
      scratch (`memsize::loraBytes`) to the end;
    - gradients and AdamW moments of the models a stage trains, for that
      stage (the runtime allocates gradients at the first backward and
      frees both at the stage end; adapter-sized for a LoRA model);
    - per model and stage, the kept activations of its largest forward
      (micro-batch rows x sequence length of `hone.logprob`, `hone.value`,
      reward-model scoring and `hone.train_step`; a packed read of dataset
      rows, at most its rows' longest training rows' tokens and squared
      lengths: `hone.pair_lengths` / `hone.sequence_lengths` on
      `hone.dataset`, docs/compiler.md "Packed sequences"; a fused packed
      group of other token types, CHORD's rollouts and demonstrations, the
      sum of its members' bounds, each its dataset rows' or its padded
      rows'), its KV cache and
      incremental-forward workspace (`hone.generate`, `hone.eval_step`);
      the runtime frees them at `hone.exec.stage_end`. Such a buffer used
      inside a stage loop that may run twice is live from the loop's start:
      from the second iteration on it exists before its first use;
    - a frozen read (`hone.logprob`, `hone.value` of a model no train step
      of the stage trains) gets the discardable `release_activations`: the
      runtime frees that model's activations after the op, and the plan
      holds them at that op alone (`NAME.activations@POINT`); with no
      backward to follow, its layers share one working set
      (`recompute_layers` = the model's layers, `Transformer::
      setRecomputeLayers`: nothing is recomputed, results bit-identical);
    - in a stage that frees its work buffers at each step's end
      (`release_at_step_end`), a `hone.generate`'s KV cache and decode
      workspace serve that call alone: it gets the discardable
      `release_decode`, the runtime frees them after the call, and the plan
      holds them at that op alone (`NAME.kv_cache@POINT`,
      `NAME.workspace@POINT`);
    - generation's logits while `hone.generate` runs, the CPU kernels'
      LM-head scratch per lane, and the step-tensor arena
      (`hone.arena_bytes` of `hone-plan-arena`);
    - the runtime's own memory, a row `runtime` for the whole job
      (`memsize::runtimeBytes` at the spec's `hardware.threads`, 1 when
      unset: 416 KiB for the heap of small host-side vectors and the BLAS
      library's packing buffers, 96 KiB a thread for its stack and scratch,
      512 KiB at one thread; a job running more threads adds the
      difference, `runtime.threads`; the job measures the part it brings up at start-up against it,
      docs/runtime.md "Memory check"), and one row per dataset,
      `dataset.NAME`, the bytes the job's loader holds for its records
      (`hone.held_bytes` of the `hone.dataset`, counted by the frontend with
      the runtime's own reader and count, runtime/data/HeldBytes.h; datasets
      not read at compile time get none) and `dataset.NAME.record`, two
      working copies of its longest record (`hone.record_bytes`: the line
      being parsed and its example, a rendered conversation and its
      tokens; docs/formats.md "Long records"); a LoRA model's activations include
      the dropout scratch when its `dropout` is above 0.
    Sizes come from the runtime's own sizing functions
    (`runtime/model/MemorySizes.h`, linked by the compiler), fp32.

    Offsets are packed greedy-by-size (largest buffer first, each at the
    lowest 64-byte-aligned offset free of the buffers live at the same
    time). The pass records `hone.memory_plan` on the pipeline:
    `peak_bytes` (the packed arena's end), `lower_bound_bytes` (most bytes
    live at one point), `first_fit_bytes` (first-fit in order of first use,
    for comparison), `no_reuse_bytes`, the budget and its source, the stage
    and op of the peak, each stage's first and last points (`stages`:
    `point`, `end`), and every buffer with its kind, size, offset and
    interval, `placed` on those the runtime places in its arena (the job
    populates them when their stage begins), and `lanes`, how many lanes
    the ops name (the plan is for steps run inline; a job that runs them
    on lanes adds its lane threads' row, docs/runtime.md "Memory check"). The job reads the plan to check its measured peak and maps
    one arena of `peak_bytes` (docs/runtime.md), in which it places the
    step tensors and the buffers the pass gives placements: each model
    object gets the discardable `plan_model` (its plan id), each op that
    creates or runs a model (the model objects, `hone.exec.stage_begin`,
    `hone.generate`, `hone.logprob`, `hone.value`, `hone.score`,
    `hone.eval_step`, `hone.train_step`) `arena`, an i64 array of
    quadruples (plan id, kind 0 activations / 1 KV cache / 2 decode
    workspace / 3 weights / 4 gradients / 5 optimiser moments / 6
    generation's logits, offset, bytes) for the buffers it allocates: a
    model object its weights (a LoRA model its adapters and their
    gradients), a train step the gradients, a stage begin the moments
    (live from the stage's begin, where the runtime creates them; moments
    offloaded by decision 5 below: the train step, for its updates), a
    generation its logits. The LM-head scratch per lane is live for the
    whole job: the job hands each lane's CPU kernels its slot at the start
    (steps run inline: the job's kernels take the largest).

    Work buffers freed at each step's end: with placement a buffer freed
    and taken again costs no allocation and no page fault, so by default
    (option `release-at-step-end`, honec `--no-release-at-step-end` turns
    it off) every stage whose models freeing their activations, KV caches
    and decode workspaces at each step's end lowers the planned peak does
    so (`release_at_step_end` in the plan, read by the job at
    `hone.exec.step_end`): their live intervals then run from their first
    use in the loop body to its end, so the buffers of different models
    in one step share bytes.

    Train steps run model by model: a `hone.train_step` of several models
    whose objective separates, each model's gradients (the gradient
    region's `grads`) depending on the outputs of that model's reads alone
    and on constant inputs (found from the region's def-use, not from the
    method: PPO's policy term reads the log-probs, its value term the
    values), in a stage that frees its work buffers at each step's end,
    gets the discardable `phases` (one entry per model operand; the
    models whose gradients read each other's outputs share a phase, and a
    phase with a `kept_forwards` read comes first). The runtime then runs
    each optimiser step phase by phase: the phase's forwards, the loss
    kernel (once per phase; a later phase's outputs are zeros until their
    forward, which the phase's gradients do not read, so they are the bits
    of the whole step's), its backwards, and frees its models' activations
    (runtime/ops/TrainStep.cpp). Gradients, updates, loss and metrics (the
    last phase's call, on every output) are those of the whole step. The
    plan gives the step one point per phase: a model's per-step
    activations end at its phase (when no later op in the step runs the
    model), so one phase's activations are live at a time (PPO: the
    critic's, then the policy's, in the same bytes). The plan lists each
    such step in `split_train_steps` with the peak the plan would have
    with every step run whole (honec `--report` prints them). Option
    `split-train-steps` (honec `--no-split-train-steps` turns it off).

    The LM head's logits (passes/PlanMemoryLogits.cpp): a train step's
    forward of an LM-head model keeps its logits (the stream's rows x vocab
    floats, in that model's activations: `memsize::activationBytes` with
    `keepLogits`) so that its backward reads them instead of running the
    logits GEMM again (docs/runtime.md "Kept logits"; results
    bit-identical). On the CPU they are kept by default: with a memory
    budget set (option `budget-bytes` or the spec's
    `hardware.memory_budget`) wherever the plan fits it (decision 2 below
    recomputes them where it does not); without one, only where they are
    no larger than the rest of that forward's activations (at most doubling
    the buffer they join; GPT-2 d512 x 8 at 4 x 256 rows and vocabulary
    8192 keeps 32 MiB beside 346 MiB; Qwen3's vocabulary of 151936, about
    152 k floats a row, is kept beside Qwen3-0.6B's 28 layers of d_model
    1024, but beside d_model 512 x 8, about 89 k a row, only with a
    budget). With `hardware.device: cuda` they are not kept (the CUDA
    kernels recompute them: not yet). Written as the discardable
    `keep_logits` on `hone.train_step` (one entry per model operand, 0 or
    1; absent: none kept) and read by the runtime (`Transformer::
    setKeepLogits`; `HONE_LM_KEEP=0` recomputes whatever the plan says, for
    A/B runs). The plan lists each train step's choice in `kept_logits`
    (honec `--report`: `logits:` lines, with the bytes and why not when
    not). Option `keep-logits` (false: never kept).

    The budget is the pass option, else the spec's `hardware.memory_budget`,
    else on the CPU the machine's physical memory (`sysconf(_SC_PHYS_PAGES)`
    times the page size, on the machine that compiles); with
    `hardware.device: cuda` and no budget nothing is checked.

    Over the budget the pass decides, in this order, until the plan fits:
    1. when the peak is inside a stage loop (and the default above has not
       already done so), that stage's models free their
       activations, KV caches and decode workspaces at each step's end
       instead of keeping them for the next iteration (`release_at_step_end`
       in the plan, read by the job at `hone.exec.step_end`; results are
       unchanged, the buffers come back to their arena bytes each step),
       if that
       lowers the peak: the planned live interval of those buffers is then
       from their first use to the loop body's end (SFT->GRPO: the policy's
       activations no longer live at the reference's read, 7.6 -> 5.2 MiB);
    2. the LM head's kept logits of the activation buffers live at the
       peak recomputed in backward instead (keep_logits 0; largest first,
       the first that lowers the peak, else all of them together where the
       peak ties), before any decision below: it costs one logits GEMM per
       backward (about 4 % of a GPT-2 d512 SFT step at vocabulary 8192);
       then fusion's own decision, once, before any other recomputation: a
       `hone-fuse-forwards` group of a train step whose activations are live
       at the peak is kept apart or kept fused with recomputed layers,
       whichever fits with fewer FLOPs (`-hone-fuse-forwards` above;
       passes/FuseForwardsBudget.cpp); nothing when neither fits;
       then activation recomputation per layer for the activation buffers live
       at the peak whose every sizing forward is a `hone.train_step`,
       `hone.logprob` or `hone.value` (a frozen read's buffer first: no
       backward follows it, so nothing is re-run; then the largest): the
       fewest layers R (2 .. the model's layers; R = 1 saves nothing) that
       make the plan fit, else all of them, written as the discardable
       `recompute_layers` on each of those ops (`hone.train_step`: one
       entry per model operand, 0 for a model kept) and read by the runtime
       (`Transformer::setRecomputeLayers`, docs/runtime.md "Activation
       recomputation"): the forward keeps every layer's input and one
       shared set of working buffers for layers 0 .. R-1, and backward
       re-runs R-1 of those layers' forwards. Results are bit-identical
       (test/unit/model/RecomputeTest.cpp), so it comes before the
       micro-batch, whose gradient accumulation changes float rounding; a
       recomputation that would not lower the peak is not taken. Where the
       peak ties at several points and no one buffer lowers it (a train
       step run model by model: each phase holds its own model's
       activations), the candidates live at any of those points recompute
       all their layers together, one decision, kept when the peak falls
       (PPO under 5.5 MiB: critic and policy, 6.1 -> 5.3 MiB). Sizes are
       `memsize::activationBytes` with the count;
    3. a smaller micro-batch for the largest activation buffer live at the
       peak, halving every forward that sizes it (a model's per-stage
       activations are the largest of its forwards: PPO's critic buffer is
       sized by `hone.value` and by the train step alike, and halving one
       alone would save nothing): a `hone.train_step` takes twice its
       `mini_batches` (gradient accumulation: the step's rows, its
       objective and its optimiser steps are unchanged); a frozen read
       (`hone.logprob`, `hone.value`) gets `micro_batch` = half the rows it
       runs at once (the runtime runs one forward per chunk of rows;
       results are bit-identical where the CPU's GEMMs give a row the same
       bits whatever the row count, to a few ulp otherwise, e.g. on Zen 2:
       test/unit/job/StepsTest.cpp, test/unit/GemmRows.h); a
       `kept_forwards` entry of `hone-fuse-forwards` on either is dropped
       (the step runs that forward itself); repeated while it helps; the
       remark gives the buffer's saving as replanned (option
       `micro-batch`, honec `--no-micro-batch` turns it off: the decisions
       left, 1, 2 and 5, keep results bit-identical);
    4. a smaller generation batch, in place of 3 in a round where a
       `hone.generate`'s KV cache, decode workspace and logits (sized at
       the rows it generates at once: `memsize::kvCacheBytes`,
       `decodeWorkspaceBytes`, `generateTransientBytes`) hold more bytes at
       the peak than the largest activation buffer 3 would halve, and
       after it when 3 has nothing left: the generate gets the discardable
       `micro_batch` = half the rows it generates at once (the runtime
       generates its prompts that many rows at a time, each chunk a call
       with its own KV cache and decode workspace:
       `generateInChunks` in runtime/model/Generate.h; every row draws the
       Philox samples it draws in one call, decode's kernels give a row
       the same bits at any row count, and so tokens and log-probs equal
       the unchunked call's where the prefill's GEMMs are row-invariant:
       test/unit/model/GenerateTest.cpp `ChunkedEqualsWhole`); kept only
       when it lowers the peak, repeated while it helps (honec
       `--no-generation-batch` turns it off);
    5. when 1-4 have nothing left and the peak is still over: offload of
       idle optimiser state. A trained model's AdamW moments are read and
       written only by its optimiser updates, inside `hone.train_step`;
       between updates (generation, the reference's and reward models'
       reads, the next step's data) they are idle. The largest moments
       live at the peak (of a model the stage begin hands the runtime)
       are offloaded when that lowers the peak: each train step of the
       stage that trains the model gets one more program point, its
       optimiser update, after its forward and backward (after every
       phase, when run model by model); the per-stage buffer
       (`NAME.optimizer`, live from the stage's begin to its end) becomes
       one buffer per such step, live at its update point alone,
       page-aligned and page-rounded (`NAME.optimizer@POINT`, 4096 bytes:
       the runtime's direct I/O). In a stage that frees its work buffers
       at each step's end the step's models' activations end before the
       update point (the runtime frees them before the update), so the
       moments take the activations' bytes and the bytes they held from
       the stage's begin serve the peak (SFT->GRPO: the reference's read,
       3.9 -> 3.2 MiB). The stage begin gets the
       discardable `offload_moments` (the positions, among the models it
       hands the runtime, of those offloaded) and places no moments; the
       train step's `arena` places them for its updates. The runtime keeps
       them in the host tier between updates, reads them back before each
       update and writes them after it (CPU: a file in the run directory,
       docs/runtime.md "Offloaded optimiser moments"):
       the remark and the `decisions` line give the moments' size, the
       bytes moved per step (read and written, over the stage's updates:
       epochs x updates per train step) and the saving at the peak. Results are bit-identical (the
       bytes round-trip exactly). Repeated while it helps (another
       model's moments, e.g. PPO's critic). Option `offload` (default on;
       honec `--no-offload` turns it off).
       Not on a CUDA job (`hardware.device: cuda`) yet: a remark says what
       it would save, and the plan stays over (`auto` is planned as the
       CPU; such a job run on a GPU stops at the stage begin with a
       located error) (no pinned-host copies
       tested on a GPU yet, #17). Not yet either: offloading an idle frozen
       model's weights (a reference snapshot between its reads, a reward
       model between scores).
    Each decision is a remark at the peak's op and is listed in the plan's
    `decisions` (the job's report shows them). A peak still over the budget
    is an error at the op where it occurs, naming the stage, the bytes live
    by kind, and what recomputing every layer of a live activation buffer
    (when the decisions stopped before) and halving the micro-batch or
    generation batch of each live buffer would save:

    ```mlir
    // hone-opt --hone-plan-memory=budget-bytes=1000000
    error: hone-plan-memory: the job needs 1.3 MiB at its peak, over the memory budget of 976.6 KiB (option); the peak is in stage 'rl_0' at hone.train_step: weights 209.0 KiB, ...
    note: hint: micro-batch 8 -> 4 (policy.activations) saves 180.2 KiB; ...
    ```
  }];
  let options = [
    Option<"budgetBytes", "budget-bytes", "int64_t", /*default=*/"0",
           "memory budget in bytes (0: the spec's, else physical memory)">,
    Option<"physicalMemory", "physical-memory-bytes", "int64_t",
           /*default=*/"0",
           "physical memory to assume (0: this machine's; for tests)">,
    Option<"releaseAtStepEnd", "release-at-step-end", "bool",
           /*default=*/"true",
           "without a budget too, free a stage's models' work buffers at "
           "each step's end where that lowers the peak (off: only under "
           "the budget; for benchmarks)">,
    Option<"generationBatch", "generation-batch", "bool",
           /*default=*/"true",
           "under a budget, halve a hone.generate's rows generated at once "
           "(micro_batch) where its KV cache, decode workspace and logits "
           "are the largest at the peak (decision 4; false: never)">,
    Option<"microBatch", "micro-batch", "bool", /*default=*/"true",
           "under a budget, halve the rows of the largest activation "
           "buffer's forwards at the peak (decision 3; false: never, e.g. "
           "to keep results bit-identical to the unconstrained job)">,
    Option<"offload", "offload", "bool", /*default=*/"true",
           "under a budget, when decisions 1-4 leave the peak over it, keep "
           "a trained model's AdamW moments in the host tier between its "
           "optimiser updates (decision 5; false: never)">,
    Option<"splitTrainSteps", "split-train-steps", "bool",
           /*default=*/"true",
           "run a train step whose objective separates by model model by "
           "model where that stage frees its work buffers at each step's "
           "end (off: every model's forward, then the kernel, then every "
           "backward; for benchmarks)">,
    Option<"keepLogits", "keep-logits", "bool", /*default=*/"true",
           "a train step's forwards keep the LM head's logits for the "
           "backward (keep_logits) where they are no larger than the rest "
           "of those activations, recomputed again under the budget before "
           "any other decision that costs compute (false: always "
           "recomputed)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect"];
}

def AssignLanes : Pass<"hone-assign-lanes", "::mlir::hone::PipelineOp"> {
  let summary = "scheduled IR: every step op on a lane, an event for every cross-lane edge";
  let description = [{
    Puts each step op on a lane as `hone.lane`: `rollout` (data.next,
    data.fetch, generate, score, shape_reward, group_accuracy, group_filter,
    eval_step), `learn` (logprob, value, advantage, indicator, schedule,
    train_step and any other step op) or `copy` (sync_weights, buffer.push,
    buffer.pop, save); `comm` stays empty on one rank. An op whose scalar
    results the host reads is `host`: the runtime drains every lane and runs
    it inline. Each lane runs its ops in program order; an op that depends
    on an op of another lane gets a `hone.exec.wait` before it on an event
    that a `hone.exec.signal` records right after the producer. The
    dependences are the SSA operands, the objects (every use of a model,
    dataset, reward or buffer is ordered after its last use on every other
    lane: the runtime updates objects in place, and a model's KV cache is
    state too) and the arena (an op whose results overwrite bytes that an
    earlier op on another lane reads or writes waits for it: the planner
    reuses a dead value's bytes). Waits already implied by earlier waits
    (transitively) are left out. Stage brackets, step_end, object ops and
    host ops drain all lanes in the runtime; an `scf.if` inside a step gets a
    `hone.exec.sync` before it and at the end of its branches when lane
    work is pending. Runs after hone-plan-arena (it reads `hone.offsets`).

    ```mlir
    %seq:3 = hone.generate %p, %tok, %m, %i {hone.lane = "rollout", ...}
    hone.exec.signal 0 on "rollout"
    %r = hone.score %rw, %seq#0, %seq#1, %ids {hone.lane = "rollout", ...}
    hone.exec.wait 0 on "learn"
    %lref = hone.logprob %ref, %seq#0, %seq#1 {hone.lane = "learn", ...}
    ```
  }];
}

def BuildLossKernels : Pass<"hone-build-loss-kernels", "::mlir::ModuleOp"> {
  let summary = "compile train-step objectives to LLVM kernels beside the step IR";
  let description = [{
    Runs the `hone-loss-to-llvm` pipeline on copies of the module's
    pipelines (in a nested module that it then removes), so every
    `hone.train_step` keeps its place while its differentiated objective
    becomes an `llvm.func @<kernel>` (docs/methods.md's kernel ABI). Adds
    for each kernel the packed entry point the runtime calls
    (`hone_loss_fn` in runtime/abi/hone_runtime.h), which loads `args[i]`
    and calls the kernel:

    ```mlir
    llvm.func @"sft_plain_0_packed"(%args: !llvm.ptr) {
      %p0 = llvm.getelementptr %args[0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
      %a0 = llvm.load %p0 : !llvm.ptr -> !llvm.ptr
      ...
      llvm.call @"sft_plain_0"(%a0, ...) : (!llvm.ptr, ...) -> ()
      llvm.return
    }
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def ConvertHoneToRuntime : Pass<"convert-hone-to-runtime", "::mlir::ModuleOp"> {
  let summary = "scheduled IR → main() calling the runtime's C ABI";
  let description = [{
    The module's `hone.pipeline` becomes `func.func @main(i32, !llvm.ptr) ->
    i32` that calls `hone_rt_begin` (ABI version, argc, argv, pipeline name,
    config as JSON, the `hone.spec_text` attribute honec sets, the IR as
    text), returns 0 when it yields null (--help), runs the body and returns
    `hone_rt_end`. Object ops (`hone.model.*`, `hone.dataset`,
    `hone.reward.*`, `hone.buffer.init`, `hone.exec.snapshot`) call
    `hone_rt_object` (models add `"arch"` and `"head"`); `hone.train_step`
    calls `hone_rt_train_step` with its packed kernel (from
    `hone-build-loss-kernels`); `hone.exec.stage_begin`/`step_end`/`stage_end`
    call the stage brackets; every other step op calls `hone_rt_step`.
    Attributes go as JSON, locations as "file:line:col". Object values
    become `!llvm.ptr` handles (a train step or buffer op updates its object
    in place); tensors are `hone_tensor` descriptors of buffers in a global,
    zero-initialised arena at the offsets of `hone-plan-arena`; scalar
    operands and results (index, i1) are rank-0 tensors in stack slots.
    `scf` and `arith` stay for the upstream lowering to LLVM. An op it
    cannot lower is an error at the op's location.

    ```mlir
    %h = llvm.call @hone_rt_object(%job, %loc, %op, %json, %c0_i32, %null)
        : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i32, !llvm.ptr) -> !llvm.ptr
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // HONE_PASSES_TD
