#include "runtime/data/Sequences.h"

namespace hone::job {

namespace {

Status needTokenizer(const TextFormat &fmt) {
  if (!fmt.tokenizer)
    return Status::error("error: batches: no tokenizer");
  return Status::ok();
}

Expected<std::vector<int32_t>> enc(const TextFormat &fmt,
                                   const std::string &text) {
  EncodeOptions o;
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

Expected<TokenizedChat> chatTokens(const TextFormat &fmt,
                                   const std::vector<ChatMessage> &msgs,
                                   bool addGenerationPrompt) {
  if (fmt.modelChat)
    return tokenizeChat(*fmt.tokenizer, *fmt.modelChat, msgs,
                        addGenerationPrompt);
  return tokenizeChat(*fmt.tokenizer, *fmt.chat, msgs, addGenerationPrompt);
}

Expected<Sequence> chatSequence(const TextFormat &fmt,
                                const std::vector<ChatMessage> &msgs) {
  auto tc = chatTokens(fmt, msgs, false);
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
    return chatSequence(fmt, msgs);
  }
  auto p = enc(fmt, ex.prompt);
  if (!p)
    return p.status();
  auto c = enc(fmt, completion);
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
    auto s = chatSequence(fmt, ex.messages);
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
  auto t = enc(fmt, ex.text);
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
    auto tc = chatTokens(fmt, promptMessages(ex), true);
    if (!tc)
      return tc.status();
    ids = tc->ids;
  } else {
    auto p = enc(fmt, ex.prompt);
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
                                   const std::string &templateDir) {
  TextFormat f;
  f.tokenizer = &tokenizer;
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
