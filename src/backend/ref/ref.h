/* The reference backend's kernels (private): plain scalar C on one thread, no BLAS, libm
 * in double where precision matters. Each has the contract of the table entry it fills
 * (backend/backend.h) and of its op (ops/ops.h, attn/attention.h). The cpu backend runs
 * some of them directly (embedding, soft clamp, l2 normalisation) and some over parallel
 * ranges (the `_rows`, `_cols`, `_range`, `_chunk` kernels). */
#ifndef XTC_BACKEND_REF_H
#define XTC_BACKEND_REF_H

#include "backend/backend.h"

/* linear.c */
void xtc_ref_matvec(const struct xtc_matvec_weights *mw, float *out, int64_t ldo, const float *inp, int64_t N,
                    const float *w, const float *bias, int64_t Cin, int64_t o0, int64_t o1);
void xtc_ref_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t N, int64_t Cin,
                            int64_t Cout, const struct xtc_matvec_weights *mw);
void xtc_ref_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                             int64_t N, int64_t Cin, int64_t Cout, int accumulate);

/* norms.c */
void xtc_ref_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const struct xtc_norm_gain *gain,
                               int64_t N, int64_t C);
void xtc_ref_layernorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp,
                                const struct xtc_norm_gain *gain, const float *mean, const float *rstd, int64_t N,
                                int64_t C);
/* dinp (+=) of rows [i0, i1); dgamma (+=) of features [c0, c1) (scalar: their sum into dgamma[0]) */
void xtc_ref_layernorm_backward_rows(float *dinp, const float *dout, const float *inp, const struct xtc_norm_gain *gain,
                                     const float *mean, const float *rstd, int64_t C, int64_t i0, int64_t i1);
void xtc_ref_layernorm_dgamma_cols(float *dgamma, const float *dout, const float *inp, const float *mean,
                                   const float *rstd, int64_t N, int64_t C, bool scalar, int64_t c0, int64_t c1);
void xtc_ref_rmsnorm_forward(float *out, float *rnorm, const float *inp, const struct xtc_norm_gain *gain, int64_t N,
                             int64_t C);
void xtc_ref_rmsnorm_backward(float *dinp, float *dg, const float *dout, const float *inp,
                              const struct xtc_norm_gain *gain, const float *rnorm, int64_t N, int64_t C);
void xtc_ref_rmsnorm_backward_rows(float *dinp, const float *dout, const float *inp, const struct xtc_norm_gain *gain,
                                   const float *rnorm, int64_t C, int64_t i0, int64_t i1);
void xtc_ref_rmsnorm_dg_cols(float *dg, const float *dout, const float *inp, const float *rnorm, int64_t N, int64_t C,
                             bool scalar, int64_t c0, int64_t c1);
void xtc_ref_l2norm_rows(float *x, int64_t N, int64_t C);
void xtc_ref_l2norm_backward(float *dx, const float *x, int64_t N, int64_t C);

/* activations.c */
void xtc_ref_act_forward(float *out, const float *inp, int64_t n, enum xtc_ff_activation act);
void xtc_ref_act_backward(float *dinp, const float *dout, const float *inp, int64_t n, enum xtc_ff_activation act);
void xtc_ref_glu_forward(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p);
void xtc_ref_glu_span(float *out, const float *value, const float *gate, int64_t n, const struct xtc_glu_params *p);
void xtc_ref_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                          const struct xtc_glu_params *p);
void xtc_ref_softclamp_forward(float *x, int64_t n, float b);
void xtc_ref_softclamp_backward(float *dx, const float *y, int64_t n, float b);

/* embedding.c */
void xtc_ref_embedding_forward(float *out, const int64_t *ids, const float *table, int64_t N, int64_t C);
void xtc_ref_embedding_backward(float *dtable, const float *dout, const int64_t *ids, int64_t N, int64_t C);

/* crossentropy.c */
double xtc_ref_crossentropy_forward(const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                    int64_t ignore_index, int64_t *n_kept);
void xtc_ref_crossentropy_backward(float *dlogits, const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                   int64_t ignore_index, float scale);

/* attention.c: the row-wise attention (scratch: xtc_attention_ref_scratch(p) floats) */
size_t xtc_attention_ref_scratch(const struct xtc_attn_params *p);
void xtc_attention_forward_ref(float *out, const float *q, const float *k, const float *v,
                               const struct xtc_attn_params *p, float *scratch);
/* one (batch row b, query head h) of the forward; it honours k_bstride / v_bstride (the
 * decoding step reads the KV cache in place). row: K + S floats */
void xtc_attention_forward_head_ref(float *out, const float *q, const float *k, const float *v,
                                    const struct xtc_attn_params *p, int64_t b, int h, float *row);
void xtc_attention_backward_ref(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                const float *dout, const float *q, const float *k, const float *v,
                                const struct xtc_attn_params *p, float *scratch);

/* adamw.c: elements [i0, i1) of the update; the sum of squares of chunk c (XTC_NORM_CHUNK
 * elements) of the n gradients */
#define XTC_NORM_CHUNK 16384
void xtc_ref_adamw_range(float *params, const float *grads, float *m, float *v, const struct xtc_adamw_consts *k,
                         size_t i0, size_t i1);
void xtc_ref_adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                          const struct xtc_adamw_consts *k);
double xtc_ref_sumsq_chunk(const float *grads, size_t n, size_t c);
double xtc_ref_grad_sumsq(const float *grads, size_t n);
void xtc_ref_grad_scale(float *grads, size_t n, float c);

#endif
