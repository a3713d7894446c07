// RUN: hone-opt %s | hone-opt | FileCheck %s
// RUN: hone-opt %s --mlir-print-op-generic | hone-opt | FileCheck %s

/// Every stage kind round-trips through the custom and the generic form.

// CHECK-DAG: #[[ARCH:.+]] = #hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>
// CHECK-DAG: #[[LLAMA:.+]] = #hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-06, rope_theta = 1.0e+06, qkv_bias = true>
// CHECK-DAG: ![[M:.+]] = !hone.model<#[[ARCH]]>
// CHECK-DAG: ![[S:.+]] = !hone.model<#[[ARCH]], scalar>
// CHECK-DAG: ![[Q:.+]] = !hone.model<#[[LLAMA]]>
// CHECK-DAG: #[[QWEN3:.+]] = #hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 2, ffn = 64, max_seq = 32, head_dim = 16, qk_norm = true, rope_scaling = llama3, rope_factor = 8.0e+00, rope_original_max = 64>
// CHECK-DAG: ![[Q3:.+]] = !hone.model<#[[QWEN3]]>

// CHECK-LABEL: hone.pipeline @everything
// CHECK-SAME: attributes {config = {device = "cpu"}}
hone.pipeline @everything attributes {config = {device = "cpu"}} {
  // CHECK: %[[BASE:.+]] = hone.model.init {seed = 1 : i64} : ![[M]]
  %base = hone.model.init {seed = 1} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: hone.model.load "models/qwen" : ![[Q]]
  %qwen = hone.model.load "models/qwen" : !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-6, rope_theta = 1.0e6, tied = true, qkv_bias = true>>
  hone.save %qwen "qwen_copy" : !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-6, rope_theta = 1.0e6, tied = true, qkv_bias = true>>
  /// Qwen3 (head_dim, q/k norm) and Llama 3.1 RoPE scaling options.
  // CHECK: hone.model.load "models/qwen3" : ![[Q3]]
  %qwen3 = hone.model.load "models/qwen3" : !hone.model<#hone.arch<llama, vocab = 16, d_model = 32, layers = 1, heads = 4, kv_heads = 2, ffn = 64, max_seq = 32, head_dim = 16, qk_norm = true, rope_scaling = llama3, rope_factor = 8.0, rope_low_freq = 1.0, rope_original_max = 64>>

  // CHECK: %[[DEMOS:.+]] = hone.dataset "sft.jsonl" {eval_path = "sft_eval.jsonl", shuffle_seed = 3 : i64} : !hone.dataset<prompt_completion>
  %demos = hone.dataset "sft.jsonl" {eval_path = "sft_eval.jsonl", shuffle_seed = 3} : !hone.dataset<prompt_completion>
  // CHECK: %[[PAIRS:.+]] = hone.dataset "pairs.jsonl" : !hone.dataset<preference>
  %pairs = hone.dataset "pairs.jsonl" : !hone.dataset<preference>
  // CHECK: %[[UNPAIRED:.+]] = hone.dataset "kto.jsonl" : !hone.dataset<unpaired_preference>
  %unpaired = hone.dataset "kto.jsonl" : !hone.dataset<unpaired_preference>
  // CHECK: %[[PROMPTS:.+]] = hone.dataset "prompts.jsonl" {fields = {answer = "solution"}} : !hone.dataset<prompt_answer>
  %prompts = hone.dataset "prompts.jsonl" {fields = {answer = "solution"}} : !hone.dataset<prompt_answer>
  %chats = hone.dataset "chats.jsonl" : !hone.dataset<messages>
  %text = hone.dataset "corpus.jsonl" : !hone.dataset<text>
  // CHECK: hone.dataset "prompts_only.jsonl" : !hone.dataset<prompt_only>
  %only = hone.dataset "prompts_only.jsonl" : !hone.dataset<prompt_only>

  // CHECK: %[[EXACT:.+]] = hone.reward.verifier exact_match : !hone.reward
  %exact = hone.reward.verifier exact_match : !hone.reward
  // CHECK: hone.reward.verifier numeric_match {tolerance = 1.000000e-03 : f64} : !hone.reward
  %num = hone.reward.verifier numeric_match {tolerance = 1.0e-3 : f64} : !hone.reward
  // CHECK: hone.reward.verifier regex {pattern = "^[0-9]+$"} : !hone.reward
  %re = hone.reward.verifier regex {pattern = "^[0-9]+$"} : !hone.reward
  // CHECK: %[[LEN:.+]] = hone.reward.verifier length {cache_length = 4 : i64, max_length = 16 : i64} : !hone.reward
  %len = hone.reward.verifier length {max_length = 16, cache_length = 4} : !hone.reward
  // CHECK: hone.reward.external ["python3", "score.py"] {timeout_s = 5.000000e+00 : f64} : !hone.reward
  %ext = hone.reward.external ["python3", "score.py"] {timeout_s = 5.0 : f64} : !hone.reward
  // CHECK: %[[DAPOR:.+]] = hone.reward.combine %[[EXACT]], %[[LEN]] weights [1.000000e+00, 5.000000e-01] : !hone.reward
  %dapo_r = hone.reward.combine %exact, %len weights [1.0, 0.5] : !hone.reward

  // CHECK: %[[SFT:.+]] = hone.sft plain %[[BASE]], %[[DEMOS]] {batch_size = 8 : i64, hparams = {lr = 1.000000e-03 : f64}, steps = 100 : i64} : (![[M]], !hone.dataset<prompt_completion>) -> ![[M]]
  %sft = hone.sft plain %base, %demos {steps = 100, batch_size = 8, hparams = {lr = 1.0e-3 : f64}} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<prompt_completion>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: hone.sft dft %[[SFT]], %{{.+}} {batch_size = 4 : i64, steps = 10 : i64} : (![[M]], !hone.dataset<messages>) -> ![[M]]
  %dft = hone.sft dft %sft, %chats {steps = 10, batch_size = 4} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<messages>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: hone.sft iw %[[SFT]], %{{.+}} ref %[[SFT]]
  %iw = hone.sft iw %sft, %text ref %sft {steps = 10, batch_size = 4} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<text>, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>

  // CHECK: %[[RM:.+]] = hone.reward_model %[[SFT]], %[[PAIRS]] {batch_size = 8 : i64, steps = 50 : i64} : (![[M]], !hone.dataset<preference>) -> ![[S]]
  %rm = hone.reward_model %sft, %pairs {steps = 50, batch_size = 8} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<preference>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>, scalar>
  // CHECK: %[[LEARNED:.+]] = hone.reward.model %[[RM]] : ![[S]]
  %learned = hone.reward.model %rm : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>, scalar>

  // CHECK: hone.preference dpo %[[SFT]], %[[PAIRS]] ref %[[SFT]] {batch_size = 8 : i64, steps = 50 : i64}
  %dpo = hone.preference dpo %sft, %pairs ref %sft {steps = 50, batch_size = 8} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<preference>, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: hone.preference kto %[[SFT]], %[[UNPAIRED]] ref %[[SFT]]
  %kto = hone.preference kto %sft, %unpaired ref %sft {steps = 50, batch_size = 8} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<unpaired_preference>, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: hone.preference simpo %[[SFT]], %[[PAIRS]] {batch_size = 8 : i64, beta = 2.000000e+00 : f64, hparams = {gamma = 5.000000e-01 : f64}, steps = 50 : i64}
  %simpo = hone.preference simpo %sft, %pairs {steps = 50, batch_size = 8, beta = 2.0 : f64, hparams = {gamma = 0.5 : f64}} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<preference>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>

  // CHECK: %[[CRITIC:.+]] = hone.model.new_head %[[RM]] {seed = 2 : i64} : ![[S]] -> ![[S]]
  %critic = hone.model.new_head %rm {seed = 2} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>, scalar> -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>, scalar>
  // CHECK: %[[PPO:[^ ]+]], %{{[^ ]+}} = hone.rl ppo %[[SFT]], %[[PROMPTS]] reward %[[LEARNED]] ref %[[SFT]] critic %[[CRITIC]] {batch_size = 8 : i64, kl_coef = 5.000000e-02 : f64, steps = 20 : i64} : (![[M]], !hone.dataset<prompt_answer>, !hone.reward, ![[M]], ![[S]]) -> (![[M]], ![[S]])
  %ppo:2 = hone.rl ppo %sft, %prompts reward %learned ref %sft critic %critic {steps = 20, batch_size = 8, kl_coef = 0.05 : f64} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<prompt_answer>, !hone.reward, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>, scalar>) -> (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>, scalar>)
  // CHECK: %[[GRPO:.+]] = hone.rl grpo %[[SFT]], %[[PROMPTS]] reward %[[EXACT]] ref %[[SFT]] {batch_size = 16 : i64, group_size = 4 : i64, kl_coef = 4.000000e-02 : f64, steps = 20 : i64}
  %grpo = hone.rl grpo %sft, %prompts reward %exact ref %sft {steps = 20, batch_size = 16, group_size = 4, kl_coef = 0.04 : f64} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<prompt_answer>, !hone.reward, !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: hone.rl dapo %[[SFT]], %[[PROMPTS]] reward %[[DAPOR]] {batch_size = 16 : i64, group_size = 8 : i64, hparams = {clip_high = 2.800000e-01 : f64}, steps = 20 : i64}
  %dapo = hone.rl dapo %sft, %prompts reward %dapo_r {steps = 20, batch_size = 16, group_size = 8, hparams = {clip_high = 0.28 : f64}} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<prompt_answer>, !hone.reward) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: hone.rl rloo %[[SFT]], %[[PROMPTS]] reward %{{.+}} {batch_size = 8 : i64, group_size = 2 : i64, steps = 5 : i64}
  %rloo = hone.rl rloo %sft, %prompts reward %num {steps = 5, batch_size = 8, group_size = 2} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<prompt_answer>, !hone.reward) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: hone.rl remax %[[SFT]], %{{.+}} reward %{{.+}} {batch_size = 4 : i64, steps = 5 : i64}
  %remax = hone.rl remax %sft, %chats reward %ext {steps = 5, batch_size = 4} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<messages>, !hone.reward) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  // CHECK: %[[CHORD:.+]] = hone.rl grpo hybrid(chord) %[[SFT]], %[[PROMPTS]] reward %[[EXACT]] demos %[[DEMOS]] {batch_size = 8 : i64, group_size = 4 : i64, hparams = {mu_start = 5.000000e-01 : f64}, steps = 10 : i64}
  %chord = hone.rl grpo hybrid(chord) %sft, %prompts reward %exact demos %demos {steps = 10, batch_size = 8, group_size = 4, hparams = {mu_start = 0.5 : f64}} : (!hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>

  // CHECK: hone.eval %[[CHORD]], %[[PROMPTS]] reward %[[EXACT]] {name = "final"} : ![[M]], !hone.dataset<prompt_answer>
  hone.eval %chord, %prompts reward %exact {name = "final"} : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>, !hone.dataset<prompt_answer>
  // CHECK: hone.eval %[[RM]], %[[PAIRS]] : ![[S]], !hone.dataset<preference>
  hone.eval %rm, %pairs : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>, scalar>, !hone.dataset<preference>
  // CHECK: hone.save %[[PPO]] "ppo_policy" : ![[M]]
  hone.save %ppo#0 "ppo_policy" : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
  hone.save %grpo "grpo" : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 2, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32>>
}
