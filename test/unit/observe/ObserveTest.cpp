// Observability: CRC32C vectors, TFRecord framing, TensorBoard event files
// (read back by us and, where installed, by TensorBoard's EventAccumulator),
// metrics.jsonl (torn lines, resume), progress output and the HTML report.
#include "runtime/formats/AtomicFile.h"
#include "runtime/observe/Crc32c.h"
#include "runtime/observe/Metrics.h"
#include "runtime/observe/Progress.h"
#include "runtime/observe/Report.h"
#include "runtime/observe/TfEvents.h"
#include "runtime/observe/Trace.h"
#include "runtime/base/Json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <unistd.h>

#include "test/unit/TestDirs.h"
#include "test/unit/TestUtil.h"

using namespace hone;
using namespace hone::observe;

namespace {

std::string makeTempDir() { return test::makeTempDir("observe"); }
using test::listDir;

void appendRaw(const std::string &path, const std::string &s) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << s;
}

// A small XML well-formedness check: balanced tags, quoted attributes, known
// entities. Enough to catch a broken SVG.
::testing::AssertionResult wellFormed(const std::string &x) {
  std::vector<std::string> stack;
  size_t i = 0;
  while (i < x.size()) {
    if (x[i] == '&') {
      size_t semi = x.find(';', i);
      if (semi == std::string::npos || semi - i > 6)
        return ::testing::AssertionFailure() << "bare & at " << i;
      std::string ent = x.substr(i, semi - i + 1);
      if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" &&
          ent != "&quot;" && ent != "&#39;")
        return ::testing::AssertionFailure() << "entity " << ent;
      i = semi + 1;
      continue;
    }
    if (x[i] == '>')
      return ::testing::AssertionFailure() << "stray > at " << i;
    if (x[i] != '<') {
      ++i;
      continue;
    }
    if (x.compare(i, 2, "<!") == 0) {
      i = x.find('>', i) + 1;
      continue;
    }
    size_t j = i + 1;
    bool closing = j < x.size() && x[j] == '/';
    if (closing)
      ++j;
    size_t nameEnd = j;
    while (nameEnd < x.size() && (std::isalnum((unsigned char)x[nameEnd]) ||
                                  x[nameEnd] == '-' || x[nameEnd] == ':'))
      ++nameEnd;
    std::string name = x.substr(j, nameEnd - j);
    if (name.empty())
      return ::testing::AssertionFailure() << "bad tag at " << i;
    // Attributes: name="value" with no '<' inside values.
    size_t k = nameEnd;
    bool selfClosing = false;
    for (;;) {
      while (k < x.size() && std::isspace((unsigned char)x[k]))
        ++k;
      if (k >= x.size())
        return ::testing::AssertionFailure() << "unterminated tag " << name;
      if (x[k] == '>') {
        ++k;
        break;
      }
      if (x.compare(k, 2, "/>") == 0) {
        selfClosing = true;
        k += 2;
        break;
      }
      size_t eq = x.find('=', k);
      if (eq == std::string::npos || x[eq + 1] != '"')
        return ::testing::AssertionFailure()
               << "unquoted attribute in <" << name << "> at " << k;
      size_t endq = x.find('"', eq + 2);
      if (x.substr(eq + 2, endq - eq - 2).find('<') != std::string::npos)
        return ::testing::AssertionFailure() << "< in attribute";
      k = endq + 1;
    }
    if (closing) {
      if (stack.empty() || stack.back() != name)
        return ::testing::AssertionFailure()
               << "</" << name << "> closes <"
               << (stack.empty() ? "" : stack.back()) << ">";
      stack.pop_back();
    } else if (!selfClosing && name != "meta") {
      stack.push_back(name);
    }
    i = k;
  }
  if (!stack.empty())
    return ::testing::AssertionFailure() << "unclosed <" << stack.back() << ">";
  return ::testing::AssertionSuccess();
}

size_t countOf(const std::string &s, const std::string &what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos;
       p = s.find(what, p + 1))
    ++n;
  return n;
}

} // namespace

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  // RFC 3720 (iSCSI) B.4 test vectors.
  std::string zeros(32, '\0'), ones(32, '\xff'), inc(32, 0), dec(32, 0);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<char>(i);
    dec[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(crc32c(dec), 0x113FDB5Cu);
  // Incremental equals one-shot at every split point.
  std::string text = "The quick brown fox jumps over the lazy dog 0123456789";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    uint32_t c = crc32c(text.data(), cut);
    c = crc32c(text.data() + cut, text.size() - cut, c);
    ASSERT_EQ(c, crc32c(text));
  }
  for (uint32_t v : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu})
    EXPECT_EQ(unmaskCrc(maskCrc(v)), v);
}

TEST(TfRecord, FrameSplitCorruptTruncate) {
  std::string data = frameRecord("hello") + frameRecord("") +
                     frameRecord(std::string(1000, 'x'));
  bool torn = true;
  auto recs = splitRecords(data, "t", &torn);
  ASSERT_TRUE(recs.isOk()) << recs.status().message();
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_EQ((*recs)[0], "hello");
  EXPECT_EQ((*recs)[1], "");
  EXPECT_EQ((*recs)[2].size(), 1000u);
  EXPECT_FALSE(torn);
  // Known framing of "hello": length 5, then masked CRCs.
  EXPECT_EQ(data.size(), 16u + 5 + 16 + 16 + 1000);
  // Every truncation point: either whole records or a torn tail, no error.
  for (size_t cut = 0; cut < data.size(); cut += 7) {
    auto r = splitRecords(std::string_view(data).substr(0, cut), "t", &torn);
    ASSERT_TRUE(r.isOk());
  }
  // Flip a payload byte and a length byte.
  std::string bad = data;
  bad[14] ^= 1;
  auto r1 = splitRecords(bad, "t.tfevents");
  ASSERT_FALSE(r1.isOk());
  EXPECT_NE(r1.status().message().find("payload CRC mismatch"),
            std::string::npos);
  bad = data;
  bad[21] ^= 4; // length of the second record
  auto r2 = splitRecords(bad, "t.tfevents");
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("t.tfevents:@21"), std::string::npos)
      << r2.status().message();
}

TEST(TfEvents, WriteAndReadBack) {
  std::string dir = makeTempDir();
  auto w = EventFileWriter::open(dir);
  ASSERT_TRUE(w.isOk()) << w.status().message();
  EXPECT_NE(w->path().find("/events.out.tfevents."), std::string::npos);
  for (int step = 1; step <= 20; ++step)
    ASSERT_TRUE(w->addScalars(step, {{"loss", 3.0 / step},
                                     {"reward", step * 0.1},
                                     {"completions/mean_length", 0.0}},
                              1000.0 + step)
                    .isOk());
  auto c = readEventFile(w->path());
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->fileVersion, "brain.Event:2");
  EXPECT_EQ(c->records, 21u);
  ASSERT_EQ(c->scalars.size(), 60u);
  EXPECT_EQ(c->scalars[3].step, 2);
  EXPECT_EQ(c->scalars[3].tag, "loss");
  EXPECT_EQ(c->scalars[3].value, 1.5f);
  EXPECT_EQ(c->scalars[3].wallTime, 1002.0);
  EXPECT_EQ(c->scalars[5].tag, "completions/mean_length");
  EXPECT_EQ(c->scalars[5].value, 0.0f);

  // A second writer in the same second gets a different file.
  auto w2 = EventFileWriter::open(dir);
  ASSERT_TRUE(w2.isOk());
  EXPECT_NE(w2->path(), w->path());
}

// TensorBoard's own reader, where the Python package is installed.
/// TensorBoard's own EventAccumulator over the event files of `dir`: tag ->
/// [[step, value], ...] as TensorBoard shows them; skips the test (GTEST_SKIP
/// from the caller: empty result) where no Python has `tensorboard`.
static std::optional<json::Value> tensorBoardScalars(const std::string &dir,
                                                     const std::string &work) {
  static const std::string py = test::oraclePython("tensorboard");
  if (py.empty())
    return std::nullopt;
  std::string script = work + "/read.py";
  {
    std::ofstream f(script);
    f << "import json, sys\n"
         "from tensorboard.backend.event_processing import "
         "event_accumulator as ea\n"
         "acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: "
         "0})\n"
         "acc.Reload()\n"
         "out = {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in "
         "acc.Tags()['scalars']}\n"
         "json.dump(out, open(sys.argv[2], 'w'))\n";
  }
  std::string outPath = work + "/out.json";
  std::string cmd = py + " " + script + " " + dir + " " + outPath + " >" +
                    work + "/py.log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << readFile(work + "/py.log").take();
  auto text = readFile(outPath);
  EXPECT_TRUE(text.isOk());
  if (!text)
    return json::Value();
  auto v = json::parse(*text);
  EXPECT_TRUE(v.isOk()) << *text;
  return v ? v.take() : json::Value();
}

TEST(TfEvents, TensorBoardReadsOurFile) {
  std::string dir = makeTempDir(), work = makeTempDir();
  {
    auto m = MetricsLogger::open(dir, {});
    ASSERT_TRUE(m.isOk());
    for (int step = 1; step <= 12; ++step)
      ASSERT_TRUE(m->log(step, {{"loss", 2.0 / step},
                                {"rewards/accuracies", step / 12.0}})
                      .isOk());
  }
  std::optional<json::Value> v = tensorBoardScalars(dir, work);
  if (!v)
    GTEST_SKIP() << "no Python with the `tensorboard` package";
  ASSERT_EQ(v->size(), 2u);
  const json::Value *loss = v->find("loss");
  const json::Value *acc = v->find("rewards/accuracies");
  ASSERT_TRUE(loss && acc);
  ASSERT_EQ(loss->size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(loss->items()[i].items()[0].asInt(), i + 1);
    EXPECT_EQ(static_cast<float>(loss->items()[i].items()[1].asDouble()),
              static_cast<float>(2.0 / (i + 1)));
    EXPECT_EQ(static_cast<float>(acc->items()[i].items()[1].asDouble()),
              static_cast<float>((i + 1) / 12.0));
  }
}

// A run killed after step 9 and resumed from its checkpoint at step 5: the
// new event file starts with SessionLog START at step 6, and TensorBoard
// shows each step once, steps 6-9 with the resumed run's values.
TEST(TfEvents, ResumedRunReplacesStepsAfterTheCheckpoint) {
  std::string dir = makeTempDir(), work = makeTempDir();
  {
    auto m = MetricsLogger::open(dir, {});
    ASSERT_TRUE(m.isOk());
    for (int step = 1; step <= 9; ++step)
      ASSERT_TRUE(m->log(step, {{"loss", 100.0 + step}}).isOk());
  }
  std::vector<std::string> before = listDir(dir);
  {
    MetricsOptions o;
    o.resumeStep = 5;
    auto m = MetricsLogger::open(dir, o);
    ASSERT_TRUE(m.isOk()) << m.status().message();
    for (int step = 6; step <= 12; ++step)
      ASSERT_TRUE(m->log(step, {{"loss", 200.0 + step}}).isOk());
  }
  // Our reader: the new file holds the START record at step 6.
  std::string newest;
  for (const std::string &f : listDir(dir))
    if (f.rfind("events.out.tfevents.", 0) == 0 &&
        std::find(before.begin(), before.end(), f) == before.end())
      newest = f;
  ASSERT_FALSE(newest.empty());
  auto contents = readEventFile(dir + "/" + newest);
  ASSERT_TRUE(contents.isOk()) << contents.status().message();
  EXPECT_EQ(contents->sessionStarts, std::vector<int64_t>{6});
  ASSERT_EQ(contents->scalars.size(), 7u);
  EXPECT_EQ(contents->scalars.front().step, 6);

  std::optional<json::Value> v = tensorBoardScalars(dir, work);
  if (!v)
    GTEST_SKIP() << "no Python with the `tensorboard` package";
  const json::Value *loss = v->find("loss");
  ASSERT_TRUE(loss);
  ASSERT_EQ(loss->size(), 12u);
  for (int i = 0; i < 12; ++i) {
    int step = i + 1;
    EXPECT_EQ(loss->items()[i].items()[0].asInt(), step);
    EXPECT_EQ(loss->items()[i].items()[1].asDouble(),
              (step <= 5 ? 100.0 : 200.0) + step);
  }
}

TEST(Metrics, JsonlRoundTripWithNaN) {
  std::string dir = makeTempDir();
  {
    auto m = MetricsLogger::open(dir, {});
    ASSERT_TRUE(m.isOk()) << m.status().message();
    ASSERT_TRUE(m->log(1, {{"loss", 0.1}, {"grad_norm", 2.5}}).isOk());
    ASSERT_TRUE(
        m->log(2, {{"loss", std::numeric_limits<double>::quiet_NaN()}}).isOk());
    ASSERT_TRUE(m->log(3, {{"loss", 1.0 / 3}, {"learning_rate", 1e-5}}).isOk());
    // Flushed per step: readable before the logger closes.
    auto rows = readMetricsJsonl(m->jsonlPath());
    ASSERT_TRUE(rows.isOk());
    EXPECT_EQ(rows->size(), 3u);
  }
  auto text = readFile(dir + "/metrics.jsonl");
  ASSERT_TRUE(text.isOk());
  EXPECT_EQ(*text, "{\"step\":1,\"loss\":0.1,\"grad_norm\":2.5}\n"
                   "{\"step\":2,\"loss\":null}\n"
                   "{\"step\":3,\"loss\":0.3333333333333333,"
                   "\"learning_rate\":1e-05}\n");
  auto rows = readMetricsJsonl(dir + "/metrics.jsonl");
  ASSERT_TRUE(rows.isOk());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[2].step, 3);
  EXPECT_EQ(*(*rows)[2].find("loss"), 1.0 / 3); // bit-exact round trip
  EXPECT_TRUE(std::isnan(*(*rows)[1].find("loss")));
  EXPECT_EQ((*rows)[0].find("kl"), nullptr);
  // One TensorBoard event file next to it.
  int events = 0;
  for (const std::string &n : listDir(dir))
    events += n.rfind("events.out.tfevents.", 0) == 0;
  EXPECT_EQ(events, 1);
}

// Rows name their stage and its models by spec name; readers get them back
// as tags, and the numbers stay the numbers.
TEST(Metrics, RowsCarryStageAndModelNames) {
  EXPECT_EQ(metricsLine(4, {{"loss", 0.5}, {"stage", 1}},
                        {"policy_ppo", {"policy", "critic"}}),
            "{\"step\":4,\"stage_name\":\"policy_ppo\",\"models\":"
            "[\"policy\",\"critic\"],\"loss\":0.5,\"stage\":1}");
  // Untagged rows (the job's own rows) are written as before.
  EXPECT_EQ(metricsLine(4, {{"loss", 0.5}}), "{\"step\":4,\"loss\":0.5}");
  std::string dir = makeTempDir();
  std::string p = dir + "/metrics.jsonl";
  appendRaw(p, metricsLine(1, {{"loss", 2.0}}, {"sft", {"policy"}}) + "\n");
  auto rows = readMetricsJsonl(p);
  ASSERT_TRUE(rows.isOk()) << rows.status().message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].tags.stage, "sft");
  EXPECT_EQ((*rows)[0].tags.models, std::vector<std::string>{"policy"});
  ASSERT_EQ((*rows)[0].values.size(), 1u); // the tags are not metrics
  EXPECT_EQ(*(*rows)[0].find("loss"), 2.0);
}

TEST(Metrics, TornLineAndBadLine) {
  std::string dir = makeTempDir();
  std::string p = dir + "/metrics.jsonl";
  appendRaw(p, "{\"step\":1,\"loss\":1}\n{\"step\":2,\"lo");
  std::string warning;
  auto rows = readMetricsJsonl(p, &warning);
  ASSERT_TRUE(rows.isOk());
  EXPECT_EQ(rows->size(), 1u);
  EXPECT_NE(warning.find("metrics.jsonl:2: warning: incomplete last line"),
            std::string::npos)
      << warning;
  std::string q = dir + "/bad.jsonl";
  appendRaw(q, "{\"step\":1}\n[1,2]\n{\"step\":3}\n");
  auto bad = readMetricsJsonl(q);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("bad.jsonl:2:"), std::string::npos)
      << bad.status().message();
}

// A run killed after step 7 (with a torn line) and resumed from a
// checkpoint at step 5 ends with the same file as an uninterrupted run.
TEST(Metrics, ResumeTruncatesToCheckpointStep) {
  auto metricsOf = [](int step) -> MetricValues {
    return {{"loss", 1.0 / (step + 0.5)}, {"reward", step * 0.01}};
  };
  std::string a = makeTempDir(), b = makeTempDir();
  {
    auto m = MetricsLogger::open(a, {});
    ASSERT_TRUE(m.isOk());
    for (int s = 1; s <= 10; ++s)
      ASSERT_TRUE(m->log(s, metricsOf(s)).isOk());
  }
  {
    auto m = MetricsLogger::open(b, {});
    ASSERT_TRUE(m.isOk());
    for (int s = 1; s <= 7; ++s)
      ASSERT_TRUE(m->log(s, metricsOf(s)).isOk());
  }
  appendRaw(b + "/metrics.jsonl", "{\"step\":8,\"loss\":0.1");
  {
    MetricsOptions o;
    o.resumeStep = 5;
    auto m = MetricsLogger::open(b, o);
    ASSERT_TRUE(m.isOk()) << m.status().message();
    for (int s = 6; s <= 10; ++s)
      ASSERT_TRUE(m->log(s, metricsOf(s)).isOk());
  }
  EXPECT_EQ(readFile(a + "/metrics.jsonl").take(),
            readFile(b + "/metrics.jsonl").take());
}

TEST(Progress, FormatsAndModes) {
  ProgressOptions o;
  o.totalSteps = 100;
  o.label = "sft";
  std::string line = Progress::format(o, 25, {{"loss", 1.23456}, {"kl", 0.1}},
                                      1234.4, 75, false);
  EXPECT_EQ(line, "sft step 25/100  loss=1.2346  tok/s=1234  eta=01:15");
  std::string bar = Progress::format(o, 25, {{"loss", 1.5}, {"reward", 0.25}},
                                     0, 3725, true);
  EXPECT_EQ(bar, "sft [######..................] step 25/100  loss 1.5000  "
                 "reward 0.2500  eta 1:02:05");
  EXPECT_EQ(Progress::formatDuration(-1), "?");
  EXPECT_EQ(Progress::formatDuration(59.6), "01:00");

  // Lines mode: one line per interval plus the last step.
  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressOptions lo;
  lo.totalSteps = 25;
  lo.logInterval = 10;
  lo.out = f;
  lo.mode = ProgressOptions::Mode::Auto; // a file is not a terminal
  {
    Progress p(lo);
    EXPECT_FALSE(p.isBar());
    for (int s = 1; s <= 25; ++s)
      p.updateAt(s, {{"loss", 1.0}}, 100, s * 0.5);
    p.finish();
  }
  std::rewind(f);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), f))
    out += buf;
  std::fclose(f);
  EXPECT_EQ(countOf(out, "\n"), 3u) << out;
  EXPECT_NE(out.find("step 10/25  loss=1.0000  tok/s=200  eta=00:08"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("step 25/25"), std::string::npos);

  // Bar mode redraws with \r and ends with one newline.
  f = std::tmpfile();
  lo.out = f;
  lo.mode = ProgressOptions::Mode::Bar;
  {
    Progress p(lo);
    for (int s = 1; s <= 5; ++s)
      p.updateAt(s, {{"loss", 1.0}}, 0, s);
    p.message("eval: accuracy 0.5");
    p.finish();
  }
  std::rewind(f);
  out.clear();
  while (std::fgets(buf, sizeof(buf), f))
    out += buf;
  std::fclose(f);
  EXPECT_EQ(countOf(out, "\r"), 7u);
  EXPECT_NE(out.find("eval: accuracy 0.5\n"), std::string::npos);
  EXPECT_EQ(out.back(), '\n');
}

TEST(Report, StageSettingsOneTablePerStageInOrder) {
  ReportData d;
  d.stageSettings = {{"sft", {{"steps", "2"}, {"optimizer.lr", "0.001"}}},
                     {"grpo <rl>", {{"group_size", "4"}}}};
  std::string html = renderReportHtml(d);
  EXPECT_TRUE(wellFormed(html));
  EXPECT_EQ(countOf(html, "class=\"stage-settings\""), 2u);
  size_t sft = html.find("<caption>sft</caption>");
  size_t grpo = html.find("<caption>grpo &lt;rl&gt;</caption>");
  ASSERT_NE(sft, std::string::npos);
  ASSERT_NE(grpo, std::string::npos);
  EXPECT_LT(sft, grpo);
  EXPECT_NE(html.find("<td>optimizer.lr</td><td>0.001</td>"),
            std::string::npos);
  // No settings, no section.
  EXPECT_EQ(renderReportHtml(ReportData()).find("Effective settings"),
            std::string::npos);
}

TEST(Report, OneSectionPerStageEvaluationsTableAndBoundaries) {
  ReportData d;
  d.stageSettings = {{"sft", {{"steps", "20"}}}, {"grpo", {{"steps", "20"}}}};
  auto eval = [&](int64_t step, double acc) {
    MetricsRow r;
    r.step = step;
    r.values = {{"test/accuracy", acc}, {"test/reward", acc / 2}};
    d.metrics.push_back(r);
  };
  eval(0, 0.1);
  for (int s = 1; s <= 40; ++s) {
    MetricsRow r;
    r.step = s;
    double k = s <= 20 ? 0 : 1;
    // SFT's loss is ~2, GRPO's ~1e-3: each gets its own axis.
    r.values = {{"loss", k == 0 ? 2.0 - s * 0.01 : 1e-3 * (s % 3)},
                {"learning_rate", 1e-3},
                {"stage", k}};
    if (k == 1)
      r.values.push_back({"reward", s * 0.01});
    d.metrics.push_back(r);
    if (s == 20)
      eval(20, 0.5);
  }
  eval(40, 0.75);
  std::string html = renderReportHtml(d);
  EXPECT_TRUE(wellFormed(html));
  EXPECT_EQ(countOf(html, "<section class=\"stage\">"), 2u);
  // sft: loss; grpo: loss and reward. No chart for the stage index or the
  // constant learning rate.
  EXPECT_EQ(countOf(html, "class=\"chart metric\""), 3u);
  EXPECT_EQ(html.find("data-metric=\"stage\""), std::string::npos);
  EXPECT_EQ(html.find("data-metric=\"learning_rate\""), std::string::npos);
  EXPECT_EQ(html.find("data-metric=\"test/accuracy\""), std::string::npos);
  EXPECT_LT(html.find("Stage 1: sft (steps 1-20)"),
            html.find("Stage 2: grpo (steps 21-40)"));
  // Smoothed curves with the raw values faint behind.
  EXPECT_EQ(countOf(html, "class=\"smooth\""), 3u);
  EXPECT_EQ(countOf(html, "class=\"raw\""), 3u);
  // The stage strip marks both boundaries and the three evaluations.
  EXPECT_EQ(countOf(html, "class=\"chart stages\""), 1u);
  EXPECT_EQ(countOf(html, "class=\"boundary\""), 2u);
  EXPECT_EQ(countOf(html, "class=\"eval\""), 3u);
  // Evaluations: one table, before and after each stage.
  EXPECT_EQ(countOf(html, "class=\"evals\""), 1u);
  size_t before = html.find("before training (step 0)");
  size_t afterSft = html.find("after sft (step 20)");
  size_t afterGrpo = html.find("after grpo (step 40)");
  ASSERT_NE(before, std::string::npos);
  ASSERT_NE(afterSft, std::string::npos);
  ASSERT_NE(afterGrpo, std::string::npos);
  EXPECT_LT(before, afterSft);
  EXPECT_LT(afterSft, afterGrpo);
  EXPECT_NE(html.find("<td>test/accuracy</td><td>0.1</td><td>0.5</td>"
                      "<td>0.75</td>"),
            std::string::npos);
}

TEST(Report, StructureAndEscaping) {
  ReportData d;
  d.title = "run <1> & co";
  d.summary = {{"spec", "examples/arith.textproto"}, {"device", "cpu"}};
  for (int s = 1; s <= 3000; ++s) {
    MetricsRow r;
    r.step = s;
    r.values = {{"loss", 2.0 * std::exp(-s / 500.0)}};
    if (s % 10 == 0)
      r.values.push_back({"reward", s / 3000.0});
    if (s == 100)
      r.values.push_back({"odd<&\">name", std::nan("")});
    else if (s % 2 == 0)
      r.values.push_back({"odd<&\">name", s % 4 == 0 ? 1.0 : 2.0});
    r.values.push_back({"constant", 7.0});
    r.values.push_back({"stage", 0.0});
    d.metrics.push_back(r);
  }
  exec::Scheduler sched;
  exec::Event e = sched.createEvent("e");
  for (int k = 0; k < 20; ++k) {
    sched.enqueue(
        exec::Lane::Rollout, "generate", [] { return Status::ok(); }, {},
        {e, uint64_t(k + 1)});
    sched.enqueue(
        exec::Lane::Learn, "train_step", [] { return Status::ok(); },
        {{e, uint64_t(k + 1)}});
  }
  ASSERT_TRUE(sched.drain().isOk());
  d.schedule = spansFromTrace(sched.trace());
  ASSERT_EQ(d.schedule.size(), 40u);
  d.memory = {{"weights", 0, 4 << 20, 0, 9},
              {"grads", 4 << 20, 4 << 20, 3, 6},
              {"kv_cache", 8 << 20, 2 << 20, 0, 2},
              {"rollout_buf", 8 << 20, 1 << 20, 3, 9}};

  std::string html = renderReportHtml(d);
  EXPECT_TRUE(wellFormed(html));
  EXPECT_EQ(countOf(html, "class=\"chart metric\""), 3u);
  EXPECT_NE(html.find("data-metric=\"loss\""), std::string::npos);
  EXPECT_NE(html.find("data-metric=\"reward\""), std::string::npos);
  EXPECT_NE(html.find("data-metric=\"odd&lt;&amp;&quot;&gt;name\""),
            std::string::npos);
  EXPECT_EQ(countOf(html, "class=\"chart gantt\""), 1u);
  EXPECT_EQ(countOf(html, "class=\"task\""), 40u);
  EXPECT_EQ(countOf(html, "class=\"chart memory\""), 1u);
  EXPECT_EQ(countOf(html, "class=\"buffer\""), 4u);
  EXPECT_NE(html.find("<title>run &lt;1&gt; &amp; co</title>"),
            std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos); // self-contained
  // Each SVG on its own is well-formed too.
  EXPECT_TRUE(wellFormed(renderMetricChart("loss", d.metrics)));
  EXPECT_TRUE(wellFormed(renderGantt(d.schedule)));
  EXPECT_TRUE(wellFormed(renderMemoryTimeline(d.memory)));
  // Downsampled: 3000 points drawn with at most ~1200 segments per line
  // (the raw values and their smoothed curve).
  std::string chart = renderMetricChart("loss", d.metrics);
  EXPECT_LE(countOf(chart, "L"), 2 * 1300u);

  // Empty report still renders.
  EXPECT_TRUE(wellFormed(renderReportHtml(ReportData())));

  std::string dir = makeTempDir();
  ASSERT_TRUE(writeReport(dir + "/report.html", d).isOk());
  if (const char *keep = std::getenv("HONE_KEEP_REPORT")) {
    ASSERT_TRUE(writeReport(keep, d).isOk());
  }
}

namespace {
/// The memory plan stacked by kind: one band per kind present, bytes at
/// each position the sum of the buffers live there, the budget as a line
/// when near the peak and named "off the chart" when far above it.
TEST(Report, MemoryStackedByKindWithBudget) {
  using hone::observe::MemoryBuffer;
  std::vector<MemoryBuffer> bufs = {
      {"p.weights", 0, 4 << 20, 0, 9, "weights"},
      {"p.gradients", 4 << 20, 4 << 20, 0, 9, "gradients"},
      {"p.kv_cache", 8 << 20, 2 << 20, 2, 4, "kv_cache"},
      {"p.activations", 8 << 20, 3 << 20, 5, 7, "activations"}};
  std::string near = hone::observe::renderMemoryStack(bufs, 12 << 20, 11 << 20);
  EXPECT_TRUE(wellFormed(near));
  EXPECT_EQ(countOf(near, "class=\"kind\""), 4u);
  EXPECT_EQ(countOf(near, "data-kind=\"optimizer\""), 0u);
  EXPECT_EQ(countOf(near, "class=\"budget\""), 1u);
  EXPECT_EQ(countOf(near, "class=\"measured\""), 1u);
  EXPECT_EQ(near.find("off the chart"), std::string::npos);
  std::string far =
      hone::observe::renderMemoryStack(bufs, uint64_t(16) << 30, 0);
  EXPECT_TRUE(wellFormed(far));
  EXPECT_EQ(countOf(far, "class=\"budget\""), 0u);
  EXPECT_NE(far.find("budget 16.0 GiB (off the chart)"), std::string::npos);
  // In the report only when the buffers carry kinds.
  hone::observe::ReportData d;
  d.memory = bufs;
  EXPECT_EQ(countOf(hone::observe::renderReportHtml(d), "chart memstack"), 1u);
  for (MemoryBuffer &b : d.memory)
    b.kind.clear();
  EXPECT_EQ(countOf(hone::observe::renderReportHtml(d), "chart memstack"), 0u);
}
} // namespace

namespace {
/// ./job --trace's file: strict JSON in the Chrome trace-event format, one
/// complete event per op with its lane and bytes, one named thread per
/// lane (fixed ids for the known lanes), and the report's Gantt chart from
/// the same events.
TEST(Trace, ChromeTraceEventsThreadsAndGantt) {
  TraceRecorder rec;
  rec.record("rollout", "generate", 10, 250, 4096);
  rec.record("learn", "train_step", 260, 400, 8);
  rec.record("host", "odd\"name", 5, 3); // end before start: clamped
  rec.record("gpu0", "copy_in", 1, 2);   // a lane the writer does not know
  std::vector<TraceEvent> ev = rec.events();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].name, "copy_in"); // ordered by start time
  EXPECT_EQ(ev[1].endUs, ev[1].startUs);

  auto doc = json::parse(chromeTraceJson(ev, rec.dropped()));
  ASSERT_TRUE(doc) << doc.status().toString();
  const json::Value *events = doc->find("traceEvents");
  ASSERT_TRUE(events && events->isArray());
  std::map<int64_t, std::string> threads;
  size_t complete = 0;
  for (const json::Value &e : events->items())
    if (e.find("ph")->asString() == "M" &&
        e.find("name")->asString() == "thread_name")
      threads[e.find("tid")->asInt()] =
          e.find("args")->find("name")->asString();
  EXPECT_EQ(threads.size(), 4u);
  for (const json::Value &e : events->items()) {
    if (e.find("ph")->asString() != "X")
      continue;
    ++complete;
    const json::Value *args = e.find("args");
    EXPECT_EQ(threads[e.find("tid")->asInt()], args->find("lane")->asString());
    EXPECT_GE(e.find("ts")->asInt(), 0);
    EXPECT_GE(e.find("dur")->asInt(), 0);
    if (e.find("name")->asString() == "generate") {
      EXPECT_EQ(e.find("tid")->asInt(), 1); // rollout
      EXPECT_EQ(e.find("ts")->asInt(), 10);
      EXPECT_EQ(e.find("dur")->asInt(), 240);
      EXPECT_EQ(args->find("bytes")->asInt(), 4096);
    }
    if (e.find("name")->asString() == "copy_in") {
      EXPECT_EQ(args->find("bytes"), nullptr); // not known: left out
    }
  }
  EXPECT_EQ(complete, 4u);
  EXPECT_EQ(threads[0], "host");
  EXPECT_EQ(threads[2], "learn");
  EXPECT_EQ(threads[5], "gpu0");

  ReportData d;
  d.schedule = spansFromEvents(ev);
  std::string html = renderReportHtml(d);
  EXPECT_TRUE(wellFormed(html));
  EXPECT_EQ(countOf(html, "class=\"chart gantt\""), 1u);
  EXPECT_EQ(countOf(html, "class=\"task\""), 4u);
  EXPECT_EQ(html.find("No schedule trace was recorded"), std::string::npos);
  EXPECT_NE(
      renderReportHtml(ReportData()).find("No schedule trace was recorded"),
      std::string::npos);
}

/// The cap keeps the first events and counts the rest, so a long run's
/// trace stays bounded; the file says how many were dropped.
TEST(Trace, CapKeepsFirstEventsAndCountsDropped) {
  TraceRecorder rec(3);
  for (uint64_t i = 0; i < 10; ++i)
    rec.record("learn", "train_step", i * 10, i * 10 + 5);
  EXPECT_EQ(rec.events().size(), 3u);
  EXPECT_EQ(rec.events().back().startUs, 20u);
  EXPECT_EQ(rec.dropped(), 7u);
  auto doc = json::parse(chromeTraceJson(rec.events(), rec.dropped()));
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->find("otherData")->find("dropped_events")->asInt(), 7);
  // The recorder's clock moves forward from zero.
  uint64_t a = rec.nowUs(), b = rec.nowUs();
  EXPECT_LE(a, b);
}

/// A pipelined GRPO step as the lowering hands it over (config.lane_plan):
/// generate and score on the rollout lane beside advantage and train_step on
/// the learn lane; sync_weights (copy) waits for both lanes, the host op
/// after it for every lane. Each op takes its mean measured time.
TEST(Trace, PlannedSpansFollowLanesAndEvents) {
  auto v = json::parse(R"({"stages":[{"stage":"grpo","ops":[
    {"op":"generate","lane":"rollout","after":[]},
    {"op":"score","lane":"rollout","after":[]},
    {"op":"advantage","lane":"learn","after":[]},
    {"op":"train_step","lane":"learn","after":[]},
    {"op":"sync_weights","lane":"copy","after":[1,3]},
    {"op":"exec.rollouts_in_flight","lane":"host","after":[]}]}]})");
  ASSERT_TRUE(v);
  auto plan = parseLanePlan(*v);
  ASSERT_TRUE(plan) << plan.status().message();
  ASSERT_EQ(plan->size(), 1u);
  std::vector<TraceEvent> ev = {
      {"rollout", "generate", 0, 300000}, {"rollout", "generate", 0, 500000},
      {"rollout", "score", 0, 100000},    {"learn", "advantage", 0, 10000},
      {"learn", "train_step", 0, 590000}, {"copy", "sync_weights", 0, 20000}};
  auto spans = plannedSpans((*plan)[0], ev);
  ASSERT_EQ(spans.size(), 6u);
  EXPECT_EQ(spans[0].lane, "rollout");
  EXPECT_DOUBLE_EQ(spans[0].startSec, 0.0);
  EXPECT_NEAR(spans[0].endSec, 0.4, 1e-12); // mean of 0.3 and 0.5
  EXPECT_NEAR(spans[1].endSec, 0.5, 1e-12);
  EXPECT_NEAR(spans[2].startSec, 0.0, 1e-12); // learn runs beside rollout
  EXPECT_NEAR(spans[3].endSec, 0.6, 1e-12);
  EXPECT_NEAR(spans[4].startSec, 0.6, 1e-12); // after both lanes' events
  EXPECT_NEAR(spans[4].endSec, 0.62, 1e-12);
  EXPECT_NEAR(spans[5].startSec, 0.62, 1e-12); // never measured: 0 long
  EXPECT_NEAR(spans[5].endSec, 0.62, 1e-12);
  // The report draws it before the measured chart.
  ReportData d;
  d.planned.push_back({"grpo", spans});
  std::string html = renderReportHtml(d);
  EXPECT_NE(html.find("Planned step of grpo"), std::string::npos);
  EXPECT_NE(html.find("620.0 ms a step"), std::string::npos);
  // Malformed plans are errors naming the problem.
  for (
      const char *bad :
      {R"([])", R"({"stages":[{"stage":"s"}]})",
       R"({"stages":[{"stage":"s","ops":[{"op":"a","lane":"learn","after":[0]}]}]})"}) {
    auto b = json::parse(bad);
    ASSERT_TRUE(b);
    EXPECT_FALSE(parseLanePlan(*b)) << bad;
  }
}
} // namespace

// The compiler's model work per stage iteration (config.model_work) as one
// table: before -> after where fusion changed a count, the value alone where
// not, generated tokens only for models that generate, names escaped; no
// section without rows.
TEST(Report, ModelWorkTable) {
  EXPECT_EQ(renderModelWork({}), "");
  ModelWorkRow a;
  a.stage = "preference_0";
  a.model = "policy<&>";
  a.forwardsBefore = 6, a.forwards = 2, a.backwardsBefore = 2,
  a.backwards = 1;
  a.gflopBefore = 0.2603, a.gflop = 0.2083;
  ModelWorkRow b;
  b.stage = "rl_0";
  b.model = "critic";
  b.forwardsBefore = b.forwards = 5, b.backwardsBefore = b.backwards = 4;
  b.generates = 1, b.generatedTokens = 192;
  b.gflopBefore = b.gflop = 0.4974;
  std::string h = renderModelWork({a, b});
  EXPECT_NE(h.find("<h2>Model work per stage iteration</h2>"),
            std::string::npos);
  EXPECT_NE(h.find("<td>preference_0</td><td>policy&lt;&amp;&gt;</td>"
                   "<td>6 &rarr; 2</td><td>2 &rarr; 1</td><td></td>"
                   "<td>0.2603 &rarr; 0.2083 (1.25x)</td>"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("<td>rl_0</td><td>critic</td><td>5</td><td>4</td>"
                   "<td>192</td><td>0.4974</td>"),
            std::string::npos)
      << h;
  EXPECT_EQ(h.find("measured forwards"), std::string::npos) << h;
  // The job's measured columns: beside the estimate, empty for a row not
  // measured, the estimate's cells empty for a row only measured.
  a.measured = true;
  a.runForwards = 2, a.runBackwards = 1, a.runRows = 118.5, a.runGflop = 0.05;
  ModelWorkRow c;
  c.stage = "rl_0";
  c.model = "policy";
  c.estimated = false, c.measured = true;
  c.runForwards = 3, c.runBackwards = 1, c.runRows = 310, c.runGenerated = 97.5;
  c.runGflop = 0.125;
  h = renderModelWork({a, b, c});
  EXPECT_NE(h.find("<th>measured forwards</th>"), std::string::npos) << h;
  EXPECT_NE(h.find("(1.25x)</td><td>2</td><td>1</td><td>118.5</td><td></td>"
                   "<td>0.05</td></tr>"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("<td>0.4974</td><td></td><td></td><td></td><td></td>"
                   "<td></td></tr>"),
            std::string::npos)
      << h;
  EXPECT_NE(h.find("<td>rl_0</td><td>policy</td><td></td><td></td><td></td>"
                   "<td></td><td>3</td><td>1</td><td>310</td><td>97.5</td>"
                   "<td>0.125</td></tr>"),
            std::string::npos)
      << h;
  ReportData d;
  d.work = {a};
  EXPECT_NE(renderReportHtml(d).find("Model work per stage iteration"),
            std::string::npos);
}
