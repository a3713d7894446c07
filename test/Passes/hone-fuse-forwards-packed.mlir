// RUN: hone-opt %s --pass-pipeline='builtin.module(hone.pipeline(hone-pack-sequences,hone-fuse-forwards))' | FileCheck %s --check-prefix=PACKED
// RUN: hone-opt %s --pass-pipeline='builtin.module(hone.pipeline(hone-fuse-forwards))' | FileCheck %s --check-prefix=PADDED

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 64, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// CHORD at max_seq_len 64: the policy's rollouts (8 x 24) and
/// demonstrations (2 x 64), each read through a masked mean under its loss
/// mask. Packed (hone-pack-sequences first, as honec runs it), the fused
/// forward is one stream of both batches' tokens: 3 x (8 x 24 + 2 x 64)
/// token-equivalents against 4 x (8 x 24 + 2 x 64) apart, so the reads
/// share one forward. Padded (packing off), concatenated on 64 positions:
/// 3 x 10 x 64 against 4 x (8 x 24 + 2 x 64) apart, so they stay apart.
// PACKED-LABEL: hone.pipeline @chord_64
// PADDED-LABEL: hone.pipeline @chord_64
hone.pipeline @chord_64 {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %r = arith.constant dense<1> : tensor<8x24xi32>
  %d = arith.constant dense<2> : tensor<2x64xi32>
  %mr = arith.constant dense<1.0> : tensor<8x24xf32>
  %md = arith.constant dense<1.0> : tensor<2x64xf32>
  // PACKED: hone.train_step
  // PACKED-SAME: fused_reads = array<i64: 0, 0>
  // PACKED-SAME: packed = array<i64: 0, 1>
  // PADDED: hone.train_step
  // PADDED-NOT: fused_reads
  // PADDED-NOT: packed
  // PADDED-SAME: readers = array<i64: 0, 0>
  %p1, %loss = hone.train_step (%p) tokens(%r, %d) inputs(%mr, %md) {readers = array<i64: 0, 0>, reads = ["logprob", "logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<8x24xi32>, tensor<2x64xi32>, tensor<8x24xf32>, tensor<2x64xf32>) -> (!m, tensor<f32>) objective {
  ^bb0(%lr: tensor<8x24xf32>, %ld: tensor<2x64xf32>, %m0: tensor<8x24xf32>, %m1: tensor<2x64xf32>):
    %a = hone.loss.seq_mean %lr mask %m0 : tensor<8x24xf32> -> tensor<8xf32>
    %b = hone.loss.seq_mean %ld mask %m1 : tensor<2x64xf32> -> tensor<2xf32>
    %a1 = hone.loss.mean %a : tensor<8xf32> -> tensor<f32>
    %b1 = hone.loss.mean %b : tensor<2xf32> -> tensor<f32>
    %out = hone.loss.add %a1, %b1 : tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}
