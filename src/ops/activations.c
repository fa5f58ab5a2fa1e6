/* Feed-forward activations: exact GELU (nn.GELU(), erf form) and its GLU
 * variant (x-transformers GLU: the projection's first half is the value, the
 * second half goes through the activation). */
#include <math.h>
#include <stdbool.h>

#include "backend/cpu/vec.h"
#include "core/backend.h"
#include "ops/ops.h"

/* reference: libm's erf in double */
static inline float gelu(float x) { return (float)(0.5 * x * (1.0 + erf(x * 0.70710678118654752440))); }

/* fast path: vectorizable 1 + erf and exp (backend/cpu/vec.h), relative error below 2e-6 */
static inline float gelu_fast(float x) { return 0.5f * x * xtc_vec_one_plus_erff(x * 0.70710678118654752f); }

static inline float gelu_grad_fast(float x) {
    return 0.5f * xtc_vec_one_plus_erff(x * 0.70710678118654752f) +
           x * xtc_vec_expf(-0.5f * x * x) * 0.39894228040143267794f;
}

/* The fast spans are compiled for AVX2 and the baseline (XTC_CLONES, vec.h). */
XTC_CLONES static void gelu_span(float *restrict out, const float *restrict inp, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        out[i] = gelu_fast(inp[i]);
}

XTC_CLONES static void gelu_grad_span(float *restrict dinp, const float *restrict dout, const float *restrict inp,
                                      int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dinp[i] = dout[i] * gelu_grad_fast(inp[i]);
}

#define SPAN 4096 /* elements per OpenMP work item */

void xtc_gelu_forward(float *out, const float *inp, int64_t n) {
    if (xtc_cpu_reference()) {
        for (int64_t i = 0; i < n; i++)
            out[i] = gelu(inp[i]);
        return;
    }
    if (n <= SPAN) { /* decoding, maybe inside a parallel region: no team to start */
        gelu_span(out, inp, n);
        return;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i += SPAN)
        gelu_span(out + i, inp + i, n - i < SPAN ? n - i : SPAN);
}

void xtc_glu_forward(float *out, const float *inp, int64_t N, int64_t C) {
    bool ref = xtc_cpu_reference();
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++) {
        const float *value = inp + i * 2 * C, *gate = value + C;
        float *o = out + i * C;
        if (ref)
            for (int64_t c = 0; c < C; c++)
                o[c] = value[c] * gelu(gate[c]);
        else
#pragma omp simd
            for (int64_t c = 0; c < C; c++)
                o[c] = value[c] * gelu_fast(gate[c]);
    }
}

static inline float gelu_grad(float x) {
    /* d/dx 0.5 x (1 + erf(x / sqrt 2)) = 0.5 (1 + erf(x / sqrt 2)) + x * exp(-x^2 / 2) / sqrt(2 pi) */
    double xd = x;
    return (float)(0.5 * (1.0 + erf(xd * 0.70710678118654752440)) + xd * exp(-0.5 * xd * xd) * 0.39894228040143267794);
}

void xtc_gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n) {
    if (xtc_cpu_reference()) {
        for (int64_t i = 0; i < n; i++)
            dinp[i] = dout[i] * gelu_grad(inp[i]);
        return;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i += SPAN)
        gelu_grad_span(dinp + i, dout + i, inp + i, n - i < SPAN ? n - i : SPAN);
}

void xtc_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C) {
    /* out = value * gelu(gate) */
    bool ref = xtc_cpu_reference();
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            float value = inp[i * 2 * C + c], gate = inp[i * 2 * C + C + c], dy = dout[i * C + c];
            dinp[i * 2 * C + c] = dy * (ref ? gelu(gate) : gelu_fast(gate));
            dinp[i * 2 * C + C + c] = dy * value * (ref ? gelu_grad(gate) : gelu_grad_fast(gate));
        }
}
