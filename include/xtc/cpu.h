/* xtc — the CPU's vector features and the kernel level the cpu backend runs at.
 *
 * The CPU is examined once (cpuid, and the operating system's support for the wider register
 * state); one decision, the kernel level, then picks every kernel of the cpu backend: the best
 * level the CPU has, capped by the environment (XTC_CPU) or by xtc_cpu_set_max_level. Forcing a
 * lower level runs the lower kernels on a bigger machine (tests run every level a machine has).
 *
 * Environment: XTC_CPU=portable|avx2|avx512|avx512_bf16|amx caps the level. It is read once,
 * at the first kernel call (or the first call of a function below). An unknown name is logged
 * (xtc_log_set) and ignored; a level above the CPU's is logged and the CPU's best is used.
 *
 * Thread safety: every function may be called from any thread; a change of the cap takes
 * effect for the kernels called after it (a call already running may mix levels: the results
 * of the levels differ by rounding only). Nothing here allocates or fails; strings returned
 * are static.
 *
 * Example: compare a result at the portable level with the default one.
 *     enum xtc_cpu_level best = xtc_cpu_level();
 *     xtc_cpu_set_max_level(XTC_CPU_PORTABLE);
 *     ... run the model ...
 *     xtc_cpu_set_max_level(XTC_CPU_BEST); // or best, to keep an XTC_CPU cap
 *     char line[256];
 *     xtc_cpu_describe(line, sizeof line); // "AMD EPYC 7763 ...; features: avx2 fma; ..." */
#ifndef XTC_CPU_H
#define XTC_CPU_H

#include <stddef.h>

#include "xtc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel levels, each including the ones below it. A level runs its own kernels where it has
 * them (avx512_bf16: the bf16-weight decoding products) and the best lower ones elsewhere (amx
 * has none of its own yet): xtc_cpu_kernels names them. */
enum xtc_cpu_level {
    XTC_CPU_PORTABLE = 0,    /* plain C, vectorized by the compiler for the baseline (SSE2 on x86-64) */
    XTC_CPU_AVX2 = 1,        /* AVX2 + FMA */
    XTC_CPU_AVX512 = 2,      /* AVX-512 F, BW and VL */
    XTC_CPU_AVX512_BF16 = 3, /* AVX-512 plus AVX512_BF16 */
    XTC_CPU_AMX = 4,         /* AVX512_BF16 plus AMX tiles with bf16 */
    XTC_CPU_BEST = 5         /* as a cap: none (the best the CPU has) */
};

/* The level the kernels run at now: xtc_cpu_detected_level() capped by the cap in force. */
XTC_API enum xtc_cpu_level xtc_cpu_level(void);

/* The best level this CPU (and operating system) supports. */
XTC_API enum xtc_cpu_level xtc_cpu_detected_level(void);

/* Replaces the cap (XTC_CPU's included): the kernels run at min(max, detected level) from now
 * on; XTC_CPU_BEST removes the cap, and values outside the enum count as XTC_CPU_BEST. Returns
 * the level now in force. */
XTC_API enum xtc_cpu_level xtc_cpu_set_max_level(enum xtc_cpu_level max);

/* "portable", "avx2", "avx512", "avx512_bf16", "amx" ("best" for XTC_CPU_BEST, "?" otherwise):
 * the names XTC_CPU takes. A static string. */
XTC_API const char *xtc_cpu_level_name(enum xtc_cpu_level level);

/* Writes one human-readable line (no newline) into buf, snprintf-style: the CPU's model name
 * (/proc/cpuinfo where there is one), its features that matter here, the detected level, the
 * level in force and why (XTC_CPU, an API cap). Returns the length of the whole line (a
 * longer one than size - 1 is truncated). */
XTC_API size_t xtc_cpu_describe(char *buf, size_t size);

/* One kernel family of the cpu backend and the code it runs at the current level. */
struct xtc_cpu_kernel {
    const char *family; /* e.g. "matvec-f32": decoding's products with fp32 weights */
    const char *path;   /* e.g. "avx2 (AVX2+FMA intrinsics)" */
};

/* Fills up to max entries (static strings) and returns the number of families. */
XTC_API int xtc_cpu_kernels(struct xtc_cpu_kernel *out, int max);

#ifdef __cplusplus
}
#endif
#endif
