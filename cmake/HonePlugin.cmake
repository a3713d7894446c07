# hone_add_pass_plugin(name SOURCES src... [PASSES_TD Passes.td]): a pass
# plugin for hone-opt and honec, in Hone's own build and out of tree (after
# find_package(Hone), which includes this file).
#
# The plugin is a MODULE library with undefined symbols: the Hone dialect and
# MLIR come from the tool that loads it (hone-opt and honec export them), so
# there is exactly one copy of every op's TypeID in the process. PASSES_TD
# declares the passes in TableGen: <name>Passes.h.inc (-gen-pass-decls
# -name <name>) lands in the plugin's build directory.
function(hone_add_pass_plugin name)
  cmake_parse_arguments(ARG "" "PASSES_TD" "SOURCES" ${ARGN})
  if(ARG_PASSES_TD)
    set(LLVM_TARGET_DEFINITIONS ${ARG_PASSES_TD})
    mlir_tablegen(${name}Passes.h.inc -gen-pass-decls -name ${name})
    add_public_tablegen_target(${name}PassesIncGen)
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "")
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_BINARY_DIR}
                             ${HONE_INCLUDE_DIRS})
  target_include_directories(${name} SYSTEM PRIVATE ${LLVM_INCLUDE_DIRS}
                             ${MLIR_INCLUDE_DIRS})
  target_compile_features(${name} PRIVATE cxx_std_17)
  target_compile_options(${name} PRIVATE -fno-exceptions)
  target_compile_definitions(${name} PRIVATE ${LLVM_DEFINITIONS})
  if(ARG_PASSES_TD)
    add_dependencies(${name} ${name}PassesIncGen)
  endif()
  if(TARGET HoneDialectIncGen)
    add_dependencies(${name} HoneDialectIncGen)
  endif()
endfunction()
