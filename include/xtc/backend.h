/* xtc — compute backends. Two are built in, chosen at run time for the whole process:
 * "cpu" (OpenBLAS + OpenMP + SIMD kernels; the default) and "ref" (the plain scalar
 * reference kernels: one thread, no BLAS, sums in double where they matter).
 *
 * Environment: XTC_BACKEND=ref|cpu selects the process default. It is read once, at the
 * first operation (or xtc_backend_name call); setting it later has no effect, and other
 * values leave the default at cpu. */
#ifndef XTC_BACKEND_H
#define XTC_BACKEND_H

#include "xtc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets the one thread budget shared by xtc's OpenMP loops and OpenBLAS (n >= 1; smaller
 * values count as 1), so the two never oversubscribe the cores. The default is OpenMP's
 * (OMP_NUM_THREADS, else the number of cores).
 * Thread safety: OpenMP keeps this setting per calling thread (omp_set_num_threads) while
 * OpenBLAS keeps one for the process, so call it from the thread that runs the models,
 * before running them, and not while another thread is inside the library. */
XTC_API void xtc_threads_set(int n);

/* The current budget of the calling thread. */
XTC_API int xtc_threads_get(void);

/* use_reference != 0 selects the "ref" backend (ggml's use_ref): slower, kept to test the
 * fast kernels against and to debug; 0 returns to the process default (XTC_BACKEND, else
 * "cpu"). Process-wide.
 * Thread safety: an atomic flag, so it may be set from any thread; a call already running
 * may use either kernels for its remaining ops, so set it before the calls it should affect.
 *
 * Environment (debugging): XTC_ARENA_POISON, when set, fills activation memory with NaN
 * before every forward call, so that a read before a write shows up as a mismatch. It is
 * read once per process, at the first forward call; setting it later has no effect. */
XTC_API void xtc_backend_cpu_set_reference(int use_reference);

/* The name of the backend the next operation runs on: "cpu" or "ref". A static string.
 * Thread safety: may be called from any thread. */
XTC_API const char *xtc_backend_name(void);

#ifdef __cplusplus
}
#endif
#endif
