//===- HoneDialect.td - the hone dialect -------------------*- tablegen -*-===//
//
// One dialect for every level of a post-training pipeline: stages, steps, the
// loss algebra and the scheduled form (docs/design.md, "IR levels").
//
//===----------------------------------------------------------------------===//

#ifndef HONE_DIALECT_TD
#define HONE_DIALECT_TD

include "mlir/IR/OpBase.td"

def Hone_Dialect : Dialect {
  let name = "hone";
  let cppNamespace = "::mlir::hone";
  let summary = "LLM post-training pipelines: stages, steps, loss algebra, schedules";
  let description = [{
    The `hone` dialect represents a whole post-training pipeline — SFT, reward
    models, preference optimisation, online RL and their hybrids — as one
    dataflow graph.

    At the **stage level**, every training stage is an op that consumes a
    model state (an SSA value of type `!hone.model`) and yields a new one, so
    a frozen reference model is simply an earlier value:

    ```mlir
    hone.pipeline @sft_then_grpo {
      %base = hone.model.init "base" {seed = 1} : !hone.model<#hone.arch<llama, vocab = 32, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 128, max_seq = 64, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
      %demos = hone.dataset "train.jsonl" : !hone.dataset<prompt_completion>
      %prompts = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
      %exact = hone.reward.verifier exact_match : !hone.reward
      %sft = hone.sft plain %base, %demos {batch_size = 8, steps = 100, loop = #hone.loop<...>, optimizer = #hone.optimizer<...>, settings = #hone.sft_settings<...>} : ...
      %rl = hone.rl grpo %sft, %prompts reward %exact ref %sft {...} : ...
      hone.save %rl "final"
    }
    ```

    Every spec setting is a typed attribute with all its parameters present
    (`#hone.optimizer`, `#hone.generation`, `#hone.rl_settings`, ...; see
    the attribute section): the frontend resolves every default
    (frontend/Defaults.cpp), and passes read the generated getters
    (`RlSettingsAttr::getEpsilon()` returns `llvm::APFloat`, integers
    `int64_t`, flags `bool`, choices their enum), never a default of their
    own. Models carry their spec names: `hone.model.init "policy"`; after
    expansion, every op that runs a model has a `hone.models` list of names
    (`modelNamesOf()` in dialect/HoneOps.h).

    At the **step level** each stage is an `scf.for` over its steps (a
    *stage loop*) whose iteration arguments are the trained models; its
    body reads data, generates, scores, computes advantages and ends in a
    `hone.train_step`. The only sampling temperature is that of
    `hone.generate`: log-probs of sampled tokens use it
    (`producingGenerate()`).

    Verifiers reject pipelines that cannot run: a preference stage on data
    without chosen/rejected columns, an RL stage without a reward, PPO
    without a critic, a KL penalty without a reference model, architectures
    whose sizes contradict each other.

    At the **step level** (after `hone-expand-stages`; `honec
    --compile-to=step`) every training stage has become a *stage loop*: an
    `scf.for` over the stage's steps whose `iter_args` carry the model
    state(s) it trains. Its body is one training step written in step ops:
    `hone.data.next` reads the step's batch; RL stages roll out and score
    with `hone.generate`, `hone.score`, `hone.logprob` and
    `hone.advantage`; `hone.train_step` runs the forward pass, the loss (its
    region, in `hone.loss.*` ops, with the gradient region beside it) and
    the optimiser update, and yields the new state to `scf.yield`. The
    loop's result replaces the stage op's result; a model the loop only
    reads (a frozen reference) is a value from before the loop:

    ```mlir
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c20 = arith.constant 20 : index
    %rl = scf.for %step = %c0 to %c20 step %c1 iter_args(%policy = %sft) -> (!model) {
      %batch:3 = hone.data.next prompts %prompts, %step {assistant_only_loss = true, completion_only_loss = true} : !hone.dataset<prompt_answer> -> tensor<2x16xi32>, tensor<2x16xf32>, tensor<2xi64>
      %roll:3 = hone.generate %policy, %batch#0, %batch#1, %step {n = 4 : i64, temperature = 1.000000e+00 : f64, top_k = 0 : i64, top_p = 1.000000e+00 : f64, greedy = false, off_policy = 0 : i64, hint_is_fraction = false, mask_truncated = false} : ...
      %reward = hone.score %exact, %roll#0, %roll#1, %batch#2 : ...
      %ref = hone.logprob %sft, %roll#0 : !model, tensor<8x24xi32> -> tensor<8x24xf32>
      %adv = hone.advantage group_norm %reward {group_size = 4 : i64, gamma = 1.000000e+00 : f64, lambda = 9.500000e-01 : f64, eps = 1.000000e-06 : f64} : (tensor<8xf32>) -> tensor<8xf32>
      %new:4 = hone.train_step(%policy) tokens(%roll#0) inputs(...) {...} { ... } gradient { ... }
      scf.yield %new#0 : !model
    }
    ```

    The scheduled level (`hone-scheduled-pipeline`) brackets each stage
    loop with `hone.exec.*` ops (resume point, step end, checkpoints) and
    plans memory; see passes.md. Each op below lists the C++ accessors its
    generated class offers (the types a pass reads and writes, e.g.
    `SftOp::getSteps()` returns `uint64_t`).
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let usePropertiesForAttributes = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
    void registerTypes();
  }];
}

class Hone_Op<string mnemonic, list<Trait> traits = []>
    : Op<Hone_Dialect, mnemonic, traits>;

#endif // HONE_DIALECT_TD
