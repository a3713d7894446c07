// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-pack-sequences))' | FileCheck %s

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// SFT: the log-probs are read only through a token mean under the loss
/// mask (input 0): the read runs padding-free up to each row's last masked
/// token. A step whose reads are all packed has no remark.
// CHECK-LABEL: hone.pipeline @sft
hone.pipeline @sft {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %t = arith.constant dense<1> : tensor<4x8xi32>
  %mask = arith.constant dense<1.0> : tensor<4x8xf32>
  // CHECK: hone.train_step
  // CHECK-SAME: packed = array<i64: 0>
  %p1, %loss = hone.train_step (%p) tokens(%t) inputs(%mask) {readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xf32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %m: tensor<4x8xf32>):
    %nl = hone.loss.neg %l : tensor<4x8xf32>
    %out = hone.loss.masked_reduce token_mean %nl, %m : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A preference pair: each read's log-probs summed per sequence under its
/// own mask (inputs 1 and 0), after element-wise ops; the entropy of a
/// third read under the same mask as its log-probs.
// CHECK-LABEL: hone.pipeline @pair
hone.pipeline @pair {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %c = arith.constant dense<1> : tensor<4x8xi32>
  %r = arith.constant dense<2> : tensor<4x8xi32>
  %mc = arith.constant dense<1.0> : tensor<4x8xf32>
  %mr = arith.constant dense<0.0> : tensor<4x8xf32>
  // CHECK: hone.train_step
  // CHECK-SAME: packed = array<i64: 1, 0, 1>
  %p1, %loss = hone.train_step (%p) tokens(%c, %r, %c) inputs(%mr, %mc) {readers = array<i64: 0, 0, 0>, reads = ["logprob", "logprob", "logprob+entropy"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (!m, tensor<f32>) objective {
  ^bb0(%lc: tensor<4x8xf32>, %lr: tensor<4x8xf32>, %l3: tensor<4x8xf32>, %h3: tensor<4x8xf32>, %m0: tensor<4x8xf32>, %m1: tensor<4x8xf32>):
    %e = hone.loss.exp %lc : tensor<4x8xf32>
    %sc = hone.loss.seq_sum %e mask %m1 : tensor<4x8xf32> -> tensor<4xf32>
    %sr = hone.loss.seq_sum %lr mask %m0 : tensor<4x8xf32> -> tensor<4xf32>
    %d = hone.loss.sub %sc, %sr : tensor<4xf32>
    %a = hone.loss.add %l3, %h3 : tensor<4x8xf32>
    %s3 = hone.loss.seq_mean %a mask %m1 : tensor<4x8xf32> -> tensor<4xf32>
    %d2 = hone.loss.add %d, %s3 : tensor<4xf32>
    %out = hone.loss.mean %d2 : tensor<4xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// Reads that see padding positions stay padded, and the remark says why:
/// an unmasked mean, a mask computed in the objective otherwise than as a
/// product, two masks of which one has no input factor. Two masks that are
/// both inputs without a common factor (UFT's response and hint masks)
/// pack to the last nonzero of either (packed_also: read 1 with input 1).
/// A product of masks (DAPO's loss mask times its row filter) packs to a
/// factor that is an input. A reward read exposes only each row's last
/// token (-2).
// CHECK-LABEL: hone.pipeline @padded
hone.pipeline @padded {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %v = hone.model.init "rm" {seed = 0 : i64} : !s
  %t = arith.constant dense<1> : tensor<4x8xi32>
  %mask = arith.constant dense<1.0> : tensor<4x8xf32>
  // CHECK: hone.train_step
  // CHECK-SAME: packed = array<i64: -1, 0, 1, -1, -1>
  // CHECK-SAME: packed_also = array<i64: 1, 1>
  // expected-remark@+1 {{read 0 (logprob, 4x8) padded: reduced without a mask ('hone.loss.mean'); read 1 (logprob, 4x8) packed to each row's last token of loss mask inputs 0, 1 (the last of any); read 2 (logprob, 4x8) packed to each row's last token of loss mask input 1; read 3 (logprob, 4x8) padded: its mask is not an input of the step; read 4 (logprob, 4x8) padded: reduced under masks with no common input mask}}
  %p1, %loss = hone.train_step (%p) tokens(%t, %t, %t, %t, %t) inputs(%mask, %mask) {readers = array<i64: 0, 0, 0, 0, 0>, reads = ["logprob", "logprob", "logprob", "logprob", "logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l0: tensor<4x8xf32>, %l1: tensor<4x8xf32>, %l2: tensor<4x8xf32>, %l3: tensor<4x8xf32>, %l4: tensor<4x8xf32>, %m0: tensor<4x8xf32>, %m1: tensor<4x8xf32>):
    %a = hone.loss.mean %l0 : tensor<4x8xf32> -> tensor<f32>
    %b0 = hone.loss.masked_reduce token_mean %l1, %m0 : tensor<4x8xf32> -> tensor<f32>
    %b1 = hone.loss.masked_reduce token_mean %l1, %m1 : tensor<4x8xf32> -> tensor<f32>
    %e = hone.loss.exp %m0 : tensor<4x8xf32>
    %mm = hone.loss.mul %e, %m1 : tensor<4x8xf32>
    %c = hone.loss.masked_reduce token_mean %l2, %mm : tensor<4x8xf32> -> tensor<f32>
    %d = hone.loss.masked_reduce token_mean %l3, %e : tensor<4x8xf32> -> tensor<f32>
    %f0 = hone.loss.masked_reduce token_mean %l4, %m0 : tensor<4x8xf32> -> tensor<f32>
    %f1 = hone.loss.masked_reduce token_mean %l4, %e : tensor<4x8xf32> -> tensor<f32>
    %s1 = hone.loss.add %a, %b0 : tensor<f32>
    %s2 = hone.loss.add %s1, %b1 : tensor<f32>
    %s3 = hone.loss.add %s2, %c : tensor<f32>
    %s4 = hone.loss.add %s3, %d : tensor<f32>
    %s5 = hone.loss.add %s4, %f0 : tensor<f32>
    %s6 = hone.loss.add %s5, %f1 : tensor<f32>
    hone.loss.yield %s6 : tensor<f32>
  }
  // CHECK: hone.train_step
  // CHECK-SAME: packed = array<i64: -2, -2>
  %v1, %loss2 = hone.train_step (%v) tokens(%t, %t) {readers = array<i64: 0, 0>, reads = ["reward", "reward"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!s, tensor<4x8xi32>, tensor<4x8xi32>) -> (!s, tensor<f32>) objective {
  ^bb0(%rc: tensor<4xf32>, %rr: tensor<4xf32>):
    %d = hone.loss.sub %rc, %rr : tensor<4xf32>
    %out = hone.loss.mean %d : tensor<4xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A step that already has `packed` (a user's pass, a second run) keeps it.
// CHECK-LABEL: hone.pipeline @kept
hone.pipeline @kept {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %t = arith.constant dense<1> : tensor<4x8xi32>
  %mask = arith.constant dense<1.0> : tensor<4x8xf32>
  // CHECK: packed = array<i64: -1>
  %p1, %loss = hone.train_step (%p) tokens(%t) inputs(%mask) {packed = array<i64: -1>, readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xf32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %m: tensor<4x8xf32>):
    %out = hone.loss.masked_reduce token_mean %l, %m : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Frozen reads outside train steps: DPO's reference on chosen and rejected
/// (one hone.logprob over both, as hone-fuse-forwards leaves it), read by
/// the step only through sequence sums under each batch's own mask (inputs
/// 0 and 1), packs to those masks, one per batch. No remark.
// CHECK-LABEL: hone.pipeline @reference
hone.pipeline @reference {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %ref = hone.model.init "ref" {seed = 1 : i64} : !m
  %c = arith.constant dense<1> : tensor<4x8xi32>
  %r = arith.constant dense<2> : tensor<4x8xi32>
  %mc = arith.constant dense<1.0> : tensor<4x8xf32>
  %mr = arith.constant dense<0.0> : tensor<4x8xf32>
  // CHECK: %[[MC:.*]] = arith.constant dense<1.0
  // CHECK: %[[MR:.*]] = arith.constant dense<0.0
  // CHECK: hone.logprob %{{.*}}, %{{.*}}, %{{.*}} packed(%[[MC]], %[[MR]] : tensor<4x8xf32>, tensor<4x8xf32>)
  %lc, %lr = hone.logprob %ref, %c, %r : !m, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
  // CHECK: hone.train_step
  // CHECK-SAME: packed = array<i64: 0, 1>
  %p1, %loss = hone.train_step (%p) tokens(%c, %r) inputs(%mc, %mr, %lc, %lr) {readers = array<i64: 0, 0>, reads = ["logprob", "logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l0: tensor<4x8xf32>, %l1: tensor<4x8xf32>, %m0: tensor<4x8xf32>, %m1: tensor<4x8xf32>, %r0: tensor<4x8xf32>, %r1: tensor<4x8xf32>):
    %d0 = hone.loss.sub %l0, %r0 : tensor<4x8xf32>
    %d1 = hone.loss.sub %l1, %r1 : tensor<4x8xf32>
    %s0 = hone.loss.seq_sum %d0 mask %m0 : tensor<4x8xf32> -> tensor<4xf32>
    %s1 = hone.loss.seq_sum %d1 mask %m1 : tensor<4x8xf32> -> tensor<4xf32>
    %d = hone.loss.sub %s0, %s1 : tensor<4xf32>
    %out = hone.loss.mean %d : tensor<4xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// PPO: the reference log-probs shaped into the reward under the response
/// mask, v_old read by GAE and by the value loss under it: both pack to it.
// CHECK-LABEL: hone.pipeline @ppo
hone.pipeline @ppo {
  %ref = hone.model.init "ref" {seed = 1 : i64} : !m
  %v = hone.model.init "critic" {seed = 2 : i64} : !s
  %t = arith.constant dense<1> : tensor<4x8xi32>
  %mask = arith.constant dense<1.0> : tensor<4x8xf32>
  %lold = arith.constant dense<0.0> : tensor<4x8xf32>
  %score = arith.constant dense<1.0> : tensor<4xf32>
  // CHECK: %[[M:.*]] = arith.constant dense<1.0{{.*}}> : tensor<4x8xf32>
  // CHECK: hone.logprob %{{.*}}, %{{.*}} packed(%[[M]] : tensor<4x8xf32>)
  %lref = hone.logprob %ref, %t : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  // CHECK: hone.value %{{.*}}, %{{.*}} packed(%[[M]] : tensor<4x8xf32>)
  %vold = hone.value %v, %t : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  %rt = hone.shape_reward token_kl %score, %mask, %lold, %lref {kl_coef = 5.000000e-02 : f64} : tensor<4xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %adv, %ret = hone.advantage gae %rt, %mask, %vold {gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, group_size = 1 : i64, eps = 1.000000e-06 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>)
  %v1, %loss = hone.train_step (%v) tokens(%t) inputs(%mask, %ret, %vold) {readers = array<i64: 0>, reads = ["value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!s, tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (!s, tensor<f32>) objective {
  ^bb0(%val: tensor<4x8xf32>, %m: tensor<4x8xf32>, %R: tensor<4x8xf32>, %vo: tensor<4x8xf32>):
    %dv = hone.loss.sub %val, %vo : tensor<4x8xf32>
    %cl = hone.loss.clamp %dv min -0.2 max 0.2 : tensor<4x8xf32>
    %vc = hone.loss.add %vo, %cl : tensor<4x8xf32>
    %e1 = hone.loss.sub %val, %R : tensor<4x8xf32>
    %e2 = hone.loss.sub %vc, %R : tensor<4x8xf32>
    %q1 = hone.loss.mul %e1, %e1 : tensor<4x8xf32>
    %q2 = hone.loss.mul %e2, %e2 : tensor<4x8xf32>
    %mx = hone.loss.max %q1, %q2 : tensor<4x8xf32>
    %out = hone.loss.masked_reduce token_mean %mx, %m : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// Frozen reads that a consumer reads at padding positions stay padded, and
/// a remark says why: an unmasked mean in the objective, two masks, a
/// consumer that is not a masked read, a mask computed after the read, a
/// batch of a fused read that cannot pack (the whole read stays padded).
// CHECK-LABEL: hone.pipeline @frozen_padded
// CHECK-NOT: packed(
hone.pipeline @frozen_padded {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %ref = hone.model.init "ref" {seed = 1 : i64} : !m
  %v = hone.model.init "critic" {seed = 2 : i64} : !s
  %t = arith.constant dense<1> : tensor<4x8xi32>
  %m0 = arith.constant dense<1.0> : tensor<4x8xf32>
  %m1 = arith.constant dense<0.0> : tensor<4x8xf32>
  %score = arith.constant dense<1.0> : tensor<4xf32>
  // expected-remark@+1 {{hone-pack-sequences: hone.logprob padded: batch 0 (4x8) a train step's input reduced without a mask ('hone.loss.mean')}}
  %a = hone.logprob %ref, %t : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  // expected-remark@+1 {{hone-pack-sequences: hone.logprob padded: batch 0 (4x8) read under different masks}}
  %b:2 = hone.logprob %ref, %t {entropy} : !m, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
  // expected-remark@+1 {{hone-pack-sequences: hone.value (4x8) padded: read by 'hone.advantage'}}
  %c = hone.value %v, %t : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  // expected-remark@+1 {{hone-pack-sequences: hone.logprob padded: batch 1 (4x8) never read}}
  %d0, %d1 = hone.logprob %ref, %t, %t : !m, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
  // expected-remark@+1 {{hone-pack-sequences: hone.logprob padded: batch 0 (4x8) its mask is computed after it}}
  %e = hone.logprob %ref, %t : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  %late = arith.addf %m0, %m1 : tensor<4x8xf32>
  %r1 = hone.advantage global_norm %c, %m0 {group_size = 1 : i64, gamma = 1.000000e+00 : f64, lambda = 1.000000e+00 : f64, eps = 1.000000e-06 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %r2 = hone.shape_reward seq_kl %score, %m0, %d0, %m1 {kl_coef = 5.000000e-02 : f64} : tensor<4xf32>, tensor<4x8xf32> -> tensor<4xf32>
  %r3 = hone.shape_reward seq_kl %score, %late, %e, %m1 {kl_coef = 5.000000e-02 : f64} : tensor<4xf32>, tensor<4x8xf32> -> tensor<4xf32>
  %p1, %loss = hone.train_step (%p) tokens(%t) inputs(%m0, %m1, %a, %b#0, %b#1) {readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %k0: tensor<4x8xf32>, %k1: tensor<4x8xf32>, %ia: tensor<4x8xf32>, %ib: tensor<4x8xf32>, %ih: tensor<4x8xf32>):
    %x = hone.loss.masked_reduce token_mean %l, %k0 : tensor<4x8xf32> -> tensor<f32>
    %y = hone.loss.mean %ia : tensor<4x8xf32> -> tensor<f32>
    %z = hone.loss.masked_reduce token_mean %ib, %k0 : tensor<4x8xf32> -> tensor<f32>
    %w = hone.loss.masked_reduce token_mean %ih, %k1 : tensor<4x8xf32> -> tensor<f32>
    %s1 = hone.loss.add %x, %y : tensor<f32>
    %s2 = hone.loss.add %s1, %z : tensor<f32>
    %s3 = hone.loss.add %s2, %w : tensor<f32>
    hone.loss.yield %s3 : tensor<f32>
  }
}
