// RUN: hone-opt %s --pass-pipeline='builtin.module(hone.pipeline(hone-plan-memory{budget-bytes=900000}))' 2>&1 | FileCheck %s
// RUN: hone-opt %s --pass-pipeline='builtin.module(hone.pipeline(hone-plan-memory{budget-bytes=10000000}))' 2>&1 | FileCheck %s --check-prefix=FITS
// RUN: not hone-opt %s --pass-pipeline='builtin.module(hone.pipeline(hone-plan-memory{budget-bytes=1300000 generation-batch=false}))' -o /dev/null 2>&1 | FileCheck %s --check-prefix=HINT

// A smaller generation batch (hone-plan-memory's decision 4): a stage that
// only generates, 16 prompts x 4 samples = 64 rows of 32 tokens, with the
// arch of hone-plan-memory.mlir (1 layer, 2 heads of 16 dims): the KV cache
// is 1 x (k, v) x 64 rows x 2 heads x 32 x 16 x 4 bytes = 512 KiB, the
// decode workspace 1.7 MiB, and with the runtime's 512 KiB the peak is
// 2.7 MiB at the generate. No activation buffer is live there, so under a
// 900000-byte budget the generate's rows generated at once are halved while
// that lowers the peak and the plan is over: 64 -> 32 -> 16 -> 8, each a
// remark at the generate and a line of the plan's decisions; the KV cache
// is then sized for 8 rows (65536 bytes) and the runtime generates the
// step's prompts 8 rows at a time (micro_batch = 8).
// CHECK: remark: hone-plan-memory: generation batch 64 -> 32 rows for hone.generate (micro_batch 32: {{.*}}), saving 1.1 MiB: peak 2.7 MiB -> 1.6 MiB (budget 878.9 KiB)
// CHECK: remark: hone-plan-memory: generation batch 32 -> 16 rows
// CHECK: remark: hone-plan-memory: generation batch 16 -> 8 rows {{.*}}peak 1.1 MiB -> 831.2 KiB (budget 878.9 KiB)
// CHECK-NOT: remark
// CHECK-LABEL: hone.pipeline @generation_batch
// CHECK-SAME: {bytes = 65536 : i64, first = 6 : i64, kind = "kv_cache", last = 11 : i64, name = "m.kv_cache"
// CHECK-SAME: decisions = ["generation batch 64 -> 32 rows {{.*}}", "generation batch 32 -> 16 rows {{.*}}", "generation batch 16 -> 8 rows {{.*}}"]
// CHECK-SAME: peak_bytes = 851200 : i64
// CHECK: hone.generate {{.*}}micro_batch = 8 : i64

// Under a budget it fits: no decision, no micro_batch.
// FITS-NOT: remark
// FITS-NOT: decisions
// FITS-NOT: micro_batch

// Without the decision (generation-batch=false) the plan stays over the
// budget, and the error's hint names the generation batch with what its
// KV cache, decode workspace and logits would save together.
// HINT: error: hone-plan-memory: the job needs 2.7 MiB at its peak, over the memory budget of 1.2 MiB (option); the peak is in stage 'rl' at hone.generate
// HINT: note: hint: generation batch 64 -> 32 (m.kv_cache, m.workspace, m.logits@8) saves 1.1 MiB (still over by 388.3 KiB); or raise hardware.memory_budget to at least 2.7 MiB

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

hone.pipeline @generation_batch attributes {hone.arena_bytes = 4096 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %d = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %s0 = hone.exec.stage_begin "rl" steps 5
  %out = scf.for %i = %s0 to %c5 step %c1 iter_args(%p = %m) -> (!m) {
    %t:3 = hone.data.next prompts %d, %i {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<16x16xi32>, tensor<16x16xf32>, tensor<16xi64>
    %g:3 = hone.generate %p, %t#0, %t#1, %i {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<16x16xi32>, tensor<16x16xf32>, index) -> (tensor<64x32xi32>, tensor<64x32xf32>, tensor<64x32xf32>)
    hone.exec.step_end %i
    scf.yield %p : !m
  }
  hone.exec.stage_end
}
