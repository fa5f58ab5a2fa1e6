/* Feed-forward activations, reference kernels (libm in double): exact GELU (nn.GELU(), erf
 * form) and its GLU variant (x-transformers GLU: the projection's first half is the value,
 * the second half goes through the activation), with the optional soft clamps of both
 * factors (x-transformers 2.31.10 FeedForward glu_softclamp), and the plain soft clamp. */
#include <math.h>
#include <stdbool.h>

#include "backend/ref/ref.h"
#include "ops/ops.h"

static inline float gelu(float x) { return (float)(0.5 * x * (1.0 + erf(x * 0.70710678118654752440))); }

static inline float gelu_grad(float x) {
    /* d/dx 0.5 x (1 + erf(x / sqrt 2)) = 0.5 (1 + erf(x / sqrt 2)) + x * exp(-x^2 / 2) / sqrt(2 pi) */
    double xd = x;
    return (float)(0.5 * (1.0 + erf(xd * 0.70710678118654752440)) + xd * exp(-0.5 * xd * xd) * 0.39894228040143267794);
}

/* c(t, b) = b tanh(t / b), the soft clamp of x-transformers 2.31.10's GLU (softclamp) */
static inline float softclamp(float t, float b) { return b * tanhf(t / b); }

void xtc_ref_gelu_forward(float *out, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        out[i] = gelu(inp[i]);
}

void xtc_ref_gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dinp[i] = dout[i] * gelu_grad(inp[i]);
}

/* One row span of the GLU: out = c_u(value) * c_g(gate) * Phi(gate), where c_u / c_g are the
 * soft clamps with ff_glu_softclamp and the identity without (then c_g(g) Phi(g) = gelu(g)). */
void xtc_ref_glu_span(float *out, const float *value, const float *gate, int64_t n, const struct xtc_glu_params *p) {
    if (p && p->softclamp) {
        for (int64_t c = 0; c < n; c++) {
            float g = gate[c], phi = (float)(0.5 * (1.0 + erf(g * 0.70710678118654752440)));
            out[c] = softclamp(value[c], p->up_clamp) * softclamp(g, p->gate_clamp) * phi;
        }
    } else {
        for (int64_t c = 0; c < n; c++)
            out[c] = value[c] * gelu(gate[c]);
    }
}

void xtc_ref_glu_forward(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p) {
    for (int64_t i = 0; i < N; i++)
        xtc_ref_glu_span(out + i * C, inp + i * 2 * C, inp + i * 2 * C + C, C, p);
}

void xtc_ref_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                          const struct xtc_glu_params *p) {
    /* out = value * gelu(gate), or with the soft clamps c_u(value) * c_g(gate) * Phi(gate):
     * d/dvalue = dy c_g(g) Phi(g) c_u'(u),  d/dgate = dy c_u(u) (c_g'(g) Phi(g) + c_g(g) phi(g)),
     * c'(t) = 1 - tanh(t / b)^2, phi the standard normal density */
    bool clamp = p && p->softclamp;
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
            dinp[i * 2 * C + c] = dy * gelu(gate);
            dinp[i * 2 * C + C + c] = dy * value * gelu_grad(gate);
        }
}

void xtc_ref_softclamp_forward(float *x, int64_t n, float b) {
    for (int64_t i = 0; i < n; i++)
        x[i] = softclamp(x[i], b);
}

void xtc_ref_softclamp_backward(float *dx, const float *y, int64_t n, float b) {
    /* y = b tanh(x / b): dy/dx = 1 - tanh(x / b)^2 = 1 - (y / b)^2 */
    for (int64_t i = 0; i < n; i++) {
        float t = y[i] / b;
        dx[i] *= 1.0f - t * t;
    }
}
