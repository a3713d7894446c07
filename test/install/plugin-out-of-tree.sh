#!/bin/sh
# plugin-out-of-tree.sh BUILD PLUGIN_SRC WORK: installs Hone from BUILD into
# WORK/prefix, copies the example plugin to WORK/src (so nothing of Hone's
# tree is next to it), configures it with find_package(Hone) from the prefix
# only, builds it and runs its lit tests. WORK is removed on success.
set -eu
build=$1; plugin=$2; work=$3
rm -rf "$work"; mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cp -r "$plugin" "$work/src"
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_PREFIX_PATH="$work/prefix"
cmake --build "$work/build"
cmake --build "$work/build" --target check-plugin
# Nothing of Hone's build or source tree was used: the plugin's compile line
# includes the prefix, never Hone's build or source root.
root=$(cd "$plugin/../.." && pwd)
grep -q -- "-I$work/prefix/include/hone" "$work/build/compile_commands.json"
if grep -q -e "-I$build " -e "-I$root " "$work/build/compile_commands.json"; then
  echo "error: the plugin build used Hone's build or source tree"; exit 1
fi
rm -rf "$work"
echo "plugin built and tested out of tree against $work/prefix"
