#include "runtime/observe/TfEvents.h"

#include "runtime/formats/AtomicFile.h"
#include "runtime/observe/Crc32c.h"
#include "runtime/observe/event.pb.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hone::observe {

static void putU32(std::string &out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
static void putU64(std::string &out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
static uint64_t getLE(const char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |= uint64_t(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

std::string frameRecord(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 16);
  putU64(out, payload.size());
  putU32(out, maskCrc(crc32c(out.data(), 8)));
  out.append(payload);
  putU32(out, maskCrc(crc32c(payload)));
  return out;
}

Expected<std::vector<std::string>> splitRecords(std::string_view data,
                                                std::string_view sourceName,
                                                bool *truncatedTail) {
  std::vector<std::string> out;
  if (truncatedTail)
    *truncatedTail = false;
  size_t pos = 0;
  std::string name(sourceName);
  while (pos < data.size()) {
    if (data.size() - pos < 12) {
      if (truncatedTail)
        *truncatedTail = true;
      break;
    }
    uint64_t len = getLE(data.data() + pos, 8);
    uint32_t lenCrc = static_cast<uint32_t>(getLE(data.data() + pos + 8, 4));
    if (maskCrc(crc32c(data.data() + pos, 8)) != lenCrc)
      return Status::error(name + ":@" + std::to_string(pos) +
                           ": error: TFRecord length CRC mismatch");
    if (len > data.size() - pos - 12 || data.size() - pos - 12 - len < 4) {
      if (truncatedTail)
        *truncatedTail = true;
      break;
    }
    std::string_view payload = data.substr(pos + 12, len);
    uint32_t crc = static_cast<uint32_t>(getLE(data.data() + pos + 12 + len, 4));
    if (maskCrc(crc32c(payload)) != crc)
      return Status::error(name + ":@" + std::to_string(pos) +
                           ": error: TFRecord payload CRC mismatch");
    out.emplace_back(payload);
    pos += 16 + len;
  }
  return out;
}

double unixTimeNow() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

static Status writeAll(int fd, const std::string &path, std::string_view s) {
  const char *p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return Status::error(path + ": error: write failed: " +
                           std::strerror(errno));
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  return Status::ok();
}

Expected<EventFileWriter> EventFileWriter::open(const std::string &dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::error(dir + ": error: cannot create directory: " +
                         std::strerror(errno));
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == 0)
    std::strcpy(host, "localhost");
  for (char *c = host; *c; ++c)
    if (*c == '/')
      *c = '_';
  long secs = static_cast<long>(unixTimeNow());
  std::string base = dir + "/events.out.tfevents." + std::to_string(secs) +
                     "." + host;
  std::string path = base;
  int fd = -1;
  for (int n = 0; n < 1000; ++n) {
    path = n == 0 ? base : base + "." + std::to_string(n);
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST)
      break;
  }
  if (fd < 0)
    return Status::error(path + ": error: cannot create event file: " +
                         std::strerror(errno));
  EventFileWriter w(path, fd);
  tfevent::Event ev;
  ev.set_wall_time(unixTimeNow());
  ev.set_file_version("brain.Event:2");
  HONE_TRY(writeAll(fd, path, frameRecord(ev.SerializeAsString())));
  return w;
}

EventFileWriter::EventFileWriter(EventFileWriter &&o) noexcept
    : path_(std::move(o.path_)), fd_(o.fd_) {
  o.fd_ = -1;
}

EventFileWriter &EventFileWriter::operator=(EventFileWriter &&o) noexcept {
  if (this != &o) {
    if (fd_ >= 0)
      ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

EventFileWriter::~EventFileWriter() {
  if (fd_ >= 0)
    ::close(fd_);
}

Status EventFileWriter::addScalars(
    int64_t step, const std::vector<std::pair<std::string, double>> &values,
    double wallTime) {
  if (fd_ < 0)
    return Status::error(path_ + ": error: event file is closed");
  tfevent::Event ev;
  ev.set_wall_time(wallTime < 0 ? unixTimeNow() : wallTime);
  ev.set_step(step);
  tfevent::Summary *summary = ev.mutable_summary();
  for (const auto &[tag, v] : values) {
    tfevent::Summary::Value *val = summary->add_value();
    val->set_tag(tag);
    val->set_simple_value(static_cast<float>(v));
  }
  return writeAll(fd_, path_, frameRecord(ev.SerializeAsString()));
}

Status EventFileWriter::addSessionStart(int64_t step, double wallTime) {
  if (fd_ < 0)
    return Status::error(path_ + ": error: event file is closed");
  tfevent::Event ev;
  ev.set_wall_time(wallTime < 0 ? unixTimeNow() : wallTime);
  ev.set_step(step);
  ev.mutable_session_log()->set_status(tfevent::SessionLog::START);
  return writeAll(fd_, path_, frameRecord(ev.SerializeAsString()));
}

Expected<EventFileContents> readEventFile(const std::string &path) {
  Expected<std::string> data = readFile(path);
  if (!data)
    return data.status();
  EventFileContents out;
  auto records = splitRecords(*data, path, &out.truncatedTail);
  if (!records)
    return records.status();
  out.records = records->size();
  for (size_t i = 0; i < records->size(); ++i) {
    tfevent::Event ev;
    if (!ev.ParseFromString((*records)[i]))
      return Status::error(path + ": error: record " + std::to_string(i) +
                           " is not an Event protobuf");
    if (ev.what_case() == tfevent::Event::kFileVersion) {
      out.fileVersion = ev.file_version();
      continue;
    }
    if (ev.what_case() == tfevent::Event::kSessionLog &&
        ev.session_log().status() == tfevent::SessionLog::START)
      out.sessionStarts.push_back(ev.step());
    if (ev.what_case() != tfevent::Event::kSummary)
      continue;
    for (const auto &v : ev.summary().value()) {
      if (v.value_case() != tfevent::Summary::Value::kSimpleValue)
        continue;
      out.scalars.push_back({ev.step(), ev.wall_time(), v.tag(),
                             v.simple_value()});
    }
  }
  return out;
}

} // namespace hone::observe
