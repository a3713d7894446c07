// Parsing spec text with a location for every field, command-line overrides,
// and printing the resolved spec.
#include "frontend/Spec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace hone::spec {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::TextFormat;

//===----------------------------------------------------------------------===//
// Locations
//===----------------------------------------------------------------------===//

SourceLoc SpecLocations::of(const Message &msg) const {
  const Message *m = &msg;
  while (m) {
    auto it = messages_.find(m);
    if (it == messages_.end())
      break;
    if (it->second.second.isKnown())
      return it->second.second;
    m = it->second.first;
  }
  return SourceLoc{file_, 0, 0};
}

SourceLoc SpecLocations::of(const Message &msg, const std::string &field,
                            int index) const {
  if (const FieldDescriptor *fd = msg.GetDescriptor()->FindFieldByName(field)) {
    auto it = fields_.find(Key{&msg, fd->number(), index});
    if (it != fields_.end())
      return it->second;
    // A repeated field written as a list records one location per value;
    // an element without one (or the field as a whole) falls back to the
    // first value.
    if (index >= 0 || fd->is_repeated()) {
      it = fields_.find(Key{&msg, fd->number(), 0});
      if (it != fields_.end())
        return it->second;
    }
  }
  return of(msg);
}

bool SpecLocations::has(const Message &msg, const std::string &field,
                        int index) const {
  const FieldDescriptor *fd = msg.GetDescriptor()->FindFieldByName(field);
  return fd && fields_.count(Key{&msg, fd->number(), index});
}

void SpecLocations::setField(const Message *msg, int fieldNumber, int index,
                             SourceLoc loc) {
  fields_[Key{msg, fieldNumber, index}] = std::move(loc);
}

void SpecLocations::setMessage(const Message *msg, const Message *parent,
                               SourceLoc loc) {
  messages_[msg] = {parent, std::move(loc)};
}

std::string LoadedSpec::resolvePath(const std::string &p) const {
  if (p.empty() || p[0] == '/' || baseDir.empty())
    return p;
  return baseDir + "/" + p;
}

namespace {

/// Records the ParseInfoTree's locations for `msg` and everything below it.
void recordLocations(const Message &msg, const Message *parent,
                     const TextFormat::ParseInfoTree *tree,
                     const SourceLoc &msgLoc, SpecLocations &locs) {
  locs.setMessage(&msg, parent, msgLoc);
  const Descriptor *desc = msg.GetDescriptor();
  const Reflection *refl = msg.GetReflection();
  auto locAt = [&](const FieldDescriptor *fd, int index) {
    if (!tree)
      return msgLoc;
    auto pl = tree->GetLocation(fd, index);
    if (pl.line < 0)
      return msgLoc;
    return SourceLoc{locs.file(), pl.line + 1, pl.column + 1};
  };
  for (int i = 0; i < desc->field_count(); ++i) {
    const FieldDescriptor *fd = desc->field(i);
    if (fd->is_repeated()) {
      int n = refl->FieldSize(msg, fd);
      for (int j = 0; j < n; ++j) {
        SourceLoc loc = locAt(fd, j);
        locs.setField(&msg, fd->number(), j, loc);
        if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
          recordLocations(refl->GetRepeatedMessage(msg, fd, j), &msg,
                          tree ? tree->GetTreeForNested(fd, j) : nullptr, loc,
                          locs);
      }
    } else if (refl->HasField(msg, fd)) {
      SourceLoc loc = locAt(fd, -1);
      locs.setField(&msg, fd->number(), -1, loc);
      if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
        recordLocations(refl->GetMessage(msg, fd), &msg,
                        tree ? tree->GetTreeForNested(fd, -1) : nullptr, loc,
                        locs);
    }
  }
}

struct RawError {
  int line, col; // 0-based, as the tokenizer reports them
  std::string message;
  bool warning;
};

class CollectErrors : public google::protobuf::io::ErrorCollector {
public:
  std::vector<RawError> errors;
  void AddError(int line, google::protobuf::io::ColumnNumber col,
                const std::string &message) override {
    errors.push_back({line, col, message, false});
  }
  void AddWarning(int line, google::protobuf::io::ColumnNumber col,
                  const std::string &message) override {
    errors.push_back({line, col, message, true});
  }
};

/// The text between the first two double quotes after `after` in `s`.
std::string quotedAfter(const std::string &s, const std::string &after,
                        size_t *endPos = nullptr) {
  size_t p = s.find(after);
  if (p == std::string::npos)
    return {};
  size_t b = s.find('"', p + after.size());
  if (b == std::string::npos)
    return {};
  size_t e = s.find('"', b + 1);
  if (e == std::string::npos)
    return {};
  if (endPos)
    *endPos = e + 1;
  return s.substr(b + 1, e - b - 1);
}

std::vector<std::string> splitLines(const std::string &text) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      lines.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  lines.push_back(cur);
  return lines;
}

/// The protobuf parser reports a bad name at the token after it; move the
/// location back to the name itself when it is on the same line.
int columnOfWordBefore(const std::vector<std::string> &lines, int line,
                       int col, const std::string &word) {
  if (line < 0 || line >= static_cast<int>(lines.size()) || word.empty())
    return col;
  const std::string &l = lines[line];
  size_t limit = std::min<size_t>(col + word.size(), l.size());
  size_t p = l.rfind(word, limit);
  if (p == std::string::npos || p > static_cast<size_t>(col))
    return col;
  return static_cast<int>(p);
}

std::vector<std::string> fieldNames(const Descriptor *d) {
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i)
    names.push_back(d->field(i)->name());
  return names;
}

std::string joinNames(const std::vector<std::string> &names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i ? ", " : "") + names[i];
  return out;
}

/// Every enum value allowed for fields called `fieldName` anywhere in the
/// schema (the parser's message names the field, not its message).
std::vector<std::string> enumValuesOfField(const std::string &fieldName) {
  std::vector<std::string> values;
  const google::protobuf::FileDescriptor *file =
      Pipeline::descriptor()->file();
  std::vector<const Descriptor *> work;
  for (int i = 0; i < file->message_type_count(); ++i)
    work.push_back(file->message_type(i));
  while (!work.empty()) {
    const Descriptor *d = work.back();
    work.pop_back();
    for (int i = 0; i < d->nested_type_count(); ++i)
      work.push_back(d->nested_type(i));
    const FieldDescriptor *fd = d->FindFieldByName(fieldName);
    if (!fd || fd->cpp_type() != FieldDescriptor::CPPTYPE_ENUM)
      continue;
    const EnumDescriptor *ed = fd->enum_type();
    for (int i = 0; i < ed->value_count(); ++i)
      if (std::find(values.begin(), values.end(), ed->value(i)->name()) ==
          values.end())
        values.push_back(ed->value(i)->name());
  }
  return values;
}

/// Turns one protobuf parser message into a diagnostic with a hint.
void reportParseError(const RawError &e, const std::vector<std::string> &lines,
                      const std::string &file, DiagnosticList &diags) {
  const std::string &m = e.message;
  SourceLoc loc{file, e.line + 1, e.col + 1};
  if (m.rfind("Message type \"", 0) == 0 &&
      m.find("has no field named") != std::string::npos) {
    size_t end = 0;
    std::string type = quotedAfter(m, "Message type", &end);
    std::string name = quotedAfter(m.substr(end), "has no field named");
    loc.col = columnOfWordBefore(lines, e.line, e.col, name) + 1;
    const Descriptor *d =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
            type);
    std::string shortType = d ? d->name() : type;
    auto b = diags.error(loc, "unknown field '" + name + "' in " + shortType);
    if (d) {
      std::vector<std::string> names = fieldNames(d);
      std::string best = closestMatch(name, names);
      if (!best.empty())
        b.note("did you mean '" + best + "'?");
      else
        b.note("hint: " + shortType + " has fields: " + joinNames(names));
    }
    return;
  }
  if (m.rfind("Unknown enumeration value of \"", 0) == 0) {
    size_t end = 0;
    std::string value = quotedAfter(m, "Unknown enumeration value of", &end);
    std::string field = quotedAfter(m.substr(end), "for field");
    loc.col = columnOfWordBefore(lines, e.line, e.col, value) + 1;
    auto b = diags.error(loc, "unknown value '" + value + "' for field '" +
                                  field + "'");
    std::vector<std::string> values = enumValuesOfField(field);
    std::string best = closestMatch(value, values);
    if (!best.empty())
      b.note("did you mean '" + best + "'?");
    else
      b.note("hint: expected one of: " + joinNames(values));
    return;
  }
  std::string msg = m;
  if (!msg.empty() && msg.back() == '.')
    msg.pop_back();
  if (!msg.empty())
    msg[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(msg[0])));
  std::string hint;
  if (msg.size() >= 5 && msg.compare(msg.size() - 5, 5, "got: ") == 0) {
    msg += "end of file";
    hint = "a closing '}' is probably missing";
  } else if (m.find("specified multiple times") != std::string::npos)
    hint = "remove one of them; only repeated fields take several values";
  else if (m.find("another member of oneof") != std::string::npos)
    hint = "these fields are alternatives: keep one";
  else if (m.find("Couldn't parse") != std::string::npos ||
           m.find("Invalid") != std::string::npos ||
           m.find("Expected integer") != std::string::npos ||
           m.find("Expected double") != std::string::npos ||
           m.find("Expected string") != std::string::npos)
    hint = "the value does not have the field's type (see docs/spec.md)";
  else
    hint = "the spec is protobuf text format: 'field: value' or "
           "'field { ... }', '#' starts a comment";
  diags.error(loc, msg).note("hint: " + hint);
}

} // namespace

std::unique_ptr<LoadedSpec> parseSpec(const std::string &text,
                                      const std::string &path,
                                      DiagnosticList &diags) {
  auto spec = std::make_unique<LoadedSpec>();
  spec->path = path;
  size_t slash = path.rfind('/');
  spec->baseDir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (spec->baseDir.empty())
    spec->baseDir = "/";
  spec->locs.setFile(path);

  TextFormat::Parser parser;
  CollectErrors collector;
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(&tree);
  // Unknown fields are skipped with a warning so that all of them are
  // reported in one run; they are errors all the same.
  parser.AllowUnknownField(true);
  parser.SetRecursionLimit(64);
  bool ok = parser.ParseFromString(text, &spec->pipeline);

  std::vector<std::string> lines = splitLines(text);
  size_t before = diags.errorCount();
  for (const RawError &e : collector.errors)
    reportParseError(e, lines, path, diags);
  if (!ok && diags.errorCount() == before)
    diags.error(SourceLoc{path, 1, 1}, "cannot parse the spec")
        .note("hint: the spec is protobuf text format");
  if (diags.errorCount() != before)
    return nullptr;
  recordLocations(spec->pipeline, nullptr, &tree, SourceLoc{path, 1, 1},
                  spec->locs);
  return spec;
}

//===----------------------------------------------------------------------===//
// Overrides
//===----------------------------------------------------------------------===//

namespace {

std::string quoteIfString(const FieldDescriptor *fd, const std::string &v) {
  if (fd->cpp_type() != FieldDescriptor::CPPTYPE_STRING || v.empty() ||
      v[0] == '"' || v[0] == '\'')
    return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\')
      q.push_back('\\');
    q.push_back(c);
  }
  return q + "\"";
}

/// Sets `fd` (element `index`, or the whole field) of `parent` from text.
bool setFromText(Message &parent, const FieldDescriptor *fd, int index,
                 const std::string &value, std::string &error) {
  const Reflection *refl = parent.GetReflection();
  bool isMsg = fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
  std::string text;
  if (fd->is_repeated() && index < 0 && !value.empty() && value[0] != '[') {
    // A whole repeated scalar field: comma-separated values.
    std::string items;
    std::stringstream ss(value);
    std::string item;
    while (std::getline(ss, item, ','))
      items += (items.empty() ? "" : ", ") + quoteIfString(fd, item);
    text = fd->name() + ": [" + items + "]";
  } else {
    text = fd->name() + (isMsg ? " " : ": ") + quoteIfString(fd, value);
  }
  std::unique_ptr<Message> tmp(parent.New());
  TextFormat::Parser parser;
  CollectErrors collector;
  parser.RecordErrorsTo(&collector);
  parser.SetRecursionLimit(64);
  if (!parser.ParseFromString(text, tmp.get())) {
    error = collector.errors.empty() ? "cannot parse the value"
                                     : collector.errors.front().message;
    if (!error.empty() && error.back() == '.')
      error.pop_back();
    return false;
  }
  const Reflection *trefl = tmp->GetReflection();
  if (fd->is_repeated() && index >= 0) {
    if (trefl->FieldSize(*tmp, fd) != 1) {
      error = "expected one value";
      return false;
    }
    switch (fd->cpp_type()) {
#define HONE_COPY(CT, Name)                                                    \
  case FieldDescriptor::CT:                                                    \
    refl->SetRepeated##Name(&parent, fd, index,                                \
                            trefl->GetRepeated##Name(*tmp, fd, 0));            \
    break;
      HONE_COPY(CPPTYPE_INT32, Int32)
      HONE_COPY(CPPTYPE_INT64, Int64)
      HONE_COPY(CPPTYPE_UINT32, UInt32)
      HONE_COPY(CPPTYPE_UINT64, UInt64)
      HONE_COPY(CPPTYPE_DOUBLE, Double)
      HONE_COPY(CPPTYPE_FLOAT, Float)
      HONE_COPY(CPPTYPE_BOOL, Bool)
      HONE_COPY(CPPTYPE_ENUM, Enum)
      HONE_COPY(CPPTYPE_STRING, String)
#undef HONE_COPY
    case FieldDescriptor::CPPTYPE_MESSAGE:
      refl->MutableRepeatedMessage(&parent, fd, index)
          ->CopyFrom(trefl->GetRepeatedMessage(*tmp, fd, 0));
      break;
    }
    return true;
  }
  refl->ClearField(&parent, fd);
  // Copy just this field: merge a message holding only it.
  std::unique_ptr<Message> only(parent.New());
  only->CopyFrom(*tmp);
  parent.MergeFrom(*only);
  return true;
}

void markAll(const Message &msg, const Message *parent, const SourceLoc &loc,
             SpecLocations &locs) {
  locs.setMessage(&msg, parent, loc);
  const Reflection *refl = msg.GetReflection();
  std::vector<const FieldDescriptor *> fields;
  refl->ListFields(msg, &fields);
  for (const FieldDescriptor *fd : fields) {
    if (fd->is_repeated()) {
      for (int j = 0; j < refl->FieldSize(msg, fd); ++j) {
        locs.setField(&msg, fd->number(), j, loc);
        if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
          markAll(refl->GetRepeatedMessage(msg, fd, j), &msg, loc, locs);
      }
    } else {
      locs.setField(&msg, fd->number(), -1, loc);
      if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
        markAll(refl->GetMessage(msg, fd), &msg, loc, locs);
    }
  }
}

} // namespace

bool applyOverride(LoadedSpec &spec, const std::string &arg,
                   DiagnosticList &diags) {
  // The override names its diagnostics' "file": a long one is cut (a
  // 100 kB value made every message about it 100 kB long).
  std::string file = "override '" + arg + "'";
  if (arg.size() > 200) {
    size_t cut = 200;
    while (cut > 0 && (static_cast<unsigned char>(arg[cut]) & 0xC0) == 0x80)
      --cut;
    file = "override '" + arg.substr(0, cut) + "...' (" +
           std::to_string(arg.size()) + " bytes)";
  }
  auto at = [&](size_t col) { return SourceLoc{file, 1, int(col) + 1}; };
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) {
    diags.error(at(0), "an override is 'key.path=value'")
        .note("hint: for example: stages[0].rl.steps=50");
    return false;
  }
  std::string path = arg.substr(0, eq), value = arg.substr(eq + 1);

  Message *msg = &spec.pipeline;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    std::string comp =
        path.substr(pos, dot == std::string::npos ? std::string::npos
                                                  : dot - pos);
    bool last = dot == std::string::npos;
    int index = -1;
    std::string name = comp;
    size_t lb = comp.find('[');
    if (lb != std::string::npos) {
      size_t rb = comp.find(']', lb);
      std::string num = comp.substr(lb + 1, rb == std::string::npos
                                                ? std::string::npos
                                                : rb - lb - 1);
      bool digits = !num.empty() && num.size() < 9 &&
                    num.find_first_not_of("0123456789") == std::string::npos;
      if (rb == std::string::npos || rb + 1 != comp.size() || !digits) {
        diags.error(at(pos + lb), "bad index in '" + comp + "'")
            .note("hint: write a repeated field's element as name[N], N from 0");
        return false;
      }
      index = std::stoi(num);
      name = comp.substr(0, lb);
    }
    const Descriptor *d = msg->GetDescriptor();
    const FieldDescriptor *fd = d->FindFieldByName(name);
    if (!fd) {
      auto b = diags.error(at(pos), "unknown field '" + name + "' in " +
                                        d->name());
      std::string best = closestMatch(name, fieldNames(d));
      if (!best.empty())
        b.note("did you mean '" + best + "'?");
      else
        b.note("hint: " + d->name() + " has fields: " + joinNames(fieldNames(d)));
      return false;
    }
    const Reflection *refl = msg->GetReflection();
    if (index >= 0 && !fd->is_repeated()) {
      diags.error(at(pos + lb), "'" + name + "' is not a repeated field")
          .note("hint: drop the [" + std::to_string(index) + "]");
      return false;
    }
    if (index >= 0 && index >= refl->FieldSize(*msg, fd)) {
      diags.error(at(pos + lb), "index " + std::to_string(index) +
                                    " is out of range: '" + name + "' has " +
                                    std::to_string(refl->FieldSize(*msg, fd)) +
                                    " element(s)")
          .note("hint: overrides change existing elements; add new ones in the spec");
      return false;
    }
    if (last) {
      std::string error;
      if (!setFromText(*msg, fd, index, value, error)) {
        diags.error(at(eq + 1), "bad value for '" + path + "': " + error)
            .note("hint: the value is written as in the spec's text format");
        return false;
      }
      SourceLoc loc = at(eq + 1);
      if (fd->is_repeated()) {
        int n = refl->FieldSize(*msg, fd);
        for (int j = index < 0 ? 0 : index; j < (index < 0 ? n : index + 1);
             ++j) {
          spec.locs.setField(msg, fd->number(), j, loc);
          if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
            markAll(refl->GetRepeatedMessage(*msg, fd, j), msg, loc,
                    spec.locs);
        }
      } else {
        spec.locs.setField(msg, fd->number(), -1, loc);
        if (fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
          markAll(refl->GetMessage(*msg, fd), msg, loc, spec.locs);
      }
      return true;
    }
    if (fd->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      diags.error(at(dot), "'" + name + "' is not a message; nothing below it")
          .note("hint: end the path at '" + name + "'");
      return false;
    }
    if (fd->is_repeated() && index < 0) {
      diags.error(at(pos), "'" + name + "' is repeated: name an element")
          .note("hint: for example: " + name + "[0]");
      return false;
    }
    Message *child = fd->is_repeated()
                         ? refl->MutableRepeatedMessage(msg, fd, index)
                         : refl->MutableMessage(msg, fd);
    if (!fd->is_repeated() && !spec.locs.has(*msg, name))
      spec.locs.setMessage(child, msg, at(pos));
    msg = child;
    pos = dot + 1;
  }
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

std::string printSpec(const Pipeline &pipeline) {
  TextFormat::Printer printer;
  printer.SetUseUtf8StringEscaping(true);
  std::string out;
  printer.PrintToString(pipeline, &out);
  return out;
}

std::unique_ptr<LoadedSpec>
loadSpec(const std::string &path, const std::vector<std::string> &overrides,
         DiagnosticList &diags, const LoadOptions &options) {
  struct stat st;
  // (A FIFO stays allowed: honec <(generate-spec) reads one.)
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    diags.error(SourceLoc{path, 0, 0}, "the spec path is a directory")
        .note("hint: give the spec's .textproto file");
    return nullptr;
  }
  // A device may never end (/dev/zero was read until memory ran out).
  if (::stat(path.c_str(), &st) == 0 &&
      (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
    diags.error(SourceLoc{path, 0, 0}, "the spec path is a device")
        .note("hint: give the spec's .textproto file");
    return nullptr;
  }
  std::stringstream ss;
  if (options.text) {
    ss << *options.text;
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      diags.error(SourceLoc{path, 0, 0}, "cannot read the spec file")
          .note("hint: check the path");
      return nullptr;
    }
    ss << in.rdbuf();
  }
  auto spec = parseSpec(ss.str(), path, diags);
  if (!spec)
    return nullptr;
  bool ok = true;
  for (const std::string &o : overrides)
    ok &= applyOverride(*spec, o, diags);
  if (!ok)
    return nullptr;
  if (!checkSpec(*spec, diags, options))
    return nullptr;
  return spec;
}

} // namespace hone::spec
