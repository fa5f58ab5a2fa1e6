/* Kernels compiled once per kernel level and chosen at run time by the one decision of
 * core/cpu.c (xtc_cpu_level: the CPU's best, capped by XTC_CPU or xtc_cpu_set_max_level).
 *
 * A dispatched kernel is written once, as NAME_body marked XTC_KERNEL_BODY (always inlined);
 * XTC_DISPATCH / XTC_DISPATCH_VOID then define NAME_portable (compiled for the baseline),
 * NAME_avx2 (the same body compiled for AVX2), NAME_avx512 (compiled for AVX-512 F, BW and VL)
 * and NAME, which calls the best one the current level allows. The versions run the same IEEE
 * operations on wider vectors: results differ only where a vectorized sum splits into a
 * different number of lanes (rounding).
 *
 * No version contracts a * b + c into one FMA (one rounding instead of two), which would
 * change results against the portable version:
 * - the AVX2 version is compiled with target("avx2") and not "avx2,fma", so there is no FMA to
 *   contract into;
 * - AVX-512 F implies FMA (gcc and clang both enable it with avx512f), so the AVX-512 version
 *   relies on contraction being off instead. GCC contracts nothing in ISO C mode (the build's
 *   -std=c11: -ffp-contract=off); clang contracts within an expression by default
 *   (-ffp-contract=on), which the STDC FP_CONTRACT pragma below turns off for the rest of each
 *   file that includes this header, the bodies included (checked with objdump: no vfmadd in the
 *   _avx512 versions, with either compiler).
 * Hand-written FMA kernels (matvec.c, matvec_q8.c, matvec_v16.c) test the level themselves.
 * This replaces GCC's target_clones, whose ifunc resolver picked the version at load time (no
 * way to force a lower one, and a crash under ThreadSanitizer). Levels above avx512 run the
 * avx512 version. */
#ifndef XTC_CPU_DISPATCH_H
#define XTC_CPU_DISPATCH_H

#include "core/cpu.h"

#define XTC_KERNEL_BODY static inline __attribute__((always_inline))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
#define XTC_TARGET_AVX2 __attribute__((target("avx2")))
#define XTC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define XTC_DISPATCH(ret, name, params, args)                                                                          \
    static ret name##_portable params {                                                                                \
        return name##_body args;                                                                                       \
    }                                                                                                                  \
    XTC_TARGET_AVX2 static ret name##_avx2 params {                                                                    \
        return name##_body args;                                                                                       \
    }                                                                                                                  \
    XTC_TARGET_AVX512 static ret name##_avx512 params {                                                                \
        return name##_body args;                                                                                       \
    }                                                                                                                  \
    static ret name params {                                                                                           \
        const enum xtc_cpu_level level_ = xtc_cpu_level();                                                             \
        return level_ >= XTC_CPU_AVX512 ? name##_avx512 args                                                           \
               : level_ >= XTC_CPU_AVX2 ? name##_avx2 args                                                             \
                                        : name##_portable args;                                                        \
    }
#define XTC_DISPATCH_VOID(name, params, args)                                                                          \
    static void name##_portable params {                                                                               \
        name##_body args;                                                                                              \
    }                                                                                                                  \
    XTC_TARGET_AVX2 static void name##_avx2 params {                                                                   \
        name##_body args;                                                                                              \
    }                                                                                                                  \
    XTC_TARGET_AVX512 static void name##_avx512 params {                                                               \
        name##_body args;                                                                                              \
    }                                                                                                                  \
    static void name params {                                                                                          \
        const enum xtc_cpu_level level_ = xtc_cpu_level();                                                             \
        if (level_ >= XTC_CPU_AVX512)                                                                                  \
            name##_avx512 args;                                                                                        \
        else if (level_ >= XTC_CPU_AVX2)                                                                               \
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
