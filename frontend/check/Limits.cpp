// Size limits: every size and count has an upper bound, checked before any
// product of them is formed, so products fit in 64 bits and nothing the
// checks accept overflows, exhausts memory in the compiler or crashes the job
// (docs/reliability.md).
#include "frontend/check/Checker.h"

namespace hone::spec::check {

constexpr int64_t kMaxParameters = int64_t(1) << 36; // 69e9 (1.1 TB to train)
constexpr int64_t kMaxTokensPerBatch = int64_t(1) << 28;

/// Writes are confined to the run directory: no absolute path, no '..'.
bool Checker::staysInRunDir(const Message &m, const char *field,
                            const std::string &path) {
  if (!path.empty() && path[0] != '/' &&
      ("/" + path + "/").find("/../") == std::string::npos)
    return true;
  error(at(m, field),
        q(field) + " " + q(path) + " leaves the run directory",
        "use a relative path without '..', e.g. \"final\"; the run "
        "directory is output_dir (or the job's --out)");
  return false;
}

bool Checker::checkArchitectureLimits(const Architecture &a) {
  size_t before = diags_.errorCount();
  const Reflection *r = a.GetReflection();
  const Descriptor *d = a.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor *f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_INT64 || !r->HasField(a, f))
      continue;
    int64_t lim = countLimit(f->name()), v = r->GetInt64(a, f);
    if (lim > 0 && v > lim)
      error(at(a, f->name().c_str()),
            q(f->name()) + " is " + fmt(long(v)) + ", more than the largest " +
                "model size Hone accepts (" + countLimitText(lim) + ")",
            "use a value of at most " + std::to_string(lim));
  }
  return diags_.errorCount() == before;
}

void Checker::checkParameterCount(const Architecture &a) {
  // Every factor is bounded (checkArchitectureLimits): no product overflows.
  int64_t dm = a.d_model(), kvDim = a.kv_heads() * (dm / a.heads());
  int64_t mlp = (a.family() == Architecture::gpt2 ? 2 : 3) * dm * a.ffn();
  int64_t layer = 2 * dm * dm + 2 * dm * kvDim + mlp + 4 * dm;
  int64_t embed = a.vocab() * dm * (a.tie_embeddings() ? 1 : 2);
  if (a.family() == Architecture::gpt2)
    embed += a.max_seq_len() * dm;
  int64_t total = a.layers() * layer + embed;
  if (total > kMaxParameters)
    error(at(a), "the model has " + fmt(double(total)) +
                     " parameters, more than the " +
                     fmt(double(kMaxParameters)) + " Hone can train",
          "reduce layers, d_model, ffn or vocab");
}

void Checker::checkCountLimits(const Message &m) {
  const Descriptor *d = m.GetDescriptor();
  const Reflection *r = m.GetReflection();
  if (d->name() == "Architecture")
    return; // checkArchitectureLimits, also for loaded configurations
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor *f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int k = 0; k < r->FieldSize(m, f); ++k)
          checkCountLimits(r->GetRepeatedMessage(m, f, k));
      } else if (r->HasField(m, f)) {
        checkCountLimits(r->GetMessage(m, f));
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_INT64 || f->is_repeated() ||
        !r->HasField(m, f))
      continue;
    int64_t lim = countLimit(f->name()), v = r->GetInt64(m, f);
    if (lim > 0 && v > lim)
      error(at(m, f->name().c_str()),
            q(f->name()) + " is " + fmt(long(v)) + ", more than " +
                countLimitText(lim),
            "use a value of at most " + std::to_string(lim));
  }
}

/// Tokens a step holds at once: batch rows times their length. Runs after checkCountLimits bounded each
/// factor by 2^20, so the products fit in 64 bits.
void Checker::checkBatchProducts() {
  for (const Stage &s : p_.stages()) {
    int64_t rows = 0, len = 0;
    const Message *owner = nullptr;
    const char *field = "batch_size";
    const Loop *loop = s.has_sft()              ? &s.sft().loop()
                       : s.has_reward_model()   ? &s.reward_model().loop()
                       : s.has_preference()     ? &s.preference().loop()
                                                : nullptr;
    if (loop) {
      rows = loop->batch_size();
      len = loop->max_length();
      owner = loop;
    } else if (s.has_rl()) {
      const Generation &g =
          s.rl().has_generation() ? s.rl().generation() : p_.generation();
      rows = s.rl().batch_size();
      len = s.rl().max_prompt_length() + g.max_new_tokens();
      owner = &s.rl();
    }
    if (!owner || rows <= 0 || len <= 0 || rows > (int64_t(1) << 36) ||
        len > (int64_t(1) << 21))
      continue;
    if (rows * len > kMaxTokensPerBatch)
      error(at(*owner, field),
            "a step of this stage holds " + fmt(long(rows)) + " rows of up to " +
                fmt(long(len)) + " tokens (" + fmt(double(rows * len)) +
                "), more than the " + fmt(double(kMaxTokensPerBatch)) +
                " tokens per step Hone accepts",
            "lower batch_size (use grad_accum for a larger effective batch) "
            "or the sequence length");
  }
}

} // namespace hone::spec::check
