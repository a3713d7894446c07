// RUN: hone-opt %s | hone-opt | FileCheck %s
// RUN: hone-opt %s --mlir-print-op-generic | hone-opt | FileCheck %s

/// The scheduled-level ops round-trip in custom and generic form.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>

// CHECK-LABEL: hone.pipeline @exec
hone.pipeline @exec {
  %m = hone.model.init "m" : !m
  // CHECK: %[[S:.+]] = hone.exec.snapshot %{{.+}} : ![[M:.+]]
  %s = hone.exec.snapshot %m : !m
  // CHECK: %[[F:.+]] = hone.exec.stage_begin "grpo" steps 20
  %first = hone.exec.stage_begin "grpo" steps 20
  // CHECK: hone.exec.step_end %[[F]]
  hone.exec.step_end %first
  // CHECK: hone.exec.stage_end
  hone.exec.stage_end
  hone.save %s "frozen" : !m
}
