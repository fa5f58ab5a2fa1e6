/* Feed-forward activations: exact GELU (nn.GELU(), erf form) and its GLU
 * variant (x-transformers GLU: the projection's first half is the value, the
 * second half goes through the activation). */
#include <math.h>

#include "ops/ops.h"

static inline float gelu(float x) { return (float)(0.5 * x * (1.0 + erf(x * 0.70710678118654752440))); }

void xtc_gelu_forward(float *out, const float *inp, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        out[i] = gelu(inp[i]);
}

void xtc_glu_forward(float *out, const float *inp, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++)
            out[i * C + c] = inp[i * 2 * C + c] * gelu(inp[i * 2 * C + C + c]);
}
