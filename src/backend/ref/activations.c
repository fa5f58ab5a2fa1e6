/* Feed-forward activations, reference kernels (libm in double): exact GELU (nn.GELU(), erf
 * form), SiLU (nn.SiLU, ff_swish) and squared ReLU (ff_relu_squared), and the GLU built on
 * them (x-transformers GLU: the projection's first half is the value, the second half goes
 * through the activation), with the optional soft clamps of both factors (x-transformers
 * 2.31.10 FeedForward glu_softclamp: GELU and SiLU gates), and the plain soft clamp. */
#include <math.h>
#include <stdbool.h>

#include "backend/ref/ref.h"
#include "ops/ops.h"

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

static inline double Phi(double x) { return 0.5 * (1.0 + erf(x * SQRT1_2)); }
static inline double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static inline double act_value(double x, enum xtc_ff_activation act) {
    switch (act) {
    case XTC_FF_SWISH:
        return x * sigmoid(x);
    case XTC_FF_RELU_SQUARED:
        return x > 0 ? x * x : 0.0;
    default:
        return x * Phi(x);
    }
}

static inline double act_grad(double x, enum xtc_ff_activation act) {
    switch (act) {
    case XTC_FF_SWISH: { /* d/dx x s(x) = s (1 + x (1 - s)) */
        double s = sigmoid(x);
        return s * (1.0 + x * (1.0 - s));
    }
    case XTC_FF_RELU_SQUARED:
        return x > 0 ? 2.0 * x : 0.0;
    default: /* d/dx x Phi(x) = Phi(x) + x phi(x) */
        return Phi(x) + x * exp(-0.5 * x * x) * INV_SQRT_2PI;
    }
}

/* The factor the soft-clamped gate is multiplied by (x-transformers softclamp_gelu /
 * softclamp_silu: c(g) * Phi(g) or c(g) * sigmoid(g)) and its derivative. */
static inline double gate_factor(double g, enum xtc_ff_activation act) {
    return act == XTC_FF_SWISH ? sigmoid(g) : Phi(g);
}
static inline double gate_factor_grad(double g, enum xtc_ff_activation act) {
    if (act == XTC_FF_SWISH) {
        double s = sigmoid(g);
        return s * (1.0 - s);
    }
    return exp(-0.5 * g * g) * INV_SQRT_2PI;
}

void xtc_ref_act_forward(float *out, const float *inp, int64_t n, enum xtc_ff_activation act) {
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)act_value(inp[i], act);
}

void xtc_ref_act_backward(float *dinp, const float *dout, const float *inp, int64_t n, enum xtc_ff_activation act) {
    for (int64_t i = 0; i < n; i++)
        dinp[i] = (float)(dout[i] * act_grad(inp[i], act));
}

/* One row span of the GLU: out = c_u(value) * c_g(gate) * s(gate) with ff_glu_softclamp
 * (c_u / c_g the soft clamps b tanh(t / b)), else value * act(gate). */
void xtc_ref_glu_span(float *out, const float *value, const float *gate, int64_t n, const struct xtc_glu_params *p) {
    enum xtc_ff_activation act = p ? p->act : XTC_FF_GELU;
    if (p && p->softclamp) {
        for (int64_t c = 0; c < n; c++) {
            double g = gate[c];
            double cu = p->up_clamp * tanh((double)value[c] / p->up_clamp);
            double cg = p->gate_clamp * tanh(g / p->gate_clamp);
            out[c] = (float)(cu * cg * gate_factor(g, act));
        }
    } else {
        for (int64_t c = 0; c < n; c++)
            out[c] = (float)(value[c] * act_value(gate[c], act));
    }
}

void xtc_ref_glu_forward(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p) {
    for (int64_t i = 0; i < N; i++)
        xtc_ref_glu_span(out + i * C, inp + i * 2 * C, inp + i * 2 * C + C, C, p);
}

void xtc_ref_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                          const struct xtc_glu_params *p) {
    /* out = value * act(gate), or with the soft clamps c_u(value) * c_g(gate) * s(gate):
     * d/dvalue = dy c_g(g) s(g) c_u'(u),  d/dgate = dy c_u(u) (c_g'(g) s(g) + c_g(g) s'(g)),
     * c'(t) = 1 - tanh(t / b)^2 */
    enum xtc_ff_activation act = p ? p->act : XTC_FF_GELU;
    bool clamp = p && p->softclamp;
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            double value = inp[i * 2 * C + c], g = inp[i * 2 * C + C + c], dy = dout[i * C + c];
            if (clamp) {
                double tu = tanh(value / p->up_clamp), tg = tanh(g / p->gate_clamp);
                double cu = p->up_clamp * tu, cg = p->gate_clamp * tg;
                double s = gate_factor(g, act), ds = gate_factor_grad(g, act);
                dinp[i * 2 * C + c] = (float)(dy * cg * s * (1.0 - tu * tu));
                dinp[i * 2 * C + C + c] = (float)(dy * cu * ((1.0 - tg * tg) * s + cg * ds));
                continue;
            }
            dinp[i * 2 * C + c] = (float)(dy * act_value(g, act));
            dinp[i * 2 * C + C + c] = (float)(dy * value * act_grad(g, act));
        }
}

/* c(t, b) = b tanh(t / b), the soft clamp of x-transformers' FeedForward softclamp_value */
static inline float softclamp(float t, float b) { return b * tanhf(t / b); }

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
