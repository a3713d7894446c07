// RUN: hone-opt %s -split-input-file -verify-diagnostics --allow-unregistered-dialect
// Stage level, the offline stages (sft, preference, reward model), eval,
// save, and what every stage checks.

/// steps positive
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p26 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{'steps' must be positive, got 0}}
  // expected-note@+1 {{hint:}}
  %1 = hone.sft plain %m, %pc {steps = 0, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
}
// -----

/// batch positive
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p27 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{'batch_size' must be positive, got -2}}
  // expected-note@+1 {{hint:}}
  %1 = hone.sft plain %m, %pc {steps = 1, batch_size = -2, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
}
// -----

/// sft policy needs an LM head
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p28 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c = hone.model.new_head "c" %m {seed = 0 : i64} : !m -> !s
  // expected-error@+2 {{the policy must have an LM head, not a scalar head}}
  // expected-note@+1 {{hint:}}
  %1 = hone.sft plain %c, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!s, !hone.dataset<prompt_completion>) -> !s
}
// -----

/// sft needs demonstrations
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p29 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{SFT needs demonstrations, but the dataset has layout 'preference'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.sft plain %m, %pref {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<preference>) -> !m
}
// -----

/// iw sft needs a reference
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p30 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{importance-weighted SFT needs a reference model ('ref')}}
  // expected-note@+1 {{hint:}}
  %1 = hone.sft iw %m, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
}
// -----

/// plain sft takes no reference
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p31 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{the dft SFT objective does not use a reference model}}
  // expected-note@+1 {{hint:}}
  %1 = hone.sft dft %m, %pc ref %m {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>, !m) -> !m
}
// -----

/// reference must have an LM head
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p32 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c = hone.model.new_head "c" %m {seed = 0 : i64} : !m -> !s
  // expected-error@+2 {{the reference must have an LM head, not a scalar head}}
  // expected-note@+1 {{hint:}}
  %1 = hone.sft iw %m, %pc ref %c {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>, !s) -> !m
}
// -----

/// reference must share the vocabulary
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p33 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %o = hone.model.init "o" {seed = 0 : i64} : !m8
  // expected-error@+2 {{the reference has vocab 8 but the policy has vocab 16}}
  // expected-note@+1 {{hint:}}
  %1 = hone.sft iw %m, %pc ref %o {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>, !m8) -> !m
}
// -----

/// sft result type matches
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p34 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{all of {policy, result} have same type}}
  %1 = hone.sft plain %m, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m8
}
// -----

/// unknown sft variant
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p35 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{unknown keyword 'lora', expected one of: plain, dft, iw}}
  %1 = hone.sft lora %m, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
}
// -----

/// reward model yields a scalar head
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p36 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{a reward model's result must have a scalar head}}
  // expected-note@+1 {{hint:}}
  %1 = hone.reward_model %m, %pref {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.reward_model_settings<center_rewards = 0.0e+00>} : (!m, !hone.dataset<preference>) -> !m
}
// -----

/// reward model keeps the architecture
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p37 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{the reward model must keep the base's architecture}}
  // expected-note@+1 {{hint:}}
  %1 = hone.reward_model %m, %pref {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.reward_model_settings<center_rewards = 0.0e+00>} : (!m, !hone.dataset<preference>) -> !s8
}
// -----

/// reward model needs pairs
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p38 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{a Bradley-Terry reward model needs preference pairs, but the dataset has layout 'prompt_completion'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.reward_model %m, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.reward_model_settings<center_rewards = 0.0e+00>} : (!m, !hone.dataset<prompt_completion>) -> !s
}
// -----

/// dpo needs pairs
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p39 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{dpo needs chosen/rejected pairs, but the dataset has layout 'prompt_completion'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.preference dpo %m, %pc ref %m {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<prompt_completion>, !m) -> !m
}
// -----

/// kto needs labelled completions
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p40 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{KTO needs completions labelled desirable or not, but the dataset has layout 'text'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.preference kto %m, %text ref %m {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<text>, !m) -> !m
}
// -----

/// dpo needs a reference
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p41 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{dpo needs a reference model ('ref')}}
  // expected-note@+1 {{hint:}}
  %1 = hone.preference dpo %m, %pref {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>) -> !m
}
// -----

/// ipo needs a reference
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p42 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{ipo needs a reference model ('ref')}}
  // expected-note@+1 {{hint:}}
  %1 = hone.preference ipo %m, %pref {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>) -> !m
}
// -----

/// simpo is reference-free
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p43 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{simpo is reference-free and takes no 'ref'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.preference simpo %m, %pref ref %m {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>, !m) -> !m
}
// -----

/// orpo is reference-free
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p44 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{orpo is reference-free and takes no 'ref'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.preference orpo %m, %pref ref %m {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>, !m) -> !m
}
// -----

/// beta positive
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p45 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{#hone.preference_settings: beta = 0 must be positive}}
  %1 = hone.preference dpo %m, %pref ref %m {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.0, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>, !m) -> !m
}
// -----

/// dpo reference shares the vocabulary
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p46 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %o = hone.model.init "o" {seed = 0 : i64} : !m8
  // expected-error@+2 {{the reference has vocab 8 but the policy has vocab 16}}
  // expected-note@+1 {{hint:}}
  %1 = hone.preference dpo %m, %pref ref %o {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>, !m8) -> !m
}
// -----

/// generating eval needs an LM head
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p70 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c = hone.model.new_head "c" %m {seed = 0 : i64} : !m -> !s
  // expected-error@+2 {{the evaluated model must have an LM head, not a scalar head}}
  // expected-note@+1 {{hint:}}
  hone.eval %c, %pa reward %r {settings = #hone.eval_settings<every_steps = 0, max_records = 0, generation = <max_new_tokens = 16, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>} : !s, !hone.dataset<prompt_answer>
}
// -----

/// generating eval needs prompts
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p71 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %len = hone.reward.verifier length {max_length = 8} : !hone.reward
  // expected-error@+2 {{evaluating with a reward needs prompts, but the dataset has layout 'text'}}
  // expected-note@+1 {{hint:}}
  hone.eval %m, %text reward %len {settings = #hone.eval_settings<every_steps = 0, max_records = 0, generation = <max_new_tokens = 16, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>} : !m, !hone.dataset<text>
}
// -----

/// save needs a name
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p72 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{needs a directory name}}
  // expected-note@+1 {{hint:}}
  hone.save %m "" : !m
}


// -----

/// hone.save writes inside the run directory only: an absolute path or a
/// '..' component is refused (it wrote wherever it pointed).
!m = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @save_outside {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  // expected-error@+2 {{path '/etc/x' leaves the run directory}}
  // expected-note@+1 {{hint: use a relative path without '..'}}
  hone.save %m "/etc/x" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @save_up {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  // expected-error@+2 {{path 'a/../../b' leaves the run directory}}
  // expected-note@+1 {{hint:}}
  hone.save %m "a/../../b" : !m
}

// -----

/// An offline stage's loop.max_length must fit the model's positions.
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @loop_too_long {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  // expected-error@+2 {{loop.max_length (64) exceeds the model's max_seq (32)}}
  // expected-note@+1 {{hint: the model has no positions beyond max_seq}}
  %1 = hone.sft plain %m, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 64>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
}
