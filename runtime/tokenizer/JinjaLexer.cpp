// The Jinja subset's lexer: whitespace control as jinja2's lexer does it
// with trim_blocks and lstrip_blocks.
#include "runtime/tokenizer/JinjaImpl.h"

#include "runtime/base/Utf8.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>
#include <unordered_map>

namespace hone::jinja {

namespace {

class Lexer {
public:
  static constexpr size_t kMaxTagTokens = 2000;
  Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Tok> run() {
    size_t pos = 0;
    bool stripNext = false; // a '-' closed the previous tag
    bool trimNext = false;  // trim_blocks after a block/comment
    while (pos <= src_.size()) {
      size_t tag = findTag(pos);
      std::string text = src_.substr(pos, tag - pos);
      size_t textStart = pos;
      if (stripNext) {
        size_t k = 0;
        while (k < text.size() && isWs(text[k]))
          ++k;
        text.erase(0, k);
        textStart += k;
      } else if (trimNext && !text.empty() && text[0] == '\n') {
        text.erase(0, 1);
        ++textStart;
      }
      stripNext = trimNext = false;
      char kind = tag < src_.size() ? src_[tag + 1] : 0;
      char mod = tag + 2 < src_.size() ? src_[tag + 2] : 0;
      if (kind && mod == '-') {
        while (!text.empty() && isWs(text.back()))
          text.pop_back();
      } else if ((kind == '%' || kind == '#') && mod != '+') {
        // lstrip_blocks: spaces/tabs from a line start to the tag.
        size_t l = text.rfind('\n');
        size_t lpos = l == std::string::npos ? 0 : l + 1;
        bool lineStart = l != std::string::npos || textStart == 0 ||
                         src_[textStart - 1] == '\n';
        if (lineStart &&
            text.find_first_not_of(" \t", lpos) == std::string::npos)
          text.erase(lpos);
      }
      if (!text.empty())
        push(T::Text, text, textStart);
      if (tag >= src_.size())
        break;
      pos = tag + 2;
      if (mod == '-' || mod == '+')
        ++pos;
      if (kind == '#') {
        size_t e = src_.find("#}", pos);
        if (e == std::string::npos)
          fail(tag, "the comment is not closed", "end it with '#}'");
        stripNext = e > pos && src_[e - 1] == '-';
        trimNext = !stripNext && !(e > pos && src_[e - 1] == '+');
        pos = e + 2;
        continue;
      }
      push(kind == '{' ? T::VarBegin : T::BlockBegin, "", tag);
      pos = lexInside(pos, kind, tag, stripNext, trimNext);
    }
    push(T::End, "", src_.size());
    return std::move(toks_);
  }

  // Line and column (1-based, in code points) of a byte offset; offsets
  // come in increasing order, so the scan resumes where it stopped.
  std::pair<int, int> lineCol(size_t off) {
    if (off < lcOff_) {
      lcOff_ = 0;
      lcLine_ = lcCol_ = 1;
    }
    for (; lcOff_ < off && lcOff_ < src_.size(); ++lcOff_) {
      if (src_[lcOff_] == '\n') {
        ++lcLine_;
        lcCol_ = 1;
      } else if ((src_[lcOff_] & 0xC0) != 0x80) {
        ++lcCol_;
      }
    }
    return {lcLine_, lcCol_};
  }

private:
  static bool isWs(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
  }

  size_t findTag(size_t pos) const {
    while (true) {
      size_t p = src_.find('{', pos);
      if (p == std::string::npos || p + 1 >= src_.size())
        return src_.size();
      char c = src_[p + 1];
      if (c == '{' || c == '%' || c == '#')
        return p;
      pos = p + 1;
    }
  }

  [[noreturn]] void fail(size_t off, std::string msg, std::string hint = {}) {
    auto [l, c] = lineCol(off);
    throw JError{l, c, std::move(msg), std::move(hint)};
  }

  void push(T t, std::string s, size_t off) {
    auto [l, c] = lineCol(off);
    Tok k{t, std::move(s), l, c};
    toks_.push_back(std::move(k));
  }

  size_t lexInside(size_t pos, char kind, size_t tagStart, bool &stripNext,
                   bool &trimNext) {
    int depth = 0;
    const char close = kind == '{' ? '}' : '%';
    // Bounds the expression trees (and so the renderer's recursion).
    const size_t first = toks_.size();
    while (true) {
      if (toks_.size() - first > kMaxTagTokens)
        fail(tagStart,
             "the tag has more than " + std::to_string(kMaxTagTokens) +
                 " tokens",
             "split the expression with {% set %}");
      while (pos < src_.size() && isWs(src_[pos]))
        ++pos;
      if (pos >= src_.size())
        fail(tagStart,
             std::string("the ") + (kind == '{' ? "'{{'" : "'{%'") +
                 " tag is not closed",
             std::string("end it with '") + (kind == '{' ? "}}" : "%}") + "'");
      // The tag's end: "-}}", "}}" (outside brackets), "-%}", "+%}", "%}".
      auto at = [&](const char *s) {
        return src_.compare(pos, std::strlen(s), s) == 0;
      };
      if (depth == 0 || kind == '%') {
        std::string endTag = std::string(1, close) + "}";
        bool minus = at(("-" + endTag).c_str());
        bool plus = kind == '%' && at("+%}");
        if (minus || plus || at(endTag.c_str())) {
          push(kind == '{' ? T::VarEnd : T::BlockEnd, "", pos);
          stripNext = minus;
          trimNext = kind == '%' && !minus && !plus;
          return pos + endTag.size() + (minus || plus ? 1 : 0);
        }
      }
      char c = src_[pos];
      size_t start = pos;
      if (std::isalpha((unsigned char)c) || c == '_') {
        while (pos < src_.size() &&
               (std::isalnum((unsigned char)src_[pos]) || src_[pos] == '_'))
          ++pos;
        push(T::Name, src_.substr(start, pos - start), start);
      } else if (std::isdigit((unsigned char)c)) {
        while (pos < src_.size() &&
               (std::isdigit((unsigned char)src_[pos]) || src_[pos] == '_'))
          ++pos;
        bool isFloat = false;
        if (pos + 1 < src_.size() && src_[pos] == '.' &&
            std::isdigit((unsigned char)src_[pos + 1])) {
          isFloat = true;
          ++pos;
          while (pos < src_.size() && std::isdigit((unsigned char)src_[pos]))
            ++pos;
        }
        if (pos < src_.size() && (src_[pos] == 'e' || src_[pos] == 'E')) {
          size_t q = pos + 1;
          if (q < src_.size() && (src_[q] == '+' || src_[q] == '-'))
            ++q;
          if (q < src_.size() && std::isdigit((unsigned char)src_[q])) {
            isFloat = true;
            pos = q;
            while (pos < src_.size() && std::isdigit((unsigned char)src_[pos]))
              ++pos;
          }
        }
        std::string num;
        for (size_t i = start; i < pos; ++i)
          if (src_[i] != '_')
            num += src_[i];
        push(isFloat ? T::Float : T::Int, num, start);
        if (isFloat) {
          toks_.back().f = std::strtod(num.c_str(), nullptr);
        } else {
          errno = 0;
          toks_.back().i = std::strtoll(num.c_str(), nullptr, 10);
          if (errno == ERANGE)
            fail(start, "integer literal " + num + " is out of range",
                 "integers are 64-bit here");
        }
      } else if (c == '\'' || c == '"') {
        std::string s;
        ++pos;
        while (true) {
          if (pos >= src_.size())
            fail(start, "the string is not closed",
                 std::string("end it with ") + c);
          char d = src_[pos++];
          if (d == c)
            break;
          if (d != '\\') {
            s += d;
            continue;
          }
          if (pos >= src_.size())
            fail(start, "the string is not closed");
          char e = src_[pos++];
          switch (e) {
          case 'n':
            s += '\n';
            break;
          case 't':
            s += '\t';
            break;
          case 'r':
            s += '\r';
            break;
          case '0':
            s += '\0';
            break;
          case '\\':
          case '\'':
          case '"':
            s += e;
            break;
          case '\n':
            break;
          case 'u':
          case 'x': {
            size_t n = e == 'u' ? 4 : 2;
            if (pos + n > src_.size())
              fail(pos - 2, "bad \\" + std::string(1, e) + " escape");
            uint32_t cp = 0;
            for (size_t i = 0; i < n; ++i) {
              char h = src_[pos + i];
              if (!std::isxdigit((unsigned char)h))
                fail(pos - 2, "bad \\" + std::string(1, e) + " escape");
              cp = cp * 16 + uint32_t(std::isdigit((unsigned char)h)
                                          ? h - '0'
                                          : (std::tolower(h) - 'a' + 10));
            }
            pos += n;
            appendUtf8(s, cp);
            break;
          }
          default:
            s += '\\';
            s += e;
          }
        }
        push(T::Str, s, start);
      } else {
        static const char *ops[] = {"//", "**", "==", "!=", "<=", ">=", "+",
                                    "-",  "*",  "/",  "%",  "~",  "<",  ">",
                                    "=",  "(",  ")",  "[",  "]",  "{",  "}",
                                    ",",  ".",  ":",  "|"};
        const char *found = nullptr;
        for (const char *o : ops)
          if (at(o)) {
            found = o;
            break;
          }
        if (!found)
          fail(pos, std::string("unexpected character '") + c + "'");
        std::string o = found;
        if (o == "(" || o == "[" || o == "{")
          ++depth;
        else if ((o == ")" || o == "]" || o == "}") && depth > 0)
          --depth;
        pos += o.size();
        push(T::Op, o, start);
      }
    }
  }

  std::string src_;
  std::vector<Tok> toks_;
  size_t lcOff_ = 0;
  int lcLine_ = 1, lcCol_ = 1;
};

} // namespace

std::vector<Tok> lex(std::string src) { return Lexer(std::move(src)).run(); }

} // namespace hone::jinja
