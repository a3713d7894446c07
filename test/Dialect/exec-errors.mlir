// RUN: hone-opt %s -split-input-file -verify-diagnostics

/// An event is signalled on one of the job's lanes.

hone.pipeline @unknown_lane {
  // expected-error@+2 {{unknown lane 'gpu'}}
  // expected-note@+1 {{hint: lanes: rollout, learn, copy, comm}}
  hone.exec.signal 0 on "gpu"
}

// -----

/// A lane waits on an event of a known lane.

hone.pipeline @wait_lane {
  // expected-error@+2 {{unknown lane ''}}
  // expected-note@+1 {{hint: lanes: rollout, learn, copy, comm}}
  hone.exec.wait 1 on ""
}

// -----

/// Event ids are not negative.

hone.pipeline @negative_event {
  // expected-error@+2 {{event ids are not negative}}
  // expected-note@+1 {{hint: number events from 0}}
  hone.exec.wait -1 on "learn"
}

// -----

/// hone.exec.rollouts_resume returns values of the rollouts' types.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
hone.pipeline @resume_types {
  %t = arith.constant dense<1> : tensor<4x8xi32>
  // expected-error@+1 {{results must have the types of the rollouts}}
  %r = hone.exec.rollouts_resume %t : tensor<4x8xi32> -> tensor<4x8xf32>
}
