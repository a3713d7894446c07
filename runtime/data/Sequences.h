// Records to token sequences, as the job trains on them: the text format
// (tokenizer, chat template, EOS and padding tokens) and the tokenization of
// SFT rows, preference completions and generation prompts. Shared by the
// job's batch builders (runtime/job/Batches.h) and the compiler, which
// measures the datasets' real row lengths with this code to choose static
// sequence lengths (frontend/DatasetProbe.h, docs/compiler.md "Shapes from
// the data").
//
// Masks are token-aligned with Transformer's log-prob convention: mask[t] = 1
// when the prediction of token t is trained on; position 0 is never masked in.
#pragma once

#include "runtime/data/Dataset.h"
#include "runtime/base/Status.h"
#include "runtime/tokenizer/ChatTemplate.h"
#include "runtime/tokenizer/Tokenizer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hone::job {

/// How records become token sequences.
struct TextFormat {
  const Tokenizer *tokenizer = nullptr;
  /// nullopt: raw concatenation prompt + completion (+ eos). Set: the
  /// prompt is a user turn, the completion the assistant turn.
  std::optional<ChatTemplate> chat;
  /// The model's own template (the spec's `chat_template: from_model`);
  /// used instead of `chat` when set.
  std::shared_ptr<const ModelChatTemplate> modelChat;
  bool hasChat() const { return chat || modelChat; }
  /// The spec's `chat_template_kwargs` (a JSON object of template
  /// variables) for the model's template; a record's own
  /// `chat_template_kwargs` override them name by name.
  json::Value templateKwargs = json::Value::object();
  /// Appended after a completion in raw mode (and trained on); -1: none.
  int32_t eosToken = -1;
  int32_t padToken = 0;
  /// Longer sequences are cut on the right (prompts: on the left).
  int64_t maxSeqLen = 512;
  /// SFT masks (TRL's options): prompt/completion records train on the
  /// completion only, conversations on the assistant turns only; false:
  /// on every token.
  bool completionOnlyLoss = true;
  bool assistantOnlyLoss = true;
};

/// One tokenized sequence with its token-aligned loss mask.
struct Sequence {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
};

/// SFT sequence of a text / messages / sharegpt / prompt_completion record:
/// text trains on every token, chat formats on assistant tokens, raw
/// prompt_completion on the completion and eos (every token without
/// assistantOnlyLoss / completionOnlyLoss respectively).
Expected<Sequence> tokenizeExample(const TextFormat &fmt, const Example &ex);
/// prompt + given completion (preference/KTO rows), completion masked in.
Expected<Sequence> tokenizePair(const TextFormat &fmt, const Example &ex,
                                const std::string &completion,
                                const std::vector<ChatMessage> &completionMsgs);
/// A generation prompt (chat: ends with the assistant header; a prompt
/// whose last message is the assistant's ends inside that message instead,
/// continue_final_message, as TRL renders it).
Expected<std::vector<int32_t>> tokenizePrompt(const TextFormat &fmt,
                                              const Example &ex);

/// The job's format for `tokenizer` and a chat template name
/// ("no_template": raw text): EOS is the first of <eos>, </s>,
/// <|endoftext|>, <|im_end|>, <|eot_id|> the vocabulary has (none: -1);
/// padding is <pad>, else EOS, else token 0. `tokenizer` must outlive the
/// result.
/// `chatTemplate` "from_model" reads the model's own template from
/// `templateDir` (the tokenizer file's directory; ChatTemplate.h), and its
/// tokenizer_config.json's eos_token becomes the EOS.
/// `templateKwargs`: the spec's chat_template_kwargs (JSON object text;
/// "" or "{}": none), for the model's template only.
Expected<TextFormat> textFormatFor(const Tokenizer &tokenizer,
                                   const std::string &chatTemplate,
                                   const std::string &templateDir,
                                   const std::string &templateKwargs = "");

} // namespace hone::job
