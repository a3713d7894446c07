// RUN: hone-opt %s --load-pass-plugin=%plugin --example-cap-steps=max=2 2>%t.err | FileCheck %s
// RUN: FileCheck %s --check-prefix=REMARK < %t.err
// RUN: not hone-opt %s --load-pass-plugin=%plugin --example-cap-steps=max=0 2>&1 | FileCheck %s --check-prefix=BAD

/// The plugin's pass is a hone-opt flag; it caps every stage's steps, leaves
/// smaller ones alone and says so at the stage.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>

// CHECK-LABEL: hone.pipeline @smoke
// BAD: error: example-cap-steps: max must be >= 1, got 0
hone.pipeline @smoke {
  %m = hone.model.init : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // CHECK: hone.sft plain {{.*}}steps = 2 : i64
  // REMARK: cap-steps.mlir:[[@LINE+1]]:10: remark: example-cap-steps: 1000 steps capped to 2
  %sft = hone.sft plain %m, %pc {steps = 1000, batch_size = 8} : (!m, !hone.dataset<prompt_completion>) -> !m
  // CHECK: hone.rl grpo {{.*}}steps = 1 : i64
  %rl = hone.rl grpo %sft, %pa reward %r {steps = 1, batch_size = 8, group_size = 4} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
