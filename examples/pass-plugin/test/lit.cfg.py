# lit configuration of the example plugin's tests, outside Hone's tree: the
# installed hone-opt and honec (HONE_TOOLS_DIR from find_package(Hone)),
# LLVM's FileCheck, and %plugin for the plugin just built.
import os
import lit.formats

config.name = "HoneExamplePlugin"
config.test_format = lit.formats.ShTest(True)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.plugin_obj_root, "test")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py.in"]

config.environment["PATH"] = os.pathsep.join(
    [config.hone_tools_dir, os.path.dirname(config.filecheck),
     config.environment.get("PATH", os.environ.get("PATH", ""))])
config.substitutions.append(("%plugin", config.plugin))
config.substitutions.append(("%examples", config.hone_examples_dir))
