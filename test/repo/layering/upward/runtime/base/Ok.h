// Fixture: an include within the component is allowed.
#pragma once
