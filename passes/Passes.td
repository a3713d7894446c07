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

#endif // HONE_PASSES_TD
