#include "tools/hone-toydata/ToyData.h"

#include "runtime/base/Philox.h"

#include <algorithm>

namespace hone::toydata {

Expected<ToyTask> toyTaskFromName(std::string_view name) {
  if (name == "addition")
    return ToyTask::Addition;
  if (name == "multiplication")
    return ToyTask::Multiplication;
  if (name == "sorting")
    return ToyTask::Sorting;
  if (name == "parity")
    return ToyTask::Parity;
  return Status::error("error: unknown toy task '" + std::string(name) + "'",
                       "tasks: addition, multiplication, sorting, parity");
}

const char *toyTaskName(ToyTask t) {
  switch (t) {
  case ToyTask::Addition:
    return "addition";
  case ToyTask::Multiplication:
    return "multiplication";
  case ToyTask::Sorting:
    return "sorting";
  case ToyTask::Parity:
    return "parity";
  }
  return "?";
}

std::string toyVocabulary() {
  return "0123456789abcdefghijklmnopqrstuvwxyz +-*=?:,.()[]>";
}

std::vector<std::string> toySpecialTokens() { return {"<pad>", "<eos>"}; }

namespace {

/// Deterministic draws for one example: Philox(seed, index) blocks.
class Draws {
public:
  Draws(uint64_t seed, uint64_t index)
      : s_(seed, uint32_t(index >> 32), 0, uint32_t(index)) {}
  uint64_t below(uint64_t n) {
    PhiloxCounter b = s_.block(i_++);
    uint64_t v = (uint64_t(b[0]) << 32) | b[1];
    return n ? v % n : 0;
  }
  int range(int lo, int hi) { return lo + int(below(uint64_t(hi - lo + 1))); }

private:
  PhiloxStream s_;
  uint32_t i_ = 0;
};

/// A number with exactly `digits` digits (1 digit: 0..9).
std::string number(Draws &d, int digits) {
  std::string s;
  for (int i = 0; i < digits; ++i)
    s += char('0' + (i == 0 && digits > 1 ? 1 + d.below(9) : d.below(10)));
  return s;
}

std::string addStrings(const std::string &a, const std::string &b) {
  std::string r;
  int carry = 0;
  for (int i = int(a.size()) - 1, j = int(b.size()) - 1;
       i >= 0 || j >= 0 || carry; --i, --j) {
    int s = carry + (i >= 0 ? a[i] - '0' : 0) + (j >= 0 ? b[j] - '0' : 0);
    r += char('0' + s % 10);
    carry = s / 10;
  }
  std::reverse(r.begin(), r.end());
  return r;
}

std::string mulStrings(const std::string &a, const std::string &b) {
  std::vector<int> r(a.size() + b.size(), 0);
  for (int i = int(a.size()) - 1; i >= 0; --i)
    for (int j = int(b.size()) - 1; j >= 0; --j)
      r[size_t(i + j + 1)] += (a[i] - '0') * (b[j] - '0');
  for (size_t k = r.size() - 1; k > 0; --k) {
    r[k - 1] += r[k] / 10;
    r[k] %= 10;
  }
  std::string s;
  for (int v : r)
    if (!(s.empty() && v == 0))
      s += char('0' + v);
  return s.empty() ? "0" : s;
}

std::string fill(std::string t, const std::vector<std::string> &args) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '{' && i + 2 < t.size() && t[i + 2] == '}') {
      out += args[size_t(t[i + 1] - '0')];
      i += 2;
    } else {
      out += t[i];
    }
  }
  return out;
}

} // namespace

ToyExample toyExample(const ToyOptions &opts, uint64_t index) {
  Draws d(opts.seed, index);
  int lo = std::max(1, opts.minSize), hi = std::max(lo, opts.maxSize);
  auto pick = [&](const std::vector<const char *> &ts) {
    size_t i = opts.singleTemplate ? 0 : size_t(d.below(ts.size()));
    return std::string(ts[i]);
  };
  ToyExample e;
  switch (opts.task) {
  case ToyTask::Addition:
  case ToyTask::Multiplication: {
    bool add = opts.task == ToyTask::Addition;
    std::string a = number(d, d.range(lo, hi)), b = number(d, d.range(lo, hi));
    static const std::vector<const char *> addT = {
        "{0}+{1}=", "{0} + {1} = ", "what is {0} plus {1}? ",
        "add {0} and {1}: ", "sum of {0} and {1} is "};
    static const std::vector<const char *> mulT = {
        "{0}*{1}=", "{0} * {1} = ", "what is {0} times {1}? ",
        "multiply {0} by {1}: ", "product of {0} and {1} is "};
    e.prompt = fill(pick(add ? addT : mulT), {a, b});
    e.answer = add ? addStrings(a, b) : mulStrings(a, b);
    e.completion = e.answer;
    break;
  }
  case ToyTask::Sorting: {
    int n = d.range(lo, hi);
    std::vector<int> xs;
    std::string in, out;
    for (int i = 0; i < n; ++i)
      xs.push_back(int(d.below(10)));
    for (int i = 0; i < n; ++i)
      in += (i ? " " : "") + std::to_string(xs[size_t(i)]);
    std::sort(xs.begin(), xs.end());
    for (int i = 0; i < n; ++i)
      out += (i ? " " : "") + std::to_string(xs[size_t(i)]);
    static const std::vector<const char *> t = {
        "sort: {0} > ", "sort {0} ascending: ", "order these: {0}. answer: "};
    e.prompt = fill(pick(t), {in});
    e.answer = out;
    e.completion = out;
    break;
  }
  case ToyTask::Parity: {
    int n = d.range(lo, hi);
    std::string bits, steps;
    int p = 0;
    for (int i = 0; i < n; ++i) {
      int bit = int(d.below(2));
      bits += char('0' + bit);
      p ^= bit;
      steps += char('0' + p);
    }
    static const std::vector<const char *> t = {
        "parity of {0}: ", "is the number of ones in {0} odd? ",
        "parity({0}) = "};
    e.prompt = fill(pick(t), {bits});
    e.answer = p ? "1" : "0";
    e.completion = opts.workedSteps ? steps + " so " + e.answer : e.answer;
    break;
  }
  }
  return e;
}

json::Value toyRecord(const ToyExample &e, bool promptCompletion) {
  json::Value v = json::Value::object();
  v.set("prompt", e.prompt);
  if (promptCompletion)
    v.set("completion", e.completion);
  else
    v.set("answer", e.answer);
  return v;
}

} // namespace hone::toydata
