// RUN: hone-opt --allow-unregistered-dialect %s | FileCheck %s
// RUN: hone-opt --allow-unregistered-dialect %s | hone-opt --allow-unregistered-dialect | FileCheck %s
// RUN: hone-opt --allow-unregistered-dialect --mlir-print-op-generic %s | hone-opt --allow-unregistered-dialect | FileCheck %s

/// Every typed settings attribute (dialect/HoneSettings.td) round-trips with
/// all its parameters, in the custom and the generic form.

// CHECK: "test.optimizer"() {s = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 1.0e-02, schedule = cosine_decay, warmup_steps = 10, min_lr_ratio = 1.0e-01, max_grad_norm = 0.0e+00>}
"test.optimizer"() {s = #hone.optimizer<lr = 1.0e-3, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8, weight_decay = 0.01, schedule = cosine_decay, warmup_steps = 10, min_lr_ratio = 0.1, max_grad_norm = 0.0>} : () -> ()
// CHECK: "test.generation"() {s = #hone.generation<max_new_tokens = 32, temperature = 7.0e-01, top_k = 50, top_p = 9.5e-01, stop = ["\0A\0A", "</answer>"]>}
"test.generation"() {s = #hone.generation<max_new_tokens = 32, temperature = 0.7, top_k = 50, top_p = 0.95, stop = ["\n\n", "</answer>"]>} : () -> ()
// CHECK: "test.loop"() {s = #hone.loop<grad_accum = 4, max_length = 512>}
"test.loop"() {s = #hone.loop<grad_accum = 4, max_length = 512>} : () -> ()
// CHECK: "test.schedule"() {s = #hone.schedule<shape = warmup_cosine, start = 9.0e-01, end = 5.0e-02, steps = 100, warmup_steps = 10>}
"test.schedule"() {s = #hone.schedule<shape = warmup_cosine, start = 0.9, end = 0.05, steps = 100, warmup_steps = 10>} : () -> ()
// CHECK: "test.sft"() {s = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>}
"test.sft"() {s = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 16.0>} : () -> ()
// CHECK: "test.rm"() {s = #hone.reward_model_settings<center_rewards = 1.0e-02>}
"test.rm"() {s = #hone.reward_model_settings<center_rewards = 0.01>} : () -> ()
// CHECK: "test.pref"() {s = #hone.preference_settings<beta = 2.0e+00, label_smoothing = 1.0e-01, desirable_weight = 1.0e+00, undesirable_weight = 1.5e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>}
"test.pref"() {s = #hone.preference_settings<beta = 2.0, label_smoothing = 0.1, desirable_weight = 1.0, undesirable_weight = 1.5, simpo_gamma = 0.5, precompute_ref_log_probs = true>} : () -> ()
// CHECK: "test.rl"() {s = #hone.rl_settings<grad_accum = 1, max_prompt_length = 64, kl_estimator = k2, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.8e-01, ppo_epochs = 4, mini_batches = 2, aggregation = constant, scale_rewards = false, dynamic_sampling = true, max_resample_rounds = 3, mask_truncated = true, gamma = 9.9e-01, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 1.0e-03, staleness = 0>}
"test.rl"() {s = #hone.rl_settings<grad_accum = 1, max_prompt_length = 64, kl_estimator = k2, kl_placement = in_reward, epsilon = 0.2, epsilon_high = 0.28, ppo_epochs = 4, mini_batches = 2, aggregation = constant, scale_rewards = false, dynamic_sampling = true, max_resample_rounds = 3, mask_truncated = true, gamma = 0.99, lam = 0.95, value_clip = 0.2, vf_coef = 0.1, entropy_coef = 0.001, staleness = 0>} : () -> ()
// CHECK: "test.chord"() {s = #hone.chord<mu = <shape = warmup_cosine, start = 9.0e-01, end = 5.0e-02, steps = 10, warmup_steps = 1>, token_weighting = true, sft_batch_size = 4>}
"test.chord"() {s = #hone.chord<mu = <shape = warmup_cosine, start = 0.9, end = 0.05, steps = 10, warmup_steps = 1>, token_weighting = true, sft_batch_size = 4>} : () -> ()
// CHECK: "test.srft"() {s = #hone.srft<sft_coef = 5.0e-01, positive_coef = 1.0e-01>}
"test.srft"() {s = #hone.srft<sft_coef = 0.5, positive_coef = 0.1>} : () -> ()
// CHECK: "test.luffy"() {s = #hone.luffy<off_policy_per_group = 1, shaping_gamma = 1.0e-01>}
"test.luffy"() {s = #hone.luffy<off_policy_per_group = 1, shaping_gamma = 0.1>} : () -> ()
// CHECK: "test.relift"() {s = #hone.relift<buffer_size = 8, sft_steps = 2>}
"test.relift"() {s = #hone.relift<buffer_size = 8, sft_steps = 2>} : () -> ()
// CHECK: "test.hpt"() {s = #hone.hpt<threshold = 2.5e-01>}
"test.hpt"() {s = #hone.hpt<threshold = 0.25>} : () -> ()
// CHECK: "test.uft"() {s = #hone.uft<hint_fraction = <shape = cosine, start = 1.0e+00, end = 0.0e+00, steps = 10, warmup_steps = 0>, sft_coef = 1.0e+00>}
"test.uft"() {s = #hone.uft<hint_fraction = <shape = cosine, start = 1.0, end = 0.0, steps = 10, warmup_steps = 0>, sft_coef = 1.0>} : () -> ()
// CHECK: "test.eval"() {s = #hone.eval_settings<every_steps = 10, max_records = 100, generation = <max_new_tokens = 8, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>}
"test.eval"() {s = #hone.eval_settings<every_steps = 10, max_records = 100, generation = <max_new_tokens = 8, temperature = 0.0, top_k = 0, top_p = 1.0, stop = []>>} : () -> ()

/// The pipeline's run settings: a character or a file tokenizer.
// CHECK: "test.run"() {s = #hone.run<seed = 42, output_dir = "runs/arith", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>", "<eos>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 3.0e+02>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.0e-01, max_skipped_in_a_row = 20, dir = "">>}
"test.run"() {s = #hone.run<seed = 42, output_dir = "runs/arith", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>", "<eos>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} : () -> ()
// CHECK: "test.tokenizer"() {s = #hone.tokenizer<file = "/m/tokenizer.json", chat_template = llama3, chat_template_kwargs = "{}">}
"test.tokenizer"() {s = #hone.tokenizer<file = "/m/tokenizer.json", chat_template = llama3, chat_template_kwargs = "{}">} : () -> ()
// CHECK: "test.hardware"() {s = #hone.hardware<device = cuda, memory_budget = 4294967296, ranks = 4, rollout_staleness = 1, precision = bf16, frozen_precision = bf16, threads = 8, collective_timeout_s = 6.0e+01>}
"test.hardware"() {s = #hone.hardware<device = cuda, memory_budget = 4294967296, ranks = 4, rollout_staleness = 1, precision = bf16, frozen_precision = bf16, threads = 8, collective_timeout_s = 60.0>} : () -> ()
// CHECK: "test.checkpointing"() {s = #hone.checkpointing<every_steps = 5, keep_last = 0, on_nan = abort, max_skipped_fraction = 0.0e+00, max_skipped_in_a_row = 0, dir = "ckpt">}
"test.checkpointing"() {s = #hone.checkpointing<every_steps = 5, keep_last = 0, on_nan = abort, max_skipped_fraction = 0.0, max_skipped_in_a_row = 0, dir = "ckpt">} : () -> ()
