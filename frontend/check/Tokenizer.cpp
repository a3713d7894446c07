// tokenizer: character alphabets, tokenizer.json files, special tokens and
// chat templates.
#include "frontend/check/Checker.h"
#include "runtime/tokenizer/ChatTemplate.h"

namespace hone::spec::check {

void Checker::checkTokenizer() {
  if (!p_.has_tokenizer())
    return;
  Tokenizer &t = *p_.mutable_tokenizer();
  switch (t.kind_case()) {
  case Tokenizer::kChars: {
    CharVocab &cv = *t.mutable_chars();
    // The chat template's markers must be single tokens.
    std::vector<std::string> markers;
    if (t.chat_template() == Tokenizer::chatml)
      markers = {"<|im_start|>", "<|im_end|>"};
    else if (t.chat_template() == Tokenizer::llama3)
      markers = {"<|begin_of_text|>", "<|start_header_id|>",
                 "<|end_header_id|>", "<|eot_id|>"};
    else if (t.chat_template() == Tokenizer::from_model)
      error(at(t, "chat_template"),
            "a character vocabulary has no model chat template",
            "from_model reads the template beside a tokenizer 'file'; name "
            "one here: chatml, llama3");
    if (cv.special_size() == 0) {
      cv.add_special("<pad>");
      cv.add_special("<bos>");
      cv.add_special("<eos>");
      for (const std::string &m : markers)
        cv.add_special(m);
    } else {
      for (const std::string &m : markers)
        if (std::find(cv.special().begin(), cv.special().end(), m) ==
            cv.special().end())
          error(at(t, "chat_template"),
                "the " + std::string(Tokenizer::ChatTemplate_Name(
                             t.chat_template())) +
                    " template needs the special token " + q(m) +
                    ", which the character vocabulary lacks",
                "add 'special: " + q(m) +
                    "' to 'chars', or leave 'special' out to get the "
                    "defaults and the template's markers");
    }
    bool ok = true;
    std::vector<std::string> chars = utf8Chars(cv.alphabet(), ok);
    if (!ok) {
      error(at(cv, "alphabet"), "the alphabet is not valid UTF-8",
            "write the characters as UTF-8 text");
      break;
    }
    if (chars.empty()) {
      error(at(cv, "alphabet"), "the character vocabulary is empty",
            "set 'alphabet' to every character the data uses, e.g. "
            "\"0123456789+= \"");
      break;
    }
    std::set<std::string> seen;
    for (const std::string &c : chars)
      if (!seen.insert(c).second) {
        error(at(cv, "alphabet"),
              "the alphabet has " + q(c) + " more than once",
              "each character is one token: list it once");
        break;
      }
    for (int i = 0; i < cv.special_size(); ++i) {
      if (cv.special(i).empty())
        error(at(cv, "special", i), "a special token is empty",
              "remove it or give it a name such as \"<eos>\"");
      else if (!seen.insert(cv.special(i)).second)
        error(at(cv, "special", i),
              "special token " + q(cv.special(i)) + " is listed twice",
              "list each special token once");
    }
    tokenizerVocab_ = static_cast<int64_t>(chars.size()) + cv.special_size();
    if (auto t = ::hone::Tokenizer::character(
            cv.alphabet(), {cv.special().begin(), cv.special().end()}))
      charTokenizer_.emplace(t.take());
    break;
  }
  case Tokenizer::kFile: {
    if (!opts_.checkFiles)
      break;
    std::string path = spec_.resolvePath(t.file());
    // A FIFO would block the read, a device never end.
    if (std::string kind = fileKind(path); !kind.empty() && !isFile(path)) {
      error(at(t, "file"),
            "tokenizer file " + q(t.file()) + " is " + kind + ", not a file",
            "give the Hugging Face tokenizer.json of the model");
      break;
    }
    std::ifstream in(path, std::ios::binary);
    if (t.file().empty() || !in) {
      error(at(t, "file"), "tokenizer file " + q(t.file()) + " not found",
            "paths are relative to the spec's directory (" + spec_.baseDir +
                ")");
      break;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    json::ParseOptions po;
    po.sourceName = t.file();
    auto doc = json::parse(ss.str(), po);
    const json::Value *model = doc ? doc->find("model") : nullptr;
    const json::Value *vocab = model ? model->find("vocab") : nullptr;
    if (!doc || !vocab || !vocab->isObject()) {
      error(at(t, "file"),
            "tokenizer file " + q(t.file()) + " is not a tokenizer.json" +
                (doc ? std::string(" (no model.vocab object)")
                     : ": " + doc.status().message()),
            "give the Hugging Face tokenizer.json of the model");
      break;
    }
    // The runtime's own reader: what the job would refuse (an empty
    // vocabulary, a broken pre-tokenizer regex, ...) is refused here.
    if (!checkTokenizerFile(t, ss.str()))
      break;
    int64_t maxId = -1;
    for (const auto &m : vocab->members())
      if (m.second.isInt())
        maxId = std::max<int64_t>(maxId, m.second.asInt());
    if (const json::Value *added = doc->find("added_tokens"))
      for (const json::Value &a : added->items())
        if (const json::Value *id = a.find("id"); id && id->isInt())
          maxId = std::max<int64_t>(maxId, id->asInt());
    tokenizerVocab_ = maxId + 1;
    checkModelChatTemplate(t, path);
    break;
  }
  case Tokenizer::KIND_NOT_SET:
    error(at(t), "the tokenizer has neither 'chars' nor 'file'",
          "add 'chars { alphabet: \"...\" }' or 'file: \"tokenizer.json\"'");
    break;
  }
  checkTemplateKwargs(t);
}

// `chat_template_kwargs`: a JSON object, for the model's own template.
void Checker::checkTemplateKwargs(const Tokenizer &t) {
  if (!t.has_chat_template_kwargs())
    return;
  json::ParseOptions po;
  po.sourceName = "chat_template_kwargs";
  Expected<json::Value> v = json::parse(t.chat_template_kwargs(), po);
  const char *example = "e.g. chat_template_kwargs: "
                        "'{\"enable_thinking\": false}'";
  if (!v) {
    std::string m = v.status().message();
    if (size_t e = m.find("error: "); e != std::string::npos)
      m.erase(e, 7); // "chat_template_kwargs:1:2: expected ..."
    error(at(t, "chat_template_kwargs"),
          "'chat_template_kwargs' is not JSON: " + m, example);
    return;
  }
  if (!v->isObject()) {
    error(at(t, "chat_template_kwargs"),
          "'chat_template_kwargs' is " +
              std::string(json::kindName(v->kind())) +
              ", expected a JSON object of template variables",
          example);
    return;
  }
  // Unset chat_template was resolved above when files are read.
  bool resolved = t.has_chat_template() || opts_.checkFiles || t.has_chars();
  if (!v->members().empty() && resolved &&
      t.chat_template() != Tokenizer::from_model)
    error(at(t, "chat_template_kwargs"),
          "'chat_template_kwargs' are variables of the model's own template, "
          "but the chat template is " +
              std::string(Tokenizer::ChatTemplate_Name(t.chat_template())),
          "use chat_template: from_model (the template beside the "
          "tokenizer file), or remove chat_template_kwargs");
}

// The model's own chat template beside the tokenizer file: required by
// `chat_template: from_model`, and chosen when `chat_template` is unset and
// the directory has one (TRL renders with the tokenizer's template). It must
// parse and render a probe conversation (runtime/tokenizer/ChatTemplate.h).
void Checker::checkModelChatTemplate(Tokenizer &t, const std::string &path) {
  bool asked = t.chat_template() == Tokenizer::from_model;
  if (!asked && t.has_chat_template())
    return;
  auto dirOf = [](const std::string &p) {
    size_t slash = p.rfind('/');
    return slash == std::string::npos ? std::string(".") : p.substr(0, slash);
  };
  std::string dir = dirOf(path);
  Expected<std::string> where = hone::findModelChatTemplate(dir);
  if (where && where->empty()) {
    if (asked)
      error(at(t, "chat_template"),
            "the tokenizer's directory " + q(dirOf(t.file())) +
                " has no chat template",
            "from_model reads chat_template.jinja or the 'chat_template' of "
            "tokenizer_config.json beside the tokenizer file; or name one: "
            "chatml, llama3");
    return;
  }
  Status st = where.status();
  if (where) {
    Expected<hone::ModelChatTemplate> m = hone::loadModelChatTemplate(dir);
    st = m ? hone::checkModelChatTemplate(*m) : m.status();
  }
  if (!st.isOk()) {
    std::string hint = st.hint().empty()
                           ? "docs/formats.md lists the Jinja subset Hone "
                             "renders; or name a template: chatml, llama3"
                           : st.hint();
    if (asked)
      error(at(t, "chat_template"),
            "the model's chat template cannot be used: " + st.message(), hint);
    else // an error only if conversations need it (Checker::run)
      modelTemplateProblem_ = Status::error(st.message(), hint);
    return;
  }
  t.set_chat_template(Tokenizer::from_model);
}

bool Checker::checkTokenizerFile(const Tokenizer &t, const std::string &text) {
  auto tok = hone::Tokenizer::fromHfJson(text, t.file());
  if (!tok) {
    error(at(t, "file"),
          "tokenizer file " + q(t.file()) + " cannot be used: " +
              tok.status().message(),
          tok.status().hint().empty()
              ? std::string("give the Hugging Face tokenizer.json of the "
                            "model")
              : tok.status().hint());
    return false;
  }
  if (tok->vocabSize() > countLimit("vocab")) {
    error(at(t, "file"),
          "tokenizer file " + q(t.file()) + " has " +
              fmt(long(tok->vocabSize())) + " tokens, more than " +
              countLimitText(countLimit("vocab")),
          "Hone trains vocabularies of up to 2^24 tokens");
    return false;
  }
  fileTokenizer_.emplace(tok.take());
  return true;
}

} // namespace hone::spec::check
