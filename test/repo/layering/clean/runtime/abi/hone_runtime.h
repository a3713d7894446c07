// Fixture: the contract: header-only, below the op bodies.
#pragma once
