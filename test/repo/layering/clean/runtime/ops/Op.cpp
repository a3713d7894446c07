// Fixture: an op body may include the contract (a lower layer).
#include "runtime/abi/hone_runtime.h"
