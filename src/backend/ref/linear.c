/* Linear layer, reference kernels: plain loops, no BLAS. The forward's dot products are
 * summed in double; the backward accumulates in float in the order that reads memory
 * contiguously. PyTorch stores weights as (out, in), so out = inp @ w^T. */
#include <string.h>

#include "backend/autocast.h"
#include "backend/ref/ref.h"
#include "core/q8.h"

/* bfloat16 is the top half of a float: widening is a shift (exact) */
static inline float bf16_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void xtc_ref_matvec(const struct xtc_matvec_weights *mw, float *out, int64_t ldo, const float *inp, int64_t N,
                    const float *w, const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    const uint16_t *w16 = mw && mw->bf16 ? mw->bf16 + (w - mw->base) : NULL;
    const struct xtc_q8_matrix *m8 = mw && mw->q8 ? xtc_q8_find(mw, w, Cin) : NULL;
    m8 = m8 && o1 <= m8->rows ? m8 : NULL;
    const int64_t nb = xtc_q8_blocks(Cin);
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = o0; o < o1; o++) {
            const float *x = inp + n * Cin;
            double s = bias ? bias[o] : 0.0;
            if (m8) /* the weights the int8 copy stands for: scale x q */
                for (int64_t k = 0; k < Cin; k++)
                    s += (double)m8->scale[o * nb + k / XTC_Q8_BLOCK] * m8->q[o * Cin + k] * x[k];
            else if (w16)
                for (int64_t k = 0; k < Cin; k++)
                    s += (double)bf16_f32(w16[o * Cin + k]) * x[k];
            else
                for (int64_t k = 0; k < Cin; k++)
                    s += (double)w[o * Cin + k] * x[k];
            out[n * ldo + o] = (float)s;
        }
}

/* bf16 products (backend/autocast.h): both operands rounded, the sums in double as above */
static void forward_bf16(float *out, const float *inp, const float *w, const float *bias, int64_t N, int64_t Cin,
                         int64_t Cout) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < Cout; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int64_t k = 0; k < Cin; k++)
                s += (double)xtc_bf16_round(w[o * Cin + k]) * xtc_bf16_round(inp[n * Cin + k]);
            out[n * Cout + o] = (float)s;
        }
}

void xtc_ref_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t N, int64_t Cin,
                            int64_t Cout, const struct xtc_matvec_weights *mw) {
    if (xtc_autocast_get()) {
        forward_bf16(out, inp, w, bias, N, Cin, Cout);
        return;
    }
    /* the bfloat16 / int8 copies are read in the matrix-vector regime only, as on the cpu backend */
    xtc_ref_matvec(N <= 4 ? mw : NULL, out, Cout, inp, N, w, bias, Cin, 0, Cout);
}

void xtc_ref_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                             int64_t N, int64_t Cin, int64_t Cout, int accumulate) {
    /* out = inp @ w^T  =>  dinp = dout @ w,  dw = dout^T @ inp,  db = sum_rows(dout); with bf16
     * products (backend/autocast.h) the operands of the first two are rounded, the bias
     * gradient sums the fp32 dout */
    const bool rb = xtc_autocast_get() != NULL;
#define R(x) (rb ? xtc_bf16_round(x) : (x))
    if (dinp)
        for (int64_t i = 0; i < N; i++) {
            float *d = dinp + i * Cin;
            if (!accumulate)
                memset(d, 0, sizeof(float) * (size_t)Cin);
            for (int64_t o = 0; o < Cout; o++) {
                const float g = R(dout[i * Cout + o]), *wo = w + o * Cin;
                for (int64_t k = 0; k < Cin; k++)
                    d[k] += g * R(wo[k]);
            }
        }
    if (dw)
        for (int64_t o = 0; o < Cout; o++)
            for (int64_t i = 0; i < N; i++) {
                const float g = R(dout[i * Cout + o]), *x = inp + i * Cin;
                float *d = dw + o * Cin;
                for (int64_t k = 0; k < Cin; k++)
                    d[k] += g * R(x[k]);
            }
    if (db)
        for (int64_t i = 0; i < N; i++)
            for (int64_t o = 0; o < Cout; o++)
                db[o] += dout[i * Cout + o];
}
#undef R
