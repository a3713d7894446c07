// libFuzzer target for spec loading: parse (with locations), one override
// taken from the input's first line, the checks (reading the example data
// files the fuzz spec's directory holds), and printing the resolved spec.
// Built with clang and ASan/UBSan; run by ctest for a bounded number of
// executions, seeded with the examples.
#include "frontend/Spec.h"

#include <cstdint>
#include <string>

#ifndef HONE_FUZZ_SPEC_PATH
#define HONE_FUZZ_SPEC_PATH "spec.textproto"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16)
    return 0;
  std::string text(reinterpret_cast<const char *>(data), size);
  hone::spec::DiagnosticList diags;
  auto spec = hone::spec::parseSpec(text, HONE_FUZZ_SPEC_PATH, diags);
  if (!spec)
    return 0;
  // A first line "#!key.path=value" becomes an override.
  if (text.rfind("#!", 0) == 0) {
    std::string arg = text.substr(2, text.find('\n') - 2);
    if (!hone::spec::applyOverride(*spec, arg, diags))
      return 0;
  }
  hone::spec::LoadOptions options;
  options.recordsToCheck = 4;
  bool ok = hone::spec::checkSpec(*spec, diags, options);
  std::string printed = hone::spec::printSpec(spec->pipeline);
  for (const auto &d : diags.all())
    (void)d.str();
  // The resolved spec of an accepted spec parses again.
  if (ok) {
    hone::spec::DiagnosticList again;
    if (!hone::spec::parseSpec(printed, HONE_FUZZ_SPEC_PATH, again))
      __builtin_trap();
  }
  return 0;
}
