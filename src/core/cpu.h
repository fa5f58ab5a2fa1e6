/* The CPU's features and the one kernel level decision (private side of include/xtc/cpu.h):
 * core/cpu.c examines the CPU once; kernels ask xtc_cpu_level() which version to run. */
#ifndef XTC_CORE_CPU_H
#define XTC_CORE_CPU_H

#include <stdbool.h>

#include "xtc/cpu.h"

/* What cpuid says, each only where the operating system also saves the registers involved
 * (XGETBV): a CPU with AVX-512 under a kernel that does not save zmm state has none. */
struct xtc_cpu_features {
    bool avx2, fma, avx512f, avx512bw, avx512vl, avx512_bf16, amx_tile, amx_bf16;
};

/* Filled once, at the first call (thread-safe). */
const struct xtc_cpu_features *xtc_cpu_features(void);

/* The best level the features f allow. */
enum xtc_cpu_level xtc_cpu_level_of(const struct xtc_cpu_features *f);

/* The level named s (xtc_cpu_level_name's names; case-insensitive), or -1. */
int xtc_cpu_level_parse(const char *s);

#endif
