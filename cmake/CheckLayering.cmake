# The layering rule (docs/design.md, "Layering"): a file may include files of
# its own component or of a component on a lower layer, never one on its own
# layer or above. Run as `cmake -DROOT=<tree> -P CheckLayering.cmake`; it
# prints one located error per upward include and fails, or one status line.
#
# A component is a folder of the table below; a file belongs to the longest
# entry that is a prefix of its path (frontend/fuzz/ is frontend). An entry
# "PATH=LEVEL=NAME" puts PATH (a file or folder) in the component NAME, so
# files of one folder can sit on different layers (the C ABI's contract
# headers below the op bodies that implement it). A product
# folder that holds sources but has no entry is an error too, so a new folder
# is placed in the table when it is added.

set(HONE_LAYERS
  # the bottom: error values, JSON, UTF-8, regex, dtypes, Philox, ModelConfig
  "runtime/base=0"
  # what only needs base: the kernel interface, tensors, file formats,
  # tokenizers, the lane scheduler
  "kernels=1" "runtime/core=1" "runtime/formats=1" "runtime/tokenizer=1"
  "runtime/exec=1"
  # backends of kernels/Kernels.h and the services built on layer 1
  "kernels/cpu=2" "kernels/cuda=2" "runtime/model=2" "runtime/data=2"
  "runtime/checkpoint=2" "runtime/observe=2"
  # the one place a backend is chosen
  "kernels/backend=3"
  # the job: batches, rewards, advantages, the driver
  "runtime/job=4"
  # the C ABI's contract, header-only: its types and the op table, which the
  # op bodies implement and the compiler reads
  "runtime/abi/hone_runtime.h=5=runtime/abi contract"
  "runtime/abi/AbiTable.h=5=runtime/abi contract"
  "runtime/abi/SettingsCheck.h=5=runtime/abi contract"
  "runtime/abi/step_ops.inl=5=runtime/abi contract"
  "runtime/abi/settings.inl=5=runtime/abi contract"
  # the op bodies (one file per op family) and the data-parallel ranks
  "runtime/ops=6"
  # the C ABI a compiled job calls: the shim that dispatches to runtime/ops
  "runtime/abi=7"
  # the compiler, which may read the runtime's contract headers
  "dialect=8"
  "frontend=9" "passes=9"
  "tools=10")
# Folders of the tree that product code never includes.
set(HONE_NOT_PRODUCT test bench examples docs scripts cmake)
set(HONE_PRODUCT runtime kernels dialect frontend passes tools)

if(NOT ROOT)
  message(FATAL_ERROR "usage: cmake -DROOT=<source tree> -P CheckLayering.cmake")
endif()

# Sets ${out_comp} and ${out_level} for a path relative to ROOT (empty when
# no entry matches).
function(hone_component path out_comp out_level)
  set(best "")
  set(best_name "")
  set(best_level "")
  foreach(entry ${HONE_LAYERS})
    string(REPLACE "=" ";" kv "${entry}")
    list(GET kv 0 key)
    list(GET kv 1 level)
    set(name "${key}")
    list(LENGTH kv nkv)
    if(nkv GREATER 2)
      list(GET kv 2 name)
    endif()
    string(LENGTH "${key}" klen)
    string(LENGTH "${best}" blen)
    if((path STREQUAL key OR path MATCHES "^${key}/") AND klen GREATER blen)
      set(best "${key}")
      set(best_name "${name}")
      set(best_level "${level}")
    endif()
  endforeach()
  set(${out_comp} "${best_name}" PARENT_SCOPE)
  set(${out_level} "${best_level}" PARENT_SCOPE)
endfunction()

set(globs "")
foreach(d ${HONE_PRODUCT})
  foreach(ext h cpp cu cuh inl inc)
    list(APPEND globs ${ROOT}/${d}/*.${ext})
  endforeach()
endforeach()
file(GLOB_RECURSE files RELATIVE ${ROOT} ${globs})
list(SORT files)

set(errors "")
set(nincludes 0)
foreach(f ${files})
  hone_component("${f}" comp level)
  if(comp STREQUAL "")
    get_filename_component(dir "${f}" DIRECTORY)
    list(APPEND errors "${f}:1: error: ${dir}/ is in no layer, add it to HONE_LAYERS in cmake/CheckLayering.cmake (docs/design.md, \"Layering\")")
    continue()
  endif()
  file(STRINGS ${ROOT}/${f} incs REGEX "^[ \t]*#[ \t]*include[ \t]*\"[^\"]+\"")
  if(NOT incs)
    continue()
  endif()
  file(READ ${ROOT}/${f} content)
  foreach(inc ${incs})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" target "${inc}")
    string(REGEX REPLACE "/.*" "" top "${target}")
    math(EXPR nincludes "${nincludes} + 1")
    list(FIND HONE_NOT_PRODUCT "${top}" notProduct)
    hone_component("${target}" tcomp tlevel)
    set(why "")
    if(NOT notProduct EQUAL -1)
      set(why "product code never includes ${top}/")
    elseif(tcomp STREQUAL "" OR tcomp STREQUAL comp)
      # same component, or not a tree path (a system or generated header
      # relative to its own folder)
    elseif(NOT tlevel LESS level)
      set(why "${tcomp} is layer ${tlevel}, ${comp} layer ${level}: includes run to lower layers only, so move what both need down")
    endif()
    if(why)
      string(FIND "${content}" "${inc}" pos)
      string(SUBSTRING "${content}" 0 ${pos} before)
      string(REGEX MATCHALL "\n" nls "${before}")
      list(LENGTH nls line)
      math(EXPR line "${line} + 1")
      list(APPEND errors "${f}:${line}: error: includes ${target} (${why}, docs/design.md \"Layering\")")
    endif()
  endforeach()
endforeach()

if(errors)
  list(LENGTH errors n)
  foreach(e ${errors})
    message("${e}")
  endforeach()
  message(FATAL_ERROR "${n} layering error(s)")
endif()
list(LENGTH files nfiles)
message(STATUS "${nfiles} files, ${nincludes} includes of the tree, none runs upward")
