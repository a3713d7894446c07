// RUN: not hone-opt %s --pass-pipeline='builtin.module(hone-differentiate,hone.pipeline(hone-plan-memory{budget-bytes=1200000 generation-batch=false}))' -o /dev/null 2>&1 | FileCheck %s

// The stage of hone-plan-memory-offload.mlir in a CUDA job: offload is not chosen (not yet tested on a
// GPU); a remark says what it would save, and the plan stays over.
// CHECK: remark: hone-plan-memory: offloading policy's AdamW moments (79.2 KiB) to host memory between updates would save 79.2 KiB at the peak, but offload is not yet chosen for a CUDA job
// CHECK-NOT: offloaded
// CHECK: error: hone-plan-memory: the job needs 1.2 MiB at its peak
!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @cuda attributes {hone.arena_bytes = 4096 : i64, run = #hone.run<seed = 42, output_dir = "runs/x", tokenizer = <chars = <alphabet = "0123456789+=", special = ["<pad>"]>, chat_template = no_template, chat_template_kwargs = "{}">, hardware = <device = cuda, memory_budget = 0, ranks = 1, rollout_staleness = 0, precision = auto_precision, frozen_precision = fp32, threads = 0, collective_timeout_s = 300.0>, checkpointing = <every_steps = 0, keep_last = 2, on_nan = skip, max_skipped_fraction = 0.1, max_skipped_in_a_row = 20, dir = "">>} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.init "policy" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %s0 = hone.exec.stage_begin "rl" steps 5
  %out = scf.for %i = %s0 to %c5 step %c1 iter_args(%p = %m) -> (!m) {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<4x16xi32>, tensor<4x16xf32>, tensor<4xi64>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<4x16xi32>, tensor<4x16xf32>, index) -> (tensor<16x32xi32>, tensor<16x32xf32>, tensor<16x32xf32>)
    %p1, %loss = hone.train_step (%p) tokens(%g#0) inputs(%g#1) {readers = array<i64: 0>, reads = ["logprob"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 8 : i64, updates = 1 : i64} : (!m, tensor<16x32xi32>, tensor<16x32xf32>) -> (!m, tensor<f32>) objective {
    ^bb0(%l: tensor<16x32xf32>, %mask: tensor<16x32xf32>):
      %pg = hone.loss.masked_reduce token_mean %l, %mask : tensor<16x32xf32> -> tensor<f32>
      hone.loss.yield %pg : tensor<f32>
    }
    hone.exec.step_end %i
    scf.yield %p1 : !m
  }
  hone.exec.stage_end
}
