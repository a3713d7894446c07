# Runs unit-test binaries with TMPDIR set to a fresh directory and fails if
# a passing run leaves anything in it (test/unit/TempDir.h removes what the
# tests made). cmake -DDIR=... -DBINARIES="a;b" -P TempDirsRemoved.cmake
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}")
foreach(bin IN LISTS BINARIES)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env TMPDIR=${DIR} ${bin}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${bin} failed (exit ${rc}): run it alone to see why")
  endif()
  file(GLOB left RELATIVE "${DIR}" "${DIR}/*")
  if(left)
    message(FATAL_ERROR "${bin} passed but left in TMPDIR: ${left}")
  endif()
endforeach()
file(REMOVE_RECURSE "${DIR}")
