# cmake --install: headers, libxtc.so + libxtc.a, the xtc tool, a CMake package
# (find_package(xtc) -> xtc::xtc, xtc::xtc_static) and a pkg-config file (xtc.pc).
include(CMakePackageConfigHelpers)

set(XTC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/xtc)

install(TARGETS xtc xtc_static EXPORT xtcTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS xtc_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/xtc DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

# The installed tool finds the installed library next to it, unless that is a system directory.
list(FIND CMAKE_C_IMPLICIT_LINK_DIRECTORIES "${CMAKE_INSTALL_FULL_LIBDIR}" XTC_LIBDIR_IS_SYSTEM)
if(XTC_LIBDIR_IS_SYSTEM EQUAL -1)
  file(RELATIVE_PATH XTC_BIN_TO_LIB ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
  set_target_properties(xtc_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${XTC_BIN_TO_LIB}")
endif()

# CMake package. Before 1.0 a new minor version may break the API, so only the same
# major.minor (and a patch at least as new) is compatible; from 1.0 on, the same major.
install(EXPORT xtcTargets NAMESPACE xtc:: DESTINATION ${XTC_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/xtcConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/xtcConfig.cmake INSTALL_DESTINATION ${XTC_CMAKE_DIR})
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(XTC_COMPATIBILITY SameMinorVersion)
else()
  set(XTC_COMPATIBILITY SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/xtcConfigVersion.cmake
                                 COMPATIBILITY ${XTC_COMPATIBILITY})
install(FILES ${PROJECT_BINARY_DIR}/xtcConfig.cmake ${PROJECT_BINARY_DIR}/xtcConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/xtcDependencies.cmake
        DESTINATION ${XTC_CMAKE_DIR})

# pkg-config. Libs.private lists what a static link adds (pkg-config --static --libs xtc).
get_filename_component(XTC_OPENBLAS_DIR ${XTC_OPENBLAS_LIBRARY} DIRECTORY)
set(XTC_PC_LIBS_PRIVATE "-L${XTC_OPENBLAS_DIR} -lopenblas -lcjson ${OpenMP_C_FLAGS} -lm")
if(XTC_DNNL)
  string(APPEND XTC_PC_LIBS_PRIVATE " ${XTC_DNNL_LIBRARY}")
endif()
if(XTC_MPI)
  foreach(lib ${MPI_C_LIBRARIES})
    string(APPEND XTC_PC_LIBS_PRIVATE " ${lib}")
  endforeach()
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(XTC_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(XTC_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/xtc.pc.in ${PROJECT_BINARY_DIR}/xtc.pc.in @ONLY)
# The prefix is the one of the installation (cmake --install --prefix P), known only then.
install(CODE "
  file(READ \"${PROJECT_BINARY_DIR}/xtc.pc.in\" pc)
  string(REPLACE \"%PREFIX%\" \"\${CMAKE_INSTALL_PREFIX}\" pc \"\${pc}\")
  file(WRITE \"${PROJECT_BINARY_DIR}/xtc.pc\" \"\${pc}\")
")
install(FILES ${PROJECT_BINARY_DIR}/xtc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
