/* Vectorizable math for the CPU backend. Plain C written so that gcc/clang turn
 * loops calling these into SIMD code without -ffast-math (libm's expf/erf calls
 * block vectorisation). Each function states its error against libm; the scalar
 * libm version stays the reference (xtc_backend_cpu_set_reference) and
 * tests/unit/test_vec.c checks the bound. */
#ifndef XTC_VEC_H
#define XTC_VEC_H

#include <stdint.h>
#include <string.h>

/* e^x for x <= 88; relative error below 2e-7 for x >= -87.3 (results below FLT_MIN,
 * x < -87.3, flush to 0: the -FLT_MAX of masked logits gives exactly 0). Cody-Waite range
 * reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6 polynomial for e^r. */
static inline float xtc_vec_expf(float x) {
    /* clamp first, NaN included (it becomes the lower bound here and is passed through at the
     * end): the float -> int conversion below must never see an out-of-range value */
    float xc = x >= -87.3365447505531f ? x : -87.3365447505531f;
    xc = xc <= 88.0f ? xc : 88.0f;
    /* round to nearest through the 1.5 * 2^23 trick: no floorf call, so loops vectorize
     * (plain IEEE arithmetic: the compiler may not fold it without -ffast-math) */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23); /* 2^n, n in [-126, 128) after the clamp */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    y = x < -87.3365447505531f ? 0.0f : y;
    return x != x ? x : y; /* NaN in, NaN out */
}

/* erfc(a) for a >= 0, the Chebyshev fit of Numerical Recipes (erfcc): relative
 * error below 1.2e-7 (plus float rounding), so 1 + erf(-a) = erfc(a) stays accurate
 * far into the tail, where 1 + erf would cancel. */
static inline float xtc_vec_erfcf_pos(float a) {
    float t = 1.0f / (1.0f + 0.5f * a);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * xtc_vec_expf(-a * a + p);
}

/* 1 + erf(z) (the GELU factor), relative error below 2e-6 for z >= -4 (float rounding
 * of z^2 dominates) and below 1e-5
 * further into the tail (where the value is under 2e-8). */
static inline float xtc_vec_one_plus_erff(float z) {
    float e = xtc_vec_erfcf_pos(__builtin_fabsf(z)); /* one evaluation, then a select: vectorizes */
    return z >= 0 ? 2.0f - e : e;
}

/* erf(x), absolute error below 4e-7. */
static inline float xtc_vec_erff(float x) { return xtc_vec_one_plus_erff(x) - 1.0f; }

#endif
