#include "frontend/DatasetProbe.h"

#include "runtime/base/Json.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/HeldBytes.h"

#include <algorithm>
#include <cstdlib>
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

/// The spec's column names in the runtime reader's terms (the runtime's own
/// mapping, which the job uses too), so that the compiler checks a dataset
/// with exactly the code the job reads it with.
Expected<DatasetOptions> runtimeOptions(Dataset::Layout layout,
                                        const Columns &c) {
  std::map<std::string, std::string> columns = {
      {"text", c.text()},         {"messages", c.messages()},
      {"role", c.role()},         {"content", c.content()},
      {"prompt", c.prompt()},     {"completion", c.completion()},
      {"chosen", c.chosen()},     {"rejected", c.rejected()},
      {"label", c.label()}};
  if (c.has_answer()) // otherwise detected: answer, solution, ground_truth
    columns["answer"] = c.answer();
  std::map<std::string, std::string> roles(c.role_names().begin(),
                                           c.role_names().end());
  return datasetOptionsFromSpec(Dataset::Layout_Name(layout), columns, roles);
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

} // namespace

DatasetProbe probeDataset(const std::string &path, Dataset::Layout layout,
                          const Columns &columns, int maxRecords) {
  DatasetProbe probe;
  probe.layout = layout;
  auto options = runtimeOptions(layout, columns);
  auto info = options ? inspectDataset(path, static_cast<size_t>(maxRecords),
                                       *options)
                      : Expected<DatasetInfo>(options.status());
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

std::optional<UnencodableText>
findUnencodableText(const std::string &path, Dataset::Layout layout,
                    const Columns &columns,
                    const ::hone::Tokenizer &tokenizer) {
  std::optional<UnencodableText> bad;
  auto options = runtimeOptions(layout, columns);
  auto reader = options ? DatasetReader::open(path, *options)
                        : Expected<DatasetReader>(options.status());
  if (!reader)
    return bad; // the probe reported it
  EncodeOptions eo;
  eo.parseSpecialTokens = false; // as the job encodes record text
  Example ex;
  for (;;) {
    auto more = reader->next(ex);
    if (!more) {
      // "PATH:LINE:COL: error: WHAT": a record past those the probe read.
      UnencodableText u;
      std::string m = more.status().message();
      size_t e = m.find(": error: ");
      u.why = e == std::string::npos ? m : m.substr(e + 9);
      if (e != std::string::npos && m.compare(0, path.size(), path) == 0)
        u.line = std::atoi(m.c_str() + std::min(m.size(), path.size() + 1));
      u.records = 1;
      if (bad) { // after text errors: count it, keep the first line
        bad->records += 1;
        return bad;
      }
      return u;
    }
    if (!*more)
      return bad;
    auto check = [&](const std::string &column, const std::string &text) {
      if (text.empty())
        return true;
      Status ids = tokenizer.check(text, eo);
      if (ids.isOk())
        return true;
      if (!bad) {
        bad.emplace();
        bad->line = int(ex.line);
        bad->column = column;
        std::string m = ids.message();
        bad->why = m.rfind("error: ", 0) == 0 ? m.substr(7) : m;
      }
      return false;
    };
    auto checkAll = [&](const std::string &column,
                        const std::vector<ChatMessage> &msgs) {
      bool ok = true;
      for (const ChatMessage &m : msgs)
        ok = ok && check(column, m.content);
      return ok;
    };
    bool ok = check(columns.text(), ex.text) &&
              checkAll(columns.messages(), ex.messages) &&
              check(columns.prompt(), ex.prompt) &&
              check(columns.completion(), ex.completion) &&
              check(columns.chosen(), ex.chosen) &&
              check(columns.rejected(), ex.rejected) &&
              checkAll(columns.prompt(), ex.promptMessages) &&
              checkAll(columns.completion(), ex.completionMessages) &&
              checkAll(columns.chosen(), ex.chosenMessages) &&
              checkAll(columns.rejected(), ex.rejectedMessages);
    if (!ok)
      bad->records += 1;
  }
}

int64_t datasetHeldBytes(const std::string &path, Dataset::Layout layout,
                         const Columns &columns, int64_t maxRecords,
                         int64_t *longestRecord) {
  auto options = runtimeOptions(layout, columns);
  if (!options)
    return -1;
  auto held = datasetFileHeldBytes(path, *options, maxRecords, longestRecord);
  return held ? *held : -1;
}

namespace {
/// Rows per length, indexed by length. Lengths past 2^20 (the longest
/// max_seq_len a spec may give) count as 2^20 + 1: every reader cuts a
/// length to its stage's (dialect/HoneForwards.cpp dataRowLengths), and a
/// 50-million-token row no longer costs a 400 MB table.
void countRow(std::vector<int64_t> &counts, size_t len) {
  len = std::min<size_t>(len, (size_t(1) << 20) + 1);
  if (counts.size() <= len)
    counts.resize(len + 1, 0);
  counts[len] += 1;
}
} // namespace

RowLengths measureRowLengths(const std::string &path, Dataset::Layout layout,
                             const Columns &columns,
                             const job::TextFormat &format) {
  RowLengths out;
  auto options = runtimeOptions(layout, columns);
  auto reader = options ? DatasetReader::open(path, *options)
                        : Expected<DatasetReader>(options.status());
  if (!reader)
    return out;
  job::TextFormat f = format;
  // Measure, cutting only past 2^20 + 1 tokens (countRow's last bucket), so
  // a huge record is not tokenized whole (runtime/data/Sequences.cpp).
  f.maxSeqLen = (int64_t(1) << 20) + 1;
  bool seqOk = true, pairOk = true, promptOk = true;
  int64_t seq = 0, pair = 0, prompt = 0;
  Example ex;
  for (;;) {
    auto more = reader->next(ex);
    if (!more)
      return out; // the job reports the record
    if (!*more)
      break;
    ++out.rows;
    // A chat rendering error (runtime/data/Sequences.cpp: "record on line
    // N: ...") of a row kind this layout feeds is the data's fault.
    auto chatError = [&](const Status &st, bool applies) {
      if (applies && out.chatError.empty() &&
          st.message().rfind("error: record on line", 0) == 0) {
        out.chatError = st.message().substr(7);
        out.chatHint = st.hint();
      }
    };
    using L = Dataset;
    bool sftRows = layout == L::messages || layout == L::prompt_completion ||
                   !ex.messages.empty();
    bool pairRows = layout == L::preference || layout == L::unpaired_preference;
    bool promptRows = !ex.prompt.empty() || !ex.promptMessages.empty();
    if (seqOk) {
      auto s = job::tokenizeExample(f, ex);
      seqOk = bool(s);
      if (s) {
        seq = std::max<int64_t>(seq, int64_t(s->ids.size()));
        countRow(out.sequenceCounts, s->ids.size());
      }
      else
        chatError(s.status(), sftRows);
    }
    if (pairOk) {
      auto a = job::tokenizePair(f, ex, ex.chosen, ex.chosenMessages);
      auto b = job::tokenizePair(f, ex, ex.rejected, ex.rejectedMessages);
      pairOk = a && b;
      if (pairOk) {
        pair = std::max<int64_t>(
            pair, int64_t(std::max(a->ids.size(), b->ids.size())));
        countRow(out.pairCounts, a->ids.size());
        countRow(out.pairCounts, b->ids.size());
      }
      else
        chatError(a ? b.status() : a.status(), pairRows);
    }
    if (promptOk) {
      auto p = job::tokenizePrompt(f, ex);
      promptOk = bool(p);
      if (p)
        prompt = std::max<int64_t>(prompt, int64_t(p->size()));
      else
        chatError(p.status(), promptRows);
    }
  }
  out.sequence = seqOk ? seq : -1;
  out.pair = pairOk ? pair : -1;
  if (!seqOk)
    out.sequenceCounts.clear();
  if (!pairOk)
    out.pairCounts.clear();
  out.prompt = promptOk ? prompt : -1;
  return out;
}

} // namespace hone::spec
