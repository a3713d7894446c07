// libFuzzer target: the safetensors reader on arbitrary bytes.
#include "runtime/formats/Safetensors.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hone::Expected<hone::SafetensorsFile> f =
      hone::SafetensorsFile::fromBuffer("fuzz.safetensors", data, size);
  if (!f)
    return 0;
  std::vector<float> buf;
  for (const hone::TensorInfo &t : f->tensors()) {
    if (t.numel() > (1 << 20))
      continue;
    buf.resize(static_cast<size_t>(t.numel()));
    (void)f->readF32(t, buf.data(), buf.size());
    (void)f->find(t.name);
  }
  return 0;
}
