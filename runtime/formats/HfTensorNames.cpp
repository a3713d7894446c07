#include "runtime/formats/HfTensorNames.h"

#include <map>

namespace hone {

std::vector<HfTensorSpec> hfTensorLayout(const ModelConfig &c) {
  std::vector<HfTensorSpec> out;
  const int64_t d = c.dModel, v = c.vocabSize, f = c.dFf;
  bool scalar = c.head == HeadKind::Scalar;
  auto add = [&](std::string name, std::vector<int64_t> shape,
                 bool optional = false) {
    out.push_back({std::move(name), std::move(shape), optional});
  };
  if (c.family == ModelFamily::GPT2) {
    add("transformer.wte.weight", {v, d});
    add("transformer.wpe.weight", {c.maxSeqLen, d});
    for (int64_t i = 0; i < c.nLayers; ++i) {
      std::string p = "transformer.h." + std::to_string(i) + ".";
      add(p + "ln_1.weight", {d});
      add(p + "ln_1.bias", {d});
      add(p + "attn.c_attn.weight", {d, 3 * d});
      add(p + "attn.c_attn.bias", {3 * d});
      add(p + "attn.c_proj.weight", {d, d});
      add(p + "attn.c_proj.bias", {d});
      add(p + "ln_2.weight", {d});
      add(p + "ln_2.bias", {d});
      add(p + "mlp.c_fc.weight", {d, f});
      add(p + "mlp.c_fc.bias", {f});
      add(p + "mlp.c_proj.weight", {f, d});
      add(p + "mlp.c_proj.bias", {d});
    }
    add("transformer.ln_f.weight", {d});
    add("transformer.ln_f.bias", {d});
  } else {
    const int64_t hd = c.headDim();
    const int64_t q = c.nHeads * hd, kv = c.nKvHeads * hd;
    add("model.embed_tokens.weight", {v, d});
    for (int64_t i = 0; i < c.nLayers; ++i) {
      std::string p = "model.layers." + std::to_string(i) + ".";
      add(p + "input_layernorm.weight", {d});
      add(p + "self_attn.q_proj.weight", {q, d});
      add(p + "self_attn.k_proj.weight", {kv, d});
      add(p + "self_attn.v_proj.weight", {kv, d});
      if (c.qkvBias) {
        add(p + "self_attn.q_proj.bias", {q});
        add(p + "self_attn.k_proj.bias", {kv});
        add(p + "self_attn.v_proj.bias", {kv});
      }
      add(p + "self_attn.o_proj.weight", {d, q});
      if (c.qkNorm) {
        add(p + "self_attn.q_norm.weight", {hd});
        add(p + "self_attn.k_norm.weight", {hd});
      }
      add(p + "post_attention_layernorm.weight", {d});
      add(p + "mlp.gate_proj.weight", {f, d});
      add(p + "mlp.up_proj.weight", {f, d});
      add(p + "mlp.down_proj.weight", {d, f});
    }
    add("model.norm.weight", {d});
  }
  if (scalar)
    add("score.weight", {1, d});
  else
    add("lm_head.weight", {v, d}, /*optional=*/c.tieEmbeddings);
  return out;
}

std::string canonicalHfTensorName(const ModelConfig &c, std::string_view name) {
  if (c.family == ModelFamily::GPT2 && name.rfind("transformer.", 0) != 0 &&
      name.rfind("lm_head.", 0) != 0 && name.rfind("score.", 0) != 0)
    return "transformer." + std::string(name);
  return std::string(name);
}

static std::string shapeStr(const std::vector<int64_t> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Status checkCheckpointLayout(const Checkpoint &ck, const ModelConfig &c) {
  std::map<std::string, std::string> byCanonical; // canonical -> actual
  for (const std::string &n : ck.names())
    byCanonical[canonicalHfTensorName(c, n)] = n;
  std::string where =
      ck.shards().empty() ? std::string("checkpoint") : ck.shards()[0].path();
  for (const HfTensorSpec &spec : hfTensorLayout(c)) {
    auto it = byCanonical.find(spec.name);
    if (it == byCanonical.end()) {
      if (spec.optional)
        continue;
      return Status::error(where + ": error: missing tensor '" + spec.name +
                               "' " + shapeStr(spec.shape),
                           "the checkpoint does not match config.json");
    }
    const SafetensorsFile *file = nullptr;
    const TensorInfo *t = ck.find(it->second, &file);
    if (t->shape != spec.shape)
      return Status::error(file->path() + ": error: tensor '" + it->second +
                           "' has shape " + shapeStr(t->shape) +
                           ", config.json implies " + shapeStr(spec.shape));
    if (!isFloating(t->dtype))
      return Status::error(file->path() + ": error: tensor '" + it->second +
                           "' has dtype " + dtypeName(t->dtype) +
                           ", expected a floating-point type");
    byCanonical.erase(it);
  }
  for (const auto &[canon, actual] : byCanonical) {
    bool buffer = c.family == ModelFamily::GPT2 &&
                  (canon.size() > 10 &&
                   (canon.compare(canon.size() - 10, 10, ".attn.bias") == 0 ||
                    canon.find(".attn.masked_bias") != std::string::npos));
    if (buffer || canon.find("rotary_emb.inv_freq") != std::string::npos)
      continue;
    return Status::error(where + ": error: unexpected tensor '" + actual +
                             "' for this config",
                         "the checkpoint does not match config.json");
  }
  return Status::ok();
}

} // namespace hone
