# -*- Python -*-
# lit configuration for Hone: Dialect/, Passes/, Frontend/, Plugin/, … run
# hone-opt and honec from build/bin with LLVM's FileCheck and not.
import os
import lit.formats

config.name = "Hone"
config.test_format = lit.formats.ShTest(not config.environment.get("LIT_USE_INTERNAL_SHELL"))
config.suffixes = [".mlir", ".textproto", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "fuzz", "e2e"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.hone_obj_root, "test")

config.environment["PATH"] = os.pathsep.join(
    [config.hone_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
config.substitutions.append(("%shlibext", config.llvm_shlib_ext))
config.substitutions.append(("%hone_lib_dir", config.hone_lib_dir))
config.substitutions.append(("%hone_src_root", config.hone_src_root))
config.substitutions.append(("%hone_obj_root", config.hone_obj_root))

if config.hone_have_plugin:
    config.available_features.add("plugin")
