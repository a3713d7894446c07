#include "runtime/tokenizer/ChatTemplate.h"

#include <gtest/gtest.h>

using namespace hone;

namespace {

const std::vector<ChatMessage> kChat = {
    {"system", "Be brief."}, {"user", "2+2?"},     {"assistant", "4"},
    {"user", "and 3+3?"},    {"assistant", " 6 "},
};

TEST(ChatTemplate, Names) {
  EXPECT_EQ(*chatTemplateFromName("chatml"), ChatTemplate::ChatML);
  EXPECT_EQ(*chatTemplateFromName("llama3"), ChatTemplate::Llama3);
  Expected<ChatTemplate> bad = chatTemplateFromName("vicuna");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().hint().find("chatml, llama3"), std::string::npos);
}

TEST(ChatTemplate, ChatMLRendering) {
  Expected<RenderedChat> r = renderChat(ChatTemplate::ChatML, kChat, false);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->text, "<|im_start|>system\nBe brief.<|im_end|>\n"
                     "<|im_start|>user\n2+2?<|im_end|>\n"
                     "<|im_start|>assistant\n4<|im_end|>\n"
                     "<|im_start|>user\nand 3+3?<|im_end|>\n"
                     "<|im_start|>assistant\n 6 <|im_end|>\n");
  ASSERT_EQ(r->assistantSpans.size(), 2u);
  auto span = [&](size_t i) {
    return r->text.substr(r->assistantSpans[i].first,
                          r->assistantSpans[i].second -
                              r->assistantSpans[i].first);
  };
  EXPECT_EQ(span(0), "4<|im_end|>");
  EXPECT_EQ(span(1), " 6 <|im_end|>");
  Expected<RenderedChat> g =
      renderChat(ChatTemplate::ChatML, {{"user", "hi"}}, true);
  EXPECT_EQ(g->text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_TRUE(g->assistantSpans.empty());
}

TEST(ChatTemplate, Llama3Rendering) {
  Expected<RenderedChat> r = renderChat(ChatTemplate::Llama3, kChat, true);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
            "2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            "4<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
            "and 3+3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
            "\n\n6<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  ASSERT_EQ(r->assistantSpans.size(), 2u);
  EXPECT_EQ(
      r->text.substr(r->assistantSpans[1].first,
                     r->assistantSpans[1].second - r->assistantSpans[1].first),
      "6<|eot_id|>");
}

TEST(ChatTemplate, BadRole) {
  Expected<RenderedChat> r =
      renderChat(ChatTemplate::ChatML, {{"user", "a"}, {"robot", "b"}}, false);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("message 1 has role 'robot'"),
            std::string::npos);
}

TEST(ChatTemplate, ContinueFinalMessage) {
  // transformers' continue_final_message: the last turn stays open.
  Expected<RenderedChat> r = renderChat(
      ChatTemplate::ChatML, {{"user", "Count."}, {"assistant", "One, two"}},
      false, /*continueFinal=*/true);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->text, "<|im_start|>user\nCount.<|im_end|>\n"
                     "<|im_start|>assistant\nOne, two");
  r = renderChat(ChatTemplate::Llama3,
                 {{"user", "Count."}, {"assistant", " One, two \n"}}, false,
                 true);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->text, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>"
                     "\n\nCount.<|eot_id|><|start_header_id|>assistant"
                     "<|end_header_id|>\n\nOne, two");
  EXPECT_FALSE(
      renderChat(ChatTemplate::ChatML, {{"user", "a"}}, true, true).isOk());
  EXPECT_FALSE(renderChat(ChatTemplate::ChatML, {}, false, true).isOk());
}

TEST(ChatTemplate, NamedTemplatesRefuseToolCalls) {
  ChatMessage call{"assistant", "", json::Value::object(), false};
  call.fields.set("tool_calls", json::Value::array());
  Expected<RenderedChat> r =
      renderChat(ChatTemplate::ChatML, {{"user", "a"}, call}, false);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("message 1 has field 'tool_calls'"),
            std::string::npos)
      << r.status().message();
  ChatMessage noText{"assistant", "", json::Value(), true};
  r = renderChat(ChatTemplate::Llama3, {{"user", "a"}, noText}, false);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("message 1 has no content"),
            std::string::npos);
}

TEST(ChatTemplate, TokenizedAssistantMask) {
  Expected<Tokenizer> tok =
      Tokenizer::character("abcdefghijklmnopqrstuvwxyz0123456789+?. \n",
                           {"<|im_start|>", "<|im_end|>"});
  ASSERT_TRUE(tok.isOk());
  Expected<TokenizedChat> c = tokenizeChat(*tok, ChatTemplate::ChatML,
                                           {{"user", "2+2?"},
                                            {"assistant", "4"},
                                            {"user", "ok"},
                                            {"assistant", "yes"}},
                                           false);
  ASSERT_TRUE(c.isOk()) << c.status().message();
  ASSERT_EQ(c->ids.size(), c->assistantMask.size());
  // The masked tokens are exactly "4<|im_end|>" and "yes<|im_end|>".
  std::vector<int32_t> masked;
  for (size_t i = 0; i < c->ids.size(); ++i)
    if (c->assistantMask[i])
      masked.push_back(c->ids[i]);
  EXPECT_EQ(*tok->decode(masked), "4<|im_end|>yes<|im_end|>");
  int32_t imEnd = *tok->tokenToId("<|im_end|>");
  size_t ends = 0;
  for (int32_t id : masked)
    ends += id == imEnd;
  EXPECT_EQ(ends, 2u);
  // A tokenizer without the template's specials is refused.
  Expected<TokenizedChat> bad =
      tokenizeChat(*tok, ChatTemplate::Llama3, {{"user", "a"}}, true);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("'<|begin_of_text|>'"),
            std::string::npos);
}

TEST(ChatTemplate, PromptCompletionMask) {
  Expected<Tokenizer> tok = Tokenizer::character("0123456789+= ", {"<eos>"});
  ASSERT_TRUE(tok.isOk());
  Expected<TokenizedChat> t =
      tokenizePromptCompletion(*tok, "12+3=", "15", "<eos>");
  ASSERT_TRUE(t.isOk()) << t.status().message();
  EXPECT_EQ(*tok->decode(t->ids), "12+3=15<eos>");
  EXPECT_EQ(t->assistantMask, (std::vector<uint8_t>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_FALSE(tokenizePromptCompletion(*tok, "1", "2", "</s>").isOk());
  EXPECT_FALSE(tokenizePromptCompletion(*tok, "1", "x").isOk());
}

} // namespace
