/* Quantization to the int8 weight format (core/q8.h). */
#include "core/q8.h"

#include <float.h>
#include <math.h>

bool xtc_q8_quantize_row(int8_t *q, float *scale, const float *w, int64_t cols) {
    for (int64_t k0 = 0, j = 0; k0 < cols; k0 += XTC_Q8_BLOCK, j++) {
        const int64_t k1 = k0 + XTC_Q8_BLOCK < cols ? k0 + XTC_Q8_BLOCK : cols;
        float amax = 0;
        for (int64_t k = k0; k < k1; k++) {
            const float a = fabsf(w[k]);
            if (!(a <= FLT_MAX)) /* inf or NaN: no scale represents it (and the cast below would be UB) */
                return false;
            amax = a > amax ? a : amax;
        }
        const float s = amax / 127.0f; /* 0 for a block of zeros, or of values below 127 x FLT_TRUE_MIN */
        scale[j] = s;
        for (int64_t k = k0; k < k1; k++) {
            /* a division, not a product with 127 / amax: that overflows for tiny amax */
            float v = s > 0 ? nearbyintf(w[k] / s) : 0.0f; /* |v| <= 127 up to rounding: clamped */
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            q[k] = (int8_t)v;
        }
    }
    return true;
}

