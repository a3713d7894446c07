// RUN: hone-opt %s --load-pass-plugin=%hone_lib_dir/HoneExamplePlugin%shlibext \
// RUN:   --example-cap-steps='max=2' | FileCheck %s
// RUN: hone-opt %s --load-pass-plugin %hone_lib_dir/HoneExamplePlugin%shlibext \
// RUN:   --example-cap-steps | FileCheck %s --check-prefix=ONE
// RUN: hone-opt --load-pass-plugin=%hone_lib_dir/HoneExamplePlugin%shlibext --help | FileCheck %s --check-prefix=HELP
// RUN: not hone-opt %s --load-pass-plugin=%t.missing.so 2>&1 | FileCheck %s --check-prefix=MISSING

/// A plugin's passes are flags of hone-opt, as Hone's own are: the plugin is
/// loaded before the command line is parsed. The pass anchors on
/// hone.pipeline, so the flag form nests it there.

!m = !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>

// CHECK-LABEL: hone.pipeline @smoke
// CHECK: hone.sft plain {{.*}}steps = 2 : i64
// ONE: hone.sft plain {{.*}}steps = 1 : i64
// HELP: --example-cap-steps
// HELP-SAME: Cap the steps of every training stage
// MISSING: hone-opt: cannot load pass plugin {{.*}}.missing.so
hone.pipeline @smoke {
  %m = hone.model.init "m" {seed = 0 : i64} : !m
  %pc = hone.dataset "pc.jsonl" : !hone.dataset<prompt_completion>
  %sft = hone.sft plain %m, %pc {steps = 1000, batch_size = 8, loop = #hone.loop<grad_accum = 1, max_length = 32>, optimizer = #hone.optimizer<lr = 1.0e-03, beta1 = 9.0e-01, beta2 = 9.99e-01, eps = 1.0e-08, weight_decay = 0.0e+00, schedule = constant_lr, warmup_steps = 0, min_lr_ratio = 0.0e+00, max_grad_norm = 1.0e+00>, settings = #hone.sft_settings<completion_only_loss = true, assistant_only_loss = false, iw_clip = 1.6e+01>} : (!m, !hone.dataset<prompt_completion>) -> !m
}
