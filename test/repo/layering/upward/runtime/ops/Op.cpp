// Fixture: an op body may not include the shim above it.
#include "runtime/abi/Shim.h"
