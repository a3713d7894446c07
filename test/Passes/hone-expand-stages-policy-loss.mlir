// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages))' | FileCheck %s

/// The policy losses of docs/methods.md and user-written objectives expand
/// to loss-algebra objectives; combinations the spec checker rejects are
/// rejected again for IR written by hand.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// GSPO: the ratio of the sequence, exp(seq_mean(l − l_old)), clipped with
/// one term per sequence, spread over its tokens; the kernel is named after
/// the kind.
// CHECK-LABEL: hone.pipeline @gspo
// CHECK: hone.train_step
// CHECK-SAME: kernel = "gspo_grpo_gspo_0"
// CHECK: %[[D:.*]] = hone.loss.sub %[[L:[^,]*]], %[[LOLD:[^ ]*]]
// CHECK: %[[LS:.*]] = hone.loss.seq_mean %[[D]]
// CHECK: %[[S:.*]] = hone.loss.exp %[[LS]] : tensor<4xf32>
// CHECK: hone.loss.clamp %[[S]] min 9.99{{.*}} max 1.0004
hone.pipeline @gspo {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 3.0e-04, epsilon_high = 4.0e-04, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, policy_loss = #hone.policy_loss<kind = gspo, dual_clip = 0.0, tis_cap = 0.0, tau_pos = 1.0, tau_neg = 1.05>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Truncated IS: the policy's log-probs are taken again for the ratio; the
/// generator's become the l_rollout argument that weighs each token.
// CHECK-LABEL: hone.pipeline @tis
// CHECK: %[[GEN:.*]]:3 = hone.generate
// CHECK: %[[LOLD:.*]] = hone.logprob %{{.*}}, %[[GEN]]#0
// CHECK: hone.train_step
// CHECK-SAME: inputs(%[[GEN]]#1, %[[LOLD]], %{{[^,]*}}, %{{[^,]*}}, %[[GEN]]#2)
// CHECK-SAME: arg_names = ["l", "mask", "l_old", "adv", "l_ref", "l_rollout"]
// CHECK: hone.loss.clamp %{{.*}} max 2.0
// CHECK: hone.loss.stop_gradient
hone.pipeline @tis {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %t = hone.rl grpo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, policy_loss = #hone.policy_loss<kind = clip, dual_clip = 0.0, tis_cap = 2.0, tau_pos = 1.0, tau_neg = 1.05>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A user-written objective: one hone.loss op per node of the expression.
// CHECK-LABEL: hone.pipeline @objective
// CHECK: hone.train_step
// CHECK-SAME: kernel = "objective_grpo_objective_0"
// CHECK: %[[E:.*]] = hone.loss.exp
// CHECK: hone.loss.masked_reduce token_mean
hone.pipeline @objective {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %o = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, objective = "token_mean(-exp(logprob) * advantage)"} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

hone.pipeline @rloo {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{policy_loss changes the importance ratio, which rloo (REINFORCE) has none}}
  %x = hone.rl rloo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, policy_loss = #hone.policy_loss<kind = clip, dual_clip = 0.0, tis_cap = 2.0, tau_pos = 1.0, tau_neg = 1.05>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

hone.pipeline @dual {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{dual_clip bounds the clipped surrogate; kind is cispo}}
  %x = hone.rl grpo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, policy_loss = #hone.policy_loss<kind = cispo, dual_clip = 3.0, tis_cap = 0.0, tau_pos = 1.0, tau_neg = 1.05>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

hone.pipeline @bad_objective {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{objective, at character 11: unknown quantity 'logprb' (did you mean 'logprob'?)}}
  %x = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, objective = "token_mean(logprb)"} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

hone.pipeline @bad_range {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{#hone.policy_loss: tau_neg = 0 must be positive}}
  %x = hone.rl grpo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, policy_loss = #hone.policy_loss<kind = sapo, dual_clip = 0.0, tis_cap = 0.0, tau_pos = 1.0, tau_neg = 0.0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
}
