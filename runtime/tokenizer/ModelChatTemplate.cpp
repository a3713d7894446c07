// A model's own chat template (ChatTemplate.h): found in a Hugging Face
// directory, rendered with the Jinja subset (Jinja.h) in the context
// transformers' apply_chat_template builds, and turned into assistant spans
// and a token mask.
#include "runtime/tokenizer/ChatTemplate.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace hone {

namespace {

bool readFile(const std::string &path, std::string &out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return false;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

std::string joinPath(const std::string &dir, const char *name) {
  if (dir.empty())
    return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// tokenizer_config.json, parsed; nullopt when the file is absent.
Expected<std::optional<json::Value>> readConfig(const std::string &dir) {
  std::string path = joinPath(dir, "tokenizer_config.json"), text;
  if (!readFile(path, text))
    return std::optional<json::Value>();
  json::ParseOptions po;
  po.sourceName = path;
  Expected<json::Value> v = json::parse(text, po);
  if (!v)
    return v.status();
  if (!v->isObject())
    return Status::error(path + ": error: expected a JSON object");
  return std::optional<json::Value>(v.take());
}

const char *kSpecialKeys[] = {"bos_token", "eos_token", "unk_token",
                              "sep_token", "pad_token", "cls_token",
                              "mask_token"};

Expected<std::shared_ptr<const jinja::Template>>
parseTemplate(std::string_view text, const std::string &name) {
  Expected<jinja::Template> t = jinja::Template::parse(text, name);
  if (!t)
    return t.status();
  return std::make_shared<const jinja::Template>(t.take());
}

jinja::Value messagesValue(const json::Value &messages) {
  // transformers (_alias_reasoning_fields): a message's reasoning, under
  // any of reasoning_content / thinking / reasoning, is given to the
  // template as both `thinking` and `reasoning_content`.
  jinja::Value::List out;
  for (const json::Value &m : messages.items()) {
    jinja::Value v = jinja::fromJson(m);
    if (v.isDict()) {
      const jinja::Value *r = nullptr;
      for (const char *k : {"reasoning_content", "thinking", "reasoning"})
        if (const jinja::Value *x = v.get(k); x && !x->isNone()) {
          r = x;
          break;
        }
      if (r) {
        jinja::Value reasoning = *r;
        jinja::Value d = jinja::Value::dict();
        d.set("thinking", reasoning);
        for (auto &e : v.dictRef().entries)
          d.set(e.first, e.second);
        d.set("reasoning_content", reasoning);
        v = d;
      }
    }
    out.push_back(v);
  }
  return jinja::Value::list(std::move(out));
}

struct RenderInput {
  jinja::Value context;
  std::vector<const jinja::Dict *> assistants;
};

RenderInput makeContext(const ModelChatTemplate &t, const json::Value &messages,
                        const ChatOptions &o) {
  RenderInput in;
  jinja::Value msgs = messagesValue(messages);
  for (const jinja::Value &m : msgs.items())
    if (m.isDict())
      if (const jinja::Value *r = m.get("role");
          r && r->isString() && r->str() == "assistant")
        in.assistants.push_back(m.dictPtr());
  jinja::Value ctx = jinja::Value::dict();
  ctx.set("messages", msgs);
  ctx.set("tools",
          o.tools.isNull() ? jinja::Value::none() : jinja::fromJson(o.tools));
  ctx.set("documents", jinja::Value::none());
  ctx.set("add_generation_prompt", jinja::Value(o.addGenerationPrompt));
  for (const auto &[k, v] : t.specialTokens)
    ctx.set(k, jinja::Value(v));
  if (o.kwargs.isObject())
    for (const auto &m : o.kwargs.members())
      ctx.set(m.first, jinja::fromJson(m.second));
  in.context = ctx;
  return in;
}

const jinja::Template &pick(const ModelChatTemplate &t, const ChatOptions &o) {
  return !o.tools.isNull() && t.toolUse ? *t.toolUse : *t.main;
}

bool isWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The text the generation prompt adds (the assistant header), from a probe:
// render([user]) with and without add_generation_prompt.
std::string generationPrompt(const ModelChatTemplate &t, const ChatOptions &o) {
  json::Value probe = json::Value::array();
  json::Value m = json::Value::object();
  m.set("role", "user");
  m.set("content", "Hello");
  probe.push(m);
  ChatOptions po = o;
  po.tools = json::Value();
  auto render = [&](bool agp) -> std::optional<std::string> {
    po.addGenerationPrompt = agp;
    RenderInput in = makeContext(t, probe, po);
    jinja::RenderOptions ro;
    ro.now = o.now;
    Expected<jinja::Rendered> r = pick(t, po).render(in.context, ro);
    if (!r)
      return std::nullopt;
    return r->text;
  };
  std::optional<std::string> without = render(false), with = render(true);
  if (!without || !with || with->compare(0, without->size(), *without) != 0)
    return "";
  return with->substr(without->size());
}

} // namespace

json::Value chatMessagesJson(const std::vector<ChatMessage> &messages) {
  json::Value l = json::Value::array();
  for (const ChatMessage &m : messages) {
    json::Value o = json::Value::object();
    o.set("role", m.role);
    o.set("content", m.contentNull ? json::Value() : json::Value(m.content));
    if (m.fields.isObject())
      for (const auto &f : m.fields.members())
        if (f.first != "role" && f.first != "content")
          o.set(f.first, f.second);
    l.push(o);
  }
  return l;
}

Expected<std::string> findModelChatTemplate(const std::string &dir) {
  std::string jinjaPath = joinPath(dir, "chat_template.jinja"), text;
  if (readFile(jinjaPath, text))
    return jinjaPath;
  auto cfg = readConfig(dir);
  if (!cfg)
    return cfg.status();
  if (*cfg && (*cfg)->find("chat_template"))
    return joinPath(dir, "tokenizer_config.json");
  return std::string();
}

Expected<ModelChatTemplate> modelChatTemplateFromText(
    std::string_view text, std::string source,
    std::vector<std::pair<std::string, std::string>> specialTokens) {
  auto t = parseTemplate(text, source);
  if (!t)
    return t.status();
  ModelChatTemplate m;
  m.source = std::move(source);
  m.main = t.take();
  m.specialTokens = std::move(specialTokens);
  return m;
}

Expected<ModelChatTemplate> loadModelChatTemplate(const std::string &dir) {
  auto cfg = readConfig(dir);
  if (!cfg)
    return cfg.status();
  std::string cfgPath = joinPath(dir, "tokenizer_config.json");
  ModelChatTemplate m;
  if (*cfg) {
    const json::Value &c = **cfg;
    for (const char *k : kSpecialKeys) {
      const json::Value *v = c.find(k);
      if (v && v->isObject())
        v = v->find("content");
      if (v && v->isString())
        m.specialTokens.emplace_back(k, v->asString());
    }
  }
  std::string jinjaPath = joinPath(dir, "chat_template.jinja"), text;
  if (readFile(jinjaPath, text)) {
    m.source = jinjaPath;
    auto t = parseTemplate(text, jinjaPath);
    if (!t)
      return t.status();
    m.main = t.take();
    return m;
  }
  const json::Value *ct = *cfg ? (*cfg)->find("chat_template") : nullptr;
  if (!ct)
    return Status::error(
        "error: " + dir + " has no chat template",
        "neither chat_template.jinja nor a 'chat_template' in "
        "tokenizer_config.json; use a named template (chatml, llama3)");
  m.source = cfgPath;
  std::string where = cfgPath + " (chat_template)";
  if (ct->isString()) {
    auto t = parseTemplate(ct->asString(), where);
    if (!t)
      return t.status();
    m.main = t.take();
    return m;
  }
  if (!ct->isArray())
    return Status::error(cfgPath + ": error: 'chat_template' is neither a "
                                   "string nor a list of named templates");
  for (const json::Value &e : ct->items()) {
    const json::Value *name = e.isObject() ? e.find("name") : nullptr;
    const json::Value *tmpl = e.isObject() ? e.find("template") : nullptr;
    if (!name || !name->isString() || !tmpl || !tmpl->isString())
      return Status::error(cfgPath + ": error: a 'chat_template' entry needs "
                                     "string 'name' and 'template'");
    if (name->asString() != "default" && name->asString() != "tool_use")
      continue;
    auto t =
        parseTemplate(tmpl->asString(), where + "[" + name->asString() + "]");
    if (!t)
      return t.status();
    (name->asString() == "default" ? m.main : m.toolUse) = t.take();
  }
  if (!m.main)
    return Status::error(cfgPath + ": error: the list of chat templates has "
                                   "no 'default'",
                         "Hone renders the 'default' template ('tool_use' "
                         "when tools are given)");
  return m;
}

Expected<RenderedChat> renderChat(const ModelChatTemplate &t,
                                  const json::Value &messagesIn,
                                  const ChatOptions &options) {
  if (!messagesIn.isArray())
    return Status::error("error: messages must be a list of objects");
  // continue_final_message as transformers does it
  // (chat_template_utils.render_jinja_template): a tag appended to the last
  // message's content marks where its text ends in the output; the output
  // is cut there (and right-stripped when the template trimmed the tag's
  // trailing space).
  static const std::string kTag = "CONTINUE_FINAL_MESSAGE_TAG ";
  const json::Value *msgs = &messagesIn;
  json::Value tagged;
  std::string finalContent;
  if (options.continueFinalMessage) {
    if (options.addGenerationPrompt)
      return Status::error("error: continue_final_message and "
                           "add_generation_prompt exclude each other");
    if (messagesIn.items().empty())
      return Status::error("error: continue_final_message on an empty "
                           "conversation");
    tagged = messagesIn;
    json::Value &last = tagged.items().back();
    json::Value *content = last.isObject() ? last.find("content") : nullptr;
    if (!content || !content->isString())
      return Status::error("error: continue_final_message: the final message "
                           "has no text content to continue");
    finalContent = content->asString();
    content->asString() += kTag;
    msgs = &tagged;
  }
  const json::Value &messages = *msgs;
  const jinja::Template &tmpl = pick(t, options);
  RenderInput in = makeContext(t, messages, options);
  jinja::RenderOptions ro;
  ro.now = options.now;
  ro.trackedItems = in.assistants;
  Expected<jinja::Rendered> r = tmpl.render(in.context, ro);
  if (!r)
    return r.status();
  RenderedChat out;
  out.text = std::move(r->text);
  if (options.continueFinalMessage) {
    std::string_view tag(kTag.data(), kTag.size() - 1);
    size_t at = out.text.rfind(tag);
    auto strip = [](std::string_view v) {
      while (!v.empty() && isWs(v.front()))
        v.remove_prefix(1);
      while (!v.empty() && isWs(v.back()))
        v.remove_suffix(1);
      return v;
    };
    if (at == std::string::npos ||
        out.text.find(strip(finalContent)) == std::string::npos)
      return Status::error(
          "error: " + t.source +
              ": continue_final_message: the final message does not appear "
              "in the template's output",
          "the template rewrites or drops the last message's content; end "
          "the prompt with a user turn instead");
    bool exact = out.text.compare(at, kTag.size(), kTag) == 0;
    out.text.resize(at);
    if (!exact)
      while (!out.text.empty() && isWs(out.text.back()))
        out.text.pop_back();
    // Spans reach at most to the cut.
    auto clip = [&](std::vector<std::pair<size_t, size_t>> &v) {
      for (auto &[b, e] : v) {
        b = std::min(b, out.text.size());
        e = std::min(e, out.text.size());
      }
    };
    clip(r->generation);
    for (auto &sp : r->itemSpans) {
      sp.begin = std::min(sp.begin, out.text.size());
      sp.end = std::min(sp.end, out.text.size());
    }
  }
  if (tmpl.hasGeneration()) {
    for (auto [b, e] : r->generation)
      if (e > b)
        out.assistantSpans.emplace_back(b, e);
  } else if (!in.assistants.empty()) {
    std::string gp = generationPrompt(t, options);
    for (const jinja::Rendered::ItemSpan &s : r->itemSpans) {
      size_t b = s.begin, e = s.end;
      // What the generation prompt would already have written (the turn
      // header) is not the assistant's to produce.
      size_t k = 0;
      while (k < gp.size() && b + k < e && out.text[b + k] == gp[k])
        ++k;
      b += k;
      while (e > b && isWs(out.text[e - 1]))
        --e;
      if (e > b)
        out.assistantSpans.emplace_back(b, e);
    }
  }
  std::sort(out.assistantSpans.begin(), out.assistantSpans.end());
  return out;
}

Expected<RenderedChat> renderChat(const ModelChatTemplate &t,
                                  const std::vector<ChatMessage> &messages,
                                  bool addGenerationPrompt) {
  ChatOptions o;
  o.addGenerationPrompt = addGenerationPrompt;
  return renderChat(t, chatMessagesJson(messages), o);
}

Expected<TokenizedChat> tokenizeChat(const Tokenizer &tokenizer,
                                     const ModelChatTemplate &t,
                                     const json::Value &messages,
                                     const ChatOptions &options) {
  Expected<RenderedChat> r = renderChat(t, messages, options);
  if (!r)
    return r.status();
  return tokenizeRendered(tokenizer, *r, options.limit);
}

Expected<TokenizedChat> tokenizeChat(const Tokenizer &tokenizer,
                                     const ModelChatTemplate &t,
                                     const std::vector<ChatMessage> &messages,
                                     bool addGenerationPrompt) {
  ChatOptions o;
  o.addGenerationPrompt = addGenerationPrompt;
  return tokenizeChat(tokenizer, t, chatMessagesJson(messages), o);
}

Status checkModelChatTemplate(const ModelChatTemplate &t) {
  std::vector<ChatMessage> probe = {{"system", "You are a helpful assistant."},
                                    {"user", "Hello"},
                                    {"assistant", "Hi there."},
                                    {"user", "Thanks"}};
  for (bool agp : {false, true}) {
    Expected<RenderedChat> r = renderChat(t, probe, agp);
    if (!r)
      return Status::error(r.status().message() +
                               " (rendering a probe conversation: system, "
                               "user, assistant, user)",
                           r.status().hint());
    if (r->assistantSpans.empty())
      return Status::error(
          "error: " + t.source +
              ": the assistant turn of a probe conversation cannot be "
              "located in the template's output",
          "the template neither has {% generation %} blocks nor loops over "
          "'messages'; add {% generation %}...{% endgeneration %} around "
          "assistant turns");
  }
  return Status::ok();
}

} // namespace hone
