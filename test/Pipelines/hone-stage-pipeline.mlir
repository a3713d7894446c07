// RUN: hone-opt %hone_src_root/examples/ir/sft-then-grpo.mlir --hone-stage-pipeline | FileCheck %s
// RUN: hone-opt %hone_src_root/examples/ir/sft-then-grpo.mlir --pass-pipeline='builtin.module(hone-stage-pipeline)' | FileCheck %s
// RUN: not hone-opt %hone_src_root/examples/ir/sft-then-grpo.mlir --hone-stage-pipeline=memory-budget-bytes=1000000 2>&1 | FileCheck %s --check-prefix=BUDGET

/// The example's stage pipeline: the repeated init is merged by CSE, every
/// stage gets its model-state figure, and a budget the pipeline option sets
/// overrides the config's. The peak is GRPO's: its reference is the policy
/// it trains, read from a frozen snapshot (weights counted again).

// CHECK-LABEL: hone.pipeline @sft_then_grpo
// CHECK-SAME: hone.peak_state_bytes = 19765760
// CHECK: %[[INIT:.+]] = hone.model.init "base" {seed = 1 : i64}
// CHECK-NOT: hone.model.init
// CHECK: hone.sft plain %[[INIT]]
// CHECK: hone.save %[[INIT]] "init"

// BUDGET: sft-then-grpo.mlir:{{[0-9]+}}:{{[0-9]+}}: error: stage needs 15.1 MiB of model state (weights, gradients, AdamW moments), over the memory budget of 976.6 KiB (base 15.1 MiB trained)
// BUDGET: note: hint: raise hardware.memory_budget
