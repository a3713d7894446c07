# Fails when a file under runtime/ or kernels/ includes an MLIR or LLVM header:
# the runtime stays free of the compiler (docs/design.md, "Layering"; the IREE rule).
file(GLOB_RECURSE files ${ROOT}/runtime/*.h ${ROOT}/runtime/*.cpp
     ${ROOT}/kernels/*.h ${ROOT}/kernels/*.cpp ${ROOT}/kernels/*.cu ${ROOT}/kernels/*.cuh)
set(bad "")
foreach(f ${files})
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](mlir|llvm)/")
  if(lines)
    list(APPEND bad ${f})
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "runtime/kernels include MLIR/LLVM headers: ${bad}")
endif()
list(LENGTH files n)
message(STATUS "${n} runtime/kernels files, none includes MLIR or LLVM")
