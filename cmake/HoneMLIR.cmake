# MLIR/LLVM 22 from Debian, linked as the shared libMLIR/libLLVM.
find_package(MLIR REQUIRED CONFIG PATHS /usr/lib/llvm-22/lib/cmake/mlir)
message(STATUS "Hone: MLIR ${LLVM_PACKAGE_VERSION} from ${MLIR_DIR}")

set(MLIR_LINK_MLIR_DYLIB ON)
set(LLVM_LINK_LLVM_DYLIB ON)
list(APPEND CMAKE_MODULE_PATH ${MLIR_CMAKE_DIR} ${LLVM_CMAKE_DIR})
include(TableGen)
include(AddLLVM)
include(AddMLIR)
include(HonePlugin)      # hone_add_pass_plugin (also installed for find_package(Hone))

# Debian's config points lit at a missing llvm-lit.
set(LLVM_EXTERNAL_LIT /usr/lib/llvm-22/bin/lit CACHE FILEPATH "" FORCE)
# Global so that mlir-tblgen finds MLIR's .td files; runtime/ and kernels/
# still never include MLIR (checked by a test).
include_directories(SYSTEM ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})

# hone_mlir_library(name SOURCES... DEPENDS... LINK...): a library that uses
# MLIR. LLVM here has exceptions off and RTTI on; such targets match it.
function(hone_mlir_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;LINK;MLIR" ${ARGN})
  add_library(${name} ${ARG_SOURCES})
  hone_mlir_target(${name})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  target_link_libraries(${name} PUBLIC ${ARG_LINK})
  mlir_target_link_libraries(${name} PUBLIC ${ARG_MLIR} MLIRIR MLIRSupport)
endfunction()

function(hone_mlir_target name)
  target_compile_definitions(${name} PUBLIC ${LLVM_DEFINITIONS})
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions>)
  # libMLIR.so does not re-export LLVM's support library.
  target_link_libraries(${name} PUBLIC LLVM)
endfunction()
