// Fixture: model includes base (downward: allowed).
#pragma once
#include "runtime/base/Ok.h"
