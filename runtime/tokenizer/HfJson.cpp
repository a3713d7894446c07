// Loading tokenizer.json: the normalizer, pre-tokenizer, model, added tokens,
// post-processor and decoder sections, each checked with a located error.
#include "runtime/tokenizer/TokenizerImpl.h"

#include "runtime/base/Json.h"
#include "runtime/base/Utf8.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace hone {

using namespace tok;

struct TokenizerBuilder {
  std::string_view text;
  std::string source;

  Status err(const json::Value *v, const std::string &msg,
             std::string hint = {}) const {
    std::string where = source;
    if (v) {
      json::Location loc = json::locate(text, v->offset());
      where +=
          ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
    }
    return Status::error(where + ": error: " + msg, std::move(hint));
  }
  std::string where(const json::Value *v) const {
    json::Location loc = json::locate(text, v ? v->offset() : 0);
    return source + ":" + std::to_string(loc.line) + ":" +
           std::to_string(loc.column) + ": error: ";
  }

  static const json::Value *get(const json::Value &o, std::string_view k) {
    if (!o.isObject())
      return nullptr;
    const json::Value *v = o.find(k);
    return v && !v->isNull() ? v : nullptr;
  }
  Status getBool(const json::Value &o, const char *k, bool *out) const {
    if (const json::Value *v = get(o, k)) {
      if (!v->isBool())
        return err(v, std::string("'") + k + "' must be true or false");
      *out = v->asBool();
    }
    return Status::ok();
  }
  Status getType(const json::Value &o, std::string *type,
                 const char *what) const {
    const json::Value *t = get(o, "type");
    if (!o.isObject() || !t || !t->isString())
      return err(&o, std::string(what) + " must be an object with a \"type\"");
    *type = t->asString();
    return Status::ok();
  }

  Status normalizer(const json::Value &n, Tokenizer::Impl &impl) {
    std::string type;
    HONE_TRY(getType(n, &type, "normalizer"));
    if (type == "NFC") {
      impl.nfc = true;
      return Status::ok();
    }
    if (type == "Sequence") {
      const json::Value *list = get(n, "normalizers");
      if (!list || !list->isArray())
        return err(&n, "Sequence normalizer needs a 'normalizers' list");
      for (const json::Value &item : list->items())
        HONE_TRY(normalizer(item, impl));
      return Status::ok();
    }
    return err(&n, "normalizer '" + type + "' is not supported",
               "supported: none, NFC");
  }

  Status preTokenizer(const json::Value &p, Tokenizer::Impl &impl,
                      bool &sawByteLevel) {
    std::string type;
    HONE_TRY(getType(p, &type, "pre_tokenizer"));
    if (type == "Sequence") {
      const json::Value *list = get(p, "pretokenizers");
      if (!list || !list->isArray())
        return err(&p, "Sequence pre_tokenizer needs a 'pretokenizers' list");
      for (const json::Value &item : list->items())
        HONE_TRY(preTokenizer(item, impl, sawByteLevel));
      return Status::ok();
    }
    if (sawByteLevel)
      return err(&p, "a " + type +
                         " pre-tokenizer after ByteLevel is not "
                         "supported");
    PreStep step;
    if (type == "ByteLevel") {
      step.kind = PreStep::ByteLevel;
      HONE_TRY(getBool(p, "add_prefix_space", &step.addPrefixSpace));
      bool useRegex = true;
      HONE_TRY(getBool(p, "use_regex", &useRegex));
      if (useRegex) {
        Expected<std::shared_ptr<PatternRegex>> re =
            compileRegex(kGpt2Pattern, where(&p));
        if (!re)
          return re.status();
        step.regex = re.take();
      }
      sawByteLevel = true;
      impl.byteLevel = true;
    } else if (type == "Split") {
      const json::Value *pattern = get(p, "pattern");
      const json::Value *rx = pattern ? get(*pattern, "Regex") : nullptr;
      const json::Value *str = pattern ? get(*pattern, "String") : nullptr;
      if (rx && rx->isString()) {
        Expected<std::shared_ptr<PatternRegex>> re =
            compileRegex(rx->asString(), where(rx));
        if (!re)
          return re.status();
        step.regex = re.take();
      } else if (str && str->isString()) {
        step.literal = str->asString();
      } else {
        return err(pattern ? pattern : &p,
                   "Split needs a pattern {\"Regex\": ...} or "
                   "{\"String\": ...}");
      }
      const json::Value *b = get(p, "behavior");
      std::string beh = b && b->isString() ? b->asString() : "";
      if (beh == "Isolated")
        step.behavior = SplitBehavior::Isolated;
      else if (beh == "Removed")
        step.behavior = SplitBehavior::Removed;
      else if (beh == "MergedWithPrevious")
        step.behavior = SplitBehavior::MergedWithPrevious;
      else if (beh == "MergedWithNext")
        step.behavior = SplitBehavior::MergedWithNext;
      else if (beh == "Contiguous")
        step.behavior = SplitBehavior::Contiguous;
      else
        return err(b ? b : &p, "Split behavior '" + beh + "' is not known");
      HONE_TRY(getBool(p, "invert", &step.invert));
    } else if (type == "Digits") {
      bool individual = false;
      HONE_TRY(getBool(p, "individual_digits", &individual));
      Expected<std::shared_ptr<PatternRegex>> re =
          compileRegex("\\p{N}", where(&p));
      if (!re)
        return re.status();
      step.regex = re.take();
      step.behavior =
          individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous;
    } else {
      return err(&p, "pre_tokenizer '" + type + "' is not supported",
                 "supported: ByteLevel, Split, Digits, Sequence");
    }
    impl.steps.push_back(std::move(step));
    return Status::ok();
  }

  Status decoder(const json::Value &d, Tokenizer::Impl &impl) {
    std::string type;
    HONE_TRY(getType(d, &type, "decoder"));
    if (type == "ByteLevel") {
      impl.byteLevelDecoder = true;
      return Status::ok();
    }
    if (type == "Sequence") {
      const json::Value *list = get(d, "decoders");
      if (!list || !list->isArray())
        return err(&d, "Sequence decoder needs a 'decoders' list");
      for (const json::Value &item : list->items())
        HONE_TRY(decoder(item, impl));
      return Status::ok();
    }
    return err(&d, "decoder '" + type + "' is not supported",
               "supported: ByteLevel");
  }

  Status postProcessor(const json::Value &p, Tokenizer::Impl &impl) {
    std::string type;
    HONE_TRY(getType(p, &type, "post_processor"));
    if (type == "ByteLevel")
      return Status::ok();
    if (type == "Sequence") {
      const json::Value *list = get(p, "processors");
      if (!list || !list->isArray())
        return err(&p, "Sequence post_processor needs a 'processors' list");
      for (const json::Value &item : list->items())
        HONE_TRY(postProcessor(item, impl));
      return Status::ok();
    }
    if (type != "TemplateProcessing") {
      impl.postProcessorError = where(&p) + "post_processor '" + type +
                                "' is not supported (encode without special "
                                "tokens)";
      return Status::ok();
    }
    const json::Value *single = get(p, "single");
    const json::Value *specials = get(p, "special_tokens");
    if (!single || !single->isArray())
      return err(&p, "TemplateProcessing needs a 'single' list");
    bool seenSeq = false;
    for (const json::Value &item : single->items()) {
      if (get(item, "Sequence")) {
        seenSeq = true;
        continue;
      }
      const json::Value *st = get(item, "SpecialToken");
      const json::Value *id = st ? get(*st, "id") : nullptr;
      if (!id || !id->isString())
        return err(&item, "TemplateProcessing items must be Sequence or "
                          "SpecialToken {\"id\": ...}");
      const json::Value *entry =
          specials ? get(*specials, id->asString()) : nullptr;
      const json::Value *ids = entry ? get(*entry, "ids") : nullptr;
      if (!ids || !ids->isArray())
        return err(id, "special token '" + id->asString() +
                           "' is not described in special_tokens");
      for (const json::Value &x : ids->items()) {
        if (!x.isInt() || x.asInt() < 0 || x.asInt() >= (1 << 30))
          return err(&x, "special token ids must be non-negative integers");
        (seenSeq ? impl.suffixIds : impl.prefixIds)
            .push_back(static_cast<int32_t>(x.asInt()));
      }
    }
    return Status::ok();
  }

  Expected<Tokenizer> build(const json::Value &root) {
    auto impl = std::make_shared<Tokenizer::Impl>();
    if (!root.isObject())
      return err(&root, "tokenizer.json must be a JSON object");
    const json::Value *model = get(root, "model");
    if (!model || !model->isObject())
      return err(&root, "tokenizer.json has no \"model\" object");
    if (const json::Value *t = get(*model, "type")) {
      if (!t->isString() || t->asString() != "BPE")
        return err(t,
                   "model type " +
                       (t->isString() ? "'" + t->asString() + "'"
                                      : std::string("(not a string)")) +
                       " is not supported",
                   "Hone reads BPE tokenizers (GPT-2, Llama-3, Qwen2 style)");
    }
    const json::Value *vocab = get(*model, "vocab");
    if (!vocab || !vocab->isObject())
      return err(model, "model has no \"vocab\" object");
    const int64_t kMaxId = int64_t(1)
                           << 22; // 4M ids: far above real vocabularies
    int64_t maxId = -1;
    impl->vocab.reserve(vocab->size() * 2);
    for (const auto &[tok, id] : vocab->members()) {
      if (!id.isInt() || id.asInt() < 0 || id.asInt() >= kMaxId)
        return err(&id,
                   "vocab id of '" + tok + "' must be an integer in [0, 2^22)");
      impl->vocab[tok] = static_cast<int32_t>(id.asInt());
      maxId = std::max(maxId, id.asInt());
    }
    // Added tokens.
    if (const json::Value *addedList = get(root, "added_tokens")) {
      if (!addedList->isArray())
        return err(addedList, "added_tokens must be a list");
      for (const json::Value &a : addedList->items()) {
        AddedToken t;
        const json::Value *id = get(a, "id");
        const json::Value *content = get(a, "content");
        if (!id || !id->isInt() || id->asInt() < 0 || id->asInt() >= kMaxId)
          return err(id ? id : &a, "added token needs an integer 'id' in "
                                   "[0, 2^22)");
        if (!content || !content->isString() || content->asString().empty())
          return err(content ? content : &a,
                     "added token needs a non-empty string 'content'");
        t.id = static_cast<int32_t>(id->asInt());
        t.content = content->asString();
        HONE_TRY(getBool(a, "special", &t.special));
        HONE_TRY(getBool(a, "single_word", &t.singleWord));
        HONE_TRY(getBool(a, "lstrip", &t.lstrip));
        HONE_TRY(getBool(a, "rstrip", &t.rstrip));
        t.normalized = !t.special;
        HONE_TRY(getBool(a, "normalized", &t.normalized));
        maxId = std::max(maxId, id->asInt());
        impl->added.push_back(std::move(t));
      }
    }
    if (maxId < 0)
      return err(vocab, "the vocabulary is empty");
    size_t n = static_cast<size_t>(maxId + 1);
    impl->idToToken.assign(n, std::string());
    impl->special.assign(n, 0);
    impl->known.assign(n, 0);
    for (const auto &[tok, id] : impl->vocab) {
      impl->idToToken[id] = tok;
      impl->known[id] = 1;
    }
    for (const AddedToken &t : impl->added) {
      impl->idToToken[t.id] = t.content;
      impl->known[t.id] = 1;
      impl->special[t.id] = t.special;
      impl->vocab[t.content] = t.id;
    }
    // Options of the BPE model.
    HONE_TRY(getBool(*model, "ignore_merges", &impl->ignoreMerges));
    HONE_TRY(getBool(*model, "fuse_unk", &impl->fuseUnk));
    HONE_TRY(getBool(*model, "byte_fallback", &impl->byteFallback));
    for (const char *k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (const json::Value *v = get(*model, k))
        if (!v->isString() || !v->asString().empty())
          return err(v, std::string("BPE '") + k + "' is not supported");
    if (const json::Value *d = get(*model, "dropout"))
      if (!d->isNumber() || d->asDouble() != 0.0)
        return err(d, "BPE dropout is not supported");
    if (const json::Value *u = get(*model, "unk_token")) {
      if (!u->isString())
        return err(u, "unk_token must be a string");
      auto it = impl->vocab.find(u->asString());
      if (it == impl->vocab.end())
        return err(u, "unk_token '" + u->asString() +
                          "' is not in the vocabulary");
      impl->unkId = it->second;
    }
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      auto it = impl->vocab.find(buf);
      impl->byteFallbackId[b] = it == impl->vocab.end() ? -1 : it->second;
    }
    // Merges.
    const json::Value *merges = get(*model, "merges");
    if (merges && !merges->isArray())
      return err(merges, "merges must be a list");
    if (merges) {
      impl->merges.reserve(merges->size() * 2);
      int32_t rank = 0;
      for (const json::Value &m : merges->items()) {
        std::string a, b;
        if (m.isString()) {
          const std::string &s = m.asString();
          size_t sp = s.find(' ');
          if (sp == std::string::npos ||
              s.find(' ', sp + 1) != std::string::npos)
            return err(&m, "merge \"" + s +
                               "\" must be two tokens "
                               "separated by one space");
          a = s.substr(0, sp);
          b = s.substr(sp + 1);
        } else if (m.isArray() && m.size() == 2 && m.items()[0].isString() &&
                   m.items()[1].isString()) {
          a = m.items()[0].asString();
          b = m.items()[1].asString();
        } else {
          return err(&m, "a merge must be \"a b\" or [\"a\", \"b\"]");
        }
        auto ia = impl->vocab.find(a), ib = impl->vocab.find(b),
             iab = impl->vocab.find(a + b);
        if (ia == impl->vocab.end() || ib == impl->vocab.end() ||
            iab == impl->vocab.end()) {
          std::string miss = ia == impl->vocab.end()   ? a
                             : ib == impl->vocab.end() ? b
                                                       : a + b;
          return err(&m, "merge " + std::to_string(rank) + " uses '" + miss +
                             "', which is not in the vocabulary");
        }
        impl->merges.set(pairKey(ia->second, ib->second), {rank, iab->second});
        ++rank;
      }
    }
    // Pipeline.
    if (const json::Value *nm = get(root, "normalizer"))
      HONE_TRY(normalizer(*nm, *impl));
    bool sawByteLevel = false;
    if (const json::Value *pt = get(root, "pre_tokenizer"))
      HONE_TRY(preTokenizer(*pt, *impl, sawByteLevel));
    if (const json::Value *pp = get(root, "post_processor"))
      HONE_TRY(postProcessor(*pp, *impl));
    if (const json::Value *dec = get(root, "decoder"))
      HONE_TRY(decoder(*dec, *impl));
    else
      impl->joinWithSpace = true;
    for (int32_t id : impl->prefixIds)
      if (id >= static_cast<int32_t>(n) || !impl->known[id])
        return err(get(root, "post_processor"),
                   "post_processor uses unknown token id " +
                       std::to_string(id));
    for (int32_t id : impl->suffixIds)
      if (id >= static_cast<int32_t>(n) || !impl->known[id])
        return err(get(root, "post_processor"),
                   "post_processor uses unknown token id " +
                       std::to_string(id));

    const ByteTable &bt = byteTable();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      if (impl->byteLevel)
        appendUtf8(s, bt.byteToCp[b]);
      else
        s.assign(1, static_cast<char>(b));
      auto it = impl->vocab.find(s);
      impl->byteId[b] = it == impl->vocab.end() ? -1 : it->second;
    }
    // Decoded bytes of every token.
    impl->idBytes.resize(n);
    for (size_t id = 0; id < n; ++id) {
      const std::string &tok = impl->idToToken[id];
      if (!impl->byteLevelDecoder) {
        impl->idBytes[id] = tok;
        continue;
      }
      std::string bytes;
      bool all = true;
      for (size_t i = 0; i < tok.size();) {
        size_t len;
        uint32_t cp = decodeUtf8At(tok, i, &len);
        auto it = bt.cpToByte.find(cp);
        if (it == bt.cpToByte.end()) {
          all = false;
          break;
        }
        bytes += static_cast<char>(it->second);
        i += len;
      }
      impl->idBytes[id] = all ? bytes : tok;
    }
    impl->indexAdded();
    return Tokenizer(impl);
  }
};

Expected<Tokenizer> Tokenizer::fromHfJson(std::string_view text,
                                          std::string_view sourceName) {
  json::ParseOptions po;
  po.sourceName = sourceName;
  po.maxDepth = 128;
  Expected<json::Value> root = json::parse(text, po);
  if (!root)
    return root.status();
  TokenizerBuilder b{text, std::string(sourceName)};
  return b.build(*root);
}

Expected<Tokenizer> Tokenizer::loadHfJson(const std::string &path) {
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    file = path + "/tokenizer.json";
  // A FIFO would block the read, a device never end.
  if (::stat(file.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return Status::error(file + ": error: not a regular file",
                         "give a Hugging Face tokenizer.json");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return Status::error(file + ": error: cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return Status::error(file + ": error: read failed");
  std::string text = ss.str();
  return fromHfJson(text, file);
}

} // namespace hone
