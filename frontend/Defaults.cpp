//===- Defaults.cpp - every default of a spec setting, in one place -------===//

#include "frontend/Defaults.h"
#include "dialect/MethodFamilies.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>

namespace hone::spec {

namespace pb = google::protobuf;

void fillDeclaredDefaults(pb::Message &m) {
  const pb::Descriptor *d = m.GetDescriptor();
  const pb::Reflection *r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor *f = d->field(i);
    if (f->is_repeated() || f->containing_oneof() || r->HasField(m, f) ||
        !f->has_default_value())
      continue;
    switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      r->SetInt32(&m, f, f->default_value_int32());
      break;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      r->SetInt64(&m, f, f->default_value_int64());
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      r->SetUInt32(&m, f, f->default_value_uint32());
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      r->SetUInt64(&m, f, f->default_value_uint64());
      break;
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      r->SetDouble(&m, f, f->default_value_double());
      break;
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      r->SetFloat(&m, f, f->default_value_float());
      break;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      r->SetBool(&m, f, f->default_value_bool());
      break;
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      r->SetEnum(&m, f, f->default_value_enum());
      break;
    case pb::FieldDescriptor::CPPTYPE_STRING:
      r->SetString(&m, f, f->default_value_string());
      break;
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
    }
  }
}

std::string defaultPipelineName(const std::string &specPath,
                                const std::string &specDir) {
  std::string stem = specPath.substr(specPath.rfind('/') + 1);
  stem = stem.substr(0, stem.find('.'));
  if (stem.empty())
    stem = "pipeline";
  if (stem == "spec") {
    std::string dir = specDir;
    while (dir.size() > 1 && dir.back() == '/')
      dir.pop_back();
    std::string last = dir.substr(dir.rfind('/') + 1);
    if (!last.empty() && last != "." && last != "..")
      stem = last;
  }
  return stem;
}

std::string defaultOutputDir(const std::string &pipelineName) {
  return "runs/" + pipelineName;
}

int64_t defaultModelSeed(int64_t pipelineSeed, int index) {
  return pipelineSeed + index + 1;
}

int64_t defaultShuffleSeed(int64_t pipelineSeed) { return pipelineSeed; }

double defaultLearningRate(const Stage &s) {
  return s.has_sft() ? 2e-5 : s.has_reward_model() ? 1e-5 : 1e-6;
}

double defaultPreferenceBeta(Preference::Loss loss) {
  return loss == Preference::simpo ? 2.0 : 0.1;
}

void resolveRlDefaults(Rl &rl, const Hardware &hw) {
  Rl::Algorithm algo = rl.algorithm();
  bool grpoFamily = methods::isGrpoFamily(Rl::Algorithm_Name(algo));
  if (!rl.has_beta())
    rl.set_beta(algo == Rl::ppo || algo == Rl::rloo ? 0.05
                : algo == Rl::reinforce_pp          ? 0.01
                                                    : 0.0);
  if (!rl.has_kl_estimator())
    rl.set_kl_estimator(grpoFamily ? Rl::k3 : Rl::k1);
  if (!rl.has_kl_placement())
    rl.set_kl_placement(grpoFamily ? Rl::in_loss : Rl::in_reward);
  PolicyLoss::Kind loss = rl.policy_loss().kind();
  bool gspo = loss == PolicyLoss::gspo || loss == PolicyLoss::gspo_token;
  if (gspo && !rl.has_epsilon())
    rl.set_epsilon(3e-4);
  if (!rl.has_epsilon_high())
    rl.set_epsilon_high(gspo                                       ? 4e-4
                        : algo == Rl::dapo || loss == PolicyLoss::cispo ? 0.28
                                                                   : rl.epsilon());
  if (!rl.has_ppo_epochs())
    rl.set_ppo_epochs(algo == Rl::ppo ? 4 : 1);
  if (!rl.has_aggregation())
    rl.set_aggregation(algo == Rl::dapo || algo == Rl::reinforce_pp ||
                               loss == PolicyLoss::cispo
                           ? Rl::token_mean
                       : algo == Rl::dr_grpo ? Rl::constant
                                             : Rl::sequence_mean);
  if (!rl.has_scale_rewards())
    rl.set_scale_rewards(algo != Rl::dr_grpo);
  if (!rl.has_dynamic_sampling())
    rl.set_dynamic_sampling(algo == Rl::dapo);
  if (!rl.has_staleness())
    rl.set_staleness(hw.rollout_staleness());
  if (rl.has_policy_loss())
    fillDeclaredDefaults(*rl.mutable_policy_loss());
  fillDeclaredDefaults(rl);
}

int64_t defaultSamplesPerPrompt(Rl::Algorithm algo) {
  return methods::isGrpoFamily(Rl::Algorithm_Name(algo)) ? 8
         : algo == Rl::rloo                               ? 2
                                                          : 1;
}

Schedule defaultChordMu(int64_t steps) {
  Schedule mu;
  mu.set_shape(Schedule::warmup_cosine);
  mu.set_start(0.9);
  mu.set_end(0.05);
  mu.set_warmup_steps(steps / 10);
  return mu;
}

Schedule defaultUftHint() {
  Schedule h;
  h.set_shape(Schedule::cosine);
  h.set_start(1);
  h.set_end(0);
  return h;
}

void resolveLoraDefaults(Lora &lora) {
  if (lora.target_modules_size() == 0) {
    lora.add_target_modules("q_proj");
    lora.add_target_modules("v_proj");
  }
  fillDeclaredDefaults(lora);
}

Generation evaluationGeneration(const Generation &pipeline,
                                const Generation &evaluation) {
  Generation g = pipeline;
  if (!g.has_temperature())
    g.set_temperature(0);
  if (!g.has_samples_per_prompt())
    g.set_samples_per_prompt(1);
  g.MergeFrom(evaluation);
  fillDeclaredDefaults(g);
  return g;
}

int64_t lengthFromData(int64_t longest, int64_t cap) {
  if (longest < 1 || longest >= cap)
    return cap;
  return std::min(cap, (longest + 7) / 8 * 8);
}

} // namespace hone::spec
