#include "runtime/data/Dataset.h"

#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

using namespace hone;

namespace {

std::string writeJsonl(const std::string &name, const std::string &text) {
  static std::string dir = hone::test::makeTempDir();
  std::string path = dir + "/" + name;
  hone::test::writeText(path, text);
  return path;
}

Expected<DatasetInfo> inspectText(const std::string &text,
                                  size_t max = SIZE_MAX) {
  return inspectDataset(writeJsonl("d.jsonl", text), max);
}

std::string inspectError(const std::string &text) {
  Expected<DatasetInfo> i = inspectText(text);
  EXPECT_FALSE(i.isOk()) << text;
  if (i)
    return std::string();
  // Strip the directory: messages start with the full path.
  std::string m = i.status().message();
  size_t p = m.find("d.jsonl");
  return p == std::string::npos ? m : m.substr(p);
}

TEST(Jsonl, StreamsWithLineNumbers) {
  JsonlReader r =
      JsonlReader::fromString("x.jsonl", "{\"a\": 1}\r\n\n  \n[2]\n\"s\"");
  JsonlRecord rec;
  ASSERT_TRUE(*r.next(rec));
  EXPECT_EQ(rec.line, 1u);
  EXPECT_EQ(rec.value.find("a")->asInt(), 1);
  ASSERT_TRUE(*r.next(rec));
  EXPECT_EQ(rec.line, 4u);
  EXPECT_EQ(rec.byteOffset, 14u);
  ASSERT_TRUE(*r.next(rec));
  EXPECT_EQ(rec.line, 5u);
  EXPECT_FALSE(*r.next(rec));
}

TEST(Jsonl, ErrorsNameFileLineAndColumn) {
  JsonlReader r = JsonlReader::fromString("x.jsonl", "{}\n{}\n{\"a\": [1,}\n");
  JsonlRecord rec;
  ASSERT_TRUE(*r.next(rec));
  ASSERT_TRUE(*r.next(rec));
  Expected<bool> e = r.next(rec);
  ASSERT_FALSE(e.isOk());
  EXPECT_EQ(e.status().message(),
            "x.jsonl:3:10: error: expected a JSON value, found '}' (byte 15)");
  JsonlReader big = JsonlReader::fromString(
      "y.jsonl", "{}\n[" + std::string(100, '1') + "]\n", 64);
  ASSERT_TRUE(*big.next(rec));
  Expected<bool> tooLong = big.next(rec);
  ASSERT_FALSE(tooLong.isOk());
  EXPECT_EQ(tooLong.status().message(),
            "y.jsonl:2:1: error: line is longer than 64 bytes");
}

TEST(Jsonl, FileReaderMatchesMemoryReader) {
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "{\"i\": " + std::to_string(i) + ", \"pad\": \"" +
            std::string(i % 300, 'x') + "\"}\n";
  Expected<JsonlReader> f = JsonlReader::open(writeJsonl("big.jsonl", text));
  ASSERT_TRUE(f.isOk());
  JsonlRecord rec;
  int n = 0;
  while (true) {
    Expected<bool> got = f->next(rec);
    ASSERT_TRUE(got.isOk()) << got.status().message();
    if (!*got)
      break;
    ASSERT_EQ(rec.value.find("i")->asInt(), n);
    ASSERT_EQ(rec.line, static_cast<size_t>(n + 1));
    ++n;
  }
  EXPECT_EQ(n, 5000);
  EXPECT_FALSE(JsonlReader::open("/nonexistent.jsonl").isOk());
}

TEST(Dataset, DetectsEveryLayout) {
  struct Case {
    const char *line;
    DatasetLayout layout;
    bool conversational;
  };
  const Case cases[] = {
      {R"({"text": "hello"})", DatasetLayout::Text, false},
      {R"({"messages": [{"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "yo"}]})",
       DatasetLayout::Messages, false},
      {R"({"prompt": "2+2=", "completion": "4"})",
       DatasetLayout::PromptCompletion, false},
      {R"({"prompt": [{"role": "user", "content": "2+2="}],
           "completion": [{"role": "assistant", "content": "4"}]})",
       DatasetLayout::PromptCompletion, true},
      {R"({"prompt": "q", "chosen": "a", "rejected": "b"})",
       DatasetLayout::Preference, false},
      {R"({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
           "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]})",
       DatasetLayout::Preference, true},
      {R"({"prompt": "q", "completion": "a", "label": true})",
       DatasetLayout::Kto, false},
      {R"({"prompt": "12*3", "answer": 36})", DatasetLayout::PromptAnswer,
       false},
      {R"({"prompt": "sort 3 1 2", "solution": "1 2 3"})",
       DatasetLayout::PromptAnswer, false},
      {R"({"prompt": "x", "ground_truth": "y"})", DatasetLayout::PromptAnswer,
       false},
      {R"({"prompt": "just a prompt", "id": 7})", DatasetLayout::Prompt, false},
      {R"({"conversations": [{"from": "human", "value": "hi"},
                             {"from": "gpt", "value": "hello"}]})",
       DatasetLayout::ShareGPT, false},
  };
  for (const Case &c : cases) {
    std::string line = c.line;
    for (char &ch : line)
      if (ch == '\n')
        ch = ' ';
    Expected<DatasetInfo> info = inspectText(line + "\n" + line + "\n");
    ASSERT_TRUE(info.isOk()) << line << ": " << info.status().message();
    EXPECT_EQ(info->layout, c.layout) << line;
    EXPECT_EQ(info->conversational, c.conversational) << line;
    EXPECT_EQ(info->records, 2u);
    EXPECT_TRUE(info->complete);
  }
}

TEST(Dataset, StreamsTypedExamples) {
  std::string path = writeJsonl(
      "sg.jsonl",
      R"({"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]})"
      "\n");
  Expected<DatasetReader> r = DatasetReader::open(path);
  ASSERT_TRUE(r.isOk());
  Example ex;
  ASSERT_TRUE(*r->next(ex));
  ASSERT_EQ(ex.messages.size(), 3u);
  EXPECT_EQ(ex.messages[1].role, "user");
  EXPECT_EQ(ex.messages[2].role, "assistant");
  EXPECT_EQ(ex.messages[2].content, "yo");
  EXPECT_FALSE(*r->next(ex));

  JsonlReader j = JsonlReader::fromString(
      "k.jsonl",
      "{\"prompt\": \"p\", \"completion\": \"c\", \"label\": false}\n"
      "{\"prompt\": \"p2\", \"completion\": \"c2\", \"label\": true}\n");
  Expected<DatasetReader> k = DatasetReader::fromJsonl(std::move(j));
  ASSERT_TRUE(k.isOk());
  ASSERT_TRUE(*k->next(ex));
  EXPECT_FALSE(ex.label);
  EXPECT_EQ(ex.completion, "c");
  ASSERT_TRUE(*k->next(ex));
  EXPECT_TRUE(ex.label);
  EXPECT_EQ(ex.line, 2u);
  EXPECT_EQ(k->info().desirable, 1u);
  EXPECT_EQ(k->info().undesirable, 1u);

  Expected<DatasetInfo> a =
      inspectText("{\"prompt\": \"1+1\", \"answer\": 2.5}\n");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->answerColumn, "answer");
}

TEST(Dataset, ResumeFromPosition) {
  std::string text;
  for (int i = 0; i < 6; ++i)
    text +=
        "{\"text\": \"t" + std::to_string(i) + "\"}\n" + (i == 2 ? "\n" : "");
  for (bool fromFile : {false, true}) {
    Expected<DatasetReader> r =
        fromFile ? DatasetReader::open(writeJsonl("resume.jsonl", text))
                 : DatasetReader::fromJsonl(
                       JsonlReader::fromString("m.jsonl", text));
    ASSERT_TRUE(r.isOk());
    EXPECT_EQ(r->position().byteOffset, 0u);
    Example ex;
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(*r->next(ex));
    JsonlPosition pos = r->position();
    ASSERT_TRUE(*r->next(ex));
    EXPECT_EQ(ex.text, "t3");
    EXPECT_EQ(ex.line, 5u);
    ASSERT_TRUE(*r->next(ex));
    ASSERT_TRUE(r->seek(pos).isOk());
    ASSERT_TRUE(*r->next(ex));
    EXPECT_EQ(ex.text, "t3");
    EXPECT_EQ(ex.line, 5u);
    ASSERT_TRUE(r->seek({0, 0}).isOk());
    ASSERT_TRUE(*r->next(ex));
    EXPECT_EQ(ex.text, "t0");
  }
}

TEST(Dataset, MaxRecords) {
  std::string text;
  for (int i = 0; i < 10; ++i)
    text += "{\"text\": \"t\"}\n";
  Expected<DatasetInfo> i = inspectText(text, 4);
  ASSERT_TRUE(i.isOk());
  EXPECT_EQ(i->records, 4u);
  EXPECT_FALSE(i->complete);
  i = inspectText(text);
  EXPECT_EQ(i->records, 10u);
  EXPECT_TRUE(i->complete);
}

TEST(Dataset, ErrorsPointAtTheRecord) {
  EXPECT_EQ(inspectError("{\"text\": \"a\"}\n{\"text\": 3}\n"),
            "d.jsonl:2:10: error: 'text' is a number, expected a string");
  EXPECT_EQ(
      inspectError("{\"prompt\": \"a\", \"completion\": \"b\"}\n\n"
                   "{\"prompt\": \"a\"}\n"),
      "d.jsonl:3:1: error: record lacks 'completion' (layout "
      "prompt_completion, columns prompt/completion, detected on line 1)");
  EXPECT_EQ(inspectError("{\"foo\": 1}\n"),
            "d.jsonl:1:1: error: cannot detect the dataset layout from columns "
            "{foo}");
  EXPECT_EQ(inspectError("[1, 2]\n"),
            "d.jsonl:1:1: error: record is an array, expected an object");
  EXPECT_EQ(inspectError("{\"text\": \"a\"}\n7\n"),
            "d.jsonl:2:1: error: record is a number, expected an object");
  EXPECT_EQ(inspectError("{\"prompt\": \"a\", \"completion\": \"b\", "
                         "\"label\": \"yes\"}\n"),
            "d.jsonl:1:45: error: 'label' is a string, expected true or false");
  EXPECT_EQ(
      inspectError(R"({"messages": [{"role": "user", "content": "a"}]})"
                   "\n"
                   R"({"messages": [{"role": "wizard", "content": "a"}]})"),
      "d.jsonl:2:24: error: unknown role 'wizard'");
  EXPECT_EQ(inspectError(R"({"messages": [{"role": "user"}]})"),
            "d.jsonl:1:15: error: message needs a string 'content'");
  EXPECT_EQ(inspectError(R"({"messages": []})"),
            "d.jsonl:1:14: error: 'messages' is an empty list of messages");
  // Records that disagree on strings vs message lists.
  EXPECT_EQ(
      inspectError(
          R"({"prompt": "q", "chosen": "a", "rejected": "b"})"
          "\n"
          R"({"prompt": "q", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"})"),
      "d.jsonl:2:27: error: 'chosen' is an array, but line 1 uses "
      "strings");
  EXPECT_EQ(inspectError("{\"text\": \"a\"}\n{\"text\": \"b\"\n"),
            "d.jsonl:2:13: error: unterminated object (expected ',' or '}') "
            "(byte 26)");
  EXPECT_EQ(inspectError(""), "d.jsonl: error: dataset has no records");
  EXPECT_EQ(inspectError("{\"prompt\": \"a\", \"answer\": [1]}\n"),
            "d.jsonl:1:27: error: 'answer' is an array, expected a string or "
            "a number");
  EXPECT_EQ(inspectError("{\"text\": \"\xFF\"}\n"),
            "d.jsonl:1:11: error: invalid UTF-8 in string (byte 10)");
}

TEST(Dataset, CustomColumns) {
  DatasetOptions o;
  o.columns.prompt = "question";
  o.columns.answer = "final";
  std::string path = writeJsonl(
      "qa.jsonl", "{\"question\": \"1+1\", \"final\": \"2\", \"answer\": 9}\n"
                  "{\"question\": \"2+2\", \"final\": 4}\n");
  Expected<DatasetReader> r = DatasetReader::open(path, o);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->layout(), DatasetLayout::PromptAnswer);
  EXPECT_EQ(r->info().answerColumn, "final");
  Example ex;
  ASSERT_TRUE(*r->next(ex));
  EXPECT_EQ(ex.prompt, "1+1");
  EXPECT_EQ(ex.answer, "2");
  ASSERT_TRUE(*r->next(ex));
  EXPECT_EQ(ex.answer, "4");

  DatasetOptions m;
  m.columns.messages = "turns";
  m.columns.role = "speaker";
  m.columns.content = "text";
  m.columns.roleNames = {{"bot", "assistant"}, {"human", "user"}};
  Expected<DatasetInfo> info = inspectDataset(
      writeJsonl(
          "turns.jsonl",
          R"({"turns": [{"speaker": "human", "text": "hi"}, {"speaker": "bot", "text": "yo"}]})"
          "\n"
          R"({"turns": [{"speaker": "alien", "text": "hi"}]})"),
      SIZE_MAX, m);
  ASSERT_FALSE(info.isOk());
  EXPECT_NE(info.status().message().find(":2:24: error: unknown role 'alien'"),
            std::string::npos)
      << info.status().message();
  m.columns.roleNames["alien"] = "user";
  info = inspectDataset(
      writeJsonl("turns2.jsonl",
                 R"({"turns": [{"speaker": "alien", "text": "hi"}]})"),
      SIZE_MAX, m);
  ASSERT_TRUE(info.isOk()) << info.status().message();
  EXPECT_EQ(info->layout, DatasetLayout::Messages);
}

TEST(Dataset, ExpectedLayoutAndUse) {
  std::string path = writeJsonl("t.jsonl", "{\"text\": \"a\"}\n");
  Expected<DatasetReader> r =
      DatasetReader::open(path, DatasetLayout::PromptCompletion);
  ASSERT_TRUE(r.isOk());
  Example ex;
  Expected<bool> e = r->next(ex);
  ASSERT_FALSE(e.isOk());
  EXPECT_NE(e.status().message().find("record lacks 'prompt'"),
            std::string::npos);

  Expected<DatasetInfo> info = inspectDataset(path);
  ASSERT_TRUE(info.isOk());
  EXPECT_TRUE(checkDatasetUse(*info, DatasetUse::SFT, path).isOk());
  Status s = checkDatasetUse(*info, DatasetUse::Preference, "t.jsonl");
  EXPECT_EQ(s.message(), "t.jsonl: error: dataset layout 'text' (text) cannot "
                         "feed a preference stage");
  EXPECT_FALSE(checkDatasetUse(*info, DatasetUse::RLPrompts, path).isOk());
  EXPECT_EQ(*datasetLayoutFromName("sharegpt"), DatasetLayout::ShareGPT);
  EXPECT_FALSE(datasetLayoutFromName("csv").isOk());
}

} // namespace

// Runtime messages are bounded: a 10 MB name quoted in one used to make a
// 10 MB line; the quoted span is cut to 200 bytes with its size.
TEST(Dataset, LongQuotedNamesAreCutInMessages) {
  std::string name(10000000, 'x');
  Expected<DatasetOptions> o = datasetOptionsFromSpec("", {{name, "a"}});
  ASSERT_FALSE(o.isOk());
  const std::string &m = o.status().message();
  EXPECT_LT(m.size(), 300u) << m.substr(0, 300);
  EXPECT_EQ(m, "error: unknown dataset column '" + name.substr(0, 200) +
                   "...' (10000000 bytes)");
  // Short messages, and long ones without quotes (cut at 2000 bytes), too.
  EXPECT_EQ(boundMessage("it's 'short'"), "it's 'short'");
  std::string plain = boundMessage(std::string(5000, 'y'));
  EXPECT_EQ(plain, std::string(2000, 'y') + "...(5000 bytes)");
}
