// RUN: hone-opt --allow-unregistered-dialect %s --hone-differentiate | FileCheck %s

/// The derivative of each loss op: every train step isolates one op; the
/// gradient region holds the decomposed objective, then its adjoint.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @d {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  %x0 = "test.x"() : () -> tensor<2x4xf64>
  %m0 = "test.mask"() : () -> tensor<2x4xf64>
  // CHECK-LABEL: kernel = "exp"
  %exp:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "exp", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.exp %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.exp
  // CHECK: hone.loss.mul
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "log"
  %log:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "log", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.log %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.div
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "neg"
  %neg:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "neg", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.neg %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.neg
  // CHECK: hone.loss.neg
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "sigmoid"
  %sigmoid:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "sigmoid", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.sigmoid %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.sub
  // CHECK: hone.loss.mul
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "log_sigmoid"
  %log_sigmoid:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "log_sigmoid", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.log_sigmoid %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.neg
  // CHECK: hone.loss.sigmoid
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "sqrt"
  %sqrt:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "sqrt", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.sqrt %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.const 2.000000e+00
  // CHECK: hone.loss.div
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "stop_gradient"
  %stop_gradient:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "stop_gradient", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %s = hone.loss.stop_gradient %l : tensor<2x4xf64>
    %y = hone.loss.mul %s, %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.mul %{{.+}}, %[[SG:.+]] : tensor<2x4xf64>
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "add"
  %add:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "add", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.add %l, %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.add
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "sub"
  %sub:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "sub", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.sub %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.sub
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "mul"
  %mul:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "mul", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.mul %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.mul
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "div"
  %div:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "div", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.div %x, %l : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.div
  // CHECK: hone.loss.mul
  // CHECK: hone.loss.neg
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "min"
  %min:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "min", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.min %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.cmp le
  // CHECK: hone.loss.select
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "max"
  %max:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "max", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.max %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.cmp ge
  // CHECK: hone.loss.select
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "clamp"
  %clamp:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "clamp", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.clamp %l min -1.0 max -0.5 : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.cmp ge
  // CHECK: hone.loss.cmp le
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "select"
  %select:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "select", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %c = hone.loss.cmp gt %x, %l : tensor<2x4xf64>
    %y = hone.loss.select %c, %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.select
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "ratio"
  %ratio:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "ratio", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.ratio %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.sub
  // CHECK: hone.loss.exp
  // CHECK: hone.loss.mul
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "kl_k1"
  %kl_k1:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "kl_k1", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.kl k1 %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.sub
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "kl_k2"
  %kl_k2:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "kl_k2", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.kl k2 %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.const 5.000000e-01
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "kl_k3"
  %kl_k3:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "kl_k3", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %y = hone.loss.kl k3 %l, %x : tensor<2x4xf64>
    %loss = hone.loss.sum %y : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.exp
  // CHECK: hone.loss.neg
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "seq_sum"
  %seq_sum:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "seq_sum", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %s = hone.loss.seq_sum %l mask %m : tensor<2x4xf64> -> tensor<2xf64>
    %loss = hone.loss.sum %s : tensor<2xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.broadcast %{{.+}} : tensor<2xf64> to tensor<2x4xf64>
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "seq_mean"
  %seq_mean:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "seq_mean", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %s = hone.loss.seq_mean %l mask %m : tensor<2x4xf64> -> tensor<2xf64>
    %loss = hone.loss.mean %s : tensor<2xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.max
  // CHECK: hone.loss.broadcast %{{.+}} : tensor<2xf64> to tensor<2x4xf64>
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "token_mean"
  %token_mean:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "token_mean", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %loss = hone.loss.masked_reduce token_mean %l, %m : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.broadcast %{{.+}} : tensor<f64> to tensor<2x4xf64>
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "seq_mean_token_mean"
  %seq_mean_token_mean:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "seq_mean_token_mean", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %loss = hone.loss.masked_reduce seq_mean_token_mean %l, %m : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.broadcast %{{.+}} : tensor<f64> to tensor<2xf64>
  // CHECK: hone.loss.broadcast %{{.+}} : tensor<2xf64> to tensor<2x4xf64>
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "seq_mean_token_sum"
  %seq_mean_token_sum:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "seq_mean_token_sum", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %loss = hone.loss.masked_reduce seq_mean_token_sum %l, %m : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.const 2.000000e+00 : tensor<f64>
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "constant"
  %constant:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "constant", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %loss = hone.loss.masked_reduce constant %l, %m normaliser 8.0 : tensor<2x4xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.const 8.000000e+00 : tensor<f64>
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "group_mean"
  %group_mean:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "group_mean", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %s = hone.loss.seq_sum %l : tensor<2x4xf64> -> tensor<2xf64>
    %g = hone.loss.group_mean %s {group_size = 2} : tensor<2xf64>
    %q = hone.loss.mul %g, %g : tensor<2xf64>
    %loss = hone.loss.sum %q : tensor<2xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.group_mean
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
  // CHECK-LABEL: kernel = "group_std"
  %group_std:2 = hone.train_step (%p) tokens(%t) inputs(%x0, %m0) {readers = array<i64: 0>, reads = ["logprob"], kernel = "group_std", optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, epochs = 1 : i64, mini_batches = 1 : i64, updates = 1 : i64} : (!m, tensor<2x4xi32>, tensor<2x4xf64>, tensor<2x4xf64>) -> (!m, tensor<f64>) objective {
  ^bb0(%l: tensor<2x4xf64>, %x: tensor<2x4xf64>, %m: tensor<2x4xf64>):
    %s = hone.loss.seq_sum %l : tensor<2x4xf64> -> tensor<2xf64>
    %g = hone.loss.group_std %s {group_size = 2} : tensor<2xf64>
    %loss = hone.loss.sum %g : tensor<2xf64> -> tensor<f64>
    hone.loss.yield %loss : tensor<f64>
  }
  // CHECK: gradient {
  // CHECK: hone.loss.sqrt
  // CHECK: hone.loss.group_mean
  // CHECK: hone.loss.yield %{{.+}} : tensor<f64> grads(%{{.+}} : tensor<2x4xf64>)
}
