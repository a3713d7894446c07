// The stage IR of the most common pipeline: SFT, then GRPO with the SFT model
// as the frozen reference. `honec --compile-to=stage` prints this form for a
// spec; hone-opt runs Hone's passes on it:
//
//   build/bin/hone-opt examples/ir/sft-then-grpo.mlir --hone-stage-pipeline

!model = !hone.model<#hone.arch<llama, vocab = 32, d_model = 128, layers = 4, heads = 4, kv_heads = 2, ffn = 512, max_seq = 64>>

hone.pipeline @sft_then_grpo attributes {config = {device = "cpu", memory_budget_bytes = 1073741824 : i64}} {
  %base = hone.model.init {seed = 1} : !model
  %demos = hone.dataset "addition/train.jsonl" : !hone.dataset<prompt_completion>
  %prompts = hone.dataset "addition/prompts.jsonl" {eval_path = "addition/test.jsonl"} : !hone.dataset<prompt_answer>
  %correct = hone.reward.verifier exact_match : !hone.reward
  // Loaded twice by mistake in the spec: CSE keeps one.
  %again = hone.model.init {seed = 1} : !model

  %sft = hone.sft plain %base, %demos {steps = 300, batch_size = 32, hparams = {lr = 1.0e-3 : f64}} : (!model, !hone.dataset<prompt_completion>) -> !model
  hone.eval %sft, %prompts reward %correct {name = "after_sft"} : !model, !hone.dataset<prompt_answer>
  %rl = hone.rl grpo %sft, %prompts reward %correct ref %sft {steps = 100, batch_size = 64, group_size = 8, kl_coef = 0.04 : f64} : (!model, !hone.dataset<prompt_answer>, !hone.reward, !model) -> !model
  hone.eval %rl, %prompts reward %correct {name = "after_grpo"} : !model, !hone.dataset<prompt_answer>
  hone.save %rl "final" : !model
  hone.save %again "init" : !model
}
