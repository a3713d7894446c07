//===- HoneDialect.td - the hone dialect -------------------*- tablegen -*-===//
//
// One dialect for every level of a post-training pipeline: stages, steps, the
// loss algebra and the scheduled form (DESIGN.md §1).
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
      %base = hone.model.init {seed = 1} : !hone.model<#hone.arch<llama, vocab = 32, d_model = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 128, max_seq = 64>>
      %demos = hone.dataset "train.jsonl" : !hone.dataset<prompt_completion>
      %prompts = hone.dataset "prompts.jsonl" : !hone.dataset<prompt_answer>
      %exact = hone.reward.verifier exact_match : !hone.reward
      %sft = hone.sft plain %base, %demos {batch_size = 8, steps = 100} : !hone.model<...>, !hone.dataset<prompt_completion>
      %rl = hone.rl grpo %sft, %prompts reward %exact ref %sft {...} : ...
      hone.save %rl "final"
    }
    ```

    Verifiers reject pipelines that cannot run: a preference stage on data
    without chosen/rejected columns, an RL stage without a reward, PPO
    without a critic, a KL penalty without a reference model, architectures
    whose sizes contradict each other.
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
