// report.html (runtime/observe/Report.h). Over 800 lines: one
// self-contained page, its CSS inline and its SVG charts (metrics, the
// lanes' Gantt chart) drawn here without a library.
#include "runtime/observe/Report.h"

#include "runtime/formats/AtomicFile.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace hone::observe {

namespace {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      // Drop control characters that XML forbids.
      if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
        out += ' ';
      else
        out += c;
    }
  }
  return out;
}

std::string f(double v, int prec = 1) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*f", prec, v);
  return buf;
}

std::string label(double v) {
  char buf[40];
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5))
    std::snprintf(buf, sizeof(buf), "%.2e", v);
  else
    std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// About n "nice" ticks covering [lo, hi].
std::vector<double> niceTicks(double lo, double hi, int n = 5) {
  std::vector<double> ticks;
  if (!(hi > lo))
    return {lo};
  double raw = (hi - lo) / n;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9;
       t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

const char *kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                          "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                          "#9c755f", "#bab0ac"};

std::string colorFor(std::string_view name) {
  // Group "learn3" with "learn": strip trailing digits before hashing.
  size_t end = name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(name[end - 1])))
    --end;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < end; ++i)
    h = (h ^ static_cast<unsigned char>(name[i])) * 16777619u;
  return kPalette[h % 10];
}

} // namespace

std::string formatBytes(uint64_t b) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? std::to_string(b) + " B" : f(v, 1) + " " + units[u];
}

std::vector<ReportSpan> spansFromTrace(const std::vector<exec::TraceEntry> &t) {
  std::vector<ReportSpan> out;
  out.reserve(t.size());
  for (const exec::TraceEntry &e : t)
    out.push_back({exec::laneName(e.lane), e.name, e.startNs * 1e-9,
                   e.endNs * 1e-9});
  return out;
}

std::vector<std::string> metricNames(const std::vector<MetricsRow> &rows) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const MetricsRow &r : rows)
    for (const auto &kv : r.values)
      if (seen.insert(kv.first).second)
        names.push_back(kv.first);
  return names;
}

std::string renderMetricChart(const std::string &metric,
                              const std::vector<MetricsRow> &rows) {
  const double W = 560, H = 240, L = 64, R = 16, T = 28, B = 36;
  std::vector<std::pair<double, double>> pts; // (step, value); NaN = gap
  for (const MetricsRow &r : rows)
    if (const double *v = r.find(metric))
      pts.emplace_back(static_cast<double>(r.step), *v);
  // Downsample long runs: min and max of each of ~W/2 buckets.
  if (pts.size() > 1200) {
    std::vector<std::pair<double, double>> ds;
    size_t buckets = 600, n = pts.size();
    for (size_t b = 0; b < buckets; ++b) {
      size_t lo = b * n / buckets, hi = (b + 1) * n / buckets;
      size_t iMin = lo, iMax = lo;
      for (size_t i = lo; i < hi; ++i) {
        if (!std::isfinite(pts[i].second))
          continue;
        if (!std::isfinite(pts[iMin].second) ||
            pts[i].second < pts[iMin].second)
          iMin = i;
        if (!std::isfinite(pts[iMax].second) ||
            pts[i].second > pts[iMax].second)
          iMax = i;
      }
      ds.push_back(pts[std::min(iMin, iMax)]);
      if (iMin != iMax)
        ds.push_back(pts[std::max(iMin, iMax)]);
    }
    pts.swap(ds);
  }
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool any = false;
  for (auto [x, y] : pts) {
    if (!std::isfinite(y))
      continue;
    if (!any) {
      x0 = x1 = x;
      y0 = y1 = y;
      any = true;
    }
    x0 = std::min(x0, x);
    x1 = std::max(x1, x);
    y0 = std::min(y0, y);
    y1 = std::max(y1, y);
  }
  if (x1 <= x0)
    x1 = x0 + 1;
  if (y1 <= y0) {
    double d = std::fabs(y0) > 0 ? std::fabs(y0) * 0.1 : 1;
    y0 -= d;
    y1 += d;
  } else {
    double pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
  }
  auto sx = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto sy = [&](double y) { return T + (y1 - y) / (y1 - y0) * (H - T - B); };

  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart metric\" "
       "data-metric=\"" +
       esc(metric) + "\" width=\"" + f(W, 0) + "\" height=\"" + f(H, 0) +
       "\" viewBox=\"0 0 " + f(W, 0) + " " + f(H, 0) + "\">";
  s += "<title>" + esc(metric) + "</title>";
  s += "<text x=\"" + f(L, 0) + "\" y=\"18\" class=\"ct\">" + esc(metric) +
       "</text>";
  s += "<rect x=\"" + f(L) + "\" y=\"" + f(T) + "\" width=\"" +
       f(W - L - R) + "\" height=\"" + f(H - T - B) +
       "\" fill=\"none\" stroke=\"#ccc\"/>";
  for (double t : niceTicks(y0, y1)) {
    s += "<line x1=\"" + f(L) + "\" x2=\"" + f(W - R) + "\" y1=\"" + f(sy(t)) +
         "\" y2=\"" + f(sy(t)) + "\" stroke=\"#eee\"/>";
    s += "<text x=\"" + f(L - 4) + "\" y=\"" + f(sy(t) + 4) +
         "\" text-anchor=\"end\" class=\"tk\">" + esc(label(t)) + "</text>";
  }
  for (double t : niceTicks(x0, x1)) {
    if (t != std::floor(t))
      continue;
    s += "<text x=\"" + f(sx(t)) + "\" y=\"" + f(H - B + 16) +
         "\" text-anchor=\"middle\" class=\"tk\">" + esc(label(t)) + "</text>";
  }
  s += "<text x=\"" + f((L + W - R) / 2) + "\" y=\"" + f(H - 4) +
       "\" text-anchor=\"middle\" class=\"tk\">step</text>";
  std::string d;
  bool pen = false;
  size_t finite = 0;
  for (auto [x, y] : pts) {
    if (!std::isfinite(y)) {
      pen = false;
      continue;
    }
    ++finite;
    d += (pen ? "L" : "M") + f(sx(x), 2) + " " + f(sy(y), 2);
    pen = true;
  }
  // Raw values faint behind, an exponential moving average (TensorBoard's
  // smoothing, weight 0.6) in front once there are enough points to smooth.
  std::string smooth;
  if (finite >= 8) {
    double ema = 0, w = 0;
    bool spen = false;
    for (auto [x, y] : pts) {
      if (!std::isfinite(y)) {
        spen = false;
        continue;
      }
      ema = 0.6 * ema + 0.4 * y;
      w = 0.6 * w + 0.4;
      smooth += (spen ? "L" : "M") + f(sx(x), 2) + " " + f(sy(ema / w), 2);
      spen = true;
    }
  }
  if (!d.empty())
    s += "<path class=\"" + std::string(smooth.empty() ? "line" : "raw") +
         "\" d=\"" + d + "\" fill=\"none\" stroke=\"#4e79a7\" " +
         (smooth.empty() ? "stroke-width=\"1.5\"/>"
                         : "stroke-width=\"1\" stroke-opacity=\"0.25\"/>");
  if (!smooth.empty())
    s += "<path class=\"smooth\" d=\"" + smooth +
         "\" fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"1.8\"/>";
  if (finite == 1) // a single point: draw it
    for (auto [x, y] : pts)
      if (std::isfinite(y))
        s += "<circle cx=\"" + f(sx(x), 2) + "\" cy=\"" + f(sy(y), 2) +
             "\" r=\"3\" fill=\"#4e79a7\"/>";
  s += "</svg>";
  return s;
}

std::string renderGantt(const std::vector<ReportSpan> &all, size_t maxSpans) {
  size_t first = all.size() > maxSpans ? all.size() - maxSpans : 0;
  std::vector<std::string> lanes;
  for (const char *l : {"rollout", "learn", "copy", "comm"})
    for (size_t i = first; i < all.size(); ++i)
      if (all[i].lane == l) {
        lanes.push_back(l);
        break;
      }
  for (size_t i = first; i < all.size(); ++i)
    if (std::find(lanes.begin(), lanes.end(), all[i].lane) == lanes.end())
      lanes.push_back(all[i].lane);
  double t0 = 0, t1 = 1;
  if (first < all.size()) {
    t0 = all[first].startSec;
    t1 = all[first].endSec;
    for (size_t i = first; i < all.size(); ++i) {
      t0 = std::min(t0, all[i].startSec);
      t1 = std::max(t1, all[i].endSec);
    }
  }
  if (t1 <= t0)
    t1 = t0 + 1e-6;
  const double W = 960, L = 72, R = 16, T = 8, rowH = 26, B = 34;
  double H = T + rowH * std::max<size_t>(1, lanes.size()) + B;
  // Time unit for the axis.
  double span = t1 - t0, scale = 1;
  const char *unit = "s";
  if (span < 2e-3) {
    scale = 1e6;
    unit = "µs";
  } else if (span < 2) {
    scale = 1e3;
    unit = "ms";
  }
  auto sx = [&](double t) { return L + (t - t0) / (t1 - t0) * (W - L - R); };
  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart gantt\" "
       "width=\"" +
       f(W, 0) + "\" height=\"" + f(H, 0) + "\" viewBox=\"0 0 " + f(W, 0) +
       " " + f(H, 0) + "\">";
  s += "<title>schedule</title>";
  for (size_t r = 0; r < lanes.size(); ++r) {
    double y = T + r * rowH;
    s += "<rect x=\"" + f(L) + "\" y=\"" + f(y) + "\" width=\"" +
         f(W - L - R) + "\" height=\"" + f(rowH) + "\" fill=\"" +
         (r % 2 ? "#fafafa" : "#f0f0f0") + "\"/>";
    s += "<text x=\"" + f(L - 6) + "\" y=\"" + f(y + rowH / 2 + 4) +
         "\" text-anchor=\"end\" class=\"tk\">" + esc(lanes[r]) + "</text>";
  }
  for (size_t i = first; i < all.size(); ++i) {
    const ReportSpan &sp = all[i];
    size_t r = std::find(lanes.begin(), lanes.end(), sp.lane) - lanes.begin();
    double x = sx(sp.startSec), w = std::max(0.5, sx(sp.endSec) - x);
    s += "<rect class=\"task\" x=\"" + f(x, 2) + "\" y=\"" +
         f(T + r * rowH + 3) + "\" width=\"" + f(w, 2) + "\" height=\"" +
         f(rowH - 6) + "\" fill=\"" + colorFor(sp.name) + "\"><title>" +
         esc(sp.lane + ": " + sp.name + " " +
             f((sp.startSec - t0) * scale, 3) + "–" +
             f((sp.endSec - t0) * scale, 3) + " " + unit) +
         "</title></rect>";
  }
  double axisY = T + rowH * std::max<size_t>(1, lanes.size());
  for (double t : niceTicks(0, (t1 - t0) * scale, 8)) {
    double x = sx(t0 + t / scale);
    s += "<line x1=\"" + f(x) + "\" x2=\"" + f(x) + "\" y1=\"" + f(axisY) +
         "\" y2=\"" + f(axisY + 4) + "\" stroke=\"#888\"/>";
    s += "<text x=\"" + f(x) + "\" y=\"" + f(axisY + 16) +
         "\" text-anchor=\"middle\" class=\"tk\">" + esc(label(t)) + "</text>";
  }
  s += "<text x=\"" + f((L + W - R) / 2) + "\" y=\"" + f(H - 4) +
       "\" text-anchor=\"middle\" class=\"tk\">time (" + unit + ")</text>";
  s += "</svg>";
  return s;
}

std::string renderMemoryTimeline(const std::vector<MemoryBuffer> &bufs,
                                 uint64_t arenaBytes) {
  uint64_t top = arenaBytes;
  int64_t u0 = 0, u1 = 1;
  bool any = false;
  for (const MemoryBuffer &b : bufs) {
    top = std::max(top, b.offset + b.size);
    if (!any) {
      u0 = b.firstUse;
      u1 = b.lastUse + 1;
      any = true;
    }
    u0 = std::min(u0, b.firstUse);
    u1 = std::max(u1, b.lastUse + 1);
  }
  if (top == 0)
    top = 1;
  if (u1 <= u0)
    u1 = u0 + 1;
  const double W = 960, H = 320, L = 80, R = 16, T = 8, B = 34;
  auto sx = [&](double u) { return L + (u - u0) / double(u1 - u0) * (W - L - R); };
  auto sy = [&](double off) { return H - B - off / double(top) * (H - T - B); };
  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart memory\" "
       "width=\"" +
       f(W, 0) + "\" height=\"" + f(H, 0) + "\" viewBox=\"0 0 " + f(W, 0) +
       " " + f(H, 0) + "\">";
  s += "<title>memory plan</title>";
  s += "<rect x=\"" + f(L) + "\" y=\"" + f(T) + "\" width=\"" + f(W - L - R) +
       "\" height=\"" + f(H - T - B) + "\" fill=\"#fafafa\" stroke=\"#ccc\"/>";
  // Ticks at round numbers of the largest binary unit that fits.
  double unitBytes = 1;
  const char *unitName = "B";
  for (auto [b, n] : {std::pair<double, const char *>{1024.0, "KiB"},
                      {1048576.0, "MiB"},
                      {1073741824.0, "GiB"}})
    if (double(top) >= 2 * b) {
      unitBytes = b;
      unitName = n;
    }
  for (double t : niceTicks(0, double(top) / unitBytes, 5)) {
    s += "<text x=\"" + f(L - 6) + "\" y=\"" + f(sy(t * unitBytes) + 4) +
         "\" text-anchor=\"end\" class=\"tk\">" + esc(label(t)) + " " +
         unitName + "</text>";
  }
  for (double t : niceTicks(double(u0), double(u1), 8)) {
    if (t != std::floor(t))
      continue;
    s += "<text x=\"" + f(sx(t)) + "\" y=\"" + f(H - B + 16) +
         "\" text-anchor=\"middle\" class=\"tk\">" + esc(label(t)) + "</text>";
  }
  s += "<text x=\"" + f((L + W - R) / 2) + "\" y=\"" + f(H - 4) +
       "\" text-anchor=\"middle\" class=\"tk\">schedule position</text>";
  for (const MemoryBuffer &b : bufs) {
    double x = sx(double(b.firstUse)), x2 = sx(double(b.lastUse + 1));
    double y = sy(double(b.offset + b.size)), y2 = sy(double(b.offset));
    s += "<rect class=\"buffer\" x=\"" + f(x, 2) + "\" y=\"" + f(y, 2) +
         "\" width=\"" + f(std::max(0.5, x2 - x), 2) + "\" height=\"" +
         f(std::max(0.5, y2 - y), 2) + "\" fill=\"" + colorFor(b.name) +
         "\" fill-opacity=\"0.8\" stroke=\"#fff\" stroke-width=\"0.5\"><title>" +
         esc(b.name + ": " + formatBytes(b.size) + " at offset " +
             std::to_string(b.offset) + ", live " + std::to_string(b.firstUse) +
             "–" + std::to_string(b.lastUse)) +
         "</title></rect>";
    if (x2 - x > 8.0 * b.name.size() && y2 - y > 14)
      s += "<text x=\"" + f(x + 4) + "\" y=\"" + f((y + y2) / 2 + 4) +
           "\" class=\"tk\">" + esc(b.name) + "</text>";
  }
  s += "</svg>";
  return s;
}

std::string renderMemoryStack(const std::vector<MemoryBuffer> &bufs,
                              uint64_t budget, uint64_t measured) {
  static const char *kinds[] = {"weights",     "gradients", "optimizer",
                                "activations", "kv_cache",  "workspace",
                                "step_tensors", "runtime"};
  static const char *colors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                 "#59a14f", "#edc948", "#b07aa1", "#9c755f"};
  constexpr size_t K = sizeof(kinds) / sizeof(kinds[0]);
  // Positions past 2^20 are not drawn (a plan has far fewer).
  constexpr int64_t kMaxUse = int64_t(1) << 20;
  int64_t u1 = 1;
  for (const MemoryBuffer &b : bufs)
    if (b.lastUse < kMaxUse)
      u1 = std::max(u1, b.lastUse + 1);
  // Bytes per kind at each position (difference arrays).
  std::vector<std::vector<double>> live(K, std::vector<double>(size_t(u1) + 1));
  for (const MemoryBuffer &b : bufs) {
    size_t k = 0;
    while (k < K && b.kind != kinds[k])
      ++k;
    if (k == K || b.firstUse < 0 || b.lastUse < b.firstUse ||
        b.lastUse >= kMaxUse)
      continue;
    live[k][size_t(b.firstUse)] += double(b.size);
    live[k][size_t(b.lastUse) + 1] -= double(b.size);
  }
  double peak = 1;
  std::vector<double> total(size_t(u1), 0);
  for (size_t k = 0; k < K; ++k) {
    double run = 0;
    for (int64_t u = 0; u < u1; ++u) {
      run += live[k][size_t(u)];
      live[k][size_t(u)] = run;
      total[size_t(u)] += run;
      peak = std::max(peak, total[size_t(u)]);
    }
  }
  // Lines within twice the peak are drawn; the y axis reaches them.
  auto drawn = [&](uint64_t v) { return v > 0 && double(v) <= 2 * peak; };
  double top = peak;
  for (uint64_t v : {budget, measured})
    if (drawn(v))
      top = std::max(top, double(v));
  top *= 1.05;
  const double W = 960, H = 320, L = 80, R = 150, T = 8, B = 34;
  auto sx = [&](double u) { return L + u / double(u1) * (W - L - R); };
  auto sy = [&](double v) { return H - B - v / top * (H - T - B); };
  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart memstack\" "
       "width=\"" + f(W, 0) + "\" height=\"" + f(H, 0) + "\" viewBox=\"0 0 " +
       f(W, 0) + " " + f(H, 0) + "\">";
  s += "<title>memory over the schedule, by kind</title>";
  s += "<rect x=\"" + f(L) + "\" y=\"" + f(T) + "\" width=\"" + f(W - L - R) +
       "\" height=\"" + f(H - T - B) + "\" fill=\"#fafafa\" stroke=\"#ccc\"/>";
  double unitBytes = 1;
  const char *unitName = "B";
  for (auto [b, n] : {std::pair<double, const char *>{1024.0, "KiB"},
                      {1048576.0, "MiB"},
                      {1073741824.0, "GiB"}})
    if (top >= 2 * b) {
      unitBytes = b;
      unitName = n;
    }
  for (double t : niceTicks(0, top / unitBytes, 5))
    s += "<text x=\"" + f(L - 6) + "\" y=\"" + f(sy(t * unitBytes) + 4) +
         "\" text-anchor=\"end\" class=\"tk\">" + esc(label(t)) + " " +
         unitName + "</text>";
  s += "<text x=\"" + f((L + W - R) / 2) + "\" y=\"" + f(H - 4) +
       "\" text-anchor=\"middle\" class=\"tk\">schedule position</text>";
  // One step-shaped band per kind, on top of the kinds below it.
  std::vector<double> base(size_t(u1), 0);
  double ly = T + 12;
  for (size_t k = 0; k < K; ++k) {
    bool any = false;
    for (int64_t u = 0; u < u1; ++u)
      any |= live[k][size_t(u)] > 0;
    if (!any)
      continue;
    std::string upper, lower;
    for (int64_t u = 0; u < u1; ++u) {
      double y = sy(base[size_t(u)] + live[k][size_t(u)]);
      upper += (u ? " L" : "M") + f(sx(double(u)), 2) + "," + f(y, 2) + " L" +
               f(sx(double(u + 1)), 2) + "," + f(y, 2);
    }
    for (int64_t u = u1 - 1; u >= 0; --u) {
      double y = sy(base[size_t(u)]);
      lower += " L" + f(sx(double(u + 1)), 2) + "," + f(y, 2) + " L" +
               f(sx(double(u)), 2) + "," + f(y, 2);
      base[size_t(u)] += live[k][size_t(u)];
    }
    s += "<path class=\"kind\" data-kind=\"" + std::string(kinds[k]) +
         "\" d=\"" + upper + lower + " Z\" fill=\"" + colors[k] +
         "\" fill-opacity=\"0.85\"><title>" + kinds[k] + "</title></path>";
    s += "<rect x=\"" + f(W - R + 10) + "\" y=\"" + f(ly - 9) +
         "\" width=\"10\" height=\"10\" fill=\"" + colors[k] + "\"/>";
    s += "<text x=\"" + f(W - R + 24) + "\" y=\"" + f(ly) + "\" class=\"tk\">" +
         kinds[k] + "</text>";
    ly += 16;
  }
  auto line = [&](uint64_t v, const char *cls, const char *color,
                  const std::string &name) {
    if (!v)
      return;
    std::string text = name + " " + formatBytes(v);
    if (drawn(v)) {
      s += "<line class=\"" + std::string(cls) + "\" x1=\"" + f(L) + "\" x2=\"" +
           f(W - R) + "\" y1=\"" + f(sy(double(v)), 2) + "\" y2=\"" +
           f(sy(double(v)), 2) + "\" stroke=\"" + color +
           "\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"><title>" +
           esc(text) + "</title></line>";
    } else {
      text += " (off the chart)";
    }
    s += "<text x=\"" + f(W - R + 10) + "\" y=\"" + f(ly) +
         "\" class=\"tk\" fill=\"" + color + "\">" + esc(text) + "</text>";
    ly += 16;
  };
  line(budget, "budget", "#c00", "budget");
  line(measured, "measured", "#333", "measured");
  s += "</svg>";
  return s;
}

namespace {

/// Rows of training (they carry the "stage" index the job logs) and of
/// evaluations (no "stage").
bool isTrainingRow(const MetricsRow &r) { return r.find("stage") != nullptr; }

std::string stageLabel(const std::vector<StageSettings> &names, int64_t k) {
  if (k >= 0 && size_t(k) < names.size())
    return names[size_t(k)].stage;
  return "stage " + std::to_string(k);
}

/// A metric worth a chart: not the stage index, and not constant (every
/// finite value equal) over the rows.
bool varies(const std::string &metric, const std::vector<MetricsRow> &rows) {
  if (metric == "stage")
    return false;
  bool any = false;
  double first = 0;
  for (const MetricsRow &r : rows)
    if (const double *v = r.find(metric); v && std::isfinite(*v)) {
      if (!any) {
        first = *v;
        any = true;
      } else if (*v != first) {
        return true;
      }
    }
  return false;
}

} // namespace

std::vector<StageRange> stageRanges(const std::vector<MetricsRow> &rows) {
  std::vector<StageRange> out;
  for (const MetricsRow &r : rows) {
    const double *k = r.find("stage");
    if (!k || !std::isfinite(*k))
      continue;
    int64_t idx = static_cast<int64_t>(*k);
    if (out.empty() || out.back().index != idx)
      out.push_back({idx, r.step, r.step});
    out.back().lastStep = std::max(out.back().lastStep, r.step);
  }
  return out;
}

std::string renderStageStrip(const std::vector<StageRange> &stages,
                             const std::vector<StageSettings> &names,
                             const std::vector<int64_t> &evalSteps) {
  const double W = 960, L = 16, R = 16, H = 64, T = 8, barH = 26;
  int64_t s0 = 0, s1 = 1;
  for (const StageRange &s : stages)
    s1 = std::max(s1, s.lastStep);
  for (int64_t e : evalSteps)
    s1 = std::max(s1, e);
  auto sx = [&](double x) {
    return L + (x - s0) / double(s1 - s0) * (W - L - R);
  };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart "
                  "stages\" width=\"" +
                  f(W, 0) + "\" height=\"" + f(H, 0) + "\" viewBox=\"0 0 " +
                  f(W, 0) + " " + f(H, 0) + "\"><title>stages</title>";
  for (const StageRange &st : stages) {
    double x0 = sx(double(st.firstStep - 1)), x1 = sx(double(st.lastStep));
    std::string name = stageLabel(names, st.index);
    s += "<rect class=\"stage\" x=\"" + f(x0) + "\" y=\"" + f(T) +
         "\" width=\"" + f(std::max(1.0, x1 - x0)) + "\" height=\"" +
         f(barH) + "\" fill=\"" + colorFor(name) +
         "\" fill-opacity=\"0.35\" stroke=\"#555\"><title>" + esc(name) +
         ": steps " + std::to_string(st.firstStep) + "-" +
         std::to_string(st.lastStep) + "</title></rect>";
    s += "<text x=\"" + f(x0 + 4) + "\" y=\"" + f(T + 17) +
         "\" class=\"tk\">" + esc(name) + "</text>";
    s += "<line class=\"boundary\" x1=\"" + f(x1) + "\" x2=\"" + f(x1) +
         "\" y1=\"" + f(T - 4) + "\" y2=\"" + f(T + barH + 4) +
         "\" stroke=\"#222\" stroke-width=\"2\"/>";
  }
  for (int64_t e : evalSteps)
    s += "<circle class=\"eval\" cx=\"" + f(sx(double(e))) + "\" cy=\"" +
         f(T + barH + 12) + "\" r=\"4\" fill=\"#e15759\"><title>evaluation "
         "at step " + std::to_string(e) + "</title></circle>";
  s += "<text x=\"" + f(W - R) + "\" y=\"" + f(H - 2) +
       "\" text-anchor=\"end\" class=\"tk\">step " + std::to_string(s1) +
       "</text></svg>";
  return s;
}

std::string renderEvaluations(const std::vector<MetricsRow> &rows,
                              const std::vector<StageSettings> &names) {
  // Evaluation points (steps), each labelled by the stage it follows.
  std::vector<StageRange> stages = stageRanges(rows);
  std::vector<int64_t> steps;
  std::vector<std::string> metrics;
  std::map<std::pair<std::string, int64_t>, double> value;
  for (const MetricsRow &r : rows) {
    if (isTrainingRow(r) || r.values.empty())
      continue;
    if (steps.empty() || steps.back() != r.step)
      steps.push_back(r.step);
    for (const auto &[k, v] : r.values) {
      if (std::find(metrics.begin(), metrics.end(), k) == metrics.end())
        metrics.push_back(k);
      value[{k, r.step}] = v;
    }
  }
  if (steps.empty())
    return "";
  auto when = [&](int64_t step) {
    std::string after;
    for (const StageRange &s : stages)
      if (s.lastStep <= step)
        after = stageLabel(names, s.index);
    return after.empty() ? std::string("before training")
                         : "after " + after;
  };
  std::string h = "<h2>Evaluations</h2>\n<p>Each evaluation (rows: "
                  "EVALUATION/metric) at each point of the run, first to "
                  "last.</p>\n<table class=\"evals\"><tr><th></th>";
  for (int64_t s : steps)
    h += "<th>" + esc(when(s)) + " (step " + std::to_string(s) + ")</th>";
  h += "</tr>";
  for (const std::string &m : metrics) {
    h += "<tr><td>" + esc(m) + "</td>";
    for (int64_t s : steps) {
      auto it = value.find({m, s});
      h += "<td>" +
           (it == value.end() ? std::string("") : esc(label(it->second))) +
           "</td>";
    }
    h += "</tr>";
  }
  return h + "</table>\n";
}

std::string renderStageSettings(const std::vector<StageSettings> &stages) {
  if (stages.empty())
    return "";
  std::string h = "<h2>Effective settings</h2>\n<p>What the compiled "
                  "program handed the runtime as each stage began (after "
                  "every pass and plugin; program.mlir holds the IR).</p>\n"
                  "<div class=\"settings\">\n";
  for (const StageSettings &s : stages) {
    h += "<table class=\"stage-settings\"><caption>" + esc(s.stage) +
         "</caption>";
    for (const auto &[k, v] : s.rows)
      h += "<tr><td>" + esc(k) + "</td><td>" + esc(v) + "</td></tr>";
    h += "</table>\n";
  }
  return h + "</div>\n";
}

std::string renderModelWork(const std::vector<ModelWorkRow> &rows) {
  if (rows.empty())
    return "";
  auto arrow = [](const std::string &b, const std::string &a) {
    return b == a ? a : b + " &rarr; " + a;
  };
  auto num = [](double g) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.4g", g);
    return std::string(buf);
  };
  bool measured = false;
  for (const ModelWorkRow &r : rows)
    measured |= r.measured;
  std::string h =
      "<h2>Model work per stage iteration</h2>\n<p>Per model, before "
      "fusion &rarr; as compiled (hone-fuse-forwards, hone-pack-sequences; "
      "the compiler's estimate, as <code>honec --report</code> prints it): "
      "forward and backward passes, generated tokens (rows &times; "
      "positions) and GFLOPs. The estimate counts packed reads of dataset "
      "rows at their mean length and every other read, rollouts included, "
      "at its padded shape (rollouts at <code>max_new_tokens</code>): a "
      "bound.";
  if (measured)
    h += " <b>Measured</b>: what this job ran per step of the stage: full "
         "forwards and backwards, the rows they ran (packed: real tokens, "
         "no padding), tokens generated (each row up to its stop) and GFLOP "
         "by the same estimate from the shapes that ran (decoding: each "
         "token over the positions it attends).";
  int ranks = 1;
  for (const ModelWorkRow &r : rows)
    ranks = std::max(ranks, r.ranks);
  if (ranks > 1)
    h += " All " + std::to_string(ranks) +
         " data-parallel ranks together: the compiler's counts (one rank's "
         "program) times " + std::to_string(ranks) +
         ", the measured ones summed over the ranks.";
  h += "</p>\n<table class=\"work\"><tr><th>stage</th><th>model</th>"
       "<th>forwards</th><th>backwards</th><th>generated tokens</th>"
       "<th>GFLOP</th>";
  if (measured)
    h += "<th>measured forwards</th><th>backwards</th><th>rows run</th>"
         "<th>generated tokens</th><th>GFLOP</th>";
  h += "</tr>";
  for (const ModelWorkRow &r : rows) {
    std::string ratio;
    if (r.gflop > 0 && r.gflopBefore != r.gflop) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), " (%.2fx)", r.gflopBefore / r.gflop);
      ratio = buf;
    }
    h += "<tr><td>" + esc(r.stage) + "</td><td>" + esc(r.model) + "</td>";
    if (r.estimated)
      h += "<td>" +
           arrow(std::to_string(r.forwardsBefore), std::to_string(r.forwards)) +
           "</td><td>" +
           arrow(std::to_string(r.backwardsBefore),
                 std::to_string(r.backwards)) +
           "</td><td>" + (r.generates ? std::to_string(r.generatedTokens) : "") +
           "</td><td>" + arrow(num(r.gflopBefore), num(r.gflop)) + ratio +
           "</td>";
    else
      h += "<td></td><td></td><td></td><td></td>";
    if (measured) {
      if (r.measured)
        h += "<td>" + num(r.runForwards) + "</td><td>" + num(r.runBackwards) +
             "</td><td>" + num(r.runRows) + "</td><td>" +
             (r.runGenerated > 0 ? num(r.runGenerated) : "") + "</td><td>" +
             num(r.runGflop) + "</td>";
      else
        h += "<td></td><td></td><td></td><td></td><td></td>";
    }
    h += "</tr>";
  }
  return h + "</table>\n";
}

std::string renderReportHtml(const ReportData &d) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
       "<title>" +
       esc(d.title) + "</title>\n<style>"
       "body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
       "h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
       "table{border-collapse:collapse}td{padding:2px 12px 2px 0}"
       "td:first-child{color:#666}"
       ".charts{display:flex;flex-wrap:wrap;gap:12px}"
       ".settings{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}"
       "caption{text-align:left;font-weight:600;padding-bottom:4px}"
       "svg .ct{font-size:13px;font-weight:600}"
       "svg .tk{font-size:10px;fill:#555}"
       "</style></head><body>\n";
  h += "<h1>" + esc(d.title) + "</h1>\n";
  if (!d.summary.empty()) {
    h += "<table class=\"summary\">";
    for (const auto &[k, v] : d.summary)
      h += "<tr><td>" + esc(k) + "</td><td>" + esc(v) + "</td></tr>";
    h += "</table>\n";
  }
  std::vector<StageRange> stages = stageRanges(d.metrics);
  std::vector<int64_t> evalSteps;
  for (const MetricsRow &r : d.metrics)
    if (!isTrainingRow(r) && !r.values.empty() &&
        (evalSteps.empty() || evalSteps.back() != r.step))
      evalSteps.push_back(r.step);
  if (!stages.empty()) {
    h += "<h2>Stages</h2>\n";
    h += renderStageStrip(stages, d.stageSettings, evalSteps) + "\n";
  }
  h += renderEvaluations(d.metrics, d.stageSettings);
  // One section per stage: its settings and its own curves (each metric on
  // its own axis, smoothed, raw values faint behind); the stage index and
  // metrics constant over the stage get no chart.
  bool anyChart = false;
  for (const StageRange &st : stages) {
    std::vector<MetricsRow> rows;
    for (const MetricsRow &r : d.metrics)
      if (const double *k = r.find("stage");
          k && static_cast<int64_t>(*k) == st.index)
        rows.push_back(r);
    std::string name = stageLabel(d.stageSettings, st.index);
    h += "<section class=\"stage\"><h2>Stage " +
         std::to_string(st.index + 1) + ": " + esc(name) + " (steps " +
         std::to_string(st.firstStep) + "-" + std::to_string(st.lastStep) +
         ")</h2>\n";
    for (const StageSettings &s : d.stageSettings)
      if (&s - d.stageSettings.data() == st.index) {
        h += "<details open=\"open\"><summary>Effective settings</summary>"
             "<table class=\"stage-settings\">";
        for (const auto &[k, v] : s.rows)
          h += "<tr><td>" + esc(k) + "</td><td>" + esc(v) + "</td></tr>";
        h += "</table></details>\n";
      }
    h += "<div class=\"charts\">\n";
    for (const std::string &n : metricNames(rows))
      if (varies(n, rows)) {
        h += renderMetricChart(n, rows) + "\n";
        anyChart = true;
      }
    h += "</div></section>\n";
  }
  if (!anyChart)
    h += "<p>No training curves were logged.</p>\n";
  if (stages.empty()) // no curves to hang them on: one section for all
    h += renderStageSettings(d.stageSettings);
  h += renderModelWork(d.work);
  h += "<h2>Schedule</h2>\n";
  for (const auto &[stage, spans] : d.planned) {
    double step = 0, work = 0;
    for (const ReportSpan &sp : spans) {
      step = std::max(step, sp.endSec);
      work += sp.endSec - sp.startSec;
    }
    h += "<h3>Planned step of " + esc(stage) +
         "</h3>\n<p>The compiled "
         "lanes and events of one step, each op taking its mean measured "
         "time: " +
         f(step * 1e3, 1) + " ms a step (" + f(work * 1e3, 1) +
         " ms of op time, " + f(step > 0 ? work / step : 0, 2) +
         "&#215; overlap).</p>\n";
    h += renderGantt(spans, d.maxSpans) + "\n";
  }
  if (!d.planned.empty() && !d.schedule.empty())
    h += "<h3>Measured</h3>\n";
  if (d.schedule.empty()) {
    h += "<p>No schedule trace was recorded.</p>\n";
  } else {
    if (d.schedule.size() > d.maxSpans)
      h += "<p>Showing the last " + std::to_string(d.maxSpans) + " of " +
           std::to_string(d.schedule.size()) + " tasks.</p>\n";
    h += renderGantt(d.schedule, d.maxSpans) + "\n";
  }
  h += "<h2>Memory plan</h2>\n";
  if (d.memory.empty()) {
    h += "<p>No memory plan was provided.</p>\n";
  } else {
    uint64_t peak = 0;
    for (const MemoryBuffer &b : d.memory)
      peak = std::max(peak, b.offset + b.size);
    h += "<p>" + std::to_string(d.memory.size()) + " buffers, arena " +
         esc(formatBytes(std::max(peak, d.arenaBytes))) + "</p>\n";
    if (std::any_of(d.memory.begin(), d.memory.end(),
                    [](const MemoryBuffer &b) { return !b.kind.empty(); }))
      h += renderMemoryStack(d.memory, d.memoryBudgetBytes,
                             d.measuredPeakBytes) +
           "\n";
    h += renderMemoryTimeline(d.memory, d.arenaBytes) + "\n";
  }
  h += "</body></html>\n";
  return h;
}

Status writeReport(const std::string &path, const ReportData &data) {
  return writeFileAtomic(path, renderReportHtml(data));
}

} // namespace hone::observe
