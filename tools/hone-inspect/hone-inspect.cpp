// hone-inspect: look inside the files a job reads, with the job's own
// loaders. Bad input prints one error line (file and line or byte offset)
// and exits with 1.
//
//   hone-inspect FILE.safetensors | DIR | model.safetensors.index.json
//   hone-inspect --config config.json
//   hone-inspect --tokenizer tokenizer.json --encode "text" [--no-special]
//   hone-inspect --tokenizer tokenizer.json --decode 1,2,3
//   hone-inspect --chars "abc" [--special "<eos>"]... --encode "text"
//   hone-inspect --dataset data.jsonl [--max-records N]
//   hone-inspect --tokenizer tokenizer.json --chat chatml --messages JSON
//                [--generation-prompt]
//   hone-inspect --tokenizer tokenizer.json --chat MODEL_DIR|T.jinja
//                --messages JSON [--generation-prompt]
//   hone-inspect --render-chat MODEL_DIR|T.jinja --request REQUEST.json
//     REQUEST: {"messages": [...], "tools": [...], "kwargs": {...},
//               "agp": bool, "special": {"bos_token": ...}, "now": SECONDS}
//     prints {"text": ..., "spans": [[begin, end], ...]} (byte offsets of
//     the assistant spans); "continue": true renders with
//     continue_final_message
//   hone-inspect --tokenizer tokenizer.json --dataset data.jsonl --sequences
//                [--chat chatml|llama3|from_model] [--kwargs JSON]
//     the job's token sequences (runtime/data/Sequences.h), one JSON line a
//     record: {"line", "ids", "mask", "prompt"} ("prompt": the generation
//     prompt's ids, null when the record has none); from_model reads the
//     template beside the tokenizer file

#include "runtime/base/Utf8.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/Sequences.h"
#include "runtime/formats/HfConfig.h"
#include "runtime/formats/HfTensorNames.h"
#include "runtime/formats/Safetensors.h"
#include "runtime/tokenizer/ChatTemplate.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace hone;

namespace {

int fail(const Status &s) {
  std::fprintf(stderr, "%s\n", s.toString().c_str());
  return 1;
}

#define HONE_TRY_EXIT(expr)                                                    \
  do {                                                                         \
    ::hone::Status _s = (expr);                                                \
    if (!_s.isOk())                                                            \
      return fail(_s);                                                         \
  } while (0)

int usage() {
  std::fprintf(
      stderr,
      "usage: hone-inspect FILE.safetensors|DIR|INDEX.json\n"
      "       hone-inspect --config config.json\n"
      "       hone-inspect --tokenizer tokenizer.json (--encode TEXT "
      "[--no-special] | --decode 1,2,3)\n"
      "       hone-inspect --chars CHARS [--special TOKEN]... (--encode TEXT | "
      "--decode 1,2,3)\n"
      "       hone-inspect --dataset data.jsonl [--max-records N]\n"
      "       hone-inspect --tokenizer tokenizer.json --chat "
      "chatml|llama3|MODEL_DIR|T.jinja --messages JSON [--generation-prompt]\n"
      "       hone-inspect --render-chat MODEL_DIR|T.jinja --request "
      "REQUEST.json\n"
      "       hone-inspect --tokenizer tokenizer.json --dataset data.jsonl "
      "--sequences [--chat chatml|llama3|from_model] [--kwargs JSON]\n");
  return 2;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Printable form of a token's bytes: escapes control and invalid bytes.
std::string printable(const std::string &bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else
      out += static_cast<char>(c);
  }
  if (!isValidUtf8(out)) {
    std::string esc;
    for (unsigned char c : out) {
      if (c < 0x80) {
        esc += static_cast<char>(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        esc += buf;
      }
    }
    return esc;
  }
  return out;
}

int inspectCheckpoint(const std::string &path) {
  Expected<Checkpoint> ck = Checkpoint::open(path);
  if (!ck)
    return fail(ck.status());
  uint64_t total = 0;
  size_t nameWidth = 4;
  for (const std::string &n : ck->names())
    nameWidth = std::max(nameWidth, n.size());
  for (const SafetensorsFile &f : ck->shards()) {
    uint64_t bytes = 0;
    for (const TensorInfo &t : f.tensors())
      bytes += t.byteSize();
    total += bytes;
    std::printf("%s: %zu tensors, header %llu bytes, data %llu bytes\n",
                f.path().c_str(), f.tensors().size(),
                static_cast<unsigned long long>(f.headerSize()),
                static_cast<unsigned long long>(bytes));
  }
  if (!ck->metadata().empty()) {
    std::printf("metadata:\n");
    for (const auto &[k, v] : ck->metadata())
      std::printf("  %s: %s\n", k.c_str(), v.c_str());
  }
  std::printf("%-*s  %-7s  %-20s  %s\n", static_cast<int>(nameWidth), "name",
              "dtype", "shape", "bytes");
  for (const std::string &n : ck->names()) {
    const TensorInfo *t = ck->find(n);
    std::printf("%-*s  %-7s  %-20s  %llu\n", static_cast<int>(nameWidth),
                n.c_str(), dtypeName(t->dtype), shapeString(t->shape).c_str(),
                static_cast<unsigned long long>(t->byteSize()));
  }
  std::printf("total: %zu tensors, %llu bytes in %zu file(s)\n", ck->size(),
              static_cast<unsigned long long>(total), ck->shards().size());
  // A model directory: check the tensors against its config.json.
  struct stat st;
  std::string dir = path;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    size_t slash = path.rfind('/');
    dir = slash == std::string::npos ? "." : path.substr(0, slash);
  }
  std::string config = dir + "/config.json";
  if (::stat(config.c_str(), &st) == 0) {
    Expected<ModelConfig> c = loadHfConfig(config);
    if (!c)
      return fail(c.status());
    HONE_TRY_EXIT(checkCheckpointLayout(*ck, *c));
    std::printf("matches %s (%s, %lld layers)\n", config.c_str(),
                c->family == ModelFamily::GPT2 ? "gpt2"
                : c->qkNorm                    ? "qwen3"
                : c->qkvBias                   ? "qwen2"
                                               : "llama",
                static_cast<long long>(c->nLayers));
  }
  return 0;
}

int inspectConfig(const std::string &path) {
  Expected<ModelConfig> c = loadHfConfig(path);
  if (!c)
    return fail(c.status());
  std::printf("family: %s%s\n",
              c->family == ModelFamily::GPT2 ? "gpt2" : "llama",
              c->qkvBias && c->family == ModelFamily::Llama ? " (qwen2: qkv "
                                                              "bias)"
                                                            : "");
  std::printf("vocab %lld, d_model %lld, layers %lld, heads %lld, kv heads "
              "%lld, d_ff %lld, max_seq %lld\n",
              (long long)c->vocabSize, (long long)c->dModel,
              (long long)c->nLayers, (long long)c->nHeads,
              (long long)c->nKvHeads, (long long)c->dFf,
              (long long)c->maxSeqLen);
  std::printf("norm_eps %g, rope_theta %g, tied embeddings %s, head %s\n",
              c->normEps, c->ropeTheta, c->tieEmbeddings ? "yes" : "no",
              c->head == HeadKind::LM ? "lm" : "scalar");
  if (c->family == ModelFamily::Llama)
    std::printf("head_dim %lld%s%s\n", (long long)c->headDim(),
                c->qkNorm ? ", q/k norm (qwen3)" : "",
                c->ropeScaling == ModelConfig::RopeScaling::Llama3
                    ? ", rope_scaling llama3"
                : c->ropeScaling == ModelConfig::RopeScaling::Linear
                    ? ", rope_scaling linear"
                    : "");
  return 0;
}

Expected<std::vector<int32_t>> parseIds(const std::string &s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos)
      j = s.size();
    std::string item = s.substr(i, j - i);
    char *end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v > INT32_MAX)
      return Status::error("--decode: error: '" + item +
                           "' is not a token id (expected 1,2,3)");
    ids.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  return ids;
}

int inspectDatasetFile(const std::string &path, size_t maxRecords) {
  Expected<DatasetInfo> info = inspectDataset(path, maxRecords);
  if (!info)
    return fail(info.status());
  std::printf("%s: layout %s (%s)%s\n", path.c_str(),
              datasetLayoutName(info->layout),
              datasetLayoutColumns(info->layout),
              info->conversational ? ", conversational" : "");
  std::string cols;
  for (const std::string &c : info->columns)
    cols += (cols.empty() ? "" : ", ") + c;
  std::printf("columns: %s\n", cols.c_str());
  if (info->layout == DatasetLayout::PromptAnswer)
    std::printf("answer column: %s\n", info->answerColumn.c_str());
  if (info->layout == DatasetLayout::Kto)
    std::printf("labels: %zu desirable, %zu undesirable\n", info->desirable,
                info->undesirable);
  std::printf("records: %zu%s\n", info->records,
              info->complete ? "" : " (stopped at --max-records)");
  return 0;
}

bool isDir(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Expected<std::string> readText(const std::string &path) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    return Status::error("error: cannot open " + path + ": " +
                         std::strerror(errno));
  std::string s;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    s.append(buf, n);
  std::fclose(f);
  return s;
}

/// A model directory's template, or a template file.
Expected<ModelChatTemplate>
openModelTemplate(const std::string &path,
                  std::vector<std::pair<std::string, std::string>> special) {
  if (isDir(path))
    return loadModelChatTemplate(path);
  Expected<std::string> text = readText(path);
  if (!text)
    return text.status();
  return modelChatTemplateFromText(*text, path, std::move(special));
}

/// --render-chat: the rendered text and assistant spans as JSON.
int renderChatRequest(const std::string &path, const std::string &request) {
  Expected<std::string> text = readText(request);
  if (!text)
    return fail(text.status());
  json::ParseOptions po;
  po.sourceName = request;
  Expected<json::Value> req = json::parse(*text, po);
  if (!req)
    return fail(req.status());
  const json::Value *messages =
      req->isObject() ? req->find("messages") : nullptr;
  if (!messages || !messages->isArray())
    return fail(Status::error(request + ": error: the request needs a "
                                        "'messages' list"));
  std::vector<std::pair<std::string, std::string>> special;
  if (const json::Value *s = req->find("special"); s && s->isObject())
    for (const auto &m : s->members())
      if (m.second.isString())
        special.emplace_back(m.first, m.second.asString());
  Expected<ModelChatTemplate> t = openModelTemplate(path, special);
  if (!t)
    return fail(t.status());
  ChatOptions o;
  if (const json::Value *x = req->find("tools"))
    o.tools = *x;
  if (const json::Value *x = req->find("kwargs"); x && x->isObject())
    o.kwargs = *x;
  if (const json::Value *x = req->find("agp"); x && x->isBool())
    o.addGenerationPrompt = x->asBool();
  if (const json::Value *x = req->find("now"); x && x->isNumber())
    o.now = int64_t(x->asDouble());
  if (const json::Value *x = req->find("continue"); x && x->isBool())
    o.continueFinalMessage = x->asBool();
  Expected<RenderedChat> r = renderChat(*t, *messages, o);
  if (!r)
    return fail(r.status());
  json::Value out = json::Value::object();
  out.set("text", r->text);
  json::Value spans = json::Value::array();
  for (auto [b, e] : r->assistantSpans) {
    json::Value sp = json::Value::array();
    sp.push(int64_t(b));
    sp.push(int64_t(e));
    spans.push(sp);
  }
  out.set("spans", spans);
  std::printf("%s\n", json::serialize(out).c_str());
  return 0;
}

/// --sequences: every record as the job tokenizes it.
int showSequences(const Tokenizer &tok, const std::string &tokenizerPath,
                  const std::string &datasetPath, const std::string &chat,
                  const std::string &kwargs) {
  size_t slash = tokenizerPath.rfind('/');
  std::string dir =
      slash == std::string::npos ? "." : tokenizerPath.substr(0, slash);
  Expected<job::TextFormat> fmt =
      job::textFormatFor(tok, chat.empty() ? "no_template" : chat, dir, kwargs);
  if (!fmt)
    return fail(fmt.status());
  fmt->maxSeqLen = 0; // as measured: not cut
  Expected<DatasetReader> r = DatasetReader::open(datasetPath);
  if (!r)
    return fail(r.status());
  auto ids = [](const std::vector<int32_t> &v) {
    json::Value a = json::Value::array();
    for (int32_t x : v)
      a.push(int64_t(x));
    return a;
  };
  Example ex;
  for (;;) {
    Expected<bool> more = r->next(ex);
    if (!more)
      return fail(more.status());
    if (!*more)
      break;
    json::Value o = json::Value::object();
    o.set("line", int64_t(ex.line));
    Expected<job::Sequence> s = job::tokenizeExample(*fmt, ex);
    if (!s)
      return fail(Status::error(datasetPath + ": " + s.status().message(),
                                s.status().hint()));
    o.set("ids", ids(s->ids));
    json::Value mask = json::Value::array();
    for (uint8_t m : s->mask)
      mask.push(int64_t(m));
    o.set("mask", mask);
    if (!ex.prompt.empty() || !ex.promptMessages.empty()) {
      Expected<std::vector<int32_t>> p = job::tokenizePrompt(*fmt, ex);
      if (!p)
        return fail(Status::error(datasetPath + ": " + p.status().message(),
                                  p.status().hint()));
      o.set("prompt", ids(*p));
    } else {
      o.set("prompt", json::Value());
    }
    std::printf("%s\n", json::serialize(o).c_str());
  }
  return 0;
}

/// Renders a chat, tokenizes it and marks the tokens SFT trains on.
int showChat(const Tokenizer &tok, const std::string &name,
             const std::string &messagesJson, bool generationPrompt) {
  std::optional<ModelChatTemplate> model;
  Expected<ChatTemplate> t = chatTemplateFromName(name);
  if (!t && (isDir(name) || name.find('/') != std::string::npos ||
             name.find(".jinja") != std::string::npos)) {
    Expected<ModelChatTemplate> m = openModelTemplate(name, {});
    if (!m)
      return fail(m.status());
    model = m.take();
  } else if (!t) {
    return fail(t.status());
  }
  json::ParseOptions po;
  po.sourceName = "--messages";
  Expected<json::Value> v = json::parse(messagesJson, po);
  if (!v)
    return fail(v.status());
  std::vector<ChatMessage> messages;
  if (!v->isArray())
    return fail(Status::error("--messages: error: expected a JSON list of "
                              "{\"role\", \"content\"} objects"));
  for (const json::Value &m : v->items()) {
    const json::Value *role = m.isObject() ? m.find("role") : nullptr;
    const json::Value *content = m.isObject() ? m.find("content") : nullptr;
    if (!role || !role->isString() || !content || !content->isString())
      return fail(
          Status::error("--messages:1:" + std::to_string(m.offset() + 1) +
                        ": error: a message needs string 'role' and "
                        "'content'"));
    messages.push_back({role->asString(), content->asString()});
  }
  Expected<TokenizedChat> chat =
      model ? tokenizeChat(tok, *model, messages, generationPrompt)
            : tokenizeChat(tok, *t, messages, generationPrompt);
  if (!chat)
    return fail(chat.status());
  size_t trained = 0;
  for (uint8_t m : chat->assistantMask)
    trained += m;
  std::printf("%zu tokens, %zu in assistant turns (marked *)\n",
              chat->ids.size(), trained);
  for (size_t i = 0; i < chat->ids.size(); ++i)
    std::printf("%c %8d  %s\n", chat->assistantMask[i] ? '*' : ' ',
                chat->ids[i], printable(tok.tokenBytes(chat->ids[i])).c_str());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::string tokenizerPath, datasetPath, configPath, encodeText, decodeIds,
      chars, file;
  std::vector<std::string> specials;
  bool haveEncode = false, haveDecode = false, haveChars = false;
  std::string chatName, messagesJson, renderChatPath, requestPath;
  bool generationPrompt = false, sequences = false;
  std::string kwargs;
  bool parseSpecial = true;
  size_t maxRecords = SIZE_MAX;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string &out) {
      if (i + 1 >= argc)
        return false;
      out = argv[++i];
      return true;
    };
    if (a == "--tokenizer") {
      if (!value(tokenizerPath))
        return usage();
    } else if (a == "--dataset") {
      if (!value(datasetPath))
        return usage();
    } else if (a == "--config") {
      if (!value(configPath))
        return usage();
    } else if (a == "--encode") {
      if (!value(encodeText))
        return usage();
      haveEncode = true;
    } else if (a == "--decode") {
      if (!value(decodeIds))
        return usage();
      haveDecode = true;
    } else if (a == "--chars") {
      if (!value(chars))
        return usage();
      haveChars = true;
    } else if (a == "--special") {
      std::string s;
      if (!value(s))
        return usage();
      specials.push_back(s);
    } else if (a == "--chat") {
      if (!value(chatName))
        return usage();
    } else if (a == "--render-chat") {
      if (!value(renderChatPath))
        return usage();
    } else if (a == "--request") {
      if (!value(requestPath))
        return usage();
    } else if (a == "--messages") {
      if (!value(messagesJson))
        return usage();
    } else if (a == "--sequences") {
      sequences = true;
    } else if (a == "--kwargs") {
      if (!value(kwargs))
        return usage();
    } else if (a == "--generation-prompt") {
      generationPrompt = true;
    } else if (a == "--no-special") {
      parseSpecial = false;
    } else if (a == "--max-records") {
      std::string s;
      if (!value(s))
        return usage();
      char *end = nullptr;
      errno = 0;
      unsigned long long v = std::strtoull(s.c_str(), &end, 10);
      // strtoull reads "-1" as 2^64-1: a sign or an overflow is refused.
      if (s.empty() || *end || errno || s.find('-') != std::string::npos ||
          v == 0) {
        std::fprintf(stderr,
                     "hone-inspect: error: --max-records: '%s' is not a "
                     "positive integer\n",
                     s.substr(0, 200).c_str());
        return 1;
      }
      maxRecords = static_cast<size_t>(v);
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "hone-inspect: error: unknown option '%s'\n",
                   a.c_str());
      return usage();
    } else {
      if (!file.empty())
        return usage();
      file = a;
    }
  }

  if (!renderChatPath.empty()) {
    if (requestPath.empty())
      return usage();
    return renderChatRequest(renderChatPath, requestPath);
  }
  if (sequences) {
    if (tokenizerPath.empty() || datasetPath.empty())
      return usage();
    Expected<Tokenizer> tok = Tokenizer::loadHfJson(tokenizerPath);
    if (!tok)
      return fail(tok.status());
    return showSequences(*tok, tokenizerPath, datasetPath, chatName, kwargs);
  }
  if (!datasetPath.empty())
    return inspectDatasetFile(datasetPath, maxRecords);
  if (!configPath.empty())
    return inspectConfig(configPath);
  if (!tokenizerPath.empty() || haveChars) {
    Expected<Tokenizer> tok = haveChars ? Tokenizer::character(chars, specials)
                                        : Tokenizer::loadHfJson(tokenizerPath);
    if (!tok)
      return fail(tok.status());
    if (haveEncode) {
      EncodeOptions opt;
      opt.parseSpecialTokens = parseSpecial;
      Expected<std::vector<int32_t>> ids = tok->encode(encodeText, opt);
      if (!ids)
        return fail(ids.status());
      std::string idList;
      for (int32_t id : *ids)
        idList += (idList.empty() ? "" : ",") + std::to_string(id);
      std::printf("%zu tokens: %s\n", ids->size(), idList.c_str());
      for (int32_t id : *ids)
        std::printf("%8d  %s\n", id, printable(tok->tokenBytes(id)).c_str());
    }
    if (haveDecode) {
      Expected<std::vector<int32_t>> ids = parseIds(decodeIds);
      if (!ids)
        return fail(ids.status());
      Expected<std::string> text = tok->decode(*ids);
      if (!text)
        return fail(text.status());
      std::printf("%s\n", text->c_str());
    }
    if (!chatName.empty())
      return showChat(*tok, chatName, messagesJson, generationPrompt);
    if (!haveEncode && !haveDecode)
      std::printf("%s: vocabulary of %d tokens, %zu added tokens\n",
                  haveChars ? "character tokenizer" : tokenizerPath.c_str(),
                  tok->vocabSize(), tok->addedTokens().size());
    return 0;
  }
  if (file.empty())
    return usage();
  return inspectCheckpoint(file);
}
