/* xtc — symbol visibility of the public API.
 *
 * XTC_API marks every function of the public headers. libxtc is compiled with
 * hidden visibility (-fvisibility=hidden), so the shared library exports exactly
 * the functions marked here and nothing of its internals (a linker version
 * script, cmake/libxtc.map, also keeps compiler-made symbols in); the test
 * api/exports checks that the exported symbols and the declarations of
 * include/xtc/ match both ways. For callers the attribute changes nothing. */
#ifndef XTC_EXPORT_H
#define XTC_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define XTC_API __attribute__((visibility("default")))
#else
#define XTC_API
#endif

#endif
