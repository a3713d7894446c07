// libFuzzer target: the Jinja subset of chat templates (untrusted text from
// a model directory). Parses the input as a template and renders it on a
// conversation with small limits; any crash, leak, hang or sanitizer report
// is a bug, an error Status is fine.
#include "runtime/tokenizer/ChatTemplate.h"
#include "runtime/tokenizer/Jinja.h"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  hone::jinja::Limits limits;
  limits.maxSteps = 20000;
  limits.maxOutputBytes = 1 << 16;
  limits.maxDepth = 64;
  hone::Expected<hone::jinja::Template> t =
      hone::jinja::Template::parse(text, "fuzz.jinja", limits);
  if (!t)
    return 0;
  hone::Expected<hone::json::Value> ctx = hone::json::parse(
      R"({"messages": [{"role": "system", "content": "Be brief."},
                       {"role": "user", "content": "2+2? \u00e9"},
                       {"role": "assistant", "content": "<think>x</think>4",
                        "tool_calls": [{"function": {"name": "f",
                                        "arguments": {"a": 1.5}}}]},
                       {"role": "tool", "content": "ok"}],
          "tools": [{"name": "f", "parameters": {"a": [1, null, true]}}],
          "add_generation_prompt": true, "bos_token": "<s>"})");
  if (!ctx)
    return 0;
  hone::jinja::RenderOptions o;
  o.limits = limits;
  o.now = 0;
  hone::jinja::Value v = hone::jinja::fromJson(*ctx);
  (void)t->render(v, o);
  return 0;
}
