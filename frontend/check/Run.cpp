// Run settings: evaluations, checkpointing, hardware and exports.
#include "frontend/check/Checker.h"

namespace hone::spec::check {

void Checker::checkEvaluations() {
  for (int i = 0; i < p_.evaluations_size(); ++i) {
    Evaluation &e = *p_.mutable_evaluations(i);
    const Dataset *d = nullptr;
    if (!e.has_dataset())
      error(at(p_, "evaluations", i), "the evaluation has no dataset",
            "add 'dataset: \"...\"' naming prompts to generate from");
    else
      d = dataset(at(e, "dataset"), e.dataset());
    if (!e.has_model())
      e.set_model(lastTrained_);
    const Binding *m =
        e.model().empty() ? nullptr : model(at(e, "model"), e.model(), "model");
    if (m && m->head != Model::lm && e.rewards_size() > 0)
      error(at(e, "model"), "the evaluated model has a scalar head and cannot "
                            "generate",
            "evaluate a language model");
    // Without rewards an evaluation reports the held-out loss, which needs
    // completions to score.
    bool completions =
        d && (d->layout() == Dataset::text || d->layout() == Dataset::messages ||
              d->layout() == Dataset::prompt_completion);
    if (e.rewards_size() == 0 && d && !completions)
      error(at(p_, "evaluations", i), "the evaluation has no reward",
            "add 'rewards: \"...\"' naming the rewards to report (without "
            "rewards an evaluation reports the held-out loss of text, "
            "messages or prompt_completion data)");
    bool answers = false;
    for (int j = 0; j < e.rewards_size(); ++j)
      if (const Reward *r = reward(at(e, "rewards", j), e.rewards(j)))
        answers |= needsAnswers(*r);
    if (d && e.rewards_size() > 0) {
      bool fits = layoutFits(at(e, "dataset"), *d,
                             {Dataset::prompt_only, Dataset::prompt_answer,
                              Dataset::prompt_completion, Dataset::messages},
                             "evaluation", "evaluation generates from prompts");
      if (fits && answers)
        layoutFits(at(e, "dataset"), *d,
                   {Dataset::prompt_answer, Dataset::prompt_completion},
                   "a reward that compares with a reference answer",
                   "use prompt_answer data");
    }
    fillDeclaredDefaults(e);
    range(e, "every_steps");
    if (e.every_steps() > 0 &&
        (e.model().empty() ? p_.stages_size() == 0
                           : outputs_.count(e.model()) == 0))
      error(at(e, "every_steps"),
            "every_steps: no stage trains " +
                (e.model().empty() ? std::string("a model") : q(e.model())),
            "every_steps evaluates during the stages that produce the model; "
            "name a stage's output or use 0 to evaluate once");
    range(e, "max_records");
    if (e.has_generation())
      checkGeneration(e.generation());
    *e.mutable_generation() =
        evaluationGeneration(p_.generation(), e.generation());
  }
}

void Checker::checkRest() {
  Checkpointing &c = *p_.mutable_checkpointing();
  fillDeclaredDefaults(c);
  range(c, "every_steps");
  range(c, "keep_last");
  range(c, "max_skipped_fraction");
  range(c, "max_skipped_in_a_row");
  if (!c.dir().empty() &&
      (c.dir()[0] == '/' || ("/" + c.dir() + "/").find("/../") !=
                                std::string::npos))
    error(at(c, "dir"),
          "checkpointing dir " + q(c.dir()) +
              " must stay inside the run directory",
          "use a relative path without '..', e.g. \"checkpoints\", or leave "
          "it empty for the run directory itself");

  Hardware &h = *p_.mutable_hardware();
  fillDeclaredDefaults(h);
  if (!h.memory_budget().empty() && parseByteSize(h.memory_budget()) <= 0)
    error(at(h, "memory_budget"),
          "cannot read memory_budget " + q(h.memory_budget()),
          "write a size such as \"16GiB\", \"512MiB\" or \"2GB\"");
  range(h, "ranks");
  range(h, "rollout_staleness");
  range(h, "threads");
  range(h, "collective_timeout_s");
  // bf16 on the cpu is accepted: the job checks the CPU it runs on (AVX-512
  // BF16 or AMX) and otherwise trains in fp32 with a note.
  // Frozen models follow `precision` unless the spec says otherwise
  // (bf16 storage needs no particular CPU: widened per GEMM panel).
  if (h.frozen_precision() == Hardware::auto_precision)
    h.set_frozen_precision(h.precision() == Hardware::bf16 ? Hardware::bf16
                                                           : Hardware::fp32);

  Optimizer &o = *p_.mutable_optimizer();
  checkOptimizer(o);
  Generation &g = *p_.mutable_generation();
  checkGeneration(g);

  std::set<std::string> paths;
  if (p_.exports_size() == 0 && !lastTrained_.empty()) {
    Export &e = *p_.add_exports();
    e.set_model(lastTrained_);
    e.set_path("final");
  }
  for (int i = 0; i < p_.exports_size(); ++i) {
    Export &e = *p_.mutable_exports(i);
    if (!e.has_model())
      error(at(p_, "exports", i), "the export names no model",
            "add 'model: \"...\"'");
    else
      model(at(e, "model"), e.model(), "model");
    if (e.path().empty())
      error(at(p_, "exports", i), "the export has no 'path'",
            "add 'path: \"final\"' (below the output directory)");
    else if (!staysInRunDir(e, "path", e.path()))
      ;
    else if (!paths.insert(e.path()).second)
      error(at(e, "path"), "two exports write to " + q(e.path()),
            "give each export its own directory");
  }
}

} // namespace hone::spec::check
