// RUN: hone-opt %s -split-input-file -verify-diagnostics --allow-unregistered-dialect
// Stage level, hone.rl: rewards, prompts, critics, KL, groups, hybrids.

/// rl needs a reward
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p47 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{the grpo stage has no reward}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo %m, %pa {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>) -> !m
}
// -----

/// rl needs prompts
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p48 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %len = hone.reward.verifier length {max_length = 8} : !hone.reward
  // expected-error@+2 {{RL needs prompts, but the dataset has layout 'text'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo %m, %text reward %len {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<text>, !hone.reward) -> !m
}
// -----

/// answer verifiers need answers
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p49 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{the reward compares with a reference answer, but the dataset has layout 'messages'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo %m, %msgs reward %r {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<messages>, !hone.reward) -> !m
}
// -----

/// answer verifiers through combine
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p50 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %len = hone.reward.verifier length {max_length = 8} : !hone.reward
  %sum = hone.reward.combine %len, %r weights [1.0, 1.0] : !hone.reward
  // expected-error@+2 {{the reward compares with a reference answer, but the dataset has layout 'messages'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo %m, %msgs reward %sum {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<messages>, !hone.reward) -> !m
}
// -----

/// ppo needs a critic
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p51 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{PPO needs a critic ('critic')}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl ppo %m, %pa reward %r {steps = 1, batch_size = 8, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 4, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// only ppo takes a critic
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p52 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c = hone.model.new_head "c" %m {seed = 0 : i64} : !m -> !s
  // expected-error@+2 {{grpo does not use a critic}}
  // expected-note@+1 {{hint:}}
  %1:2 = hone.rl grpo %m, %pa reward %r critic %c {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !s) -> (!m, !s)
}
// -----

/// critic has a scalar head
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p53 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{the critic must have a scalar head}}
  // expected-note@+1 {{hint:}}
  %1:2 = hone.rl ppo %m, %pa reward %r critic %m {steps = 1, batch_size = 8, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 4, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> (!m, !m)
}
// -----

/// critic shares the vocabulary
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p54 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c0 = hone.model.init "c0" {seed = 0 : i64} : !m8
  %c = hone.model.new_head "c" %c0 {seed = 0 : i64} : !m8 -> !s8
  // expected-error@+2 {{the critic has vocab 8 but the policy has vocab 16}}
  // expected-note@+1 {{hint:}}
  %1:2 = hone.rl ppo %m, %pa reward %r critic %c {steps = 1, batch_size = 8, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 4, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !s8) -> (!m, !s8)
}
// -----

/// ppo yields its critic
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p55 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c = hone.model.new_head "c" %m {seed = 0 : i64} : !m -> !s
  // expected-error@+2 {{yields a trained critic exactly when it takes one}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl ppo %m, %pa reward %r critic %c {steps = 1, batch_size = 8, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 4, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !s) -> !m
}
// -----

/// trained critic keeps its type
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p56 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c = hone.model.new_head "c" %m {seed = 0 : i64} : !m -> !s
  // expected-error@+2 {{the trained critic must have the critic's type}}
  // expected-note@+1 {{hint:}}
  %1:2 = hone.rl ppo %m, %pa reward %r critic %c {steps = 1, batch_size = 8, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 4, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !s) -> (!m, !s8)
}
// -----

/// kl coefficient non-negative
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p57 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{'kl_coef' must be non-negative}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo %m, %pa reward %r ref %m {steps = 1, batch_size = 8, group_size = 4, kl_coef = -0.1 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
}
// -----

/// kl needs a reference
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p58 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{a KL penalty (kl_coef = 0.04) needs a reference model ('ref')}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo %m, %pa reward %r {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// rl reference has an LM head
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p59 {
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
  %1 = hone.rl grpo %m, %pa reward %r ref %c {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !s) -> !m
}
// -----

/// group size positive
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p60 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{group_size must be at least 1, got 0}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl remax %m, %pa reward %r {steps = 1, batch_size = 8, group_size = 0, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// group size positive
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p60 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{remax samples one completion per prompt (plus a greedy one), got group_size 2}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl remax %m, %pa reward %r {steps = 1, batch_size = 8, group_size = 2, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// grpo needs groups
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p61 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{grpo compares the samples of one prompt and needs group_size >= 2, got 1}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo %m, %pa reward %r {steps = 1, batch_size = 8, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// rloo needs groups
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p62 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{rloo compares the samples of one prompt and needs group_size >= 2, got 1}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl rloo %m, %pa reward %r {steps = 1, batch_size = 8, group_size = 1, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// batch is a multiple of the group
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p63 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{batch_size (10) must be a multiple of group_size (4)}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl dapo %m, %pa reward %r {steps = 1, batch_size = 10, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.8e-01, ppo_epochs = 1, mini_batches = 1, aggregation = token_mean, scale_rewards = true, dynamic_sampling = true, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// hybrids need demonstrations
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p64 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{the chord hybrid needs demonstrations ('demos')}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo hybrid(chord) %m, %pa reward %r {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.chord<mu = <shape = warmup_cosine, start = 9.0e-01, end = 5.0e-02, steps = 1, warmup_steps = 0>, token_weighting = true, sft_batch_size = 2>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// demonstrations need a hybrid
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p65 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{demonstrations are given but no hybrid mode uses them}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo %m, %pa reward %r demos %pc {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
}
// -----

/// demonstrations need completions
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p66 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+2 {{demonstrations need completions, but the dataset has layout 'preference'}}
  // expected-note@+1 {{hint:}}
  %1 = hone.rl grpo hybrid(luffy) %m, %pa reward %r demos %pref {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.luffy<off_policy_per_group = 1, shaping_gamma = 1.0e-01>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<preference>) -> !m
}
// -----

/// unknown hybrid
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p67 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{unknown keyword 'mix', expected one of: chord, srft, luffy, relift, hpt, uft}}
  %1 = hone.rl grpo hybrid(mix) %m, %pa reward %r demos %pc {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
}
// -----

/// unknown algorithm
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p68 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{unknown keyword 'a2c', expected one of: ppo, grpo, dr_grpo, dapo, rloo, reinforce_pp, remax}}
  %1 = hone.rl a2c %m, %pa reward %r {steps = 1, batch_size = 8, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}
// -----

/// unknown preference loss
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
!m8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s8 = !hone.model<#hone.arch<gpt2, vocab = 8, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p69 {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %text = hone.dataset "t.jsonl" : !hone.dataset<text>
  %msgs = hone.dataset "m.jsonl" : !hone.dataset<messages>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{unknown keyword 'cpo', expected one of: dpo, ipo, kto, orpo, simpo}}
  %1 = hone.preference cpo %m, %pref {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>) -> !m
}
