/* Decoding's matrix-vector products at kernel level avx512 (and above): fp32, bf16 and int8
 * weights, in vectors of 16 floats (N input rows, o in [o0, o1): matvec.h).
 *
 * Written once in GCC/clang vector extensions (vector_size(64) types, __builtin_convertvector,
 * __builtin_prefetch), not intrinsics, and compiled twice from the same bodies:
 * - _avx512: target AVX-512 F, BW, VL + FMA, one zmm register per vector; what level avx512
 *   runs (matvec.c, matvec_q8.c choose it);
 * - _avx512_on_avx2: target AVX2 + FMA, where the compiler lowers each 16-float vector to two
 *   ymm halves doing the same lane operations; run by the tests only.
 * AVX-512 intrinsics could only be tested on an AVX-512 CPU; the second build tests this source
 * on any x86-64 with AVX2, and the first is the same source in wider registers.
 * Level avx512_bf16's bf16 kernel needs one instruction the vector extensions cannot say,
 * VDPBF16PS: its two builds differ in that one macro, the instruction in _avx512bf16 and an
 * exact emulation in _avx512bf16_on_avx2. The bf16 kernels' loops are matvec_bf16_rows.h,
 * included once per build.
 *
 * The tricks of the AVX2 kernels (matvec.c, matvec_q8.c) carry over: four weight rows at a
 * time against every input row while they sit in L1, the next four rows prefetched (the
 * hardware prefetcher follows four row streams only after a few misses per page); bf16
 * weights widened without shuffles, by a shift and a mask against an input split into even
 * and odd elements; int8 weights summed per block of core/q8.h, each block's sum scaled once.
 *
 * Multiply-adds are contracted into FMAs (one rounding each), as the intrinsics kernels do:
 * the pragmas below ask for it, GCC's because it contracts nothing in ISO C mode, clang's to
 * make its default explicit. Each product feeds one add, so both builds contract the same
 * operations. Results differ from the portable kernels by rounding only (FMA, lane split). */
#include <stdint.h>
#include <string.h>

#include "backend/autocast.h"
#include "backend/cpu/matvec.h"
#include "core/q8.h"

#ifdef XTC_MATVEC_AVX512

#include <immintrin.h> /* _mm512_dpbf16_ps only: everything else is vector-extension C */

#ifdef __clang__
#pragma STDC FP_CONTRACT ON
#else
#pragma GCC optimize("fp-contract=fast")
#endif

#define BODY static inline __attribute__((always_inline))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
#define TARGET_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma")))
#define TARGET_AVX2 __attribute__((target("avx2,fma")))

typedef float v16f __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

/* Unaligned loads: memcpy is one vector load at either target. Macros rather than functions:
 * no vector ever crosses a function boundary (its passing convention differs per target). */
#define LOAD(v, p) memcpy(&(v), (p), sizeof(v))
/* 16 int8 weights as floats (sign-extended, exact). Written as a constructor, which both
 * compilers turn into one widening load (vpmovsxbd); GCC 12 lowers __builtin_convertvector
 * from 8-bit to 32-bit lanes one element at a time. */
#define WIDEN_I8(v, p)                                                                                                 \
    do {                                                                                                               \
        const int8_t *p_ = (p);                                                                                        \
        const v16i i_ = {p_[0], p_[1], p_[2],  p_[3],  p_[4],  p_[5],  p_[6],  p_[7],                                  \
                         p_[8], p_[9], p_[10], p_[11], p_[12], p_[13], p_[14], p_[15]};                                \
        (v) = __builtin_convertvector(i_, v16f);                                                                       \
    } while (0)

/* Prefetches element k of the four rows after the four at p (rows of ldw elements): the
 * rows the next step reads. Prefetches never fault, so running past the matrix end is harmless. */
#define PREFETCH_NEXT4(p, ldw, k)                                                                                      \
    do {                                                                                                               \
        for (int r_ = 4; r_ < 8; r_++)                                                                                 \
            __builtin_prefetch((p) + r_ * (ldw) + (k), 0, 3);                                                          \
    } while (0)

/* The sum of a vector's 16 lanes in a fixed tree order (the same in both builds). */
static inline float hsum16(const float t[16]) {
    float h[8];
    for (int i = 0; i < 8; i++)
        h[i] = t[i] + t[i + 8];
    for (int i = 0; i < 4; i++)
        h[i] += h[i + 4];
    return (h[0] + h[2]) + (h[1] + h[3]);
}
#define HSUM(s, v)                                                                                                     \
    do {                                                                                                               \
        float t_[16];                                                                                                  \
        memcpy(t_, &(v), sizeof t_);                                                                                   \
        (s) = hsum16(t_);                                                                                              \
    } while (0)

// --- fp32 weights

/* 32 elements per step: two accumulators per row (an FMA's latency spans several issues). */
BODY void matvec_f32_body(float *out, int64_t ldo, const float *inp, int64_t N, const float *w, const float *bias,
                          int64_t Cin, int64_t o0, int64_t o1) {
    const int64_t n32 = Cin / 32 * 32;
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4)
        for (int64_t n = 0; n < N; n++) {
            const float *x = inp + n * Cin, *wo = w + o * Cin;
            v16f a[4] = {0}, b[4] = {0};
            for (int64_t k = 0; k < n32; k += 32) {
                PREFETCH_NEXT4(wo, Cin, k);
                PREFETCH_NEXT4(wo, Cin, k + 16);
                v16f xl, xh;
                LOAD(xl, x + k);
                LOAD(xh, x + k + 16);
                for (int r = 0; r < 4; r++) {
                    v16f wl, wh;
                    LOAD(wl, wo + r * Cin + k);
                    LOAD(wh, wo + r * Cin + k + 16);
                    a[r] = wl * xl + a[r];
                    b[r] = wh * xh + b[r];
                }
            }
            for (int r = 0; r < 4; r++) {
                const v16f ab = a[r] + b[r];
                float s;
                HSUM(s, ab);
                for (int64_t k = n32; k < Cin; k++)
                    s += wo[r * Cin + k] * x[k];
                out[n * ldo + o + r] = s + (bias ? bias[o + r] : 0.0f);
            }
        }
    if (o < o1)
        xtc_matvec_f32_portable(out, ldo, inp, N, w, bias, Cin, o, o1);
}

// --- bf16 weights

#define KC 4096 /* elements of an input row prepared at a time (matvec_bf16_rows.h) */

/* bfloat16 is the top half of a float: widening is a shift (exact) */
static inline float bf16_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Level avx512: per 32 elements of x, the 16 even ones then the 16 odd ones (as float bits).
 * A 32-bit lane holding two bf16 weights (w[2i] low, w[2i+1] high) gives w[2i] as a float by a
 * left shift and w[2i+1] by masking the low half: per 32 weights a load, a shift, an AND and
 * two FMAs. */
static void split_even_odd(uint32_t *xs, const float *x, int64_t n32) {
    for (int64_t k = 0; k < n32; k += 32)
        for (int i = 0; i < 16; i++) {
            memcpy(&xs[k + i], &x[k + 2 * i], sizeof(float));
            memcpy(&xs[k + 16 + i], &x[k + 2 * i + 1], sizeof(float));
        }
}
#define STEP_WIDEN(e, d, v, a, b)                                                                                      \
    do {                                                                                                               \
        (e) = (v16f)((v) << 16) * (v16f)(a) + (e);                                                                     \
        (d) = (v16f)((v) & 0xFFFF0000u) * (v16f)(b) + (d);                                                             \
    } while (0)

/* Level avx512_bf16: VDPBF16PS multiplies bf16 by bf16, so x is given as two bf16 halves, per
 * 32 elements 16 words of hi then 16 of lo, pairs packed as the weights are: hi = x truncated
 * (never rounds up to infinity), lo = x - hi (exact in fp32) rounded to nearest even; x = hi +
 * lo to 2^-16 relative (bf16 x alone would add an error as large as the weights' own
 * rounding). Per 32 weights two dot products instead of a shift, an AND and two FMAs; the pairs
 * are in memory order, the lane order the instruction pairs, so nothing is shuffled. A NaN
 * stays NaN in hi; lo is 0 where x - hi is not a number (x infinite), so an infinite x gives
 * what the fp32 products give. */
static void split_bf16_halves(uint32_t *xs, const float *x, int64_t n32) {
    for (int64_t k = 0; k < n32; k += 32)
        for (int i = 0; i < 16; i++) {
            uint32_t hi = 0, lo = 0;
            for (int j = 0; j < 2; j++) {
                uint32_t u;
                memcpy(&u, &x[k + 2 * i + j], sizeof u);
                const uint32_t h = (u & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC0u : u >> 16;
                const float r = x[k + 2 * i + j] - bf16_f32((uint16_t)h);
                hi |= h << 16 * j;
                lo |= (r != r ? 0u : (uint32_t)xtc_bf16_bits(r)) << 16 * j;
            }
            xs[k + i] = hi, xs[k + 16 + i] = lo;
        }
}
/* VDPBF16PS per 32-bit lane: acc += the high halves' product, then the low halves' (Intel's
 * order); in plain 16-float vectors for the tests' build: the products of two bf16 are exact in
 * fp32, so each add rounds as the instruction's does (which also flushes denormal inputs and
 * results to zero: the tests keep clear of them). */
#define DOT_EMULATED(acc, w, x)                                                                                        \
    do {                                                                                                               \
        (acc) = (v16f)((w) & 0xFFFF0000u) * (v16f)((x) & 0xFFFF0000u) + (acc);                                       \
        (acc) = (v16f)((w) << 16) * (v16f)((x) << 16) + (acc);                                                         \
    } while (0)
#define DOT_NATIVE(acc, w, x) ((acc) = (v16f)_mm512_dpbf16_ps((__m512)(acc), (__m512bh)(w), (__m512bh)(x)))
#define STEP_DOT_EMULATED(e, d, v, a, b)                                                                               \
    do {                                                                                                               \
        DOT_EMULATED(e, v, a);                                                                                         \
        DOT_EMULATED(d, v, b);                                                                                         \
    } while (0)
#define STEP_DOT_NATIVE(e, d, v, a, b)                                                                                 \
    do {                                                                                                               \
        DOT_NATIVE(e, v, a);                                                                                           \
        DOT_NATIVE(d, v, b);                                                                                           \
    } while (0)

/* the four builds of the rows kernel */
#define BF16_ROWS_NAME bf16_rows_avx512
#define BF16_ROWS_TARGET TARGET_AVX512
#define BF16_SPLIT split_even_odd
#define BF16_STEP STEP_WIDEN
#include "backend/cpu/matvec_bf16_rows.h"
#undef BF16_ROWS_NAME
#undef BF16_ROWS_TARGET
#define BF16_ROWS_NAME bf16_rows_avx512_on_avx2
#define BF16_ROWS_TARGET TARGET_AVX2
#include "backend/cpu/matvec_bf16_rows.h"
#undef BF16_ROWS_NAME
#undef BF16_ROWS_TARGET
#undef BF16_SPLIT
#undef BF16_STEP
#define BF16_ROWS_NAME bf16_rows_avx512bf16
#define BF16_ROWS_TARGET TARGET_AVX512BF16
#define BF16_SPLIT split_bf16_halves
#define BF16_STEP STEP_DOT_NATIVE
#include "backend/cpu/matvec_bf16_rows.h"
#undef BF16_ROWS_NAME
#undef BF16_ROWS_TARGET
#undef BF16_STEP
#define BF16_ROWS_NAME bf16_rows_avx512bf16_on_avx2
#define BF16_ROWS_TARGET TARGET_AVX2
#define BF16_STEP STEP_DOT_EMULATED
#include "backend/cpu/matvec_bf16_rows.h"
#undef BF16_ROWS_NAME
#undef BF16_ROWS_TARGET
#undef BF16_SPLIT
#undef BF16_STEP

/* The bias, the rows through rows (one build of matvec_bf16_rows.h) 4 input rows at a time
 * (their prepared inputs fit the stack buffer), the last o1 - o0 mod 4 outputs portably.
 * Scalar code, shared by every build: rows is called, so no vector crosses it. */
typedef void bf16_rows_fn(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w, int64_t Cin,
                          int64_t o0, int64_t o1);
static void matvec_bf16_with(bf16_rows_fn *rows, float *out, int64_t ldo, const float *inp, int64_t N,
                             const uint16_t *w, const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    const int64_t o4 = o0 + (o1 - o0) / 4 * 4;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = o0; o < o4; o++)
            out[n * ldo + o] = bias ? bias[o] : 0.0f;
    for (int64_t n = 0; n < N; n += 4)
        rows(out + n * ldo, ldo, inp + n * Cin, N - n < 4 ? N - n : 4, w, Cin, o0, o4);
    if (o4 < o1)
        xtc_matvec_bf16_portable(out, ldo, inp, N, w, bias, Cin, o4, o1);
}

void xtc_matvec_bf16_avx512bf16(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                                const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    matvec_bf16_with(bf16_rows_avx512bf16, out, ldo, inp, N, w, bias, Cin, o0, o1);
}
void xtc_matvec_bf16_avx512bf16_on_avx2(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                                        const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    matvec_bf16_with(bf16_rows_avx512bf16_on_avx2, out, ldo, inp, N, w, bias, Cin, o0, o1);
}

// --- int8 weights

/* Per full block of 32 weights and row: the block's 32 products summed in a vector, then
 * added to the row's total times the block's scale (one FMA); a short last block is summed
 * in scalars, as the portable kernel does. */
BODY void matvec_q8_body(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q, const float *scale,
                         const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    _Static_assert(XTC_Q8_BLOCK == 32, "one block is two vectors of 16");
    const int64_t nb = xtc_q8_blocks(Cin), full = Cin / XTC_Q8_BLOCK;
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4)
        for (int64_t n = 0; n < N; n++) {
            const int8_t *qo = q + o * Cin;
            const float *x = inp + n * Cin, *so = scale + o * nb;
            v16f t[4] = {0};
            for (int64_t j = 0; j < full; j++) {
                const int64_t k = j * XTC_Q8_BLOCK;
                PREFETCH_NEXT4(qo, Cin, k); /* the rows are streamed from memory */
                v16f x0, x1;
                LOAD(x0, x + k);
                LOAD(x1, x + k + 16);
                for (int r = 0; r < 4; r++) {
                    v16f w0, w1;
                    WIDEN_I8(w0, qo + r * Cin + k);
                    WIDEN_I8(w1, qo + r * Cin + k + 16);
                    v16f blk = w0 * x0;
                    blk = w1 * x1 + blk;
                    t[r] = blk * so[r * nb + j] + t[r];
                }
            }
            for (int r = 0; r < 4; r++) {
                float s;
                HSUM(s, t[r]);
                if (full < nb) {
                    float blk = 0;
                    for (int64_t k = full * XTC_Q8_BLOCK; k < Cin; k++)
                        blk += (float)qo[r * Cin + k] * x[k];
                    s += blk * so[r * nb + full];
                }
                out[n * ldo + o + r] = s + (bias ? bias[o + r] : 0.0f);
            }
        }
    if (o < o1)
        xtc_matvec_q8_portable(out, ldo, inp, N, q, scale, bias, Cin, o, o1);
}

// --- the two builds of each body

#define INSTANTIATE(target, suffix)                                                                                    \
    target void xtc_matvec_f32_##suffix(float *out, int64_t ldo, const float *inp, int64_t N, const float *w,          \
                                        const float *bias, int64_t Cin, int64_t o0, int64_t o1) {                      \
        matvec_f32_body(out, ldo, inp, N, w, bias, Cin, o0, o1);                                                       \
    }                                                                                                                  \
    void xtc_matvec_bf16_##suffix(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,             \
                                  const float *bias, int64_t Cin, int64_t o0, int64_t o1) {                            \
        matvec_bf16_with(bf16_rows_##suffix, out, ldo, inp, N, w, bias, Cin, o0, o1);                                  \
    }                                                                                                                  \
    target void xtc_matvec_q8_##suffix(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q,          \
                                       const float *scale, const float *bias, int64_t Cin, int64_t o0, int64_t o1) {   \
        matvec_q8_body(out, ldo, inp, N, q, scale, bias, Cin, o0, o1);                                                 \
    }

INSTANTIATE(TARGET_AVX512, avx512)
INSTANTIATE(TARGET_AVX2, avx512_on_avx2)

#endif
