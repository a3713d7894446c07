// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-schedule-stages))' | FileCheck %s

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A model trained in place by a stage loop and read inside it (the frozen
/// reference) and after it gets one snapshot for those readers; a reader
/// before the loop keeps the original. Each stage loop is bracketed, its
/// lower bound is the runtime's first step, and its name comes from the loc.
// CHECK-LABEL: hone.pipeline @frozen_reference
hone.pipeline @frozen_reference {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  // CHECK: %[[M:.+]] = hone.model.init
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_completion>
  // CHECK: hone.save %[[M]] "before"
  hone.save %m "before" : !m
  // CHECK: %[[SNAP:.+]] = hone.exec.snapshot %[[M]]
  // CHECK: %[[FIRST:.+]] = hone.exec.stage_begin "rl" steps 5
  // CHECK: %[[OUT:.+]] = scf.for %[[I:.+]] = %[[FIRST]] to %{{.+}} step %{{.+}} iter_args(%[[P:.+]] = %[[M]])
  %out = scf.for %i = %c0 to %c5 step %c1 iter_args(%p = %m) -> (!m) {
    %t:3 = hone.data.next sequences %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xi64>
    // CHECK: hone.logprob %[[SNAP]]
    %lref = hone.logprob %m, %t#0 : !m, tensor<2x8xi32> -> tensor<2x8xf32>
    // CHECK: hone.exec.step_end %[[I]]
    // CHECK-NEXT: scf.yield %[[P]]
    scf.yield %p : !m
  } loc(#stage)
  // CHECK: hone.exec.stage_end
  // CHECK: hone.save %[[SNAP]] "after"
  hone.save %m "after" : !m
  hone.save %out "trained" : !m
}
#stage = loc("rl"("spec.textproto":3:1))

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A model only trained, never read again: no snapshot. A loop without a
/// name is numbered.
// CHECK-LABEL: hone.pipeline @no_snapshot
// CHECK-NOT: hone.exec.snapshot
// CHECK: hone.exec.stage_begin "stage0" steps 3
hone.pipeline @no_snapshot {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %out = scf.for %i = %c0 to %c3 step %c1 iter_args(%p = %m) -> (!m) {
    scf.yield %p : !m
  }
  hone.save %out "trained" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Stage loops come from hone-expand-stages: from 0, by 1, to a constant.
hone.pipeline @bad_loop {
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  // expected-error@+1 {{hone-schedule-stages: a stage loop must run from 0 by 1 to a constant step count}}
  %out = scf.for %i = %c1 to %c3 step %c1 iter_args(%p = %m) -> (!m) {
    scf.yield %p : !m
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// precision bf16: the snapshot (the reference) and a loaded model only read
/// by forward passes are stored in bf16; the trained model, and a loaded
/// model that is also copied into a new head, stay fp32.
// CHECK-LABEL: hone.pipeline @frozen_bf16
// CHECK: %[[M:[a-z]+]] = hone.model.load "policy" from "p_dir" : !model
// CHECK: hone.model.load "rm" from "rm_dir" {storage = "bf16"} : !model
// CHECK: hone.model.load "body" from "body_dir" : !model
// CHECK: hone.exec.snapshot %[[M]] {hone.models = ["policy"], storage = "bf16"}
hone.pipeline @frozen_bf16 attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = bf16, frozen_precision = bf16, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.load "policy" from "p_dir" : !m
  %rm = hone.model.load "rm" from "rm_dir" : !m
  %body = hone.model.load "body" from "body_dir" : !m
  %head = hone.model.new_head "h" %body {seed = 1} : !m -> !s
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_completion>
  %out = scf.for %i = %c0 to %c5 step %c1 iter_args(%p = %m) -> (!m) {
    %t:3 = hone.data.next sequences %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xi64>
    %lref = hone.logprob %m, %t#0 : !m, tensor<2x8xi32> -> tensor<2x8xf32>
    %lrm = hone.logprob %rm, %t#0 : !m, tensor<2x8xi32> -> tensor<2x8xf32>
    scf.yield %p : !m
  } loc(#stage2)
  hone.save %out "trained" : !m
  hone.save %head "head" : !s
}
#stage2 = loc("rl"("spec.textproto":3:1))

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// frozen_precision is its own setting: an fp32 policy with a bf16
/// reference (precision fp32, frozen_precision bf16) stores the reference
/// in bf16; precision bf16 with frozen_precision fp32 keeps it in fp32.
// CHECK-LABEL: hone.pipeline @fp32_policy_bf16_reference
// CHECK: hone.model.load "ref" from "ref_dir" {storage = "bf16"} : !model
hone.pipeline @fp32_policy_bf16_reference attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = bf16, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %ref = hone.model.load "ref" from "ref_dir" : !m
  %t = arith.constant dense<1> : tensor<2x8xi32>
  %l = hone.logprob %ref, %t : !m, tensor<2x8xi32> -> tensor<2x8xf32>
}
// CHECK-LABEL: hone.pipeline @bf16_policy_fp32_reference
// CHECK: hone.model.load "ref" from "ref_dir" : !model
hone.pipeline @bf16_policy_fp32_reference attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = bf16, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %ref = hone.model.load "ref" from "ref_dir" : !m
  %t = arith.constant dense<1> : tensor<2x8xi32>
  %l = hone.logprob %ref, %t : !m, tensor<2x8xi32> -> tensor<2x8xf32>
}

// -----

!l = !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// frozen_precision bf16 with LoRA: a loaded base that only carries
/// adapters and is read (the reference) stays frozen, so it is stored in
/// bf16 (the adapters train in fp32 on it); with frozen_precision fp32 it
/// stays fp32.
// CHECK-LABEL: hone.pipeline @lora_base_bf16
// CHECK: hone.model.load "base" from "b_dir" {storage = "bf16"} : !model
hone.pipeline @lora_base_bf16 attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = bf16, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %m = hone.model.load "base" from "b_dir" : !l
  %a = hone.model.lora "base" %m {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj", "v_proj"], merge_on_save = false>, seed = 1} : !l -> !l
  %t = arith.constant dense<1> : tensor<2x8xi32>
  %lref = hone.logprob %m, %t : !l, tensor<2x8xi32> -> tensor<2x8xf32>
  %lpol = hone.logprob %a, %t : !l, tensor<2x8xi32> -> tensor<2x8xf32>
}
// An initialised base (hone.model.init) that only carries adapters and is
// read is stored in bf16 as a loaded one.
// CHECK-LABEL: hone.pipeline @lora_init_base_bf16
// CHECK: hone.model.init "base" {seed = 3 : i64, storage = "bf16"} : !model
hone.pipeline @lora_init_base_bf16 attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = bf16, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %m = hone.model.init "base" {seed = 3 : i64} : !l
  %a = hone.model.lora "base" %m {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj", "v_proj"], merge_on_save = false>, seed = 1} : !l -> !l
  %t = arith.constant dense<1> : tensor<2x8xi32>
  %lref = hone.logprob %m, %t : !l, tensor<2x8xi32> -> tensor<2x8xf32>
  %lpol = hone.logprob %a, %t : !l, tensor<2x8xi32> -> tensor<2x8xf32>
}
// CHECK-LABEL: hone.pipeline @lora_base_fp32
// CHECK: hone.model.load "base" from "b_dir" : !model
hone.pipeline @lora_base_fp32 attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = fp32, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %m = hone.model.load "base" from "b_dir" : !l
  %a = hone.model.lora "base" %m {lora = #hone.lora<rank = 4, alpha = 8.0, dropout = 0.0, target_modules = ["q_proj", "v_proj"], merge_on_save = false>, seed = 1} : !l -> !l
  %t = arith.constant dense<1> : tensor<2x8xi32>
  %lpol = hone.logprob %a, %t : !l, tensor<2x8xi32> -> tensor<2x8xf32>
}
