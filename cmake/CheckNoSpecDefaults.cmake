# Fails when an ODS definition in dialect/ declares a default value outside
# the allowed list: every spec setting's default is decided once, by the
# frontend's table (frontend/Defaults.cpp), and the IR carries every value
# (issue 12). A default left in ODS would let hand-written or plugin-built IR
# omit a setting and silently get a second default.
#   cmake -DROOT=<source dir> [-DFILES=<td files>] -P CheckNoSpecDefaults.cmake
# Allowed, as not spec settings: a variance's Bessel correction on the loss
# op `hone.loss.std` (a formula's constant), and a model type's head kind
# (`!hone.model<..., head>`, derived from the stage, `lm` unless it says).
set(allowed
  "DefaultValuedAttr<I64Attr, \"1\">:$correction"
  "DefaultValuedParameter<\"::hone::HeadKind\", \"::hone::HeadKind::LM\",")
if(NOT FILES)
  file(GLOB FILES ${ROOT}/dialect/*.td)
endif()
set(bad "")
set(n 0)
foreach(f ${FILES})
  math(EXPR n "${n} + 1")
  file(STRINGS ${f} lines REGEX "DefaultValued")
  foreach(l ${lines})
    set(ok FALSE)
    foreach(a ${allowed})
      string(FIND "${l}" "${a}" at)
      if(NOT at EQUAL -1)
        set(ok TRUE)
      endif()
    endforeach()
    if(NOT ok)
      string(STRIP "${l}" l)
      list(APPEND bad "${f}: ${l}")
    endif()
  endforeach()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " bad "${bad}")
  message(FATAL_ERROR "ODS defaults outside frontend/Defaults.cpp:\n  ${bad}\n"
          "hint: make the attribute required and let the frontend write it")
endif()
message(STATUS "${n} .td files, no ODS default for a spec setting")
