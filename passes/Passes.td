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
    reward model). The figure is attached as `hone.state_bytes` to the stage
    and the maximum as `hone.peak_state_bytes` to the pipeline.

    When a budget is known — the pass option, or `memory_budget_bytes` in the
    pipeline's `config` — a stage over it is a compile error that names the
    stage, its figure and the budget:

    ```mlir
    // hone-opt --hone-estimate-memory
    %1 = hone.sft plain %0, %d {batch_size = 8 : i64, steps = 10 : i64} : ...
    // becomes
    %1 = hone.sft plain %0, %d {batch_size = 8 : i64, hone.state_bytes = 1234 : i64, steps = 10 : i64} : ...
    ```

    Activations, KV cache and rollout buffers are planned later, at the
    scheduled level, where micro-batch sizes are known.
  }];
  let options = [
    Option<"budgetBytes", "budget-bytes", "int64_t", /*default=*/"0",
           "memory budget in bytes (0: take config.memory_budget_bytes, if any)">
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
    objective with its formula and the `hparams` keys read (with defaults).

    Shapes: `B = batch_size` sequences, `T = hparams.max_len` or the
    architecture's `max_seq`, prompts `T/2` (`hparams.prompt_len`).

    ```mlir
    %1 = hone.sft plain %0, %d {batch_size = 4 : i64, steps = 10 : i64} : ...
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
    loop's location.

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

#endif // HONE_PASSES_TD
