/* xtc — library version.
 *
 * The macros give the version of the headers a program was compiled with;
 * xtc_version() gives the version of the library it runs with (they differ when
 * a program built against one libxtc runs with another). Semantic versioning:
 * before 1.0, a new minor version may change the API and ABI (the shared
 * library's SONAME carries major.minor until 1.0, the major version after).
 *
 *     #if XTC_VERSION_NUMBER >= 1000   // 0.1.0 or later
 *     printf("built with %s, running %s\n", XTC_VERSION, xtc_version());
 *
 * This file is the one place the version is written: CMake reads it. */
#ifndef XTC_VERSION_H
#define XTC_VERSION_H

#include "xtc/export.h"

#define XTC_VERSION_MAJOR 0
#define XTC_VERSION_MINOR 1
#define XTC_VERSION_PATCH 0

#define XTC_VERSION_STR_(x) #x
#define XTC_VERSION_XSTR_(x) XTC_VERSION_STR_(x)
/* "MAJOR.MINOR.PATCH", a string literal */
#define XTC_VERSION                                                                                                    \
    XTC_VERSION_XSTR_(XTC_VERSION_MAJOR)                                                                               \
    "." XTC_VERSION_XSTR_(XTC_VERSION_MINOR) "." XTC_VERSION_XSTR_(XTC_VERSION_PATCH)
/* MAJOR * 1000000 + MINOR * 1000 + PATCH, for #if comparisons */
#define XTC_VERSION_NUMBER (XTC_VERSION_MAJOR * 1000000 + XTC_VERSION_MINOR * 1000 + XTC_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the running library, "MAJOR.MINOR.PATCH" (static storage, never NULL).
 * Thread safety: reentrant. */
XTC_API const char *xtc_version(void);

#ifdef __cplusplus
}
#endif
#endif
