// RUN: hone-opt %s -split-input-file -verify-diagnostics

// Settings have no ODS defaults (cmake/CheckNoSpecDefaults.cmake): IR that
// leaves one out is refused, it does not get a second default. The frontend
// writes every one (frontend/Defaults.cpp).

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A model's seed.

hone.pipeline @seed {
  // expected-error@+1 {{requires attribute 'seed'}}
  %p = hone.model.init "p" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// data.next's loss masks.

hone.pipeline @masks {
  %d = hone.dataset "d.jsonl" : !hone.dataset<prompt_completion>
  %step = arith.constant 0 : index
  // expected-error@+1 {{requires attribute 'assistant_only_loss'}}
  %t:3 = hone.data.next sequences %d, %step : !hone.dataset<prompt_completion> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xi64>
}

// -----

/// The sampling temperature (and every other sampling setting).

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

hone.pipeline @temperature {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = arith.constant dense<1> : tensor<2x4xi32>
  %k = arith.constant dense<1.0> : tensor<2x4xf32>
  %step = arith.constant 0 : index
  // expected-error@+1 {{requires attribute 'temperature'}}
  %g:3 = hone.generate %p, %t, %k, %step {n = 1 : i64, top_k = 0 : i64, top_p = 1.0 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x4xi32>, tensor<2x4xf32>, index) -> (tensor<2x8xi32>, tensor<2x8xf32>, tensor<2x8xf32>)
}

// -----

/// An advantage's GAE settings.

hone.pipeline @gae {
  %r = arith.constant dense<1.0> : tensor<4xf32>
  // expected-error@+1 {{requires attribute 'lambda'}}
  %a = hone.advantage group_norm %r {group_size = 2 : i64, gamma = 1.0 : f64, eps = 1.0e-06 : f64} : (tensor<4xf32>) -> tensor<4xf32>
}
