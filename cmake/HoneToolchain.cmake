# Fast rebuilds and links on small machines.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

find_program(LLD_PROGRAM ld.lld)
if(LLD_PROGRAM)
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=lld" HONE_HAVE_LLD)
  if(HONE_HAVE_LLD)
    add_link_options($<$<LINK_LANGUAGE:CXX,C>:-fuse-ld=lld>)
  endif()
endif()

add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wall> $<$<COMPILE_LANGUAGE:CXX>:-Wno-unused-parameter>)

# add_subdirectory() for every child folder of the current source dir that has
# a CMakeLists.txt, in sorted order; components own their own folders.
macro(hone_add_subdirs)
  file(GLOB _hone_children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}
       ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT _hone_children)
  foreach(_child ${_hone_children})
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${_child}
       AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_child}/CMakeLists.txt)
      add_subdirectory(${_child})
    endif()
  endforeach()
endmacro()

# hone_gtest(name SOURCES... LIBS ...): a GoogleTest binary registered with ctest.
# Its Python oracles' torch keeps its compile cache in the build tree: by
# default torch creates /tmp/torchinductor_$USER, even for an optimizer step.
function(hone_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit
    ENVIRONMENT "TORCHINDUCTOR_CACHE_DIR=${CMAKE_BINARY_DIR}/torch-cache")
endfunction()
