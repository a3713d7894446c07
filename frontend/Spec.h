// Loading a pipeline spec: parse the text format keeping a location for every
// field, apply command-line overrides, check everything, fill in defaults.
//
//   hone::spec::DiagnosticList diags;
//   auto spec = hone::spec::loadSpec("spec.textproto", overrides, diags);
//   if (!spec) { print diags; exit 1; }
//   spec->pipeline  // resolved: every default filled in, names checked
//
// The compiler wraps this in MLIR diagnostics (frontend/SpecDiagnostics.h).
#pragma once

#include "frontend/Diagnostics.h"
#include "frontend/pipeline.pb.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace hone::spec {

/// Where every parsed field (and every message) came from.
class SpecLocations {
public:
  /// The location of value `index` of `field` in `msg` (index -1 for a
  /// singular field); falls back to the message's own location, then to its
  /// parents', then to the file.
  SourceLoc of(const google::protobuf::Message &msg, const std::string &field,
               int index = -1) const;
  SourceLoc of(const google::protobuf::Message &msg) const;
  /// Whether `field` of `msg` was written in the spec or an override.
  bool has(const google::protobuf::Message &msg, const std::string &field,
           int index = -1) const;

  void setField(const google::protobuf::Message *msg, int fieldNumber,
                int index, SourceLoc loc);
  void setMessage(const google::protobuf::Message *msg,
                  const google::protobuf::Message *parent, SourceLoc loc);
  void setFile(std::string file) { file_ = std::move(file); }
  const std::string &file() const { return file_; }

private:
  using Key = std::tuple<const google::protobuf::Message *, int, int>;
  std::map<Key, SourceLoc> fields_;
  std::map<const google::protobuf::Message *,
           std::pair<const google::protobuf::Message *, SourceLoc>>
      messages_;
  std::string file_;
};

/// A spec as loaded (and, after checkSpec, resolved).
struct LoadedSpec {
  Pipeline pipeline;
  SpecLocations locs;
  /// The path given for the spec, as diagnostics print it.
  std::string path;
  /// Directory relative paths in the spec are resolved against.
  std::string baseDir;
  /// Resolve a path in the spec against baseDir.
  std::string resolvePath(const std::string &p) const;

  // Filled in by checkSpec:
  /// The architecture of every declared model (from `init`, a loaded
  /// directory's config.json, or the model it is copied `from`).
  std::map<std::string, Architecture> archOf;
  /// Records in each dataset's training file (when files were checked).
  std::map<std::string, long long> recordsOf;
  /// Rows per length (index: tokens as the job tokenizes them) of each
  /// dataset's training file, when measured: SFT rows, and preference
  /// pairs' chosen and rejected rows (RowLengths).
  std::map<std::string, std::vector<int64_t>> sequenceCountsOf, pairCountsOf;
  /// Bytes the job's loader holds for each dataset (training and
  /// evaluation files; runtime/data/HeldBytes.h), when the files were read.
  std::map<std::string, int64_t> heldBytesOf;
  /// The most heap bytes one record of the dataset holds (its files; the
  /// plan's `dataset.NAME.record` row: two working copies).
  std::map<std::string, int64_t> recordBytesOf;
  /// SHA-256 of each dataset's training and evaluation files as read here:
  /// the job refuses files that changed since (its steps, lengths and
  /// memory plan came from these contents).
  std::map<std::string, std::string> sha256Of, evalSha256Of;
};

struct LoadOptions {
  /// Check files (datasets, model directories, tokenizer) on disk, and read
  /// the first records of every dataset.
  bool checkFiles = true;
  /// Records of each dataset checked against the stages that use it.
  int recordsToCheck = 16;
  /// The spec's text, when the caller has read the path already (a FIFO
  /// such as honec <(generate-spec) can be read only once).
  std::optional<std::string> text;
};

/// Parses spec text. Syntax errors and unknown fields become diagnostics (all
/// unknown fields are reported, with "did you mean"); returns null when there
/// was any.
std::unique_ptr<LoadedSpec> parseSpec(const std::string &text,
                                      const std::string &path,
                                      DiagnosticList &diags);

/// Applies one `key.path=value` override (e.g. `stages[1].rl.steps=50`);
/// `argIndex` numbers the override for diagnostics. Returns false after
/// reporting an error.
bool applyOverride(LoadedSpec &spec, const std::string &arg,
                   DiagnosticList &diags);

/// Checks a parsed spec and fills in every default in place (context-
/// dependent ones included). Reports every independent problem; returns false
/// when there was an error.
bool checkSpec(LoadedSpec &spec, DiagnosticList &diags,
               const LoadOptions &options = {});

/// Reads, parses, applies overrides, checks and resolves a spec file.
std::unique_ptr<LoadedSpec>
loadSpec(const std::string &path, const std::vector<std::string> &overrides,
         DiagnosticList &diags, const LoadOptions &options = {});

/// The spec in text format (the resolved spec, written into run directories).
std::string printSpec(const Pipeline &pipeline);

/// Size strings like "16GiB", "512MiB", "1.5GB", "1000000"; -1 when invalid.
long long parseByteSize(const std::string &text);

} // namespace hone::spec
