// Diagnostics of spec loading, collected in plain structs so that the spec
// layer has no MLIR dependency (the fuzzer links it alone). The compiler turns
// them into MLIR diagnostics at FileLineColLocs (frontend/SpecDiagnostics.h).
#pragma once

#include "runtime/base/Status.h"

#include <string>
#include <utility>
#include <vector>

namespace hone::spec {

/// A place in the spec file or in a command-line override. Lines and columns
/// are 1-based; line 0 means "the file as a whole".
struct SourceLoc {
  std::string file;
  int line = 0;
  int col = 0;

  bool isKnown() const { return !file.empty(); }
  std::string str() const;
};

struct Note {
  SourceLoc loc;
  std::string message;
};

struct Diagnostic {
  enum class Severity { Error, Warning };
  Severity severity = Severity::Error;
  SourceLoc loc;
  std::string message;
  std::vector<Note> notes;

  /// "FILE:LINE:COL: error: MESSAGE" and one line per note.
  std::string str() const;
};

/// Collects diagnostics; `error(...)` returns a handle to attach notes.
class DiagnosticList {
public:
  class Builder {
  public:
    explicit Builder(Diagnostic &d) : d_(d) {}
    /// A note at the diagnostic's own location.
    Builder &note(std::string message) {
      d_.notes.push_back({d_.loc, boundMessage(std::move(message))});
      return *this;
    }
    Builder &note(SourceLoc loc, std::string message) {
      d_.notes.push_back({std::move(loc), boundMessage(std::move(message))});
      return *this;
    }

  private:
    Diagnostic &d_;
  };

  Builder error(SourceLoc loc, std::string message) {
    return add(Diagnostic::Severity::Error, std::move(loc), std::move(message));
  }
  Builder warning(SourceLoc loc, std::string message) {
    return add(Diagnostic::Severity::Warning, std::move(loc),
               std::move(message));
  }

  bool hasErrors() const { return errors_ > 0; }
  size_t errorCount() const { return errors_; }
  const std::vector<Diagnostic> &all() const { return diags_; }
  void clear() {
    diags_.clear();
    errors_ = 0;
  }

private:
  Builder add(Diagnostic::Severity s, SourceLoc loc, std::string message) {
    if (s == Diagnostic::Severity::Error)
      ++errors_;
    // Bounded as the runtime's messages are (a long quoted value is cut).
    diags_.push_back({s, std::move(loc), boundMessage(std::move(message)), {}});
    return Builder(diags_.back());
  }

  // A deque would keep Builders valid across add(); Builders are used at once.
  std::vector<Diagnostic> diags_;
  size_t errors_ = 0;
};

/// Levenshtein distance, for "did you mean" suggestions.
size_t editDistance(const std::string &a, const std::string &b);

/// The candidate closest to `word` when it is close enough to be a likely
/// typo; empty otherwise.
std::string closestMatch(const std::string &word,
                         const std::vector<std::string> &candidates);

} // namespace hone::spec
