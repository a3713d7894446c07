// The checker's top level (the pipeline's own settings), the order of the
// checks, and the frontend's entry points (frontend/Spec.h).
#include "frontend/check/Checker.h"
#include "dialect/SettingRanges.h"

namespace hone::spec::check {

bool Checker::range(const Message &m, const char *field) {
  const ranges::Row *row = ranges::specRow(m.GetDescriptor()->name(), field);
  const FieldDescriptor *fd = m.GetDescriptor()->FindFieldByName(field);
  if (!row || !fd) {
    error(at(m), "internal: " + m.GetDescriptor()->name() + "." + field +
                     " has no row in dialect/SettingRanges.def",
          "report this as a bug in Hone");
    return false;
  }
  const auto *r = m.GetReflection();
  double v = 0;
  std::string shown;
  switch (fd->cpp_type()) {
  case FieldDescriptor::CPPTYPE_INT32:
    v = r->GetInt32(m, fd), shown = std::to_string(r->GetInt32(m, fd));
    break;
  case FieldDescriptor::CPPTYPE_INT64:
    v = double(r->GetInt64(m, fd)), shown = std::to_string(r->GetInt64(m, fd));
    break;
  case FieldDescriptor::CPPTYPE_UINT32:
    v = r->GetUInt32(m, fd), shown = std::to_string(r->GetUInt32(m, fd));
    break;
  case FieldDescriptor::CPPTYPE_UINT64:
    v = double(r->GetUInt64(m, fd)), shown = std::to_string(r->GetUInt64(m, fd));
    break;
  case FieldDescriptor::CPPTYPE_DOUBLE:
    v = r->GetDouble(m, fd), shown = fmt(v);
    break;
  case FieldDescriptor::CPPTYPE_FLOAT:
    v = r->GetFloat(m, fd), shown = fmt(v);
    break;
  default:
    error(at(m, field), "internal: " + q(field) + " is not a number",
          "report this as a bug in Hone");
    return false;
  }
  if (ranges::admits(*row, v))
    return true;
  error(at(m, field),
        q(field) + " must " +
            (std::isfinite(v) ? ranges::requirement(*row) : "be finite") +
            ", got " + shown,
        ranges::hint(*row));
  return false;
}


void Checker::checkTop() {
  SourceLoc file{spec_.path, 1, 1};
  // The pipeline's own settings (seed) as pipeline.proto declares them: the
  // job reads the resolved value (it used to fall back to 0 where the
  // schema says 42).
  fillDeclaredDefaults(p_);
  if (p_.models_size() == 0)
    error(file, "the spec declares no models",
          "add 'models { name: \"policy\" init { ... } }'");
  if (p_.stages_size() == 0)
    error(file, "the spec has no stages",
          "add 'stages { dataset: \"...\" sft { } }' (or reward_model, "
          "preference, rl)");
  if (!p_.has_tokenizer())
    error(file, "the spec has no tokenizer",
          "add 'tokenizer { chars { alphabet: \"0123456789+=\" } }' or "
          "'tokenizer { file: \"tokenizer.json\" }'");
  range(p_, "seed");
  if (p_.has_name()) {
    const std::string &n = p_.name();
    bool ok = !n.empty();
    for (char c : n)
      ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
            c == '-' || c == '.';
    if (!ok)
      error(at(p_, "name"), "pipeline name " + q(n) + " is not a plain name",
            "use letters, digits, '_', '-' and '.'; it names the run "
            "directory");
  } else {
    p_.set_name(defaultPipelineName(spec_.path, spec_.baseDir));
  }
  if (!p_.has_output_dir())
    p_.set_output_dir(defaultOutputDir(p_.name()));
}


bool Checker::run() {
  size_t before = diags_.errorCount();
  checkTop();
  checkTokenizer();
  checkModels();
  checkDatasets();
  checkRewards();
  checkStages();
  checkEvaluations();
  checkRest();
  checkCountLimits(p_);
  checkBatchProducts();
  // Remaining defaults of models and the chat template.
  for (Model &m : *p_.mutable_models()) {
    fillDeclaredDefaults(m);
    if (m.has_init()) {
      fillDeclaredDefaults(*m.mutable_init());
      if (m.init().family() == Architecture::gpt2)
        dropUnused(*m.mutable_init(), {"rope_theta", "qkv_bias"});
    }
  }
  if (p_.has_tokenizer()) {
    Tokenizer &t = *p_.mutable_tokenizer();
    fillDeclaredDefaults(t);
    // Conversational data needs a chat template.
    for (const Stage &s : p_.stages()) {
      if (conversational_.count(s.dataset()) &&
          t.chat_template() == Tokenizer::no_template) {
        if (!modelTemplateProblem_.isOk()) {
          error(at(t, "file"),
                "dataset " + q(s.dataset()) +
                    " holds conversations and the model's chat template "
                    "cannot be used: " +
                    modelTemplateProblem_.message(),
                modelTemplateProblem_.hint());
          break;
        }
        error(at(s, "dataset"),
              "dataset " + q(s.dataset()) +
                  " holds conversations but the tokenizer has no chat "
                  "template",
              "set 'chat_template: chatml' (or llama3) in the tokenizer, or "
              "give a tokenizer file whose directory has the model's chat "
              "template");
        break;
      }
    }
  }
  for (Dataset &d : *p_.mutable_datasets())
    fillDeclaredDefaults(d);
  return diags_.errorCount() == before;
}

} // namespace hone::spec::check

namespace hone::spec {

bool checkSpec(LoadedSpec &spec, DiagnosticList &diags,
               const LoadOptions &options) {
  return check::Checker(spec, diags, options).run();
}

long long parseByteSize(const std::string &text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) ||
                             text[i] == '.'))
    ++i;
  if (i == 0 || i > 24)
    return -1;
  std::string num = text.substr(0, i);
  if (std::count(num.begin(), num.end(), '.') > 1)
    return -1;
  double v = std::atof(num.c_str());
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ')
    unit.erase(unit.begin());
  static const std::pair<const char *, double> units[] = {
      {"", 1},          {"B", 1},           {"KB", 1e3},
      {"MB", 1e6},      {"GB", 1e9},        {"TB", 1e12},
      {"KiB", 1024.0},  {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0}};
  for (const auto &u : units)
    if (unit == u.first) {
      double bytes = v * u.second;
      if (!(bytes >= 1) || bytes > 9e18)
        return -1;
      return static_cast<long long>(bytes);
    }
  return -1;
}

} // namespace hone::spec
