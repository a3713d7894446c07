// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-plan-memory{physical-memory-bytes=1000000000}))' | FileCheck %s

// The arch below (gpt2, vocab 16, d_model 32, 1 layer, ffn 64, max_seq 32)
// has 10144 parameters, every tensor a multiple of 16 floats (see
// hone-estimate-memory.mlir): weights and gradients are 40576 bytes each.
// Its KV cache for 8 rows of 32 tokens is 1 layer x (k, v) x 8 rows x
// 2 heads x 32 positions x 16 dims x 4 bytes = 65536 bytes.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Every model object the runtime creates is counted, the frozen snapshot
/// of the policy included (weights, live to the end; no gradients: no
/// stage here trains, and the runtime allocates them at a first backward,
/// test/unit/model/MemorySizesTest.cpp); the
/// policy's KV cache (8 rows x 32) and decode workspace live at its
/// generate alone (point 10): the stage frees its work buffers at each
/// step's end (release_at_step_end, chosen as it lowers the peak), so the
/// generate is marked release_decode and the runtime frees them after the
/// call; both are placed in the arena (placed = true); the
/// snapshot's activations live at its logprob alone
/// (no train step of the stage trains the snapshot: the op is marked
/// release_activations and the runtime frees them after it); the step
/// arena lives throughout. Without a budget in the spec the CPU budget is
/// the physical memory (here the pass option standing for the machine's).
// CHECK-LABEL: hone.pipeline @rollout
// CHECK-SAME: hone.memory_plan = {
// CHECK-SAME: budget_bytes = 1000000000 : i64, budget_source = "physical memory"
// CHECK-SAME: {bytes = 524288 : i64, first = 0 : i64, kind = "runtime", last = 14 : i64, name = "runtime"
// CHECK-SAME: {bytes = 4096 : i64, first = 0 : i64, kind = "step_tensors", last = 14 : i64, name = "step_tensors"
// CHECK-SAME: {bytes = 40576 : i64, first = 3 : i64, kind = "weights", last = 14 : i64, name = "m.weights"
// CHECK-NOT: gradients
// CHECK-SAME: {bytes = 40576 : i64, first = 6 : i64, kind = "weights", last = 14 : i64, name = "m.snapshot@6.weights"
// CHECK-SAME: {bytes = 65536 : i64, first = 10 : i64, kind = "kv_cache", last = 10 : i64, name = "m.kv_cache@10", offset = {{[0-9]+}} : i64, placed = true}
// CHECK-SAME: first = 11 : i64, kind = "activations", last = 11 : i64, name = "m.snapshot@6.activations@11", offset = {{[0-9]+}} : i64, placed = true}
// CHECK-SAME: peak_op = "hone.logprob", peak_point = 11 : i64, peak_stage = "rl"
// CHECK-SAME: release_at_step_end = ["rl"]
// CHECK: hone.generate {{.*}}release_decode
// CHECK: hone.logprob {{.*}}release_activations}
hone.pipeline @rollout attributes {hone.arena_bytes = 4096 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %ref = hone.exec.snapshot %m {hone.models = ["m"]} : !m
  %s0 = hone.exec.stage_begin "rl" steps 5
  %out = scf.for %i = %s0 to %c5 step %c1 iter_args(%p = %m) -> (!m) {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
    %l = hone.logprob %ref, %g#0 : !m, tensor<8x32xi32> -> tensor<8x32xf32>
    hone.exec.step_end %i
    scf.yield %p : !m
  }
  hone.exec.stage_end
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A snapshot hone-schedule-stages keeps in bf16 (storage = "bf16"): its
/// weights are 10144 x 2 bytes of bf16 plus its 416 norm and bias values
/// in fp32 (1664 bytes) = 21952 bytes (memsize::frozenBf16Bytes), and it
/// has no gradients.
// CHECK-LABEL: hone.pipeline @frozen_bf16
// CHECK-SAME: {bytes = 40576 : i64, first = 3 : i64, kind = "weights", last = 14 : i64, name = "m.weights"
// CHECK-SAME: {bytes = 21952 : i64, first = 6 : i64, kind = "weights", last = 14 : i64, name = "m.snapshot@6.weights"
// CHECK-NOT: m.snapshot@6.gradients
hone.pipeline @frozen_bf16 attributes {hone.arena_bytes = 4096 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %ref = hone.exec.snapshot %m {hone.models = ["m"], storage = "bf16"} : !m
  %s0 = hone.exec.stage_begin "rl" steps 5
  %out = scf.for %i = %s0 to %c5 step %c1 iter_args(%p = %m) -> (!m) {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
    %l = hone.logprob %ref, %g#0 : !m, tensor<8x32xi32> -> tensor<8x32xf32>
    hone.exec.step_end %i
    scf.yield %p : !m
  }
  hone.exec.stage_end
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Per-stage buffers are freed at the stage end: the two stages' KV caches
/// are never live together, so greedy-by-size packs them at one offset and
/// the plan's peak is the liveness lower bound, below no reuse.
// CHECK-LABEL: hone.pipeline @two_stages
// CHECK-SAME: {bytes = 65536 : i64, first = 7 : i64, kind = "kv_cache", last = 11 : i64, name = "a.kv_cache", offset = [[OFF:[0-9]+]] : i64, placed = true}
// CHECK-SAME: {bytes = 65536 : i64, first = 13 : i64, kind = "kv_cache", last = 17 : i64, name = "b.kv_cache", offset = [[OFF]] : i64, placed = true}
// CHECK-SAME: lower_bound_bytes = [[LB:[0-9]+]] : i64, no_reuse_bytes = 1169920 : i64, peak_bytes = [[LB]] : i64
hone.pipeline @two_stages {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %a = hone.model.init "a" {seed = 0 : i64} : !m
  %b = hone.model.init "b" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %s0 = hone.exec.stage_begin "first" steps 5
  scf.for %i = %s0 to %c5 step %c1 {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    %g:3 = hone.generate %a, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
  }
  hone.exec.stage_end
  %s1 = hone.exec.stage_begin "second" steps 5
  scf.for %i = %s1 to %c5 step %c1 {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    %g:3 = hone.generate %b, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
  }
  hone.exec.stage_end
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A budget in the spec under the peak is an error at the op of the peak,
/// naming the stage, what is live by kind, and what would make it fit.
/// First the generate's rows generated at once are halved (decision 4, a
/// remark each) down to one row; the error follows, its hint left with the
/// budget (hone-plan-memory-generate.mlir has the generation batch's hint).
hone.pipeline @over attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cpu, memory_budget = 200000, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %s0 = hone.exec.stage_begin "rl" steps 5
  scf.for %i = %s0 to %c5 step %c1 {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    // expected-remark@+5 {{hone-plan-memory: generation batch 8 -> 4 rows for hone.generate (micro_batch 4: }}
    // expected-remark@+4 {{hone-plan-memory: generation batch 4 -> 2 rows}}
    // expected-remark@+3 {{hone-plan-memory: generation batch 2 -> 1 rows}}
    // expected-error@+2 {{hone-plan-memory: the job needs 586.2 KiB}}
    // expected-note@+1 {{hint: raise hardware.memory_budget to at least 586.2 KiB}}
    %g:3 = hone.generate %m, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
  }
  hone.exec.stage_end
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// On CUDA without a budget the device's capacity is not known at compile
/// time: nothing is checked.
// CHECK-LABEL: hone.pipeline @cuda
// CHECK-SAME: budget_bytes = 0 : i64, budget_source = "none"
hone.pipeline @cuda attributes {run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cuda, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
}
