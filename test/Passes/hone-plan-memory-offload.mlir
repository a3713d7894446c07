// RUN: hone-opt %s --pass-pipeline='builtin.module(hone-differentiate,hone.pipeline(hone-plan-memory{keep-logits=false budget-bytes=1200000 generation-batch=false}))' 2>&1 | FileCheck %s
// RUN: hone-opt %s --pass-pipeline='builtin.module(hone-differentiate,hone.pipeline(hone-plan-memory{keep-logits=false budget-bytes=1300000 generation-batch=false}))' 2>&1 | FileCheck %s --check-prefix=FITS
// RUN: not hone-opt %s --pass-pipeline='builtin.module(hone-differentiate,hone.pipeline(hone-plan-memory{keep-logits=false budget-bytes=1200000 generation-batch=false offload=false}))' -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOOFFLOAD
// keep-logits=false: the figures below are those of the decisions under
// test (the logits decision is checked in
// test/Pipelines/honec-memory-plan.test).

// Offload of idle optimiser state (hone-plan-memory's decision 5). A GRPO
// shaped stage: the policy (the arch of hone-plan-memory.mlir, 10144
// parameters: AdamW moments 2 x 40576 = 81152 bytes) generates 16 rows of
// 32 tokens, then trains on them in 8 mini-batches. Unconstrained, the peak
// is at the generate, 1259136 bytes: the runtime's 512 KiB, the KV cache
// (128 KiB) and decode workspace (420.1 KiB), and the policy's weights,
// gradients and moments, held from the stage's begin. With generation-batch
// off no decision 1-4 is left there (the stage already frees its work
// buffers at each step's end; no activation buffer is live at the
// generate), so under 1200000 bytes the moments are offloaded: the train
// step (point 9) gets one more point, its update (point 10), where the
// moments alone are planned, page-aligned and page-rounded (81920 bytes);
// the step's activations end before it (the runtime frees them before the
// update), so the moments take the activations' bytes and theirs serve the
// generate: the peak falls by the moments' size, to 1177984. The stage begin lists the policy
// (offload_moments, its position among the stage's models) and places no
// moments; the train step's `arena` places them (kind 5).
// CHECK: remark: hone-plan-memory: stage 'rl': policy's AdamW moments (79.2 KiB) offloaded to the host tier between optimiser updates ({{.*}}: 160.0 KiB moved per step over 1 update(s); {{.*}}), saving 79.2 KiB: peak 1.2 MiB -> 1.1 MiB (budget 1.1 MiB)
// CHECK-NOT: remark
// CHECK-LABEL: hone.pipeline @offload
// CHECK-NOT: name = "policy.optimizer",
// CHECK-SAME: {bytes = 209536 : i64, first = 9 : i64, kind = "activations", last = 9 : i64, name = "policy.activations", offset = [[MOFF:[0-9]+]] : i64, placed = true}
// CHECK-SAME: {bytes = 81920 : i64, first = 10 : i64, kind = "optimizer", last = 10 : i64, name = "policy.optimizer@10", offset = [[MOFF]] : i64, placed = true}
// CHECK-SAME: decisions = ["stage 'rl': policy's AdamW moments (79.2 KiB) offloaded {{[^"]*}}"]
// CHECK-SAME: peak_bytes = 1177984 : i64, peak_op = "hone.generate"
// CHECK: hone.exec.stage_begin "rl" steps 5 {offload_moments = array<i64: 0>}
// CHECK-NOT: arena = array<i64: {{.*}}0, 5,
// CHECK: hone.train_step{{.*}}arena = array<i64: {{.*}}0, 5, [[MOFF]], 81920

// A budget the plan meets without it: no offload, the moments held for the
// whole stage.
// FITS-NOT: remark
// FITS-NOT: decisions
// FITS: name = "policy.optimizer", offset
// FITS-NOT: offload_moments

// Without it (offload=false) the plan stays over, its error at the generate.
// NOOFFLOAD: error: hone-plan-memory: the job needs 1.2 MiB at its peak, over the memory budget of 1.1 MiB (option); the peak is in stage 'rl' at hone.generate: weights 39.6 KiB, gradients 39.6 KiB, optimizer 79.2 KiB

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @offload attributes {hone.arena_bytes = 4096 : i64} {
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

