# repo.layering-catches-upward: runs cmake/CheckLayering.cmake on the fixture
# trees in test/repo/layering/ and fails unless it rejects each bad tree with
# the located errors expected (exit code not 0) and accepts the clean one.
set(check ${SRC}/cmake/CheckLayering.cmake)
set(fix ${SRC}/test/repo/layering)

function(expect root rc_ok)
  execute_process(COMMAND ${CMAKE_COMMAND} -DROOT=${fix}/${root} -P ${check}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(all "${out}${err}")
  if(rc_ok AND NOT rc EQUAL 0)
    message(FATAL_ERROR "${root}: expected to pass, exit ${rc}:\n${all}")
  elseif(NOT rc_ok AND rc EQUAL 0)
    message(FATAL_ERROR "${root}: expected to fail, passed:\n${all}")
  endif()
  foreach(re ${ARGN})
    if(NOT all MATCHES "${re}")
      message(FATAL_ERROR "${root}: output lacks /${re}/:\n${all}")
    endif()
  endforeach()
  message(STATUS "${root}: as expected")
endfunction()

expect(clean TRUE "none runs upward")
expect(upward FALSE
  "runtime/base/Bad.h:7: error: includes runtime/model/Model.h \\(runtime/model is layer 2, runtime/base layer 0"
  "runtime/formats/Sideways.cpp:2: error: includes runtime/tokenizer/Tok.h \\(runtime/tokenizer is layer 1, runtime/formats layer 1"
  "runtime/formats/Sideways.cpp:3: error: includes test/unit/TempDir.h \\(product code never includes test/"
  "runtime/ops/Op.cpp:2: error: includes runtime/abi/Shim.h \\(runtime/abi is layer 7, runtime/ops layer 6"
  "4 layering error")
expect(unplaced FALSE
  "runtime/newthing/New.h:1: error: runtime/newthing/ is in no layer")
