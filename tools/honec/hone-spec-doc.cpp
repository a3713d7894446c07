//===- hone-spec-doc.cpp - docs/spec.md from frontend/pipeline.proto ------===//
//
// hone-spec-doc PIPELINE.DESC [-o FILE]
//
// PIPELINE.DESC is `protoc --include_source_info --descriptor_set_out` of
// frontend/pipeline.proto (the build makes it). Generates the spec reference
// from the schema and its comments: one table
// per message (field, type, default, description) and one per enum. A field
// whose default is neither declared (`[default = ...]`) nor described (a
// "Default:", "Required." or "Optional." sentence in its comment) is an
// error, so every field is documented with its default.
//
//===----------------------------------------------------------------------===//

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

using namespace google::protobuf;

namespace {

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \n\t");
  size_t e = s.find_last_not_of(" \n\t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

/// A comment as one paragraph (markdown table cells cannot hold newlines).
std::string oneLine(const std::string &comment) {
  std::string out;
  std::istringstream in(comment);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty())
      continue;
    out += (out.empty() ? "" : " ") + line;
  }
  std::string esc;
  for (char c : out)
    esc += c == '|' ? std::string("\\|") : std::string(1, c);
  return esc;
}

template <typename D> std::string comment(const D *d) {
  SourceLocation loc;
  return d->GetSourceLocation(&loc) ? loc.leading_comments : "";
}

template <typename D> std::string trailing(const D *d) {
  SourceLocation loc;
  return d->GetSourceLocation(&loc) ? loc.trailing_comments : "";
}

std::string typeName(const FieldDescriptor *f) {
  std::string t;
  if (f->is_map())
    return "map<string, string>";
  switch (f->type()) {
  case FieldDescriptor::TYPE_MESSAGE:
    t = "[" + f->message_type()->name() + "](#" + f->message_type()->name() +
        ")";
    break;
  case FieldDescriptor::TYPE_ENUM:
    t = "[" + f->enum_type()->name() + "](#" +
        f->enum_type()->containing_type()->name() + "." +
        f->enum_type()->name() + ")";
    break;
  default:
    t = f->type_name();
  }
  return f->is_repeated() ? "repeated " + t : t;
}

std::string formatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// The default column, or empty when the field documents none.
std::string defaultOf(const FieldDescriptor *f, const std::string &doc) {
  if (f->has_default_value()) {
    switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return "`" + std::to_string(f->default_value_int32()) + "`";
    case FieldDescriptor::CPPTYPE_INT64:
      return "`" + std::to_string(f->default_value_int64()) + "`";
    case FieldDescriptor::CPPTYPE_UINT32:
      return "`" + std::to_string(f->default_value_uint32()) + "`";
    case FieldDescriptor::CPPTYPE_UINT64:
      return "`" + std::to_string(f->default_value_uint64()) + "`";
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return "`" + formatDouble(f->default_value_double()) + "`";
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "`" + formatDouble(f->default_value_float()) + "`";
    case FieldDescriptor::CPPTYPE_BOOL:
      return f->default_value_bool() ? "`true`" : "`false`";
    case FieldDescriptor::CPPTYPE_ENUM:
      return "`" + f->default_value_enum()->name() + "`";
    case FieldDescriptor::CPPTYPE_STRING:
      return "`\"" + f->default_value_string() + "\"`";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
    }
  }
  size_t d = doc.find("Default:");
  if (d != std::string::npos) {
    std::string rest = trim(doc.substr(d + 8));
    size_t end = rest.find(". ");
    if (end != std::string::npos)
      rest = rest.substr(0, end);
    if (!rest.empty() && rest.back() == '.')
      rest.pop_back();
    return rest;
  }
  if (doc.find("Required") != std::string::npos)
    return "required";
  if (f->is_repeated())
    return "empty";
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
    return "all defaults";
  if (f->real_containing_oneof())
    return "one of `" + f->real_containing_oneof()->name() + "`";
  if (doc.find("Optional.") != std::string::npos)
    return "unset";
  return {};
}

} // namespace

int main(int argc, char **argv) {
  std::string protoPath, outPath;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc)
      outPath = argv[++i];
    else
      protoPath = a;
  }
  if (protoPath.empty()) {
    std::cerr << "usage: hone-spec-doc PIPELINE.DESC [-o FILE]\n";
    return 2;
  }
  std::ifstream in(protoPath, std::ios::binary);
  FileDescriptorSet set;
  if (!in || !set.ParseFromIstream(&in) || set.file_size() == 0) {
    std::cerr << protoPath << ": error: not a descriptor set\n";
    return 1;
  }
  DescriptorPool pool;
  const FileDescriptor *file = nullptr;
  for (const FileDescriptorProto &fp : set.file())
    file = pool.BuildFile(fp);
  if (!file)
    return 1;

  std::ostringstream out;
  bool undocumented = false;
  out << "# Pipeline spec reference\n\n"
      << "<!-- Generated by hone-spec-doc from frontend/pipeline.proto; do not "
         "edit. ctest checks that it is current. -->\n\n"
      << "A spec is a `" << file->message_type(0)->name()
      << "` message in Protocol Buffers text format (`spec.textproto`). "
         "Paths are relative to the spec's directory. `honec "
         "--emit-resolved-spec=FILE` writes a spec with every default filled "
         "in. Overrides on the command line use the field paths below, e.g. "
         "`stages[0].rl.steps=50`.\n\n"
      << "Defaults in words depend on other fields (usually the method); "
         "\"unset\" means the feature is off unless given.\n";
  for (int i = 0; i < file->message_type_count(); ++i) {
    std::vector<const Descriptor *> work{file->message_type(i)};
    while (!work.empty()) {
      const Descriptor *d = work.front();
      work.erase(work.begin());
      if (d->options().map_entry())
        continue;
      out << "\n## " << d->name() << " {#" << d->name() << "}\n\n";
      std::string mdoc = oneLine(comment(d));
      if (!mdoc.empty())
        out << mdoc << "\n\n";
      if (d->field_count() > 0) {
        out << "| field | type | default | description |\n"
            << "|---|---|---|---|\n";
        for (int j = 0; j < d->field_count(); ++j) {
          const FieldDescriptor *f = d->field(j);
          std::string doc = oneLine(comment(f));
          std::string def = defaultOf(f, doc);
          if (def.empty()) {
            std::cerr << protoPath << ": error: field " << f->full_name()
                      << " documents no default (add [default = ...] or a "
                         "'Default:', 'Required.' or 'Optional.' sentence)\n";
            undocumented = true;
          }
          out << "| `" << f->name() << "` | " << typeName(f) << " | " << def
              << " | " << doc << " |\n";
        }
      }
      for (int j = 0; j < d->enum_type_count(); ++j) {
        const EnumDescriptor *e = d->enum_type(j);
        out << "\n### " << d->name() << "." << e->name() << " {#" << d->name()
            << "." << e->name() << "}\n\n";
        std::string edoc = oneLine(comment(e));
        if (!edoc.empty())
          out << edoc << "\n\n";
        out << "| value | meaning |\n|---|---|\n";
        for (int k = 0; k < e->value_count(); ++k)
          out << "| `" << e->value(k)->name() << "` | "
              << oneLine(trailing(e->value(k)) + " " + comment(e->value(k)))
              << " |\n";
      }
      for (int j = 0; j < d->nested_type_count(); ++j)
        work.push_back(d->nested_type(j));
    }
  }
  if (undocumented)
    return 1;
  if (outPath.empty() || outPath == "-") {
    std::cout << out.str();
  } else {
    std::ofstream f(outPath);
    f << out.str();
    if (!f)
      return 1;
  }
  return 0;
}
