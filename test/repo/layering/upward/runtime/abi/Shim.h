// Fixture: the shim over the op bodies (runtime/abi, above runtime/ops).
#pragma once
