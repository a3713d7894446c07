#include <gtest/gtest.h>
TEST(Abi, Placeholder) {}
