// RUN: hone-opt %s --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages))' | FileCheck %s
// RUN: hone-opt %s --hone-step-pipeline | FileCheck %s --check-prefix=GRAD

/// Every stage kind becomes an scf.for of step ops whose train step holds
/// the method's objective (arguments named, kernel named after the method);
/// the step pipeline then gives every train step a gradient region.

// GRAD-COUNT-23: } gradient {

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @all {
  %0 = hone.model.init "0" {seed = 0 : i64} : !m
  %sd = hone.dataset "sft.jsonl" : !hone.dataset<prompt_completion>
  %pairs = hone.dataset "pairs.jsonl" : !hone.dataset<preference>
  %kd = hone.dataset "kto.jsonl" : !hone.dataset<unpaired_preference>
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %sft = hone.sft plain %0, %sd {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
  %dft = hone.sft dft %sft, %sd {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
  %iw = hone.sft iw %sft, %sd ref %sft {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>, !m) -> !m
  %rm = hone.reward_model %sft, %pairs {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.reward_model_settings<center_rewards = 0.0e+00>} : (!m, !hone.dataset<preference>) -> !s
  %dpo = hone.preference dpo %sft, %pairs ref %sft {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>, !m) -> !m
  %ipo = hone.preference ipo %sft, %pairs ref %sft {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>, !m) -> !m
  %kto = hone.preference kto %sft, %kd ref %sft {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<unpaired_preference>, !m) -> !m
  %orpo = hone.preference orpo %sft, %pairs {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>) -> !m
  %simpo = hone.preference simpo %sft, %pairs {batch_size = 4 : i64, steps = 2 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>) -> !m
  %c = hone.model.new_head "c" %sft {seed = 0 : i64} : !m -> !s
  %ppo:2 = hone.rl ppo %sft, %pr reward %r ref %sft critic %c {batch_size = 4 : i64, steps = 2 : i64, kl_coef = 0.05 : f64, group_size = 1 : i64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 4, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m, !s) -> (!m, !s)
  %grpo = hone.rl grpo %sft, %pr reward %r ref %sft {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
  %drg = hone.rl dr_grpo %sft, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = constant, scale_rewards = false, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  %dapo = hone.rl dapo %sft, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.8e-01, ppo_epochs = 1, mini_batches = 1, aggregation = token_mean, scale_rewards = true, dynamic_sampling = true, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  %rloo = hone.rl rloo %sft, %pr reward %r ref %sft {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.05 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
  %rpp = hone.rl reinforce_pp %sft, %pr reward %r ref %sft {batch_size = 4 : i64, steps = 2 : i64, kl_coef = 0.05 : f64, group_size = 1 : i64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = token_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
  %remax = hone.rl remax %sft, %pr reward %r {batch_size = 4 : i64, steps = 2 : i64, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  %chord = hone.rl grpo hybrid(chord) %sft, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.chord<mu = <shape = warmup_cosine, start = 9.0e-01, end = 5.0e-02, steps = 2, warmup_steps = 0>, token_weighting = true, sft_batch_size = 2>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
  %luffy = hone.rl grpo hybrid(luffy) %sft, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.luffy<off_policy_per_group = 1, shaping_gamma = 1.0e-01>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
  %srft = hone.rl grpo hybrid(srft) %sft, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.srft<sft_coef = 5.0e-01, positive_coef = 1.0e-01>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
  %relift = hone.rl grpo hybrid(relift) %sft, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.relift<buffer_size = 2, sft_steps = 1>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
  %hpt = hone.rl grpo hybrid(hpt) %sft, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.hpt<threshold = 0.0e+00>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
  %uft = hone.rl grpo hybrid(uft) %sft, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 2 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.uft<hint_fraction = <shape = cosine, start = 1.0e+00, end = 0.0e+00, steps = 2, warmup_steps = 0>, sft_coef = 1.0e+00>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
  hone.eval %uft, %pr reward %r {name = "final", settings = #hone.eval_settings<every_steps = 0, max_records = 0, generation = <max_new_tokens = 16, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>} : !m, !hone.dataset<prompt_answer>
}

// CHECK-LABEL: hone.pipeline @all
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask"]{{.+}}kernel = "all_sft_plain_0"
// CHECK: hone.loss.masked_reduce token_mean
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask"]{{.+}}kernel = "all_sft_dft_1"
// CHECK: hone.loss.stop_gradient
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "l_ref"]{{.+}}kernel = "all_sft_iw_2"
// CHECK: hone.loss.clamp %{{.+}} min 0.000000e+00 max 1.600000e+01
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"r_chosen", "r_rejected"]{{.+}}kernel = "all_bradley_terry_3"
// CHECK: hone.loss.log_sigmoid
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l_chosen", "l_rejected", "mask_chosen", "mask_rejected", "l_ref_chosen", "l_ref_rejected"]{{.+}}kernel = "all_dpo_4"
// CHECK: hone.loss.seq_sum %{{.+}} mask
// CHECK: hone.loss.log_sigmoid
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l_chosen", "l_rejected", "mask_chosen", "mask_rejected", "l_ref_chosen", "l_ref_rejected"]{{.+}}kernel = "all_ipo_5"
// CHECK: hone.loss.mul
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "l_mis", "mask", "mask_mis", "l_ref", "l_ref_mis", "label"]{{.+}}kernel = "all_kto_6"
// CHECK: hone.loss.max
// CHECK: hone.loss.sigmoid
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l_chosen", "l_rejected", "mask_chosen", "mask_rejected"]{{.+}}kernel = "all_orpo_7"
// CHECK: hone.loss.seq_mean
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l_chosen", "l_rejected", "mask_chosen", "mask_rejected"]{{.+}}kernel = "all_simpo_8"
// CHECK: hone.loss.seq_mean
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.shape_reward token_kl
// CHECK: hone.advantage gae
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "entropy", "v", "mask", "l_old", "adv", "returns", "v_old"]{{.+}}kernel = "all_ppo_9"
// CHECK: hone.loss.clamp %{{.+}} min -2.000000e-01 max 2.000000e-01
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.advantage group_norm
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "l_old", "adv", "l_ref"]{{.+}}kernel = "all_grpo_10"
// CHECK: hone.loss.kl k3
// CHECK: hone.loss.masked_reduce seq_mean_token_mean
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.advantage group_center
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "l_old", "adv"]{{.+}}kernel = "all_dr_grpo_11"
/// Dr. GRPO normalises by batch x max_new_tokens (4 x 4).
// CHECK: hone.loss.masked_reduce constant %{{.+}}, %{{.+}} normaliser 1.600000e+01
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.group_filter
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "l_old", "adv", "valid"]{{.+}}kernel = "all_dapo_12"
// CHECK: hone.loss.clamp %{{.+}} min 8.000000e-01 max 1.280000e+00
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.shape_reward seq_kl
// CHECK: hone.advantage leave_one_out
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "adv"]{{.+}}kernel = "all_rloo_13"
// CHECK: hone.loss.masked_reduce seq_mean_token_sum
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.shape_reward token_kl
// CHECK: hone.advantage global_norm
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "l_old", "adv"]{{.+}}kernel = "all_reinforce_pp_14"
// CHECK: hone.loss.masked_reduce token_mean
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.generate {{.+}}greedy = true
// CHECK: hone.advantage greedy_baseline
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "adv"]{{.+}}kernel = "all_remax_15"
// CHECK: hone.loss.masked_reduce seq_mean_token_sum
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.schedule warmup_cosine
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "l_demo", "mask", "l_old", "adv", "mask_demo", "mu"]{{.+}}kernel = "all_grpo_chord_16"
// CHECK: hone.loss.sub %{{.+}}, %{{.+}} : tensor<f32>
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.generate {{.+}} demos {{.+}}off_policy = 1
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "l_old", "adv", "off_policy"]{{.+}}kernel = "all_grpo_luffy_17"
// CHECK: hone.loss.select
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.group_accuracy
// CHECK: hone.indicator gt
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "entropy", "l_demo", "entropy_demo", "mask", "l_old", "adv", "mask_demo", "correct"]{{.+}}kernel = "all_grpo_srft_18"
// CHECK: hone.loss.select
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: %[[ACCP:.+]], %{{.+}} = hone.group_accuracy
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "l_old", "adv"]{{.+}}kernel = "all_grpo_relift_19"
// CHECK: hone.loss.yield
// CHECK: %[[HARD:.+]] = hone.indicator le %[[ACCP]], 0.000000e+00
// CHECK: hone.buffer.push %{{.+}}, %{{.+}}, %[[HARD]]
// CHECK: hone.buffer.pop
// CHECK: scf.if
// CHECK: hone.data.fetch
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask"]{{.+}}kernel = "all_relift_sft_20"
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: %[[ACCP:.+]], %[[ACCS:.+]] = hone.group_accuracy
// CHECK: hone.indicator gt %[[ACCS]], 0.000000e+00
// CHECK: hone.indicator le %[[ACCP]], 0.000000e+00
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "l_demo", "mask", "l_old", "adv", "mask_demo", "use_rl", "use_sft"]{{.+}}kernel = "all_grpo_hpt_21"
// CHECK: hone.loss.yield
// CHECK: scf.for
// CHECK: hone.schedule cosine
// CHECK: hone.generate {{.+}} hint
// CHECK: hone.train_step{{.+}}arg_names = {{\[}}"l", "mask", "l_old", "adv", "mask_hint"]{{.+}}kernel = "all_grpo_uft_22"
// CHECK: hone.loss.yield
// CHECK: hone.eval_step
// CHECK-NOT: hone.sft
