// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages,hone-stream-scores{logprob-rows=8}))' | FileCheck %s
// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages,hone-stream-scores{logprob-rows=8},hone-schedule-stages,hone-pipeline-rollouts))' | FileCheck %s --check-prefix=PIPE
// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages,hone-stream-scores{stream=false logprob-rows=3}))' | FileCheck %s --check-prefix=OFF
// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages,hone-stream-scores))' | FileCheck %s --check-prefix=DEF

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// A verifier scores each row on its own: the generate streams its rows and
/// the score that reads its tokens and mask takes them as they finish.
// CHECK-LABEL: hone.pipeline @verifier
// CHECK: %[[G:.+]]:3 = hone.generate {{.*}}stream_rows
// CHECK: hone.score %{{.+}}, %[[G]]#0, %[[G]]#1, %{{[^ ]+}} {{.*}}stream
hone.pipeline @verifier {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  hone.save %g "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// An external process and a weighted sum of it with a verifier stream too
/// (the process is asked one completion at a time either way).
// CHECK-LABEL: hone.pipeline @external_combined
// CHECK: hone.generate {{.*}}stream_rows
// CHECK: hone.score {{.*}}stream
hone.pipeline @external_combined {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %e = hone.reward.external ["./score.py"] {timeout_s = 30.0 : f64} : !hone.reward
  %v = hone.reward.verifier length {cache_length = 2 : i64, max_length = 4 : i64} : !hone.reward
  %r = hone.reward.combine %e, %v weights [1.0, 0.5] : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  hone.save %g "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// A reward model streams too: the runtime scores it by fixed groups of
/// rows, streamed or not (the same forwards); so does a sum that holds one.
// CHECK-LABEL: hone.pipeline @reward_model
// CHECK: %[[G:.+]]:3 = hone.generate {{.*}}stream_rows
// CHECK: hone.score %{{.+}}, %[[G]]#0, %[[G]]#1, %{{[^ ]+}} {{.*}}stream
// CHECK: hone.save
hone.pipeline @reward_model {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %rm = hone.model.init "rm" {seed = 0 : i64} : !s
  %r = hone.reward.model %rm : !s
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  hone.save %g "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

// CHECK-LABEL: hone.pipeline @combined_with_model
// CHECK: hone.generate {{.*}}stream_rows
// CHECK: hone.score {{.*}}stream
// CHECK: hone.save
hone.pipeline @combined_with_model {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %rm = hone.model.init "rm" {seed = 0 : i64} : !s
  %m = hone.reward.model %rm : !s
  %v = hone.reward.verifier exact_match : !hone.reward
  %r = hone.reward.combine %v, %m weights [1.0, 1.0] : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  hone.save %g "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// Pipelined (staleness 1): the marks stay on the prologue's and the steady
/// loop's generate and score (the rollout side, generated ahead).
// PIPE-LABEL: hone.pipeline @pipelined
// PIPE: %[[G0:.+]]:3 = hone.generate {{.*}}hone.stage_part = "prologue"{{.*}}stream_rows
// PIPE: hone.score %{{.+}}, %[[G0]]#0, %[[G0]]#1, {{.*}}stream
// PIPE: %[[G:.+]]:3 = hone.generate {{.*}}hone.ahead = 1 : i64{{.*}}stream_rows
// PIPE: hone.score %{{.+}}, %[[G]]#0, %[[G]]#1, {{.*}}stream
hone.pipeline @pipelined {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 1>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  hone.save %g "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// A generate with demonstrations (LUFFY's off-policy rows) is not marked:
/// its rows are not all decoded.
// CHECK-LABEL: hone.pipeline @demonstrations
// CHECK-NOT: stream
// CHECK: hone.save
hone.pipeline @demonstrations {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %sd = hone.dataset "sft.jsonl" : !hone.dataset<prompt_completion>
  %r = hone.reward.verifier exact_match : !hone.reward
  %luffy = hone.rl grpo hybrid(luffy) %0, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.luffy<off_policy_per_group = 1, shaping_gamma = 1.0e-01>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
  hone.save %luffy "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Reference log-probs stream: the reference (the initial model, defined
/// outside the loop) reads the generate's tokens, packed or padded, in
/// fixed groups of rows (`row_group`, at most the batch's 4 rows), each
/// group's forward as soon as its rows finished. Without streaming
/// (stream=false, honec --no-stream-scores) only the groups are set, so
/// both programs run the same forwards.
// CHECK-LABEL: hone.pipeline @reference
// CHECK: %[[G:.+]]:3 = hone.generate {{.*}}stream_rows
// CHECK: hone.score %{{.+}}, %[[G]]#0, %[[G]]#1, %{{[^ ]+}} {{.*}}stream
// CHECK: hone.logprob %{{.+}}, %[[G]]#0 {{.*}}row_group = 4 : i64, stream}
// CHECK: hone.train_step
// Not asked (the default, logprob-rows=0), the reference read is left
// whole; the score still streams.
// DEF-LABEL: hone.pipeline @reference
// DEF: hone.score {{.*}}stream
// DEF-NOT: row_group
// DEF: hone.save
// OFF-LABEL: hone.pipeline @reference
// OFF-NOT: stream
// OFF: hone.logprob %{{.+}}, %{{.+}}#0 {{.*}}row_group = 3 : i64}
// OFF-NOT: stream
// OFF: hone.save
hone.pipeline @reference {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 4.0e-02 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
  hone.save %g "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// DAPO's dynamic sampling reads the kept rows (hone.group_filter's), not
/// the generate's: the reference read is left whole.
// CHECK-LABEL: hone.pipeline @filtered
// CHECK: hone.group_filter
// CHECK-NOT: row_group
// CHECK: hone.save
// OFF-LABEL: hone.pipeline @filtered
// OFF-NOT: row_group
// OFF: hone.save
hone.pipeline @filtered {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 4.0e-02 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = true, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
  hone.save %g "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Pipelined (staleness 1) with a reference: the read stays with learning
/// (one step behind its generate), marked; the runtime streams it when it
/// attaches while its generate still decodes, and reads what has finished.
// PIPE-LABEL: hone.pipeline @pipelined_reference
// PIPE: hone.generate {{.*}}hone.ahead = 1 : i64{{.*}}stream_rows
// PIPE: hone.logprob {{.*}}row_group = 4 : i64, stream}
hone.pipeline @pipelined_reference {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 4.0e-02 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 1>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
  hone.save %g "out" : !m
}
