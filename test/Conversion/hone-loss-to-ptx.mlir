// RUN: hone-opt %s --hone-step-pipeline --hone-loss-to-nvvm --gpu-module-to-binary=format=isa | FileCheck %s
// RUN: hone-opt %s --hone-step-pipeline --hone-loss-to-llvm | FileCheck %s --check-prefix=CPU

/// A train step's fused loss and gradient, as PTX (no GPU or CUDA toolkit
/// needed) and as a C-callable CPU function with bare-pointer arguments:
/// inputs (l, mask), then outputs (loss, ∂loss/∂l).

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @p {
  %0 = hone.model.init "0" {seed = 0 : i64} : !m
  %d = hone.dataset "d.jsonl" : !hone.dataset<prompt_completion>
  %1 = hone.sft dft %0, %d {batch_size = 2 : i64, steps = 3 : i64, loop = #hone.loop<grad_accum = 1, max_length = 8>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
  hone.save %1 "out" : !m
}

// CHECK: gpu.binary @p_sft_dft_0_kernel
// CHECK-SAME: #nvvm.target<chip = "sm_90">
// CHECK-SAME: .visible .entry p_sft_dft_0_kernel
// CHECK-NOT: hone.

// CPU-LABEL: llvm.func @p_sft_dft_0(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr, %arg3: !llvm.ptr, %arg4: !llvm.ptr)
// CPU-SAME: hone.arg_names = ["l", "mask"]
// CPU-NOT: hone.pipeline
