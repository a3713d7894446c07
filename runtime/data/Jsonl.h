// Streaming JSON Lines reader: one JSON value per line, read line by line
// (memory stays bounded by the longest line), every error prefixed with
// "FILE:LINE:COL: error:". Blank lines are skipped; CRLF is accepted.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hone {

struct JsonlRecord {
  json::Value value;
  size_t line = 0;       // 1-based line number in the file
  size_t byteOffset = 0; // offset of the line's first byte in the file
  std::string text;      // the line itself (for locating fields)
};

/// Where a reader stands: the byte offset of the next line and the number
/// of lines before it. Saved in run state to resume a data stream.
struct JsonlPosition {
  size_t byteOffset = 0;
  size_t line = 0;
};

class JsonlReader {
public:
  static constexpr size_t kDefaultMaxLineBytes = size_t(256) << 20;

  static Expected<JsonlReader> open(const std::string &path,
                                    size_t maxLineBytes = kDefaultMaxLineBytes);
  /// Reads from memory (tests, fuzzing); `name` appears in errors.
  static JsonlReader fromString(std::string name, std::string contents,
                                size_t maxLineBytes = kDefaultMaxLineBytes);

  JsonlReader(JsonlReader &&) noexcept;
  JsonlReader &operator=(JsonlReader &&) noexcept;
  ~JsonlReader();

  /// The records of a file as next() reads them: its lines holding
  /// something other than spaces, tabs and carriage returns (a file that
  /// next() rejects may count differently). One pass of buffered reads,
  /// nothing parsed: the job reserves its arrays with it.
  static Expected<size_t> countRecords(const std::string &path);

  /// Reads the next record into `out`: true on success, false at the end,
  /// an error for a line that is not JSON or is too long.
  Expected<bool> next(JsonlRecord &out);

  const std::string &name() const { return name_; }
  JsonlPosition position() const { return {offset_, line_}; }
  /// Continues reading at a position returned by position().
  Status seek(const JsonlPosition &pos);
  /// Lines consumed so far (including blank ones).
  size_t linesRead() const { return line_; }

  /// "FILE:LINE:COL: error: " for a value of a record (col from its offset).
  std::string where(const JsonlRecord &rec, const json::Value *v) const;

private:
  JsonlReader() = default;
  bool readLine(std::string &line, bool *tooLong);

  std::string name_;
  std::FILE *file_ = nullptr;
  std::string memory_;
  size_t memPos_ = 0;
  std::vector<char> buf_;
  size_t bufPos_ = 0, bufLen_ = 0;
  bool fromMemory_ = false;
  size_t line_ = 0;
  size_t offset_ = 0;
  size_t maxLine_ = kDefaultMaxLineBytes;
};

} // namespace hone
