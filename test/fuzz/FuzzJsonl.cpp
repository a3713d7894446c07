// libFuzzer target: the JSONL reader and dataset layout checks.
#include "runtime/data/Dataset.h"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  {
    hone::JsonlReader r =
        hone::JsonlReader::fromString("fuzz.jsonl", text, 4096);
    hone::JsonlRecord rec;
    for (int i = 0; i < 1000; ++i) {
      hone::Expected<bool> got = r.next(rec);
      if (!got || !*got)
        break;
      (void)hone::json::serialize(rec.value);
    }
  }
  hone::Expected<hone::DatasetReader> d = hone::DatasetReader::fromJsonl(
      hone::JsonlReader::fromString("fuzz.jsonl", std::move(text), 4096));
  if (!d)
    return 0;
  hone::Example ex;
  for (int i = 0; i < 1000; ++i) {
    hone::Expected<bool> got = d->next(ex);
    if (!got || !*got)
      break;
  }
  (void)hone::checkDatasetUse(d->info(), hone::DatasetUse::SFT, "fuzz.jsonl");
  return 0;
}
