/* Feed-forward activations on the CPU: exact GELU through the vectorizable 1 + erf and exp
 * of vec.h (relative error below 2e-6 against libm), SiLU through vec.h's exp, squared ReLU,
 * in parallel over spans of elements or rows. The soft clamps' gradients run the reference
 * kernels (backend/ref/activations.c, which also states the definitions) row by row in
 * parallel. */
#include <math.h>
#include <stdbool.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/dispatch.h"
#include "backend/cpu/vec.h"
#include "backend/ref/ref.h"
#include "ops/ops.h"

static inline float Phi_fast(float x) { return 0.5f * xtc_vec_one_plus_erff(x * 0.70710678118654752f); }
static inline float sigmoid_fast(float x) { return 1.0f / (1.0f + xtc_vec_expf(-x)); }

static inline float gelu_fast(float x) { return x * Phi_fast(x); }
static inline float gelu_grad_fast(float x) {
    return Phi_fast(x) + x * xtc_vec_expf(-0.5f * x * x) * 0.39894228040143267794f;
}
static inline float silu_fast(float x) { return x * sigmoid_fast(x); }
static inline float silu_grad_fast(float x) {
    float s = sigmoid_fast(x);
    return s * (1.0f + x * (1.0f - s));
}
static inline float relu2(float x) { return x > 0 ? x * x : 0.0f; }
static inline float relu2_grad(float x) { return x > 0 ? 2.0f * x : 0.0f; }

/* The fast spans are compiled for AVX2 and the baseline (dispatch.h); the switch sits
 * outside the loops so that each loop vectorizes. */
XTC_KERNEL_BODY void act_span_body(float *restrict out, const float *restrict inp, int64_t n,
                                   enum xtc_ff_activation act) {
    switch (act) {
    case XTC_FF_SWISH:
        for (int64_t i = 0; i < n; i++)
            out[i] = silu_fast(inp[i]);
        break;
    case XTC_FF_RELU_SQUARED:
        for (int64_t i = 0; i < n; i++)
            out[i] = relu2(inp[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            out[i] = gelu_fast(inp[i]);
    }
}

XTC_DISPATCH_VOID(act_span, (float *restrict out, const float *restrict inp, int64_t n, enum xtc_ff_activation act),
                  (out, inp, n, act))

XTC_KERNEL_BODY void act_grad_span_body(float *restrict dinp, const float *restrict dout, const float *restrict inp,
                                        int64_t n, enum xtc_ff_activation act) {
    switch (act) {
    case XTC_FF_SWISH:
        for (int64_t i = 0; i < n; i++)
            dinp[i] = dout[i] * silu_grad_fast(inp[i]);
        break;
    case XTC_FF_RELU_SQUARED:
        for (int64_t i = 0; i < n; i++)
            dinp[i] = dout[i] * relu2_grad(inp[i]);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            dinp[i] = dout[i] * gelu_grad_fast(inp[i]);
    }
}
XTC_DISPATCH_VOID(act_grad_span,
                  (float *restrict dinp, const float *restrict dout, const float *restrict inp, int64_t n,
                   enum xtc_ff_activation act),
                  (dinp, dout, inp, n, act))

#define SPAN 4096 /* elements per OpenMP work item */

void xtc_cpu_act_forward(float *out, const float *inp, int64_t n, enum xtc_ff_activation act) {
    if (n <= SPAN) { /* decoding, maybe inside a parallel region: no team to start */
        act_span(out, inp, n, act);
        return;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i += SPAN)
        act_span(out + i, inp + i, n - i < SPAN ? n - i : SPAN, act);
}

void xtc_cpu_act_backward(float *dinp, const float *dout, const float *inp, int64_t n, enum xtc_ff_activation act) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i += SPAN)
        act_grad_span(dinp + i, dout + i, inp + i, n - i < SPAN ? n - i : SPAN, act);
}

/* c(t, b) = b tanh(t / b), the soft clamp of x-transformers 2.31.10's GLU (softclamp) */
static inline float softclamp(float t, float b) { return b * tanhf(t / b); }

void xtc_cpu_glu_span(float *restrict out, const float *restrict value, const float *restrict gate, int64_t n,
                      const struct xtc_glu_params *p) {
    enum xtc_ff_activation act = p ? p->act : XTC_FF_GELU;
    if (p && p->softclamp) { /* GELU or SiLU gate (the config refuses squared ReLU here) */
        for (int64_t c = 0; c < n; c++) {
            float g = gate[c], s = act == XTC_FF_SWISH ? sigmoid_fast(g) : Phi_fast(g);
            out[c] = softclamp(value[c], p->up_clamp) * softclamp(g, p->gate_clamp) * s;
        }
        return;
    }
    act_span(out, gate, n, act);
#pragma omp simd
    for (int64_t c = 0; c < n; c++)
        out[c] *= value[c];
}

void xtc_cpu_glu_forward(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p) {
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++)
        xtc_cpu_glu_span(out + i * C, inp + i * 2 * C, inp + i * 2 * C + C, C, p);
}

void xtc_cpu_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                          const struct xtc_glu_params *p) {
    /* out = value * act(gate): d/dvalue = dy act(gate), d/dgate = dy value act'(gate) */
    enum xtc_ff_activation act = p ? p->act : XTC_FF_GELU;
    bool clamp = p && p->softclamp;
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++) {
        if (clamp) { /* in double, as the reference */
            xtc_ref_glu_backward(dinp + i * 2 * C, dout + i * C, inp + i * 2 * C, 1, C, p);
            continue;
        }
        const float *value = inp + i * 2 * C, *gate = value + C, *dy = dout + i * C;
        float *dvalue = dinp + i * 2 * C, *dgate = dvalue + C;
        act_span(dvalue, gate, C, act);          /* act(gate) */
        act_grad_span(dgate, dy, gate, C, act); /* dy act'(gate) */
        for (int64_t c = 0; c < C; c++) {
            dvalue[c] *= dy[c];
            dgate[c] *= value[c];
        }
    }
}
