#include "runtime/data/HeldBytes.h"

#include "runtime/data/Jsonl.h"

#include <algorithm>

namespace hone {

int64_t mallocChunkBytes(int64_t bytes) {
  if (bytes <= 0)
    return 0;
  // hone_rt_begin fixes glibc's mmap threshold at 128 KiB (mallopt): a
  // block at or above it is its own mapping, header included, in pages.
  if (bytes >= (int64_t(128) << 10))
    return (bytes + 16 + 4095) & ~int64_t(4095);
  return std::max<int64_t>(32, (bytes + 8 + 15) & ~int64_t(15));
}

int64_t heapBytes(const std::string &s) {
  // libstdc++'s small-string buffer holds up to 15 characters.
  return s.capacity() > 15 ? mallocChunkBytes(int64_t(s.capacity()) + 1) : 0;
}

int64_t heapBytes(const json::Value &v) {
  int64_t n = heapBytes(v.asString());
  const auto &items = v.items();
  n += mallocChunkBytes(int64_t(items.capacity() * sizeof(json::Value)));
  for (const json::Value &e : items)
    n += heapBytes(e);
  const auto &members = v.members();
  n += mallocChunkBytes(
      int64_t(members.capacity() * sizeof(json::Value::Member)));
  for (const json::Value::Member &m : members)
    n += heapBytes(m.first) + heapBytes(m.second);
  return n;
}

namespace {
int64_t messagesBytes(const std::vector<ChatMessage> &msgs) {
  int64_t n = mallocChunkBytes(int64_t(msgs.capacity() * sizeof(ChatMessage)));
  for (const ChatMessage &m : msgs)
    n += heapBytes(m.role) + heapBytes(m.content) + heapBytes(m.fields);
  return n;
}
} // namespace

int64_t heapBytes(const Example &ex) {
  return heapBytes(ex.text) + messagesBytes(ex.messages) + heapBytes(ex.prompt) +
         heapBytes(ex.completion) + heapBytes(ex.chosen) +
         heapBytes(ex.rejected) + messagesBytes(ex.promptMessages) +
         messagesBytes(ex.completionMessages) + messagesBytes(ex.chosenMessages) +
         messagesBytes(ex.rejectedMessages) + heapBytes(ex.answer) +
         heapBytes(ex.tools) + heapBytes(ex.templateKwargs);
}

void shrinkHeld(std::string &s) { s.shrink_to_fit(); }

void shrinkHeld(json::Value &v) {
  shrinkHeld(v.asString());
  v.items().shrink_to_fit();
  for (json::Value &e : v.items())
    shrinkHeld(e);
  v.members().shrink_to_fit();
  for (json::Value::Member &m : v.members()) {
    shrinkHeld(m.first);
    shrinkHeld(m.second);
  }
}

namespace {
void shrinkMessages(std::vector<ChatMessage> &msgs) {
  msgs.shrink_to_fit();
  for (ChatMessage &m : msgs) {
    shrinkHeld(m.role);
    shrinkHeld(m.content);
    shrinkHeld(m.fields);
  }
}
} // namespace

void shrinkHeld(Example &ex) {
  for (std::string *s : {&ex.text, &ex.prompt, &ex.completion, &ex.chosen,
                         &ex.rejected, &ex.answer})
    shrinkHeld(*s);
  for (std::vector<ChatMessage> *m :
       {&ex.messages, &ex.promptMessages, &ex.completionMessages,
        &ex.chosenMessages, &ex.rejectedMessages})
    shrinkMessages(*m);
  shrinkHeld(ex.tools);
  shrinkHeld(ex.templateKwargs);
}

int64_t loaderArrayBytes(int64_t records) {
  return mallocChunkBytes(records * int64_t(sizeof(Example))) +
         mallocChunkBytes(records * int64_t(sizeof(json::Value))) +
         mallocChunkBytes(records * int64_t(sizeof(size_t)));
}

Expected<int64_t> datasetFileHeldBytes(const std::string &path,
                                       const DatasetOptions &options,
                                       int64_t maxRecords,
                                       int64_t *longestRecord) {
  auto reader = DatasetReader::open(path, options);
  if (!reader)
    return reader.status();
  auto raw = JsonlReader::open(path);
  if (!raw)
    return raw.status();
  // Held as DataLoader::build holds them: each example with the raw
  // record of its line, both as copies (the loader copies its arrays once
  // read, so every string and array in them is exactly as long as its
  // contents), in arrays of exactly `records` elements. Counted record by
  // record: nothing is kept.
  int64_t records = 0, bytes = 0;
  Example ex;
  JsonlRecord rec;
  while (maxRecords <= 0 || records < maxRecords) {
    auto more = reader->next(ex);
    if (!more)
      return more.status();
    if (!*more)
      break;
    for (;;) {
      auto r = raw->next(rec);
      if (!r)
        return r.status();
      if (!*r)
        return Status::error(path + ": error: record stream ended early");
      if (rec.line == ex.line)
        break;
    }
    const Example held = ex;
    const json::Value heldRecord = rec.value;
    bytes += heapBytes(held) + heapBytes(heldRecord);
    if (longestRecord)
      *longestRecord = std::max(*longestRecord, heapBytes(held));
    ++records;
    ex = Example();
  }
  return bytes + loaderArrayBytes(records);
}

} // namespace hone
