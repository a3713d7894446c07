// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-fuse-forwards))' | FileCheck %s

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// A pair read of one model (DPO: chosen, rejected) becomes one forward:
/// read 1 is computed by read 0's forward. The objective is unchanged.
// CHECK-LABEL: hone.pipeline @pair
hone.pipeline @pair {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %c = arith.constant dense<1> : tensor<4x8xi32>
  %r = arith.constant dense<2> : tensor<4x8xi32>
  // CHECK: hone.train_step
  // CHECK-SAME: fused_reads = array<i64: 0, 0>
  // CHECK-SAME: readers = array<i64: 0, 0>
  // CHECK: ^bb0(%[[LC:.+]]: tensor<4x8xf32>, %[[LR:.+]]: tensor<4x8xf32>):
  // CHECK-NEXT: hone.loss.sub %[[LC]], %[[LR]]
  %p1, %loss = hone.train_step (%p) tokens(%c, %r) {readers = array<i64: 0, 0>, reads = ["logprob", "logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%lc: tensor<4x8xf32>, %lr: tensor<4x8xf32>):
    %d = hone.loss.sub %lc, %lr : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// Reads of different models (PPO's policy and critic), of different kinds,
/// or of other rows and lengths whose concatenation on the longer length
/// would cost more (4x8 and 2x16: 3 x 6 x 16 against 4 x (4 x 8 + 2 x 16)
/// row-positions) stay apart: no fused_reads. A third read of the policy
/// with the first one's token type joins it.
// CHECK-LABEL: hone.pipeline @apart
hone.pipeline @apart {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %v = hone.model.init "critic" {seed = 0 : i64} : !s
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %b = arith.constant dense<2> : tensor<2x16xi32>
  // CHECK: hone.train_step
  // CHECK-NOT: fused_reads
  // CHECK-SAME: readers = array<i64: 0, 1, 0>
  %p1, %v1, %loss = hone.train_step (%p, %v) tokens(%a, %a, %b) {readers = array<i64: 0, 1, 0>, reads = ["logprob", "value", "logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<2x16xi32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %l2: tensor<2x16xf32>):
    %d = hone.loss.sub %l, %val : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
  // CHECK: hone.train_step
  // CHECK-SAME: fused_reads = array<i64: 0, 1, 0>
  %c = arith.constant dense<3> : tensor<4x8xi32>
  %p2, %v2, %loss2 = hone.train_step (%p1, %v1) tokens(%a, %a, %c) {readers = array<i64: 0, 1, 0>, reads = ["logprob", "value", "logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xi32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %l2: tensor<4x8xf32>):
    %d = hone.loss.sub %l, %l2 : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// CHORD, SRFT, HPT: the policy's rollouts (8 x 24) and demonstrations
/// (2 x 32) share one forward, concatenated on 32 positions: 3 x 10 x 32
/// row-positions against 4 x (8 x 24 + 2 x 32) apart. Each read keeps its
/// own argument type.
// CHECK-LABEL: hone.pipeline @rollouts_and_demos
hone.pipeline @rollouts_and_demos {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %r = arith.constant dense<1> : tensor<8x24xi32>
  %d = arith.constant dense<2> : tensor<2x32xi32>
  // CHECK: hone.train_step
  // CHECK-SAME: fused_reads = array<i64: 0, 0>
  // CHECK: ^bb0(%{{.+}}: tensor<8x24xf32>, %{{.+}}: tensor<2x32xf32>):
  %p1, %loss = hone.train_step (%p) tokens(%r, %d) {readers = array<i64: 0, 0>, reads = ["logprob", "logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<8x24xi32>, tensor<2x32xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%lr: tensor<8x24xf32>, %ld: tensor<2x32xf32>):
    %a = hone.loss.mean %lr : tensor<8x24xf32> -> tensor<f32>
    %b = hone.loss.mean %ld : tensor<2x32xf32> -> tensor<f32>
    %out = hone.loss.add %a, %b : tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// fused_reads that join reads of different models is refused.
hone.pipeline @bad_group {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %v = hone.model.init "critic" {seed = 0 : i64} : !s
  %a = arith.constant dense<1> : tensor<4x8xi32>
  // expected-error@+1 {{fused_reads[1]: read 1 and read 0 differ in model, read or token type}}
  %p1, %v1, %loss = hone.train_step (%p, %v) tokens(%a, %a) {fused_reads = array<i64: 0, 0>, readers = array<i64: 0, 1>, reads = ["logprob", "value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>):
    %d = hone.loss.sub %l, %val : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// A read may only join an earlier read that leads its group.
hone.pipeline @bad_lead {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %a = arith.constant dense<1> : tensor<4x8xi32>
  // expected-error@+1 {{fused_reads[0] = 1 is not an earlier leading read}}
  %p1, %loss = hone.train_step (%p) tokens(%a, %a) {fused_reads = array<i64: 1, 1>, readers = array<i64: 0, 0>, reads = ["logprob", "logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %l2: tensor<4x8xf32>):
    %d = hone.loss.sub %l, %l2 : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Frozen-model reads: two log-prob reads of one model value on batches of
/// one type (DPO's reference on chosen and rejected) become one hone.logprob
/// over both; each result keeps its uses.
// CHECK-LABEL: hone.pipeline @reference
hone.pipeline @reference {
  %ref = hone.model.init "ref" {seed = 0 : i64} : !m
  // CHECK: %[[C:.+]] = arith.constant dense<1>
  // CHECK: %[[R:.+]] = arith.constant dense<2>
  %c = arith.constant dense<1> : tensor<4x8xi32>
  %r = arith.constant dense<2> : tensor<4x8xi32>
  // CHECK: %[[L:.+]]:2 = hone.logprob %{{.+}}, %[[C]], %[[R]] {hone.models = ["ref"]} : !{{.+}}, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
  // CHECK-NOT: hone.logprob
  // CHECK: arith.subf %[[L]]#0, %[[L]]#1
  %lc = hone.logprob %ref, %c {hone.models = ["ref"]} : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  %lr = hone.logprob %ref, %r {hone.models = ["ref"]} : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  %d = arith.subf %lc, %lr : tensor<4x8xf32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Log-prob reads of different model values, of different token types, or
/// with and without entropy stay apart.
// CHECK-LABEL: hone.pipeline @reference_apart
hone.pipeline @reference_apart {
  %ref = hone.model.init "ref" {seed = 0 : i64} : !m
  %pol = hone.model.init "policy" {seed = 0 : i64} : !m
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %b = arith.constant dense<2> : tensor<2x8xi32>
  // CHECK-COUNT-3: hone.logprob %{{[^,]+}}, %{{[^,]+}} :
  // CHECK-NEXT: hone.logprob %{{[^,]+}}, %{{[^,]+}} {entropy} :
  // CHECK-NOT: hone.logprob
  %l1 = hone.logprob %ref, %a : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  %l2 = hone.logprob %pol, %a : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  %l3 = hone.logprob %ref, %b : !m, tensor<2x8xi32> -> tensor<2x8xf32>
  %l4, %e4 = hone.logprob %pol, %a {entropy} : !m, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Log-probs of tokens sampled at different temperatures are taken at
/// those temperatures: they stay apart; two batches sampled at one
/// temperature merge.
// CHECK-LABEL: hone.pipeline @temperatures
hone.pipeline @temperatures {
  %ref = hone.model.init "ref" {seed = 0 : i64} : !m
  %pt = arith.constant dense<1> : tensor<2x4xi32>
  %pm = arith.constant dense<1.0> : tensor<2x4xf32>
  %step = arith.constant 0 : index
  // CHECK: %[[A:.+]]:3 = hone.generate {{.*}}temperature = 5.000000e-01
  // CHECK: %[[B:.+]]:3 = hone.generate
  // CHECK: %[[C:.+]]:3 = hone.generate {{.*}}temperature = 5.000000e-01
  %t1, %m1, %g1 = hone.generate %ref, %pt, %pm, %step {n = 2, temperature = 0.5 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x4xi32>, tensor<2x4xf32>, index) -> (tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>)
  %t2, %m2, %g2 = hone.generate %ref, %pt, %pm, %step {n = 2, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x4xi32>, tensor<2x4xf32>, index) -> (tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>)
  %t3, %m3, %g3 = hone.generate %ref, %pt, %pm, %step {n = 2, temperature = 0.5 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x4xi32>, tensor<2x4xf32>, index) -> (tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>)
  // CHECK-DAG: hone.logprob %{{[^,]+}}, %[[B]]#0 :
  // CHECK-DAG: hone.logprob %{{[^,]+}}, %[[A]]#0, %[[C]]#0 :
  %l1 = hone.logprob %ref, %t1 : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  %l2 = hone.logprob %ref, %t2 : !m, tensor<4x8xi32> -> tensor<4x8xf32>
  %l3 = hone.logprob %ref, %t3 : !m, tensor<4x8xi32> -> tensor<4x8xf32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// PPO's v_old: a hone.value of the critic the step reads, on the same
/// tokens, feeding the step as input 0: the step's first critic forward is
/// that op's (kept_forwards). The policy read keeps none.
// CHECK-LABEL: hone.pipeline @v_old
hone.pipeline @v_old {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %v = hone.model.init "critic" {seed = 0 : i64} : !s
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %vold = hone.value %v, %a : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  // CHECK: hone.train_step
  // CHECK-SAME: kept_forwards = array<i64: -1, 0>
  %p1, %v1, %loss = hone.train_step (%p, %v) tokens(%a, %a) inputs(%vold) {readers = array<i64: 0, 1>, reads = ["logprob", "value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %vo: tensor<4x8xf32>):
    %d = hone.loss.sub %val, %vo : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// No kept forward where the value is of another model value or other
/// tokens, or where the step splits the rows (mini-batches: the kept forward
/// is over every row).
// CHECK-LABEL: hone.pipeline @v_old_apart
hone.pipeline @v_old_apart {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %v = hone.model.init "critic" {seed = 0 : i64} : !s
  %w = hone.model.init "other" {seed = 0 : i64} : !s
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %b = arith.constant dense<2> : tensor<4x8xi32>
  %vold = hone.value %w, %a : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  %vb = hone.value %v, %b : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  // CHECK: hone.train_step
  // CHECK-NOT: kept_forwards
  // CHECK-SAME: readers
  %p1, %v1, %loss = hone.train_step (%p, %v) tokens(%a, %a) inputs(%vold) {readers = array<i64: 0, 1>, reads = ["logprob", "value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %vo: tensor<4x8xf32>):
    %d = hone.loss.sub %val, %vo : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
  // CHECK: hone.train_step
  // CHECK-NOT: kept_forwards
  // CHECK-SAME: readers
  %p2, %v2, %loss2 = hone.train_step (%p, %v) tokens(%a, %a) inputs(%vb) {readers = array<i64: 0, 1>, reads = ["logprob", "value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %vo: tensor<4x8xf32>):
    %d = hone.loss.sub %val, %vo : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
  %va = hone.value %v, %a : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  // CHECK: hone.train_step
  // CHECK-NOT: kept_forwards
  // CHECK-SAME: readers
  %p3, %v3, %loss3 = hone.train_step (%p, %v) tokens(%a, %a) inputs(%va) {mini_batches = 2, readers = array<i64: 0, 1>, reads = ["logprob", "value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %vo: tensor<4x8xf32>):
    %d = hone.loss.sub %val, %vo : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// kept_forwards on a read that is not a value read is refused.
hone.pipeline @bad_kept {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %v = hone.model.init "critic" {seed = 0 : i64} : !s
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %vold = hone.value %v, %a : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  // expected-error@+1 {{kept_forwards[0]: only a value read reuses a hone.value's forward}}
  %p1, %v1, %loss = hone.train_step (%p, %v) tokens(%a, %a) inputs(%vold) {kept_forwards = array<i64: 0, -1>, readers = array<i64: 0, 1>, reads = ["logprob", "value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %vo: tensor<4x8xf32>):
    %d = hone.loss.sub %val, %vo : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// kept_forwards with mini-batches is refused: the kept forward is over
/// every row.
hone.pipeline @bad_kept_mini {
  %p = hone.model.init "policy" {seed = 0 : i64} : !m
  %v = hone.model.init "critic" {seed = 0 : i64} : !s
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %vold = hone.value %v, %a : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  // expected-error@+1 {{kept_forwards[1]: the kept forward covers every row; it needs updates and mini_batches 1}}
  %p1, %v1, %loss = hone.train_step (%p, %v) tokens(%a, %a) inputs(%vold) {kept_forwards = array<i64: -1, 0>, mini_batches = 2, readers = array<i64: 0, 1>, reads = ["logprob", "value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %vo: tensor<4x8xf32>):
    %d = hone.loss.sub %val, %vo : tensor<4x8xf32>
    %out = hone.loss.mean %d : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
}
