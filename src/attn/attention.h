/* Attention core (private): scores -> positional bias -> masks -> softmax -> values,
 * for self- and cross-attention, with memory key/values and XL memories.
 * Shape letters: B batch, T queries, S keys (XL memories + sequence, or context;
 * memory key/values excluded), K memory key/values, H query heads, G kv heads
 * (query head h reads kv head h % G), D head dim. */
#ifndef XTC_ATTENTION_H
#define XTC_ATTENTION_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/select.h"
#include "pos/pos.h"

struct xtc_attn_params {
    int64_t B, T, S, K;
    int H, G, D;
    float scale;               /* dim_head^-0.5, or qk_norm_scale */
    float softclamp;           /* > 0: logits (after the bias) become softclamp * tanh(logit / softclamp) before
                                  masking (x-transformers Attend softclamp_logits); 0: none */
    int sparse_topk;           /* > 0: after masking, logits below a row's sparse_topk-th largest (memory
                                  key/values included) are masked too (sparse_topk_attn); 0: none */
    bool topk_straight_through; /* with sparse_topk, backward only: the logits' gradient goes through the
                                  softmax of the row without the top-k drop (x-transformers
                                  sparse_topk_straight_through: topk.detach() + soft - soft.detach());
                                  the values still see the top-k probabilities */
    bool causal;               /* right-aligned: key j hidden from query i when j > i + S - T */
    const uint8_t *key_mask;   /* (B, S) nonzero = visible, or NULL */
    const uint8_t *query_mask; /* (B, T): rows with 0 produce zeros, or NULL */
    const float *mem_k;        /* (G, K, D), already l2-normalised (and scaled) with qk_norm */
    const float *mem_v;        /* (G, K, D) */
    struct xtc_attn_bias bias;  /* positional bias of the logits (pos/pos.h), scheme NULL: none */
    /* attn_use_rel_proj_pos_bias (x-transformers RelativeProjPositionalBias): query row (b, h, i)
     * adds curve[dist] for keys at distance dist = (S - T + i) - j in [0, W), 0 elsewhere */
    const float *rp_curves;     /* (B, H, T, W) the curves, or NULL: none */
    float *rp_dcurves;          /* backward: (B, H, T, W) gradient of the curves (accumulated), or NULL */
    int64_t rp_W;               /* distances kept: min(rel_proj_max_dist, S) */
    int64_t dbias_n;            /* backward: floats of the bias table's gradient (0: nothing learned) */
    struct xtc_cope cope;       /* contextual positions (pos/pos.h), max_pos 0: none. Every backend runs
                                   it on the row-wise reference kernels (backend/ref/attention.c) */
    struct xtc_dda dda;         /* data-dependent ALiBi of self-attention (pos/pos.h), on: false when none;
                                   also on the row-wise kernels */
    /* rows between batch rows of k and of v: 0 means S (packed). Only the forward kernels
     * honour other values (decoding reads the KV cache in place). */
    int64_t k_bstride, v_bstride;
    /* The forward's row statistics, for a backward that does not recompute the softmax's
     * normalisation (the cpu backend's flash kernels, backend/cpu/attention_flash.c). Forward:
     * lse (B, H, T), when not NULL, receives each row's log-sum-exp of its logits, or a marker
     * the backward reads (+inf: a zeroed row; -inf: a row that saw no key; NaN in lse[0]: the
     * forward kernels kept none). Backward: lse as the forward left it and out (B, T, H*D) the
     * forward's output, both or neither; with neither, the backward recomputes everything. */
    float *lse;
    const float *out;
    /* residual attention (x-transformers residual_attn / cross_residual_attn; Attend's prev_attn):
     * prev_logits (B, H, T, K + S) is added to the scaled logits before the bias; logits_out
     * (same shape, may be prev_logits: each row is read before it is written) receives the
     * pre-softmax logits (after bias, soft clamp and masking) for the next layer. Backward:
     * dlogits_in (or NULL) is the gradient reaching logits_out from the next layer, dprev_out
     * (=, or NULL) receives the gradient of prev_logits. Only the reference kernels implement
     * them (the cpu backend hands such calls to them); not with sparse_topk. */
    const float *prev_logits;
    float *logits_out;
    const float *dlogits_in;
    float *dprev_out;
    /* talking heads (attn/talking_heads.c): set, every row is computed for all heads at once
     * there (the mixings join the heads), whatever the backend. th_*: (H, H) mixings or NULL;
     * th_d*: their gradients, accumulated by the backward when not NULL. */
    bool talking_heads;
    const float *th_pre, *th_post, *th_pre_scale;
    float *th_dpre, *th_dpost, *th_dpre_scale;
};

/* softmax in place over n logits whose maximum is mx (masked logits are -FLT_MAX, so a fully
 * masked row becomes uniform, as in torch); the sum in double */
static inline void xtc_softmax_row(float *row, int64_t n, float mx) {
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        row[j] = expf(row[j] - mx);
        sum += row[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < n; j++)
        row[j] *= inv;
}

/* Whether a call needs the row-wise reference kernels on every backend (CoPE, data-dependent
 * ALiBi: they read a whole row, or the batch row, which the tiled kernels do not give). */
static inline bool xtc_attn_rowwise(const struct xtc_attn_params *p) { return p->cope.max_pos > 0 || p->dda.on; }

/* Whether batch row b has a key its padding mask lets through (memory key/values pad the mask
 * with True); rows of a batch row without one are zeroed. */
static inline bool xtc_attn_any_visible_key(const struct xtc_attn_params *p, int64_t b) {
    if (!p->key_mask || p->K > 0)
        return true;
    for (int64_t j = 0; j < p->S; j++)
        if (p->key_mask[b * p->S + j])
            return true;
    return false;
}

/* Whether query row i of batch row b is zeroed: a masked query, or a batch row with no visible
 * key (any_key: xtc_attn_any_visible_key(p, b), computed once per batch row by the callers). */
static inline bool xtc_attn_row_zeroed(const struct xtc_attn_params *p, int64_t b, int64_t i, bool any_key) {
    return (p->query_mask && !p->query_mask[b * p->T + i]) || !any_key;
}

static inline bool xtc_attn_residual(const struct xtc_attn_params *p) {
    return p->prev_logits || p->logits_out || p->dlogits_in || p->dprev_out;
}

/* Adds the positional bias of query row i (batch row b, head h) to the logits of keys
 * [j0, j0 + n), row[0] being key j0's (one call for every kernel; the scheme decides the
 * values). Default positions are right-aligned: key j at j, query i at S - T + i; explicit
 * ones come from pos[b]. */
static inline void xtc_attn_bias_seg(const struct xtc_attn_params *p, int64_t b, int h, int64_t i, int64_t j0,
                                     int64_t n, float *row) {
    const struct xtc_attn_bias *a = &p->bias;
    const int64_t *pb = a->pos ? a->pos + (a->pos_batched ? b * p->T : 0) : NULL;
    a->scheme->add_row(a, h, pb ? pb[i] : p->S - p->T + i, pb ? pb + j0 : NULL, j0, n, p->S, row);
}

/* The same for keys [0, n). */
static inline void xtc_attn_bias_row(const struct xtc_attn_params *p, int64_t b, int h, int64_t i, int64_t n,
                                     float *row) {
    xtc_attn_bias_seg(p, b, h, i, 0, n, row);
}

/* Adds the relative-projection bias of query row i (batch row b, head h) to the logits of keys [0, n). */
static inline void xtc_attn_relproj_row(const struct xtc_attn_params *p, int64_t b, int h, int64_t i, int64_t n,
                                        float *row) {
    const float *c = p->rp_curves + ((b * p->H + h) * p->T + i) * p->rp_W;
    const int64_t qp = p->S - p->T + i;
    for (int64_t j = 0; j < n; j++) {
        const int64_t d = qp - j;
        if (d >= 0 && d < p->rp_W)
            row[j] += c[d];
    }
}

/* Its backward: the curve of that row receives the logit gradients drow of keys [0, n). */
static inline void xtc_attn_relproj_grad_row(const struct xtc_attn_params *p, int64_t b, int h, int64_t i, int64_t n,
                                             const float *drow) {
    float *c = p->rp_dcurves + ((b * p->H + h) * p->T + i) * p->rp_W;
    const int64_t qp = p->S - p->T + i;
    for (int64_t j = 0; j < n; j++) {
        const int64_t d = qp - j;
        if (d >= 0 && d < p->rp_W)
            c[d] += drow[j];
    }
}

/* Logits this close to the top-k threshold, relative to the row's largest magnitude, count as
 * tied with it. x-transformers keeps every logit equal to the k-th largest, and equal keys (a
 * repeated token without positions, or in one T5 bucket) mostly give exactly equal logits in
 * torch; xtc's projections and BLAS tiles may round two equal rows apart (by their row or column
 * in a GEMM kernel; up to ~4 ulps of the row's largest logit seen), which would otherwise drop
 * one of them at random. Logits closer than that are near-ties no float32 implementation
 * resolves the same way (torch itself splits some equal keys by half an ulp). */
#define XTC_TOPK_TIE_REL (8.0f * FLT_EPSILON)

/* Keeps the topk largest of the n logits of a row (ties with the topk-th kept, within
 * XTC_TOPK_TIE_REL) and masks the others with -FLT_MAX, as x-transformers' sparse_topk_attn does
 * after masking; masked logits never count as kept, so a row with fewer than topk visible keys
 * keeps them all (x-transformers raises when the row has fewer than topk entries; here they are
 * all kept). tmp: n floats. Returns the threshold (-FLT_MAX: nothing dropped). */
static inline float xtc_attn_topk_row(float *row, int64_t n, int topk, float *tmp) {
    int64_t m = 0;
    float big = 0.0f;
    for (int64_t j = 0; j < n; j++)
        if (row[j] > -FLT_MAX) {
            tmp[m++] = row[j];
            big = fabsf(row[j]) > big ? fabsf(row[j]) : big;
        }
    if (m <= topk)
        return -FLT_MAX;
    float thr = xtc_kth_largest_inplace(tmp, m, topk) - XTC_TOPK_TIE_REL * big;
    for (int64_t j = 0; j < n; j++)
        if (row[j] < thr)
            row[j] = -FLT_MAX;
    return thr;
}

/* dtable += the logit gradients drow of keys [j0, j0 + n) of that row, for a learned bias. */
static inline void xtc_attn_bias_grad_seg(const struct xtc_attn_params *p, int64_t b, int h, int64_t i, int64_t j0,
                                          int64_t n, const float *drow, float *dtable) {
    const struct xtc_attn_bias *a = &p->bias;
    const int64_t *pb = a->pos ? a->pos + (a->pos_batched ? b * p->T : 0) : NULL;
    a->scheme->grad_row(a, h, pb ? pb[i] : p->S - p->T + i, pb ? pb + j0 : NULL, j0, n, p->S, drow, dtable);
}

/* The same for keys [0, n). */
static inline void xtc_attn_bias_grad_row(const struct xtc_attn_params *p, int64_t b, int h, int64_t i, int64_t n,
                                          const float *drow, float *dtable) {
    xtc_attn_bias_grad_seg(p, b, h, i, 0, n, drow, dtable);
}

/* out (B, T, H*D) = attention of q (B, T, H*D) over k, v (B, S, G*D), on the selected
 * backend (cpu: flash attention, backend/cpu/attention_flash.c, or query tiles through BLAS,
 * backend/cpu/attention_tiled.c, for the options flash leaves to them; ref: one row at a
 * time, backend/ref/attention.c). scratch: xtc_backend_attention_scratch(p) floats.
 * Masked logits are replaced by -FLT_MAX (so a row with every key hidden averages all
 * values, as torch does), then masked query rows, and rows whose key_mask is all 0 when
 * there are no memory key/values (those pad the mask with True, so such rows attend to
 * them only), are zeroed. */
/* Talking-heads attention (talking_heads.c): the same contract as xtc_attention_forward /
 * _backward, one query row of all heads at a time on the calling thread. */
size_t xtc_talking_heads_scratch(const struct xtc_attn_params *p);
void xtc_talking_heads_forward(float *out, const float *q, const float *k, const float *v,
                               const struct xtc_attn_params *p, float *scratch);
void xtc_talking_heads_backward(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                const float *dout, const float *q, const float *k, const float *v,
                                const struct xtc_attn_params *p, float *scratch);

static inline void xtc_attention_forward(float *out, const float *q, const float *k, const float *v,
                                         const struct xtc_attn_params *p, float *scratch) {
    if (p->lse) /* kernels that keep no row statistics leave it so (the backend may change before the backward) */
        p->lse[0] = NAN;
    if (p->talking_heads)
        xtc_talking_heads_forward(out, q, k, v, p, scratch);
    else
        xtc_backend_get()->attention_forward(out, q, k, v, p, scratch);
}

/* Backward of xtc_attention_forward, recomputing the probabilities from q and k.
 * dq (B, T, H*D), dk, dv (B, S, G*D) are overwritten; dmem_k, dmem_v (G, K, D) and
 * dbias (p->dbias_n floats: the gradient of a learned bias scheme's per-call table) are
 * accumulated when not NULL. Masked logits are constants: they pass no gradient to q, k or
 * the bias. */
static inline void xtc_attention_backward(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                          const float *dout, const float *q, const float *k, const float *v,
                                          const struct xtc_attn_params *p, float *scratch) {
    if (p->talking_heads)
        xtc_talking_heads_backward(dq, dk, dv, dmem_k, dmem_v, dbias, dout, q, k, v, p, scratch);
    else
        xtc_backend_get()->attention_backward(dq, dk, dv, dmem_k, dmem_v, dbias, dout, q, k, v, p, scratch);
}

#endif
