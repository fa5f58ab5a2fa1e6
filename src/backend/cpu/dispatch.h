/* Kernels compiled once per kernel level and chosen at run time by the one decision of
 * core/cpu.c (xtc_cpu_level: the CPU's best, capped by XTC_CPU or xtc_cpu_set_max_level).
 *
 * A dispatched kernel is written once, as NAME_body marked XTC_KERNEL_BODY (always inlined);
 * XTC_DISPATCH / XTC_DISPATCH_VOID then define NAME_portable (compiled for the baseline),
 * NAME_avx2 (the same body compiled for AVX2) and NAME, which calls the one the current level
 * allows. The versions run the same IEEE operations on wider vectors: results differ only where
 * a vectorized sum splits into a different number of lanes (rounding).
 *
 * The AVX2 version is compiled with target("avx2") and not "avx2,fma": with FMA available,
 * clang contracts a * b + c into one rounding (its default -ffp-contract=on), which would change
 * results against the portable version. Hand-written FMA kernels (matvec.c) test the level
 * themselves. This replaces GCC's target_clones, whose ifunc resolver picked the version at load
 * time (no way to force a lower one, and a crash under ThreadSanitizer). A level above avx2 runs
 * the avx2 version until kernels of its own are added here. */
#ifndef XTC_CPU_DISPATCH_H
#define XTC_CPU_DISPATCH_H

#include "core/cpu.h"

#define XTC_KERNEL_BODY static inline __attribute__((always_inline))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XTC_TARGET_AVX2 __attribute__((target("avx2")))
#define XTC_DISPATCH(ret, name, params, args)                                                                          \
    static ret name##_portable params {                                                                                \
        return name##_body args;                                                                                       \
    }                                                                                                                  \
    XTC_TARGET_AVX2 static ret name##_avx2 params {                                                                    \
        return name##_body args;                                                                                       \
    }                                                                                                                  \
    static ret name params {                                                                                           \
        return xtc_cpu_level() >= XTC_CPU_AVX2 ? name##_avx2 args : name##_portable args;                              \
    }
#define XTC_DISPATCH_VOID(name, params, args)                                                                          \
    static void name##_portable params {                                                                               \
        name##_body args;                                                                                              \
    }                                                                                                                  \
    XTC_TARGET_AVX2 static void name##_avx2 params {                                                                   \
        name##_body args;                                                                                              \
    }                                                                                                                  \
    static void name params {                                                                                          \
        if (xtc_cpu_level() >= XTC_CPU_AVX2)                                                                           \
            name##_avx2 args;                                                                                          \
        else                                                                                                           \
            name##_portable args;                                                                                      \
    }
#else /* one version: the portable one */
#define XTC_DISPATCH(ret, name, params, args)                                                                          \
    static ret name params {                                                                                           \
        return name##_body args;                                                                                       \
    }
#define XTC_DISPATCH_VOID(name, params, args)                                                                          \
    static void name params {                                                                                          \
        name##_body args;                                                                                              \
    }
#endif

#endif
