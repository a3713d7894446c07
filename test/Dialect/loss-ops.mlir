// RUN: hone-opt --allow-unregistered-dialect %s | hone-opt --allow-unregistered-dialect | FileCheck %s
// RUN: hone-opt --allow-unregistered-dialect %s --mlir-print-op-generic | hone-opt --allow-unregistered-dialect | FileCheck %s

/// Every loss-algebra op round-trips through the custom and the generic form.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

// CHECK-LABEL: hone.pipeline @algebra
hone.pipeline @algebra {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %tok = "test.tokens"() : () -> tensor<4x8xi32>
  %m = "test.mask"() : () -> tensor<4x8xf32>
  %old = "test.old"() : () -> tensor<4x8xf32>
  %a = "test.adv"() : () -> tensor<4xf32>
  // CHECK: hone.train_step
  %p1, %loss, %kl = hone.train_step (%p) tokens(%tok) inputs(%m, %old, %a) {readers = array<i64: 0>, reads = ["logprob+entropy"], optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> (!m, tensor<f32>, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %h: tensor<4x8xf32>, %mask: tensor<4x8xf32>, %l_old: tensor<4x8xf32>, %adv: tensor<4xf32>):
    // CHECK: hone.loss.exp %{{.+}} : tensor<4x8xf32>
    %p_ = hone.loss.exp %l : tensor<4x8xf32>
    // CHECK: hone.loss.log %{{.+}} : tensor<4x8xf32>
    %lg = hone.loss.log %p_ : tensor<4x8xf32>
    // CHECK: hone.loss.sigmoid
    %s = hone.loss.sigmoid %lg : tensor<4x8xf32>
    // CHECK: hone.loss.log_sigmoid
    %ls = hone.loss.log_sigmoid %s : tensor<4x8xf32>
    // CHECK: hone.loss.neg
    %n = hone.loss.neg %ls : tensor<4x8xf32>
    // CHECK: hone.loss.sqrt
    %sq = hone.loss.sqrt %p_ : tensor<4x8xf32>
    // CHECK: hone.loss.stop_gradient
    %sg = hone.loss.stop_gradient %sq : tensor<4x8xf32>
    // CHECK: hone.loss.add
    %x1 = hone.loss.add %n, %sg : tensor<4x8xf32>
    // CHECK: hone.loss.sub
    %x2 = hone.loss.sub %x1, %h : tensor<4x8xf32>
    // CHECK: hone.loss.mul
    %x3 = hone.loss.mul %x2, %x1 : tensor<4x8xf32>
    // CHECK: hone.loss.div
    %x4 = hone.loss.div %x3, %p_ : tensor<4x8xf32>
    // CHECK: %[[RHO:.+]] = hone.loss.ratio %{{.+}}, %{{.+}} : tensor<4x8xf32>
    %rho = hone.loss.ratio %l, %l_old : tensor<4x8xf32>
    // CHECK: hone.loss.clamp %[[RHO]] min 8.000000e-01 max 1.200000e+00 : tensor<4x8xf32>
    %c = hone.loss.clamp %rho min 0.8 max 1.2 : tensor<4x8xf32>
    // CHECK: hone.loss.clamp %[[RHO]] max 1.600000e+01 : tensor<4x8xf32>
    %c2 = hone.loss.clamp %rho max 16.0 : tensor<4x8xf32>
    // CHECK: hone.loss.min
    %mn = hone.loss.min %c, %c2 : tensor<4x8xf32>
    // CHECK: hone.loss.max
    %mx = hone.loss.max %mn, %x4 : tensor<4x8xf32>
    // CHECK: hone.loss.kl k3 %{{.+}}, %{{.+}} : tensor<4x8xf32>
    %k = hone.loss.kl k3 %l, %l_old : tensor<4x8xf32>
    // CHECK: hone.loss.kl k1
    %k1 = hone.loss.kl k1 %l, %l_old : tensor<4x8xf32>
    // CHECK: hone.loss.kl k2
    %k2 = hone.loss.kl k2 %l, %l_old : tensor<4x8xf32>
    // CHECK: hone.loss.cmp gt
    %gt = hone.loss.cmp gt %k1, %k2 : tensor<4x8xf32>
    // CHECK: hone.loss.select
    %sel = hone.loss.select %gt, %k, %mx : tensor<4x8xf32>
    // CHECK: hone.loss.const 5.000000e-01 : tensor<f32>
    %half = hone.loss.const 0.5 : tensor<f32>
    // CHECK: hone.loss.broadcast %{{.+}} : tensor<4xf32> to tensor<4x8xf32>
    %at = hone.loss.broadcast %adv : tensor<4xf32> to tensor<4x8xf32>
    // CHECK: hone.loss.broadcast %{{.+}} : tensor<f32> to tensor<4xf32>
    %hb = hone.loss.broadcast %half : tensor<f32> to tensor<4xf32>
    // CHECK: hone.loss.seq_sum %{{.+}} mask %{{.+}} : tensor<4x8xf32> -> tensor<4xf32>
    %ss = hone.loss.seq_sum %sel mask %mask : tensor<4x8xf32> -> tensor<4xf32>
    // CHECK: hone.loss.seq_sum %{{.+}} : tensor<4x8xf32> -> tensor<4xf32>
    %len = hone.loss.seq_sum %mask : tensor<4x8xf32> -> tensor<4xf32>
    // CHECK: hone.loss.seq_mean %{{.+}} mask %{{.+}} : tensor<4x8xf32> -> tensor<4xf32>
    %sm = hone.loss.seq_mean %at mask %mask : tensor<4x8xf32> -> tensor<4xf32>
    // CHECK: hone.loss.group_mean %{{.+}} {group_size = 2 : i64} : tensor<4xf32>
    %gm = hone.loss.group_mean %ss {group_size = 2} : tensor<4xf32>
    // CHECK: hone.loss.group_std %{{.+}} {group_size = 2 : i64} : tensor<4xf32>
    %gs = hone.loss.group_std %gm {group_size = 2} : tensor<4xf32>
    // CHECK: hone.loss.group_std %{{.+}} {correction = 0 : i64, group_size = 2 : i64} : tensor<4xf32>
    %gs0 = hone.loss.group_std %gm {group_size = 2, correction = 0} : tensor<4xf32>
    %t = hone.loss.add %gs, %sm : tensor<4xf32>
    %t2 = hone.loss.add %t, %len : tensor<4xf32>
    %t3 = hone.loss.mul %t2, %hb : tensor<4xf32>
    %t4 = hone.loss.add %t3, %gs0 : tensor<4xf32>
    // CHECK: hone.loss.masked_reduce token_mean %{{.+}}, %{{.+}} : tensor<4x8xf32> -> tensor<f32>
    %r1 = hone.loss.masked_reduce token_mean %sel, %mask : tensor<4x8xf32> -> tensor<f32>
    // CHECK: hone.loss.masked_reduce seq_mean_token_mean
    %r2 = hone.loss.masked_reduce seq_mean_token_mean %sel, %mask : tensor<4x8xf32> -> tensor<f32>
    // CHECK: hone.loss.masked_reduce seq_mean_token_sum
    %r3 = hone.loss.masked_reduce seq_mean_token_sum %sel, %mask : tensor<4x8xf32> -> tensor<f32>
    // CHECK: hone.loss.masked_reduce constant %{{.+}}, %{{.+}} normaliser 3.200000e+01 : tensor<4x8xf32> -> tensor<f32>
    %r4 = hone.loss.masked_reduce constant %sel, %mask normaliser 32.0 : tensor<4x8xf32> -> tensor<f32>
    // CHECK: hone.loss.mean %{{.+}} : tensor<4xf32> -> tensor<f32>
    %r5 = hone.loss.mean %t4 : tensor<4xf32> -> tensor<f32>
    // CHECK: hone.loss.sum %{{.+}} : tensor<4xf32> -> tensor<f32>
    %r6 = hone.loss.sum %t4 : tensor<4xf32> -> tensor<f32>
    %s1 = hone.loss.add %r1, %r2 : tensor<f32>
    %s2 = hone.loss.add %s1, %r3 : tensor<f32>
    %s3 = hone.loss.add %s2, %r4 : tensor<f32>
    %s4 = hone.loss.add %s3, %r5 : tensor<f32>
    %s5 = hone.loss.add %s4, %r6 : tensor<f32>
    // CHECK: hone.loss.yield %{{.+}} : tensor<f32> metrics("kl" = %{{.+}} : tensor<f32>)
    hone.loss.yield %s5 : tensor<f32> metrics("kl" = %r1 : tensor<f32>)
  }
  hone.save %p1 "out" : !m
}
