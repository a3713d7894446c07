// Fixture for repo.layering-catches-upward: base includes a layer above it.
#pragma once

#include "runtime/base/Ok.h"
#include <vector>

#include "runtime/model/Model.h"
