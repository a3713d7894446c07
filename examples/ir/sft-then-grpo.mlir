// The stage IR of the most common pipeline: SFT, then GRPO with the SFT model
// as the frozen reference. `honec --compile-to=stage` prints this form for a
// spec; hone-opt runs Hone's passes on it:
//
//   build/bin/hone-opt examples/ir/sft-then-grpo.mlir --hone-stage-pipeline

!model = !hone.model<#hone.arch<llama, vocab = 32, d_model = 128, layers = 4, heads = 4, kv_heads = 2, ffn = 512, max_seq = 64, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

hone.pipeline @sft_then_grpo attributes {
    run = #hone.run<seed = 42, output_dir = "runs/sft_then_grpo",
        tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>", "<eos>"]>, chat_template = no_template, chat_template_kwargs = "{}">,
        hardware = <device = cpu, memory_budget = 1073741824, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>,
        checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %base = hone.model.init "base" {seed = 1} : !model
  %demos = hone.dataset "addition/train.jsonl" : !hone.dataset<prompt_completion>
  %prompts = hone.dataset "addition/prompts.jsonl" {eval_path = "addition/test.jsonl"} : !hone.dataset<prompt_answer>
  %correct = hone.reward.verifier exact_match : !hone.reward
  // Loaded twice by mistake in the spec: CSE keeps one.
  %again = hone.model.init "base" {seed = 1} : !model

  %sft = hone.sft plain %base, %demos {steps = 300, batch_size = 32, loop = #hone.loop<grad_accum = 1, max_length = 64>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!model, !hone.dataset<prompt_completion>) -> !model
  hone.eval %sft, %prompts reward %correct {name = "after_sft", settings = #hone.eval_settings<every_steps = 0, max_records = 0, generation = <max_new_tokens = 16, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>} : !model, !hone.dataset<prompt_answer>
  %rl = hone.rl grpo %sft, %prompts reward %correct ref %sft {steps = 100, batch_size = 64, group_size = 8, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 32, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 32, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!model, !hone.dataset<prompt_answer>, !hone.reward, !model) -> !model
  hone.eval %rl, %prompts reward %correct {name = "after_grpo", settings = #hone.eval_settings<every_steps = 0, max_records = 0, generation = <max_new_tokens = 16, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>} : !model, !hone.dataset<prompt_answer>
  hone.save %rl "final" : !model
  hone.save %again "init" : !model
}
