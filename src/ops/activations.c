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

static inline float gelu_grad(float x) {
    /* d/dx 0.5 x (1 + erf(x / sqrt 2)) = 0.5 (1 + erf(x / sqrt 2)) + x * exp(-x^2 / 2) / sqrt(2 pi) */
    double xd = x;
    return (float)(0.5 * (1.0 + erf(xd * 0.70710678118654752440)) + xd * exp(-0.5 * xd * xd) * 0.39894228040143267794);
}

void xtc_gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        dinp[i] = dout[i] * gelu_grad(inp[i]);
}

void xtc_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C) {
    /* out = value * gelu(gate) */
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            float value = inp[i * 2 * C + c], gate = inp[i * 2 * C + C + c], dy = dout[i * C + c];
            dinp[i * 2 * C + c] = dy * gelu(gate);
            dinp[i * 2 * C + C + c] = dy * value * gelu_grad(gate);
        }
}
