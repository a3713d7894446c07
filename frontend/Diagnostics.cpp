#include "frontend/Diagnostics.h"

#include <algorithm>
#include <cctype>

namespace hone::spec {

std::string SourceLoc::str() const {
  if (line <= 0)
    return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

std::string Diagnostic::str() const {
  std::string out = loc.str() + (severity == Severity::Error ? ": error: "
                                                             : ": warning: ") +
                    message;
  for (const Note &n : notes)
    out += "\n" + n.loc.str() + ": note: " + n.message;
  return out;
}

size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      size_t cost = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                            std::tolower(static_cast<unsigned char>(b[j - 1]))
                        ? 0
                        : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closestMatch(const std::string &word,
                         const std::vector<std::string> &candidates) {
  std::string best;
  size_t bestDist = static_cast<size_t>(-1);
  for (const std::string &c : candidates) {
    size_t d = editDistance(word, c);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  // A likely typo: at most a third of the word wrong (and at least one edit
  // allowed), or the word is a prefix/suffix of the candidate.
  size_t limit = std::max<size_t>(1, (word.size() + 2) / 3);
  if (best.empty() || word.empty())
    return {};
  if (bestDist <= limit)
    return best;
  for (const std::string &c : candidates)
    if (word.size() >= 3 && (c.rfind(word, 0) == 0 ||
                             (c.size() > word.size() &&
                              c.compare(c.size() - word.size(), word.size(),
                                        word) == 0)))
      return c;
  return {};
}

} // namespace hone::spec
