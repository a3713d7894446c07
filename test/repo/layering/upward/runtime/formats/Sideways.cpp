// Fixture: formats and tokenizer share a layer, so neither includes the other.
#include "runtime/tokenizer/Tok.h"
#include "test/unit/TempDir.h"
