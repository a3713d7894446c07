#include "runtime/data/Sequences.h"

namespace hone::job {

namespace {

Status needTokenizer(const TextFormat &fmt) {
  if (!fmt.tokenizer)
    return Status::error("error: batches: no tokenizer");
  return Status::ok();
}

/// The token limit of a sequence cut at `maxSeqLen` (0: none): its first
/// tokens, or with keepLast its last (prompts). Only those are found (the
/// rest would be cut anyway), so a 50 MB row costs its stage's length in
/// memory, not 12 bytes a character (docs/formats.md, "Long records").
EncodeOptions cutAt(int64_t maxSeqLen, bool keepLast = false) {
  EncodeOptions o;
  o.maxTokens = maxSeqLen > 0 ? size_t(maxSeqLen) : 0;
  o.keepLast = keepLast;
  return o;
}

/// Record text's ids, cut as cutAt says.
Expected<std::vector<int32_t>> enc(const TextFormat &fmt,
                                   const std::string &text, int64_t limit = 0,
                                   bool keepLast = false) {
  EncodeOptions o = cutAt(limit, keepLast);
  o.parseSpecialTokens = false;
  return fmt.tokenizer->encode(text, o);
}

void truncate(Sequence &s, int64_t maxLen) {
  if (maxLen > 0 && int64_t(s.ids.size()) > maxLen) {
    s.ids.resize(size_t(maxLen));
    s.mask.resize(size_t(maxLen));
  }
  if (!s.mask.empty())
    s.mask[0] = 0;
}

/// A rendering error located at the record.
Status atRecord(const Example &ex, const Status &st) {
  std::string m = st.message();
  if (m.rfind("error: ", 0) == 0)
    m = m.substr(7);
  return Status::error(
      "error: record on line " + std::to_string(ex.line) + ": " + m, st.hint());
}

bool nonEmpty(const json::Value &v) {
  return v.isObject() && !v.members().empty();
}

/// Renders and tokenizes a record's conversation with its tools and
/// template variables (the spec's, then the record's).
Expected<TokenizedChat> chatTokens(const TextFormat &fmt, const Example &ex,
                                   const std::vector<ChatMessage> &msgs,
                                   bool addGenerationPrompt, bool continueFinal,
                                   const EncodeOptions &limit) {
  if (fmt.modelChat) {
    ChatOptions o;
    o.addGenerationPrompt = addGenerationPrompt;
    o.continueFinalMessage = continueFinal;
    o.limit = limit;
    o.tools = ex.tools;
    o.kwargs = fmt.templateKwargs.isObject() ? fmt.templateKwargs
                                             : json::Value::object();
    if (ex.templateKwargs.isObject())
      for (const auto &m : ex.templateKwargs.members())
        o.kwargs.set(m.first, m.second);
    auto tc =
        tokenizeChat(*fmt.tokenizer, *fmt.modelChat, chatMessagesJson(msgs), o);
    if (!tc)
      return atRecord(ex, tc.status());
    return tc;
  }
  const char *named = chatTemplateName(*fmt.chat);
  if (!ex.tools.isNull() || nonEmpty(ex.templateKwargs))
    return Status::error(
        "error: record on line " + std::to_string(ex.line) + " has " +
            (ex.tools.isNull() ? "chat_template_kwargs" : "tools") +
            ", which the " + named + " template cannot render",
        "tools and template variables are rendered by the model's own "
        "template (tokenizer chat_template: from_model)");
  auto tc = tokenizeChat(*fmt.tokenizer, *fmt.chat, msgs, addGenerationPrompt,
                         continueFinal, limit);
  // A tokenizer without the template's markers is the spec's fault (the
  // spec check reports it), not the record's.
  if (!tc && tc.status().message().rfind("error: the tokenizer has no", 0) != 0)
    return atRecord(ex, tc.status());
  return tc;
}

/// Tools and template variables belong to conversations.
Status noChatInputs(const Example &ex) {
  if (ex.tools.isNull() && !nonEmpty(ex.templateKwargs))
    return Status::ok();
  return Status::error(
      "error: record on line " + std::to_string(ex.line) + " has " +
          (ex.tools.isNull() ? "chat_template_kwargs" : "tools") +
          " but its text is not a conversation",
      "tools and template variables go to the chat "
      "template: give messages (or prompt/completion "
      "message lists)");
}

Expected<Sequence> chatSequence(const TextFormat &fmt, const Example &ex,
                                const std::vector<ChatMessage> &msgs) {
  auto tc = chatTokens(fmt, ex, msgs, false, false, cutAt(fmt.maxSeqLen));
  if (!tc)
    return tc.status();
  Sequence s{tc->ids, tc->assistantMask};
  truncate(s, fmt.maxSeqLen);
  return s;
}

std::vector<ChatMessage> promptMessages(const Example &ex) {
  if (!ex.promptMessages.empty())
    return ex.promptMessages;
  return {{"user", ex.prompt}};
}

} // namespace

Expected<Sequence> tokenizePair(const TextFormat &fmt, const Example &ex,
                                const std::string &completion,
                                const std::vector<ChatMessage> &compMsgs) {
  HONE_TRY(needTokenizer(fmt));
  bool conv = !compMsgs.empty() || !ex.promptMessages.empty();
  if (fmt.hasChat() || conv) {
    if (!fmt.hasChat())
      return Status::error(
          "error: batches: conversational record on line " +
              std::to_string(ex.line) + " needs a chat template",
          "set the spec's chat_template (chatml, llama3, from_model)");
    std::vector<ChatMessage> msgs = promptMessages(ex);
    if (compMsgs.empty())
      msgs.push_back({"assistant", completion});
    else
      msgs.insert(msgs.end(), compMsgs.begin(), compMsgs.end());
    return chatSequence(fmt, ex, msgs);
  }
  HONE_TRY(noChatInputs(ex));
  // Cut on the right: neither part needs more than the sequence's length.
  auto p = enc(fmt, ex.prompt, fmt.maxSeqLen);
  if (!p)
    return p.status();
  int64_t room = fmt.maxSeqLen - int64_t(p->size());
  auto c = fmt.maxSeqLen > 0 && room <= 0
               ? Expected<std::vector<int32_t>>(std::vector<int32_t>())
               : enc(fmt, completion, room);
  if (!c)
    return c.status();
  Sequence s;
  s.ids = *p;
  s.mask.assign(s.ids.size(), 0);
  s.ids.insert(s.ids.end(), c->begin(), c->end());
  if (fmt.eosToken >= 0)
    s.ids.push_back(fmt.eosToken);
  s.mask.resize(s.ids.size(), 1);
  truncate(s, fmt.maxSeqLen);
  return s;
}

Expected<Sequence> tokenizeExample(const TextFormat &fmt, const Example &ex) {
  HONE_TRY(needTokenizer(fmt));
  if (!ex.messages.empty()) {
    if (!fmt.hasChat())
      return Status::error(
          "error: batches: messages record on line " + std::to_string(ex.line) +
              " needs a chat template",
          "set the spec's chat_template (chatml, llama3, from_model)");
    auto s = chatSequence(fmt, ex, ex.messages);
    if (s && !fmt.assistantOnlyLoss)
      s->mask.assign(s->ids.size(), 1);
    return s;
  }
  // A prompt/completion record even when the completion is empty: the
  // EOS token after the prompt is still trained (docs/formats.md); read as
  // a text record it trained on nothing.
  if (!ex.completion.empty() || !ex.completionMessages.empty() ||
      !ex.prompt.empty() || !ex.promptMessages.empty()) {
    auto s = tokenizePair(fmt, ex, ex.completion, ex.completionMessages);
    if (s && !fmt.completionOnlyLoss)
      s->mask.assign(s->ids.size(), 1);
    return s;
  }
  // text layout: every token
  HONE_TRY(noChatInputs(ex));
  auto t = enc(fmt, ex.text, fmt.maxSeqLen);
  if (!t)
    return t.status();
  Sequence s;
  s.ids = *t;
  if (fmt.eosToken >= 0)
    s.ids.push_back(fmt.eosToken);
  s.mask.assign(s.ids.size(), 1);
  truncate(s, fmt.maxSeqLen);
  return s;
}

Expected<std::vector<int32_t>> tokenizePrompt(const TextFormat &fmt,
                                              const Example &ex) {
  HONE_TRY(needTokenizer(fmt));
  std::vector<int32_t> ids;
  if (fmt.hasChat() || !ex.promptMessages.empty()) {
    if (!fmt.hasChat())
      return Status::error("error: batches: conversational prompt on line " +
                           std::to_string(ex.line) + " needs a chat template");
    // TRL (data_utils.apply_chat_template): a prompt that ends with the
    // assistant's message is continued, not followed by a new turn.
    std::vector<ChatMessage> msgs = promptMessages(ex);
    bool cont = !msgs.empty() && msgs.back().role == "assistant";
    auto tc = chatTokens(fmt, ex, msgs, !cont, cont,
                         cutAt(fmt.maxSeqLen, /*keepLast=*/true));
    if (!tc)
      return tc.status();
    ids = tc->ids;
  } else {
    HONE_TRY(noChatInputs(ex));
    auto p = enc(fmt, ex.prompt, fmt.maxSeqLen, /*keepLast=*/true);
    if (!p)
      return p.status();
    ids = *p;
  }
  if (ids.empty())
    return Status::error("error: batches: empty prompt on line " +
                         std::to_string(ex.line));
  if (fmt.maxSeqLen > 0 && int64_t(ids.size()) > fmt.maxSeqLen)
    ids.erase(ids.begin(), ids.end() - fmt.maxSeqLen);
  return ids;
}

Expected<TextFormat> textFormatFor(const Tokenizer &tokenizer,
                                   const std::string &chatTemplate,
                                   const std::string &templateDir,
                                   const std::string &templateKwargs) {
  TextFormat f;
  f.tokenizer = &tokenizer;
  if (!templateKwargs.empty()) {
    json::ParseOptions po;
    po.sourceName = "chat_template_kwargs";
    auto k = json::parse(templateKwargs, po);
    if (!k)
      return k.status();
    if (!k->isObject())
      return Status::error("error: chat_template_kwargs is not a JSON object",
                           "e.g. {\"enable_thinking\": false}");
    if (!k->members().empty() && chatTemplate != "from_model")
      return Status::error("error: chat_template_kwargs are given but the "
                           "chat template is '" +
                               chatTemplate + "'",
                           "they are variables of the model's own template "
                           "(chat_template: from_model)");
    f.templateKwargs = k.take();
  }
  if (chatTemplate == "from_model") {
    auto m = loadModelChatTemplate(templateDir);
    if (!m)
      return m.status();
    f.modelChat = std::make_shared<const ModelChatTemplate>(m.take());
  } else if (chatTemplate != "no_template") {
    auto chat = chatTemplateFromName(chatTemplate);
    if (!chat)
      return chat.status();
    f.chat = chat.take();
  }
  for (const char *e :
       {"<eos>", "</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>"})
    if (auto id = tokenizer.tokenToId(e)) {
      f.eosToken = *id;
      break;
    }
  // A model template comes with tokenizer_config.json's eos_token: the
  // token generation stops at and raw completions end with.
  if (f.modelChat)
    for (const auto &[k, v] : f.modelChat->specialTokens)
      if (k == "eos_token")
        if (auto id = tokenizer.tokenToId(v))
          f.eosToken = *id;
  f.padToken = 0;
  if (auto id = tokenizer.tokenToId("<pad>"))
    f.padToken = *id;
  else if (f.eosToken >= 0)
    f.padToken = f.eosToken;
  return f;
}

} // namespace hone::job
