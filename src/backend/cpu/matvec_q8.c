/* Decoding products with int8 weights (the format of core/q8.h): a decoding step is bound by
 * reading the weights, 1 + 4 / 32 bytes a weight instead of 4. Products widen q to fp32 and
 * sum in fp32, each block's sum scaled once, like the bf16 kernels: only the weights are
 * approximate. */
#include "backend/cpu/matvec.h"
#include "core/cpu.h"
#include "core/q8.h"

/* One row's dot product with x, blocks scaled as they complete: the portable reference. */
static float dot1_q8(const int8_t *restrict q, const float *restrict scale, int64_t cols, const float *restrict x) {
    float s = 0;
    for (int64_t k0 = 0, j = 0; k0 < cols; k0 += XTC_Q8_BLOCK, j++) {
        const int64_t k1 = k0 + XTC_Q8_BLOCK < cols ? k0 + XTC_Q8_BLOCK : cols;
        float b = 0;
        for (int64_t k = k0; k < k1; k++)
            b += (float)q[k] * x[k];
        s += b * scale[j];
    }
    return s;
}

void xtc_matvec_q8_portable(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q, const float *scale,
                            const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    const int64_t nb = xtc_q8_blocks(Cin);
    for (int64_t o = o0; o < o1; o++)
        for (int64_t n = 0; n < N; n++)
            out[n * ldo + o] = dot1_q8(q + o * Cin, scale + o * nb, Cin, inp + n * Cin) + (bias ? bias[o] : 0.0f);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline float hsum8_q8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* 8 int8 weights at p as fp32 lanes (sign-extended, exact) */
AVX2 static inline __m256 widen8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}

/* Four rows against one input row: per full block, 4 x 8 products per row summed in a
 * vector and added to the row's total times the block's scale (one FMA); a short last
 * block goes through the scalar loop. */
AVX2 static void dot4_q8(float s[4], const int8_t *q, const float *scale, int64_t Cin, int64_t nb,
                         const float *x) {
    __m256 t0 = _mm256_setzero_ps(), t1 = t0, t2 = t0, t3 = t0;
    const int64_t full = Cin / XTC_Q8_BLOCK;
    for (int64_t j = 0; j < full; j++) {
        const int64_t k = j * XTC_Q8_BLOCK;
        const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        const __m256 x2 = _mm256_loadu_ps(x + k + 16), x3 = _mm256_loadu_ps(x + k + 24);
        /* the next rows' block, 4 rows below: the rows are streamed from memory */
        _mm_prefetch((const char *)(q + 4 * Cin + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(q + 5 * Cin + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(q + 6 * Cin + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(q + 7 * Cin + k), _MM_HINT_T0);
#define ROW(t, r)                                                                                           \
    do {                                                                                                    \
        const int8_t *p = q + (r) * Cin + k;                                                                \
        __m256 b = _mm256_mul_ps(widen8(p), x0);                                                            \
        b = _mm256_fmadd_ps(widen8(p + 8), x1, b);                                                          \
        b = _mm256_fmadd_ps(widen8(p + 16), x2, b);                                                         \
        b = _mm256_fmadd_ps(widen8(p + 24), x3, b);                                                         \
        t = _mm256_fmadd_ps(b, _mm256_set1_ps(scale[(r) * nb + j]), t);                                     \
    } while (0)
        ROW(t0, 0);
        ROW(t1, 1);
        ROW(t2, 2);
        ROW(t3, 3);
#undef ROW
    }
    s[0] = hsum8_q8(t0), s[1] = hsum8_q8(t1), s[2] = hsum8_q8(t2), s[3] = hsum8_q8(t3);
    if (full * XTC_Q8_BLOCK < Cin) {
        const int64_t k0 = full * XTC_Q8_BLOCK;
        for (int r = 0; r < 4; r++)
            s[r] += dot1_q8(q + r * Cin + k0, scale + r * nb + full, Cin - k0, x + k0);
    }
}

AVX2 static void matvec_q8_avx2(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q,
                                const float *scale, const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    const int64_t nb = xtc_q8_blocks(Cin);
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4)
        for (int64_t n = 0; n < N; n++) {
            float s[4];
            dot4_q8(s, q + o * Cin, scale + o * nb, Cin, nb, inp + n * Cin);
            for (int r = 0; r < 4; r++)
                out[n * ldo + o + r] = s[r] + (bias ? bias[o + r] : 0.0f);
        }
    if (o < o1)
        xtc_matvec_q8_portable(out, ldo, inp, N, q, scale, bias, Cin, o, o1);
}
#endif

void xtc_matvec_q8(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q, const float *scale,
                   const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
#ifdef XTC_MATVEC_AVX512
    const enum xtc_cpu_level level = xtc_cpu_level(); /* core/cpu.h's one decision */
    if (level >= XTC_CPU_AVX512) {                    /* matvec_v16.c */
        xtc_matvec_q8_avx512(out, ldo, inp, N, q, scale, bias, Cin, o0, o1);
        return;
    }
    if (level >= XTC_CPU_AVX2) { /* the AVX2 + FMA kernel below */
        matvec_q8_avx2(out, ldo, inp, N, q, scale, bias, Cin, o0, o1);
        return;
    }
#endif
    xtc_matvec_q8_portable(out, ldo, inp, N, q, scale, bias, Cin, o0, o1);
}
