// Datasets in the column layouts users already have (TRL / Hugging Face
// conventions), read from JSONL as a stream of typed examples.
//
//   layout             columns (extra columns are ignored)
//   text               text: string
//   messages           messages: [{role, content}]
//   prompt_completion  prompt, completion: both strings or both message lists
//   preference         [prompt], chosen, rejected: strings or message lists
//                      (prompt optional only for message lists)
//   kto                prompt, completion, label: bool
//   prompt_answer      prompt, and answer | solution | ground_truth
//                      (string or number): prompts with a reference answer
//   prompt             prompt only (RL with a reward model or process)
//   sharegpt           conversations: [{from, value}]
//
// Conversational records may also hold TRL's `tools` (a list of function
// schemas, or that list as a JSON string) and `chat_template_kwargs` (an
// object of template variables); messages keep their other fields
// (tool_calls, tool_call_id, name, reasoning_content, ...) for the chat
// template, and an assistant message that calls tools may have a null
// content.
//
// The layout is detected from the first record (or imposed by the caller);
// every later record must have the same fields with the same types, else
// the error is "FILE:LINE:COL: error: ..." at the offending record/value.
#pragma once

#include "runtime/base/Status.h"
#include "runtime/data/Jsonl.h"
#include "runtime/tokenizer/ChatTemplate.h"

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hone {

enum class DatasetLayout : uint8_t {
  Text,
  Messages,
  PromptCompletion,
  Preference,
  Kto,
  PromptAnswer,
  Prompt,
  ShareGPT,
};

/// "text", "messages", "prompt_completion", "preference", "kto",
/// "prompt_answer", "prompt", "sharegpt".
const char *datasetLayoutName(DatasetLayout layout);
Expected<DatasetLayout> datasetLayoutFromName(std::string_view name);
/// The columns a layout reads, for messages: "prompt/chosen/rejected".
const char *datasetLayoutColumns(DatasetLayout layout);

/// One record. Which fields are set depends on the layout; for the prompt
/// layouts either the string or the *Messages form is filled, following
/// DatasetInfo::conversational. ShareGPT is returned as `messages` with
/// roles mapped (human→user, gpt→assistant, ...).
struct Example {
  size_t line = 0;
  std::string text;
  std::vector<ChatMessage> messages;
  std::string prompt, completion, chosen, rejected;
  std::vector<ChatMessage> promptMessages, completionMessages, chosenMessages,
      rejectedMessages;
  bool label = false;
  std::string answer; // numbers are kept as written in the file
  /// The record's `tools` (TRL: JSON schemas of the functions the
  /// conversation may call; a list, also when the file holds it as a JSON
  /// string), or null. Passed to the chat template.
  json::Value tools;
  /// The record's `chat_template_kwargs` (an object: more template
  /// variables, e.g. {"enable_thinking": false}), or null.
  json::Value templateKwargs;
};

/// Column names, for datasets whose keys differ from the conventions (the
/// spec's `columns`). Defaults are the conventional names.
struct DatasetColumns {
  std::string text = "text";
  std::string messages = "messages";
  std::string role = "role";       // key of a message's role
  std::string content = "content"; // key of a message's text
  std::string prompt = "prompt";
  std::string completion = "completion";
  std::string chosen = "chosen";
  std::string rejected = "rejected";
  std::string label = "label";
  /// Empty: the first of answer, solution, ground_truth present.
  std::string answer;
  /// ShareGPT list of {from, value} (speakers human, gpt, system, tool).
  std::string conversations = "conversations";
  /// Extra role renames applied before validation, e.g. {"bot": "assistant"}.
  std::map<std::string, std::string> roleNames;
};

struct DatasetOptions {
  /// Impose a layout instead of detecting it from the first record.
  std::optional<DatasetLayout> layout;
  DatasetColumns columns;
};

/// The options for a dataset as the spec describes it: its layout under the
/// spec's name (text, messages, prompt_completion, preference,
/// unpaired_preference, prompt_answer, prompt_only; "auto" or "" detects
/// it) and the column renames it sets (keys: text, messages, role, content,
/// prompt, completion, chosen, rejected, label, answer; absent keys keep the
/// conventional names). messages read through conversations/from/value are
/// the ShareGPT layout. The compiler checks data and the job reads it with
/// these same options.
Expected<DatasetOptions>
datasetOptionsFromSpec(std::string_view layout,
                       const std::map<std::string, std::string> &columns,
                       const std::map<std::string, std::string> &roleNames = {});

struct DatasetInfo {
  DatasetLayout layout = DatasetLayout::Text;
  /// Prompt/completion/chosen/rejected are message lists (not strings).
  bool conversational = false;
  /// prompt_answer: which column holds the answer.
  std::string answerColumn;
  /// Columns of the first record, in order.
  std::vector<std::string> columns;
  /// Records read and checked.
  size_t records = 0;
  /// True when the whole file was read (not cut off by maxRecords).
  bool complete = false;
  /// kto: how many labels were true / false.
  size_t desirable = 0, undesirable = 0;
};

class DatasetReader {
public:
  /// Opens a JSONL file and reads its first record to detect the layout
  /// (or checks it against `expected`). An empty file is an error.
  static Expected<DatasetReader>
  open(const std::string &path,
       std::optional<DatasetLayout> expected = std::nullopt);
  static Expected<DatasetReader> open(const std::string &path,
                                      const DatasetOptions &options);
  static Expected<DatasetReader>
  fromJsonl(JsonlReader reader,
            std::optional<DatasetLayout> expected = std::nullopt);
  static Expected<DatasetReader> fromJsonl(JsonlReader reader,
                                           const DatasetOptions &options);

  const DatasetInfo &info() const { return info_; }
  DatasetLayout layout() const { return info_.layout; }
  /// The file's path (or a string source's name), as errors name it.
  const std::string &name() const { return reader_.name(); }

  /// Next example: true, false at the end, or an error with FILE:LINE:COL.
  /// `record` (when given) receives the JSON record it was read from (the
  /// loader keeps both, without parsing the line twice).
  Expected<bool> next(Example &out, JsonlRecord *record = nullptr);

  /// Position of the next example (for resuming); seek() returns to it.
  JsonlPosition position() const;
  Status seek(const JsonlPosition &pos);

private:
  DatasetReader(JsonlReader r) : reader_(std::move(r)) {}
  Status convert(const JsonlRecord &rec, Example &out);
  Status messageList(const JsonlRecord &rec, const json::Value &v,
                     const char *column, bool shareGpt,
                     std::vector<ChatMessage> &out) const;
  Status templateInputs(const JsonlRecord &rec, Example &out) const;
  Status textOrMessages(const JsonlRecord &rec, const char *column,
                        std::string &text, std::vector<ChatMessage> &msgs,
                        bool optional = false) const;

  JsonlReader reader_;
  DatasetColumns cols_;
  DatasetInfo info_;
  std::optional<JsonlRecord> pending_;
  size_t firstLine_ = 1;
};

/// Reads up to maxRecords records (all by default), checking every one
/// against the layout of the first. The entry point for `honec` to check a
/// spec's dataset against its stage.
Expected<DatasetInfo>
inspectDataset(const std::string &path,
               size_t maxRecords = std::numeric_limits<size_t>::max(),
               std::optional<DatasetLayout> expected = std::nullopt);
Expected<DatasetInfo> inspectDataset(const std::string &path, size_t maxRecords,
                                     const DatasetOptions &options);

/// What a stage needs from its dataset.
enum class DatasetUse : uint8_t {
  SFT,             // text, messages, prompt_completion, sharegpt
  Preference,      // preference (reward models, DPO, IPO, ORPO, SimPO)
  KTO,             // kto, or preference (pairs unpaired into labels)
  RLPrompts,       // anything with a prompt
  RLWithReference, // prompt_answer, prompt_completion (completion = reference)
};
const char *datasetUseName(DatasetUse use);
/// OK when a dataset of `info`'s layout can feed a stage of kind `use`;
/// else "PATH: error: dataset layout 'text' cannot feed ...", with a hint
/// naming the layouts that can.
Status checkDatasetUse(const DatasetInfo &info, DatasetUse use,
                       std::string_view path);

} // namespace hone
