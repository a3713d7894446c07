//===- PluginLoader.h - loading Hone pass plugins ---------------*- C++ -*-===//
#pragma once

#include "llvm/ADT/StringRef.h"
#include <string>
#include <vector>

namespace hone::tools {

/// Loads a pass plugin and registers its passes, after checking it was built
/// for this Hone (HONE_PLUGIN_VERSION). Prints a one-line error naming the
/// tool and the plugin and returns false when it cannot.
/// `loaded`, when given, receives "NAME VERSION (PATH)".
bool loadPassPlugin(llvm::StringRef tool, const std::string &path,
                    std::string *loaded = nullptr);

/// Loads every `--load-pass-plugin=P` / `--load-pass-plugin P` of `argv`
/// before the command line is parsed, so that the plugins' passes are known
/// when the pass flags are built (`hone-opt --load-pass-plugin=P.so
/// --my-pass`), and removes them from `argv`. False on the first plugin that
/// cannot load.
bool preloadPassPlugins(llvm::StringRef tool, std::vector<char *> &argv);

} // namespace hone::tools
