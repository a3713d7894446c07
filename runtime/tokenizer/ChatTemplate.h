// Chat templates by name (the spec's `chat_template`): render a message list
// to text and report which bytes (and, once tokenized, which tokens) are
// assistant content, so SFT can mask everything else out of the loss.
#pragma once

#include "runtime/base/Json.h"
#include "runtime/base/Status.h"
#include "runtime/tokenizer/Jinja.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <memory>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hone {

struct ChatMessage {
  std::string role; // "system", "user", "assistant", "tool"
  std::string content;
  /// The message's other fields as the data has them (tool_calls,
  /// tool_call_id, name, reasoning_content, ...): a JSON object, or null
  /// when it has none. A model's own template sees them; the named
  /// templates refuse a message that has any (they cannot render them).
  json::Value fields;
  /// `content` was null (an assistant turn that only calls tools).
  bool contentNull = false;
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
/// of a new assistant turn; with continueFinal it ends right after the last
/// message's content (no end-of-turn token: the model continues that
/// message, transformers' continue_final_message). Roles other than
/// system/user/assistant/tool, and messages with `fields` (tool calls,
/// reasoning), are errors naming the message index.
Expected<RenderedChat> renderChat(ChatTemplate t,
                                  const std::vector<ChatMessage> &messages,
                                  bool addGenerationPrompt,
                                  bool continueFinal = false);

struct TokenizedChat {
  std::vector<int32_t> ids;
  /// 1 for tokens that overlap an assistant span (the SFT loss mask).
  std::vector<uint8_t> assistantMask;
};

/// Tokenizes a rendered conversation with `limit`'s maxTokens and keepLast
/// (special tokens are parsed, no post-processor: the templates write
/// their own BOS); the mask marks tokens that overlap an assistant span.
/// Shared by both kinds of template.
Expected<TokenizedChat> tokenizeRendered(const Tokenizer &tokenizer,
                                         const RenderedChat &rendered,
                                         const EncodeOptions &limit = {});

/// Renders and tokenizes (tokenizeRendered). Errors when the tokenizer
/// lacks one of the template's special tokens. `limit`: the first (or with
/// keepLast the last) maxTokens ids only, in memory that follows the limit
/// (runtime/data/Sequences.cpp cuts rows so).
Expected<TokenizedChat> tokenizeChat(const Tokenizer &tokenizer, ChatTemplate t,
                                     const std::vector<ChatMessage> &messages,
                                     bool addGenerationPrompt,
                                     bool continueFinal = false,
                                     const EncodeOptions &limit = {});

/// Plain (non-chat) prompt/completion: the prompt and the completion are
/// encoded separately and concatenated, so the boundary is exact and the
/// completion tokens are those a policy would generate after the prompt;
/// `eosToken` (when not empty) is appended to the completion. The mask is 1
/// on completion tokens (and the EOS).
Expected<TokenizedChat>
tokenizePromptCompletion(const Tokenizer &tokenizer, std::string_view prompt,
                         std::string_view completion,
                         std::string_view eosToken = {});

// ---- A model's own template (docs/formats.md, "Model chat templates") ----

/// The `chat_template` of a Hugging Face model directory, rendered with the
/// Jinja subset of runtime/tokenizer/Jinja.h as transformers'
/// apply_chat_template does.
struct ModelChatTemplate {
  /// The file the template came from (for messages).
  std::string source;
  /// The template (the "default" one of the named-list form).
  std::shared_ptr<const jinja::Template> main;
  /// The named-list form's "tool_use" template, used when tools are given;
  /// may be null.
  std::shared_ptr<const jinja::Template> toolUse;
  /// bos_token, eos_token, ... from tokenizer_config.json (strings), passed
  /// to the template as transformers passes special_tokens_map.
  std::vector<std::pair<std::string, std::string>> specialTokens;
};

/// Where a directory's template is: `chat_template.jinja` (which wins, as
/// in transformers) or `tokenizer_config.json` holding `chat_template`; ""
/// when neither has one. Errors only for an unreadable/invalid
/// tokenizer_config.json.
Expected<std::string> findModelChatTemplate(const std::string &dir);
/// Loads and parses the directory's template (an error when it has none).
Expected<ModelChatTemplate> loadModelChatTemplate(const std::string &dir);
/// From template text (tests, tools); `source` names it in messages.
Expected<ModelChatTemplate> modelChatTemplateFromText(
    std::string_view text, std::string source,
    std::vector<std::pair<std::string, std::string>> specialTokens = {});

struct ChatOptions {
  bool addGenerationPrompt = false;
  /// JSON schemas of the tools (a list), or null: no tools (the template
  /// sees `tools` = none, as transformers passes it).
  json::Value tools;
  /// More template variables (e.g. {"enable_thinking": false}).
  json::Value kwargs = json::Value::object();
  /// transformers' continue_final_message: the text ends inside the last
  /// message, right after its content, so that generation continues it
  /// (TRL renders a prompt whose last message is the assistant's so). Not
  /// together with addGenerationPrompt.
  bool continueFinalMessage = false;
  /// For `strftime_now` (seconds since the epoch); < 0: the clock, or
  /// SOURCE_DATE_EPOCH when set.
  int64_t now = -1;
  /// The token limit of tokenizeChat (tokenizeRendered): maxTokens and
  /// keepLast are read.
  EncodeOptions limit;
};

/// Renders `messages` (a JSON list of message objects: role, content and
/// any other fields the template reads, e.g. tool_calls,
/// reasoning_content). Assistant spans: the template's `{% generation %}`
/// blocks when it has them; otherwise the output of each loop iteration
/// over an assistant message, less what the generation prompt would have
/// written (the turn header) and trailing whitespace.
Expected<RenderedChat> renderChat(const ModelChatTemplate &t,
                                  const json::Value &messages,
                                  const ChatOptions &options);
Expected<RenderedChat> renderChat(const ModelChatTemplate &t,
                                  const std::vector<ChatMessage> &messages,
                                  bool addGenerationPrompt);
/// Messages as the template sees them: {role, content, ...fields}.
json::Value chatMessagesJson(const std::vector<ChatMessage> &messages);
/// Renders and tokenizes (special tokens parsed, no post-processor, as
/// apply_chat_template(tokenize=True) does); the mask marks tokens that
/// overlap an assistant span.
Expected<TokenizedChat> tokenizeChat(const Tokenizer &tokenizer,
                                     const ModelChatTemplate &t,
                                     const json::Value &messages,
                                     const ChatOptions &options);
Expected<TokenizedChat> tokenizeChat(const Tokenizer &tokenizer,
                                     const ModelChatTemplate &t,
                                     const std::vector<ChatMessage> &messages,
                                     bool addGenerationPrompt);
/// The compile-time check: renders a probe conversation (system, user,
/// assistant, user; with and without the generation prompt) and requires
/// the assistant turn to be found.
Status checkModelChatTemplate(const ModelChatTemplate &t);

} // namespace hone
