// RUN: hone-opt %s -split-input-file -verify-diagnostics --convert-hone-to-runtime

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A stage-level op (hone-step-pipeline not run) is an error at the op.
hone.pipeline @stage_level attributes {hone.arena_bytes = 0 : i64} {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_completion>
  // expected-error@+1 {{'hone.sft' op cannot be lowered to runtime calls yet}}
  %s = hone.sft plain %m, %d {steps = 2, batch_size = 2, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
}

// -----

/// Loss algebra outside a train step has no lowering yet.
hone.pipeline @loss_outside attributes {hone.arena_bytes = 64 : i64} {
  // expected-error@+1 {{'hone.loss.const' op cannot be lowered to runtime calls yet}}
  %c = hone.loss.const 1.0 : tensor<2xf32>
}

// -----

/// Without hone-plan-arena the tensors have no buffers.
// expected-error@+1 {{no hone.arena_bytes (run hone-plan-arena}}
hone.pipeline @no_plan {
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_completion>
}

// -----

/// An attribute the runtime table (runtime/abi/step_ops.inl) does not list
/// for the op is an error at the op, not silently dropped or sent.
hone.pipeline @unlisted_attribute attributes {hone.arena_bytes = 0 : i64, run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <file = "/t.json", chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  // expected-error@+1 {{attribute 'frob' of hone.dataset has no entry in the runtime table (runtime/abi/step_ops.inl)}}
  %d = hone.dataset "p.jsonl" {frob = 1 : i64, settings = #hone.dataset_settings<columns = <text = "text", messages = "messages", role = "role", content = "content", prompt = "prompt", completion = "completion", chosen = "chosen", rejected = "rejected", label = "label", answer = "answer", role_names = {}>, eval_fraction = 0.0, shuffle = true, shuffle_seed = 0, max_records = 0>} : !hone.dataset<prompt_completion>
}

// -----

/// An attribute of another kind than the table's is an error at the op.
hone.pipeline @wrong_kind attributes {hone.arena_bytes = 0 : i64, run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <file = "/t.json", chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  // expected-error@+1 {{attribute 'name' is 3 : i64, but the runtime reads hone.dataset's 'name' as a string}}
  %d = hone.dataset "p.jsonl" {name = 3 : i64, settings = #hone.dataset_settings<columns = <text = "text", messages = "messages", role = "role", content = "content", prompt = "prompt", completion = "completion", chosen = "chosen", rejected = "rejected", label = "label", answer = "answer", role_names = {}>, eval_fraction = 0.0, shuffle = true, shuffle_seed = 0, max_records = 0>} : !hone.dataset<prompt_completion>
}

// -----

/// A job needs the pipeline's run settings; none are invented.
// expected-error@+1 {{'hone.pipeline' op convert-hone-to-runtime: the pipeline has no run settings (#hone.run); compile it from a spec, or add run = #hone.run<...> (docs/dialect.md)}}
hone.pipeline @no_run attributes {hone.arena_bytes = 0 : i64} {
}
