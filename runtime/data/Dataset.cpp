#include "runtime/data/Dataset.h"

namespace hone {

namespace {
struct LayoutDesc {
  DatasetLayout layout;
  const char *name;
  const char *columns;
};
constexpr LayoutDesc kLayouts[] = {
    {DatasetLayout::Text, "text", "text"},
    {DatasetLayout::Messages, "messages", "messages[{role, content}]"},
    {DatasetLayout::PromptCompletion, "prompt_completion", "prompt/completion"},
    {DatasetLayout::Preference, "preference", "prompt/chosen/rejected"},
    {DatasetLayout::Kto, "kto", "prompt/completion/label"},
    {DatasetLayout::PromptAnswer, "prompt_answer",
     "prompt + answer|solution|ground_truth"},
    {DatasetLayout::Prompt, "prompt", "prompt"},
    {DatasetLayout::ShareGPT, "sharegpt", "conversations[{from, value}]"},
};
const char *kAnswerColumns[] = {"answer", "solution", "ground_truth"};
} // namespace

const char *datasetLayoutName(DatasetLayout l) {
  return kLayouts[static_cast<int>(l)].name;
}
const char *datasetLayoutColumns(DatasetLayout l) {
  return kLayouts[static_cast<int>(l)].columns;
}

Expected<DatasetLayout> datasetLayoutFromName(std::string_view name) {
  for (const LayoutDesc &d : kLayouts)
    if (name == d.name)
      return d.layout;
  return Status::error("error: unknown dataset layout '" + std::string(name) +
                           "'",
                       "layouts: text, messages, prompt_completion, "
                       "preference, kto, prompt_answer, prompt, sharegpt");
}

Expected<DatasetOptions>
datasetOptionsFromSpec(std::string_view layout,
                       const std::map<std::string, std::string> &columns,
                       const std::map<std::string, std::string> &roleNames) {
  DatasetOptions o;
  DatasetColumns &c = o.columns;
  std::pair<const char *, std::string *> keys[] = {
      {"text", &c.text},         {"messages", &c.messages},
      {"role", &c.role},         {"content", &c.content},
      {"prompt", &c.prompt},     {"completion", &c.completion},
      {"chosen", &c.chosen},     {"rejected", &c.rejected},
      {"label", &c.label},       {"answer", &c.answer}};
  for (const auto &[key, value] : columns) {
    std::string *field = nullptr;
    for (auto &[k, f] : keys)
      if (key == k)
        field = f;
    if (!field)
      return Status::error("error: unknown dataset column '" + key + "'",
                           "columns: text, messages, role, content, prompt, "
                           "completion, chosen, rejected, label, answer");
    *field = value;
  }
  c.roleNames = roleNames;
  bool shareGpt = c.messages == "conversations" && c.role == "from" &&
                  c.content == "value";
  if (shareGpt)
    c.conversations = c.messages;
  static const std::pair<const char *, DatasetLayout> specNames[] = {
      {"text", DatasetLayout::Text},
      {"messages", DatasetLayout::Messages},
      {"prompt_completion", DatasetLayout::PromptCompletion},
      {"preference", DatasetLayout::Preference},
      {"unpaired_preference", DatasetLayout::Kto},
      {"prompt_answer", DatasetLayout::PromptAnswer},
      {"prompt_only", DatasetLayout::Prompt}};
  if (layout.empty() || layout == "auto") {
    if (shareGpt)
      o.layout = DatasetLayout::ShareGPT;
    return o;
  }
  for (const auto &[name, l] : specNames)
    if (layout == name)
      o.layout = l == DatasetLayout::Messages && shareGpt
                     ? DatasetLayout::ShareGPT
                     : l;
  if (!o.layout)
    return Status::error("error: unknown dataset layout '" +
                             std::string(layout) + "'",
                         "layouts: text, messages, prompt_completion, "
                         "preference, unpaired_preference, prompt_answer, "
                         "prompt_only");
  return o;
}

static std::string keyList(const json::Value &obj) {
  std::string s;
  for (const auto &m : obj.members()) {
    if (!s.empty())
      s += ", ";
    s += m.first;
  }
  return "{" + s + "}";
}

/// The answer column of a record: the configured one, or the first of the
/// conventional names present.
static std::string answerColumnOf(const json::Value &obj,
                                  const DatasetColumns &c) {
  if (!c.answer.empty())
    return obj.find(c.answer) ? c.answer : std::string();
  for (const char *a : kAnswerColumns)
    if (obj.find(a))
      return a;
  return std::string();
}

static std::optional<DatasetLayout> detect(const json::Value &obj,
                                           const DatasetColumns &c) {
  auto has = [&](const std::string &k) { return obj.find(k) != nullptr; };
  if (has(c.chosen) && has(c.rejected))
    return DatasetLayout::Preference;
  if (has(c.completion) && has(c.label))
    return DatasetLayout::Kto;
  if (has(c.prompt) && has(c.completion))
    return DatasetLayout::PromptCompletion;
  if (has(c.messages))
    return DatasetLayout::Messages;
  if (has(c.conversations))
    return DatasetLayout::ShareGPT;
  if (has(c.prompt) && !answerColumnOf(obj, c).empty())
    return DatasetLayout::PromptAnswer;
  if (has(c.text))
    return DatasetLayout::Text;
  if (has(c.prompt))
    return DatasetLayout::Prompt;
  return std::nullopt;
}

Expected<DatasetReader>
DatasetReader::open(const std::string &path,
                    std::optional<DatasetLayout> expected) {
  DatasetOptions o;
  o.layout = expected;
  return open(path, o);
}

Expected<DatasetReader> DatasetReader::open(const std::string &path,
                                            const DatasetOptions &options) {
  Expected<JsonlReader> r = JsonlReader::open(path);
  if (!r)
    return r.status();
  return fromJsonl(r.take(), options);
}

Expected<DatasetReader>
DatasetReader::fromJsonl(JsonlReader reader,
                         std::optional<DatasetLayout> expected) {
  DatasetOptions o;
  o.layout = expected;
  return fromJsonl(std::move(reader), o);
}

Expected<DatasetReader>
DatasetReader::fromJsonl(JsonlReader reader, const DatasetOptions &options) {
  std::optional<DatasetLayout> expected = options.layout;
  DatasetReader d(std::move(reader));
  d.cols_ = options.columns;
  const DatasetColumns &c = d.cols_;
  JsonlRecord first;
  Expected<bool> got = d.reader_.next(first);
  if (!got)
    return got.status();
  if (!*got)
    return Status::error(d.reader_.name() + ": error: dataset has no records");
  if (!first.value.isObject())
    return Status::error(d.reader_.where(first, &first.value) + "record is " +
                             json::kindName(first.value.kind()) +
                             ", expected an object",
                         "each line of a dataset is one JSON object");
  for (const auto &m : first.value.members())
    d.info_.columns.push_back(m.first);
  std::optional<DatasetLayout> detected = detect(first.value, c);
  if (expected) {
    d.info_.layout = *expected;
  } else if (detected) {
    d.info_.layout = *detected;
  } else {
    return Status::error(d.reader_.where(first, nullptr) +
                             "cannot detect the dataset layout from columns " +
                             keyList(first.value),
                         "use one of: text; messages; prompt/completion; "
                         "prompt/chosen/rejected; prompt/completion/label; "
                         "prompt + answer|solution|ground_truth; prompt; "
                         "conversations (ShareGPT)");
  }
  // Conversational-ness and the answer column come from the first record.
  const std::string *probe = nullptr;
  switch (d.info_.layout) {
  case DatasetLayout::PromptCompletion:
  case DatasetLayout::Kto:
    probe = &c.completion;
    break;
  case DatasetLayout::Preference:
    probe = &c.chosen;
    break;
  case DatasetLayout::PromptAnswer:
  case DatasetLayout::Prompt:
    probe = &c.prompt;
    break;
  default:
    break;
  }
  if (probe)
    if (const json::Value *v = first.value.find(*probe))
      d.info_.conversational = v->isArray();
  if (d.info_.layout == DatasetLayout::PromptAnswer) {
    d.info_.answerColumn = answerColumnOf(first.value, c);
    if (d.info_.answerColumn.empty())
      return Status::error(
          d.reader_.where(first, nullptr) + "record has no " +
          (c.answer.empty() ? std::string("answer, solution or ground_truth")
                            : "'" + c.answer + "'") +
          " column (layout prompt_answer)");
  }
  d.firstLine_ = first.line;
  d.pending_ = std::move(first);
  return d;
}

Status DatasetReader::messageList(const JsonlRecord &rec, const json::Value &v,
                                  const char *column, bool shareGpt,
                                  std::vector<ChatMessage> &out) const {
  const std::string roleKey = shareGpt ? "from" : cols_.role;
  const std::string contentKey = shareGpt ? "value" : cols_.content;
  if (!v.isArray())
    return Status::error(reader_.where(rec, &v) + "'" + column + "' is " +
                         json::kindName(v.kind()) +
                         ", expected a list of messages");
  if (v.items().empty())
    return Status::error(reader_.where(rec, &v) + "'" + column +
                         "' is an empty list of messages");
  out.clear();
  for (const json::Value &m : v.items()) {
    if (!m.isObject())
      return Status::error(reader_.where(rec, &m) + "a message in '" + column +
                           "' is " + json::kindName(m.kind()) +
                           ", expected an object {" + roleKey + ", " +
                           contentKey + "}");
    const json::Value *role = m.find(roleKey);
    const json::Value *content = m.find(contentKey);
    if (!role || !role->isString())
      return Status::error(reader_.where(rec, role ? role : &m) +
                           "message needs a string '" + roleKey + "'");
    // An assistant turn that only calls tools may have no text (OpenAI's
    // and TRL's null content).
    const json::Value *calls = m.find("tool_calls");
    bool callsTools = calls && !calls->isNull();
    bool contentNull = (!content || content->isNull()) && callsTools;
    if (!contentNull && (!content || !content->isString()))
      return Status::error(
          reader_.where(rec, content ? content : &m) +
              "message needs a string '" + contentKey + "'",
          callsTools ? "" : "only a message with tool_calls may have none");
    if (callsTools) {
      if (!calls->isArray())
        return Status::error(reader_.where(rec, calls) + "'tool_calls' is " +
                                 json::kindName(calls->kind()) +
                                 ", expected a list of calls",
                             "each call: {\"type\": \"function\", "
                             "\"function\": {\"name\": ..., "
                             "\"arguments\": {...}}}");
      for (const json::Value &c : calls->items())
        if (!c.isObject())
          return Status::error(reader_.where(rec, &c) + "a tool call is " +
                                   json::kindName(c.kind()) +
                                   ", expected an object",
                               "each call: {\"type\": \"function\", "
                               "\"function\": {\"name\": ..., "
                               "\"arguments\": {...}}}");
    }
    // Every other field goes to the chat template as it is.
    json::Value fields;
    for (const auto &f : m.members())
      if (f.first != roleKey && f.first != contentKey && f.first != "role" &&
          f.first != "content") {
        if (fields.isNull())
          fields = json::Value::object();
        fields.set(f.first, f.second);
      }
    std::string r = role->asString();
    auto renamed = cols_.roleNames.find(r);
    if (renamed != cols_.roleNames.end())
      r = renamed->second;
    if (shareGpt) {
      if (r == "human" || r == "user")
        r = "user";
      else if (r == "gpt" || r == "assistant" || r == "model" ||
               r == "chatgpt" || r == "bing")
        r = "assistant";
      else if (r == "system")
        r = "system";
      else if (r == "tool" || r == "function" || r == "observation" ||
               r == "function_call")
        r = "tool";
      else
        return Status::error(reader_.where(rec, role) +
                                 "unknown ShareGPT "
                                 "speaker '" +
                                 r + "'",
                             "use human, gpt, system or tool");
    } else if (r != "system" && r != "user" && r != "assistant" &&
               r != "tool") {
      return Status::error(reader_.where(rec, role) + "unknown role '" + r +
                               "'",
                           "roles are system, user, assistant, tool");
    }
    ChatMessage cm;
    cm.role = std::move(r);
    if (!contentNull)
      cm.content = content->asString();
    cm.contentNull = contentNull;
    cm.fields = std::move(fields);
    out.push_back(std::move(cm));
  }
  return Status::ok();
}

Status DatasetReader::textOrMessages(const JsonlRecord &rec, const char *column,
                                     std::string &text,
                                     std::vector<ChatMessage> &msgs,
                                     bool optional) const {
  const json::Value *v = rec.value.find(column);
  if (!v) {
    if (optional)
      return Status::ok();
    return Status::error(reader_.where(rec, nullptr) + "record lacks '" +
                         column + "' (layout " +
                         datasetLayoutName(info_.layout) + ", columns " +
                         datasetLayoutColumns(info_.layout) +
                         ", detected on "
                         "line " +
                         std::to_string(firstLine_) + ")");
  }
  if (info_.conversational) {
    if (v->isString())
      return Status::error(reader_.where(rec, v) + "'" + column +
                           "' is a string, but line " +
                           std::to_string(firstLine_) + " uses message lists");
    return messageList(rec, *v, column, false, msgs);
  }
  if (!v->isString())
    return Status::error(
        reader_.where(rec, v) + "'" + column + "' is " +
        json::kindName(v->kind()) +
        (v->isArray()
             ? ", but line " + std::to_string(firstLine_) + " uses strings"
             : ", expected a string"));
  text = v->asString();
  return Status::ok();
}

/// TRL's per-record chat inputs: `tools` (a list of function schemas, or
/// that list as a JSON string, as TRL accepts) and `chat_template_kwargs`
/// (an object); null or absent: none.
Status DatasetReader::templateInputs(const JsonlRecord &rec,
                                     Example &out) const {
  if (const json::Value *t = rec.value.find("tools"); t && !t->isNull()) {
    json::Value tools = *t;
    if (t->isString()) {
      json::ParseOptions po;
      po.sourceName = "'tools'";
      Expected<json::Value> v = json::parse(t->asString(), po);
      if (!v) {
        std::string m = v.status().message();
        if (size_t e = m.find("error: "); e != std::string::npos)
          m.erase(e, 7); // "'tools':1:2: expected ..."
        return Status::error(reader_.where(rec, t) +
                                 "'tools' is a string that is not JSON: " + m,
                             "give the list of tool schemas, or that list "
                             "as a JSON string");
      }
      tools = v.take();
    }
    if (!tools.isArray())
      return Status::error(reader_.where(rec, t) + "'tools' is " +
                               json::kindName(tools.kind()) +
                               ", expected a list of tool schemas",
                           "e.g. [{\"type\": \"function\", \"function\": "
                           "{\"name\": ..., \"parameters\": {...}}}]");
    for (const json::Value &x : tools.items())
      if (!x.isObject())
        return Status::error(reader_.where(rec, t) + "a tool in 'tools' is " +
                             json::kindName(x.kind()) +
                             ", expected an object (a JSON schema)");
    // TRL passes `tools or None`: an empty list is no tools (Llama's
    // template would otherwise write its tool preamble).
    if (!tools.items().empty())
      out.tools = std::move(tools);
  }
  if (const json::Value *k = rec.value.find("chat_template_kwargs");
      k && !k->isNull()) {
    if (!k->isObject())
      return Status::error(
          reader_.where(rec, k) + "'chat_template_kwargs' is " +
              json::kindName(k->kind()) + ", expected an object",
          "template variables by name, e.g. "
          "{\"enable_thinking\": false}");
    out.templateKwargs = *k;
  }
  return Status::ok();
}

Status DatasetReader::convert(const JsonlRecord &rec, Example &out) {
  out = Example();
  out.line = rec.line;
  if (!rec.value.isObject())
    return Status::error(reader_.where(rec, &rec.value) + "record is " +
                         json::kindName(rec.value.kind()) +
                         ", expected an object");
  HONE_TRY(templateInputs(rec, out));
  auto need = [&](const char *column) -> Expected<const json::Value *> {
    const json::Value *v = rec.value.find(column);
    if (!v)
      return Status::error(
          reader_.where(rec, nullptr) + "record lacks '" + column +
          "' (layout " + datasetLayoutName(info_.layout) + ", columns " +
          datasetLayoutColumns(info_.layout) + ", detected on line " +
          std::to_string(firstLine_) + ")");
    return v;
  };
  switch (info_.layout) {
  case DatasetLayout::Text: {
    Expected<const json::Value *> v = need(cols_.text.c_str());
    if (!v)
      return v.status();
    if (!(*v)->isString())
      return Status::error(reader_.where(rec, *v) + "'" + cols_.text + "' is " +
                           json::kindName((*v)->kind()) +
                           ", expected a string");
    out.text = (*v)->asString();
    return Status::ok();
  }
  case DatasetLayout::Messages:
  case DatasetLayout::ShareGPT: {
    bool sg = info_.layout == DatasetLayout::ShareGPT;
    const char *col = sg ? cols_.conversations.c_str() : cols_.messages.c_str();
    Expected<const json::Value *> v = need(col);
    if (!v)
      return v.status();
    return messageList(rec, **v, col, sg, out.messages);
  }
  case DatasetLayout::PromptCompletion:
  case DatasetLayout::Kto:
    HONE_TRY(textOrMessages(rec, cols_.prompt.c_str(), out.prompt,
                            out.promptMessages));
    HONE_TRY(textOrMessages(rec, cols_.completion.c_str(), out.completion,
                            out.completionMessages));
    if (info_.layout == DatasetLayout::Kto) {
      Expected<const json::Value *> v = need(cols_.label.c_str());
      if (!v)
        return v.status();
      if (!(*v)->isBool())
        return Status::error(reader_.where(rec, *v) + "'" + cols_.label +
                             "' is " + json::kindName((*v)->kind()) +
                             ", expected true or false");
      out.label = (*v)->asBool();
      ++(out.label ? info_.desirable : info_.undesirable);
    }
    return Status::ok();
  case DatasetLayout::Preference:
    HONE_TRY(textOrMessages(rec, cols_.prompt.c_str(), out.prompt,
                            out.promptMessages,
                            /*optional=*/info_.conversational));
    HONE_TRY(textOrMessages(rec, cols_.chosen.c_str(), out.chosen,
                            out.chosenMessages));
    HONE_TRY(textOrMessages(rec, cols_.rejected.c_str(), out.rejected,
                            out.rejectedMessages));
    return Status::ok();
  case DatasetLayout::PromptAnswer: {
    HONE_TRY(textOrMessages(rec, cols_.prompt.c_str(), out.prompt,
                            out.promptMessages));
    Expected<const json::Value *> v = need(info_.answerColumn.c_str());
    if (!v)
      return v.status();
    if ((*v)->isString())
      out.answer = (*v)->asString();
    else if ((*v)->isNumber())
      out.answer = json::serialize(**v);
    else
      return Status::error(reader_.where(rec, *v) + "'" + info_.answerColumn +
                           "' is " + json::kindName((*v)->kind()) +
                           ", expected a string or a number");
    return Status::ok();
  }
  case DatasetLayout::Prompt:
    return textOrMessages(rec, cols_.prompt.c_str(), out.prompt,
                          out.promptMessages);
  }
  return Status::ok();
}

Expected<bool> DatasetReader::next(Example &out, JsonlRecord *record) {
  JsonlRecord rec;
  if (pending_) {
    rec = std::move(*pending_);
    pending_.reset();
  } else {
    Expected<bool> got = reader_.next(rec);
    if (!got)
      return got;
    if (!*got)
      return false;
  }
  HONE_TRY(convert(rec, out));
  ++info_.records;
  if (record)
    *record = std::move(rec);
  return true;
}

JsonlPosition DatasetReader::position() const {
  if (pending_)
    return {pending_->byteOffset, pending_->line - 1};
  return reader_.position();
}

Status DatasetReader::seek(const JsonlPosition &pos) {
  pending_.reset();
  return reader_.seek(pos);
}

Expected<DatasetInfo> inspectDataset(const std::string &path, size_t maxRecords,
                                     std::optional<DatasetLayout> expected) {
  DatasetOptions o;
  o.layout = expected;
  return inspectDataset(path, maxRecords, o);
}

Expected<DatasetInfo> inspectDataset(const std::string &path, size_t maxRecords,
                                     const DatasetOptions &options) {
  Expected<DatasetReader> r = DatasetReader::open(path, options);
  if (!r)
    return r.status();
  Example ex;
  while (r->info().records < maxRecords) {
    Expected<bool> got = r->next(ex);
    if (!got)
      return got.status();
    if (!*got) {
      DatasetInfo info = r->info();
      info.complete = true;
      return info;
    }
  }
  return r->info();
}

const char *datasetUseName(DatasetUse use) {
  switch (use) {
  case DatasetUse::SFT:
    return "an SFT stage";
  case DatasetUse::Preference:
    return "a preference stage";
  case DatasetUse::KTO:
    return "a KTO stage";
  case DatasetUse::RLPrompts:
    return "an RL stage";
  case DatasetUse::RLWithReference:
    return "a stage that needs reference answers";
  }
  return "?";
}

Status checkDatasetUse(const DatasetInfo &info, DatasetUse use,
                       std::string_view path) {
  using L = DatasetLayout;
  L l = info.layout;
  bool ok = false;
  const char *hint = "";
  switch (use) {
  case DatasetUse::SFT:
    ok = l == L::Text || l == L::Messages || l == L::PromptCompletion ||
         l == L::ShareGPT;
    hint = "SFT reads text, messages, prompt/completion or ShareGPT "
           "conversations";
    break;
  case DatasetUse::Preference:
    ok = l == L::Preference;
    hint = "preference stages read prompt/chosen/rejected";
    break;
  case DatasetUse::KTO:
    ok = l == L::Kto || l == L::Preference;
    hint = "KTO reads prompt/completion/label or prompt/chosen/rejected";
    break;
  case DatasetUse::RLPrompts:
    ok = l == L::Prompt || l == L::PromptAnswer || l == L::PromptCompletion ||
         l == L::Preference || l == L::Kto;
    hint = "RL stages read records with a prompt";
    break;
  case DatasetUse::RLWithReference:
    ok = l == L::PromptAnswer || l == L::PromptCompletion;
    hint = "reference answers come from prompt + answer|solution|"
           "ground_truth, or prompt/completion";
    break;
  }
  if (ok)
    return Status::ok();
  return Status::error(std::string(path) + ": error: dataset layout '" +
                           datasetLayoutName(l) + "' (" +
                           datasetLayoutColumns(l) + ") cannot feed " +
                           datasetUseName(use),
                       hint);
}

} // namespace hone
