/* Ops (private): what each op computes, forward and backward side by side, and its
 * dispatch to the selected backend (backend/backend.h: one table lookup per call; the
 * kernels live in backend/cpu and backend/ref).
 * Shapes: N rows, C features; Cin/Cout for linear layers. Row-major throughout.
 *
 * Gradient rule (for the backward passes): parameter grads always +=; an
 * activation grad is = when one op reads the activation and += when several
 * do (residual stream, memory tokens, tied embeddings). */
#ifndef XTC_OPS_H
#define XTC_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* out (N, Cout) = inp (N, Cin) @ w^T (w: (Cout, Cin), PyTorch layout) + bias (Cout, or NULL).
 * (cpu: OpenBLAS sgemm, matrix-vector kernels for N <= 4) */
static inline void xtc_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t N,
                                      int64_t Cin, int64_t Cout) {
    xtc_backend_get()->linear_forward(out, inp, w, bias, N, Cin, Cout, NULL);
}
/* The same, reading mw's bfloat16 copy of w in the matrix-vector regime (N <= 4) when it has one. */
static inline void xtc_linear_forward_mw(float *out, const float *inp, const float *w, const float *bias, int64_t N,
                                         int64_t Cin, int64_t Cout, const struct xtc_matvec_weights *mw) {
    xtc_backend_get()->linear_forward(out, inp, w, bias, N, Cin, Cout, mw);
}

/* x-transformers LayerNorm: (x - mean) / sqrt(var + 1e-5) * gain (backend.h: struct
 * xtc_norm_gain; the stack's gamma is stored as scale - 1), no bias. In place (out == inp)
 * is allowed. mean/rstd (N) may be NULL. */
static inline void xtc_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                         const struct xtc_norm_gain *gain, int64_t N, int64_t C) {
    xtc_backend_get()->layernorm_forward(out, mean, rstd, inp, gain, N, C);
}

/* x-transformers RMSNorm, ScaleNorm and SimpleRMSNorm: x / max(||x||_2, 1e-12) * sqrt(C) * gain
 * (a gain per feature, one scalar, or none). In place is allowed. rnorm (N) may be NULL. */
static inline void xtc_rmsnorm_forward(float *out, float *rnorm, const float *inp, const struct xtc_norm_gain *gain,
                                       int64_t N, int64_t C) {
    xtc_backend_get()->rmsnorm_forward(out, rnorm, inp, gain, N, C);
}

/* The feed-forward activation, elementwise over n values: exact (erf) GELU, SiLU (ff_swish)
 * x * sigmoid(x), or relu(x)^2 (ff_relu_squared). */
static inline void xtc_act_forward(float *out, const float *inp, int64_t n, enum xtc_ff_activation act) {
    xtc_backend_get()->act_forward(out, inp, n, act);
}

/* GLU: inp (N, 2*C) = [value | gate]; out (N, C) = value * act(gate), or with softclamp
 * (x-transformers 2.31.10 ff_glu_softclamp; GELU and SiLU gates only) c(value, up_clamp) *
 * c(gate, gate_clamp) * s(gate), s = Phi (GELU) or sigmoid (SiLU), c(t, b) = b tanh(t / b).
 * p may be NULL (GELU, no clamp). */
struct xtc_glu_params {
    enum xtc_ff_activation act;
    bool softclamp;
    float gate_clamp, up_clamp; /* ff_glu_gate_softclamp_value (4), ff_glu_up_softclamp_value (25) */
};
static inline void xtc_glu_forward(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p) {
    xtc_backend_get()->glu_forward(out, inp, N, C, p);
}
/* In place x = b tanh(x / b) (x-transformers softclamp: FeedForward softclamp_value before a
 * plain activation), and its backward from the clamped values y: dx *= 1 - (y / b)^2. */
static inline void xtc_softclamp_forward(float *x, int64_t n, float b) {
    xtc_backend_get()->softclamp_forward(x, n, b);
}
static inline void xtc_softclamp_backward(float *dx, const float *y, int64_t n, float b) {
    xtc_backend_get()->softclamp_backward(dx, y, n, b);
}
/* One span of n features of one row (value, gate and out each n contiguous floats). */
static inline void xtc_glu_span(float *out, const float *value, const float *gate, int64_t n,
                                const struct xtc_glu_params *p) {
    xtc_backend_get()->glu_span(out, value, gate, n, p);
}

/* out (N, C) = table[ids[i]] (ids already validated against the table size). */
static inline void xtc_embedding_forward(float *out, const int64_t *ids, const float *table, int64_t N, int64_t C) {
    xtc_backend_get()->embedding_forward(out, ids, table, N, C);
}

/* l2-normalises each of the N rows of length C in place: x / max(||x||, 1e-12) (F.normalize). */
static inline void xtc_l2norm_rows(float *x, int64_t N, int64_t C) {
    xtc_backend_get()->l2norm_rows(x, N, C);
}

/* Mean next-token cross-entropy over rows whose target != ignore_index;
 * logits (N, V). Returns NAN when no target is kept. */
static inline double xtc_crossentropy_forward(const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                              int64_t ignore_index, int64_t *n_kept) {
    return xtc_backend_get()->crossentropy_forward(logits, targets, N, V, ignore_index, n_kept);
}

/* ---------------------------------------------------------------- backward
 * Argument order mirrors forward: input grads, weight grads, dout, saved tensors.
 * Parameter grads (dw, db, dgamma, dtable) are accumulated (+=); dinp is
 * overwritten (=) unless the function says otherwise. */

/* dinp (N, Cin) = dout @ w (or += when accumulate); dw (Cout, Cin) += dout^T @ inp; db (Cout) += sum(dout).
 * Any of dinp / dw / db may be NULL. */
static inline void xtc_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                       const float *w, int64_t N, int64_t Cin, int64_t Cout, int accumulate) {
    xtc_backend_get()->linear_backward(dinp, dw, db, dout, inp, w, N, Cin, Cout, accumulate);
}

/* dinp (+=) and dgamma (+=, NULL: not wanted) of the LayerNorm, from the saved mean and rstd. */
static inline void xtc_layernorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp,
                                          const struct xtc_norm_gain *gain, const float *mean, const float *rstd,
                                          int64_t N, int64_t C) {
    xtc_backend_get()->layernorm_backward(dinp, dgamma, dout, inp, gain, mean, rstd, N, C);
}

/* dinp (+=) and dg (+=, NULL: not wanted) of the RMSNorm family, from the saved
 * 1 / max(||x||, 1e-12). */
static inline void xtc_rmsnorm_backward(float *dinp, float *dg, const float *dout, const float *inp,
                                        const struct xtc_norm_gain *gain, const float *rnorm, int64_t N, int64_t C) {
    xtc_backend_get()->rmsnorm_backward(dinp, dg, dout, inp, gain, rnorm, N, C);
}

/* dinp (=) of the activation at inp. */
static inline void xtc_act_backward(float *dinp, const float *dout, const float *inp, int64_t n,
                                    enum xtc_ff_activation act) {
    xtc_backend_get()->act_backward(dinp, dout, inp, n, act);
}

/* dinp (N, 2C) (=) of the GLU (p's gate activation and soft clamps) at inp (N, 2C). */
static inline void xtc_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                                    const struct xtc_glu_params *p) {
    xtc_backend_get()->glu_backward(dinp, dout, inp, N, C, p);
}

/* dtable (+=) rows ids[i] of dout (N, C). */
static inline void xtc_embedding_backward(float *dtable, const float *dout, const int64_t *ids, int64_t N, int64_t C) {
    xtc_backend_get()->embedding_backward(dtable, dout, ids, N, C);
}

/* In place: dx (N rows of C) becomes the gradient before F.normalize, given y = x / max(||x||, 1e-12)
 * and the saved input rows x. */
static inline void xtc_l2norm_backward(float *dx, const float *x, int64_t N, int64_t C) {
    xtc_backend_get()->l2norm_backward(dx, x, N, C);
}

/* dlogits (N, V) (=) of scale * sum over kept rows of CE, i.e. (softmax - onehot) * scale;
 * rows whose target is ignored get 0. */
static inline void xtc_crossentropy_backward(float *dlogits, const float *logits, const int64_t *targets, int64_t N,
                                             int64_t V, int64_t ignore_index, float scale) {
    xtc_backend_get()->crossentropy_backward(dlogits, logits, targets, N, V, ignore_index, scale);
}

#endif
