// What the compiler needs to know about a JSONL dataset before anything runs:
// its column layout (detected or checked) and how many records it holds.
// Reads the first records only (and counts lines).
//
// Every dataset, renamed columns included, is checked by the runtime's own
// reader (runtime/data inspectDataset with the spec's column names), so the
// compiler accepts exactly what the job reads.
#pragma once

#include "frontend/pipeline.pb.h"
#include "runtime/data/Sequences.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <optional>

#include <string>
#include <vector>

namespace hone::spec {

struct DatasetProbe {
  /// The first problem found in the first records, e.g. "line 3: record has
  /// no 'chosen' column"; empty when they all fit `layout`.
  std::string recordError;
  /// How to fix `recordError`, when the reader says.
  std::string recordHint;
  /// 1-based line of `recordError` in the file (0: none).
  int recordLine = 0;
  /// The layout the records have (the requested one, or the detected one).
  Dataset::Layout layout = Dataset::auto_;
  /// Non-empty lines in the whole file.
  long long records = 0;
  /// Keys of the first record, for hints.
  std::vector<std::string> firstKeys;
  /// Prompts are conversations (a list of messages) rather than strings.
  bool conversational = false;
  /// prompt_answer: the column holding the answer (answer, solution, ...).
  std::string answerColumn;
};

/// Reads `path`, detects the layout when `layout` is auto, and checks the
/// first `maxRecords` records against it using the column names in
/// `columns`.
DatasetProbe probeDataset(const std::string &path, Dataset::Layout layout,
                          const Columns &columns, int maxRecords);

/// Text in a dataset that the tokenizer cannot encode (a character outside
/// a character tokenizer's alphabet), or a record the reader refuses.
struct UnencodableText {
  int line = 0;          // 1-based line of the first such record
  std::string column;    // the column holding the text
  std::string why;       // the tokenizer's (or reader's) reason
  long long records = 0; // records with such text
};

/// Reads every record of `path` as the job will and encodes its text (the
/// strings of the layout's columns and message contents) with `tokenizer`.
std::optional<UnencodableText>
findUnencodableText(const std::string &path, Dataset::Layout layout,
                    const Columns &columns, const ::hone::Tokenizer &tokenizer);

/// The bytes the job's loader holds for `path` read with this layout and
/// these columns (its first `maxRecords` records; 0: all), counted by the
/// runtime's own code (runtime/data/HeldBytes.h): the memory plan's row for
/// the dataset. -1 when the file cannot be read that way (the probe or the
/// job reports it).
int64_t datasetHeldBytes(const std::string &path, Dataset::Layout layout,
                         const Columns &columns, int64_t maxRecords,
                         int64_t *longestRecord = nullptr);

/// The longest rows of a dataset in tokens, as the job tokenizes them
/// (runtime/data/Sequences.h, before any truncation). -1: some record
/// cannot be read or tokenized that way (the compiler then keeps the
/// model's max_seq_len, and the job reports the record).
struct RowLengths {
  int64_t sequence = -1; // an SFT row (tokenizeExample)
  int64_t pair = -1;     // a chosen or rejected row (tokenizePair)
  int64_t prompt = -1;   // a generation prompt (tokenizePrompt)
  long long rows = 0;
  /// How many rows have each length (index: tokens), SFT rows and pairs'
  /// rows (chosen and rejected both); empty where the length is -1. The
  /// memory plan bounds a packed batch's tokens by them (docs/compiler.md).
  std::vector<int64_t> sequenceCounts, pairCounts;
  /// The first record whose conversation the chat template cannot render
  /// (its tools, tool calls, template variables, a template's
  /// raise_exception, a final message it cannot continue), as the job
  /// would report it; "" when none.
  std::string chatError, chatHint;
};

/// Reads every record of `path` and measures its rows with `format` (the
/// job's tokenizer, chat template and EOS; its maxSeqLen is ignored).
RowLengths measureRowLengths(const std::string &path, Dataset::Layout layout,
                             const Columns &columns,
                             const job::TextFormat &format);

/// The columns a layout needs, with the file's names (for messages).
std::vector<std::string> requiredColumns(Dataset::Layout layout,
                                         const Columns &columns);

} // namespace hone::spec
