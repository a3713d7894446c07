// RUN: hone-opt %s -split-input-file -verify-diagnostics --allow-unregistered-dialect
// Stage level, models: #hone.arch and the model ops (init, new_head, lora).

/// a size must be positive

hone.pipeline @p0 {
  // expected-error@+1 {{#hone.arch: vocab = 0 must be positive}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<gpt2, vocab = 0, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// a family the runtime does not know (runtime/base/ModelConfig.h)

hone.pipeline @p0 {
  // expected-error@+2 {{unknown model family 'qwen2', expected one of: gpt2, llama}}
  // expected-error@+1 {{failed to parse Hone_ArchAttr parameter 'family'}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<qwen2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// layers must be positive

hone.pipeline @p1 {
  // expected-error@+1 {{#hone.arch: layers = -1 must be positive}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = -1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// heads must divide d_model

hone.pipeline @p2 {
  // expected-error@+1 {{heads (4) must divide d_model (30)}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 30, layers = 1, heads = 4, kv_heads = 4, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// kv heads must divide heads

hone.pipeline @p3 {
  // expected-error@+1 {{kv_heads (4) must divide heads (6)}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<llama, vocab = 16, d_model = 48, layers = 1, heads = 6, kv_heads = 4, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// norm eps in (0,1)

hone.pipeline @p4 {
  // expected-error@+1 {{#hone.arch: norm_eps = 0 must be in (0, 1)}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 0.0, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// gpt2 has no GQA

hone.pipeline @p5 {
  // expected-error@+1 {{gpt2 has no grouped-query attention}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// gpt2 has no qkv_bias option

hone.pipeline @p6 {
  // expected-error@+1 {{qkv_bias is a llama-family option}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 4, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = true, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// RoPE needs an even head dim

hone.pipeline @p7 {
  // expected-error@+1 {{rotary embeddings need an even head dimension}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<llama, vocab = 16, d_model = 12, layers = 1, heads = 4, kv_heads = 4, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// rope theta positive

hone.pipeline @p8 {
  // expected-error@+1 {{rope_theta must be positive}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 4, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = -1.0, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}
// -----

/// new_head keeps the architecture
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p9 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  // expected-error@+2 {{the new head must keep the body's architecture}}
  // expected-note@+1 {{hint:}}
  %c = hone.model.new_head "c" %m {seed = 0 : i64} : !m -> !s8
}
// -----

/// Llama 3.1 RoPE scaling needs its bands in order.

hone.pipeline @rope_bands {
  // expected-error@+1 {{llama3 rope scaling needs 0 < rope_low_freq < rope_high_freq}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = llama3, rope_factor = 1.0e+00, rope_low_freq = 4.0, rope_high_freq = 1.0, rope_original_max = 8192>>
}

// -----

/// An odd head_dim cannot be rotated.

hone.pipeline @odd_head_dim {
  // expected-error@+1 {{rotary embeddings need an even head dimension, got 7}}
  %m = hone.model.init "m" {seed = 0 : i64} : !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 7, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
}

// -----

/// LoRA: llama family, LM head, no stacking, known targets
!g = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!l = !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!ls = !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @plora {
  %g = hone.model.init "g" {seed = 0 : i64} : !g
  // expected-error@+2 {{LoRA applies to the llama family, not gpt2}}
  // expected-note@+1 {{hint:}}
  %ga = hone.model.lora "g" %g {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj"], merge_on_save = false>, seed = 1} : !g -> !g
}
// -----

!l = !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @plora2 {
  %m = hone.model.init "m" {seed = 0 : i64} : !l
  %a = hone.model.lora "m" %m {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj"], merge_on_save = false>, seed = 1} : !l -> !l
  // expected-error@+2 {{the base already carries adapters}}
  // expected-note@+1 {{hint:}}
  %aa = hone.model.lora "m" %a {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj"], merge_on_save = false>, seed = 1} : !l -> !l
}
// -----

!l = !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!ls = !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @plora3 {
  %m = hone.model.init "m" {seed = 0 : i64} : !l
  %s = hone.model.new_head "s" %m {seed = 0 : i64} : !l -> !ls
  // expected-error@+2 {{LoRA on a scalar-head model is not supported}}
  // expected-note@+1 {{hint:}}
  %sa = hone.model.lora "s" %s {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj"], merge_on_save = false>, seed = 1} : !ls -> !ls
}
