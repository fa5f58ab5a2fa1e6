/* The kernels a benchmark run uses, for its output line (the tools that link libxtc). */
#ifndef XTC_BENCH_KERNELS_H
#define XTC_BENCH_KERNELS_H

#include <string.h>

#include "xtc/xtc.h"

/* One token: the cpu backend's kernel level (xtc_cpu_level: "portable", "avx2", ...; XTC_CPU
 * caps it), or "ref" on the reference backend. */
static inline const char *bench_kernels(void) {
    return strcmp(xtc_backend_name(), "cpu") == 0 ? xtc_cpu_level_name(xtc_cpu_level()) : xtc_backend_name();
}

#endif
