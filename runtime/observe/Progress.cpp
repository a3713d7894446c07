#include "runtime/observe/Progress.h"

#include <cmath>
#include <unistd.h>

namespace hone::observe {

Progress::Progress(ProgressOptions options)
    : options_(std::move(options)), start_(std::chrono::steady_clock::now()) {
  using Mode = ProgressOptions::Mode;
  off_ = options_.mode == Mode::Off || options_.out == nullptr;
  if (!off_)
    bar_ = options_.mode == Mode::Bar ||
           (options_.mode == Mode::Auto && ::isatty(::fileno(options_.out)));
}

Progress::~Progress() {
  if (lineOpen_ && !off_)
    std::fputc('\n', options_.out);
}

std::string Progress::formatDuration(double s) {
  if (!std::isfinite(s) || s < 0)
    return "?";
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60,
                  t % 60);
  else
    std::snprintf(buf, sizeof(buf), "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

static const double *findMetric(const MetricValues &m, const char *name) {
  for (const auto &kv : m)
    if (kv.first == name)
      return &kv.second;
  return nullptr;
}

static std::string num(double v) {
  char buf[32];
  if (!std::isfinite(v))
    return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e6))
    std::snprintf(buf, sizeof(buf), "%.3e", v);
  else
    std::snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
}

std::string Progress::format(const ProgressOptions &o, int64_t step,
                             const MetricValues &metrics, double tokensPerSec,
                             double etaSeconds, bool bar) {
  std::string s;
  if (!o.label.empty())
    s += o.label + " ";
  if (bar && o.totalSteps > 0) {
    int filled = static_cast<int>(
        std::min<int64_t>(o.barWidth, step * o.barWidth / o.totalSteps));
    s += "[" + std::string(filled, '#') +
         std::string(o.barWidth - filled, '.') + "] ";
  }
  s += "step " + std::to_string(step);
  if (o.totalSteps > 0)
    s += "/" + std::to_string(o.totalSteps);
  const char *sep = bar ? " " : "=";
  for (const char *name : {"loss", "reward"})
    if (const double *v = findMetric(metrics, name))
      s += std::string("  ") + name + sep + num(*v);
  if (tokensPerSec > 0) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", tokensPerSec);
    s += std::string("  tok/s") + sep + buf;
  }
  if (o.totalSteps > 0)
    s += std::string("  eta") + sep + formatDuration(etaSeconds);
  return s;
}

void Progress::update(int64_t step, const MetricValues &metrics,
                      int64_t tokens) {
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                           start_)
                 .count();
  updateAt(step, metrics, tokens, t);
}

void Progress::updateAt(int64_t step, const MetricValues &metrics,
                        int64_t tokens, double elapsed) {
  if (off_)
    return;
  tokens_ += tokens;
  if (startStep_ < 0)
    startStep_ = step - 1; // steps done before this session (resume)
  double tps = elapsed > 0 ? tokens_ / elapsed : 0;
  double eta = -1;
  if (options_.totalSteps > 0 && elapsed > 0 && step > startStep_) {
    double perStep = elapsed / double(step - startStep_);
    eta = perStep * double(options_.totalSteps - step);
  }
  bool last = options_.totalSteps > 0 && step >= options_.totalSteps;
  std::string text = format(options_, step, metrics, tps, eta, bar_);
  if (bar_) {
    std::string pad = lastText_.size() > text.size()
                          ? std::string(lastText_.size() - text.size(), ' ')
                          : std::string();
    std::fprintf(options_.out, "\r%s%s", text.c_str(), pad.c_str());
    lineOpen_ = true;
  } else if (options_.logInterval <= 1 || step % options_.logInterval == 0 ||
             last) {
    std::fprintf(options_.out, "%s\n", text.c_str());
  }
  std::fflush(options_.out);
  lastText_ = text;
}

void Progress::finish() {
  if (off_)
    return;
  if (lineOpen_) {
    std::fputc('\n', options_.out);
    lineOpen_ = false;
  }
  std::fflush(options_.out);
}

void Progress::message(const std::string &text, bool warning) {
  if (off_ && !warning)
    return;
  if (off_) {
    std::fprintf(options_.out ? options_.out : stderr, "%s\n", text.c_str());
    return;
  }
  if (lineOpen_) {
    std::fprintf(options_.out, "\r%s\r",
                 std::string(lastText_.size(), ' ').c_str());
  }
  std::fprintf(options_.out, "%s\n", text.c_str());
  if (lineOpen_)
    std::fprintf(options_.out, "%s", lastText_.c_str());
  std::fflush(options_.out);
}

} // namespace hone::observe
