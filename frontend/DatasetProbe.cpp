#include "frontend/DatasetProbe.h"

#include "runtime/data/Dataset.h"
#include "runtime/support/Json.h"

#include <fstream>
#include <optional>

namespace hone::spec {

std::vector<std::string> requiredColumns(Dataset::Layout layout,
                                         const Columns &c) {
  switch (layout) {
  case Dataset::text:
    return {c.text()};
  case Dataset::messages:
    return {c.messages()};
  case Dataset::prompt_only:
    return {c.prompt()};
  case Dataset::prompt_completion:
    return {c.prompt(), c.completion()};
  case Dataset::preference:
    return {c.chosen(), c.rejected()};
  case Dataset::unpaired_preference:
    return {c.prompt(), c.completion(), c.label()};
  case Dataset::prompt_answer:
    return {c.prompt(), c.answer()};
  case Dataset::auto_:
    break;
  }
  return {};
}

namespace {

Dataset::Layout detect(const json::Value &rec, const Columns &c) {
  auto has = [&](const std::string &k) { return rec.find(k) != nullptr; };
  if (has(c.chosen()) && has(c.rejected()))
    return Dataset::preference;
  if (has(c.completion()) && has(c.label()))
    return Dataset::unpaired_preference;
  if (has(c.prompt()) && has(c.completion()))
    return Dataset::prompt_completion;
  if (has(c.prompt()) && has(c.answer()))
    return Dataset::prompt_answer;
  if (has(c.messages()))
    return Dataset::messages;
  if (has(c.text()))
    return Dataset::text;
  if (has(c.prompt()))
    return Dataset::prompt_only;
  return Dataset::auto_;
}

/// A conversation: a non-empty list of {role, content} objects.
std::string checkConversation(const json::Value &v, const std::string &key,
                              const Columns &c) {
  if (!v.isArray() || v.items().empty())
    return "'" + key + "' is not a non-empty list of messages";
  for (size_t i = 0; i < v.items().size(); ++i) {
    const json::Value &m = v.items()[i];
    const json::Value *role = m.find(c.role());
    const json::Value *content = m.find(c.content());
    if (!m.isObject() || !role || !role->isString() || !content ||
        !content->isString())
      return "message " + std::to_string(i) + " of '" + key +
             "' needs string '" + c.role() + "' and '" + c.content() + "'";
  }
  return {};
}

/// Why `rec` does not fit `layout`, or empty.
std::string checkRecord(const json::Value &rec, Dataset::Layout layout,
                        const Columns &c, bool &conversational) {
  if (!rec.isObject())
    return std::string("a record is a JSON object, not ") +
           json::kindName(rec.kind());
  for (const std::string &key : requiredColumns(layout, c))
    if (!rec.find(key))
      return "the record has no '" + key + "' column";
  auto textOrChat = [&](const std::string &key) -> std::string {
    const json::Value *v = rec.find(key);
    if (!v || v->isString())
      return {};
    if (v->isArray()) {
      conversational = true;
      return checkConversation(*v, key, c);
    }
    return "'" + key + "' is " + json::kindName(v->kind()) +
           ", not a string or a list of messages";
  };
  std::string err;
  switch (layout) {
  case Dataset::text:
    if (!rec.find(c.text())->isString())
      return "'" + c.text() + "' is not a string";
    break;
  case Dataset::messages:
    conversational = true;
    return checkConversation(*rec.find(c.messages()), c.messages(), c);
  case Dataset::prompt_only:
    return textOrChat(c.prompt());
  case Dataset::prompt_completion:
    if (!(err = textOrChat(c.prompt())).empty())
      return err;
    return textOrChat(c.completion());
  case Dataset::preference:
    for (const std::string &k : {c.prompt(), c.chosen(), c.rejected()})
      if (!(err = textOrChat(k)).empty())
        return err;
    break;
  case Dataset::unpaired_preference:
    if (!(err = textOrChat(c.prompt())).empty() ||
        !(err = textOrChat(c.completion())).empty())
      return err;
    if (!rec.find(c.label())->isBool())
      return "'" + c.label() + "' is " +
             json::kindName(rec.find(c.label())->kind()) +
             ", not true or false";
    break;
  case Dataset::prompt_answer: {
    if (!(err = textOrChat(c.prompt())).empty())
      return err;
    const json::Value *a = rec.find(c.answer());
    if (!a->isString() && !a->isNumber())
      return "'" + c.answer() + "' is " + json::kindName(a->kind()) +
             ", not a string or a number";
    break;
  }
  case Dataset::auto_:
    break;
  }
  return {};
}

} // namespace

namespace {

/// Columns as the runtime's reader names them: the defaults, or the
/// ShareGPT preset (conversations/from/value).
enum class RuntimeColumns { Default, ShareGpt, Custom };

RuntimeColumns runtimeColumns(const Columns &c) {
  Columns d;
  if (c.role_names_size() > 0 || c.text() != d.text() ||
      c.prompt() != d.prompt() || c.completion() != d.completion() ||
      c.chosen() != d.chosen() || c.rejected() != d.rejected() ||
      c.label() != d.label() || c.answer() != d.answer())
    return RuntimeColumns::Custom;
  if (c.messages() == d.messages() && c.role() == d.role() &&
      c.content() == d.content())
    return RuntimeColumns::Default;
  if (c.messages() == "conversations" && c.role() == "from" &&
      c.content() == "value")
    return RuntimeColumns::ShareGpt;
  return RuntimeColumns::Custom;
}

std::optional<DatasetLayout> toRuntime(Dataset::Layout l, bool shareGpt) {
  switch (l) {
  case Dataset::text:
    return DatasetLayout::Text;
  case Dataset::messages:
    return shareGpt ? DatasetLayout::ShareGPT : DatasetLayout::Messages;
  case Dataset::prompt_only:
    return DatasetLayout::Prompt;
  case Dataset::prompt_completion:
    return DatasetLayout::PromptCompletion;
  case Dataset::preference:
    return DatasetLayout::Preference;
  case Dataset::unpaired_preference:
    return DatasetLayout::Kto;
  case Dataset::prompt_answer:
    return DatasetLayout::PromptAnswer;
  case Dataset::auto_:
    break;
  }
  return shareGpt ? std::optional<DatasetLayout>(DatasetLayout::ShareGPT)
                  : std::nullopt;
}

Dataset::Layout fromRuntime(DatasetLayout l) {
  switch (l) {
  case DatasetLayout::Text:
    return Dataset::text;
  case DatasetLayout::Messages:
  case DatasetLayout::ShareGPT:
    return Dataset::messages;
  case DatasetLayout::PromptCompletion:
    return Dataset::prompt_completion;
  case DatasetLayout::Preference:
    return Dataset::preference;
  case DatasetLayout::Kto:
    return Dataset::unpaired_preference;
  case DatasetLayout::PromptAnswer:
    return Dataset::prompt_answer;
  case DatasetLayout::Prompt:
    return Dataset::prompt_only;
  }
  return Dataset::auto_;
}

long long countRecords(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  long long n = 0;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      ++n;
  return n;
}

/// The runtime reader's checks (runtime/data), so that what the compiler
/// accepts is what the job can read.
DatasetProbe probeWithRuntime(const std::string &path, Dataset::Layout layout,
                              bool shareGpt, int maxRecords) {
  DatasetProbe probe;
  probe.layout = layout;
  auto info = inspectDataset(path, static_cast<size_t>(maxRecords),
                             toRuntime(layout, shareGpt));
  if (!info) {
    // "PATH:LINE:COL: error: WHAT" → line and WHAT.
    std::string m = info.status().message();
    size_t e = m.find(": error: ");
    std::string where = e == std::string::npos ? "" : m.substr(0, e);
    probe.recordError = e == std::string::npos ? m : m.substr(e + 9);
    probe.recordHint = info.status().hint();
    if (where.size() > path.size() && where.compare(0, path.size(), path) == 0) {
      std::string rest = where.substr(path.size() + 1);
      probe.recordLine = std::atoi(rest.c_str());
    }
    return probe;
  }
  probe.layout = fromRuntime(info->layout);
  probe.conversational = info->conversational ||
                         info->layout == DatasetLayout::Messages ||
                         info->layout == DatasetLayout::ShareGPT;
  probe.firstKeys = info->columns;
  probe.answerColumn = info->answerColumn;
  probe.records = info->complete ? static_cast<long long>(info->records)
                                 : countRecords(path);
  return probe;
}

} // namespace

DatasetProbe probeDataset(const std::string &path, Dataset::Layout layout,
                          const Columns &columns, int maxRecords) {
  RuntimeColumns rc = runtimeColumns(columns);
  if (rc != RuntimeColumns::Custom)
    return probeWithRuntime(path, layout, rc == RuntimeColumns::ShareGpt,
                            maxRecords);
  return probeMapped(path, layout, columns, maxRecords);
}

DatasetProbe probeMapped(const std::string &path, Dataset::Layout layout,
                         const Columns &columns, int maxRecords) {
  DatasetProbe probe;
  probe.layout = layout;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    probe.readError = "cannot read '" + path + "'";
    return probe;
  }
  std::string line;
  long long lineNo = 0;
  int checked = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos)
      continue;
    ++probe.records;
    if (checked >= maxRecords || !probe.recordError.empty())
      continue;
    ++checked;
    json::ParseOptions opts;
    opts.sourceName = path;
    opts.firstLine = lineNo;
    json::Location where;
    auto rec = json::parse(line, opts, &where);
    if (!rec) {
      // The JSON parser's message already says "PATH:LINE:COL: error: ...".
      std::string m = rec.status().message();
      size_t e = m.find("error: ");
      probe.recordError = "invalid JSON at column " +
                          std::to_string(where.column) + ": " +
                          (e == std::string::npos ? m : m.substr(e + 7));
      probe.recordLine = static_cast<int>(lineNo);
      continue;
    }
    if (probe.firstKeys.empty() && rec->isObject())
      for (const auto &m : rec->members())
        probe.firstKeys.push_back(m.first);
    if (probe.layout == Dataset::auto_) {
      probe.layout = detect(*rec, columns);
      if (probe.layout == Dataset::auto_) {
        probe.recordError = "cannot detect the layout from the record's "
                            "columns";
        probe.recordLine = static_cast<int>(lineNo);
        continue;
      }
    }
    std::string err =
        checkRecord(*rec, probe.layout, columns, probe.conversational);
    if (!err.empty()) {
      probe.recordError = err;
      probe.recordLine = static_cast<int>(lineNo);
    }
  }
  if (probe.records == 0 && probe.recordError.empty())
    probe.recordError = "the file has no records";
  return probe;
}

} // namespace hone::spec
