// Byte-level: GPT-2's table between bytes and printable code points, which
// the ByteLevel pre-tokenizer, the BPE model's alphabet and the ByteLevel
// decoder share.
#include "runtime/tokenizer/TokenizerImpl.h"

namespace hone::tok {

const ByteTable &byteTable() {
  static const ByteTable table;
  return table;
}

} // namespace hone::tok
