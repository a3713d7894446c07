// rewards: verifiers, patterns, external processes and reward models.
#include "frontend/check/Checker.h"

namespace hone::spec::check {

void Checker::checkRewards() {
  int64_t maxNew = p_.has_generation() && p_.generation().has_max_new_tokens()
                       ? p_.generation().max_new_tokens()
                       : Generation().max_new_tokens();
  for (int i = 0; i < p_.rewards_size(); ++i) {
    Reward &r = *p_.mutable_rewards(i);
    if (!r.has_name() || r.name().empty()) {
      error(at(p_, "rewards", i), "the reward has no name",
            "add 'name: \"correct\"'; stages refer to rewards by name");
      continue;
    }
    if (rewards_.count(r.name())) {
      diags_.error(at(r, "name"), "reward " + q(r.name()) + " is declared twice")
          .note(at(*rewards_[r.name()], "name"), "first declared here");
      continue;
    }
    rewards_[r.name()] = &r;
    auto checkRegex = [&](const Message &m, const char *field,
                          const std::string &pattern) {
      std::string e = regexError(pattern);
      if (!e.empty())
        error(at(m, field), "invalid regular expression: " + e,
              "patterns are PCRE2 syntax; escape special characters with "
              "'\\\\'");
    };
    switch (r.kind_case()) {
    case Reward::kExactMatch:
      if (r.exact_match().has_extract())
        checkRegex(r.exact_match(), "extract", r.exact_match().extract());
      break;
    case Reward::kNumericMatch: {
      const NumericMatch &n = r.numeric_match();
      if (n.has_extract())
        checkRegex(n, "extract", n.extract());
      range(n, "abs_tolerance");
      range(n, "rel_tolerance");
      break;
    }
    case Reward::kRegex:
      if (!r.regex().has_pattern())
        error(at(r, "regex"), "the regex reward needs a 'pattern'",
              "add 'pattern: \"...\"' (PCRE2)");
      else
        checkRegex(r.regex(), "pattern", r.regex().pattern());
      break;
    case Reward::kFormat:
      if (!r.format().has_pattern())
        error(at(r, "format"), "the format reward needs a 'pattern'",
              "add 'pattern: \"<answer>.*</answer>\"' (PCRE2, whole "
              "completion)");
      else
        checkRegex(r.format(), "pattern", r.format().pattern());
      break;
    case Reward::kLength: {
      LengthShaping &l = *r.mutable_length();
      if (!l.has_max_length())
        l.set_max_length(maxNew);
      range(l, "max_length");
      if (!l.has_cache_length())
        l.set_cache_length(l.max_length() / 4);
      if (l.cache_length() < 0 || l.cache_length() >= l.max_length())
        error(at(l, "cache_length"),
              "'cache_length' must be in [0, max_length), got " +
                  fmt(long(l.cache_length())),
              "DAPO uses a quarter of max_length");
      range(l, "penalty");
      break;
    }
    case Reward::kModel:
      // Resolved where a stage uses it (the model's state then).
      if (!models_.count(r.model())) {
        std::vector<std::string> names;
        for (const auto &kv : models_)
          names.push_back(kv.first);
        unknownName(at(r, "model"), "model", r.model(), names,
                    "a learned reward names a declared model with "
                    "'head: scalar'");
      } else if (models_[r.model()]->head() != Model::scalar) {
        error(at(r, "model"),
              "reward model " + q(r.model()) + " has an LM head",
              "declare it with 'head: scalar' and train it in a "
              "reward_model stage");
      }
      break;
    case Reward::kExternal: {
      ExternalReward &e = *r.mutable_external();
      if (e.command_size() == 0) {
        error(at(r, "external"), "the external reward needs a 'command'",
              "add 'command: [\"python3\", \"score.py\"]'");
        break;
      }
      for (int j = 0; j < e.command_size(); ++j)
        if (e.command(j).empty())
          error(at(e, "command", j), "the command has an empty argument",
                "remove the empty string");
      const std::string &prog = e.command(0);
      if (opts_.checkFiles && prog.find('/') != std::string::npos &&
          !isFile(spec_.resolvePath(prog)))
        error(at(e, "command", 0), "reward program " + q(prog) + " not found",
              "a program path with '/' is relative to the spec's directory");
      range(e, "timeout_s");
      positive(e, "workers", e.workers());
      break;
    }
    case Reward::KIND_NOT_SET:
      error(at(r, "name"), "reward " + q(r.name()) + " has no kind",
            "add one of exact_match, numeric_match, regex, format, length, "
            "model or external");
      break;
    }
  }
}

} // namespace hone::spec::check
