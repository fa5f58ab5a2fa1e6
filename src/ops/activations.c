/* Feed-forward activations: exact GELU (nn.GELU(), erf form) and its GLU
 * variant (x-transformers GLU: the projection's first half is the value, the
 * second half goes through the activation), with the optional soft clamps of
 * both factors (x-transformers 2.31.10 FeedForward glu_softclamp). */
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

/* c(t, b) = b tanh(t / b), the soft clamp of x-transformers 2.31.10's GLU (softclamp) */
static inline float softclamp(float t, float b) { return b * tanhf(t / b); }

/* One row span of the GLU: out = c_u(value) * c_g(gate) * Phi(gate), where c_u / c_g are the
 * soft clamps with ff_glu_softclamp and the identity without (then c_g(g) Phi(g) = gelu(g)). */
void xtc_glu_span(float *restrict out, const float *restrict value, const float *restrict gate, int64_t n,
                  const struct xtc_glu_params *p) {
    bool ref = xtc_cpu_reference();
    if (p && p->softclamp) {
        for (int64_t c = 0; c < n; c++) {
            float g = gate[c], phi = ref ? (float)(0.5 * (1.0 + erf(g * 0.70710678118654752440)))
                                         : 0.5f * xtc_vec_one_plus_erff(g * 0.70710678118654752f);
            out[c] = softclamp(value[c], p->up_clamp) * softclamp(g, p->gate_clamp) * phi;
        }
    } else if (ref) {
        for (int64_t c = 0; c < n; c++)
            out[c] = value[c] * gelu(gate[c]);
    } else {
#pragma omp simd
        for (int64_t c = 0; c < n; c++)
            out[c] = value[c] * gelu_fast(gate[c]);
    }
}

void xtc_softclamp_forward(float *x, int64_t n, float b) {
    for (int64_t i = 0; i < n; i++)
        x[i] = softclamp(x[i], b);
}

void xtc_softclamp_backward(float *dx, const float *y, int64_t n, float b) {
    /* y = b tanh(x / b): dy/dx = 1 - tanh(x / b)^2 = 1 - (y / b)^2 */
    for (int64_t i = 0; i < n; i++) {
        float t = y[i] / b;
        dx[i] *= 1.0f - t * t;
    }
}

void xtc_glu_forward(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p) {
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++)
        xtc_glu_span(out + i * C, inp + i * 2 * C, inp + i * 2 * C + C, C, p);
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

void xtc_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                      const struct xtc_glu_params *p) {
    /* out = value * gelu(gate), or with the soft clamps c_u(value) * c_g(gate) * Phi(gate):
     * d/dvalue = dy c_g(g) Phi(g) c_u'(u),  d/dgate = dy c_u(u) (c_g'(g) Phi(g) + c_g(g) phi(g)),
     * c'(t) = 1 - tanh(t / b)^2, phi the standard normal density */
    bool ref = xtc_cpu_reference(), clamp = p && p->softclamp;
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            float value = inp[i * 2 * C + c], gate = inp[i * 2 * C + C + c], dy = dout[i * C + c];
            if (clamp) {
                double tu = tanh((double)value / p->up_clamp), tg = tanh((double)gate / p->gate_clamp);
                double cu = p->up_clamp * tu, cg = p->gate_clamp * tg, g = gate;
                double Phi = 0.5 * (1.0 + erf(g * 0.70710678118654752440));
                double phi = exp(-0.5 * g * g) * 0.39894228040143267794;
                dinp[i * 2 * C + c] = (float)(dy * cg * Phi * (1.0 - tu * tu));
                dinp[i * 2 * C + C + c] = (float)(dy * cu * ((1.0 - tg * tg) * Phi + cg * phi));
                continue;
            }
            dinp[i * 2 * C + c] = dy * (ref ? gelu(gate) : gelu_fast(gate));
            dinp[i * 2 * C + C + c] = dy * value * (ref ? gelu_grad(gate) : gelu_grad_fast(gate));
        }
}
