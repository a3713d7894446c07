//===- HoneVersion.h - the version a Hone plugin is built for ---*- C++ -*-===//
//
// A pass plugin uses the Hone dialect's C++ classes from the tool that loads
// it, so it must be built against the same op and attribute definitions.
// Plugins put HONE_PLUGIN_VERSION in the `pluginVersion` field of their
// PassPluginLibraryInfo; hone-opt and honec refuse a plugin whose version
// differs, with a message (tools/PluginLoader.cpp).
//
// Bump HONE_DIALECT_VERSION whenever an op, attribute or type of the hone
// dialect changes in a way a compiled plugin would notice (a renamed or
// retyped accessor, a new required attribute).
//
//===----------------------------------------------------------------------===//
#pragma once

#ifndef HONE_DIALECT_VERSION
#define HONE_DIALECT_VERSION 2
#endif

#define HONE_VERSION_STR2(x) #x
#define HONE_VERSION_STR(x) HONE_VERSION_STR2(x)
/// "hone-dialect-N": what a plugin reports and a Hone tool expects.
#define HONE_PLUGIN_VERSION "hone-dialect-" HONE_VERSION_STR(HONE_DIALECT_VERSION)
