// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages,hone-precompute-reference))' | FileCheck %s
// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages,hone-precompute-reference{enabled=false}))' | FileCheck %s --check-prefix=OFF

#arch = #hone.arch<llama, vocab = 16, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 176, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>
!model = !hone.model<#arch>

/// DPO (9 steps of 4 pairs over 12 records): the reference's two reads in
/// the loop become one table before it, read by the batch's record ids;
/// the objective sums the policy's log-probs under the mask and subtracts
/// the table's sums. Without the pass (OFF) the reads stay.
// CHECK-LABEL: hone.pipeline @dpo
// CHECK: %[[T:.+]] = hone.reference_table %policy, %0 {hone.loop_rows = 72 : i64, hone.models = ["policy"], max_length = 16 : i64, rows = 4 : i64} : !model, !hone.dataset<preference> -> tensor<12x2xf32>
// CHECK: scf.for
// CHECK: %[[D:.+]]:5 = hone.data.next pairs
// CHECK-NEXT: %[[C:.+]], %[[R:.+]] = hone.reference_rows %[[T]][%[[D]]#4] : tensor<12x2xf32>, tensor<4xi64> -> tensor<4xf32>, tensor<4xf32>
// CHECK-NOT: hone.logprob
// CHECK: hone.train_step({{.*}}) tokens(%[[D]]#0, %[[D]]#2) inputs(%[[D]]#1, %[[D]]#3, %[[C]], %[[R]])
// CHECK-SAME: arg_names = ["l_chosen", "l_rejected", "mask_chosen", "mask_rejected", "l_ref_chosen_sum", "l_ref_rejected_sum"]
// CHECK: ^bb0(%[[LC:.+]]: tensor<4x16xf32>, %[[LR:.+]]: tensor<4x16xf32>, %[[MC:.+]]: tensor<4x16xf32>, %[[MR:.+]]: tensor<4x16xf32>, %[[SC:.+]]: tensor<4xf32>, %[[SR:.+]]: tensor<4xf32>):
// CHECK-NEXT: %[[A:.+]] = hone.loss.seq_sum %[[LC]] mask %[[MC]]
// CHECK-NEXT: %[[DW:.+]] = hone.loss.sub %[[A]], %[[SC]] : tensor<4xf32>
// CHECK-NEXT: %[[B:.+]] = hone.loss.seq_sum %[[LR]] mask %[[MR]]
// CHECK-NEXT: %[[DL:.+]] = hone.loss.sub %[[B]], %[[SR]] : tensor<4xf32>
// CHECK-NEXT: hone.loss.sub %[[DW]], %[[DL]]
// OFF-LABEL: hone.pipeline @dpo
// OFF-NOT: hone.reference_table
// OFF: hone.logprob %policy
// OFF: hone.logprob %policy
  hone.pipeline @dpo attributes {run = #hone.run<seed = 1, output_dir = "runs/dpo", tokenizer = <chars = <alphabet = "0123456789+= ", special = ["<pad>", "<bos>", "<eos>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 3.0e+02>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.0e-01, max_skipped_in_a_row = 20, dir = "">>} {
    %policy = hone.model.init "policy" {seed = 2 : i64} : !model
    %0 = hone.dataset "pairs.jsonl" {hone.held_bytes = 13488 : i64, hone.pair_lengths = array<i64: 9, 7, 10, 17>, name = "pairs", settings = #hone.dataset_settings<columns = <text = "text", messages = "messages", role = "role", content = "content", prompt = "prompt", completion = "completion", chosen = "chosen", rejected = "rejected", label = "label", answer = "answer", role_names = {}>, eval_fraction = 0.0e+00, shuffle = true, shuffle_seed = 1, max_records = 0>, sha256 = "64d430cb47d102210e854cfb14fc69f69cb5a9f5d98445d3109b89e57f933ea8"} : !hone.dataset<preference>
    // expected-remark @below {{hone-precompute-reference: the reference's log-prob sums of 12 pairs computed once before the stage (4 pairs a forward), read by record id in each of 9 steps instead of a reference forward over 8 rows a step: 0.134 -> 0.045 GFLOP of reference forwards per rank; the reference's weights are not resident while training}}
    %1 = hone.preference dpo %policy, %0 ref %policy {batch_size = 4 : i64, hone.output = "policy", loop = #hone.loop<grad_accum = 1, max_length = 16>, optimizer = #hone.optimizer<lr = 5.0e-04, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = linear_decay, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 1.0e-01, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>, steps = 9 : i64} : (!model, !hone.dataset<preference>, !model) -> !model
    hone.save %1 "final" : !model
  }

// -----

#arch = #hone.arch<llama, vocab = 16, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 176, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>
!model = !hone.model<#arch>

/// IPO reads the reference the same way.
// CHECK-LABEL: hone.pipeline @ipo
// CHECK: hone.reference_table
// CHECK-NOT: hone.logprob
// CHECK: hone.reference_rows
// OFF-LABEL: hone.pipeline @ipo
// OFF: hone.logprob
  hone.pipeline @ipo attributes {run = #hone.run<seed = 1, output_dir = "runs/dpo", tokenizer = <chars = <alphabet = "0123456789+= ", special = ["<pad>", "<bos>", "<eos>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 3.0e+02>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.0e-01, max_skipped_in_a_row = 20, dir = "">>} {
    %policy = hone.model.init "policy" {seed = 2 : i64} : !model
    %0 = hone.dataset "pairs.jsonl" {hone.held_bytes = 13488 : i64, hone.pair_lengths = array<i64: 9, 7, 10, 17>, name = "pairs", settings = #hone.dataset_settings<columns = <text = "text", messages = "messages", role = "role", content = "content", prompt = "prompt", completion = "completion", chosen = "chosen", rejected = "rejected", label = "label", answer = "answer", role_names = {}>, eval_fraction = 0.0e+00, shuffle = true, shuffle_seed = 1, max_records = 0>, sha256 = "64d430cb47d102210e854cfb14fc69f69cb5a9f5d98445d3109b89e57f933ea8"} : !hone.dataset<preference>
    // expected-remark @below {{hone-precompute-reference: the reference's log-prob sums of 12 pairs}}
    %1 = hone.preference ipo %policy, %0 ref %policy {batch_size = 4 : i64, hone.output = "policy", loop = #hone.loop<grad_accum = 1, max_length = 16>, optimizer = #hone.optimizer<lr = 5.0e-04, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = linear_decay, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 1.0e-01, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>, steps = 9 : i64} : (!model, !hone.dataset<preference>, !model) -> !model
    hone.save %1 "final" : !model
  }

// -----

#arch = #hone.arch<llama, vocab = 16, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 176, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>
!model = !hone.model<#arch>

/// Records unknown at compile time (no hone.pair_lengths: --no-file-checks):
/// not applied, with a remark.
// CHECK-LABEL: hone.pipeline @unknown
// CHECK-NOT: hone.reference_table
// CHECK: hone.logprob
  hone.pipeline @unknown attributes {run = #hone.run<seed = 1, output_dir = "runs/dpo", tokenizer = <chars = <alphabet = "0123456789+= ", special = ["<pad>", "<bos>", "<eos>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 3.0e+02>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.0e-01, max_skipped_in_a_row = 20, dir = "">>} {
    %policy = hone.model.init "policy" {seed = 2 : i64} : !model
    %0 = hone.dataset "pairs.jsonl" {hone.held_bytes = 13488 : i64, name = "pairs", settings = #hone.dataset_settings<columns = <text = "text", messages = "messages", role = "role", content = "content", prompt = "prompt", completion = "completion", chosen = "chosen", rejected = "rejected", label = "label", answer = "answer", role_names = {}>, eval_fraction = 0.0e+00, shuffle = true, shuffle_seed = 1, max_records = 0>, sha256 = "64d430cb47d102210e854cfb14fc69f69cb5a9f5d98445d3109b89e57f933ea8"} : !hone.dataset<preference>
    // expected-remark @below {{hone-precompute-reference: not applied: the dataset's records are not known at compile time}}
    %1 = hone.preference dpo %policy, %0 ref %policy {batch_size = 4 : i64, hone.output = "policy", loop = #hone.loop<grad_accum = 1, max_length = 16>, optimizer = #hone.optimizer<lr = 5.0e-04, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = linear_decay, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 1.0e-01, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>, steps = 9 : i64} : (!model, !hone.dataset<preference>, !model) -> !model
    hone.save %1 "final" : !model
  }

// -----

#arch = #hone.arch<llama, vocab = 16, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 176, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>
!model = !hone.model<#arch>

/// One step of 4 pairs against 12 records (the table would cost more) and
/// the reference read after the stage (its weights stay resident anyway):
/// not applied, with a remark.
// CHECK-LABEL: hone.pipeline @later
// CHECK-NOT: hone.reference_table
// CHECK: hone.logprob
  hone.pipeline @later attributes {run = #hone.run<seed = 1, output_dir = "runs/dpo", tokenizer = <chars = <alphabet = "0123456789+= ", special = ["<pad>", "<bos>", "<eos>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 3.0e+02>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.0e-01, max_skipped_in_a_row = 20, dir = "">>} {
    %policy = hone.model.init "policy" {seed = 2 : i64} : !model
    %0 = hone.dataset "pairs.jsonl" {hone.held_bytes = 13488 : i64, hone.pair_lengths = array<i64: 9, 7, 10, 17>, name = "pairs", settings = #hone.dataset_settings<columns = <text = "text", messages = "messages", role = "role", content = "content", prompt = "prompt", completion = "completion", chosen = "chosen", rejected = "rejected", label = "label", answer = "answer", role_names = {}>, eval_fraction = 0.0e+00, shuffle = true, shuffle_seed = 1, max_records = 0>, sha256 = "64d430cb47d102210e854cfb14fc69f69cb5a9f5d98445d3109b89e57f933ea8"} : !hone.dataset<preference>
    // expected-remark @below {{hone-precompute-reference: not applied: the table would read 12 pairs against the loop's 4 (1 steps of 4) and the reference is read after the stage}}
    %1 = hone.preference dpo %policy, %0 ref %policy {batch_size = 4 : i64, hone.output = "policy", loop = #hone.loop<grad_accum = 1, max_length = 16>, optimizer = #hone.optimizer<lr = 5.0e-04, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = linear_decay, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 1.0e-01, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>, steps = 1 : i64} : (!model, !hone.dataset<preference>, !model) -> !model
    hone.save %1 "final" : !model
    hone.save %policy "start" : !model
  }

// -----

#arch = #hone.arch<llama, vocab = 16, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 176, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>
!model = !hone.model<#arch>

/// One step of 4 pairs against 12 records, the reference read nowhere
/// after the stage: applied for the peak (the reference's weights need not
/// be resident while training), though its FLOPs rise.
// CHECK-LABEL: hone.pipeline @peak
// CHECK: hone.reference_table
  hone.pipeline @peak attributes {run = #hone.run<seed = 1, output_dir = "runs/dpo", tokenizer = <chars = <alphabet = "0123456789+= ", special = ["<pad>", "<bos>", "<eos>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = auto_device, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 3.0e+02>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 1.0e-01, max_skipped_in_a_row = 20, dir = "">>} {
    %policy = hone.model.init "policy" {seed = 2 : i64} : !model
    %0 = hone.dataset "pairs.jsonl" {hone.held_bytes = 13488 : i64, hone.pair_lengths = array<i64: 9, 7, 10, 17>, name = "pairs", settings = #hone.dataset_settings<columns = <text = "text", messages = "messages", role = "role", content = "content", prompt = "prompt", completion = "completion", chosen = "chosen", rejected = "rejected", label = "label", answer = "answer", role_names = {}>, eval_fraction = 0.0e+00, shuffle = true, shuffle_seed = 1, max_records = 0>, sha256 = "64d430cb47d102210e854cfb14fc69f69cb5a9f5d98445d3109b89e57f933ea8"} : !hone.dataset<preference>
    // expected-remark @below {{0.015 -> 0.045 GFLOP of reference forwards per rank; the reference's weights are not resident while training}}
    %1 = hone.preference dpo %policy, %0 ref %policy {batch_size = 4 : i64, hone.output = "policy", loop = #hone.loop<grad_accum = 1, max_length = 16>, optimizer = #hone.optimizer<lr = 5.0e-04, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = linear_decay, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.preference_settings<beta = 1.0e-01, label_smoothing = 0.0e+00, desirable_weight = 1.0e+00, undesirable_weight = 1.0e+00, simpo_gamma = 5.0e-01, precompute_ref_log_probs = true>, steps = 1 : i64} : (!model, !hone.dataset<preference>, !model) -> !model
    hone.save %1 "final" : !model
  }
