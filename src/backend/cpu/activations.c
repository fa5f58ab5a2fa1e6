/* Feed-forward activations on the CPU: exact GELU through the vectorizable 1 + erf and exp
 * of vec.h (relative error below 2e-6 against libm), in parallel over spans of elements or
 * rows. The soft clamps' gradients run the reference kernels (backend/ref/activations.c,
 * which also states the definitions) row by row in parallel. */
#include <math.h>
#include <stdbool.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/vec.h"
#include "backend/ref/ref.h"
#include "ops/ops.h"

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

void xtc_cpu_gelu_forward(float *out, const float *inp, int64_t n) {
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

void xtc_cpu_glu_span(float *restrict out, const float *restrict value, const float *restrict gate, int64_t n,
                      const struct xtc_glu_params *p) {
    if (p && p->softclamp) {
        for (int64_t c = 0; c < n; c++) {
            float g = gate[c], phi = 0.5f * xtc_vec_one_plus_erff(g * 0.70710678118654752f);
            out[c] = softclamp(value[c], p->up_clamp) * softclamp(g, p->gate_clamp) * phi;
        }
    } else {
#pragma omp simd
        for (int64_t c = 0; c < n; c++)
            out[c] = value[c] * gelu_fast(gate[c]);
    }
}

void xtc_cpu_glu_forward(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p) {
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++)
        xtc_cpu_glu_span(out + i * C, inp + i * 2 * C, inp + i * 2 * C + C, C, p);
}

void xtc_cpu_gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i += SPAN)
        gelu_grad_span(dinp + i, dout + i, inp + i, n - i < SPAN ? n - i : SPAN);
}

void xtc_cpu_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                          const struct xtc_glu_params *p) {
    /* out = value * gelu(gate): d/dvalue = dy gelu(gate), d/dgate = dy value gelu'(gate) */
    bool clamp = p && p->softclamp;
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t i = 0; i < N; i++) {
        if (clamp) { /* in double, as the reference */
            xtc_ref_glu_backward(dinp + i * 2 * C, dout + i * C, inp + i * 2 * C, 1, C, p);
            continue;
        }
        for (int64_t c = 0; c < C; c++) {
            float value = inp[i * 2 * C + c], gate = inp[i * 2 * C + C + c], dy = dout[i * C + c];
            dinp[i * 2 * C + c] = dy * gelu_fast(gate);
            dinp[i * 2 * C + C + c] = dy * value * gelu_grad_fast(gate);
        }
    }
}
