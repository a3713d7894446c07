// Chat templates by name (the spec's `chat_template`): render a message list
// to text and report which bytes (and, once tokenized, which tokens) are
// assistant content, so SFT can mask everything else out of the loss.
#pragma once

#include "runtime/base/Status.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone {

struct ChatMessage {
  std::string role; // "system", "user", "assistant", "tool"
  std::string content;
};

enum class ChatTemplate {
  ChatML, // <|im_start|>ROLE\nCONTENT<|im_end|>\n   (Qwen2 and others)
  Llama3, // <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\n
          // CONTENT<|eot_id|>   (content trimmed, as Meta's template does)
};

/// "chatml" or "llama3"; anything else is an error listing the names.
Expected<ChatTemplate> chatTemplateFromName(std::string_view name);
const char *chatTemplateName(ChatTemplate t);
/// The special tokens a template writes; a tokenizer must have them all.
std::vector<std::string> chatTemplateSpecialTokens(ChatTemplate t);

struct RenderedChat {
  std::string text;
  /// Byte ranges [first, second) of assistant turns: the content plus the
  /// turn's end token (<|im_end|> / <|eot_id|>), so the model learns to stop.
  std::vector<std::pair<size_t, size_t>> assistantSpans;
};

/// Renders messages; with addGenerationPrompt the text ends with the header
/// of a new assistant turn. Roles other than system/user/assistant/tool are
/// an error naming the message index.
Expected<RenderedChat> renderChat(ChatTemplate t,
                                  const std::vector<ChatMessage> &messages,
                                  bool addGenerationPrompt);

struct TokenizedChat {
  std::vector<int32_t> ids;
  /// 1 for tokens that overlap an assistant span (the SFT loss mask).
  std::vector<uint8_t> assistantMask;
};

/// Renders and tokenizes (special tokens parsed, no post-processor: the
/// templates write their own BOS). Errors when the tokenizer lacks one of
/// the template's special tokens.
Expected<TokenizedChat> tokenizeChat(const Tokenizer &tokenizer, ChatTemplate t,
                                     const std::vector<ChatMessage> &messages,
                                     bool addGenerationPrompt);

/// Plain (non-chat) prompt/completion: the prompt and the completion are
/// encoded separately and concatenated, so the boundary is exact and the
/// completion tokens are those a policy would generate after the prompt;
/// `eosToken` (when not empty) is appended to the completion. The mask is 1
/// on completion tokens (and the EOS).
Expected<TokenizedChat>
tokenizePromptCompletion(const Tokenizer &tokenizer, std::string_view prompt,
                         std::string_view completion,
                         std::string_view eosToken = {});

} // namespace hone
