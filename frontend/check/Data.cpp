// datasets: files, layouts, columns (probed in the file) and splits.
#include "frontend/check/Checker.h"
#include "runtime/checkpoint/Sha256.h"

namespace hone::spec::check {

void Checker::checkDatasets() {
  for (int i = 0; i < p_.datasets_size(); ++i) {
    Dataset &d = *p_.mutable_datasets(i);
    if (!d.has_name() || d.name().empty()) {
      error(at(p_, "datasets", i), "the dataset has no name",
            "add 'name: \"train\"'; stages refer to datasets by name");
      continue;
    }
    if (datasets_.count(d.name())) {
      diags_.error(at(d, "name"),
                   "dataset " + q(d.name()) + " is declared twice")
          .note(at(*datasets_[d.name()], "name"), "first declared here");
      continue;
    }
    datasets_[d.name()] = &d;
    fillDeclaredDefaults(d);
    if (!d.has_shuffle_seed())
      d.set_shuffle_seed(defaultShuffleSeed(p_.seed()));
    range(d, "shuffle_seed");
    range(d, "max_records");
    range(d, "eval_fraction");
    if (d.has_eval_path() && d.eval_fraction() > 0)
      error(at(d, "eval_fraction"),
            "'eval_fraction' and 'eval_path' both give an eval split",
            "keep one of them");
    Columns &cols = *d.mutable_columns();
    fillDeclaredDefaults(cols);
    if (!d.has_path() || d.path().empty()) {
      error(at(d, "name"), "dataset " + q(d.name()) + " has no 'path'",
            "add 'path: \"train.jsonl\"' (relative to the spec)");
      continue;
    }
    if (!opts_.checkFiles)
      continue;
    auto probeOne = [&](const char *field, const std::string &file,
                        Dataset::Layout layout) -> Dataset::Layout {
      std::string full = spec_.resolvePath(file);
      if (!isFile(full)) {
        std::string what = fileKind(full);
        error(at(d, field),
              "dataset file " + q(file) +
                  (what.empty() ? " not found" : " is " + what +
                                                     ", not a file"),
              what.empty() ? "paths are relative to the spec's directory (" +
                                 spec_.baseDir + ")"
                           : std::string("give a JSONL file"));
        return Dataset::auto_;
      }
      DatasetProbe probe =
          probeDataset(full, layout, cols, opts_.recordsToCheck);
      if (!probe.recordError.empty()) {
        std::string where =
            probe.recordLine ? file + ":" + std::to_string(probe.recordLine)
                             : file;
        std::string hint = probe.recordHint;
        if (!hint.empty()) {
        } else if (layout == Dataset::auto_ && !probe.firstKeys.empty()) {
          std::string keys;
          for (const std::string &k : probe.firstKeys)
            keys += (keys.empty() ? "" : ", ") + k;
          hint = "the record's columns are " + keys +
                 "; set 'layout' and 'columns { ... }' to map them";
        } else if (layout != Dataset::auto_) {
          std::string need;
          for (const std::string &k : requiredColumns(layout, cols))
            need += (need.empty() ? "" : ", ") + k;
          hint = "layout " + std::string(layoutName(layout)) + " needs " +
                 need + "; set 'columns { ... }' when the file names them "
                        "differently";
        } else {
          hint = "every line must be one JSON object with the columns of "
                 "one layout (docs/spec.md); set 'layout' and 'columns' to "
                 "say which";
        }
        error(at(d, field), "dataset " + q(d.name()) + ": " + where + ": " +
                                probe.recordError,
              hint);
        return Dataset::auto_;
      }
      if (charTokenizer_)
        if (auto bad = findUnencodableText(full, probe.layout, cols,
                                           *charTokenizer_)) {
          std::string more = bad->records > 1
                                 ? " (" + std::to_string(bad->records) +
                                       " records have such text)"
                                 : "";
          error(at(d, field),
                "dataset " + q(d.name()) + ": " + file + ":" +
                    std::to_string(bad->line) + ": " +
                    (bad->column.empty() ? "" : q(bad->column) + ": ") +
                    bad->why + more,
                bad->column.empty()
                    ? std::string("every record must have the columns of "
                                  "the first")
                    : "add the character to tokenizer.chars.alphabet, or "
                      "remove it from the data");
          return Dataset::auto_;
        }
      // The rows' real lengths, with the job's own tokenization.
      const ::hone::Tokenizer *tk = charTokenizer_   ? &*charTokenizer_
                                    : fileTokenizer_ ? &*fileTokenizer_
                                                     : nullptr;
      // The template directory of `chat_template: from_model`: the
      // tokenizer file's (frontend/check/Tokenizer.cpp).
      std::string tokFile = p_.tokenizer().has_file()
                                ? spec_.resolvePath(p_.tokenizer().file())
                                : std::string();
      size_t slash = tokFile.rfind('/');
      std::string templateDir =
          slash == std::string::npos ? "." : tokFile.substr(0, slash);
      auto format =
          tk ? job::textFormatFor(
                   *tk,
                   Tokenizer::ChatTemplate_Name(p_.tokenizer().chat_template()),
                   templateDir, p_.tokenizer().chat_template_kwargs())
             : Expected<job::TextFormat>(Status::error("none"));
      if (format) {
        RowLengths got = measureRowLengths(full, probe.layout, cols, *format);
        if (!got.chatError.empty()) {
          error(at(d, field),
                "dataset " + q(d.name()) + ": " + file + ": " + got.chatError,
                got.chatHint.empty()
                    ? std::string("docs/formats.md, \"Model chat templates\"")
                    : got.chatHint);
          return Dataset::auto_;
        }
        // Rows per length of the training file (every batch a train step
        // draws is made of its rows): the memory plan's bound on a packed
        // batch and the report's packed FLOPs (docs/compiler.md).
        if (std::string(field) == "path") {
          spec_.sequenceCountsOf[d.name()] = got.sequenceCounts;
          spec_.pairCountsOf[d.name()] = got.pairCounts;
        }
        auto [it, fresh] = lengthsOf_.emplace(d.name(), got);
        if (!fresh) { // eval_path: the longest of both files
          auto most = [](int64_t a, int64_t b) {
            return a < 0 || b < 0 ? -1 : std::max(a, b);
          };
          it->second.sequence = most(it->second.sequence, got.sequence);
          it->second.pair = most(it->second.pair, got.pair);
          it->second.prompt = most(it->second.prompt, got.prompt);
          it->second.rows += got.rows;
        }
      }
      // The contents every compile-time decision above came from.
      if (auto digest = checkpoint::digestFile(full))
        (std::string(field) == "path" ? spec_.sha256Of
                                      : spec_.evalSha256Of)[d.name()] =
            digest->sha256;
      if (std::string(field) == "path") {
        spec_.recordsOf[d.name()] = probe.records;
        if (!probe.answerColumn.empty())
          cols.set_answer(probe.answerColumn);
        if (probe.conversational)
          conversational_.insert(d.name());
      }
      // What the job's loader will hold for the file (the memory plan's
      // dataset row), with the columns as the job gets them (the answer
      // column detected above).
      if (probe.layout != Dataset::auto_) {
        int64_t longest = 0;
        int64_t held = datasetHeldBytes(
            full, probe.layout, cols,
            std::string(field) == "path" ? d.max_records() : 0, &longest);
        if (held > 0)
          spec_.heldBytesOf[d.name()] += held;
        int64_t &record = spec_.recordBytesOf[d.name()];
        record = std::max(record, longest);
      }
      return probe.layout;
    };
    Dataset::Layout got = probeOne("path", d.path(), d.layout());
    if (got != Dataset::auto_) {
      d.set_layout(got);
      if (d.has_eval_path())
        probeOne("eval_path", d.eval_path(), got);
    }
  }
}

} // namespace hone::spec::check
