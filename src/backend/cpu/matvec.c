/* Matrix-vector products for decoding: four weight rows at a time, each against every
 * input row while the four rows sit in L1. The dot products are `omp simd` reductions,
 * so the compiler may split the sum into vector lanes (its order differs from a plain
 * left-to-right sum by float rounding only); no -ffast-math is needed. */
#include "backend/cpu/matvec.h"

#include "backend/cpu/vec.h"

XTC_CLONES static void dot4(float s[4], const float *restrict w, int64_t Cin, const float *restrict x) {
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

XTC_CLONES static float dot1(const float *restrict w, int64_t Cin, const float *restrict x) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < Cin; k++)
        s += w[k] * x[k];
    return s;
}

void xtc_matvec_f32(float *out, int64_t ldo, const float *inp, int64_t N, const float *w, const float *bias,
                    int64_t Cin, int64_t o0, int64_t o1) {
    int64_t o = o0;
    for (; o + 4 <= o1; o += 4)
        for (int64_t n = 0; n < N; n++) {
            float s[4];
            dot4(s, w + o * Cin, Cin, inp + n * Cin);
            for (int r = 0; r < 4; r++)
                out[n * ldo + o + r] = s[r] + (bias ? bias[o + r] : 0.0f);
        }
    for (; o < o1; o++)
        for (int64_t n = 0; n < N; n++)
            out[n * ldo + o] = dot1(w + o * Cin, Cin, inp + n * Cin) + (bias ? bias[o] : 0.0f);
}
