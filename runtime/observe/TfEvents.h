// TensorBoard event files: TFRecord framing (uint64 length, masked CRC32C
// of the length, payload, masked CRC32C of the payload, all little-endian)
// around serialized tensorflow.Event protobufs (runtime/observe/event.proto).
// The first record is file_version "brain.Event:2"; each later record holds
// one step's scalars as Summary values (tag, simple_value).
#pragma once

#include "runtime/base/Status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone::observe {

/// Frames one TFRecord: length, masked crc(length), payload, masked
/// crc(payload).
std::string frameRecord(std::string_view payload);

/// Splits a TFRecord stream into payloads, verifying both CRCs of every
/// record. A record cut short at the end (a writer killed mid-record) stops
/// the scan and sets *truncatedTail; a CRC mismatch is an error naming the
/// byte offset.
Expected<std::vector<std::string>> splitRecords(std::string_view data,
                                                std::string_view sourceName,
                                                bool *truncatedTail = nullptr);

class EventFileWriter {
public:
  /// Creates `dir` (one level) if needed and a new file
  /// events.out.tfevents.<unix seconds>.<hostname> in it (with a numeric
  /// suffix if that name exists), and writes the file_version record.
  static Expected<EventFileWriter> open(const std::string &dir);
  EventFileWriter(EventFileWriter &&other) noexcept;
  EventFileWriter &operator=(EventFileWriter &&other) noexcept;
  ~EventFileWriter();

  /// Writes one Event with one Summary value per metric (one write(2) per
  /// record, so a kill loses at most this record). wallTime < 0 = now.
  Status addScalars(int64_t step,
                    const std::vector<std::pair<std::string, double>> &values,
                    double wallTime = -1);
  /// Writes SessionLog START at `step`: TensorBoard then discards every
  /// event at `step` or later read from earlier files of the directory (as
  /// PyTorch's SummaryWriter(purge_step=step) does).
  Status addSessionStart(int64_t step, double wallTime = -1);
  const std::string &path() const { return path_; }

private:
  EventFileWriter(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

struct ScalarEvent {
  int64_t step = 0;
  double wallTime = 0;
  std::string tag;
  float value = 0;
};

struct EventFileContents {
  std::string fileVersion;
  /// Steps of the SessionLog START records, in file order.
  std::vector<int64_t> sessionStarts;
  std::vector<ScalarEvent> scalars;
  size_t records = 0;
  bool truncatedTail = false;
};

/// Reads an event file written by EventFileWriter (or TensorFlow): every
/// CRC is checked, payloads are parsed as Event protobufs.
Expected<EventFileContents> readEventFile(const std::string &path);

/// Seconds since the Unix epoch, as a double (TensorBoard's wall_time).
double unixTimeNow();

} // namespace hone::observe
