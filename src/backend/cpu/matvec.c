/* Matrix-vector products for decoding: four weight rows at a time, each against every
 * input row while the four rows sit in L1. Three versions of each, picked at run time by the
 * kernel level (core/cpu.h): portable C, whose dot products are `omp simd` reductions (the
 * compiler may split a sum into vector lanes: its order differs from a left-to-right sum by
 * rounding only, no -ffast-math needed); at level avx2, AVX2 + FMA intrinsics with
 * prefetching; at avx512 and above, the 16-float kernels of matvec_v16.c (bf16 weights at
 * avx512_bf16: its VDPBF16PS kernel). */
#include "backend/cpu/matvec.h"

#include <stdbool.h>
#include <string.h>

#include "backend/cpu/dispatch.h"
#include "core/cpu.h"

/* bfloat16 is the top half of a float: widening is a shift (exact) */
static inline float bf16_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* fp32 rows, portable (the compiler's vectors, AVX2 ones at level avx2: dispatch.h) */
XTC_KERNEL_BODY void dot4_body(float s[4], const float *restrict w, int64_t Cin, const float *restrict x) {
    const float *restrict w0 = w, *restrict w1 = w + Cin, *restrict w2 = w + 2 * Cin, *restrict w3 = w + 3 * Cin;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int64_t k = 0; k < Cin; k++) {
        float xk = x[k];
        s0 += w0[k] * xk;
        s1 += w1[k] * xk;
        s2 += w2[k] * xk;
        s3 += w3[k] * xk;
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}
XTC_DISPATCH_VOID(dot4, (float s[4], const float *restrict w, int64_t Cin, const float *restrict x), (s, w, Cin, x))

XTC_KERNEL_BODY float dot1_body(const float *restrict w, int64_t Cin, const float *restrict x) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < Cin; k++)
        s += w[k] * x[k];
    return s;
}
XTC_DISPATCH(float, dot1, (const float *restrict w, int64_t Cin, const float *restrict x), (w, Cin, x))

/* bf16 rows, portable: the loop vectorizes, but compilers widen through shuffles and
 * separate multiplies and adds (~9 G weights/s from L1 here, no faster than fp32). */
static void dot4_bf16(float s[4], const uint16_t *restrict w, int64_t Cin, const float *restrict x) {
    const uint16_t *restrict w0 = w, *restrict w1 = w + Cin, *restrict w2 = w + 2 * Cin, *restrict w3 = w + 3 * Cin;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int64_t k = 0; k < Cin; k++) {
        float xk = x[k];
        s0 += bf16_f32(w0[k]) * xk;
        s1 += bf16_f32(w1[k]) * xk;
        s2 += bf16_f32(w2[k]) * xk;
        s3 += bf16_f32(w3[k]) * xk;
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
}

static float dot1_bf16(const uint16_t *restrict w, int64_t Cin, const float *restrict x) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < Cin; k++)
        s += bf16_f32(w[k]) * x[k];
    return s;
}

/* The weights of a portable product: fp32 rows, or bf16 rows when bf16 is set. */
struct rows {
    const float *f32;
    const uint16_t *bf16;
};

static void matvec_c(float *out, int64_t ldo, const float *inp, int64_t N, struct rows w, const float *bias,
                     int64_t Cin, int64_t o0, int64_t o1) {
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4)
        for (int64_t n = 0; n < N; n++) {
            float s[4];
            if (w.bf16)
                dot4_bf16(s, w.bf16 + o * Cin, Cin, inp + n * Cin);
            else
                dot4(s, w.f32 + o * Cin, Cin, inp + n * Cin);
            for (int r = 0; r < 4; r++)
                out[n * ldo + o + r] = s[r] + (bias ? bias[o + r] : 0.0f);
        }
    for (; o < o1; o++)
        for (int64_t n = 0; n < N; n++)
            out[n * ldo + o] = (w.bf16 ? dot1_bf16(w.bf16 + o * Cin, Cin, inp + n * Cin)
                                       : dot1(w.f32 + o * Cin, Cin, inp + n * Cin)) +
                               (bias ? bias[o] : 0.0f);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* Prefetching the next block's rows while this one is summed: the hardware prefetcher
 * follows each of the four row streams only after a few misses per page, and a block is
 * 1-4 KiB. Measured on a 12.6 MB product chain, 2 threads: ~16 G weights/s without it and
 * without FMA (the portable loop), ~19 with FMA, ~25 with both. Prefetches never fault, so
 * running past the matrix end is harmless. */
#define PREFETCH_ROWS(p, ldw, k)                                                        \
    do {                                                                                \
        _mm_prefetch((const char *)((p) + 4 * (ldw) + (k)), _MM_HINT_T0);               \
        _mm_prefetch((const char *)((p) + 5 * (ldw) + (k)), _MM_HINT_T0);               \
        _mm_prefetch((const char *)((p) + 6 * (ldw) + (k)), _MM_HINT_T0);               \
        _mm_prefetch((const char *)((p) + 7 * (ldw) + (k)), _MM_HINT_T0);               \
    } while (0)

__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* bf16, no shuffles: a 32-bit lane holding two bf16 weights (w[2i] low, w[2i+1] high)
 * gives w[2i] as a float by a left shift and w[2i+1] by masking the low half, so the input
 * is split once into its even and odd elements and each 16 weights cost a load, a shift, an
 * AND and two FMAs (~23 G weights/s from L1 here, against ~17 with zero-extending widens).
 * The input is split in chunks of KC elements, kept on the stack (64 KiB) for all N rows; a
 * chunk must cover a whole row of the usual widths, since every chunk is one pass over the
 * rows: with 512-element chunks a 124M model's 3072-wide rows took six strided passes, and
 * the bf16 steps ran at 60% of the memory bandwidth. */
#define KC 4096

/* s[r] = sum over k < n16 of row r of w (row stride ldw) times x, xe the split input:
 * per 16 elements, the 8 even ones then the 8 odd ones */
__attribute__((target("avx2,fma"))) static void dot4_split(float s[4], const uint16_t *w, int64_t ldw, int64_t n16,
                                                          const float *xe) {
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 e0 = _mm256_setzero_ps(), e1 = e0, e2 = e0, e3 = e0, d0 = e0, d1 = e0, d2 = e0, d3 = e0;
    for (int64_t k = 0; k < n16; k += 16) {
        if (k % 32 == 0) /* one 64-byte line holds 32 bf16 weights */
            PREFETCH_ROWS(w, ldw, k);
        __m256 xe_ = _mm256_loadu_ps(xe + k), xo_ = _mm256_loadu_ps(xe + k + 8);
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(w + k));
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(w + ldw + k));
        __m256i v2 = _mm256_loadu_si256((const __m256i *)(w + 2 * ldw + k));
        __m256i v3 = _mm256_loadu_si256((const __m256i *)(w + 3 * ldw + k));
        e0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), xe_, e0);
        d0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v0, hi)), xo_, d0);
        e1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)), xe_, e1);
        d1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v1, hi)), xo_, d1);
        e2 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v2, 16)), xe_, e2);
        d2 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v2, hi)), xo_, d2);
        e3 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v3, 16)), xe_, e3);
        d3 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v3, hi)), xo_, d3);
    }
    s[0] = hsum8(_mm256_add_ps(e0, d0)), s[1] = hsum8(_mm256_add_ps(e1, d1));
    s[2] = hsum8(_mm256_add_ps(e2, d2)), s[3] = hsum8(_mm256_add_ps(e3, d3));
}

/* fp32 rows: two accumulators per row (an FMA's latency spans several issue slots) */
__attribute__((target("avx2,fma"))) static void dot4_f32(float s[4], const float *w, int64_t ldw, int64_t n16,
                                                        const float *x) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int64_t k = 0; k < n16; k += 16) {
        PREFETCH_ROWS(w, ldw, k);
        __m256 xl = _mm256_loadu_ps(x + k), xh = _mm256_loadu_ps(x + k + 8);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), xl, a0);
        b0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 8), xh, b0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + ldw + k), xl, a1);
        b1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + ldw + k + 8), xh, b1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 2 * ldw + k), xl, a2);
        b2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 2 * ldw + k + 8), xh, b2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 3 * ldw + k), xl, a3);
        b3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 3 * ldw + k + 8), xh, b3);
    }
    s[0] = hsum8(_mm256_add_ps(a0, b0)), s[1] = hsum8(_mm256_add_ps(a1, b1));
    s[2] = hsum8(_mm256_add_ps(a2, b2)), s[3] = hsum8(_mm256_add_ps(a3, b3));
}

static void matvec_f32_avx2(float *out, int64_t ldo, const float *inp, int64_t N, const float *w, const float *bias,
                            int64_t Cin, int64_t o0, int64_t o1) {
    const int64_t n16 = Cin / 16 * 16;
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4)
        for (int64_t n = 0; n < N; n++) {
            float s[4];
            const float *x = inp + n * Cin;
            dot4_f32(s, w + o * Cin, Cin, n16, x);
            for (int r = 0; r < 4; r++) {
                for (int64_t k = n16; k < Cin; k++)
                    s[r] += w[(o + r) * Cin + k] * x[k];
                out[n * ldo + o + r] = s[r] + (bias ? bias[o + r] : 0.0f);
            }
        }
    if (o < o1)
        matvec_c(out, ldo, inp, N, (struct rows){.f32 = w}, bias, Cin, o, o1);
}

static void matvec_bf16_avx2(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                             const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    float xe[4 * KC];
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = o0; o < o1; o++)
            out[n * ldo + o] = bias ? bias[o] : 0.0f;
    for (int64_t k0 = 0; k0 < Cin; k0 += KC) {
        int64_t kc = Cin - k0 < KC ? Cin - k0 : KC, n16 = kc / 16 * 16;
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < n16; k += 16)
                for (int i = 0; i < 8; i++) {
                    xe[n * KC + k + i] = inp[n * Cin + k0 + k + 2 * i];
                    xe[n * KC + k + 8 + i] = inp[n * Cin + k0 + k + 2 * i + 1];
                }
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4)
            for (int64_t n = 0; n < N; n++) {
                float s[4];
                dot4_split(s, w + o * Cin + k0, Cin, n16, xe + n * KC);
                for (int r = 0; r < 4; r++) {
                    const uint16_t *wr = w + (o + r) * Cin + k0;
                    for (int64_t k = n16; k < kc; k++)
                        s[r] += bf16_f32(wr[k]) * inp[n * Cin + k0 + k];
                    out[n * ldo + o + r] += s[r];
                }
            }
        for (; o < o1; o++)
            for (int64_t n = 0; n < N; n++)
                out[n * ldo + o] += dot1_bf16(w + o * Cin + k0, kc, inp + n * Cin + k0);
    }
}
#endif

void xtc_matvec_f32(float *out, int64_t ldo, const float *inp, int64_t N, const float *w, const float *bias,
                    int64_t Cin, int64_t o0, int64_t o1) {
#ifdef XTC_MATVEC_AVX512
    const enum xtc_cpu_level level = xtc_cpu_level();
    if (level >= XTC_CPU_AVX512) {
        xtc_matvec_f32_avx512(out, ldo, inp, N, w, bias, Cin, o0, o1);
        return;
    }
    if (level >= XTC_CPU_AVX2) {
        matvec_f32_avx2(out, ldo, inp, N, w, bias, Cin, o0, o1);
        return;
    }
#endif
    matvec_c(out, ldo, inp, N, (struct rows){.f32 = w}, bias, Cin, o0, o1);
}

void xtc_matvec_bf16(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w, const float *bias,
                     int64_t Cin, int64_t o0, int64_t o1) {
#ifdef XTC_MATVEC_AVX512
    const enum xtc_cpu_level level = xtc_cpu_level();
    if (level >= XTC_CPU_AVX512_BF16) {
        xtc_matvec_bf16_avx512bf16(out, ldo, inp, N, w, bias, Cin, o0, o1);
        return;
    }
    if (level >= XTC_CPU_AVX512) {
        xtc_matvec_bf16_avx512(out, ldo, inp, N, w, bias, Cin, o0, o1);
        return;
    }
    if (level >= XTC_CPU_AVX2) {
        for (int64_t n = 0; n < N; n += 4) /* the split inputs of 4 rows fit the stack buffer */
            matvec_bf16_avx2(out + n * ldo, ldo, inp + n * Cin, N - n < 4 ? N - n : 4, w, bias, Cin, o0, o1);
        return;
    }
#endif
    matvec_c(out, ldo, inp, N, (struct rows){.bf16 = w}, bias, Cin, o0, o1);
}

void xtc_matvec_f32_portable(float *out, int64_t ldo, const float *inp, int64_t N, const float *w, const float *bias,
                             int64_t Cin, int64_t o0, int64_t o1) {
    matvec_c(out, ldo, inp, N, (struct rows){.f32 = w}, bias, Cin, o0, o1);
}

void xtc_matvec_bf16_portable(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                              const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    matvec_c(out, ldo, inp, N, (struct rows){.bf16 = w}, bias, Cin, o0, o1);
}

void xtc_cpu_matvec(const struct xtc_matvec_weights *mw, float *out, int64_t ldo, const float *inp, int64_t N,
                    const float *w, const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    xtc_matvec(mw, out, ldo, inp, N, w, bias, Cin, o0, o1);
}
