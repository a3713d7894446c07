// RUN: hone-opt --allow-unregistered-dialect %s | hone-opt --allow-unregistered-dialect | FileCheck %s
// RUN: hone-opt --allow-unregistered-dialect %s --mlir-print-op-generic | hone-opt --allow-unregistered-dialect | FileCheck %s

/// Every step-level op round-trips through the custom and the generic form.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

// CHECK-LABEL: hone.pipeline @steps
hone.pipeline @steps {
  %p = hone.model.init "p" {seed = 0 : i64} : !m
  %critic = hone.model.new_head "critic" %p {seed = 0 : i64} : !m -> !s
  %prompts = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %pairs = hone.dataset "pairs.jsonl" : !hone.dataset<preference>
  %kto = hone.dataset "kto.jsonl" : !hone.dataset<unpaired_preference>
  %demos = hone.dataset "d.jsonl" : !hone.dataset<prompt_completion>
  %r = hone.reward.verifier exact_match : !hone.reward
  %step = arith.constant 3 : index
  // CHECK: hone.schedule warmup_cosine %{{.+}} {end = 5.000000e-02 : f64, start = 5.000000e-01 : f64, total = 100 : i64, warmup = 10 : i64} : tensor<f32>
  %mu = hone.schedule warmup_cosine %step {start = 0.5, end = 0.05, warmup = 10, total = 100} : tensor<f32>
  // CHECK: hone.data.next sequences %{{.+}}, %{{.+}} {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xi64>
  %dt, %dm, %did = hone.data.next sequences %demos, %step {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xi64>
  // CHECK: hone.data.next pairs
  %cw, %mw, %cl, %ml, %pid = hone.data.next pairs %pairs, %step {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<preference> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xi64>
  // CHECK: hone.data.next labelled
  %kt, %km, %kl, %kmt, %kmm, %kid = hone.data.next labelled %kto, %step {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<unpaired_preference> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xf32>, tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xi64>
  // CHECK: %[[P:.+]]:3 = hone.data.next prompts
  %pt, %pm, %ids = hone.data.next prompts %prompts, %step {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x4xi32>, tensor<2x4xf32>, tensor<2xi64>
  // CHECK: hone.data.fetch %{{.+}}[%[[P]]#2] {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion>, tensor<2xi64> -> tensor<2x8xi32>, tensor<2x8xf32>
  %ft, %fm = hone.data.fetch %demos[%ids] {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_completion>, tensor<2xi64> -> tensor<2x8xi32>, tensor<2x8xf32>
  // CHECK: hone.generate %{{.+}}, %[[P]]#0, %[[P]]#1, %{{.+}} {greedy = false, hint_is_fraction = false, mask_truncated = false, n = 2 : i64, off_policy = 0 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64}
  %gt, %gm, %gl = hone.generate %p, %pt, %pm, %step {n = 2, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x4xi32>, tensor<2x4xf32>, index) -> (tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>)
  // CHECK: hone.generate {{.+}} demos {{.+}} {{{.*}}n = 2 : i64, off_policy = 1 : i64{{.*}}}
  %lt, %lm, %ll, %off = hone.generate %p, %pt, %pm, %step demos %ft, %fm {n = 2, off_policy = 1, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x4xi32>, tensor<2x4xf32>, index, tensor<2x8xi32>, tensor<2x8xf32>) -> (tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4xf32>)
  // CHECK: hone.generate {{.+}} hint %{{.+}} {{{.*}}n = 2 : i64{{.*}}}
  %ut, %um, %ul, %uh = hone.generate %p, %pt, %pm, %step demos %ft, %fm hint %mu {n = 2, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : (!m, tensor<2x4xi32>, tensor<2x4xf32>, index, tensor<2x8xi32>, tensor<2x8xf32>, tensor<f32>) -> (tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
  // CHECK: hone.logprob %{{.+}}, %{{.+}} {entropy} : !model, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
  %lp, %ent = hone.logprob %p, %gt {entropy} : !m, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
  // CHECK: hone.logprob %{{.+}}, %{{.+}}, %{{.+}} {entropy} : !model, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
  %lp2:4 = hone.logprob %p, %gt, %lt {entropy} : !m, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
  // CHECK: hone.value %{{.+}}, %{{.+}} : !scalar_model, tensor<4x8xi32> -> tensor<4x8xf32>
  %v = hone.value %critic, %gt : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  // CHECK: hone.value %{{.+}}, %{{.+}} last %{{.+}} : !scalar_model, tensor<4x8xi32>, tensor<4x8xf32> -> tensor<4xf32>
  %vl = hone.value %critic, %gt last %gm : !s, tensor<4x8xi32>, tensor<4x8xf32> -> tensor<4xf32>
  // Packed (hone-pack-sequences): a mask per token batch.
  // CHECK: hone.logprob %{{.+}}, %{{.+}}, %{{.+}} packed(%{{.+}}, %{{.+}} : tensor<4x8xf32>, tensor<4x8xf32>) : !model, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
  %lp3:2 = hone.logprob %p, %gt, %lt packed(%gm, %gm : tensor<4x8xf32>, tensor<4x8xf32>) : !m, tensor<4x8xi32>, tensor<4x8xi32> -> tensor<4x8xf32>, tensor<4x8xf32>
  // CHECK: hone.value %{{.+}}, %{{.+}} packed(%{{.+}} : tensor<4x8xf32>) : !scalar_model, tensor<4x8xi32> -> tensor<4x8xf32>
  %vp = hone.value %critic, %gt packed(%gm : tensor<4x8xf32>) : !s, tensor<4x8xi32> -> tensor<4x8xf32>
  %gids = "test.ids"() : () -> tensor<4xi64>
  // CHECK: hone.score %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<4x8xi32>, tensor<4x8xf32>, tensor<4xi64> -> tensor<4xf32>
  %score = hone.score %r, %gt, %gm, %gids : tensor<4x8xi32>, tensor<4x8xf32>, tensor<4xi64> -> tensor<4xf32>
  // CHECK: hone.shape_reward token_kl
  %rt = hone.shape_reward token_kl %score, %gm, %gl, %lp {kl_coef = 0.05} : tensor<4xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  // CHECK: hone.shape_reward seq_kl
  %rs = hone.shape_reward seq_kl %score, %gm, %gl, %lp {kl_coef = 0.05} : tensor<4xf32>, tensor<4x8xf32> -> tensor<4xf32>
  // CHECK: hone.advantage gae
  %adv, %ret = hone.advantage gae %rt, %gm, %v {gamma = 1.0, lambda = 0.95, group_size = 1 : i64, eps = 1.000000e-06 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>)
  // CHECK: hone.advantage group_norm %{{.+}} {eps = 9.9999999999999995E-7 : f64, gamma = 1.000000e+00 : f64, group_size = 2 : i64, lambda = 0.94999999999999996 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  %a1 = hone.advantage group_norm %score {group_size = 2, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK: hone.advantage group_center
  %a2 = hone.advantage group_center %score {group_size = 2, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK: hone.advantage leave_one_out
  %a3 = hone.advantage leave_one_out %rs {group_size = 2, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<4xf32>) -> tensor<4xf32>
  // CHECK: hone.advantage greedy_baseline
  %a4 = hone.advantage greedy_baseline %score, %vl {group_size = 1 : i64, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  // CHECK: hone.advantage global_norm
  %a5 = hone.advantage global_norm %rt, %gm {group_size = 1 : i64, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  // CHECK: hone.group_accuracy %{{.+}} {group_size = 2 : i64, threshold = 5.000000e-01 : f64} : tensor<4xf32> -> tensor<2xf32>, tensor<4xf32>
  %accp, %accs = hone.group_accuracy %score {group_size = 2, threshold = 5.000000e-01 : f64} : tensor<4xf32> -> tensor<2xf32>, tensor<4xf32>
  // CHECK: hone.group_filter %{{.+}}(%{{.+}}, %{{.+}}) {group_size = 2 : i64, threshold = 5.000000e-01 : f64} : tensor<4xf32>, tensor<4x8xi32>, tensor<4x8xf32> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xf32>
  %kt2, %km2, %valid = hone.group_filter %score (%gt, %gm) {group_size = 2, threshold = 5.000000e-01 : f64} : tensor<4xf32>, tensor<4x8xi32>, tensor<4x8xf32> -> tensor<2x8xi32>, tensor<2x8xf32>, tensor<2xf32>
  // CHECK: hone.buffer.init : !hone.buffer<8>
  %b0 = hone.buffer.init : !hone.buffer<8>
  // CHECK: hone.buffer.push
  %b1 = hone.buffer.push %b0, %ids, %accp : !hone.buffer<8>, tensor<2xi64>, tensor<2xf32>
  // CHECK: hone.buffer.pop %{{.+}} : !hone.buffer<8> -> tensor<2xi64>
  %b2, %popped, %ready = hone.buffer.pop %b1 : !hone.buffer<8> -> tensor<2xi64>
  // CHECK: hone.train_step(%{{.+}}, %{{.+}}) tokens(%{{.+}}, %{{.+}}) inputs(%{{.+}}, %{{.+}}) {arg_names = ["l", "v", "mask", "ret"], epochs = 2 : i64, mini_batches = 1 : i64, optimizer = #hone.optimizer<lr = 1.0e-03, {{.*}}>, readers = array<i64: 0, 1>, reads = ["logprob", "value"], updates = 1 : i64}
  %p1, %c1, %loss = hone.train_step (%p, %critic) tokens(%gt, %gt) inputs(%gm, %ret) {readers = array<i64: 0, 1>, reads = ["logprob", "value"], arg_names = ["l", "v", "mask", "ret"], epochs = 2, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, mini_batches = 1 : i64, updates = 1 : i64} : (!m, !s, tensor<4x8xi32>, tensor<4x8xi32>, tensor<4x8xf32>, tensor<4x8xf32>) -> (!m, !s, tensor<f32>) objective {
  ^bb0(%l: tensor<4x8xf32>, %val: tensor<4x8xf32>, %mask: tensor<4x8xf32>, %rets: tensor<4x8xf32>):
    %d = hone.loss.sub %val, %rets : tensor<4x8xf32>
    %d2 = hone.loss.mul %d, %d : tensor<4x8xf32>
    %nl = hone.loss.sub %d2, %l : tensor<4x8xf32>
    %out = hone.loss.masked_reduce token_mean %nl, %mask : tensor<4x8xf32> -> tensor<f32>
    hone.loss.yield %out : tensor<f32>
  }
  // CHECK: hone.sync_weights %{{.+}} : !model
  hone.sync_weights %p1 : !m
  // CHECK: hone.eval_step %{{.+}}, %{{.+}} reward %{{.+}} {name = "final", settings = #hone.eval_settings<every_steps = 0, {{.*}}>} : !model, !hone.dataset<prompt_answer>
  hone.eval_step %p1, %prompts reward %r {name = "final", settings = #hone.eval_settings<every_steps = 0, max_records = 0, generation = <max_new_tokens = 16, temperature = 0.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>>} : !m, !hone.dataset<prompt_answer>
}
