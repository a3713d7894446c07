// The Jinja subset (runtime/tokenizer/Jinja.h) construct by construct, its
// errors and limits, and model chat templates (ChatTemplate.h): loading
// from a directory, assistant spans, the token mask, golden renders of the
// templates under test/chat_templates.
#include "runtime/tokenizer/Jinja.h"
#include "runtime/tokenizer/ChatTemplate.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

using namespace hone;

namespace {

// Renders `src` with a context given as JSON; "ERROR: message" on failure.
std::string render(std::string_view src, std::string_view ctx = "{}",
                   jinja::RenderOptions opt = {}) {
  Expected<jinja::Template> t = jinja::Template::parse(src, "t.jinja");
  if (!t)
    return "ERROR: " + t.status().message();
  Expected<json::Value> c = json::parse(ctx);
  EXPECT_TRUE(c.isOk());
  Expected<jinja::Rendered> r = t->render(jinja::fromJson(*c), opt);
  if (!r)
    return "ERROR: " + r.status().message();
  return r->text;
}

std::string templatePath(const char *name) {
  return std::string(HONE_SOURCE_DIR) + "/test/chat_templates/" + name;
}

TEST(Jinja, TextAndOutput) {
  EXPECT_EQ(render("hello"), "hello");
  EXPECT_EQ(render("a{{ x }}b", R"({"x": 3})"), "a3b");
  EXPECT_EQ(render("{{ missing }}|"), "|");
  EXPECT_EQ(render("{{ none }} {{ true }} {{ 1.5 }} {{ 2.0 }} {{ 1e20 }}"),
            "None True 1.5 2.0 1e+20");
  EXPECT_EQ(render("{{ [1, 'a', none] }} {{ {'k': [true]} }}"),
            "[1, 'a', None] {'k': [True]}");
  // One trailing newline of the source is dropped (keep_trailing_newline
  // is off), and "\r\n" reads as "\n".
  EXPECT_EQ(render("x\n"), "x");
  EXPECT_EQ(render("x\r\ny\n\n"), "x\ny\n");
}

TEST(Jinja, WhitespaceControl) {
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: the
  // indentation before it.
  EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\nend"), "  yes\nend");
  EXPECT_EQ(render("a\n    {% if true %}b{% endif %}"), "a\nb");
  // Not after an expression tag.
  EXPECT_EQ(render("{{ 1 }}\n{{ 2 }}"), "1\n2");
  // '-' strips all whitespace on that side, newlines included.
  EXPECT_EQ(render("a  \n\n  {{- 1 -}}  \n  b"), "a1b");
  EXPECT_EQ(render("a \n {%- if true -%} \n b {%- endif %}"), "ab");
  // '+' keeps the indentation (no lstrip) and the newline (no trim).
  EXPECT_EQ(render("a\n  {%+ if true +%}\nb{% endif %}"), "a\n  \nb");
  // Comments vanish, with the same whitespace rules.
  EXPECT_EQ(render("a{# note #}b\n  {# x #}\nc"), "ab\nc");
  EXPECT_EQ(render("a {#- x -#} b"), "ab");
}

TEST(Jinja, IfElifElse) {
  const char *t = "{% if x > 2 %}big{% elif x == 2 %}two{% else %}small"
                  "{% endif %}";
  EXPECT_EQ(render(t, R"({"x": 5})"), "big");
  EXPECT_EQ(render(t, R"({"x": 2})"), "two");
  EXPECT_EQ(render(t, R"({"x": 0})"), "small");
  EXPECT_EQ(render("{% if '' or [] or {} or 0 or none %}t{% else %}f{% endif "
                   "%}"),
            "f");
}

TEST(Jinja, ForLoops) {
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }},"
                   "{% endfor %}",
                   R"({"xs": ["a", "b"]})"),
            "10TrueFalse2,21FalseTrue2,");
  EXPECT_EQ(render("{% for x in [1,2,3] %}{{ loop.previtem }}-{{ "
                   "loop.nextitem }};{% endfor %}"),
            "-2;1-3;2-;");
  EXPECT_EQ(render("{% for x in [1,2,3,4] if x is even %}{{ x }}{{ "
                   "loop.length }}{% endfor %}"),
            "2242");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
                   R"({"d": {"b": 1, "a": 2}})"),
            "b=1;a=2;");
  EXPECT_EQ(render("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}"
                   "{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}"
                   "{% endfor %}"),
            "13");
  EXPECT_EQ(render("{% for c in 'héj' %}[{{ c }}]{% endfor %}"), "[h][é][j]");
  // Nested loops each have their own `loop`; sets inside do not leak.
  EXPECT_EQ(render("{% set n = 0 %}{% for a in [1,2] %}{% for b in [3] %}{{ "
                   "loop.index }}{% endfor %}{{ loop.index }}{% set n = 9 %}"
                   "{% endfor %}{{ n }}"),
            "11120");
}

TEST(Jinja, SetAndNamespace) {
  EXPECT_EQ(render("{% set x = 1 + 2 %}{{ x }}"), "3");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(4) %}"
                   "{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_EQ(render("{% set block %}in {{ 1 }}{% endset %}[{{ block }}]"),
            "[in 1]");
  EXPECT_EQ(render("{% set x = 1 %}{% set x.y = 2 %}"),
            "ERROR: t.jinja:1:19: error: 'x' is not a namespace");
}

TEST(Jinja, Macros) {
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct "
                   "}}{% endmacro %}{{ greet('Bo') }} {{ greet('Al', punct="
                   "'?') }}"),
            "Hi Bo! Hi Al?");
  EXPECT_NE(render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
                .find("macro calls nest more than 200 deep"),
            std::string::npos);
}

TEST(Jinja, Expressions) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ "
                   "7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }}"),
            "3 -4 1 2 3.5 1024 7 9");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none }} {{ 'ab' * 3 }} {{ [1] + [2] }}"),
            "a1None ababab [1, 2]");
  EXPECT_EQ(render("{{ 1 < 2 and 2 <= 2 and 3 > 2 and not 1 == 2 and 1 != 2 "
                   "}} {{ 0 or 'x' }} {{ 1 and 0 }}"),
            "True x 0");
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ "
                   "'z' not in d }}",
                   R"({"d": {"k": 1}})"),
            "True True True True");
  EXPECT_EQ(render("{{ 'yes' if x else 'no' }} {{ 'y' if not x }}|",
                   R"({"x": false})"),
            "no y|");
  EXPECT_EQ(render("{{ m.role }} {{ m['content'] }} {{ xs[1] }} {{ xs[-1] }} "
                   "{{ xs.0 }} {{ m.nope }}|",
                   R"({"m": {"role": "user", "content": "hi"},
                       "xs": [10, 20, 30]})"),
            "user hi 20 30 10 |");
  EXPECT_EQ(render("{{ xs[::-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[::2] }} "
                   "{{ 'héllo'[1:3] }} {{ 'abc'[::-1] }} {{ xs[5:] }}",
                   R"({"xs": [1, 2, 3]})"),
            "[3, 2, 1] [2, 3] [1, 2] [1, 3] él cba []");
}

TEST(Jinja, StringMethods) {
  EXPECT_EQ(render("{{ s.startswith('ab') }} {{ s.endswith(('x', 'cd')) }} "
                   "{{ s.upper() }} {{ 'A B'.lower() }}",
                   R"({"s": "abcd"})"),
            "True True ABCD a b");
  EXPECT_EQ(render("{{ '  a b \\n'.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ "
                   "'\\n\\na\\n'.rstrip('\\n') }}|"),
            "a b|axx|\n\na|");
  EXPECT_EQ(render("{{ 'a</think>b</think>c'.split('</think>') }} {{ ' a  b "
                   "'.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'."
                   "rsplit(',', 1) }}"),
            "['a', 'b', 'c'] ['a', 'b'] ['a', 'b,c'] ['a,b', 'c']");
  EXPECT_EQ(render("{{ 'aXbX'.replace('X', '-') }} {{ 'ab'.title() }} {{ "
                   "', '.join(['a', 'b']) }} {{ 'abc'.find('c') }}"),
            "a-b- Ab a, b 2");
}

TEST(Jinja, Filters) {
  EXPECT_EQ(render("{{ '  x '|trim }}|{{ [1,2]|length }} {{ 'héj'|length }} "
                   "{{ 'Ab'|upper }}{{ 'Ab'|lower }} {{ missing|default('d') "
                   "}} {{ ''|default('e', true) }} {{ [1,2]|join('-') }} {{ "
                   "[1,2]|first }}{{ [1,2]|last }} {{ 3|string ~ 'x' }}"),
            "x|2 3 ABab d e 1-2 12 3x");
  EXPECT_EQ(render("{{ d|items|list }} {{ [3,1]|reverse|list }}",
                   R"({"d": {"a": 1}})"),
            "[['a', 1]] [1, 3]");
  // One item per code point, of every UTF-8 length (Python's list(str)).
  EXPECT_EQ(render("{{ 'a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80'|list|length }}"),
            "4");
  EXPECT_EQ(render("{{ ms|selectattr('role', 'equalto', 'user')|map("
                   "attribute='c')|join }} {{ ms|rejectattr('role', "
                   "'equalto', 'user')|list|length }}",
                   R"({"ms": [{"role": "user", "c": "a"},
                              {"role": "bot", "c": "b"},
                              {"role": "user", "c": "c"}]})"),
            "ac 1");
  EXPECT_EQ(render("{{ [1,2,1]|unique|list }} {{ 'a\\nb'|indent(2) }} {{ "
                   "'3'|int + 1 }} {{ -2|abs }} {{ (-2)|abs }}"),
            "[1, 2] a\n  b 4 -2 2"); // a filter binds tighter than '-'
}

TEST(Jinja, ToJson) {
  // json.dumps(ensure_ascii=False): non-ASCII kept, Python's separators,
  // no HTML escaping; indent as in Python.
  const char *ctx = R"({"v": {"s": "é<&>\"\n", "n": [1, 2.5, true, null],
                            "e": {}, "l": []}})";
  EXPECT_EQ(
      render("{{ v|tojson }}", ctx),
      R"({"s": "é<&>\"\n", "n": [1, 2.5, true, null], "e": {}, "l": []})");
  EXPECT_EQ(render("{{ v.n|tojson(indent=2) }}", ctx),
            "[\n  1,\n  2.5,\n  true,\n  null\n]");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'é'|"
                   "tojson(ensure_ascii=true) }} {{ [1,2]|tojson(separators="
                   "(',', ':')) }}"),
            R"({"a": 2, "b": 1} "\u00e9" [1,2])");
}

TEST(Jinja, Tests) {
  EXPECT_EQ(render("{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ "
                   "n is none }}{{ s is string }}{{ d is mapping }}{{ l is "
                   "iterable }}{{ l is sequence }}{{ 1 is number }}{{ t is "
                   "true }}{{ f is false }}{{ 0 is false }}{{ x is not none }}",
                   R"({"x": 1, "n": null, "s": "a", "d": {}, "l": [],
                       "t": true, "f": false})"),
            "TrueFalseTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrue");
  EXPECT_EQ(render("{{ 3 is odd }}{{ 4 is divisibleby 2 }}{{ 'a' is "
                   "equalto 'a' }}{{ d.a.b is defined }}",
                   R"({"d": {}})"),
            "TrueTrueTrueFalse");
}

TEST(Jinja, Globals) {
  jinja::RenderOptions o;
  o.now = 1722000000; // 2024-07-26
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}", "{}", o), "26 Jul 2024");
  EXPECT_EQ(render("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ "
                   "dict(a=1) }}"),
            "[0, 1, 2] [1, 3, 5] {'a': 1}");
  EXPECT_EQ(render("line1\n  {{ raise_exception('roles must alternate') }}"),
            "ERROR: t.jinja:2:6: error: the template raised an exception: "
            "roles must alternate");
}

TEST(Jinja, GenerationBlocks) {
  Expected<jinja::Template> t = jinja::Template::parse(
      "{% for m in ms %}<{{ m }}>{% generation %}{{ m }}!{% endgeneration "
      "%}{% endfor %}",
      "g");
  ASSERT_TRUE(t.isOk());
  EXPECT_TRUE(t->hasGeneration());
  jinja::Value ctx = jinja::Value::dict();
  ctx.set("ms", jinja::Value::list({jinja::Value("a"), jinja::Value("bc")}));
  Expected<jinja::Rendered> r = t->render(ctx);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->text, "<a>a!<bc>bc!");
  ASSERT_EQ(r->generation.size(), 2u);
  EXPECT_EQ(r->generation[0], std::make_pair(size_t(3), size_t(5)));
  EXPECT_EQ(r->generation[1], std::make_pair(size_t(9), size_t(12)));
}

TEST(Jinja, ParseErrorsAreLocated) {
  auto err = [](const char *src) { return render(src); };
  EXPECT_EQ(err("a\n{% if x %}b"),
            "ERROR: t.jinja:2:4: error: this 'if' is never closed");
  EXPECT_EQ(err("{% for x in y %}{% endif %}"),
            "ERROR: t.jinja:1:20: error: unexpected '{% endif %}'");
  EXPECT_EQ(err("{{ x |}}"),
            "ERROR: t.jinja:1:7: error: expected a name, found '}}'");
  EXPECT_EQ(err("{% include 'x' %}"),
            "ERROR: t.jinja:1:4: error: the 'include' tag is not supported");
  EXPECT_EQ(err("{{ 'abc }}"),
            "ERROR: t.jinja:1:4: error: the string is not closed");
  EXPECT_EQ(err("{{ x"), "ERROR: t.jinja:1:1: error: the '{{' tag is not "
                         "closed");
  EXPECT_EQ(err("{# never"),
            "ERROR: t.jinja:1:1: error: the comment is not closed");
  EXPECT_EQ(err("{{ x|nosuch }}"),
            "ERROR: t.jinja:1:6: error: unknown filter 'nosuch'");
  EXPECT_EQ(err("{{ x is nosuch }}"),
            "ERROR: t.jinja:1:9: error: unknown test 'nosuch'");
  EXPECT_EQ(err("{{ u.v }}"),
            "ERROR: t.jinja:1:5: error: 'u' is undefined, so it has no 'v'");
  EXPECT_EQ(err("{{ 'a' + 1 }}"),
            "ERROR: t.jinja:1:8: error: unsupported operands for '+': a "
            "string and an integer");
  // The hint comes with it.
  Expected<jinja::Template> t = jinja::Template::parse("{% raw %}", "t");
  ASSERT_FALSE(t.isOk());
  EXPECT_NE(t.status().hint().find("supported tags"), std::string::npos);
}

TEST(Jinja, HostileTemplatesAreBounded) {
  jinja::RenderOptions o;
  o.limits.maxSteps = 100000;
  o.limits.maxOutputBytes = 1 << 20;
  // Loops that do not end in reasonable time.
  EXPECT_NE(render("{% for i in range(1000) %}{% for j in range(1000) %}"
                   "{% for k in range(1000) %}{% endfor %}{% endfor %}"
                   "{% endfor %}",
                   "{}", o)
                .find("more than 100000 steps"),
            std::string::npos);
  // Output and string growth.
  EXPECT_NE(render("{{ 'x' * 1000000000000 }}", "{}", o)
                .find("more than 1048576 bytes"),
            std::string::npos);
  EXPECT_NE(render("{% set ns = namespace(s='xx') %}{% for i in range(60) %}"
                   "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                   "{}", o)
                .find("more than 1048576 bytes"),
            std::string::npos);
  EXPECT_NE(render("{% for i in range(100000000) %}{% endfor %}", "{}", o)
                .find("bytes"),
            std::string::npos);
  // Deep nesting is a parse error, not a stack overflow.
  std::string deep = std::string(500, '(') + "1" + std::string(500, ')');
  EXPECT_NE(render("{{ " + deep + " }}").find("nests too deeply"),
            std::string::npos);
  std::string nots;
  for (int i = 0; i < 1000; ++i)
    nots += "not ";
  EXPECT_NE(render("{{ " + nots + "x }}").find("nests too deeply"),
            std::string::npos);
  std::string ifs;
  for (int i = 0; i < 100000; ++i)
    ifs += "{% if x %}";
  EXPECT_NE(render(ifs).find("nests too deeply"), std::string::npos);
  std::string chain = "{{ x";
  for (int i = 0; i < 100000; ++i)
    chain += "|trim";
  EXPECT_NE(render(chain + " }}").find("more than 2000 tokens"),
            std::string::npos);
  // Garbage bytes are an error, not a crash.
  EXPECT_NE(render(std::string("{{ \x01\xff }}")).find("unexpected character"),
            std::string::npos);
}

// ---- model chat templates ----

std::string makeModelDir(const std::string &config, const char *jinja) {
  std::string dir = test::makeTempDir();
  if (!config.empty())
    test::writeText(dir + "/tokenizer_config.json", config);
  if (jinja)
    test::writeText(dir + "/chat_template.jinja", jinja);
  return dir;
}

TEST(ModelChatTemplate, LoadsFromConfigAndJinjaFile) {
  std::string dir = makeModelDir(
      R"({"chat_template": "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}",
          "bos_token": {"content": "<s>", "__type": "AddedToken"},
          "eos_token": "</s>", "pad_token": null})",
      nullptr);
  Expected<std::string> where = findModelChatTemplate(dir);
  ASSERT_TRUE(where.isOk());
  EXPECT_EQ(*where, dir + "/tokenizer_config.json");
  Expected<ModelChatTemplate> t = loadModelChatTemplate(dir);
  ASSERT_TRUE(t.isOk()) << t.status().message();
  Expected<RenderedChat> r = renderChat(*t, {{"user", "hi"}}, false);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->text, "<s>user:hi;");
  // chat_template.jinja wins over the config's.
  test::writeText(dir + "/chat_template.jinja", "J{{ eos_token }}");
  t = loadModelChatTemplate(dir);
  ASSERT_TRUE(t.isOk());
  EXPECT_EQ(renderChat(*t, {{"user", "hi"}}, false)->text, "J</s>");
  EXPECT_EQ(*findModelChatTemplate(dir), dir + "/chat_template.jinja");
}

TEST(ModelChatTemplate, NamedTemplateList) {
  std::string dir = makeModelDir(
      R"({"chat_template": [{"name": "default", "template": "D"},
                            {"name": "rag", "template": "R"},
                            {"name": "tool_use", "template": "T{{ tools|length }}"}]})",
      nullptr);
  Expected<ModelChatTemplate> t = loadModelChatTemplate(dir);
  ASSERT_TRUE(t.isOk()) << t.status().message();
  ChatOptions o;
  json::Value msgs = json::Value::array();
  EXPECT_EQ(renderChat(*t, msgs, o)->text, "D");
  o.tools = *json::parse(R"([{"type": "function"}])");
  EXPECT_EQ(renderChat(*t, msgs, o)->text, "T1");
}

TEST(ModelChatTemplate, Errors) {
  // No template at all.
  std::string empty = makeModelDir(R"({"eos_token": "</s>"})", nullptr);
  EXPECT_EQ(*findModelChatTemplate(empty), "");
  Expected<ModelChatTemplate> t = loadModelChatTemplate(empty);
  ASSERT_FALSE(t.isOk());
  EXPECT_NE(t.status().message().find("has no chat template"),
            std::string::npos);
  // A broken template is located inside the config's string.
  std::string broken = makeModelDir(
      R"({"chat_template": "ok\n{% for m in messages %}"})", nullptr);
  t = loadModelChatTemplate(broken);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().message(),
            broken + "/tokenizer_config.json (chat_template):2:4: error: this "
                     "'for' is never closed");
  // No default in the list.
  std::string nodefault = makeModelDir(
      R"({"chat_template": [{"name": "rag", "template": "R"}]})", nullptr);
  EXPECT_FALSE(loadModelChatTemplate(nodefault).isOk());
  // A template that never shows assistant turns fails the compile-time
  // check; one that raises on the probe too.
  auto check = [](const char *src) {
    Expected<ModelChatTemplate> m = modelChatTemplateFromText(src, "x.jinja");
    EXPECT_TRUE(m.isOk());
    return checkModelChatTemplate(*m);
  };
  EXPECT_TRUE(
      check("{% for m in messages %}{{ m.content }}{% endfor %}").isOk());
  Status s = check("{{ messages|length }}");
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("cannot be located"), std::string::npos);
  s = check("{{ raise_exception('no system messages') }}");
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("no system messages"), std::string::npos);
}

Expected<ModelChatTemplate> fileTemplate(const char *name) {
  return modelChatTemplateFromText(
      test::readText(templatePath(name)), name,
      {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
}

std::vector<std::string> spanTexts(const RenderedChat &r) {
  std::vector<std::string> out;
  for (auto [b, e] : r.assistantSpans)
    out.push_back(r.text.substr(b, e - b));
  return out;
}

const std::vector<ChatMessage> kTwoTurns = {{"system", "Be brief."},
                                            {"user", "2+2?"},
                                            {"assistant", "4"},
                                            {"user", "3+3?"},
                                            {"assistant", "6"}};

TEST(ModelChatTemplate, GoldenQwen25) {
  Expected<ModelChatTemplate> t = fileTemplate("qwen2.5.jinja");
  ASSERT_TRUE(t.isOk()) << t.status().message();
  Expected<RenderedChat> r = renderChat(*t, kTwoTurns, false);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->text, "<|im_start|>system\nBe brief.<|im_end|>\n"
                     "<|im_start|>user\n2+2?<|im_end|>\n"
                     "<|im_start|>assistant\n4<|im_end|>\n"
                     "<|im_start|>user\n3+3?<|im_end|>\n"
                     "<|im_start|>assistant\n6<|im_end|>\n");
  // No generation markers: the assistant iterations, less the header the
  // generation prompt writes and the trailing newline.
  EXPECT_EQ(spanTexts(*r),
            (std::vector<std::string>{"4<|im_end|>", "6<|im_end|>"}));
  // The default system prompt and the generation prompt.
  r = renderChat(*t, {{"user", "hi"}}, true);
  EXPECT_EQ(r->text, "<|im_start|>system\nYou are Qwen, created by Alibaba "
                     "Cloud. You are a helpful assistant.<|im_end|>\n"
                     "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ModelChatTemplate, GoldenQwen3Thinking) {
  Expected<ModelChatTemplate> t = fileTemplate("qwen3.jinja");
  ASSERT_TRUE(t.isOk()) << t.status().message();
  json::Value msgs = *json::parse(R"([
      {"role": "user", "content": "2+2?"},
      {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
      {"role": "user", "content": "x3?"},
      {"role": "assistant", "content": "12", "reasoning_content": "mul"}])");
  ChatOptions o;
  Expected<RenderedChat> r = renderChat(*t, msgs, o);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  // Past turns lose their thinking; the last keeps it.
  EXPECT_EQ(r->text, "<|im_start|>user\n2+2?<|im_end|>\n"
                     "<|im_start|>assistant\n4<|im_end|>\n"
                     "<|im_start|>user\nx3?<|im_end|>\n"
                     "<|im_start|>assistant\n<think>\nmul\n</think>\n\n12"
                     "<|im_end|>\n");
  EXPECT_EQ(spanTexts(*r),
            (std::vector<std::string>{
                "4<|im_end|>", "<think>\nmul\n</think>\n\n12<|im_end|>"}));
  // enable_thinking=false: the generation prompt closes an empty think.
  o.addGenerationPrompt = true;
  o.kwargs.set("enable_thinking", false);
  r = renderChat(*t, *json::parse(R"([{"role": "user", "content": "hi"}])"), o);
  EXPECT_EQ(r->text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
                     "<think>\n\n</think>\n\n");
}

TEST(ModelChatTemplate, GenerationMarkersDecideTheSpans) {
  Expected<ModelChatTemplate> t = fileTemplate("qwen3-training.jinja");
  ASSERT_TRUE(t.isOk()) << t.status().message();
  Expected<RenderedChat> r = renderChat(*t, kTwoTurns, false);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(spanTexts(*r),
            (std::vector<std::string>{"4<|im_end|>", "6<|im_end|>"}));
}

TEST(ModelChatTemplate, GoldenLlama31Tools) {
  Expected<ModelChatTemplate> t = modelChatTemplateFromText(
      test::readText(templatePath("llama3.1.jinja")), "llama3.1.jinja",
      {{"bos_token", "<|begin_of_text|>"}});
  ASSERT_TRUE(t.isOk()) << t.status().message();
  ChatOptions o;
  o.tools = *json::parse(R"([{"name": "f", "parameters": {"a": 1}}])");
  o.addGenerationPrompt = true;
  Expected<RenderedChat> r = renderChat(
      *t, *json::parse(R"([{"role": "user", "content": " Go "}])"), o);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Environment: ipython\nCutting Knowledge Date: December 2023\n"
            "Today Date: 26 Jul 2024\n\n<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n"
            "Given the following functions, please respond with a JSON for a "
            "function call with its proper arguments that best answers the "
            "given prompt.\n\nRespond in the format {\"name\": function name, "
            "\"parameters\": dictionary of argument name and its value}.Do "
            "not use variables.\n\n{\n    \"name\": \"f\",\n    "
            "\"parameters\": {\n        \"a\": 1\n    }\n}\n\nGo<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ModelChatTemplate, MistralRaisesOnBadAlternation) {
  Expected<ModelChatTemplate> t = fileTemplate("mistral-v0.3.jinja");
  ASSERT_TRUE(t.isOk());
  Expected<RenderedChat> r =
      renderChat(*t, {{"user", "a"}, {"assistant", "b"}}, false);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->text, "<s>[INST] a[/INST] b</s>");
  EXPECT_EQ(spanTexts(*r), (std::vector<std::string>{" b</s>"}));
  r = renderChat(*t, {{"user", "a"}, {"user", "b"}}, false);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find(
                "mistral-v0.3.jinja:11:13: error: the template raised an "
                "exception: After the optional system message"),
            std::string::npos)
      << r.status().message();
}

TEST(ModelChatTemplate, TokenMask) {
  Expected<Tokenizer> tok =
      Tokenizer::character("abcdefghijklmnopqrstuvwxyz0123456789+?. \n",
                           {"<|im_start|>", "<|im_end|>"});
  ASSERT_TRUE(tok.isOk());
  Expected<ModelChatTemplate> t = fileTemplate("smollm2.jinja");
  ASSERT_TRUE(t.isOk());
  Expected<TokenizedChat> c = tokenizeChat(*tok, *t,
                                           {{"system", "be. "},
                                            {"user", "2+2?"},
                                            {"assistant", "4"},
                                            {"user", "ok"},
                                            {"assistant", "yes"}},
                                           false);
  ASSERT_TRUE(c.isOk()) << c.status().message();
  std::vector<int32_t> masked;
  for (size_t i = 0; i < c->ids.size(); ++i)
    if (c->assistantMask[i])
      masked.push_back(c->ids[i]);
  EXPECT_EQ(*tok->decode(masked), "4<|im_end|>yes<|im_end|>");
}

TEST(ModelChatTemplate, AllTestTemplatesPassTheCheck) {
  for (const char *name :
       {"qwen2.5.jinja", "qwen3.jinja", "qwen3-training.jinja",
        "llama3.1.jinja", "llama3.2.jinja", "mistral-v0.3.jinja",
        "smollm2.jinja"}) {
    Expected<ModelChatTemplate> t = fileTemplate(name);
    ASSERT_TRUE(t.isOk()) << name << ": " << t.status().message();
    Status s = checkModelChatTemplate(*t);
    EXPECT_TRUE(s.isOk()) << name << ": " << s.toString();
  }
}

} // namespace
