/* Attention (x-transformers Attention + Attend, reference B.3 / B.10): the plain
 * row-at-a-time reference that every faster kernel is tested against, on one
 * thread. One query row's logits live in a scratch row, so memory is O(S), never a
 * T x S matrix. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "attn/attention.h"
#include "backend/ref/ref.h"
#include "pos/pos.h"

static inline float dot(const float *restrict a, const float *restrict b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Logits of query row i of head h into row (K + S) up to the masking (bias, soft clamp);
 * masked entries are exactly -FLT_MAX. */
static void logits_row(const struct xtc_attn_params *p, const float *q, const float *k, const float *mem_k, int64_t b,
                       int h, int64_t i, float *row) {
    const int64_t T = p->T, S = p->S, K = p->K;
    const int D = p->D, hk = h % p->G;
    const int64_t qstride = (int64_t)p->H * D, kstride = (int64_t)p->G * D;
    const uint8_t *km = p->key_mask ? p->key_mask + b * S : NULL;
    const float *qv = q + (b * T + i) * qstride + (int64_t)h * D;
    /* memory key/values: never masked, zero positional bias */
    for (int64_t j = 0; j < K; j++)
        row[j] = dot(qv, mem_k + ((int64_t)hk * K + j) * D, D) * p->scale;
    int64_t last = p->causal ? i + S - T : S - 1; /* last visible key */
    const float *kb = k + b * (p->k_bstride ? p->k_bstride : S) * kstride + (int64_t)hk * D;
    for (int64_t j = 0; j < S; j++)
        row[K + j] = j > last || (km && !km[j]) ? 0.0f : dot(qv, kb + j * kstride, D) * p->scale;
    const int64_t lrow = ((b * p->H + h) * T + i) * (K + S); /* this row in (B, H, T, K + S) */
    if (p->prev_logits) /* Attend: sim = sim * scale + prev_attn, then the bias */
        for (int64_t j = 0; j < K + S; j++)
            row[j] += p->prev_logits[lrow + j];
    if (p->bias.scheme)
        xtc_attn_bias_row(p, b, h, i, S, row + K);
    if (p->dda.on) /* memory key/values get 0 (x-transformers pads the bias) */
        xtc_dda_add_row(&p->dda, b, h, i, S, row + K);
    if (p->rp_curves)
        xtc_attn_relproj_row(p, b, h, i, S, row + K);
    if (p->softclamp > 0) /* memory key/value logits included: Attend clamps the whole row */
        for (int64_t j = 0; j < K + S; j++)
            row[j] = p->softclamp * tanhf(row[j] / p->softclamp);
    for (int64_t j = 0; j < S; j++)
        if (j > last || (km && !km[j]))
            row[K + j] = -FLT_MAX; /* replaced, not added to */
}

/* a[j] = sum_h2 w[h2] rows[h2][j] over the H rows of W: one head's row of a talking-heads mixing */
static void talk_mix_row(const float *w, const float *rows, int H, int64_t W, float *a) {
    for (int64_t j = 0; j < W; j++) {
        float s = 0;
        for (int h2 = 0; h2 < H; h2++)
            s += w[h2] * rows[(int64_t)h2 * W + j];
        a[j] = s;
    }
}

/* CoPE's gate inputs of head h for query row i into a (K + S): the head's own masked logits
 * `row`, or with talking heads the mix sum_h2 W[h][h2] l_h2 of every head's (recomputed into
 * all, H rows), causally hidden keys set back to -FLT_MAX (CoPE's own causal mask; keys hidden
 * by the padding mask keep the mixed value, as in x-transformers). */
static void cope_gate_inputs(const struct xtc_attn_params *p, const float *q, const float *k, int64_t b, int h,
                             int64_t i, const float *row, float *a, float *all) {
    const int64_t S = p->S, K = p->K, W = K + S;
    if (!p->cope.talk) {
        memcpy(a, row, sizeof(float) * (size_t)W);
        return;
    }
    const int H = p->H;
    for (int h2 = 0; h2 < H; h2++)
        logits_row(p, q, k, p->mem_k, b, h2, i, all + (int64_t)h2 * W);
    talk_mix_row(p->cope.talk + (int64_t)h * H, all, H, W, a);
    for (int64_t j = i + S - p->T + 1; j < S; j++) /* the causal mask (CoPE asserts a causal layer) */
        a[K + j] = -FLT_MAX;
}

/* Floats of the CoPE part of the scratch after the two rows of a forward head. */
static int64_t cope_forward_floats(const struct xtc_attn_params *p) {
    const int64_t W = p->K + p->S;
    return W + (int64_t)p->H * W + xtc_cope_work_floats(&p->cope, W);
}

/* Logits of query row i of head h into row (K + S), as softmax takes them: masked (then
 * CoPE, then sparse top-k); masked entries are exactly -FLT_MAX. tmp: K + S floats, then
 * cope_forward_floats(p) with CoPE. Returns the row maximum. */
static float score_row(const struct xtc_attn_params *p, const float *q, const float *k, const float *mem_k, int64_t b,
                       int h, int64_t i, float *row, float *tmp) {
    const int64_t K = p->K, S = p->S, W = K + S;
    logits_row(p, q, k, mem_k, b, h, i, row);
    if (p->cope.max_pos > 0) {
        float *a = tmp + W, *all = a + W, *work = all + (int64_t)p->H * W;
        cope_gate_inputs(p, q, k, b, h, i, row, a, all);
        xtc_cope_forward_row(&p->cope, a, q + (b * p->T + i) * (int64_t)p->H * p->D + (int64_t)h * p->D, W, row,
                             work);
    }
    if (p->logits_out) { /* pre_softmax_attn: before the top-k of attn_fn (never with CoPE: refused) */
        const int64_t lrow = ((b * p->H + h) * p->T + i) * W; /* this row in (B, H, T, K + S) */
        memcpy(p->logits_out + lrow, row, sizeof(float) * (size_t)W);
    }
    if (p->sparse_topk > 0)
        xtc_attn_topk_row(row, K + S, p->sparse_topk, tmp);
    float mx = -FLT_MAX;
    for (int64_t j = 0; j < K + S; j++)
        mx = row[j] > mx ? row[j] : mx;
    return mx;
}

/* Whether the output row (b, i) is forced to zero: a masked query, or no visible key in the padding mask. */
static bool row_is_zeroed(const struct xtc_attn_params *p, int64_t b, int64_t i) {
    return xtc_attn_row_zeroed(p, b, i, xtc_attn_any_visible_key(p, b));
}

static inline const float *value_at(const struct xtc_attn_params *p, const float *v, int64_t b, int hk, int64_t j) {
    return j < p->K ? p->mem_v + ((int64_t)hk * p->K + j) * p->D
                    : v + (b * (p->v_bstride ? p->v_bstride : p->S) + (j - p->K)) * (int64_t)p->G * p->D +
                          (int64_t)hk * p->D;
}

size_t xtc_attention_ref_scratch(const struct xtc_attn_params *p) {
    const int64_t W = p->K + p->S;
    if (p->cope.max_pos > 0) /* the forward's two rows and cope_forward_floats; the backward's (cope_backward) */
        return (size_t)(3 * (int64_t)p->H * W + 5 * W + xtc_cope_work_floats(&p->cope, W) +
                        (2 * W + cope_forward_floats(p)));
    return (size_t)((p->sparse_topk > 0 ? 5 : 4) * W); /* + the row without top-k */
}

void xtc_attention_forward_head_ref(float *out, const float *q, const float *k, const float *v,
                                    const struct xtc_attn_params *p, int64_t b, int h, float *row) {
    const int64_t T = p->T, S = p->S, K = p->K;
    const int D = p->D, hk = h % p->G;
    const int64_t qstride = (int64_t)p->H * D;
    for (int64_t i = 0; i < T; i++) {
        float *o = out + (b * T + i) * qstride + (int64_t)h * D;
        memset(o, 0, sizeof(float) * (size_t)D);
        if (row_is_zeroed(p, b, i)) {
            if (p->logits_out) /* the next layer still reads this row's logits */
                score_row(p, q, k, p->mem_k, b, h, i, row, row + (K + S));
            continue;
        }
        float mx = score_row(p, q, k, p->mem_k, b, h, i, row, row + (K + S));
        xtc_softmax_row(row, K + S, mx);
        for (int64_t j = 0; j < K + S; j++) {
            float w = row[j];
            if (w == 0.0f)
                continue;
            const float *vv = value_at(p, v, b, hk, j);
            for (int d = 0; d < D; d++)
                o[d] += w * vv[d];
        }
    }
}

void xtc_attention_forward_ref(float *out, const float *q, const float *k, const float *v,
                               const struct xtc_attn_params *p, float *scratch) {
    for (int64_t b = 0; b < p->B; b++)
        for (int h = 0; h < p->H; h++)
            xtc_attention_forward_head_ref(out, q, k, v, p, b, h, scratch);
}

/* The gradient ds of logit j of query row (b, i) into the query (dqv) and key j: a memory key
 * (dmem_k, when wanted) or key j of batch row b (dk). */
static inline void logit_grad_qk(const struct xtc_attn_params *p, float ds, const float *k, int64_t b, int hk,
                                 int64_t j, const float *qv, float *dqv, float *dk, float *dmem_k) {
    const int64_t K = p->K, S = p->S, D = p->D, kstride = (int64_t)p->G * D;
    const float *kv = j < K ? p->mem_k + ((int64_t)hk * K + j) * D : k + (b * S + (j - K)) * kstride + (int64_t)hk * D;
    float *dkv = j < K ? (dmem_k ? dmem_k + ((int64_t)hk * K + j) * D : NULL)
                       : dk + (b * S + (j - K)) * kstride + (int64_t)hk * D;
    for (int64_t d = 0; d < D; d++)
        dqv[d] += ds * p->scale * kv[d];
    if (dkv)
        for (int64_t d = 0; d < D; d++)
            dkv[d] += ds * p->scale * qv[d];
}

/* The logit gradients dl (K + S) of query row (b, h, i) into the learned position terms: the
 * scheme's bias table (dbias), data-dependent ALiBi's gates, the relative projection curves. */
static void logit_grad_bias(const struct xtc_attn_params *p, float *dbias, int64_t b, int h, int64_t i,
                            const float *dl) {
    const int64_t K = p->K, S = p->S;
    if (dbias && p->bias.scheme && p->bias.scheme->grad_row)
        xtc_attn_bias_grad_row(p, b, h, i, S, dl + K, dbias);
    if (p->dda.dtable)
        xtc_dda_grad_row(&p->dda, b, h, i, S, dl + K);
    if (p->rp_dcurves)
        xtc_attn_relproj_grad_row(p, b, h, i, S, dl + K);
}

/* Backward with CoPE: one query row of every head at a time, since with talking heads a
 * head's gates read every head's logits. Per row: the masked logits l_h of each head (pre),
 * CoPE's gate inputs (A), then per head the softmax and its gradient dl (the logits after
 * CoPE, masked ones included), CoPE's backward into the gate inputs, which reach the logits
 * of this head or, mixed back through the talking heads, of every head (dpre); last the
 * logits' own backward (soft clamp, bias, q.k). Masked logits are constants throughout. */
static void backward_cope(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                          const float *dout, const float *q, const float *k, const float *v,
                          const struct xtc_attn_params *p, float *scratch) {
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K, W = K + S;
    const int H = p->H, G = p->G, D = p->D;
    const int64_t qstride = (int64_t)H * D, kstride = (int64_t)G * D, HW = (int64_t)H * W;
    float *pre = scratch, *A = pre + HW, *dpre = A + HW, *P = dpre + HW, *dl = P + W, *da = dl + W, *tmp = da + W;
    float *work = tmp + W;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < T; i++) {
            if (row_is_zeroed(p, b, i))
                continue;
            for (int h = 0; h < H; h++)
                logits_row(p, q, k, p->mem_k, b, h, i, pre + (int64_t)h * W);
            for (int h = 0; h < H; h++) {
                /* talking heads: the mix of the rows in pre (cope_gate_inputs would recompute them) */
                float *a = A + (int64_t)h * W;
                if (!p->cope.talk) {
                    memcpy(a, pre + (int64_t)h * W, sizeof(float) * (size_t)W);
                    continue;
                }
                talk_mix_row(p->cope.talk + (int64_t)h * H, pre, H, W, a);
                for (int64_t j = i + S - T + 1; j < S; j++)
                    a[K + j] = -FLT_MAX;
            }
            memset(dpre, 0, sizeof(float) * (size_t)HW);
            for (int h = 0; h < H; h++) {
                const int hk = h % G;
                const float *l = pre + (int64_t)h * W, *a = A + (int64_t)h * W;
                const float *qv = q + (b * T + i) * qstride + (int64_t)h * D;
                const float *dov = dout + (b * T + i) * qstride + (int64_t)h * D;
                float *dqv = dq + (b * T + i) * qstride + (int64_t)h * D;
                memcpy(P, l, sizeof(float) * (size_t)W);
                xtc_cope_forward_row(&p->cope, a, qv, W, P, work);
                if (p->sparse_topk > 0)
                    xtc_attn_topk_row(P, W, p->sparse_topk, tmp);
                float mx = -FLT_MAX;
                for (int64_t j = 0; j < W; j++)
                    mx = P[j] > mx ? P[j] : mx;
                xtc_softmax_row(P, W, mx);
                double Dsum = 0;
                for (int64_t j = 0; j < W; j++) {
                    dl[j] = dot(dov, value_at(p, v, b, hk, j), D);
                    Dsum += (double)P[j] * dl[j];
                }
                for (int64_t j = 0; j < W; j++) {
                    float w = P[j];
                    float *dvv = j < K ? (dmem_v ? dmem_v + ((int64_t)hk * K + j) * D : NULL)
                                       : dv + (b * S + (j - K)) * kstride + (int64_t)hk * D;
                    if (dvv && w != 0.0f)
                        for (int d = 0; d < D; d++)
                            dvv[d] += w * dov[d];
                    dl[j] = (float)(w * (dl[j] - Dsum));
                }
                xtc_cope_backward_row(&p->cope, a, qv, W, dl, da, dqv, work);
                float *dp = dpre + (int64_t)h * W;
                for (int64_t j = 0; j < W; j++)
                    if (l[j] != -FLT_MAX)
                        dp[j] += dl[j];
                if (!p->cope.talk) {
                    for (int64_t j = 0; j < W; j++)
                        if (l[j] != -FLT_MAX)
                            dp[j] += da[j];
                    continue;
                }
                for (int64_t j = i + S - T + 1; j < S; j++) /* the masked_fill after the mix */
                    da[K + j] = 0.0f;
                const float *w = p->cope.talk + (int64_t)h * H;
                for (int h2 = 0; h2 < H; h2++) {
                    const float *l2 = pre + (int64_t)h2 * W;
                    float *dp2 = dpre + (int64_t)h2 * W;
                    double dw = 0;
                    for (int64_t j = 0; j < W; j++) {
                        if (da[j] == 0.0f)
                            continue;
                        dw += (double)da[j] * l2[j];
                        if (l2[j] != -FLT_MAX)
                            dp2[j] += w[h2] * da[j];
                    }
                    if (p->cope.dtalk)
                        p->cope.dtalk[(int64_t)h * H + h2] += (float)dw;
                }
            }
            /* the masked logits' own backward: soft clamp, then q . k and the bias */
            for (int h = 0; h < H; h++) {
                const int hk = h % G;
                const float *l = pre + (int64_t)h * W;
                float *dp = dpre + (int64_t)h * W;
                const float *qv = q + (b * T + i) * qstride + (int64_t)h * D;
                float *dqv = dq + (b * T + i) * qstride + (int64_t)h * D;
                for (int64_t j = 0; j < W; j++) {
                    if (l[j] == -FLT_MAX) {
                        dp[j] = 0.0f;
                        continue;
                    }
                    /* y = c tanh(s / c): ds = dy (1 - (y / c)^2) */
                    if (p->softclamp > 0)
                        dp[j] *= 1.0f - (l[j] / p->softclamp) * (l[j] / p->softclamp);
                    if (dp[j] != 0.0f)
                        logit_grad_qk(p, dp[j], k, b, hk, j, qv, dqv, dk, dmem_k);
                }
                logit_grad_bias(p, dbias, b, h, i, dp);
            }
        }
}

void xtc_attention_backward_ref(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                const float *dout, const float *q, const float *k, const float *v,
                                const struct xtc_attn_params *p, float *scratch) {
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K;
    const int H = p->H, G = p->G, D = p->D;
    const int64_t qstride = (int64_t)H * D, kstride = (int64_t)G * D;
    memset(dq, 0, sizeof(float) * (size_t)(B * T * qstride));
    memset(dk, 0, sizeof(float) * (size_t)(B * S * kstride));
    memset(dv, 0, sizeof(float) * (size_t)(B * S * kstride));
    if (p->dprev_out) /* rows left out below (zeroed outputs) pass no gradient */
        memset(p->dprev_out, 0, sizeof(float) * (size_t)(B * H * T * (K + S)));
    if (p->cope.max_pos > 0) {
        backward_cope(dq, dk, dv, dmem_k, dmem_v, dbias, dout, q, k, v, p, scratch);
        return;
    }
    float *P = scratch, *dP = P + (K + S), *fac = dP + (K + S), *Pf = fac + 2 * (K + S);
    /* straight-through top-k: the logits' gradient comes from the row's softmax without the drop */
    struct xtc_attn_params full = *p;
    full.sparse_topk = 0;
    const bool st = p->topk_straight_through && p->sparse_topk > 0;
    /* residual attention passes the logits on before the top-k: a dropped logit still reaches
     * the next layer, so only the mask makes a logit constant (the row without top-k tells) */
    const bool res_topk = !st && p->sparse_topk > 0 && (p->dlogits_in || p->dprev_out);
    for (int hk = 0; hk < G; hk++) {
        for (int h = hk; h < H; h += G)
            for (int64_t b = 0; b < B; b++)
                for (int64_t i = 0; i < T; i++) {
                    if (row_is_zeroed(p, b, i))
                        continue;
                    float mx = score_row(p, q, k, p->mem_k, b, h, i, P, fac + (K + S));
                    /* Pg: the probabilities the logits' gradient goes through (P, or P without top-k) */
                    float *Pg = P;
                    if (st) {
                        float mxf = score_row(&full, q, k, p->mem_k, b, h, i, Pf, fac + (K + S));
                        Pg = Pf;
                        for (int64_t j = 0; j < K + S; j++)
                            dP[j] = Pf[j] == -FLT_MAX ? 1.0f : 0.0f;
                        for (int64_t j = 0; j < K + S; j++)
                            fac[j] = p->softclamp > 0 ? 1.0f - (Pf[j] / p->softclamp) * (Pf[j] / p->softclamp) : 1.0f;
                        xtc_softmax_row(Pf, K + S, mxf);
                    } else {
                        /* the logits before top-k with residual attention (P's dropped ones get
                         * probability 0, so their softmax gradient is 0), else P's */
                        const float *L = P;
                        if (res_topk) {
                            score_row(&full, q, k, p->mem_k, b, h, i, Pf, fac + (K + S));
                            L = Pf;
                        }
                        /* recover the mask from the logits: masked entries are exactly -FLT_MAX */
                        for (int64_t j = 0; j < K + S; j++)
                            dP[j] = L[j] == -FLT_MAX ? 1.0f : 0.0f;
                        /* y = c tanh(s / c): ds = dy (1 - (y / c)^2) */
                        for (int64_t j = 0; j < K + S; j++)
                            fac[j] = p->softclamp > 0 ? 1.0f - (L[j] / p->softclamp) * (L[j] / p->softclamp) : 1.0f;
                    }
                    xtc_softmax_row(P, K + S, mx);
                    const float *dov = dout + (b * T + i) * qstride + (int64_t)h * D;
                    const float *qv = q + (b * T + i) * qstride + (int64_t)h * D;
                    float *dqv = dq + (b * T + i) * qstride + (int64_t)h * D;
                    /* dP_j = do . v_j, Dsum = sum_j P_j dP_j; masked flags move to `hid` */
                    double Dsum = 0;
                    for (int64_t j = 0; j < K + S; j++) {
                        float hid = dP[j];
                        float g = dot(dov, value_at(p, v, b, hk, j), D);
                        Dsum += (double)Pg[j] * g;
                        dP[j] = hid != 0.0f ? NAN : g; /* NaN marks a constant (masked) logit */
                    }
                    for (int64_t j = 0; j < K + S; j++) {
                        float w = P[j];
                        /* dv_j += P_j do */
                        float *dvv = j < K ? (dmem_v ? dmem_v + ((int64_t)hk * K + j) * D : NULL)
                                           : dv + (b * S + (j - K)) * kstride + (int64_t)hk * D;
                        if (dvv && w != 0.0f)
                            for (int d = 0; d < D; d++)
                                dvv[d] += w * dov[d];
                        if (isnan(dP[j])) {
                            dP[j] = 0.0f;
                            continue;
                        }
                        const int64_t lrow = ((b * H + h) * T + i) * (K + S);
                        /* the logit also reaches the next layer (residual attention) */
                        float dl = (float)(Pg[j] * (dP[j] - Dsum));
                        if (p->dlogits_in)
                            dl += p->dlogits_in[lrow + j];
                        float ds = dl * fac[j];
                        if (p->dprev_out)
                            p->dprev_out[lrow + j] = ds;
                        dP[j] = ds; /* the logit gradient, for a learned bias below */
                        if (ds != 0.0f)
                            logit_grad_qk(p, ds, k, b, hk, j, qv, dqv, dk, dmem_k);
                    }
                    logit_grad_bias(p, dbias, b, h, i, dP);
                }
    }
}
