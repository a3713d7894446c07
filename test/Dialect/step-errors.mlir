// RUN: hone-opt %s -split-input-file -verify-diagnostics

/// hone.logprob over several token batches: one token type, one forward
/// over their rows.

hone.pipeline @logprob_types {
  %p = hone.model.init "p" {seed = 0 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %b = arith.constant dense<1> : tensor<2x8xi32>
  // expected-error@+1 {{token batches must have one type (one forward over their rows), got 'tensor<4x8xi32>' and 'tensor<2x8xi32>'}}
  %l:2 = hone.logprob %p, %a, %b : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>, tensor<4x8xi32>, tensor<2x8xi32> -> tensor<4x8xf32>, tensor<2x8xf32>
}

// -----

/// hone.logprob: one result per token batch (two with entropy).

hone.pipeline @logprob_results {
  %p = hone.model.init "p" {seed = 0 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
  %a = arith.constant dense<1> : tensor<4x8xi32>
  // expected-error@+1 {{has 2 results, expected 4}}
  %l:2 = hone.logprob %p, %a, %a {entropy} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

/// hone.logprob needs a token batch.

hone.pipeline @logprob_none {
  %p = hone.model.init "p" {seed = 0 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
  // expected-error@+1 {{needs at least one token batch}}
  %l = "hone.logprob"(%p) <{operandSegmentSizes = array<i32: 1, 0, 0>}> : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>) -> tensor<4x8xf32>
}

// -----

/// sync_weights copies between models of one architecture, never onto itself
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @sync_arch {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %r = hone.model.init "r" {seed = 0 : i64} : !m8
  // expected-error@+1 {{copies weights between models of different architectures}}
  hone.sync_weights %m to %r : !m, !m8
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @sync_self {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  // expected-error@+1 {{copies a model's weights onto itself}}
  hone.sync_weights %m to %m : !m, !m
}

// -----

/// hone.logprob's packed masks: one per token batch, each of its shape.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @logprob_pack_count {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %m = arith.constant dense<1.0> : tensor<4x8xf32>
  // expected-error@+1 {{packed needs one mask per token batch (2), got 1}}
  %l:2 = hone.logprob %p, %a, %a packed(%m : tensor<4x8xf32>) : !m, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @logprob_pack_shape {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %m = arith.constant dense<1.0> : tensor<4x4xf32>
  // expected-error@+1 {{packed masks must be float tensors of the tokens' shape 'tensor<4x8xi32>', got 'tensor<4x4xf32>'}}
  %l = hone.logprob %p, %a packed(%m : tensor<4x4xf32>) : !m, tensor<4x8xi32> -> tensor<4x8xf32>
}

// -----

/// hone.value's packed mask has the tokens' shape.

!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @value_pack_shape {
  %v = hone.model.init "v" {seed = 0 : i64} : !s
  %a = arith.constant dense<1> : tensor<4x8xi32>
  %m = arith.constant dense<1.0> : tensor<2x8xf32>
  // expected-error@+1 {{the packed mask must be a float tensor of the tokens' shape 'tensor<4x8xi32>', got 'tensor<2x8xf32>'}}
  %x = hone.value %v, %a packed(%m : tensor<2x8xf32>) : !s, tensor<4x8xi32> -> tensor<4x8xf32>
}
