#include "runtime/tokenizer/ChatTemplate.h"

namespace hone {

Expected<ChatTemplate> chatTemplateFromName(std::string_view name) {
  if (name == "chatml")
    return ChatTemplate::ChatML;
  if (name == "llama3")
    return ChatTemplate::Llama3;
  return Status::error("error: unknown chat template '" + std::string(name) +
                           "'",
                       "known templates: chatml, llama3");
}

const char *chatTemplateName(ChatTemplate t) {
  return t == ChatTemplate::ChatML ? "chatml" : "llama3";
}

std::vector<std::string> chatTemplateSpecialTokens(ChatTemplate t) {
  if (t == ChatTemplate::ChatML)
    return {"<|im_start|>", "<|im_end|>"};
  return {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
          "<|eot_id|>"};
}

static std::string_view trim(std::string_view s) {
  // Jinja's trim: Python str.strip() whitespace (ASCII set is enough here).
  auto ws = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
  };
  while (!s.empty() && ws(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && ws(s.back()))
    s.remove_suffix(1);
  return s;
}

Expected<RenderedChat> renderChat(ChatTemplate t,
                                  const std::vector<ChatMessage> &messages,
                                  bool addGenerationPrompt,
                                  bool continueFinal) {
  if (continueFinal && addGenerationPrompt)
    return Status::error("error: continue_final_message and "
                         "add_generation_prompt exclude each other");
  if (continueFinal && messages.empty())
    return Status::error("error: continue_final_message on an empty "
                         "conversation");
  RenderedChat out;
  if (t == ChatTemplate::Llama3)
    out.text = "<|begin_of_text|>";
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage &m = messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant" &&
        m.role != "tool")
      return Status::error("error: message " + std::to_string(i) +
                               " has role '" + m.role + "'",
                           "roles are system, user, assistant, tool");
    if (m.contentNull || (m.fields.isObject() && !m.fields.members().empty()))
      return Status::error(
          "error: message " + std::to_string(i) + " has " +
              (m.contentNull ? std::string("no content")
                             : "field '" + m.fields.members()[0].first + "'") +
              ", which the " + chatTemplateName(t) + " template cannot render",
          "tool calls, tool-call ids and reasoning are rendered by the "
          "model's own template (tokenizer chat_template: from_model)");
    bool assistant = m.role == "assistant";
    bool last = continueFinal && i + 1 == messages.size();
    size_t begin;
    if (t == ChatTemplate::ChatML) {
      out.text += "<|im_start|>" + m.role + "\n";
      begin = out.text.size();
      out.text += m.content;
      if (last) { // the turn stays open: no end token
        if (assistant)
          out.assistantSpans.emplace_back(begin, out.text.size());
        break;
      }
      out.text += "<|im_end|>";
      if (assistant)
        out.assistantSpans.emplace_back(begin, out.text.size());
      out.text += "\n";
    } else {
      out.text += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
      begin = out.text.size();
      out.text += trim(m.content);
      if (last) { // the turn stays open: no end token
        if (assistant)
          out.assistantSpans.emplace_back(begin, out.text.size());
        break;
      }
      out.text += "<|eot_id|>";
      if (assistant)
        out.assistantSpans.emplace_back(begin, out.text.size());
    }
  }
  if (addGenerationPrompt)
    out.text += t == ChatTemplate::ChatML
                    ? "<|im_start|>assistant\n"
                    : "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

Expected<TokenizedChat> tokenizeChat(const Tokenizer &tokenizer, ChatTemplate t,
                                     const std::vector<ChatMessage> &messages,
                                     bool addGenerationPrompt,
                                     bool continueFinal,
                                     const EncodeOptions &limit) {
  for (const std::string &s : chatTemplateSpecialTokens(t)) {
    std::optional<int32_t> id = tokenizer.tokenToId(s);
    if (!id)
      return Status::error("error: the tokenizer has no token '" + s +
                               "' needed by the " + chatTemplateName(t) +
                               " chat template",
                           "pick the template that matches the tokenizer");
  }
  Expected<RenderedChat> r =
      renderChat(t, messages, addGenerationPrompt, continueFinal);
  if (!r)
    return r.status();
  return tokenizeRendered(tokenizer, *r, limit);
}

Expected<TokenizedChat> tokenizeRendered(const Tokenizer &tokenizer,
                                         const RenderedChat &rendered,
                                         const EncodeOptions &limit) {
  EncodeOptions o;
  o.maxTokens = limit.maxTokens;
  o.keepLast = limit.keepLast;
  Expected<Encoding> enc = tokenizer.encodeWithOffsets(rendered.text, o);
  if (!enc)
    return enc.status();
  TokenizedChat out;
  out.ids = std::move(enc->ids);
  out.assistantMask.assign(out.ids.size(), 0);
  size_t span = 0;
  const auto &spans = rendered.assistantSpans;
  for (size_t i = 0; i < out.ids.size(); ++i) {
    auto [b, e] = enc->offsets[i];
    while (span < spans.size() && spans[span].second <= b)
      ++span;
    if (span < spans.size() && b < spans[span].second && e > spans[span].first)
      out.assistantMask[i] = 1;
  }
  return out;
}

Expected<TokenizedChat> tokenizePromptCompletion(const Tokenizer &tokenizer,
                                                 std::string_view prompt,
                                                 std::string_view completion,
                                                 std::string_view eosToken) {
  std::optional<int32_t> eos;
  if (!eosToken.empty()) {
    eos = tokenizer.tokenToId(eosToken);
    if (!eos)
      return Status::error("error: the tokenizer has no token '" +
                           std::string(eosToken) + "' (end of sequence)");
  }
  Expected<std::vector<int32_t>> p = tokenizer.encode(prompt);
  if (!p)
    return p.status();
  Expected<std::vector<int32_t>> c = tokenizer.encode(completion);
  if (!c)
    return c.status();
  TokenizedChat out;
  out.ids = p.take();
  out.assistantMask.assign(out.ids.size(), 0);
  out.ids.insert(out.ids.end(), c->begin(), c->end());
  if (eos)
    out.ids.push_back(*eos);
  out.assistantMask.resize(out.ids.size(), 1);
  return out;
}

} // namespace hone
