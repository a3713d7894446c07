// Unit tests of runtime/job/Batches: masks token-aligned with log-probs,
// prompt, preference and KTO batches, the seeded shuffle and the data
// cursor, dataset options from the spec.
#include "test/unit/job/JobTestUtil.h"

#include "runtime/data/HeldBytes.h"

#include <malloc.h>

using namespace hone;
using namespace hone::job;
using namespace hone::test;
using namespace hone::toydata;

TEST(Batches, SftMaskIsTokenAlignedWithLogprobs) {
  Tokenizer tok = toyTok();
  auto dl = DataLoader::fromJsonl(
      "d.jsonl", "{\"prompt\":\"1+2=\",\"completion\":\"3\"}\n"
                 "{\"prompt\":\"10+20=\",\"completion\":\"30\"}\n",
      0, false);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  fmt.eosToken = 1;
  auto b = makeSftBatch(fmt, *dl, {0, 1});
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  ASSERT_EQ(b->batch, 2);
  ASSERT_EQ(b->seqLen, 9); // "10+20=" + "30" + eos
  EXPECT_EQ(b->lengths[0], 6);
  // row 0: 1 + 2 = | 3 eos  -> mask on tokens 4 ('3') and 5 (eos)
  std::vector<float> want0 = {0, 0, 0, 0, 1, 1, 0, 0, 0};
  for (int t = 0; t < 9; ++t)
    EXPECT_EQ(b->mask[size_t(t)], want0[size_t(t)]) << t;
  EXPECT_EQ(b->tokens[5], 1);        // eos
  EXPECT_EQ(b->tokens[6], 0);        // pad
  EXPECT_EQ(b->maskedTokens(), 2 + 3);
  // completion_only_loss: false trains on the prompt too (TRL).
  fmt.completionOnlyLoss = false;
  auto all = makeSftBatch(fmt, *dl, {0, 1});
  ASSERT_TRUE(all.isOk());
  EXPECT_EQ(all->maskedTokens(), 5 + 8); // all but each row's first token
  EXPECT_EQ(all->tokens, b->tokens);
}

/// An empty completion still trains the EOS token after the prompt
/// (docs/formats.md); it used to be read as an empty text record, which
/// trained nothing and dropped the prompt.
TEST(Batches, EmptyCompletionTrainsEos) {
  Tokenizer tok = toyTok();
  auto dl = DataLoader::fromJsonl(
      "d.jsonl", "{\"prompt\":\"1+2=\",\"completion\":\"\"}\n", 0, false);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  fmt.eosToken = 1;
  auto b = makeSftBatch(fmt, *dl, {0});
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  ASSERT_EQ(b->seqLen, 5); // "1+2=" + eos
  std::vector<float> want = {0, 0, 0, 0, 1};
  for (int t = 0; t < 5; ++t)
    EXPECT_EQ(b->mask[size_t(t)], want[size_t(t)]) << t;
  EXPECT_EQ(b->tokens[4], 1);
}

// assistant_only_loss: a conversation trains on the assistant turns only,
// or (false) on every token of the rendered conversation.
TEST(Batches, AssistantOnlyLoss) {
  std::vector<std::string> special = toySpecialTokens();
  special.push_back("<|im_start|>");
  special.push_back("<|im_end|>");
  std::string chars = toyVocabulary();
  for (char c : std::string("\nasistnuer")) // chatml's role names
    if (chars.find(c) == std::string::npos)
      chars += c;
  auto t = Tokenizer::character(chars, special);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  Tokenizer tok = t.take();
  auto dl = DataLoader::fromJsonl(
      "m.jsonl",
      "{\"messages\":[{\"role\":\"user\",\"content\":\"1+2=\"},"
      "{\"role\":\"assistant\",\"content\":\"3\"}]}\n",
      0, false);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  fmt.eosToken = 1;
  fmt.chat = ChatTemplate::ChatML;
  auto a = tokenizeExample(fmt, dl->example(0));
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  size_t on = 0;
  for (uint8_t m : a->mask)
    on += m;
  EXPECT_GT(on, 0u);
  EXPECT_LT(on, a->ids.size());
  fmt.assistantOnlyLoss = false;
  auto b = tokenizeExample(fmt, dl->example(0));
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b->ids, a->ids);
  EXPECT_EQ(b->mask, std::vector<uint8_t>(b->ids.size(), 1));
}

TEST(Batches, PromptBatchRepeatsGroupsWithAnswers) {
  Tokenizer tok = toyTok();
  auto dl = DataLoader::fromJsonl(
      "p.jsonl", "{\"prompt\":\"1+1=\",\"answer\":\"2\",\"id\":7}\n"
                 "{\"prompt\":\"2+2=\",\"answer\":4,\"id\":8}\n",
      0, false);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  auto pb = makePromptBatch(fmt, *dl, {1, 0}, 3);
  ASSERT_TRUE(pb.isOk());
  ASSERT_EQ(pb->prompts.size(), 6u);
  EXPECT_EQ(pb->answers[0], "4");
  EXPECT_EQ(pb->answers[3], "2");
  EXPECT_EQ(pb->prompts[0], pb->prompts[2]);
  EXPECT_EQ(pb->records[4].find("id")->asInt(), 7);
}

TEST(Batches, PreferenceAndKto) {
  Tokenizer tok = toyTok();
  TextFormat fmt;
  fmt.tokenizer = &tok;
  auto pref = DataLoader::fromJsonl(
      "pref.jsonl",
      "{\"prompt\":\"q: \",\"chosen\":\"yes\",\"rejected\":\"no\"}\n", 0,
      false);
  ASSERT_TRUE(pref.isOk()) << pref.status().toString();
  auto pb = makePreferenceBatch(fmt, *pref, {0});
  ASSERT_TRUE(pb.isOk());
  EXPECT_EQ(pb->pairs, 1);
  EXPECT_EQ(pb->seqs.batch, 2);
  EXPECT_EQ(pb->seqs.lengths[0], 6);
  EXPECT_EQ(pb->seqs.lengths[1], 5);
  EXPECT_EQ(pb->seqs.mask[3], 1.f); // 'y'
  EXPECT_EQ(pb->seqs.mask[2], 0.f);
  auto kto = DataLoader::fromJsonl(
      "kto.jsonl", "{\"prompt\":\"a\",\"completion\":\"b\",\"label\":true}\n"
                   "{\"prompt\":\"a\",\"completion\":\"c\",\"label\":false}\n",
      0, false);
  ASSERT_TRUE(kto.isOk()) << kto.status().toString();
  auto kb = makeKtoBatch(fmt, *kto, {0, 1});
  ASSERT_TRUE(kb.isOk());
  EXPECT_EQ(kb->labels, (std::vector<float>{1, 0}));
}

TEST(Batches, ShuffleIsSeededAndCursorResumes) {
  std::string s;
  for (int i = 0; i < 10; ++i)
    s += "{\"text\":\"" + std::to_string(i) + "\"}\n";
  auto a = DataLoader::fromJsonl("t.jsonl", s, 5);
  auto b = DataLoader::fromJsonl("t.jsonl", s, 5);
  ASSERT_TRUE(a.isOk() && b.isOk());
  auto first = a->take(7);
  json::Value cur = a->cursorJson();
  auto rest = a->take(13); // wraps into epochs 1 and 2
  ASSERT_TRUE(b->setCursorJson(cur).isOk());
  EXPECT_EQ(b->take(13), rest);
  // each epoch is a permutation
  auto c = DataLoader::fromJsonl("t.jsonl", s, 5);
  auto e0 = c->take(10);
  std::sort(e0.begin(), e0.end());
  for (size_t i = 0; i < 10; ++i)
    EXPECT_EQ(e0[i], i);
  auto other = DataLoader::fromJsonl("t.jsonl", s, 6);
  EXPECT_NE(other->take(7), first);
  json::Value bad = json::Value::object();
  EXPECT_FALSE(b->setCursorJson(bad).isOk());
}

/// The spec's column names and layout reach the reader (the job reads the
/// data as the compiler checked it), max_records keeps the head of the file
/// and an eval split takes its tail, unshuffled, out of the training data.
TEST(Batches, SpecColumnsAndEvalSplit) {
  std::string path = tmpDir("columns") + ".jsonl";
  {
    std::ofstream f(path);
    for (int i = 0; i < 10; ++i)
      f << "{\"q\":\"" << i << "+1=\",\"r\":\"" << i + 1 << "\"}\n";
  }
  auto opts = datasetOptionsFromSpec("prompt_completion",
                                     {{"prompt", "q"}, {"completion", "r"}});
  ASSERT_TRUE(opts.isOk()) << opts.status().toString();
  auto dl = DataLoader::open(path, *opts, 3, true);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  EXPECT_EQ(dl->info().layout, DatasetLayout::PromptCompletion);
  dl->keepFirst(8);
  DataLoader held = dl->splitTail(2);
  ASSERT_EQ(dl->size(), 6u);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held.example(0).prompt, "6+1=");
  EXPECT_EQ(held.example(1).completion, "8");
  EXPECT_EQ(held.take(3), (std::vector<size_t>{0, 1, 0})); // file order
  auto idx = dl->take(6);
  std::sort(idx.begin(), idx.end());
  EXPECT_EQ(idx, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
  // Without the mapping the file is not prompt_completion data.
  auto plain = datasetOptionsFromSpec("prompt_completion", {});
  ASSERT_TRUE(plain.isOk());
  EXPECT_FALSE(DataLoader::open(path, *plain, 3, true).isOk());
  EXPECT_FALSE(datasetOptionsFromSpec("prompt_completion", {{"prompts", "q"}})
                   .isOk());
  EXPECT_FALSE(datasetOptionsFromSpec("pairs", {}).isOk());
  std::remove(path.c_str());
}

namespace {
/// Bytes malloc has handed out and not had back, chunk headers included
/// (glibc: in-use chunks of every arena plus mmap'd blocks).
int64_t mallocInUse() {
  struct mallinfo2 m = mallinfo2();
  return int64_t(m.uordblks + m.hblkhd);
}
/// What a loader holds, as the job counts it for the memory check
/// (runtime/ops/Objects.cpp, objDataset).
int64_t loaderHeld(const DataLoader &d) {
  int64_t n = loaderArrayBytes(int64_t(d.size()));
  for (size_t i = 0; i < d.size(); ++i)
    n += heapBytes(d.example(i)) + heapBytes(d.record(i));
  return n;
}
} // namespace

/// The memory plan's dataset row (the compiler's count of the file,
/// datasetFileHeldBytes) equals what the job's loader holds by the same
/// count, whole and cut by max_records, and that count is what malloc
/// really handed out for the loader (mallinfo2, within 2 %): a field the
/// count forgets, or a loader array left longer than its records, fails.
TEST(Batches, HeldBytesAreWhatTheLoaderAllocates) {
  std::string path = tmpDir("held") + ".jsonl";
  {
    std::ofstream f(path);
    for (int i = 0; i < 3000; ++i) {
      f << "{\"prompt\":\"what is " << i << " plus " << i % 7
        << "? and a longer tail to leave the small-string buffer\","
        << "\"completion\":\"" << i + i % 7 << "\",\"id\":" << i
        << ",\"meta\":{\"tags\":[\"a\",\"b\",\"" << std::string(i % 40, 'x')
        << "\"],\"score\":" << i * 0.5 << "}}\n";
    }
  }
  auto opts = datasetOptionsFromSpec("prompt_completion", {});
  ASSERT_TRUE(opts.isOk()) << opts.status().toString();
  auto planned = datasetFileHeldBytes(path, *opts);
  ASSERT_TRUE(planned.isOk()) << planned.status().toString();
  int64_t before = mallocInUse();
  auto dl = DataLoader::open(path, *opts, 3, true);
  ASSERT_TRUE(dl.isOk()) << dl.status().toString();
  int64_t allocated = mallocInUse() - before;
  EXPECT_EQ(loaderHeld(*dl), *planned);
  EXPECT_NEAR(double(allocated), double(*planned), 0.02 * double(*planned))
      << "malloc handed out " << allocated << " bytes, the count says "
      << *planned;
  EXPECT_GT(*planned, 3000 * int64_t(sizeof(Example)));
  // max_records: the head of the file, exactly as the compiler counts it.
  dl->keepFirst(1000);
  auto head = datasetFileHeldBytes(path, *opts, 1000);
  ASSERT_TRUE(head.isOk());
  EXPECT_EQ(loaderHeld(*dl), *head);
  EXPECT_LT(*head, *planned / 2);
  std::remove(path.c_str());
}
