//===- PluginLoader.cpp - loading Hone pass plugins -----------------------===//

#include "tools/PluginLoader.h"
#include "dialect/HoneVersion.h"

#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

bool hone::tools::loadPassPlugin(llvm::StringRef tool,
                                 const std::string &path,
                                 std::string *loaded) {
  auto plugin = mlir::PassPlugin::load(path);
  if (!plugin) {
    llvm::errs() << tool << ": cannot load pass plugin " << path << ": "
                 << llvm::toString(plugin.takeError()) << "\n";
    return false;
  }
  if (plugin->getPluginVersion() != HONE_PLUGIN_VERSION) {
    llvm::errs() << tool << ": pass plugin " << path << " ("
                 << plugin->getPluginName() << ") was built for '"
                 << plugin->getPluginVersion() << "', this " << tool
                 << " is " << HONE_PLUGIN_VERSION
                 << ": rebuild the plugin against this Hone (find_package("
                    "Hone)) and report HONE_PLUGIN_VERSION as its version\n";
    return false;
  }
  plugin->registerPassRegistryCallbacks();
  if (loaded)
    *loaded = (plugin->getPluginName() + " " + plugin->getPluginVersion() +
               " (" + path + ")")
                  .str();
  return true;
}

bool hone::tools::preloadPassPlugins(llvm::StringRef tool,
                                     std::vector<char *> &argv) {
  std::vector<char *> kept;
  for (size_t i = 0; i < argv.size(); ++i) {
    llvm::StringRef arg = argv[i] ? argv[i] : "";
    llvm::StringRef flag = arg.ltrim('-');
    if (i == 0 || !arg.starts_with("-") || !flag.consume_front("load-pass-plugin")) {
      kept.push_back(argv[i]);
      continue;
    }
    std::string path;
    if (flag.consume_front("="))
      path = flag.str();
    else if (flag.empty() && i + 1 < argv.size())
      path = argv[++i];
    else {
      kept.push_back(argv[i]); // not this flag (or no value): cl reports it
      continue;
    }
    if (!loadPassPlugin(tool, path))
      return false;
  }
  argv = std::move(kept);
  return true;
}
