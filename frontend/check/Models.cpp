// models: architectures (declared, or read from a Hugging Face config.json),
// their limits and the names stages bind.
#include "frontend/check/Checker.h"

namespace hone::spec::check {

bool Checker::checkArchitecture(Architecture &a, const Message &owner) {
  bool ok = true;
  size_t before = diags_.errorCount();
  for (const char *f : {"d_model", "layers", "heads"}) {
    const FieldDescriptor *fd = a.GetDescriptor()->FindFieldByName(f);
    if (!a.GetReflection()->HasField(a, fd)) {
      error(at(a), std::string("the architecture needs ") + q(f),
            "set d_model, layers and heads (e.g. d_model: 64 layers: 2 "
            "heads: 4)");
      ok = false;
    }
  }
  if (!ok)
    return false;
  range(a, "d_model");
  range(a, "layers");
  range(a, "heads");
  if (!checkArchitectureLimits(a))
    return false;
  if (!a.has_kv_heads())
    a.set_kv_heads(a.heads());
  if (!a.has_vocab() && tokenizerVocab_ > 0)
    a.set_vocab(tokenizerVocab_);
  if (!a.has_ffn() && a.d_model() > 0)
    a.set_ffn(a.family() == Architecture::gpt2
                  ? 4 * a.d_model()
                  : (8 * a.d_model() / 3 + 7) / 8 * 8);
  range(a, "kv_heads");
  range(a, "ffn");
  range(a, "max_seq_len");
  if (a.has_vocab())
    range(a, "vocab");
  range(a, "norm_eps");
  if (!(a.rope_theta() > 0))
    error(at(a, "rope_theta"),
          "'rope_theta' must be positive, got " + fmt(a.rope_theta()),
          "the usual value is 10000");
  if (diags_.errorCount() != before)
    return false;
  const int64_t headDim =
      a.has_head_dim() ? a.head_dim() : a.d_model() / a.heads();
  if (a.has_head_dim() && a.head_dim() <= 0)
    error(at(a, "head_dim"),
          "'head_dim' must be positive, got " + fmt(long(a.head_dim())),
          "leave it out for d_model / heads");
  else if (a.has_head_dim() && a.family() == Architecture::gpt2)
    error(at(a, "head_dim"), "'head_dim' applies to the llama family only",
          "gpt2 heads are d_model / heads wide: remove head_dim");
  else if (a.has_head_dim() && headDim % 2 != 0)
    error(at(a, "head_dim"),
          "the head dimension " + fmt(long(headDim)) + " is odd",
          "rotary embeddings rotate pairs of dimensions: make it even");
  else if (!a.has_head_dim() && a.d_model() % a.heads() != 0)
    error(at(a, "heads"),
          "d_model (" + fmt(long(a.d_model())) +
              ") is not a multiple of heads (" + fmt(long(a.heads())) + ")",
          "each head gets d_model / heads dimensions: pick heads dividing "
          "d_model");
  else if (a.family() == Architecture::llama && !a.has_head_dim() &&
           (a.d_model() / a.heads()) % 2 != 0)
    error(at(a, "heads"),
          "the head dimension d_model / heads = " +
              fmt(long(a.d_model() / a.heads())) + " is odd",
          "rotary embeddings rotate pairs of dimensions: make it even");
  if (a.heads() % a.kv_heads() != 0)
    error(at(a, "kv_heads"),
          "heads (" + fmt(long(a.heads())) +
              ") is not a multiple of kv_heads (" + fmt(long(a.kv_heads())) +
              ")",
          "grouped-query attention shares each key/value head among "
          "heads / kv_heads query heads");
  if (a.family() == Architecture::gpt2 && a.kv_heads() != a.heads())
    error(at(a, "kv_heads"), "gpt2 has no grouped-query attention",
          "remove kv_heads, or use family: llama");
  if (a.family() == Architecture::gpt2 && a.has_qkv_bias())
    error(at(a, "qkv_bias"), "'qkv_bias' applies to the llama family only",
          "gpt2 always has biases: remove qkv_bias");
  if (a.qk_norm() && a.family() == Architecture::gpt2)
    error(at(a, "qk_norm"), "'qk_norm' applies to the llama family only",
          "remove qk_norm, or use family: llama");
  else if (a.qk_norm() && a.qkv_bias())
    error(at(a, "qk_norm"), "'qk_norm' with 'qkv_bias' matches no supported "
                            "model (Qwen3 has no q/k/v bias)",
          "remove one of them");
  if (a.has_rope_scaling()) {
    const Architecture::RopeScaling &rs = a.rope_scaling();
    if (a.family() == Architecture::gpt2)
      error(at(a, "rope_scaling"),
            "'rope_scaling' applies to the llama family only",
            "gpt2 uses learned positions: remove rope_scaling");
    else if (!(rs.factor() > 0))
      error(at(rs, "factor"),
            "'factor' must be positive, got " + fmt(rs.factor()),
            "Llama 3.1 uses 8");
    else if (rs.type() == Architecture::RopeScaling::llama3 &&
             !(rs.low_freq_factor() > 0 &&
               rs.high_freq_factor() > rs.low_freq_factor() &&
               rs.original_max_seq_len() > 0))
      error(at(a, "rope_scaling"),
            "llama3 rope_scaling needs 0 < low_freq_factor < "
            "high_freq_factor and a positive original_max_seq_len",
            "Llama 3.1 uses 1, 4 and 8192");
  }
  if (a.family() == Architecture::gpt2 && a.has_rope_theta())
    error(at(a, "rope_theta"), "'rope_theta' applies to the llama family only",
          "gpt2 uses learned positions: remove rope_theta");
  if (!a.has_vocab()) {
    error(at(a), "the architecture needs 'vocab'",
          "set vocab to the tokenizer's vocabulary size");
  } else if (tokenizerVocab_ > 0 && a.vocab() < tokenizerVocab_) {
    error(at(a, "vocab"),
          "vocab (" + fmt(long(a.vocab())) +
              ") is smaller than the tokenizer's vocabulary (" +
              fmt(long(tokenizerVocab_)) + ")",
          "leave vocab out to take the tokenizer's size");
  }
  if (diags_.errorCount() == before)
    checkParameterCount(a);
  return diags_.errorCount() == before;
}

bool Checker::readHfConfig(const Model &m, Architecture &arch) {
  std::string dir = spec_.resolvePath(m.load());
  if (m.load().empty() || !isDir(dir)) {
    error(at(m, "load"), "model directory " + q(m.load()) + " not found",
          "paths are relative to the spec's directory (" + spec_.baseDir +
              ")");
    return false;
  }
  // A FIFO config.json would block the read (a device may never end).
  if (std::string kind = fileKind(dir + "/config.json");
      !kind.empty() && !isFile(dir + "/config.json")) {
    error(at(m, "load"),
          "model directory " + q(m.load()) + ": config.json is " + kind +
              ", not a file",
          "give a Hugging Face model directory (config.json and "
          "model.safetensors)");
    return false;
  }
  std::ifstream in(dir + "/config.json", std::ios::binary);
  if (!in) {
    error(at(m, "load"), "model directory " + q(m.load()) + " has no config.json",
          "give a Hugging Face model directory (config.json and "
          "model.safetensors)");
    return false;
  }
  if (!isFile(dir + "/model.safetensors") &&
      !isFile(dir + "/model.safetensors.index.json")) {
    error(at(m, "load"),
          "model directory " + q(m.load()) + " has no model.safetensors",
          "Hone reads safetensors weights (a single file or a sharded index)");
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json::ParseOptions po;
  std::string name = m.load() + "/config.json";
  po.sourceName = name;
  auto cfg = json::parse(ss.str(), po);
  if (!cfg || !cfg->isObject()) {
    error(at(m, "load"),
          "cannot read " + q(name) +
              (cfg ? std::string(": not an object")
                   : ": " + cfg.status().message()),
          "config.json must be the Hugging Face model configuration");
    return false;
  }
  auto num = [&](std::initializer_list<const char *> keys) -> const json::Value * {
    for (const char *k : keys)
      if (const json::Value *v = cfg->find(k); v && v->isNumber())
        return v;
    return nullptr;
  };
  std::string type;
  if (const json::Value *t = cfg->find("model_type"); t && t->isString())
    type = t->asString();
  if (type == "gpt2")
    arch.set_family(Architecture::gpt2);
  else if (type == "llama" || type == "qwen2" || type == "qwen3" ||
           type == "mistral")
    arch.set_family(Architecture::llama);
  else {
    error(at(m, "load"),
          "unsupported model_type " + q(type) + " in " + q(name),
          "Hone runs gpt2 and the llama family (llama, mistral, qwen2, "
          "qwen3)");
    return false;
  }
  struct Key {
    std::initializer_list<const char *> names;
    void (Architecture::*set)(int64_t);
    bool required;
  };
  Key keys[] = {
      {{"vocab_size"}, &Architecture::set_vocab, true},
      {{"hidden_size", "n_embd"}, &Architecture::set_d_model, true},
      {{"num_hidden_layers", "n_layer"}, &Architecture::set_layers, true},
      {{"num_attention_heads", "n_head"}, &Architecture::set_heads, true},
      {{"num_key_value_heads"}, &Architecture::set_kv_heads, false},
      {{"intermediate_size", "n_inner"}, &Architecture::set_ffn, false},
      {{"max_position_embeddings", "n_positions"},
       &Architecture::set_max_seq_len, false},
  };
  for (const Key &k : keys) {
    const json::Value *v = num(k.names);
    if (v && v->isInt())
      (arch.*k.set)(v->asInt());
    else if (k.required) {
      error(at(m, "load"),
            q(name) + " has no integer " + q(*k.names.begin()),
            "config.json must be the Hugging Face model configuration");
      return false;
    }
  }
  if (const json::Value *v = num({"rms_norm_eps", "layer_norm_epsilon"}))
    arch.set_norm_eps(v->asDouble());
  if (const json::Value *v = num({"rope_theta"}))
    arch.set_rope_theta(v->asDouble());
  if (const json::Value *v = cfg->find("tie_word_embeddings"); v && v->isBool())
    arch.set_tie_embeddings(v->asBool());
  if (type == "qwen2")
    arch.set_qkv_bias(true);
  if (const json::Value *v = cfg->find("attention_bias"); v && v->isBool())
    arch.set_qkv_bias(v->asBool());
  if (arch.family() == Architecture::gpt2)
    arch.clear_qkv_bias();
  if (type == "qwen3") { // per-head q/k norm; Qwen3Config's head_dim is 128
    arch.set_qk_norm(true);
    arch.set_head_dim(128);
  }
  if (const json::Value *v = num({"head_dim"}); v && v->isInt())
    arch.set_head_dim(v->asInt());
  // RoPE scaling (transformers 5 nests it, and theta, in rope_parameters).
  const json::Value *scaling = cfg->find("rope_scaling");
  if (const json::Value *rp = cfg->find("rope_parameters");
      rp && rp->isObject()) {
    scaling = rp;
    if (const json::Value *t = rp->find("rope_theta"); t && t->isNumber())
      arch.set_rope_theta(t->asDouble());
  }
  if (scaling && scaling->isObject()) {
    std::string kind;
    for (const char *k : {"type", "rope_type"})
      if (const json::Value *t = scaling->find(k); t && t->isString())
        kind = t->asString();
    auto field = [&](const char *k, double def) {
      const json::Value *v = scaling->find(k);
      return v && v->isNumber() ? v->asDouble() : def;
    };
    if (kind == "linear" || kind == "llama3") {
      Architecture::RopeScaling *rs = arch.mutable_rope_scaling();
      rs->set_type(kind == "linear" ? Architecture::RopeScaling::linear
                                    : Architecture::RopeScaling::llama3);
      rs->set_factor(field("factor", 0));
      rs->set_low_freq_factor(field("low_freq_factor", 1));
      rs->set_high_freq_factor(field("high_freq_factor", 4));
      rs->set_original_max_seq_len(
          int64_t(field("original_max_position_embeddings", 8192)));
    } else if (!kind.empty() && kind != "default") {
      error(at(m, "load"),
            "rope_scaling type " + q(kind) + " in " + q(name) +
                " is not supported",
            "Hone implements default, linear and llama3 RoPE scaling");
      return false;
    }
  }
  if (const json::Value *v = cfg->find("use_sliding_window");
      v && v->isBool() && v->asBool()) {
    error(at(m, "load"),
          "sliding-window attention (" + q(name) + ") is not supported",
          "set use_sliding_window to false (full attention)");
    return false;
  }
  // Mistral's sliding window equals full attention up to its length.
  if (const json::Value *v = num({"sliding_window"});
      type == "mistral" && v && v->isInt() && v->asInt() > 0 &&
      v->asInt() < arch.max_seq_len())
    arch.set_max_seq_len(v->asInt());
  // The declared locations are the load field's: report sizes there.
  Architecture checked = arch;
  size_t before = diags_.errorCount();
  DiagnosticList scratch;
  std::swap(scratch, diags_);
  bool ok = checkArchitecture(checked, m);
  std::swap(scratch, diags_);
  if (!ok) {
    std::string why = scratch.all().empty() ? "" : scratch.all()[0].message;
    error(at(m, "load"), "the configuration in " + q(name) + " is invalid: " + why,
          "fix config.json");
  }
  arch = checked;
  return diags_.errorCount() == before;
}

void Checker::checkModels() {
  std::vector<std::string> names;
  for (const Model &m : p_.models())
    names.push_back(m.name());
  for (int i = 0; i < p_.models_size(); ++i) {
    Model &m = *p_.mutable_models(i);
    if (!m.has_name() || m.name().empty()) {
      error(at(p_, "models", i), "the model has no name",
            "add 'name: \"policy\"'; stages refer to models by name");
      continue;
    }
    if (models_.count(m.name())) {
      diags_.error(at(m, "name"), "model " + q(m.name()) + " is declared twice")
          .note(at(*models_[m.name()], "name"), "first declared here");
      continue;
    }
    models_[m.name()] = &m;
    if (!m.has_seed())
      m.set_seed(defaultModelSeed(p_.seed(), i));
    range(m, "seed");
    Architecture arch;
    switch (m.source_case()) {
    case Model::kInit:
      if (checkArchitecture(*m.mutable_init(), m))
        spec_.archOf[m.name()] = m.init();
      break;
    case Model::kLoad:
      if (!opts_.checkFiles)
        break;
      if (readHfConfig(m, arch)) {
        if (tokenizerVocab_ > 0 && arch.vocab() < tokenizerVocab_)
          error(at(m, "load"),
                "the model's vocab_size (" + fmt(long(arch.vocab())) +
                    ") is smaller than the tokenizer's vocabulary (" +
                    fmt(long(tokenizerVocab_)) + ")",
                "use the model's own tokenizer.json");
        spec_.archOf[m.name()] = arch;
      }
      break;
    case Model::kFrom:
      break; // after all declarations are known
    case Model::SOURCE_NOT_SET:
      error(at(m, "name"), "model " + q(m.name()) + " has no source",
            "add 'init { ... }' (a new model), 'load: \"dir\"' (a Hugging "
            "Face directory) or 'from: \"other\"' (another model's body)");
      break;
    }
  }
  // Copies: follow `from` chains to a model with an architecture.
  std::set<std::string> inCycle;
  for (int i = 0; i < p_.models_size(); ++i) {
    const Model &m = p_.models(i);
    // find(), not operator[]: a model skipped above (no name) must not
    // become a null entry.
    auto self = models_.find(m.name());
    if (m.source_case() != Model::kFrom || self == models_.end() ||
        self->second != &m)
      continue;
    if (inCycle.count(m.name()))
      continue;
    const Model *cur = &m;
    std::set<std::string> seen{m.name()};
    std::string chain = m.name();
    bool bad = false;
    while (cur->source_case() == Model::kFrom) {
      chain += " -> " + cur->from();
      auto it = models_.find(cur->from());
      if (it == models_.end()) {
        unknownName(at(*cur, "from"), "model", cur->from(), names,
                    "'from' names another declared model");
        bad = true;
        break;
      }
      if (!seen.insert(cur->from()).second) {
        error(at(m, "from"),
              "model " + q(m.name()) + " is copied from itself (" + chain +
                  ")",
              "'from' chains must end at a model with 'init' or 'load'");
        inCycle.insert(seen.begin(), seen.end());
        bad = true;
        break;
      }
      cur = it->second;
    }
    if (bad || cur == &m)
      continue;
    auto a = spec_.archOf.find(cur->name());
    if (a != spec_.archOf.end())
      spec_.archOf[m.name()] = a->second;
  }
  for (const auto &kv : models_)
    bound_[kv.first] = Binding{kv.first, kv.second->head(), at(*kv.second)};
}

} // namespace hone::spec::check
