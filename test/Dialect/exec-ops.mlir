// RUN: hone-opt --allow-unregistered-dialect %s | hone-opt --allow-unregistered-dialect | FileCheck %s
// RUN: hone-opt --allow-unregistered-dialect %s --mlir-print-op-generic | hone-opt --allow-unregistered-dialect | FileCheck %s

/// The scheduled-level ops round-trip in custom and generic form.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

// CHECK-LABEL: hone.pipeline @exec
hone.pipeline @exec {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  // CHECK: %[[S:.+]] = hone.exec.snapshot %{{.+}} : ![[M:.+]]
  %s = hone.exec.snapshot %m : !m
  // CHECK: %[[F:.+]] = hone.exec.stage_begin "grpo" steps 20
  %first = hone.exec.stage_begin "grpo" steps 20
  // CHECK: %[[R:.+]]:2 = hone.exec.rollouts_resume %{{.+}}, %{{.+}} : tensor<4x8xi32>, tensor<4xf32> -> tensor<4x8xi32>, tensor<4xf32>
  %tok = "test.t"() : () -> tensor<4x8xi32>
  %sc = "test.s"() : () -> tensor<4xf32>
  %r:2 = hone.exec.rollouts_resume %tok, %sc : tensor<4x8xi32>, tensor<4xf32> -> tensor<4x8xi32>, tensor<4xf32>
  // CHECK: hone.sync_weights %{{.+}} to %[[S]] : ![[M]], ![[M]]
  hone.sync_weights %m to %s : !m, !m
  // CHECK: hone.exec.rollouts_in_flight %[[R]]#0, %[[R]]#1 : tensor<4x8xi32>, tensor<4xf32>
  hone.exec.rollouts_in_flight %r#0, %r#1 : tensor<4x8xi32>, tensor<4xf32>
  // CHECK: hone.exec.step_end %[[F]]
  hone.exec.step_end %first
  // CHECK: hone.exec.stage_end
  hone.exec.stage_end
  hone.save %s "frozen" : !m
}
