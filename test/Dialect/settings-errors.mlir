// RUN: hone-opt --allow-unregistered-dialect %s -split-input-file -verify-diagnostics

/// Each typed settings attribute rejects what no spec can mean, a missing
/// parameter (no defaults below the frontend) and a wrong type.

// expected-error@+1 {{#hone.optimizer: lr = -0.001 must be positive}}
"test.a"() {s = #hone.optimizer<lr = -1.0e-3, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8, weight_decay = 0.0, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0, max_grad_norm = 1.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.optimizer: beta2 = 1 must be in [0, 1)}}
"test.a"() {s = #hone.optimizer<lr = 1.0e-3, beta1 = 0.9, beta2 = 1.0, eps = 1.0e-8, weight_decay = 0.0, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0, max_grad_norm = 1.0>} : () -> ()

// -----

// A missing parameter: there is no default to fall back on.
// expected-error@+1 {{expected ','}}
"test.a"() {s = #hone.optimizer<lr = 1.0e-3, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8, weight_decay = 0.0, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0>} : () -> ()

// -----

// A string where a number belongs (lr = "fast").
// expected-error@+2 {{expected floating point literal}}
// expected-error@+1 {{failed to parse Hone_OptimizerAttr parameter 'lr' which is to be a `::llvm::APFloat`}}
"test.a"() {s = #hone.optimizer<lr = "fast", beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8, weight_decay = 0.0, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0, max_grad_norm = 1.0>} : () -> ()

// -----

// expected-error@+2 {{expected ::mlir::hone::LrSchedule to be one of: constant_lr, linear_decay, cosine_decay}}
// expected-error@+1 {{failed to parse Hone_OptimizerAttr parameter 'schedule'}}
"test.a"() {s = #hone.optimizer<lr = 1.0e-3, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8, weight_decay = 0.0, schedule = cosine, warmup_steps = 0, min_lr_ratio = 0.0, max_grad_norm = 1.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.generation: top_p = 1.5 must be in (0, 1]}}
"test.g"() {s = #hone.generation<max_new_tokens = 8, temperature = 1.0, top_k = 0, top_p = 1.5, stop = []>} : () -> ()

// -----

// expected-error@+1 {{#hone.generation: max_new_tokens = 0 must be positive}}
"test.g"() {s = #hone.generation<max_new_tokens = 0, temperature = 1.0, top_k = 0, top_p = 1.0, stop = []>} : () -> ()

// -----

// A size past its count limit (dialect/SettingRanges.def HONE_COUNT_LIMIT),
// which the spec checker applies to the same field.
// expected-error@+1 {{#hone.generation: max_new_tokens = 2097152 is more than 1048576, the largest max_new_tokens Hone accepts (dialect/SettingRanges.def)}}
"test.g"() {s = #hone.generation<max_new_tokens = 2097152, temperature = 1.0, top_k = 0, top_p = 1.0, stop = []>} : () -> ()

// -----

// expected-error@+1 {{#hone.arch: layers = 1000000000000 is more than 4096, the largest layers Hone accepts (dialect/SettingRanges.def)}}
"test.a"() {s = #hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1000000000000, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>} : () -> ()

// -----

// expected-error@+1 {{#hone.generation: stop must be an array of non-empty strings}}
"test.g"() {s = #hone.generation<max_new_tokens = 8, temperature = 1.0, top_k = 0, top_p = 1.0, stop = [""]>} : () -> ()

// -----

// expected-error@+1 {{#hone.loop: grad_accum = 0 must be positive}}
"test.l"() {s = #hone.loop<grad_accum = 0, max_length = 8>} : () -> ()

// -----

// expected-error@+1 {{#hone.schedule: warmup_steps = -1 must not be negative}}
"test.s"() {s = #hone.schedule<shape = cosine, start = 1.0, end = 0.0, steps = 10, warmup_steps = -1>} : () -> ()

// -----

// expected-error@+1 {{#hone.sft_settings: iw_clip = 0 must be positive}}
"test.s"() {s = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 0.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.reward_model_settings: center_rewards = -1 must not be negative}}
"test.s"() {s = #hone.reward_model_settings<center_rewards = -1.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.preference_settings: label_smoothing = 0.5 must be in [0, 0.5)}}
"test.p"() {s = #hone.preference_settings<beta = 0.1, label_smoothing = 0.5, desirable_weight = 1.0, undesirable_weight = 1.0, simpo_gamma = 0.5, precompute_ref_log_probs = true>} : () -> ()

// -----

// expected-error@+1 {{#hone.rl_settings: lam = 1.5 must be in [0, 1]}}
"test.r"() {s = #hone.rl_settings<grad_accum = 1, max_prompt_length = 64, kl_estimator = k3, kl_placement = in_loss, epsilon = 0.2, epsilon_high = 0.2, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0, lam = 1.5, value_clip = 0.2, vf_coef = 0.1, entropy_coef = 0.0, staleness = 0>} : () -> ()

// -----

// expected-error@+1 {{#hone.rl_settings: mini_batches = 0 must be positive}}
"test.r"() {s = #hone.rl_settings<grad_accum = 1, max_prompt_length = 64, kl_estimator = k3, kl_placement = in_loss, epsilon = 0.2, epsilon_high = 0.2, ppo_epochs = 1, mini_batches = 0, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0, lam = 0.95, value_clip = 0.2, vf_coef = 0.1, entropy_coef = 0.0, staleness = 0>} : () -> ()

// -----

// expected-error@+1 {{#hone.chord: mu.start = 1.5 must be in [0, 1]}}
"test.c"() {s = #hone.chord<mu = <shape = constant, start = 1.5, end = 0.0, steps = 10, warmup_steps = 0>, token_weighting = true, sft_batch_size = 4>} : () -> ()

// -----

// expected-error@+1 {{#hone.srft: positive_coef = -0.1 must not be negative}}
"test.c"() {s = #hone.srft<sft_coef = 0.5, positive_coef = -0.1>} : () -> ()

// -----

// expected-error@+1 {{#hone.luffy: shaping_gamma = 0 must be positive}}
"test.c"() {s = #hone.luffy<off_policy_per_group = 1, shaping_gamma = 0.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.relift: sft_steps = 0 must be positive}}
"test.c"() {s = #hone.relift<buffer_size = 4, sft_steps = 0>} : () -> ()

// -----

// expected-error@+1 {{#hone.hpt: threshold = 1 must be in [0, 1)}}
"test.c"() {s = #hone.hpt<threshold = 1.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.uft: hint_fraction.end = -1 must be in [0, 1]}}
"test.c"() {s = #hone.uft<hint_fraction = <shape = cosine, start = 1.0, end = -1.0, steps = 10, warmup_steps = 0>, sft_coef = 1.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.eval_settings: max_records = -1 must not be negative}}
"test.e"() {s = #hone.eval_settings<every_steps = 0, max_records = -1, generation = <max_new_tokens = 8, temperature = 0.0, top_k = 0, top_p = 1.0, stop = []>>} : () -> ()

// -----

// expected-error@+1 {{#hone.tokenizer: give exactly one of chars and file}}
"test.a"() {s = #hone.tokenizer<chat_template = chatml, chat_template_kwargs = "{}">} : () -> ()

// -----

// expected-error@+1 {{#hone.tokenizer: give exactly one of chars and file}}
"test.a"() {s = #hone.tokenizer<chars = <alphabet = "ab", special = []>, file = "/t.json", chat_template = chatml, chat_template_kwargs = "{}">} : () -> ()

// -----

// expected-error@+1 {{#hone.tokenizer: chat_template from_model needs a tokenizer file}}
"test.a"() {s = #hone.tokenizer<chars = <alphabet = "ab", special = []>, chat_template = from_model, chat_template_kwargs = "{}">} : () -> ()

// -----

// expected-error@+1 {{#hone.tokenizer: chat_template_kwargs is not JSON}}
"test.a"() {s = #hone.tokenizer<file = "/t.json", chat_template = from_model, chat_template_kwargs = "{oops">} : () -> ()

// -----

// expected-error@+1 {{#hone.tokenizer: chat_template_kwargs must be a JSON object}}
"test.a"() {s = #hone.tokenizer<file = "/t.json", chat_template = from_model, chat_template_kwargs = "[1]">} : () -> ()

// -----

// expected-error@+1 {{#hone.tokenizer: chat_template_kwargs are variables of the model's own template; they need chat_template = from_model}}
"test.a"() {s = #hone.tokenizer<file = "/t.json", chat_template = chatml, chat_template_kwargs = "{\22a\22: 1}">} : () -> ()

// -----

// expected-error@+1 {{#hone.hardware: frozen_precision must be fp32 or bf16}}
"test.a"() {s = #hone.hardware<device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = bf16, frozen_precision = auto_precision, threads = 0, collective_timeout_s = 300.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.char_vocab: alphabet must not be empty}}
"test.a"() {s = #hone.char_vocab<alphabet = "", special = []>} : () -> ()

// -----

// expected-error@+2 {{expected ::mlir::hone::ChatTemplate to be one of: no_template, chatml, llama3, from_model}}
// expected-error@+1 {{failed to parse Hone_TokenizerAttr parameter 'chat_template'}}
"test.a"() {s = #hone.tokenizer<file = "/t.json", chat_template = zephyr, chat_template_kwargs = "{}">} : () -> ()

// -----

// expected-error@+1 {{#hone.hardware: threads = 100000 must be in [0, 1024]}}
"test.a"() {s = #hone.hardware<device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = fp32, threads = 100000, collective_timeout_s = 300.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.hardware: ranks = 0 must be positive}}
"test.a"() {s = #hone.hardware<device = cpu, memory_budget = 0, ranks = 0, rollout_staleness = 0, precision = fp32, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.hardware: memory_budget = -1 must not be negative}}
"test.a"() {s = #hone.hardware<device = cpu, memory_budget = -1, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>} : () -> ()

// -----

// expected-error@+1 {{#hone.checkpointing: max_skipped_fraction = 1.5 must be in [0, 1]}}
"test.a"() {s = #hone.checkpointing<every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.5, max_skipped_in_a_row = 20, dir = "">} : () -> ()

// -----

// A missing parameter (no seed): there is no default to fall back on.
// expected-error@+1 {{expected ','}}
"test.a"() {s = #hone.run<output_dir = "runs/x", tokenizer = <file = "/t.json", chat_template = chatml, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} : () -> ()

// -----

/// LoRA: a rank of at least 1, dropout in [0, 1), known
/// and distinct target modules.
// expected-error@+1 {{#hone.lora: rank = 0 must be positive}}
"test.lora"() {s = #hone.lora<rank = 0, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj"], merge_on_save = false>} : () -> ()

// -----

// expected-error@+1 {{#hone.lora: dropout = 1 must be in [0, 1) (use 0 (no dropout) or PEFT's usual 0.05)}}
"test.lora"() {s = #hone.lora<rank = 8, alpha = 8.0, dropout = 1.0, target_modules = ["q_proj"], merge_on_save = false>} : () -> ()

// -----

// expected-error@+1 {{#hone.lora: unknown target module "c_attn"}}
"test.lora"() {s = #hone.lora<rank = 8, alpha = 8.0, dropout = 0.0, target_modules = ["c_attn"], merge_on_save = false>} : () -> ()

// -----

// expected-error@+1 {{#hone.lora: target module "v_proj" is named twice}}
"test.lora"() {s = #hone.lora<rank = 8, alpha = 8.0, dropout = 0.0, target_modules = ["v_proj", "v_proj"], merge_on_save = false>} : () -> ()

// -----

// #hone.arch has no defaults either: the frontend writes every parameter.
// expected-error@+1 {{expected ','}}
"test.a"() {s = #hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 2, ffn = 64, max_seq = 32>} : () -> ()

// -----

// A cross-field rule (dialect/SettingRanges.h), the spec checker's too.
// expected-error@+1 {{#hone.rl_settings: 'epsilon_high' (0.1) is below 'epsilon' (0.2)}}
"test.r"() {s = #hone.rl_settings<grad_accum = 1, max_prompt_length = 64, kl_estimator = k3, kl_placement = in_loss, epsilon = 0.2, epsilon_high = 0.1, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0, lam = 0.95, value_clip = 0.2, vf_coef = 0.1, entropy_coef = 0.0, staleness = 0>} : () -> ()

// -----

// Every ranged value must be finite (dialect/SettingRanges.def).
// expected-error@+1 {{#hone.optimizer: max_grad_norm = inf must be finite}}
"test.a"() {s = #hone.optimizer<lr = 1.0e-3, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-8, weight_decay = 0.0, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0, max_grad_norm = 0x7FF0000000000000>} : () -> ()
