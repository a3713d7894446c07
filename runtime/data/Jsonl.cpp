#include "runtime/data/Jsonl.h"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>

namespace hone {

Expected<size_t> JsonlReader::countRecords(const std::string &path) {
  auto r = open(path); // the same refusals (a directory, a FIFO, a device)
  if (!r)
    return r.status();
  std::vector<char> buf(size_t(1) << 20);
  size_t records = 0;
  bool content = false; // the current line holds a record's character
  for (;;) {
    size_t got = std::fread(buf.data(), 1, buf.size(), r->file_);
    for (size_t i = 0; i < got; ++i) {
      char c = buf[i];
      if (c == '\n') {
        records += content;
        content = false;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        content = true;
      }
    }
    if (got < buf.size()) {
      if (std::ferror(r->file_))
        return Status::error(path + ": error: read failed");
      break;
    }
  }
  return records + content;
}

Expected<JsonlReader> JsonlReader::open(const std::string &path,
                                        size_t maxLineBytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Status::error(path + ": error: is a directory, expected a .jsonl "
                                "file");
  // A FIFO or device may never end (/dev/zero used to be read forever),
  // and the job reads a dataset twice.
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return Status::error(path + ": error: is a " +
                             (S_ISFIFO(st.st_mode) ? "FIFO" : "device") +
                             ", expected a .jsonl file",
                         "copy the data to a file");
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    return Status::error(path +
                         ": error: cannot open: " + std::strerror(errno));
  JsonlReader r;
  r.name_ = path;
  r.file_ = f;
  r.maxLine_ = maxLineBytes;
  return r;
}

JsonlReader JsonlReader::fromString(std::string name, std::string contents,
                                    size_t maxLineBytes) {
  JsonlReader r;
  r.name_ = std::move(name);
  r.memory_ = std::move(contents);
  r.fromMemory_ = true;
  r.maxLine_ = maxLineBytes;
  return r;
}

JsonlReader::JsonlReader(JsonlReader &&o) noexcept { *this = std::move(o); }

JsonlReader &JsonlReader::operator=(JsonlReader &&o) noexcept {
  if (this != &o) {
    if (file_)
      std::fclose(file_);
    name_ = std::move(o.name_);
    file_ = o.file_;
    o.file_ = nullptr;
    memory_ = std::move(o.memory_);
    memPos_ = o.memPos_;
    buf_ = std::move(o.buf_);
    bufPos_ = o.bufPos_;
    bufLen_ = o.bufLen_;
    fromMemory_ = o.fromMemory_;
    line_ = o.line_;
    offset_ = o.offset_;
    maxLine_ = o.maxLine_;
  }
  return *this;
}

JsonlReader::~JsonlReader() {
  if (file_)
    std::fclose(file_);
}

bool JsonlReader::readLine(std::string &line, bool *tooLong) {
  line.clear();
  *tooLong = false;
  if (fromMemory_) {
    if (memPos_ >= memory_.size())
      return false;
    size_t nl = memory_.find('\n', memPos_);
    size_t end = nl == std::string::npos ? memory_.size() : nl;
    if (end - memPos_ > maxLine_)
      *tooLong = true;
    else
      line.assign(memory_, memPos_, end - memPos_);
    memPos_ = nl == std::string::npos ? memory_.size() : nl + 1;
    return true;
  }
  if (!file_)
    return false;
  bool any = false;
  while (true) {
    if (bufPos_ >= bufLen_) {
      if (buf_.empty())
        buf_.resize(size_t(1) << 20);
      bufLen_ = std::fread(buf_.data(), 1, buf_.size(), file_);
      bufPos_ = 0;
      if (bufLen_ == 0)
        return any;
    }
    any = true;
    const char *start = buf_.data() + bufPos_;
    size_t avail = bufLen_ - bufPos_;
    const void *nl = std::memchr(start, '\n', avail);
    size_t take =
        nl ? static_cast<size_t>(static_cast<const char *>(nl) - start) : avail;
    if (!*tooLong) {
      if (line.size() + take > maxLine_) {
        *tooLong = true;
        line.clear();
      } else {
        line.append(start, take);
      }
    }
    bufPos_ += take + (nl ? 1 : 0);
    if (nl)
      return true;
  }
}

Expected<bool> JsonlReader::next(JsonlRecord &out) {
  std::string line;
  while (true) {
    size_t lineStart = offset_;
    bool tooLong = false;
    if (!readLine(line, &tooLong)) {
      if (file_ && std::ferror(file_))
        return Status::error(name_ + ":" + std::to_string(line_ + 1) +
                             ": error: read failed");
      return false;
    }
    ++line_;
    if (tooLong)
      return Status::error(name_ + ":" + std::to_string(line_) +
                           ":1: error: line is longer than " +
                           std::to_string(maxLine_) + " bytes");
    offset_ += line.size() + 1; // (approximate after an over-long line)
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    bool blank = true;
    for (char c : line)
      if (c != ' ' && c != '\t') {
        blank = false;
        break;
      }
    if (blank)
      continue;
    json::ParseOptions po;
    po.sourceName = name_;
    po.firstLine = line_;
    po.baseOffset = lineStart; // value offsets and errors are file offsets
    po.maxDepth = 128;
    Expected<json::Value> v = json::parse(line, po);
    if (!v) {
      return Status::error(v.status().message(),
                           "each line of a .jsonl file must be one JSON value");
    }
    out.value = v.take();
    out.line = line_;
    out.byteOffset = lineStart;
    out.text = std::move(line);
    return true;
  }
}

Status JsonlReader::seek(const JsonlPosition &pos) {
  if (fromMemory_) {
    if (pos.byteOffset > memory_.size())
      return Status::error(name_ + ": error: cannot seek to byte " +
                           std::to_string(pos.byteOffset) + " (file has " +
                           std::to_string(memory_.size()) + ")");
    memPos_ = pos.byteOffset;
  } else {
    if (!file_ ||
        std::fseek(file_, static_cast<long>(pos.byteOffset), SEEK_SET) != 0)
      return Status::error(name_ + ": error: cannot seek to byte " +
                           std::to_string(pos.byteOffset));
    bufPos_ = bufLen_ = 0;
  }
  offset_ = pos.byteOffset;
  line_ = pos.line;
  return Status::ok();
}

std::string JsonlReader::where(const JsonlRecord &rec,
                               const json::Value *v) const {
  size_t col = 1;
  if (v && v->offset() >= rec.byteOffset)
    col = json::locate(rec.text, v->offset() - rec.byteOffset).column;
  return name_ + ":" + std::to_string(rec.line) + ":" + std::to_string(col) +
         ": error: ";
}

} // namespace hone
