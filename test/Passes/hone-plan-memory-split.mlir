// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone-differentiate,hone.pipeline(hone-plan-memory{keep-logits=false physical-memory-bytes=1000000000}))' | FileCheck %s
// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone-differentiate,hone.pipeline(hone-plan-memory{keep-logits=false physical-memory-bytes=1000000000 split-train-steps=false}))' | FileCheck %s --check-prefix=WHOLE
// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone-differentiate,hone.pipeline(hone-plan-memory{keep-logits=false physical-memory-bytes=1000000000 release-at-step-end=false}))' | FileCheck %s --check-prefix=KEEP
// RUN: hone-opt %s -split-input-file --pass-pipeline='builtin.module(hone-differentiate,hone.pipeline(hone-plan-memory{physical-memory-bytes=1000000000}))' | FileCheck %s --check-prefix=LOGITS
// With the default keep-logits, the policy (an LM head) keeps its logits
// for the backward, the critic (a scalar head) has none: one entry per
// model operand.
// LOGITS-LABEL: hone.pipeline @separates
// LOGITS: hone.train_step{{.*}}keep_logits = array<i64: 1, 0>
// keep-logits=false: the figures below are those of the split alone (the
// logits decision is checked in test/Pipelines/honec-memory-plan.test).

// A train step of two models whose objective separates (PPO's shape: a
// policy term reading the policy's log-probs, a value term reading the
// critic's values, each with constant inputs): each model's gradient reads
// only its own outputs (the gradient region's def-use), so the step runs
// model by model, the critic first (its read back-propagates through the
// forward hone.value kept: kept_forwards), then the policy. The plan gives
// the step a point per phase (the train step is points 11 and 12): the
// critic's activations, from its hone.value (point 10) on, end at the
// first; the policy's live at the second alone; the two share bytes
// (offset 0 both). The runtime reads `phases` (one entry per model
// operand). The peak is the same bytes from the critic's hone.value
// (point 10) through both phases (the LM-head scratch is live from the
// job's start), reported at its first point.
// CHECK-LABEL: hone.pipeline @separates
// CHECK-SAME: first = 10 : i64, kind = "activations", last = 11 : i64, name = "critic.activations", offset = [[OFF:[0-9]+]] : i64
// CHECK-SAME: first = 12 : i64, kind = "activations", last = 12 : i64, name = "policy.activations", offset = [[OFF]] : i64
// CHECK-SAME: peak_point = 10 : i64
// CHECK-SAME: points = 16 : i64
// CHECK-SAME: split_train_steps = ["stage 'rl': hone.train_step runs model by model (critic, then policy; {{.*}}peak 2.4 MiB run whole -> 1.6 MiB"]
// CHECK: hone.train_step{{.*}}phases = array<i64: 1, 0>
// The option off: the step runs whole at one point (11), both models'
// activations live there and to the loop body's end, in different bytes.
// WHOLE-LABEL: hone.pipeline @separates
// WHOLE-SAME: first = 10 : i64, kind = "activations", last = 13 : i64, name = "critic.activations", offset = 0 : i64
// WHOLE-SAME: first = 11 : i64, kind = "activations", last = 13 : i64, name = "policy.activations", offset = 837760 : i64
// WHOLE-SAME: peak_bytes = 2545408 : i64
// WHOLE-SAME: points = 15 : i64
// WHOLE-NOT: split_train_steps
// WHOLE-NOT: phases =
// A stage that keeps its work buffers to the job's end (release-at-step-end
// off): nothing is freed between the phases, so the step is not split.
// KEEP-LABEL: hone.pipeline @separates
// KEEP-NOT: split_train_steps
// KEEP-NOT: phases =
// KEEP: hone.exec.stage_end
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @separates attributes {hone.arena_bytes = 4096 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %p0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %v0 = hone.model.init "critic" {seed = 0 : i64} : !s
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %s0 = hone.exec.stage_begin "rl" steps 5
  %out:2 = scf.for %i = %s0 to %c5 step %c1 iter_args(%p = %p0, %v = %v0) -> (!m, !s) {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
    %vold = hone.value %v, %g#0 : !s, tensor<8x32xi32> -> tensor<8x32xf32>
    %p1, %v1, %loss, %vf = hone.train_step (%p, %v) tokens(%g#0, %g#0) inputs(%g#1, %g#2, %vold) {readers = array<i64: 0, 1>, reads = ["logprob", "value"], kept_forwards = array<i64: -1, 2>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<8x32xi32>, tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) -> (!m, !s, tensor<f32>, tensor<f32>) objective {
    ^bb0(%l: tensor<8x32xf32>, %val: tensor<8x32xf32>, %mask: tensor<8x32xf32>, %old: tensor<8x32xf32>, %vo: tensor<8x32xf32>):
      %r = hone.loss.sub %l, %old : tensor<8x32xf32>
      %e = hone.loss.exp %r : tensor<8x32xf32>
      %pg = hone.loss.masked_reduce token_mean %e, %mask : tensor<8x32xf32> -> tensor<f32>
      %dv = hone.loss.sub %val, %vo : tensor<8x32xf32>
      %sq = hone.loss.mul %dv, %dv : tensor<8x32xf32>
      %vf = hone.loss.masked_reduce token_mean %sq, %mask : tensor<8x32xf32> -> tensor<f32>
      %sum = hone.loss.add %pg, %vf : tensor<f32>
      hone.loss.yield %sum : tensor<f32> metrics("vf_loss" = %vf : tensor<f32>)
    }
    hone.exec.step_end %i
    scf.yield %p1, %v1 : !m, !s
  }
  hone.exec.stage_end
}

// -----

// A value term that reads the policy's log-probs too (the critic's
// gradient depends on them): the models' gradients read each other's
// outputs, so the step runs whole, its two models' activations live
// together.
// CHECK-LABEL: hone.pipeline @entangled
// CHECK-NOT: split_train_steps
// CHECK-NOT: phases =
// CHECK: hone.exec.stage_end
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @entangled attributes {hone.arena_bytes = 4096 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %p0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %v0 = hone.model.init "critic" {seed = 0 : i64} : !s
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %s0 = hone.exec.stage_begin "rl" steps 5
  %out:2 = scf.for %i = %s0 to %c5 step %c1 iter_args(%p = %p0, %v = %v0) -> (!m, !s) {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
    %p1, %v1, %loss = hone.train_step (%p, %v) tokens(%g#0, %g#0) inputs(%g#1) {readers = array<i64: 0, 1>, reads = ["logprob", "value"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<8x32xi32>, tensor<8x32xi32>, tensor<8x32xf32>) -> (!m, !s, tensor<f32>) objective {
    ^bb0(%l: tensor<8x32xf32>, %val: tensor<8x32xf32>, %mask: tensor<8x32xf32>):
      %dv = hone.loss.sub %val, %l : tensor<8x32xf32>
      %sq = hone.loss.mul %dv, %dv : tensor<8x32xf32>
      %vf = hone.loss.masked_reduce token_mean %sq, %mask : tensor<8x32xf32> -> tensor<f32>
      hone.loss.yield %vf : tensor<f32>
    }
    hone.exec.step_end %i
    scf.yield %p1, %v1 : !m, !s
  }
  hone.exec.stage_end
}

// -----

// Each term reads one model, but the objective is their product: the
// policy's gradient scales with the value term and the critic's with the
// policy term (d(pg*vf)/dvf = pg), so the models' gradients read each
// other's outputs and the step runs whole.
// CHECK-LABEL: hone.pipeline @product
// CHECK-NOT: split_train_steps
// CHECK-NOT: phases =
// CHECK: hone.exec.stage_end
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>
hone.pipeline @product attributes {hone.arena_bytes = 4096 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %p0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %v0 = hone.model.init "critic" {seed = 0 : i64} : !s
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %s0 = hone.exec.stage_begin "rl" steps 5
  %out:2 = scf.for %i = %s0 to %c5 step %c1 iter_args(%p = %p0, %v = %v0) -> (!m, !s) {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x16xi32>, tensor<2x16xf32>, index) -> (tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>)
    %vold = hone.value %v, %g#0 : !s, tensor<8x32xi32> -> tensor<8x32xf32>
    %p1, %v1, %loss, %vf = hone.train_step (%p, %v) tokens(%g#0, %g#0) inputs(%g#1, %g#2, %vold) {readers = array<i64: 0, 1>, reads = ["logprob", "value"], kept_forwards = array<i64: -1, 2>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<8x32xi32>, tensor<8x32xi32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>) -> (!m, !s, tensor<f32>, tensor<f32>) objective {
    ^bb0(%l: tensor<8x32xf32>, %val: tensor<8x32xf32>, %mask: tensor<8x32xf32>, %old: tensor<8x32xf32>, %vo: tensor<8x32xf32>):
      %r = hone.loss.sub %l, %old : tensor<8x32xf32>
      %e = hone.loss.exp %r : tensor<8x32xf32>
      %pg = hone.loss.masked_reduce token_mean %e, %mask : tensor<8x32xf32> -> tensor<f32>
      %dv = hone.loss.sub %val, %vo : tensor<8x32xf32>
      %sq = hone.loss.mul %dv, %dv : tensor<8x32xf32>
      %vf = hone.loss.masked_reduce token_mean %sq, %mask : tensor<8x32xf32> -> tensor<f32>
      %sum = hone.loss.mul %pg, %vf : tensor<f32>
      hone.loss.yield %sum : tensor<f32> metrics("vf_loss" = %vf : tensor<f32>)
    }
    hone.exec.step_end %i
    scf.yield %p1, %v1 : !m, !s
  }
  hone.exec.stage_end
}
