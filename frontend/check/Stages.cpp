// stages: name resolution (models, datasets, rewards), the stage loop, SFT,
// reward-model training and preference optimisation (RL: Rl.cpp).
#include "frontend/check/Checker.h"

namespace hone::spec::check {

const Binding *Checker::model(const SourceLoc &loc, const std::string &name,
                              const std::string &role) {
  auto it = bound_.find(name);
  if (it != bound_.end())
    return &it->second;
  auto out = outputs_.find(name);
  if (out != outputs_.end()) {
    error(loc,
          role + " " + q(name) + " is not defined yet: stage " +
              std::to_string(out->second) + " produces it later",
          "stages run in order; a stage can only use models declared or "
          "produced before it");
    return nullptr;
  }
  std::vector<std::string> names;
  for (const auto &kv : bound_)
    names.push_back(kv.first);
  unknownName(loc, role, name, names,
              "declare it under 'models' or name a stage's output");
  return nullptr;
}

const Dataset *Checker::dataset(const SourceLoc &loc, const std::string &name) {
  auto it = datasets_.find(name);
  if (it != datasets_.end())
    return it->second;
  std::vector<std::string> names;
  for (const auto &kv : datasets_)
    names.push_back(kv.first);
  unknownName(loc, "dataset", name, names,
              "declare it under 'datasets { name: \"" + name +
                  "\" path: \"...\" }'");
  return nullptr;
}

const Reward *Checker::reward(const SourceLoc &loc, const std::string &name) {
  auto it = rewards_.find(name);
  if (it != rewards_.end())
    return it->second;
  std::vector<std::string> names;
  for (const auto &kv : rewards_)
    names.push_back(kv.first);
  unknownName(loc, "reward", name, names,
              "declare it under 'rewards { name: \"" + name + "\" ... }'");
  return nullptr;
}

void Checker::sameVocab(const SourceLoc &loc, const Binding *policy,
                        const Binding *other, const std::string &role) {
  int64_t a = vocabOf(policy), b = vocabOf(other);
  if (a > 0 && b > 0 && a != b)
    error(loc,
          "the " + role + " has vocab " + fmt(long(b)) +
              " but the policy has vocab " + fmt(long(a)),
          "both models must use the same tokenizer and vocabulary size");
}

/// Reports when `d`'s layout is not one of `allowed`; false then.
bool Checker::layoutFits(const SourceLoc &loc, const Dataset &d,
                         const std::vector<Dataset::Layout> &allowed,
                         const std::string &use, const std::string &hint) {
  if (d.layout() == Dataset::auto_)
    return true; // unknown (files not checked, or already reported)
  for (Dataset::Layout l : allowed)
    if (d.layout() == l)
      return true;
  std::string names;
  for (Dataset::Layout l : allowed)
    names += (names.empty() ? "" : ", ") + std::string(layoutName(l));
  error(loc,
        "dataset " + q(d.name()) + " has layout " + layoutName(d.layout()) +
            ", but " + use + " needs " + names,
        hint);
  return false;
}

void Checker::checkStages() {
  for (int i = 0; i < p_.stages_size(); ++i) {
    const Stage &s = p_.stages(i);
    if (s.has_output())
      outputs_.emplace(s.output(), i);
    if (s.has_rl() && s.rl().has_critic_output())
      outputs_.emplace(s.rl().critic_output(), i);
  }
  std::map<std::string, int> names;
  for (int i = 0; i < p_.stages_size(); ++i) {
    Stage &s = *p_.mutable_stages(i);
    if (!s.has_name())
      s.set_name(std::string(methodName(s)) + "_" + std::to_string(i));
    auto [it, fresh] = names.emplace(s.name(), i);
    if (!fresh)
      diags_
          .error(at(s, "name"),
                 "stage name " + q(s.name()) + " is used twice")
          .note(at(p_.stages(it->second), "name"), "first used here");
    checkStage(s, i);
  }
}

void Checker::checkStage(Stage &s, int index) {
  if (s.method_case() == Stage::METHOD_NOT_SET) {
    error(at(p_, "stages", index), "stage " + q(s.name()) + " has no method",
          "add one of 'sft { }', 'reward_model { }', 'preference { }', "
          "'rl { }'");
    return;
  }
  if (!s.has_model()) {
    // The first model with an LM head (reward-model stages: a scalar one).
    Model::Head want = s.has_reward_model() ? Model::scalar : Model::lm;
    for (const Model &m : p_.models())
      if (m.head() == want && !m.name().empty()) {
        s.set_model(m.name());
        break;
      }
    if (!s.has_model()) {
      error(at(p_, "stages", index),
            "stage " + q(s.name()) + " names no model and none fits",
            "add 'model: \"...\"'");
      return;
    }
  }
  const Binding *m = model(at(s, "model"), s.model(), "model");
  if (!s.has_dataset())
    error(at(p_, "stages", index), "stage " + q(s.name()) + " has no dataset",
          "add 'dataset: \"...\"' naming one of the spec's datasets");
  else
    dataset(at(s, "dataset"), s.dataset());
  if (s.has_optimizer())
    checkOptimizer(s.optimizer());
  checkLora(s, index, m);
  if (s.has_save() && s.save().empty())
    error(at(s, "save"), "'save' is an empty path",
          "give a directory name below the output directory");
  else if (s.has_save())
    staysInRunDir(s, "save", s.save());

  // Merge the pipeline's optimiser under the stage's; fill the method's lr.
  Optimizer merged = p_.optimizer();
  merged.MergeFrom(s.optimizer());
  *s.mutable_optimizer() = merged;
  Optimizer &o = *s.mutable_optimizer();
  if (!o.has_lr())
    o.set_lr(defaultLearningRate(s));
  fillDeclaredDefaults(o);

  switch (s.method_case()) {
  case Stage::kSft:
    checkSft(s, *s.mutable_sft(), m);
    break;
  case Stage::kRewardModel:
    checkRewardModel(s, *s.mutable_reward_model(), m);
    break;
  case Stage::kPreference:
    checkPreference(s, *s.mutable_preference(), m);
    break;
  case Stage::kRl:
    checkRl(s, *s.mutable_rl(), m);
    break;
  case Stage::METHOD_NOT_SET:
    break;
  }

  // The output rebinds (or binds a new name to) the trained state.
  if (s.has_output()) {
    if (s.output().empty())
      error(at(s, "output"), "'output' is an empty name",
            "leave it out to keep the model's name");
    else if (s.output() != s.model() && bound_.count(s.output()))
      error(at(s, "output"),
            "output " + q(s.output()) + " would hide model " + q(s.output()),
            "pick a new name for the trained state, or leave 'output' out to "
            "rebind " + q(s.model()));
  } else {
    s.set_output(s.model());
  }
  if (m && !s.output().empty()) {
    Binding b = *m;
    b.loc = at(s, "output");
    if (s.has_lora() && b.loraStage < 0)
      b.loraStage = index;
    bound_[s.output()] = b;
    lastTrained_ = s.output();
  }
}

void Checker::checkLoop(Loop &loop, const Stage &s, const Binding *model,
                        const std::string &datasetName, int64_t longestRow) {
  fillDeclaredDefaults(loop);
  range(loop, "steps");
  range(loop, "epochs");
  range(loop, "batch_size");
  range(loop, "grad_accum");
  int64_t maxSeq = maxSeqOf(model);
  if (loop.has_max_length()) {
    range(loop, "max_length");
    if (maxSeq > 0 && loop.max_length() > maxSeq)
      error(at(loop, "max_length"),
            "'max_length' (" + fmt(long(loop.max_length())) +
                ") exceeds the model's max_seq_len (" + fmt(long(maxSeq)) +
                ")",
            "the model has no positions beyond max_seq_len");
  } else if (maxSeq > 0) {
    // Shapes from the data: the longest row rounded up, so that no row is
    // cut that max_seq_len would keep (docs/compiler.md).
    loop.set_max_length(lengthFromData(longestRow, maxSeq));
  }
  // Steps from epochs, when the data was read.
  auto rec = spec_.recordsOf.find(datasetName);
  if (loop.steps() == 0 && rec != spec_.recordsOf.end() &&
      loop.batch_size() > 0 && loop.epochs() > 0) {
    const Dataset *d = datasets_.count(datasetName) ? datasets_[datasetName]
                                                    : nullptr;
    long long n = rec->second;
    if (d && d->max_records() > 0)
      n = std::min<long long>(n, d->max_records());
    if (d && d->eval_fraction() > 0)
      n -= static_cast<long long>(std::floor(n * d->eval_fraction()));
    // In double: huge batch sizes or epochs must not overflow (the spec
    // fuzzer found epochs of 1e20).
    // Every data-parallel rank takes its own batch each step.
    double perBatch = double(loop.batch_size()) * double(loop.grad_accum()) *
                      double(std::max<long long>(1, p_.hardware().ranks()));
    double steps = std::ceil(std::ceil(double(n) / perBatch) * loop.epochs());
    if (!(steps <= 1e12)) {
      error(at(loop, "epochs"),
            "epochs (" + fmt(loop.epochs()) + ") give more than 10^12 steps",
            "use fewer epochs, or set 'steps' instead");
      return;
    }
    loop.set_steps(std::max<long long>(1, static_cast<long long>(steps)));
  }
}

void Checker::checkSft(Stage &s, Sft &sft, const Binding *m) {
  fillDeclaredDefaults(sft);
  checkLoop(*sft.mutable_loop(), s, m, s.dataset(),
            lengthsOf(s.dataset()).sequence);
  if (m && m->head != Model::lm)
    error(at(s, "model"), "SFT trains a language model, but " + q(s.model()) +
                              " has a scalar head",
          "name a model with 'head: lm'");
  if (const Dataset *d = datasets_.count(s.dataset()) ? datasets_[s.dataset()]
                                                      : nullptr)
    layoutFits(at(s, "dataset"), *d,
               {Dataset::text, Dataset::messages, Dataset::prompt_completion,
                Dataset::prompt_answer},
               "SFT", "SFT learns from demonstrations; preference pairs "
                      "belong to a preference stage");
  if (sft.variant() == Sft::iw_sft) {
    if (!sft.has_reference())
      sft.set_reference(s.model());
    const Binding *ref = model(at(sft, "reference"), sft.reference(),
                               "reference");
    if (ref && ref != m && ref->head != Model::lm)
      error(at(sft, "reference"), "the reference must have an LM head",
            "name a language model");
    sameVocab(at(sft, "reference"), m, ref, "reference");
  } else if (sft.has_reference()) {
    error(at(sft, "reference"),
          "'reference' is only used by variant iw_sft",
          "remove it, or set 'variant: iw_sft'");
  }
  range(sft, "iw_clip");
}

void Checker::checkRewardModel(Stage &s, RewardModelTraining &rm,
                               const Binding *m) {
  fillDeclaredDefaults(rm);
  checkLoop(*rm.mutable_loop(), s, m, s.dataset(), lengthsOf(s.dataset()).pair);
  if (m && m->head != Model::scalar)
    error(at(s, "model"),
          "a reward model needs a scalar head, but " + q(s.model()) +
              " has an LM head",
          "declare a model with 'head: scalar' (e.g. 'from: \"" + s.model() +
              "\" head: scalar') and train that");
  if (const Dataset *d = datasets_.count(s.dataset()) ? datasets_[s.dataset()]
                                                      : nullptr)
    layoutFits(at(s, "dataset"), *d, {Dataset::preference},
               "a Bradley-Terry reward model",
               "use data with prompt/chosen/rejected columns");
  range(rm, "center_rewards");
}

void Checker::checkPreference(Stage &s, Preference &pref, const Binding *m) {
  if (!pref.has_beta())
    pref.set_beta(defaultPreferenceBeta(pref.loss()));
  bool ktoWeights =
      (pref.has_desirable_weight() &&
       !atDeclaredDefault(pref, "desirable_weight")) ||
      (pref.has_undesirable_weight() &&
       !atDeclaredDefault(pref, "undesirable_weight"));
  const char *ktoField =
      pref.has_desirable_weight() && !atDeclaredDefault(pref, "desirable_weight")
          ? "desirable_weight"
          : "undesirable_weight";
  fillDeclaredDefaults(pref);
  // KTO's rows pair a prompt with another record's completion: not
  // measured, max_seq_len.
  checkLoop(*pref.mutable_loop(), s, m, s.dataset(),
            pref.loss() == Preference::kto ? -1 : lengthsOf(s.dataset()).pair);
  std::string loss = Preference::Loss_Name(pref.loss());
  if (m && m->head != Model::lm)
    error(at(s, "model"), loss + " trains a language model, but " +
                              q(s.model()) + " has a scalar head",
          "name a model with 'head: lm'");
  if (const Dataset *d = datasets_.count(s.dataset()) ? datasets_[s.dataset()]
                                                      : nullptr) {
    if (pref.loss() == Preference::kto)
      layoutFits(at(s, "dataset"), *d,
                 {Dataset::unpaired_preference, Dataset::preference}, "kto",
                 "use prompt/completion/label data (pairs also work)");
    else
      layoutFits(at(s, "dataset"), *d, {Dataset::preference}, loss,
                 "use data with prompt/chosen/rejected columns");
  }
  range(pref, "beta");
  range(pref, "label_smoothing");
  range(pref, "desirable_weight");
  range(pref, "undesirable_weight");
  bool refFree =
      pref.loss() == Preference::orpo || pref.loss() == Preference::simpo;
  if (refFree) {
    if (pref.has_reference())
      error(at(pref, "reference"), loss + " uses no reference model",
            "remove 'reference', or use dpo/ipo/kto");
  } else {
    if (!pref.has_reference())
      pref.set_reference(s.model());
    const Binding *ref =
        model(at(pref, "reference"), pref.reference(), "reference");
    if (ref && ref != m && ref->head != Model::lm)
      error(at(pref, "reference"), "the reference must have an LM head",
            "name a language model");
    sameVocab(at(pref, "reference"), m, ref, "reference");
  }
  if (pref.loss() != Preference::kto && ktoWeights)
    error(at(pref, ktoField),
          "desirable/undesirable weights are only used by kto",
          "remove them, or set 'loss: kto'");
}

} // namespace hone::spec::check
