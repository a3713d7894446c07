#include "runtime/base/Json.h"
#include "runtime/base/Utf8.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace hone;
using namespace hone::json;

namespace {

Value parseOk(std::string_view text) {
  Expected<Value> v = parse(text);
  EXPECT_TRUE(v.isOk()) << text << " -> " << v.status().message();
  return v ? v.take() : Value();
}

std::string parseErr(std::string_view text, ParseOptions opts = {}) {
  Expected<Value> v = parse(text, opts);
  EXPECT_FALSE(v.isOk()) << "accepted: " << text;
  return v ? std::string() : v.status().message();
}

TEST(Json, Scalars) {
  EXPECT_TRUE(parseOk("null").isNull());
  EXPECT_TRUE(parseOk(" true ").asBool());
  EXPECT_FALSE(parseOk("false").asBool());
  EXPECT_EQ(parseOk("\"hi\"").asString(), "hi");
  Value i = parseOk("-42");
  EXPECT_TRUE(i.isInt());
  EXPECT_EQ(i.asInt(), -42);
  Value big = parseOk("9223372036854775807");
  EXPECT_TRUE(big.isInt());
  EXPECT_EQ(big.asInt(), INT64_MAX);
  Value over = parseOk("9223372036854775808");
  EXPECT_FALSE(over.isInt());
  EXPECT_DOUBLE_EQ(over.asDouble(), 9223372036854775808.0);
  Value d = parseOk("1.5e3");
  EXPECT_FALSE(d.isInt());
  EXPECT_DOUBLE_EQ(d.asDouble(), 1500.0);
  EXPECT_FALSE(parseOk("1.0").isInt());
  EXPECT_DOUBLE_EQ(parseOk("-0.0").asDouble(), 0.0);
  EXPECT_DOUBLE_EQ(parseOk("1e-400").asDouble(), 0.0); // underflow is fine
  EXPECT_DOUBLE_EQ(parseOk("0.1").asDouble(), 0.1);
}

TEST(Json, Containers) {
  Value v = parseOk(R"({"a": [1, 2, {"b": null}], "c": {}, "d": []})");
  ASSERT_TRUE(v.isObject());
  ASSERT_EQ(v.members().size(), 3u);
  EXPECT_EQ(v.members()[0].first, "a");
  EXPECT_EQ(v.find("a")->items().size(), 3u);
  EXPECT_TRUE(v.find("a")->items()[2].find("b")->isNull());
  EXPECT_TRUE(v.find("c")->isObject());
  EXPECT_EQ(v.find("zz"), nullptr);
}

TEST(Json, StringEscapes) {
  EXPECT_EQ(parseOk(R"("a\"b\\c\/d\b\f\n\r\t")").asString(),
            "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(parseOk(R"("\u00e9\u4e2d")").asString(), "\xC3\xA9\xE4\xB8\xAD");
  // Surrogate pair for U+1F600.
  EXPECT_EQ(parseOk(R"("\ud83d\ude00")").asString(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parseOk(R"("\u0000")").asString(), std::string(1, '\0'));
  // Raw UTF-8 passes through.
  EXPECT_EQ(parseOk("\"\xE2\x82\xAC\"").asString(), "\xE2\x82\xAC");
}

TEST(Json, RejectsWhatRfc8259Rejects) {
  for (const char *bad : {"",
                          " ",
                          "{",
                          "[1,]",
                          "{\"a\":1,}",
                          "01",
                          "1.",
                          ".5",
                          "+1",
                          "1e",
                          "--1",
                          "NaN",
                          "Infinity",
                          "nul",
                          "tru",
                          "'a'",
                          "\"abc",
                          "[1 2]",
                          "{\"a\" 1}",
                          "{1: 2}",
                          "\"\\x\"",
                          "\"\\u12\"",
                          "\"\\uD800\"",
                          "\"\\uDC00\"",
                          "\"\\uD800\\u0041\"",
                          "\"a\tb\"",
                          "\"\x01\"",
                          "1 2",
                          "[] x",
                          "/* c */ 1",
                          "1e999",
                          "-1e999"})
    parseErr(bad);
}

TEST(Json, RejectsInvalidUtf8) {
  for (const char *bad :
       {"\"\x80\"", "\"\xC0\xAF\"", "\"\xE0\x80\xAF\"", "\"\xED\xA0\x80\"",
        "\"\xF4\x90\x80\x80\"", "\"\xF8\x88\x80\x80\x80\"", "\"\xE2\x82\"",
        "\"\xFF\""})
    EXPECT_NE(parseErr(bad).find("invalid UTF-8"), std::string::npos) << bad;
  size_t off = 0;
  EXPECT_FALSE(isValidUtf8("abc\xC3", &off));
  EXPECT_EQ(off, 3u);
  EXPECT_TRUE(isValidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
}

TEST(Json, ErrorsCarryLineColumnAndOffset) {
  ParseOptions o;
  o.sourceName = "cfg.json";
  std::string msg = parseErr("{\n  \"a\": 1,\n  \"b\": tru\n}", o);
  EXPECT_EQ(msg, "cfg.json:3:8: error: invalid literal (expected 'true') "
                 "(byte 19)");
  Location loc;
  Expected<Value> v = parse("[1,\n 2,,]", {}, &loc);
  ASSERT_FALSE(v.isOk());
  EXPECT_EQ(loc.line, 2u);
  EXPECT_EQ(loc.column, 4u);
  EXPECT_EQ(loc.offset, 7u);
  // JSONL style: text is one line of a bigger file.
  o.sourceName = "d.jsonl";
  o.firstLine = 12;
  o.baseOffset = 1000;
  EXPECT_EQ(
      parseErr("{\"a\": }", o),
      "d.jsonl:12:7: error: expected a JSON value, found '}' (byte 1006)");
}

TEST(Json, DepthLimit) {
  std::string deep(600, '[');
  deep += std::string(600, ']');
  EXPECT_NE(parseErr(deep).find("nesting deeper than 512"), std::string::npos);
  ParseOptions o;
  o.maxDepth = 1000;
  EXPECT_TRUE(parse(deep, o).isOk());
  // Very deep input must fail cleanly, not overflow the stack.
  std::string deeper(1000000, '[');
  EXPECT_FALSE(parse(deeper).isOk());
}

TEST(Json, DuplicateKeys) {
  EXPECT_NE(parseErr(R"({"a": 1, "a": 2})").find("duplicate key \"a\""),
            std::string::npos);
  // Past the small-object threshold the hashed path is used.
  std::string big = "{";
  for (int i = 0; i < 40; ++i)
    big += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
  big += "\"k7\": 0}";
  EXPECT_NE(parseErr(big).find("duplicate key \"k7\""), std::string::npos);
  ParseOptions o;
  o.rejectDuplicateKeys = false;
  EXPECT_TRUE(parse(R"({"a": 1, "a": 2})", o).isOk());
}

TEST(Json, OffsetsOfValues) {
  Value v = parseOk("{\"a\": [10, \"x\"]}");
  EXPECT_EQ(v.offset(), 0u);
  EXPECT_EQ(v.find("a")->offset(), 6u);
  EXPECT_EQ(v.find("a")->items()[1].offset(), 11u);
  Location l = locate("ab\ncd\nef", 7);
  EXPECT_EQ(l.line, 3u);
  EXPECT_EQ(l.column, 2u);
}

TEST(Json, SerializeRoundTrip) {
  std::string text =
      R"({"s":"q\"\\\n\u0001é😀","i":-7,"d":0.1,"e":1e+300,"b":true,"n":null,"a":[1,[],{}]})";
  Value v = parseOk(text);
  std::string out = serialize(v);
  Value back = parseOk(out);
  EXPECT_EQ(v, back);
  EXPECT_EQ(
      out,
      R"({"s":"q\"\\\n\u0001é😀","i":-7,"d":0.1,"e":1e+300,"b":true,"n":null,"a":[1,[],{}]})");
  // Pretty printing parses back to the same value.
  EXPECT_EQ(parseOk(serialize(v, 2)), v);
  // Shortest round-trip doubles.
  for (double d : {0.1, 1.0 / 3.0, 1e-320, 123456789.123456789, -2.5e-8}) {
    Value x(d);
    EXPECT_EQ(parseOk(serialize(x)).asDouble(), d);
  }
  EXPECT_EQ(serialize(Value(std::nan(""))), "null");
  Value built = Value::object();
  built.set("k", Value(int64_t(1)));
  built.set("k", Value("v"));
  EXPECT_EQ(serialize(built), R"({"k":"v"})");
}

} // namespace
