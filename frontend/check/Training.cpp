// Settings shared by stages: optimiser, LoRA adapters and generation.
#include "frontend/check/Checker.h"

namespace hone::spec::check {

void Checker::checkOptimizer(const Optimizer &o) {
  if (o.has_lr())
    range(o, "lr");
  range(o, "beta1");
  range(o, "beta2");
  range(o, "eps");
  range(o, "weight_decay");
  range(o, "warmup_steps");
  range(o, "min_lr_ratio");
  range(o, "max_grad_norm");
}

void Checker::checkLora(Stage &s, int index, const Binding *m) {
  if (!s.has_lora()) {
    if (m && m->loraStage >= 0)
      error(at(s, "model"),
            "model " + q(s.model()) + " carries the LoRA adapters of stage " +
                q(p_.stages(m->loraStage).name()) +
                "; training all its weights is not supported yet",
            "add 'lora { }' with the same settings to keep training the "
            "adapters");
    return;
  }
  Lora &l = *s.mutable_lora();
  resolveLoraDefaults(l);
  range(l, "rank");
  range(l, "alpha");
  range(l, "dropout");
  static const char *known[] = {"q_proj",    "k_proj",  "v_proj",
                                "o_proj",    "gate_proj", "up_proj",
                                "down_proj"};
  std::set<std::string> seen;
  for (int i = 0; i < l.target_modules_size(); ++i) {
    const std::string &t = l.target_modules(i);
    if (std::find(std::begin(known), std::end(known), t) == std::end(known))
      error(at(l, "target_modules"), "unknown LoRA target module " + q(t),
            "use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or "
            "down_proj");
    else if (!seen.insert(t).second)
      error(at(l, "target_modules"),
            "target module " + q(t) + " is named twice", "name it once");
  }
  if (s.has_reward_model())
    error(at(s, "lora"),
          "LoRA on a reward-model stage (a scalar head) is not supported yet",
          "remove 'lora' from stage " + q(s.name()));
  if (!m)
    return;
  auto arch = spec_.archOf.find(m->declared);
  if (arch != spec_.archOf.end() &&
      arch->second.family() == Architecture::gpt2)
    error(at(s, "lora"),
          "LoRA applies to the llama family (Llama, Qwen2/3, Mistral), not "
          "gpt2 model " + q(s.model()),
          "train all weights (remove 'lora'), or use a llama-family model");
  if (m->loraStage >= 0) {
    const Lora &prev = p_.stages(m->loraStage).lora();
    if (prev.rank() != l.rank() || prev.alpha() != l.alpha() ||
        std::set<std::string>(prev.target_modules().begin(),
                              prev.target_modules().end()) != seen)
      error(at(s, "lora"),
            "model " + q(s.model()) + " already carries LoRA adapters of "
            "stage " + q(p_.stages(m->loraStage).name()) +
                " with other settings; stacking adapters is not supported yet",
            "repeat that stage's rank, alpha and target_modules to keep "
            "training its adapters");
  }
}

void Checker::checkGeneration(const Generation &g) {
  range(g, "max_new_tokens");
  range(g, "temperature");
  range(g, "top_k");
  range(g, "top_p");
  if (g.has_samples_per_prompt())
    range(g, "samples_per_prompt");
  for (int i = 0; i < g.stop_size(); ++i)
    if (g.stop(i).empty())
      error(at(g, "stop", i), "a stop string is empty",
            "remove it; generation always stops at end-of-sequence");
}

} // namespace hone::spec::check
