// RUN: hone-opt --allow-unregistered-dialect %s -split-input-file -verify-diagnostics

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// element-wise ops do not mix per-token and per-sequence shapes

hone.pipeline @p {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  %a = "test.adv"() : () -> tensor<2xf32>
  %r:2 = hone.train_step (%p) tokens(%t) inputs(%a) {readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2xf32>) -> (!m, tensor<f32>) objective {
  // expected-note@+1 {{prior use here}}
  ^bb0(%l: tensor<2x4xf32>, %adv: tensor<2xf32>):
    // expected-error@+1 {{use of value '%adv' expects different type than prior uses}}
    %y = hone.loss.mul %l, %adv : tensor<2x4xf32>
    %loss = hone.loss.sum %y : tensor<2x4xf32> -> tensor<f32>
    hone.loss.yield %loss : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// the loss is a scalar

hone.pipeline @p {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  %r:2 = hone.train_step (%p) tokens(%t) {readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<2x4xf32>):
    %s = hone.loss.seq_sum %l : tensor<2x4xf32> -> tensor<2xf32>
    // expected-error@+1 {{the loss must be a scalar, got 'tensor<2xf32>'}}
    hone.loss.yield %s : tensor<2xf32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// element types do not mix

hone.pipeline @p {
  %x = "test.x"() : () -> tensor<2x4xf32>
  // expected-error@+1 {{reduction mixes element types 'f32' and 'f64'}}
  %s = hone.loss.sum %x : tensor<2x4xf32> -> tensor<f64>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// seq_mean_token_mean needs per-token values

hone.pipeline @p {
  %x = "test.x"() : () -> tensor<4xf32>
  // expected-error@+1 {{mode seq_mean_token_mean needs a per-token operand [B,T], got 'tensor<4xf32>'}}
  %s = hone.loss.masked_reduce seq_mean_token_mean %x, %x : tensor<4xf32> -> tensor<f32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// a constant normaliser must be given

hone.pipeline @p {
  %x = "test.x"() : () -> tensor<2x4xf32>
  // expected-error@+1 {{mode constant needs a 'normaliser'}}
  %s = hone.loss.masked_reduce constant %x, %x : tensor<2x4xf32> -> tensor<f32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// groups divide the batch

hone.pipeline @p {
  %x = "test.x"() : () -> tensor<6xf32>
  // expected-error@+1 {{group_size 4 must be positive and divide the 6 sequences}}
  %g = hone.loss.group_mean %x {group_size = 4} : tensor<6xf32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// broadcast widens

hone.pipeline @p {
  %x = "test.x"() : () -> tensor<2x4xf32>
  // expected-error@+1 {{widens a value}}
  %g = hone.loss.broadcast %x : tensor<2x4xf32> to tensor<2xf32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// clamp bounds are ordered

hone.pipeline @p {
  %x = "test.x"() : () -> tensor<2xf32>
  // expected-error@+1 {{has min 2.000000e+00 above max 1.000000e+00}}
  %g = hone.loss.clamp %x min 2.0 max 1.0 : tensor<2xf32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// region arguments follow the reads and inputs

hone.pipeline @p {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  // expected-error@+1 {{region argument #0 must be 'tensor<2x4xf32>', got 'tensor<2xf32>'}}
  %r:2 = hone.train_step (%p) tokens(%t) {readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<2xf32>):
    %s = hone.loss.sum %l : tensor<2xf32> -> tensor<f32>
    hone.loss.yield %s : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// updates: the objective sees one mini-batch (1/updates of the rows)

hone.pipeline @p {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<4x4xi32>
  %a = "test.adv"() : () -> tensor<4xf32>
  // expected-error@+1 {{region argument #1 must be 'tensor<2xf32>', got 'tensor<4xf32>'}}
  %r:2 = hone.train_step (%p) tokens(%t) inputs(%a) {readers = array<i64: 0>, reads = ["logprob"], updates = 2, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64} : (!m, tensor<4x4xi32>, tensor<4xf32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<2x4xf32>, %adv: tensor<4xf32>):
    %s = hone.loss.sum %l : tensor<2x4xf32> -> tensor<f32>
    hone.loss.yield %s : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// updates must divide every row count

hone.pipeline @p {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<4x4xi32>
  // expected-error@+1 {{updates = 3 does not divide the rows of 'tensor<4x4xi32>'}}
  %r:2 = hone.train_step (%p) tokens(%t) {readers = array<i64: 0>, reads = ["logprob"], updates = 3, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64} : (!m, tensor<4x4xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<1x4xf32>):
    %s = hone.loss.sum %l : tensor<1x4xf32> -> tensor<f32>
    hone.loss.yield %s : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// a value read needs a scalar-head model

hone.pipeline @p {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  // expected-error@+1 {{read 'value' needs a model with a scalar head}}
  %r:2 = hone.train_step (%p) tokens(%t) {readers = array<i64: 0>, reads = ["value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%v: tensor<2x4xf32>):
    %s = hone.loss.sum %v : tensor<2x4xf32> -> tensor<f32>
    hone.loss.yield %s : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// advantages: GRPO groups divide the batch

hone.pipeline @p {
  %r = "test.r"() : () -> tensor<6xf32>
  // expected-error@+1 {{group_size 4 must be at least 2 and divide 6}}
  %a = hone.advantage group_norm %r {group_size = 4, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<6xf32>) -> tensor<6xf32>
}
