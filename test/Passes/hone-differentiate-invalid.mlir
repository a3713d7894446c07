// RUN: hone-opt --allow-unregistered-dialect %s -split-input-file -verify-diagnostics --pass-pipeline="builtin.module(hone.pipeline(hone-expand-stages),hone-differentiate)"

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// an op outside the loss algebra cannot be differentiated

hone.pipeline @p {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  // expected-note@+1 {{in the objective of this train step}}
  %r:2 = hone.train_step (%p) tokens(%t) {readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<2x4xf32>):
    // expected-error@+1 {{cannot differentiate 'test.square'}}
    %y = "test.square"(%l) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %s = hone.loss.sum %y : tensor<2x4xf32> -> tensor<f32>
    hone.loss.yield %s : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// a loss cut off from the model by stop_gradient trains nothing

hone.pipeline @p {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  // expected-error@+1 {{the loss does not depend on any model output}}
  %r:2 = hone.train_step (%p) tokens(%t) {readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<2x4xf32>):
    %y = hone.loss.stop_gradient %l : tensor<2x4xf32>
    %s = hone.loss.sum %y : tensor<2x4xf32> -> tensor<f32>
    hone.loss.yield %s : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// hybrids expand on a group-based algorithm

!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @p {
  %0 = hone.model.init "0" {seed = 0 : i64} : !m
  %pr = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %sd = hone.dataset "d.jsonl" : !hone.dataset<prompt_completion>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{hybrid is expanded on a group-based algorithm}}
  %x = hone.rl remax hybrid(chord) %0, %pr reward %r demos %sd {batch_size = 4 : i64, steps = 2 : i64, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>, guidance = #hone.chord<mu = <shape = warmup_cosine, start = 9.0e-01, end = 5.0e-02, steps = 2, warmup_steps = 0>, token_weighting = true, sft_batch_size = 4>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
}
