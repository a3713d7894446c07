// RL stages: algorithms, policy losses, objectives written in the spec and
// SFT+RL hybrid guidance.
#include "frontend/check/Checker.h"
#include "dialect/SettingRanges.h"

namespace hone::spec::check {

void Checker::checkRl(Stage &s, Rl &rl, const Binding *m) {
  Rl::Algorithm algo = rl.algorithm();
  std::string name = Rl::Algorithm_Name(algo);
  bool promptFromData = !rl.has_max_prompt_length();
  // Method-dependent defaults (frontend/Defaults.cpp).
  resolveRlDefaults(rl, p_.hardware());

  if (m && m->head != Model::lm)
    error(at(s, "model"), "the RL policy must have an LM head, but " +
                              q(s.model()) + " has a scalar head",
          "name a language model; scalar-head models are critics or reward "
          "models");

  // Generation: the stage's settings over the pipeline's.
  if (rl.has_generation())
    checkGeneration(rl.generation());
  Generation gen = p_.generation();
  gen.MergeFrom(rl.generation());
  bool groupFromStage = rl.generation().has_samples_per_prompt();
  bool groupFromPipeline = p_.generation().has_samples_per_prompt();
  *rl.mutable_generation() = gen;
  Generation &g = *rl.mutable_generation();
  if (!g.has_samples_per_prompt())
    g.set_samples_per_prompt(defaultSamplesPerPrompt(algo));
  fillDeclaredDefaults(g);
  SourceLoc groupLoc = groupFromStage      ? at(g, "samples_per_prompt")
                       : groupFromPipeline ? at(p_.generation(),
                                                "samples_per_prompt")
                                           : at(s, "rl");
  int64_t group = g.samples_per_prompt();

  // Loop sizes.
  range(rl, "steps");
  range(rl, "batch_size");
  range(rl, "grad_accum");
  range(rl, "max_prompt_length");
  // Shapes from the data: the longest prompt rounded up, at most the
  // default (docs/compiler.md).
  if (promptFromData && rl.max_prompt_length() > 0)
    rl.set_max_prompt_length(
        lengthFromData(lengthsOf(s.dataset()).prompt, rl.max_prompt_length()));
  // The group-size rules (dialect/MethodFamilies.h, as the verifier).
  if (group > 0)
    if (auto p = methods::groupSizeProblem(name, rl.batch_size(), group,
                                           "samples_per_prompt"))
      error(p->aboutBatch ? at(rl, "batch_size") : groupLoc, p->message,
            p->hint);
  if (rl.mini_batches() > 0 && rl.batch_size() > 0 &&
      rl.batch_size() % rl.mini_batches() != 0)
    error(at(rl, "mini_batches"),
          "batch_size (" + fmt(long(rl.batch_size())) +
              ") must be a multiple of mini_batches (" +
              fmt(long(rl.mini_batches())) + ")",
          "each pass splits the batch into equal mini-batches");
  range(rl, "mini_batches");
  range(rl, "ppo_epochs");
  int64_t maxSeq = maxSeqOf(m);
  if (maxSeq > 0 && rl.max_prompt_length() > 0 &&
      rl.max_prompt_length() + g.max_new_tokens() > maxSeq)
    error(rl.generation().has_max_new_tokens() &&
                  spec_.locs.has(g, "max_new_tokens")
              ? at(g, "max_new_tokens")
              : at(rl, "max_prompt_length"),
          "max_prompt_length (" + fmt(long(rl.max_prompt_length())) +
              ") + max_new_tokens (" + fmt(long(g.max_new_tokens())) +
              ") exceeds the model's max_seq_len (" + fmt(long(maxSeq)) + ")",
          "shorten prompts or completions, or raise max_seq_len");
  if (g.top_k() > 0 && vocabOf(m) > 0 && g.top_k() > vocabOf(m))
    error(at(g, "top_k"),
          "top_k (" + fmt(long(g.top_k())) + ") exceeds the vocabulary (" +
              fmt(long(vocabOf(m))) + ")",
          "use 0 to disable top-k");
  if (rl.dynamic_sampling() && !isGroupAlgorithm(algo))
    error(at(rl, "dynamic_sampling"),
          "dynamic sampling filters groups, but " + name + " has none",
          "use it with grpo, dr_grpo, dapo or rloo");
  range(rl, "max_resample_rounds");
  if (rl.staleness() > 0 && rl.steps() > 0 && rl.staleness() >= rl.steps()) {
    // hone-pipeline-rollouts (passes/PipelineRollouts.cpp) pipelines every
    // algorithm and hybrid; it needs a step that learns while generating.
    SourceLoc where = spec_.locs.has(rl, "staleness")
                          ? at(rl, "staleness")
                          : at(p_.hardware(), "rollout_staleness");
    error(where,
          "staleness " + fmt(long(rl.staleness())) +
              " leaves no step that learns while generating: the stage "
              "has " +
              fmt(long(rl.steps())) + " steps",
          "use a staleness below the stage's steps (1 is usual)");
  }

  // Objective numbers.
  range(rl, "epsilon");
  if (range(rl, "epsilon_high"))
    if (std::string p =
            ranges::clipHigherProblem(rl.epsilon(), rl.epsilon_high());
        !p.empty())
      error(at(rl, "epsilon_high"), p, ranges::kClipHigherHint);
  range(rl, "beta");
  range(rl, "gamma");
  range(rl, "lam");
  range(rl, "value_clip");
  range(rl, "vf_coef");
  range(rl, "entropy_coef");
  range(rl, "staleness");
  if (rl.has_policy_loss())
    checkPolicyLoss(rl, name);
  if (rl.has_objective())
    checkObjective(rl, name);
  // Settings of other methods keep their declared defaults in the resolved
  // spec (the IR holds every setting); a value that differs is a mistake.
  if (algo != Rl::ppo)
    for (const char *f : {"gamma", "lam", "value_clip", "vf_coef"})
      if (spec_.locs.has(rl, f) && !atDeclaredDefault(rl, f))
        error(at(rl, f), std::string(q(f)) + " is a PPO setting; " + name +
                             " has no critic",
              "remove it, or use 'algorithm: ppo'");

  // Rewards.
  const Dataset *d =
      datasets_.count(s.dataset()) ? datasets_[s.dataset()] : nullptr;
  if (rl.rewards_size() == 0)
    error(at(s, "rl"), "the " + name + " stage has no reward",
          "add 'rewards: \"...\"' naming a reward of the spec");
  bool answers = false;
  for (int i = 0; i < rl.rewards_size(); ++i)
    if (const Reward *r = reward(at(rl, "rewards", i), rl.rewards(i)))
      answers |= needsAnswers(*r);
  if (rl.reward_weights_size() == 0) {
    for (int i = 0; i < rl.rewards_size(); ++i)
      rl.add_reward_weights(1.0);
  } else if (rl.reward_weights_size() != rl.rewards_size()) {
    error(at(rl, "reward_weights"),
          std::to_string(rl.reward_weights_size()) + " reward weight(s) for " +
              std::to_string(rl.rewards_size()) + " reward(s)",
          "give one weight per reward, in the same order");
  }
  for (int i = 0; i < rl.reward_weights_size(); ++i)
    if (!std::isfinite(rl.reward_weights(i)))
      error(at(rl, "reward_weights", i), "a reward weight is not finite",
            "use a finite number");
  if (d) {
    bool fits = layoutFits(
        at(s, "dataset"), *d,
        {Dataset::prompt_only, Dataset::prompt_answer,
         Dataset::prompt_completion, Dataset::messages},
        "RL", "RL needs prompts: use prompt_answer data for verifiers, "
              "prompt_only for reward models");
    if (fits && answers)
      layoutFits(at(s, "dataset"), *d,
                 {Dataset::prompt_answer, Dataset::prompt_completion},
                 "a reward that compares with a reference answer",
                 "use prompt_answer data (or prompt_completion, whose "
                 "completion is the answer)");
  }

  // Reference.
  if (!rl.has_reference())
    rl.set_reference(s.model());
  const Binding *ref = model(at(rl, "reference"), rl.reference(), "reference");
  if (ref && ref != m && ref->head != Model::lm)
    error(at(rl, "reference"), "the reference must have an LM head",
          "name a language model");
  sameVocab(at(rl, "reference"), m, ref, "reference");

  // Critic.
  if (algo == Rl::ppo) {
    if (!rl.has_critic()) {
      error(at(s, "rl"), "ppo needs a critic",
            "declare 'models { name: \"critic\" from: \"" + s.model() +
                "\" head: scalar }' and set 'critic: \"critic\"'");
    } else {
      const Binding *c = model(at(rl, "critic"), rl.critic(), "critic");
      if (c && c->head != Model::scalar)
        error(at(rl, "critic"),
              "the critic " + q(rl.critic()) + " has an LM head",
              "a critic predicts values: declare it with 'head: scalar'");
      sameVocab(at(rl, "critic"), m, c, "critic");
      if (!rl.has_critic_output())
        rl.set_critic_output(rl.critic());
      if (c) {
        Binding b = *c;
        b.loc = at(rl, "critic_output");
        bound_[rl.critic_output()] = b;
      }
    }
  } else if (rl.has_critic()) {
    error(at(rl, "critic"), name + " uses no critic",
          "remove 'critic', or use 'algorithm: ppo'");
  }

  // Steps default: one pass over the prompts.
  auto rec = spec_.recordsOf.find(s.dataset());
  if (rl.steps() == 0 && rec != spec_.recordsOf.end() && rl.batch_size() > 0 &&
      group > 0) {
    long long prompts = std::max<long long>(1, rl.batch_size() / group);
    rl.set_steps(std::max<long long>(1, (rec->second + prompts - 1) / prompts));
  }
  checkGuidance(s, rl, group);
}

/// The policy loss: which algorithms have the ratio it changes, and its
/// numbers (defaults filled by resolveRlDefaults).
void Checker::checkPolicyLoss(Rl &rl, const std::string &name) {
  PolicyLoss &pl = *rl.mutable_policy_loss();
  std::string kind = PolicyLoss::Kind_Name(pl.kind());
  Rl::Algorithm algo = rl.algorithm();
  if (algo == Rl::rloo || algo == Rl::remax)
    error(at(rl, "policy_loss"),
          name + " is REINFORCE over sequence log-probs: it has no "
                 "importance ratio for 'policy_loss' to change",
          "remove 'policy_loss', or use grpo, dr_grpo or dapo");
  else if (pl.kind() != PolicyLoss::clip && !methods::isGrpoFamily(name))
    error(at(pl, "kind"),
          "policy_loss " + kind + " weighs one advantage per sequence, but " +
              name + " has per-token advantages",
          "use it with grpo, dr_grpo or dapo; " + name +
              " takes 'kind: clip' with dual_clip or tis_cap");
  if (rl.guidance_case() == Rl::kLuffy || rl.guidance_case() == Rl::kSrft)
    error(at(rl, "policy_loss"),
          std::string("the ") +
              (rl.guidance_case() == Rl::kLuffy ? "luffy" : "srft") +
              " hybrid has an objective of its own; 'policy_loss' would "
              "not change it",
          "remove 'policy_loss', or use chord, hpt, relift or uft");
  range(pl, "dual_clip");
  if (pl.dual_clip() != 0 && pl.kind() != PolicyLoss::clip)
    error(at(pl, "dual_clip"),
          "'dual_clip' bounds the clipped surrogate, but kind is " + kind,
          "use 'kind: clip' with dual_clip");
  range(pl, "tis_cap");
  for (const char *f : {"tau_pos", "tau_neg"}) {
    if (!range(pl, f))
      continue;
    if (pl.kind() != PolicyLoss::sapo && spec_.locs.has(pl, f) &&
             !atDeclaredDefault(pl, f))
      error(at(pl, f), q(f) + " is a SAPO setting; kind is " + kind,
            "remove it, or use 'kind: sapo'");
  }
}

/// The location of character `pos` of string field `field`: its column
/// in the spec's line when the literal is plain (one line, no escapes),
/// else the field's.
SourceLoc Checker::inString(const Message &m, const char *field, size_t pos) {
  SourceLoc loc = at(m, field);
  if (!loc.isKnown() || loc.line < 1 || loc.col < 1)
    return loc;
  std::ifstream in(loc.file);
  std::string line;
  for (int n = 0; n < loc.line && std::getline(in, line); ++n) {
  }
  if (!in && line.empty())
    return loc;
  size_t q = line.find('"', size_t(loc.col - 1));
  if (q == std::string::npos)
    return loc;
  size_t end = line.find('"', q + 1);
  if (end == std::string::npos || pos > end - q - 1 ||
      line.substr(q + 1, pos).find('\\') != std::string::npos)
    return loc;
  loc.col = int(q + 2 + pos);
  return loc;
}

/// A user-written objective: where it may be used, and its expression
/// (dialect/ObjectiveExpr.h) with a located error and a hint.
void Checker::checkObjective(Rl &rl, const std::string &name) {
  const Objective &o = rl.objective();
  if (!methods::isGrpoFamily(name)) {
    error(at(rl, "objective"),
          "an objective runs on grpo, dr_grpo or dapo stages yet, not " + name,
          "use 'algorithm: grpo' (advantages per sequence, no critic)");
    return;
  }
  if (rl.guidance_case() != Rl::GUIDANCE_NOT_SET) {
    error(at(rl, "objective"),
          "an objective replaces the whole loss, which a hybrid adds to",
          "remove the hybrid, or the objective");
    return;
  }
  if (rl.has_policy_loss()) {
    error(at(rl, "objective"),
          "'objective' and 'policy_loss' both define the policy loss",
          "write the policy loss in the expression, or remove 'objective'");
    return;
  }
  if (!o.has_expr()) {
    error(at(rl, "objective"), "the objective has no 'expr'",
          "add expr: \"token_mean(-logprob)\" or another expression");
    return;
  }
  objective::Settings settings;
  settings.values = {{"epsilon", rl.epsilon()},
                     {"epsilon_high", rl.epsilon_high()},
                     {"beta", rl.beta()}};
  settings.hasReference = rl.beta() > 0;
  objective::Error err;
  if (!objective::parseObjective(o.expr(), settings, err))
    error(inString(o, "expr", err.pos), err.message, err.hint);
}

void Checker::checkGuidance(Stage &s, Rl &rl, int64_t group) {
  auto demos = [&](Message &g, const std::string &field,
                   const std::string &datasetName, const char *what) {
    const Dataset *d = dataset(at(g, field.c_str()), datasetName);
    if (d)
      layoutFits(at(g, field.c_str()), *d,
                 {Dataset::prompt_completion, Dataset::messages,
                  Dataset::prompt_answer, Dataset::text},
                 what, "demonstrations need completions: use "
                       "prompt_completion data");
  };
  auto need = [&](Message &g, bool has, const char *what) {
    if (!has)
      error(at(g), std::string(what) + " needs demonstrations ('dataset')",
            "add 'dataset: \"...\"' naming prompt/completion data");
    return has;
  };
  auto schedule = [&](Schedule &sc, double lo, double hi) {
    fillDeclaredDefaults(sc);
    if (!sc.has_steps())
      sc.set_steps(rl.steps());
    inRange(sc, "start", sc.start(), lo, hi, false,
            "a weight in [" + fmt(lo) + ", " + fmt(hi) + "]");
    inRange(sc, "end", sc.end(), lo, hi, false,
            "a weight in [" + fmt(lo) + ", " + fmt(hi) + "]");
    range(sc, "steps");
    range(sc, "warmup_steps");
  };
  switch (rl.guidance_case()) {
  case Rl::kChord: {
    Chord &c = *rl.mutable_chord();
    if (need(c, c.has_dataset(), "CHORD"))
      demos(c, "dataset", c.dataset(), "CHORD");
    if (!c.has_mu())
      *c.mutable_mu() = defaultChordMu(rl.steps());
    schedule(*c.mutable_mu(), 0, 1);
    fillDeclaredDefaults(c);
    // The step's expert examples are the demonstrations of its prompts.
    int64_t prompts = group > 0 ? rl.batch_size() / group : rl.batch_size();
    if (c.has_sft_batch_size() && c.sft_batch_size() != prompts)
      error(at(c, "sft_batch_size"),
            "sft_batch_size " + fmt(long(c.sft_batch_size())) +
                " is not supported yet: CHORD trains on the demonstrations "
                "of the step's " + fmt(long(prompts)) + " prompts",
            "leave it unset (or set it to batch_size / samples_per_prompt)");
    if (!c.has_sft_batch_size())
      c.set_sft_batch_size(prompts);
    range(c, "sft_batch_size");
    break;
  }
  case Rl::kSrft: {
    Srft &c = *rl.mutable_srft();
    if (need(c, c.has_dataset(), "SRFT"))
      demos(c, "dataset", c.dataset(), "SRFT");
    fillDeclaredDefaults(c);
    range(c, "sft_coef");
    range(c, "positive_coef");
    break;
  }
  case Rl::kLuffy: {
    Luffy &c = *rl.mutable_luffy();
    if (need(c, c.has_dataset(), "LUFFY"))
      demos(c, "dataset", c.dataset(), "LUFFY");
    fillDeclaredDefaults(c);
    range(c, "off_policy_per_group");
    if (group > 0 && c.off_policy_per_group() >= group)
      error(at(c, "off_policy_per_group"),
            "off_policy_per_group (" + fmt(long(c.off_policy_per_group())) +
                ") leaves no on-policy sample in groups of " +
                fmt(long(group)),
            "use fewer off-policy traces than samples_per_prompt");
    range(c, "shaping_gamma");
    break;
  }
  case Rl::kRelift: {
    Relift &c = *rl.mutable_relift();
    if (!c.has_dataset())
      c.set_dataset(s.dataset());
    demos(c, "dataset", c.dataset(), "ReLIFT");
    fillDeclaredDefaults(c);
    if (!c.has_buffer_size())
      c.set_buffer_size(std::max<int64_t>(1, rl.batch_size() /
                                                 std::max<int64_t>(1, group)));
    range(c, "buffer_size");
    range(c, "sft_steps");
    break;
  }
  case Rl::kHpt: {
    Hpt &c = *rl.mutable_hpt();
    if (need(c, c.has_dataset(), "HPT"))
      demos(c, "dataset", c.dataset(), "HPT");
    fillDeclaredDefaults(c);
    range(c, "threshold");
    break;
  }
  case Rl::kUft: {
    Uft &c = *rl.mutable_uft();
    if (need(c, c.has_dataset(), "UFT"))
      demos(c, "dataset", c.dataset(), "UFT");
    if (!c.has_hint_fraction())
      *c.mutable_hint_fraction() = defaultUftHint();
    schedule(*c.mutable_hint_fraction(), 0, 1);
    fillDeclaredDefaults(c);
    range(c, "sft_coef");
    break;
  }
  case Rl::GUIDANCE_NOT_SET:
    break;
  }
}

} // namespace hone::spec::check
