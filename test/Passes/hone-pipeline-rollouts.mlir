// RUN: hone-opt %s -split-input-file -verify-diagnostics --pass-pipeline='builtin.module(hone.pipeline(hone-expand-stages,hone-schedule-stages,hone-pipeline-rollouts))' | FileCheck %s

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// GRPO with staleness 1 over 4 steps: a copy of the policy generates; the
/// prologue generates step 0's batch, the steady loop (steps 0..2) generates
/// step i+1's batch while step i learns from the carried one, syncs the copy
/// and hands the new batch on; the epilogue learns step 3 without
/// generating. The ratio's l_old is the generating weights' log-probs,
/// carried with the tokens (the behaviour policy).
// CHECK-LABEL: hone.pipeline @grpo_staleness_1
// CHECK: %[[FIRST:.+]] = hone.exec.stage_begin "stage0" steps 4 {staleness = 1 : i64}
// CHECK: %[[ROLL:.+]] = hone.exec.snapshot %[[INIT:[^ ]+]] {{.*}}hone.rollout_weights
// CHECK: %[[P0:.+]]:3 = hone.data.next prompts %{{.+}}, %[[FIRST]] {{.*}}hone.stage_part = "prologue"
// CHECK: %[[G0:.+]]:3 = hone.generate %[[ROLL]], %[[P0]]#0, %[[P0]]#1, %[[FIRST]] {{.*}}hone.stage_part = "prologue"
// CHECK: %[[S0:.+]] = hone.score {{.*}}hone.stage_part = "prologue"
// CHECK: %[[RES:.+]]:4 = hone.exec.rollouts_resume %[[G0]]#0, %[[G0]]#1, %[[G0]]#2, %[[S0]]
// CHECK: %[[C3:.+]] = arith.constant 3 : index
// CHECK: %[[LOOP:.+]]:5 = scf.for %[[I:.+]] = %[[FIRST]] to %[[C3]] step %{{.+}} iter_args(%[[P:[^ ]+]] = %[[INIT]], %[[TOK:[^ ]+]] = %[[RES]]#0, %[[MASK:[^ ]+]] = %[[RES]]#1, %[[LOLD:[^ ]+]] = %[[RES]]#2, %[[SC:[^ ]+]] = %[[RES]]#3)
// CHECK: %[[NEXT:.+]] = arith.addi %[[I]], %{{.+}} : index
// CHECK: hone.data.next prompts %{{.+}}, %[[NEXT]] {assistant_only_loss = true, completion_only_loss = true, hone.ahead = 1 : i64}
// CHECK: %[[G:.+]]:3 = hone.generate %[[ROLL]], %{{.+}}, %{{.+}}, %[[NEXT]] {{{.*}}hone.ahead = 1 : i64
// CHECK: %[[S:.+]] = hone.score %{{.+}}, %[[G]]#0, %[[G]]#1, %{{.+}} {hone.ahead = 1 : i64}
// CHECK: %[[ADV:.+]] = hone.advantage group_norm %[[SC]]
// CHECK: %[[T:.+]]:3 = hone.train_step(%[[P]]) tokens(%[[TOK]]) inputs(%[[MASK]], %[[LOLD]], %[[ADV]])
// CHECK-SAME: arg_names = ["l", "mask", "l_old", "adv"]
// CHECK: hone.sync_weights %[[T]]#0 to %[[ROLL]]
// CHECK: hone.exec.rollouts_in_flight %[[G]]#0, %[[G]]#1, %[[G]]#2, %[[S]]
// CHECK-NEXT: hone.exec.step_end %[[I]]
// CHECK-NEXT: scf.yield %[[T]]#0, %[[G]]#0, %[[G]]#1, %[[G]]#2, %[[S]]
// CHECK: hone.pipelined = 1 : i64
// CHECK: %[[FROM:.+]] = arith.maxsi %[[FIRST]], %{{.+}} : index
// CHECK: %[[EPI:.+]]:5 = scf.for %[[E:.+]] = %[[FROM]] to %{{.+}} step %{{.+}} iter_args(%[[EP:[^ ]+]] = %[[LOOP]]#0, %[[ET:[^ ]+]] = %[[LOOP]]#1, %[[EM:[^ ]+]] = %[[LOOP]]#2, %[[EL:[^ ]+]] = %[[LOOP]]#3, %[[ES:[^ ]+]] = %[[LOOP]]#4)
// CHECK: %[[EADV:.+]] = hone.advantage group_norm %[[ES]]
// CHECK: %[[ET2:.+]]:3 = hone.train_step(%[[EP]]) tokens(%[[ET]]) inputs(%[[EM]], %[[EL]], %[[EADV]])
// CHECK-NOT: hone.sync_weights
// CHECK: hone.exec.rollouts_in_flight %[[ET]], %[[EM]], %[[EL]], %[[ES]]
// CHECK-NEXT: hone.exec.step_end %[[E]]
// CHECK-NEXT: scf.yield %[[ET2]]#0, %[[ET]], %[[EM]], %[[EL]], %[[ES]]
// CHECK: hone.stage_part = "epilogue"
// CHECK: hone.exec.stage_end
// CHECK: hone.save %[[EPI]]#0 "out"
hone.pipeline @grpo_staleness_1 {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 4 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 1>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
  hone.save %g "out" : !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Truncated importance sampling with staleness 2: two slot sets, shifted
/// each step (slot 1 into slot 0, the new batch into slot 1). The ratio is
/// the learner's log-probs over its own before the update (l_old, taken
/// again on the learn side), and the generator's carried log-probs weigh
/// each token as l_rollout, capped at 2.
// CHECK-LABEL: hone.pipeline @tis_staleness_2
// CHECK: %[[ROLL:.+]] = hone.exec.snapshot {{.*}}hone.rollout_weights
// CHECK: %[[G0:.+]]:3 = hone.generate %[[ROLL]]{{.*}}hone.stage_part = "prologue"
// CHECK: %[[G1:.+]]:3 = hone.generate %[[ROLL]]{{.*}}hone.ahead = 1 : i64{{.*}}hone.stage_part = "prologue"
// CHECK: %[[RES:.+]]:8 = hone.exec.rollouts_resume %[[G0]]#0, %[[G0]]#1, %[[G0]]#2, %{{[^,]+}}, %[[G1]]#0, %[[G1]]#1, %[[G1]]#2, %{{[^ ]+}} :
// CHECK: scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[P:[^ ]+]] = %{{[^,]+}}, %[[T0:[^ ]+]] = %[[RES]]#0, %[[M0:[^ ]+]] = %[[RES]]#1, %[[R0:[^ ]+]] = %[[RES]]#2, %{{[^,]+}}, %[[T1:[^ ]+]] = %[[RES]]#4, %[[M1:[^ ]+]] = %[[RES]]#5, %[[R1:[^ ]+]] = %[[RES]]#6, %[[S1:[^ ]+]] = %[[RES]]#7)
// CHECK: %[[G:.+]]:3 = hone.generate %[[ROLL]]{{.*}}hone.ahead = 2 : i64
// CHECK: %[[LOLD:.+]] = hone.logprob %[[P]], %[[T0]]
// CHECK: hone.train_step(%[[P]]) tokens(%[[T0]])
// CHECK-SAME: inputs(%[[M0]], %[[LOLD]], %{{[^,]+}}, %{{[^,]+}}, %[[R0]])
// CHECK-SAME: arg_names = ["l", "mask", "l_old", "adv", "l_ref", "l_rollout"]
// CHECK: hone.loss.clamp %{{.*}} max 2.0
// CHECK: hone.exec.rollouts_in_flight %[[T1]], %[[M1]], %[[R1]], %[[S1]], %[[G]]#0, %[[G]]#1, %[[G]]#2, %{{[^ ]+}} :
// CHECK: scf.yield %{{[^,]+}}, %[[T1]], %[[M1]], %[[R1]], %[[S1]], %[[G]]#0, %[[G]]#1, %[[G]]#2
// CHECK: hone.stage_part = "epilogue"
hone.pipeline @tis_staleness_2 {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %t = hone.rl grpo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 5 : i64, kl_coef = 0.04 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 2>, policy_loss = #hone.policy_loss<kind = clip, dual_clip = 0.0, tis_cap = 2.0, tau_pos = 1.0, tau_neg = 1.05>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// A staleness not below the stage's steps leaves nothing to overlap.
hone.pipeline @too_stale {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  // expected-error@+1 {{hone-pipeline-rollouts: staleness 3 leaves no step that learns while generating: the stage has 3 steps}}
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 3 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 3>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

/// Staleness 0 keeps the exact on-policy loop.
// CHECK-LABEL: hone.pipeline @on_policy
// CHECK-NOT: hone.rollout_weights
// CHECK: hone.generate %[[P:[^,]+]],
// CHECK-NOT: hone.stage_part
// CHECK: hone.sync_weights %{{[^ ]+}} {{.*}}: !model{{$}}
hone.pipeline @on_policy {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %g = hone.rl grpo %0, %pr reward %r {batch_size = 4 : i64, group_size = 2 : i64, steps = 3 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 0>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// PPO with staleness 1: the critic stays on the learning side (its value
/// pass reads the carried tokens), the generate reads the rollout copy and
/// its log-probs are the ratio's l_old; the copy gets the new actor.
// CHECK-LABEL: hone.pipeline @ppo_staleness_1
// CHECK: %[[ROLL:.+]] = hone.exec.snapshot {{.*}}hone.rollout_weights
// CHECK: %[[G0:.+]]:3 = hone.generate %[[ROLL]]{{.*}}hone.stage_part = "prologue"
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[P:[^ ]+]] = %{{[^,]+}}, %[[C:[^ ]+]] = %{{[^,]+}}, %[[TOK:[^ ]+]] = %{{[^,]+}}, %[[MASK:[^ ]+]] = %{{[^,]+}}, %[[LOLD:[^ ]+]] = %{{[^,]+}}, %{{[^ ]+}} = %{{[^)]+}})
// CHECK: %[[G:.+]]:3 = hone.generate %[[ROLL]]{{.*}}hone.ahead = 1 : i64
// CHECK: hone.value %[[C]], %[[TOK]]
// CHECK: %[[T:[^ ]+]]:7 = hone.train_step(%[[P]], %[[C]]) tokens(%[[TOK]], %[[TOK]]) inputs(%[[MASK]], %[[LOLD]],
// CHECK: hone.sync_weights %[[T]]#0 to %[[ROLL]]
// CHECK: scf.yield %[[T]]#0, %[[T]]#1, %[[G]]#0, %[[G]]#1, %[[G]]#2
hone.pipeline @ppo_staleness_1 {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %sd = hone.dataset "sft.jsonl" : !hone.dataset<prompt_completion>
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %c = hone.model.new_head "c" %0 {seed = 0 : i64} : !m -> !s
  %ppo:2 = hone.rl ppo %0, %pr reward %r ref %0 critic %c {batch_size = 4 : i64, steps = 3 : i64, kl_coef = 0.05 : f64, group_size = 1 : i64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 4, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 1>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m, !s) -> (!m, !s)
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// RLOO with staleness 1: REINFORCE weighted by the importance ratio
/// against the behaviour policy (l_old, the generator's log-probs), no clip.
// CHECK-LABEL: hone.pipeline @rloo_staleness_1
// CHECK: scf.for %{{.+}} iter_args(%[[P:[^ ]+]] = %{{[^,]+}}, %[[TOK:[^ ]+]] = %{{[^,]+}}, %[[MASK:[^ ]+]] = %{{[^,]+}}, %[[LOLD:[^ ]+]] = %{{[^,]+}},
// CHECK: hone.train_step(%[[P]]) tokens(%[[TOK]]) inputs(%[[MASK]], %[[LOLD]],
// CHECK-SAME: arg_names = ["l", "mask", "l_old", "adv"]
// CHECK: hone.loss.ratio
// CHECK-NOT: hone.loss.clamp
// CHECK: hone.sync_weights
hone.pipeline @rloo_staleness_1 {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %sd = hone.dataset "sft.jsonl" : !hone.dataset<prompt_completion>
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %rloo = hone.rl rloo %0, %pr reward %r ref %0 {batch_size = 4 : i64, group_size = 2 : i64, steps = 3 : i64, kl_coef = 0.05 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 1>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !m) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// ReMax with staleness 1: the sampled and the greedy decode (the baseline)
/// both run ahead on the rollout copy; both scores are carried.
// CHECK-LABEL: hone.pipeline @remax_staleness_1
// CHECK: %[[ROLL:.+]] = hone.exec.snapshot {{.*}}hone.rollout_weights
// CHECK: hone.generate %[[ROLL]]{{.*}}greedy = false{{.*}}hone.stage_part = "prologue"
// CHECK: hone.generate %[[ROLL]]{{.*}}greedy = true{{.*}}hone.stage_part = "prologue"
// CHECK: scf.for
// CHECK: hone.generate %[[ROLL]]{{.*}}greedy = false{{.*}}hone.ahead = 1 : i64
// CHECK: hone.generate %[[ROLL]]{{.*}}greedy = true{{.*}}hone.ahead = 1 : i64
// CHECK: hone.advantage greedy_baseline
// CHECK: hone.sync_weights %{{.+}} to %[[ROLL]]
hone.pipeline @remax_staleness_1 {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %sd = hone.dataset "sft.jsonl" : !hone.dataset<prompt_completion>
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %remax = hone.rl remax %0, %pr reward %r {batch_size = 4 : i64, steps = 3 : i64, group_size = 1 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k1, kl_placement = in_reward, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 1>} : (!m, !hone.dataset<prompt_answer>, !hone.reward) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// UFT with staleness 1: the demonstrations are fetched with the prompts and
/// the hint schedule is evaluated at the step being generated (i + 1), on
/// the rollout side; learning reads the carried hint mask.
// CHECK-LABEL: hone.pipeline @uft_staleness_1
// CHECK: scf.for %[[I:[^ ]+]] =
// CHECK: %[[NEXT:.+]] = arith.addi %[[I]], %{{.+}} : index
// CHECK: hone.data.next prompts %{{.+}}, %[[NEXT]]
// CHECK: hone.data.fetch {{.*}}hone.ahead = 1 : i64
// CHECK: hone.schedule cosine %[[NEXT]]
// CHECK: hone.generate {{.*}}hone.ahead = 1 : i64
// CHECK: hone.train_step
// CHECK-SAME: "mask_hint"
hone.pipeline @uft_staleness_1 {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %sd = hone.dataset "sft.jsonl" : !hone.dataset<prompt_completion>
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %uft = hone.rl grpo hybrid(uft) %0, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 3 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 1>, guidance = #hone.uft<hint_fraction = <shape = cosine, start = 1.0e+00, end = 0.0e+00, steps = 2, warmup_steps = 0>, sft_coef = 1.0e+00>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
}

// -----

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
!s = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 8, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>, scalar>

/// ReLIFT with staleness 1: the copy is refreshed with the policy after the
/// buffered SFT steps (the scf.if's result), not the RL update's.
// CHECK-LABEL: hone.pipeline @relift_staleness_1
// CHECK: %[[ROLL:.+]] = hone.exec.snapshot {{.*}}hone.rollout_weights
// CHECK: scf.for
// CHECK: hone.train_step
// CHECK-NOT: hone.sync_weights
// CHECK: %[[IF:.+]] = scf.if
// CHECK: hone.sync_weights %[[IF]] to %[[ROLL]]
// CHECK-NEXT: hone.exec.rollouts_in_flight
// CHECK: hone.pipelined = 1
hone.pipeline @relift_staleness_1 {
  %0 = hone.model.init "policy" {seed = 0 : i64} : !m
  %sd = hone.dataset "sft.jsonl" : !hone.dataset<prompt_completion>
  %pr = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
  %r = hone.reward.verifier exact_match : !hone.reward
  %relift = hone.rl grpo hybrid(relift) %0, %pr reward %r demos %sd {batch_size = 4 : i64, group_size = 2 : i64, steps = 3 : i64, kl_coef = 0.0 : f64, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, generation = #hone.generation<max_new_tokens = 4, temperature = 1.0e+00, top_k = 0, top_p = 1.0e+00, stop = []>, settings = #hone.rl_settings<grad_accum = 1, max_prompt_length = 4, kl_estimator = k3, kl_placement = in_loss, epsilon = 2.0e-01, epsilon_high = 2.0e-01, ppo_epochs = 1, mini_batches = 1, aggregation = sequence_mean, scale_rewards = true, dynamic_sampling = false, max_resample_rounds = 1, mask_truncated = false, gamma = 1.0e+00, lam = 9.5e-01, value_clip = 2.0e-01, vf_coef = 1.0e-01, entropy_coef = 0.0e+00, staleness = 1>, guidance = #hone.relift<buffer_size = 2, sft_steps = 1>} : (!m, !hone.dataset<prompt_answer>, !hone.reward, !hone.dataset<prompt_completion>) -> !m
}
