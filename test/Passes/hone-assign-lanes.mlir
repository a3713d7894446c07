// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-plan-arena,hone-assign-lanes))' | FileCheck %s

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// One step of GRPO's shape. data.next, generate and score run on the
/// rollout lane in order: no events between them. The reference log-probs
/// (learn lane) read generate's tokens (an SSA edge) and are written over
/// generate's mask, which score reads (hone-plan-arena reuses offset 1344):
/// one wait, for the event after score, covers both, since the rollout lane
/// runs generate before score. The advantage reads score's result, already
/// waited for: no second wait. sync_weights (copy lane) follows the last
/// use of the model on the learn lane. Without a step_end (which drains every
/// lane), the loop body ends with a sync.
// CHECK-LABEL: hone.pipeline @one_step
hone.pipeline @one_step {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // CHECK: hone.reward.verifier
  // CHECK-NOT: hone.lane
  // CHECK: scf.for
  %out = scf.for %i = %c0 to %c5 step %c1 iter_args(%p = %m) -> (!m) {
    // CHECK-NEXT: hone.data.next {{.*}}hone.lane = "rollout"
    // CHECK-NEXT: hone.generate {{.*}}hone.lane = "rollout"
    // CHECK-NEXT: hone.score {{.*}}hone.lane = "rollout"
    // CHECK-NEXT: hone.exec.signal [[E0:[0-9]+]] on "rollout"
    // CHECK-NEXT: hone.exec.wait [[E0]] on "learn"
    // CHECK-NEXT: hone.logprob {{.*}}hone.lane = "learn", hone.offsets = array<i64: 1344>
    // CHECK-NEXT: hone.exec.signal [[E1:[0-9]+]] on "learn"
    // CHECK-NEXT: hone.advantage {{.*}}hone.lane = "learn"
    // CHECK-NEXT: hone.exec.wait [[E1]] on "copy"
    // CHECK-NEXT: hone.sync_weights {{.*}}hone.lane = "copy"
    // CHECK-NEXT: hone.exec.sync
    // CHECK-NEXT: scf.yield
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
    %s = hone.score %r, %g#0, %g#1, %t#2 : tensor<8x32xi32>, tensor<8x32xf32>, tensor<2xi64> -> tensor<8xf32>
    %l = hone.logprob %p, %g#0 : !m, tensor<8x32xi32> -> tensor<8x32xf32>
    %a = hone.advantage group_norm %s {group_size = 4, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<8xf32>) -> tensor<8xf32>
    hone.sync_weights %p : !m
    scf.yield %p : !m
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Two independent consumers of one rollout: the learn lane's log-probs and
/// the rollout lane's score overlap (no event orders them against each
/// other); only the learn lane waits, for generate. save (copy lane) uses
/// the model after generate (rollout) and logprob (learn): waiting for
/// logprob implies generate, so one wait.
// CHECK-LABEL: hone.pipeline @overlap
hone.pipeline @overlap {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c0 = arith.constant 0 : index
  // CHECK: hone.generate
  // CHECK-NEXT: hone.exec.signal [[E:[0-9]+]] on "rollout"
  // CHECK-NEXT: hone.exec.wait [[E]] on "learn"
  // CHECK-NEXT: hone.logprob {{.*}}hone.lane = "learn"
  // CHECK-NEXT: hone.exec.signal [[F:[0-9]+]] on "learn"
  // CHECK-NEXT: hone.score {{.*}}hone.lane = "rollout"
  // CHECK-NEXT: hone.exec.wait [[F]] on "copy"
  // CHECK-NEXT: hone.save {{.*}}hone.lane = "copy"
  %t:3 = hone.data.next prompts %d, %c0 {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
  %g:3 = hone.generate %m, %t#0, %t#1, %c0 {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
  %l = hone.logprob %m, %g#0 : !m, tensor<8x32xi32> -> tensor<8x32xf32>
  %s = hone.score %r, %g#0, %g#1, %t#2 : tensor<8x32xi32>, tensor<8x32xf32>, tensor<2xi64> -> tensor<8xf32>
  hone.save %m "final" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// An op with a result the generated code reads (buffer.pop's ready flag)
/// runs on the host after every lane drains: no events across it. A region
/// with lane work hands back to its parent with a sync.
// CHECK-LABEL: hone.pipeline @host_and_region
hone.pipeline @host_and_region {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_completion>
  %b0 = hone.buffer.init : !hone.buffer<8>
  %c0 = arith.constant 0 : index
  %t:3 = hone.data.next sequences %d, %c0 {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xi64>
  %lp = hone.logprob %m, %t#0 : !m, tensor<2x8xi32> -> tensor<2x8xf32>
  // CHECK: hone.buffer.pop {{.*}}hone.lane = "host"
  // CHECK-NEXT: scf.if
  // CHECK-NEXT: hone.data.fetch {{.*}}hone.lane = "rollout"
  // CHECK-NEXT: hone.exec.signal [[E:[0-9]+]] on "rollout"
  // CHECK-NEXT: hone.exec.wait [[E]] on "learn"
  // CHECK-NEXT: hone.logprob {{.*}}hone.lane = "learn"
  // CHECK-NEXT: hone.exec.sync
  // CHECK-NEXT: }
  %b1, %ids, %ready = hone.buffer.pop %b0 : !hone.buffer<8> -> tensor<2xi64>
  scf.if %ready {
    %ft, %fm = hone.data.fetch %d[%ids] {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion>, tensor<2xi64> -> tensor<2x8xi32>, tensor<2x8xf32>
    %l2 = hone.logprob %m, %ft : !m, tensor<2x8xi32> -> tensor<2x8xf32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

// expected-error @+1 {{lanes are already assigned}}
hone.pipeline @twice {
  hone.exec.sync
  hone.exec.signal 0 on "learn"
}
