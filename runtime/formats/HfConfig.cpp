#include "runtime/formats/HfConfig.h"

#include "runtime/formats/AtomicFile.h"

#include <sys/stat.h>

namespace hone {

namespace {
constexpr int64_t kMaxParameters = int64_t(1) << 36;

int64_t sizeLimit(std::string_view key) {
  if (key == "vocab_size")
    return int64_t(1) << 24;
  if (key == "n_embd" || key == "hidden_size")
    return int64_t(1) << 16;
  if (key == "n_inner" || key == "intermediate_size" || key == "n_positions" ||
      key == "n_ctx" || key == "max_position_embeddings" ||
      key == "original_max_position_embeddings")
    return int64_t(1) << 20;
  return 4096; // layers, heads, key/value heads
}

class Reader {
public:
  Reader(const json::Value &obj, std::string_view source, std::string_view text)
      : obj_(obj), source_(source), text_(text) {}

  Status errorAt(const json::Value *v, const std::string &msg,
                 std::string hint = {}) const {
    std::string where(source_);
    if (v && !text_.empty()) {
      json::Location loc = json::locate(text_, v->offset());
      where +=
          ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
    }
    return Status::error(where + ": error: " + msg, std::move(hint));
  }

  const json::Value *get(std::string_view key) const {
    const json::Value *v = obj_.find(key);
    return v && !v->isNull() ? v : nullptr;
  }

  /// A required positive integer among `keys` (first found wins), at most
  /// the size limit of its kind (hone's spec check has the same bounds), so
  /// that no product of sizes overflows and nothing asks for exabytes.
  Status positiveInt(std::initializer_list<const char *> keys, int64_t *out,
                     bool required = true) const {
    for (const char *k : keys) {
      if (const json::Value *v = get(k)) {
        if (!v->isInt() || v->asInt() <= 0)
          return errorAt(v,
                         std::string("'") + k + "' must be a positive integer");
        int64_t limit = sizeLimit(k);
        if (v->asInt() > limit)
          return errorAt(v, std::string("'") + k + "' is " +
                                std::to_string(v->asInt()) +
                                ", more than the largest model size Hone "
                                "accepts (" +
                                std::to_string(limit) + ")");
        *out = v->asInt();
        return Status::ok();
      }
    }
    if (!required)
      return Status::ok();
    return errorAt(nullptr,
                   std::string("config.json lacks '") + *keys.begin() + "'");
  }

  Status number(const char *key, double *out) const {
    if (const json::Value *v = get(key)) {
      if (!v->isNumber() || v->asDouble() <= 0)
        return errorAt(v,
                       std::string("'") + key + "' must be a positive number");
      *out = v->asDouble();
    }
    return Status::ok();
  }

  Status boolean(const char *key, bool *out) const {
    if (const json::Value *v = get(key)) {
      if (!v->isBool())
        return errorAt(v, std::string("'") + key + "' must be true or false");
      *out = v->asBool();
    }
    return Status::ok();
  }

  Status string(const char *key, std::string *out) const {
    if (const json::Value *v = get(key)) {
      if (!v->isString())
        return errorAt(v, std::string("'") + key + "' must be a string");
      *out = v->asString();
    }
    return Status::ok();
  }

  const json::Value &obj_;
  std::string_view source_, text_;
};

bool contains(const std::string &s, const char *needle) {
  return s.find(needle) != std::string::npos;
}
} // namespace

Expected<ModelConfig> modelConfigFromHfJson(const json::Value &config,
                                            std::string_view sourceName,
                                            std::string_view text) {
  Reader r(config, sourceName, text);
  if (!config.isObject())
    return r.errorAt(&config, "config.json must be a JSON object");
  std::string modelType, arch;
  HONE_TRY(r.string("model_type", &modelType));
  if (const json::Value *a = r.get("architectures")) {
    if (!a->isArray() || (a->size() && !a->items()[0].isString()))
      return r.errorAt(a, "'architectures' must be a list of strings");
    if (a->size())
      arch = a->items()[0].asString();
  }
  if (modelType.empty()) {
    if (contains(arch, "GPT2"))
      modelType = "gpt2";
    else if (contains(arch, "Qwen3"))
      modelType = "qwen3";
    else if (contains(arch, "Qwen2"))
      modelType = "qwen2";
    else if (contains(arch, "Mistral"))
      modelType = "mistral";
    else if (contains(arch, "Llama"))
      modelType = "llama";
  }

  ModelConfig c;
  c.head = contains(arch, "ForSequenceClassification") ||
                   contains(arch, "ForTokenClassification")
               ? HeadKind::Scalar
               : HeadKind::LM;
  if (c.head == HeadKind::Scalar) {
    int64_t labels = 1;
    if (const json::Value *v = r.get("num_labels"))
      labels = v->isInt() ? v->asInt() : -1;
    if (labels != 1)
      return r.errorAt(r.get("num_labels"),
                       "a scalar (reward/value) head needs num_labels 1");
  }
  HONE_TRY(r.positiveInt({"vocab_size"}, &c.vocabSize));

  if (modelType == "gpt2") {
    c.family = ModelFamily::GPT2;
    HONE_TRY(r.positiveInt({"n_embd", "hidden_size"}, &c.dModel));
    HONE_TRY(r.positiveInt({"n_layer", "num_hidden_layers"}, &c.nLayers));
    HONE_TRY(r.positiveInt({"n_head", "num_attention_heads"}, &c.nHeads));
    HONE_TRY(r.positiveInt({"n_positions", "n_ctx", "max_position_embeddings"},
                           &c.maxSeqLen));
    c.nKvHeads = c.nHeads;
    c.dFf = 4 * c.dModel;
    HONE_TRY(r.positiveInt({"n_inner"}, &c.dFf, /*required=*/false));
    c.normEps = 1e-5;
    HONE_TRY(r.number("layer_norm_epsilon", &c.normEps));
    c.tieEmbeddings = true;
    HONE_TRY(r.boolean("tie_word_embeddings", &c.tieEmbeddings));
    c.qkvBias = false; // GPT-2 biases are implied by the family
    std::string act = "gelu_new";
    HONE_TRY(r.string("activation_function", &act));
    if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu")
      return r.errorAt(r.get("activation_function"),
                       "activation_function '" + act + "' is not supported",
                       "the runtime implements GPT-2's tanh GELU (gelu_new)");
  } else if (modelType == "llama" || modelType == "qwen2" ||
             modelType == "qwen3" || modelType == "mistral") {
    const bool qwen = modelType == "qwen2" || modelType == "qwen3";
    c.family = ModelFamily::Llama;
    HONE_TRY(r.positiveInt({"hidden_size"}, &c.dModel));
    HONE_TRY(r.positiveInt({"num_hidden_layers"}, &c.nLayers));
    HONE_TRY(r.positiveInt({"num_attention_heads"}, &c.nHeads));
    c.nKvHeads = c.nHeads;
    HONE_TRY(r.positiveInt({"num_key_value_heads"}, &c.nKvHeads, false));
    HONE_TRY(r.positiveInt({"intermediate_size"}, &c.dFf));
    HONE_TRY(r.positiveInt({"max_position_embeddings"}, &c.maxSeqLen));
    c.normEps = 1e-6;
    HONE_TRY(r.number("rms_norm_eps", &c.normEps));
    c.ropeTheta = 10000.0;
    HONE_TRY(r.number("rope_theta", &c.ropeTheta));
    c.tieEmbeddings = false;
    HONE_TRY(r.boolean("tie_word_embeddings", &c.tieEmbeddings));
    c.qkvBias = modelType == "qwen2";
    c.qkNorm = modelType == "qwen3";
    if (modelType != "qwen2") {
      // Llama's and Qwen3's attention_bias also puts a bias on o_proj.
      bool attnBias = false, mlpBias = false;
      HONE_TRY(r.boolean("attention_bias", &attnBias));
      HONE_TRY(r.boolean("mlp_bias", &mlpBias));
      if (attnBias || mlpBias)
        return r.errorAt(r.get(attnBias ? "attention_bias" : "mlp_bias"),
                         modelType + " attention_bias/mlp_bias is not "
                                     "supported",
                         "Hone has biases on q/k/v only (qwen2)");
    }
    std::string act = "silu";
    HONE_TRY(r.string("hidden_act", &act));
    if (act != "silu")
      return r.errorAt(r.get("hidden_act"),
                       "hidden_act '" + act + "' is not supported",
                       "the runtime implements SwiGLU (silu)");
    // head_dim: Qwen3's default is 128, the others' hidden_size / heads.
    int64_t headDim = modelType == "qwen3" ? 128 : 0;
    HONE_TRY(r.positiveInt({"head_dim"}, &headDim, /*required=*/false));
    if (headDim && headDim * c.nHeads != c.dModel)
      c.headDimension = headDim;
    if (c.headDim() % 2)
      return r.errorAt(r.get("head_dim"),
                       "the head dimension " + std::to_string(c.headDim()) +
                           " is odd",
                       "rotary embeddings rotate pairs of dimensions");
    // RoPE: transformers 5 nests theta and scaling in rope_parameters.
    const json::Value *rs = r.get("rope_scaling");
    if (const json::Value *rp = r.get("rope_parameters")) {
      if (!rp->isObject())
        return r.errorAt(rp, "'rope_parameters' must be an object");
      Reader pr(*rp, r.source_, r.text_);
      HONE_TRY(pr.number("rope_theta", &c.ropeTheta));
      rs = rp;
    }
    if (rs) {
      if (!rs->isObject())
        return r.errorAt(rs, "'rope_scaling' must be an object or null");
      Reader sr(*rs, r.source_, r.text_);
      std::string type;
      HONE_TRY(sr.string("type", &type));
      HONE_TRY(sr.string("rope_type", &type));
      if (type == "linear" || type == "llama3") {
        const json::Value *f = sr.get("factor");
        if (!f)
          return r.errorAt(rs, "rope_scaling '" + type + "' needs 'factor'");
        HONE_TRY(sr.number("factor", &c.ropeFactor));
        c.ropeScaling = type == "linear" ? ModelConfig::RopeScaling::Linear
                                         : ModelConfig::RopeScaling::Llama3;
      }
      if (type == "llama3") {
        HONE_TRY(sr.number("low_freq_factor", &c.ropeLowFreqFactor));
        HONE_TRY(sr.number("high_freq_factor", &c.ropeHighFreqFactor));
        HONE_TRY(sr.positiveInt({"original_max_position_embeddings"},
                                &c.ropeOriginalMaxPos));
        if (!(c.ropeHighFreqFactor > c.ropeLowFreqFactor))
          return r.errorAt(rs, "rope_scaling llama3 needs high_freq_factor > "
                               "low_freq_factor");
      } else if (type != "linear" && type != "default" && !type.empty()) {
        return r.errorAt(rs, "rope_scaling type '" + type +
                                 "' is not supported",
                         "Hone implements default, linear and llama3 "
                         "(dynamic, yarn, longrope are not yet)");
      }
    }
    if (const json::Value *sw = r.get("use_sliding_window"))
      if (qwen && sw->isBool() && sw->asBool())
        return r.errorAt(sw, "sliding-window attention is not supported",
                         "set use_sliding_window to false (full attention)");
    if (modelType == "mistral") {
      // Sliding-window attention equals full causal attention on sequences
      // no longer than the window: cap the model's length there.
      int64_t window = 0;
      HONE_TRY(r.positiveInt({"sliding_window"}, &window, /*required=*/false));
      if (window && window < c.maxSeqLen)
        c.maxSeqLen = window;
    }
  } else {
    return r.errorAt(r.get("model_type"),
                     "model_type '" + modelType + "' is not supported",
                     "supported: gpt2, llama, mistral, qwen2, qwen3");
  }
  double params =
      double(c.nLayers) * (4.0 * c.dModel * c.dModel + 3.0 * c.dModel * c.dFf) +
      2.0 * c.vocabSize * c.dModel;
  if (params > kMaxParameters)
    return r.errorAt(nullptr,
                     "the model has about " + std::to_string(int64_t(params)) +
                         " parameters, more than the " +
                         std::to_string(kMaxParameters) + " Hone can train");
  if (!c.headDimension && c.dModel % c.nHeads != 0)
    return r.errorAt(nullptr, "hidden size " + std::to_string(c.dModel) +
                                  " is not divisible by the number of heads " +
                                  std::to_string(c.nHeads));
  if (c.nHeads % c.nKvHeads != 0)
    return r.errorAt(r.get("num_key_value_heads"),
                     "num_attention_heads must be a multiple of "
                     "num_key_value_heads");
  return c;
}

Expected<ModelConfig> loadHfConfig(const std::string &path) {
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    file = path + "/config.json";
  Expected<std::string> text = readFile(file, size_t(16) << 20);
  if (!text)
    return text.status();
  json::ParseOptions po;
  po.sourceName = file;
  Expected<json::Value> v = json::parse(*text, po);
  if (!v)
    return v.status();
  return modelConfigFromHfJson(*v, file, *text);
}

json::Value modelConfigToHfJson(const ModelConfig &c) {
  using json::Value;
  Value o = Value::object();
  bool scalar = c.head == HeadKind::Scalar;
  if (c.family == ModelFamily::GPT2) {
    Value arch = Value::array();
    arch.push(scalar ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel");
    o.set("architectures", std::move(arch));
    o.set("model_type", "gpt2");
    o.set("vocab_size", c.vocabSize);
    o.set("n_embd", c.dModel);
    o.set("n_layer", c.nLayers);
    o.set("n_head", c.nHeads);
    o.set("n_positions", c.maxSeqLen);
    o.set("n_ctx", c.maxSeqLen);
    o.set("n_inner", c.dFf);
    o.set("layer_norm_epsilon", c.normEps);
    o.set("activation_function", "gelu_new");
    o.set("tie_word_embeddings", c.tieEmbeddings);
    o.set("resid_pdrop", 0.0);
    o.set("embd_pdrop", 0.0);
    o.set("attn_pdrop", 0.0);
  } else {
    bool qwen = c.qkvBias || c.qkNorm;
    const char *type = c.qkNorm ? "qwen3" : c.qkvBias ? "qwen2" : "llama";
    std::string cls = c.qkNorm ? "Qwen3" : c.qkvBias ? "Qwen2" : "Llama";
    Value arch = Value::array();
    arch.push(cls + (scalar ? "ForSequenceClassification" : "ForCausalLM"));
    o.set("architectures", std::move(arch));
    o.set("model_type", type);
    o.set("vocab_size", c.vocabSize);
    o.set("hidden_size", c.dModel);
    o.set("num_hidden_layers", c.nLayers);
    o.set("num_attention_heads", c.nHeads);
    o.set("num_key_value_heads", c.nKvHeads);
    o.set("intermediate_size", c.dFf);
    o.set("max_position_embeddings", c.maxSeqLen);
    o.set("rms_norm_eps", c.normEps);
    o.set("rope_theta", c.ropeTheta);
    if (c.qkNorm || c.headDimension)
      o.set("head_dim", c.headDim());
    if (c.ropeScaling != ModelConfig::RopeScaling::None) {
      Value rs = Value::object();
      bool l3 = c.ropeScaling == ModelConfig::RopeScaling::Llama3;
      rs.set("rope_type", l3 ? "llama3" : "linear");
      rs.set("factor", c.ropeFactor);
      if (l3) {
        rs.set("low_freq_factor", c.ropeLowFreqFactor);
        rs.set("high_freq_factor", c.ropeHighFreqFactor);
        rs.set("original_max_position_embeddings", c.ropeOriginalMaxPos);
      }
      o.set("rope_scaling", std::move(rs));
    }
    o.set("hidden_act", "silu");
    o.set("tie_word_embeddings", c.tieEmbeddings);
    if (!qwen || c.qkNorm) {
      o.set("attention_bias", false);
      o.set("mlp_bias", false);
    } else {
      o.set("use_sliding_window", false);
    }
    if (c.qkNorm)
      o.set("use_sliding_window", false);
    o.set("attention_dropout", 0.0);
  }
  if (scalar)
    o.set("num_labels", 1);
  o.set("torch_dtype", "float32");
  return o;
}

Status saveHfConfig(const std::string &path, const ModelConfig &config) {
  return writeFileAtomic(path, json::serialize(modelConfigToHfJson(config), 2) +
                                   "\n");
}

} // namespace hone
