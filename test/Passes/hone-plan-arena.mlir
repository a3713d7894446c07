// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-plan-arena))' | FileCheck %s

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Liveness-based packing in one step: the prompt tokens and mask (128 B
/// each) die at generate, so the scores (64 B) reuse offset 0; the
/// generated mask and old log-probs die by score, so the reference
/// log-probs reuse the mask's 1344. Sizes are 64-byte aligned (the 2xi64
/// ids take 64). The loop body packs above the top-level block's
/// tensors (none here), records its peak as hone.arena_top, and the
/// pipeline records the arena's size.
// CHECK-LABEL: hone.pipeline @one_step
// CHECK-SAME: hone.arena_bytes = 3392
hone.pipeline @one_step {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // CHECK: scf.for
  %out = scf.for %i = %c0 to %c5 step %c1 iter_args(%p = %m) -> (!m) {
    // CHECK: hone.data.next {{.*}}hone.offsets = array<i64: 0, 128, 256>
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    // CHECK: hone.generate {{.*}}hone.offsets = array<i64: 320, 1344, 2368>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
    // CHECK: hone.score {{.*}}hone.offsets = array<i64: 0>
    %s = hone.score %r, %g#0, %g#1, %t#2 : tensor<8x32xi32>, tensor<8x32xf32>, tensor<2xi64> -> tensor<8xf32>
    // CHECK: hone.logprob {{.*}}hone.offsets = array<i64: 1344>
    %l = hone.logprob %p, %g#0 : !m, tensor<8x32xi32> -> tensor<8x32xf32>
    scf.yield %p : !m
  // CHECK: hone.arena_top = 3392
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A tensor of the top-level block live across a loop keeps its place: the
/// loop body packs above it.
// CHECK-LABEL: hone.pipeline @nested
// CHECK-SAME: hone.arena_bytes = 256
hone.pipeline @nested {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  // CHECK: hone.data.next {{.*}}hone.offsets = array<i64: 0, 64, 128>
  %t:3 = hone.data.next prompts %d, %c0 {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<1x4xi32>, tensor<1x4xf32>, tensor<1xi64>
  scf.for %i = %c0 to %c5 step %c1 {
    // CHECK: hone.logprob {{.*}}hone.offsets = array<i64: 192>
    %l = hone.logprob %m, %t#0 : !m, tensor<1x4xi32> -> tensor<1x4xf32>
  }
}
