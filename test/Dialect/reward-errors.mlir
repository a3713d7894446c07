// RUN: hone-opt %s -split-input-file -verify-diagnostics --allow-unregistered-dialect
// Stage level, rewards: verifiers, reward models, external scorers, combine.

/// regex needs a pattern
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p10 {
  // expected-error@+2 {{the regex verifier needs a 'pattern'}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier regex : !hone.reward
}
// -----

/// format needs a pattern
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p11 {
  // expected-error@+2 {{the format verifier needs a 'pattern'}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier format : !hone.reward
}
// -----

/// pattern only for regex/format
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p12 {
  // expected-error@+2 {{'pattern' is not used by the exact_match verifier}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier exact_match {pattern = "x"} : !hone.reward
}
// -----

/// tolerance only for numeric
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p13 {
  // expected-error@+2 {{'tolerance' is not used by the exact_match verifier}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier exact_match {tolerance = 0.5 : f64} : !hone.reward
}
// -----

/// tolerance non-negative
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p14 {
  // expected-error@+2 {{'tolerance' must be non-negative}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier numeric_match {tolerance = -0.5 : f64} : !hone.reward
}
// -----

/// length fields only for length
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p15 {
  // expected-error@+2 {{'max_length'/'cache_length' are not used by the regex verifier}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier regex {pattern = "a", max_length = 3} : !hone.reward
}
// -----

/// length needs max_length
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p16 {
  // expected-error@+2 {{the length verifier needs a positive 'max_length'}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier length : !hone.reward
}
// -----

/// max_length must be positive (a negative one too)
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @neglen {
  // expected-error@+2 {{the length verifier needs a positive 'max_length'}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier length {max_length = -4} : !hone.reward
}

// -----

/// cache below max
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p17 {
  // expected-error@+2 {{'cache_length' must be in [0, max_length), got 16}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.verifier length {max_length = 16, cache_length = 16} : !hone.reward
}
// -----

/// unknown verifier keyword
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p18 {
  // expected-error@+1 {{unknown keyword 'fuzzy', expected one of: exact_match, numeric_match, regex, format, length}}
  %r = hone.reward.verifier fuzzy : !hone.reward
}
// -----

/// reward.model needs a scalar head
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p19 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  // expected-error@+2 {{a reward model must have a scalar head}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.model %m : !m
}
// -----

/// external needs a command
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p20 {
  // expected-error@+2 {{the external reward needs a command}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.external [] {timeout_s = 3.000000e+01 : f64} : !hone.reward
}
// -----

/// external args non-empty
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p21 {
  // expected-error@+2 {{the external reward's command has an empty argument}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.external ["python3", ""] {timeout_s = 3.000000e+01 : f64} : !hone.reward
}
// -----

/// external timeout positive
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p22 {
  // expected-error@+2 {{'timeout_s' must be positive}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.external ["score"] {timeout_s = 0.0 : f64} : !hone.reward
}
// -----

/// combine needs rewards
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p23 {
  // expected-error@+2 {{needs at least one reward}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.combine weights [] : !hone.reward
}
// -----

/// combine one weight per reward
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p24 {
  %a = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{has 1 rewards but 2 weights}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.combine %a weights [1.0, 2.0] : !hone.reward
}
// -----

/// combine weights finite
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p25 {
  %a = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{weights must be finite}}
  // expected-note@+1 {{hint:}}
  %r = hone.reward.combine %a weights [0x7FF0000000000000] : !hone.reward
}
