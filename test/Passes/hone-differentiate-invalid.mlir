// RUN: hone-opt --allow-unregistered-dialect %s -split-input-file -verify-diagnostics --pass-pipeline="builtin.module(hone.pipeline(hone-expand-stages),hone-differentiate)"

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8>>

/// an op outside the loss algebra cannot be differentiated

hone.pipeline @p {
  %p = hone.model.init : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  // expected-note@+1 {{in the objective of this train step}}
  %r:2 = hone.train_step (%p) tokens(%t) {readers = array<i64: 0>, reads = ["logprob"]} : (!m, tensor<2x4xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<2x4xf32>):
    // expected-error@+1 {{cannot differentiate 'test.square'}}
    %y = "test.square"(%l) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %s = hone.loss.sum %y : tensor<2x4xf32> -> tensor<f32>
    hone.loss.yield %s : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8>>

/// a loss cut off from the model by stop_gradient trains nothing

hone.pipeline @p {
  %p = hone.model.init : !m
  %t = "test.tokens"() : () -> tensor<2x4xi32>
  // expected-error@+1 {{the loss does not depend on any model output}}
  %r:2 = hone.train_step (%p) tokens(%t) {readers = array<i64: 0>, reads = ["logprob"]} : (!m, tensor<2x4xi32>) -> (!m, tensor<f32>) objective {
  ^bb0(%l: tensor<2x4xf32>):
    %y = hone.loss.stop_gradient %l : tensor<2x4xf32>
    %s = hone.loss.sum %y : tensor<2x4xf32> -> tensor<f32>
    hone.loss.yield %s : tensor<f32>
  }
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8>>

/// hybrids expand on a group-based algorithm

!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8>, scalar>
hone.pipeline @p {
  %0 = hone.model.init : !m
  %pr = hone.dataset "p.jsonl" : !hone.dataset<prompt_answer>
  %sd = hone.dataset "d.jsonl" : !hone.dataset<prompt_completion>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{hybrid is expanded on a group-based algorithm}}
  %x = hone.rl remax hybrid(chord) %0, %pr reward %r demos %sd {batch_size = 4 : i64, steps = 2 : i64} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
}
