#include <gtest/gtest.h>
TEST(Job, Placeholder) {}
