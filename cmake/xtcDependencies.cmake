# What libxtc links besides OpenMP (found with find_package(OpenMP) by the caller): OpenBLAS and
# cJSON, as the imported targets xtc::openblas and xtc::cjson. Used twice: by the build
# (CMakeLists.txt) and by the installed package (xtcConfig.cmake), where only the static
# library (xtc::xtc_static) needs them: the shared one records its dependencies itself.
#
# Sets XTC_OPENBLAS_LIBRARY, CBLAS_INCLUDE_DIR, XTC_CJSON_LIBRARY, CJSON_INCLUDE_DIR; defines a
# target only when its library was found (the caller decides whether that is an error).

# Prefer the OpenMP build of OpenBLAS so BLAS and xtc's own loops share one OpenMP thread pool
# (the pthread build would start its own threads and oversubscribe the cores).
find_library(XTC_OPENBLAS_LIBRARY openblas
  HINTS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
if(NOT XTC_OPENBLAS_LIBRARY)
  find_library(XTC_OPENBLAS_LIBRARY openblas)
endif()
find_path(CBLAS_INCLUDE_DIR cblas.h
  HINTS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-openmp
        /usr/include/openblas)
find_library(XTC_CJSON_LIBRARY cjson)
# oneDNN (optional): bf16 products of mixed-precision training on CPUs that have them
find_library(XTC_DNNL_LIBRARY dnnl)
find_path(DNNL_INCLUDE_DIR dnnl.h PATH_SUFFIXES oneapi/dnnl)
find_path(CJSON_INCLUDE_DIR cjson/cJSON.h)

if(XTC_OPENBLAS_LIBRARY AND NOT TARGET xtc::openblas)
  add_library(xtc::openblas UNKNOWN IMPORTED)
  set_target_properties(xtc::openblas PROPERTIES IMPORTED_LOCATION "${XTC_OPENBLAS_LIBRARY}")
  if(CBLAS_INCLUDE_DIR)
    set_target_properties(xtc::openblas PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${CBLAS_INCLUDE_DIR}")
  endif()
endif()
if(XTC_DNNL_LIBRARY AND DNNL_INCLUDE_DIR AND NOT TARGET xtc::dnnl)
  add_library(xtc::dnnl UNKNOWN IMPORTED)
  set_target_properties(xtc::dnnl PROPERTIES IMPORTED_LOCATION "${XTC_DNNL_LIBRARY}"
                                             INTERFACE_INCLUDE_DIRECTORIES "${DNNL_INCLUDE_DIR}")
endif()
if(XTC_CJSON_LIBRARY AND NOT TARGET xtc::cjson)
  add_library(xtc::cjson UNKNOWN IMPORTED)
  set_target_properties(xtc::cjson PROPERTIES IMPORTED_LOCATION "${XTC_CJSON_LIBRARY}")
  if(CJSON_INCLUDE_DIR)
    set_target_properties(xtc::cjson PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${CJSON_INCLUDE_DIR}")
  endif()
endif()
