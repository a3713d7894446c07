// Fixture: a folder the layer table does not place.
#pragma once
