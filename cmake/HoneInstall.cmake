# cmake --install: the tools, the runtime a job links (runtime/abi), and what
# a pass plugin builds against: headers, generated .inc, .td files, the
# dialect and pass libraries, and find_package(Hone) (HoneConfig.cmake).
#
#   <prefix>/bin/            honec hone-opt hone-inspect hone-toydata
#   <prefix>/lib/            libhone_runtime.a ... hone-link.txt, libHoneDialect.a, libHonePasses.a
#   <prefix>/include/hone/   dialect/*.h *.h.inc *.td, passes/..., runtime/abi/hone_runtime.h
#   <prefix>/lib/cmake/hone/ HoneConfig.cmake HoneConfigVersion.cmake HonePlugin.cmake
#   <prefix>/share/hone/examples/  example specs with their data, the example plugin
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

foreach(_tool honec hone-opt hone-inspect hone-toydata)
  if(TARGET ${_tool})
    # Installed tools keep the path to libMLIR/libLLVM (not in ld.so's path).
    set_target_properties(${_tool} PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
    install(TARGETS ${_tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

# The runtime a job links, with the link line honec reads (lib/hone-link.txt,
# archives named relative to it).
get_property(_archives GLOBAL PROPERTY HONE_RUNTIME_ARCHIVES)
install(TARGETS ${_archives} ARCHIVE DESTINATION lib)
install(FILES ${PROJECT_BINARY_DIR}/install/hone-link.txt
        DESTINATION lib)
install(FILES ${PROJECT_SOURCE_DIR}/runtime/abi/hone_runtime.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hone/runtime/abi)

if(NOT HONE_ENABLE_COMPILER)
  return()
endif()

set(HONE_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/hone)
# lib, not GNUInstallDirs' multiarch libdir: honec finds its link line at
# <bin>/../lib/hone-link.txt.
set(HONE_INSTALL_LIBDIR lib)
install(TARGETS HoneDialect HonePasses ARCHIVE DESTINATION lib)
foreach(_dir dialect passes)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_dir}/
          DESTINATION ${HONE_INSTALL_INCLUDEDIR}/${_dir}
          FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
  install(DIRECTORY ${PROJECT_BINARY_DIR}/${_dir}/
          DESTINATION ${HONE_INSTALL_INCLUDEDIR}/${_dir}
          FILES_MATCHING PATTERN "*.inc"
          PATTERN "CMakeFiles" EXCLUDE)
endforeach()
# The dialect's attributes hold the runtime's model enums, whose one
# definition (header-only) is runtime/base/ModelConfig.h: dialect/HoneAttrs.h
# includes it, so a plugin needs it too.
install(FILES ${PROJECT_SOURCE_DIR}/runtime/base/ModelConfig.h
        DESTINATION ${HONE_INSTALL_INCLUDEDIR}/runtime/base)

file(STRINGS ${PROJECT_SOURCE_DIR}/dialect/HoneVersion.h _v
     REGEX "^#define HONE_DIALECT_VERSION [0-9]+")
string(REGEX REPLACE ".* ([0-9]+)$" "\\1" HONE_DIALECT_VERSION "${_v}")

# The example specs (with their data) and the example plugin, to start from.
set(HONE_INSTALL_EXAMPLESDIR ${CMAKE_INSTALL_DATADIR}/hone/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${HONE_INSTALL_EXAMPLESDIR})

set(_cmakedir lib/cmake/hone)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/HoneConfig.cmake.in
  ${PROJECT_BINARY_DIR}/install/HoneConfig.cmake
  INSTALL_DESTINATION ${_cmakedir}
  PATH_VARS HONE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR HONE_INSTALL_LIBDIR
            HONE_INSTALL_EXAMPLESDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/install/HoneConfigVersion.cmake
  VERSION ${HONE_DIALECT_VERSION} COMPATIBILITY ExactVersion)
install(FILES ${PROJECT_BINARY_DIR}/install/HoneConfig.cmake
              ${PROJECT_BINARY_DIR}/install/HoneConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/HonePlugin.cmake
        DESTINATION ${_cmakedir})
