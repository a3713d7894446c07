// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-estimate-memory))' | FileCheck %s
// RUN: not hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone.pipeline(hone-estimate-memory{budget-bytes=200000}))' -o /dev/null 2>&1 | FileCheck %s --check-prefix=OPTION

// The arch below has vocab 16, d_model 32, 1 layer, ffn 64, max_seq 32, tied:
//   embeddings 16·32 = 512, positions 32·32 = 1024, final LN 64,
//   layer: ln 64 + qkv 3168 + proj 1056 + ln 64 + fc 2112 + proj 2080 = 8544
//   total 10144 parameters → trained 16 B = 162304, frozen 4 B = 40576.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// SFT trains one model; DPO trains the policy and reads a distinct reference;
/// a reference that is the policy itself is resident twice (the scheduler
/// reads it from a frozen snapshot); PPO trains policy
/// and critic and reads the reference and the reward model.
// CHECK-LABEL: hone.pipeline @stages
// CHECK-SAME: hone.peak_state_bytes = 405760 : i64
hone.pipeline @stages {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pref = hone.dataset "p.jsonl" : !hone.dataset<preference>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  // CHECK: hone.sft plain {{.*}}hone.state_bytes = 162304 : i64
  %sft = hone.sft plain %m, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
  // The pass option overrides the config: 202880 bytes is over 200000.
  // OPTION: :[[@LINE+2]]:{{[0-9]+}}: error: stage needs 198.1 KiB of model state (weights, gradients, AdamW moments), over the memory budget of 195.3 KiB
  // CHECK: hone.preference dpo {{.*}}hone.state_bytes = 202880 : i64
  %dpo = hone.preference dpo %sft, %pref ref %m {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>, !m) -> !m
  // CHECK: hone.preference dpo {{.*}}hone.state_bytes = 202880 : i64
  %dpo2 = hone.preference dpo %sft, %pref ref %sft {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 0.1, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>} : (!m, !hone.dataset<preference>, !m) -> !m
  %rm = hone.reward_model %sft, %pref {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.reward_model_settings<center_rewards = 0.0e+00>} : (!m, !hone.dataset<preference>) -> !s
  %r = hone.reward.model %rm : !s
  %c = hone.model.new_head "c" %sft {seed = 0 : i64} : !m -> !s
  // CHECK: hone.rl ppo {{.*}}hone.state_bytes = 405760 : i64
  %p:2 = hone.rl ppo %sft, %pa reward %r ref %m critic %c {steps = 1, batch_size = 8, kl_coef = 0.1 : f64, group_size = 1 : i64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 4, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m, !s) -> (!m, !s)
  // CHECK: hone.eval {{.*}}hone.state_bytes = 40576 : i64
  hone.eval %p#0, %pa {settings = #hone.eval_settings<every_steps = 0, max_records = 0, generation = <max_new_tokens = 16, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>} : !m, !hone.dataset<prompt_answer>
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Over budget: an error that names the figure and the budget, at the stage.
/// The budget can also come from the pipeline's run settings.
hone.pipeline @over attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 100000, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 3.0e+02>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.0e-01, max_skipped_in_a_row = 20, dir = "">>} {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  // expected-error@+2 {{stage needs 158.5 KiB of model state (weights, gradients, AdamW moments), over the memory budget of 97.7 KiB (m 158.5 KiB trained)}}
  // expected-note@+1 {{hint: raise hardware.memory_budget}}
  %sft = hone.sft plain %m, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
}

// -----

// 2^62 layers: #hone.arch's verifier refuses the size (the bound of
// dialect/SettingRanges.def that the spec checker applies too) before any
// pass could overflow on it; the estimate's sums still saturate.
// expected-error@+1 {{#hone.arch: layers = 4611686018427387904 is more than 4096, the largest layers Hone accepts (dialect/SettingRanges.def)}}
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 4611686018427387904, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

// -----

// LoRA: a stage trains the adapters only (16 B each), the base is read once
// (4 B per parameter), also when it is the reference. The llama arch below
// has 512 + 32 + 10304 = 10848 parameters (frozen: 43392 B); rank-4
// adapters on q_proj and v_proj hold 4 * ((32 + 32) + (32 + 32)) = 512
// (trained: 8192 B). Full fine-tuning would need 16 * 10848 = 173568 B.
!l = !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
// CHECK-LABEL: hone.pipeline @lora
// CHECK-SAME: hone.peak_state_bytes = 51584 : i64
hone.pipeline @lora {
  %m = hone.model.init "m" {seed = 0 : i64} : !l
  %a = hone.model.lora "m" %m {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj", "v_proj"], merge_on_save = false>, seed = 1} : !l -> !l
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %pa = hone.dataset "pa.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // CHECK: hone.sft plain {{.*}}hone.state_bytes = 51584 : i64
  %sft = hone.sft plain %a, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!l, !hone.dataset<prompt_completion>) -> !l
  /// The SFT stage's adapters train on; the reference is the frozen base.
  // CHECK: hone.rl grpo {{.*}}hone.state_bytes = 51584 : i64
  %g = hone.rl grpo %sft, %pa reward %r ref %m {steps = 1, batch_size = 8, group_size = 4, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 16, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 16, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!l, !hone.dataset<prompt_answer>, !hone.reward, !l) -> !l
}

// -----

// frozen_precision bf16: a loaded LoRA base is kept in bf16 (2 B per
// parameter: 2 * 10848 = 21696 B) beside the adapters' 8192 B.
!l = !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
// CHECK-LABEL: hone.pipeline @lora_bf16_base
// CHECK-SAME: hone.peak_state_bytes = 29888 : i64
hone.pipeline @lora_bf16_base attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = bf16, threads = 0, collective_timeout_s = 3.0e+02>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.0e-01, max_skipped_in_a_row = 20, dir = "">>} {
  %m = hone.model.load "m" from "m_dir" : !l
  %a = hone.model.lora "m" %m {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj", "v_proj"], merge_on_save = false>, seed = 1} : !l -> !l
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  // CHECK: hone.sft plain {{.*}}hone.state_bytes = 29888 : i64
  %sft = hone.sft plain %a, %pc {steps = 1, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!l, !hone.dataset<prompt_completion>) -> !l
}
