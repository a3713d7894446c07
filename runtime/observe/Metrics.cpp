#include "runtime/observe/Metrics.h"

#include "runtime/base/Json.h"
#include "runtime/formats/AtomicFile.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <sys/stat.h>
#include <unistd.h>

namespace hone::observe {

const double *MetricsRow::find(const std::string &name) const {
  for (const auto &kv : values)
    if (kv.first == name)
      return &kv.second;
  return nullptr;
}

std::string metricsLine(int64_t step, const MetricValues &values,
                        const MetricsTags &tags) {
  json::Value obj = json::Value::object();
  obj.set("step", json::Value(step));
  if (!tags.stage.empty())
    obj.set("stage_name", json::Value(tags.stage));
  if (!tags.models.empty()) {
    json::Value models = json::Value::array();
    for (const std::string &m : tags.models)
      models.push(json::Value(m));
    obj.set("models", std::move(models));
  }
  for (const auto &[name, v] : values) {
    if (name == "step" || name == "stage_name" || name == "models")
      continue;
    obj.set(name, std::isfinite(v) ? json::Value(v) : json::Value(nullptr));
  }
  return json::serialize(obj);
}

Expected<std::vector<MetricsRow>> readMetricsJsonl(const std::string &path,
                                                   std::string *warning) {
  Expected<std::string> text = readFile(path);
  if (!text)
    return text.status();
  std::vector<MetricsRow> rows;
  std::string_view all = *text;
  size_t pos = 0, line = 1;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    bool last = nl == std::string_view::npos;
    std::string_view s = all.substr(pos, last ? all.size() - pos : nl - pos);
    size_t lineStart = pos;
    pos = last ? all.size() : nl + 1;
    if (s.empty()) {
      ++line;
      continue;
    }
    json::ParseOptions opts;
    opts.sourceName = path;
    opts.firstLine = line;
    opts.baseOffset = lineStart;
    Expected<json::Value> v = json::parse(s, opts);
    if (!v || !v->isObject() || !v->find("step") || !v->find("step")->isInt()) {
      if (last) { // torn by a kill mid-write
        if (warning)
          *warning = path + ":" + std::to_string(line) +
                     ": warning: incomplete last line skipped";
        break;
      }
      if (!v)
        return v.status();
      return Status::error(path + ":" + std::to_string(line) +
                           ":1: error: expected an object with an integer "
                           "\"step\"");
    }
    MetricsRow row;
    for (const auto &[k, val] : v->members()) {
      if (k == "step") {
        row.step = val.asInt();
      } else if (k == "stage_name" && val.isString()) {
        row.tags.stage = val.asString();
      } else if (k == "models" && val.isArray()) {
        for (const json::Value &m : val.items())
          if (m.isString())
            row.tags.models.push_back(m.asString());
      } else if (val.isNumber()) {
        row.values.emplace_back(k, val.asDouble());
      } else if (val.isNull()) {
        row.values.emplace_back(k, std::numeric_limits<double>::quiet_NaN());
      }
    }
    rows.push_back(std::move(row));
    ++line;
  }
  return rows;
}

Expected<MetricsLogger> MetricsLogger::open(const std::string &dir,
                                            MetricsOptions options) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::error(dir + ": error: cannot create directory: " +
                         std::strerror(errno));
  MetricsLogger m;
  if (options.jsonl) {
    m.jsonlPath_ = dir + "/metrics.jsonl";
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
    if (options.resumeStep) {
      struct stat st;
      if (::stat(m.jsonlPath_.c_str(), &st) == 0) {
        Expected<std::string> text = readFile(m.jsonlPath_);
        if (!text)
          return text.status();
        // Keep complete lines whose step <= resumeStep, byte for byte,
        // within the file's length at the checkpoint where that is known.
        std::string kept;
        std::string_view all = *text;
        if (options.resumeBytes && *options.resumeBytes >= 0 &&
            size_t(*options.resumeBytes) <= all.size() &&
            (*options.resumeBytes == 0 ||
             all[size_t(*options.resumeBytes) - 1] == '\n'))
          all = all.substr(0, size_t(*options.resumeBytes));
        size_t pos = 0;
        while (pos < all.size()) {
          size_t nl = all.find('\n', pos);
          if (nl == std::string_view::npos)
            break; // torn last line
          std::string_view s = all.substr(pos, nl - pos);
          pos = nl + 1;
          Expected<json::Value> v = json::parse(s);
          if (!v || !v->isObject())
            continue;
          const json::Value *step = v->find("step");
          if (step && step->isInt() && step->asInt() <= *options.resumeStep) {
            kept.append(s);
            kept.push_back('\n');
          }
        }
        HONE_TRY(writeFileAtomic(m.jsonlPath_, kept));
      }
    } else {
      flags |= O_TRUNC;
    }
    m.fd_ = ::open(m.jsonlPath_.c_str(), flags, 0644);
    if (m.fd_ < 0)
      return Status::error(m.jsonlPath_ + ": error: cannot open: " +
                           std::strerror(errno));
  }
  if (options.tensorboard) {
    Expected<EventFileWriter> w = EventFileWriter::open(dir);
    if (!w)
      return w.status();
    m.events_.emplace(w.take());
    // Steps after resumeStep are written again by this process: TensorBoard
    // drops them from the earlier files (metrics.jsonl was cut above).
    if (options.resumeStep)
      HONE_TRY(m.events_->addSessionStart(*options.resumeStep + 1));
  }
  return m;
}

int64_t MetricsLogger::jsonlBytes() const {
  struct stat st;
  if (fd_ < 0 || ::fstat(fd_, &st) != 0)
    return -1;
  return int64_t(st.st_size);
}

MetricsLogger::MetricsLogger(MetricsLogger &&o) noexcept
    : jsonlPath_(std::move(o.jsonlPath_)), fd_(o.fd_),
      events_(std::move(o.events_)) {
  o.fd_ = -1;
  o.events_.reset();
}

MetricsLogger::~MetricsLogger() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::string MetricsLogger::eventFilePath() const {
  return events_ ? events_->path() : std::string();
}

Status MetricsLogger::log(int64_t step, const MetricValues &values,
                          const MetricsTags &tags) {
  if (fd_ >= 0) {
    std::string line = metricsLine(step, values, tags);
    line.push_back('\n');
    // One write(2) with O_APPEND: a kill leaves whole lines or a torn last.
    const char *p = line.data();
    size_t left = line.size();
    while (left > 0) {
      ssize_t w = ::write(fd_, p, left);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        return Status::error(jsonlPath_ + ": error: write failed: " +
                             std::strerror(errno));
      }
      p += w;
      left -= static_cast<size_t>(w);
    }
  }
  if (events_)
    HONE_TRY(events_->addScalars(step, values));
  return Status::ok();
}

} // namespace hone::observe
