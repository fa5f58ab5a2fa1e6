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

/* Logits of query row i of head h into row (K + S); masked entries are exactly -FLT_MAX.
 * Returns the row maximum. */
static float score_row(const struct xtc_attn_params *p, const float *q, const float *k, const float *mem_k, int64_t b,
                       int h, int64_t i, float *row, float *tmp) {
    const int64_t T = p->T, S = p->S, K = p->K;
    const int D = p->D, hk = h % p->G;
    const int64_t qstride = (int64_t)p->H * D, kstride = (int64_t)p->G * D;
    const uint8_t *km = p->key_mask ? p->key_mask + b * S : NULL;
    const float *qv = q + (b * T + i) * qstride + (int64_t)h * D;
    float mx = -FLT_MAX;
    /* memory key/values: never masked, zero positional bias */
    for (int64_t j = 0; j < K; j++)
        row[j] = dot(qv, mem_k + ((int64_t)hk * K + j) * D, D) * p->scale;
    int64_t last = p->causal ? i + S - T : S - 1; /* last visible key */
    const float *kb = k + b * (p->k_bstride ? p->k_bstride : S) * kstride + (int64_t)hk * D;
    for (int64_t j = 0; j < S; j++)
        row[K + j] = j > last || (km && !km[j]) ? 0.0f : dot(qv, kb + j * kstride, D) * p->scale;
    if (p->bias.scheme)
        xtc_attn_bias_row(p, b, h, i, S, row + K);
    if (p->softclamp > 0) /* memory key/value logits included: Attend clamps the whole row */
        for (int64_t j = 0; j < K + S; j++)
            row[j] = p->softclamp * tanhf(row[j] / p->softclamp);
    for (int64_t j = 0; j < S; j++)
        if (j > last || (km && !km[j]))
            row[K + j] = -FLT_MAX; /* replaced, not added to */
    if (p->sparse_topk > 0)
        xtc_attn_topk_row(row, K + S, p->sparse_topk, tmp);
    for (int64_t j = 0; j < K + S; j++)
        mx = row[j] > mx ? row[j] : mx;
    return mx;
}

/* softmax in place (masked logits are -FLT_MAX, so a fully masked row becomes uniform, as in torch) */
static void softmax_row(float *row, int64_t n, float mx) {
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        row[j] = expf(row[j] - mx);
        sum += row[j];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < n; j++)
        row[j] *= inv;
}

/* Whether the output row (b, i) is forced to zero: a masked query, or no visible key in the padding mask. */
static bool row_is_zeroed(const struct xtc_attn_params *p, int64_t b, int64_t i) {
    if (p->query_mask && !p->query_mask[b * p->T + i])
        return true;
    if (!p->key_mask || p->K > 0)
        return false; /* memory key/values pad the mask with True */
    for (int64_t j = 0; j < p->S; j++)
        if (p->key_mask[b * p->S + j])
            return false;
    return true;
}

static inline const float *value_at(const struct xtc_attn_params *p, const float *v, int64_t b, int hk, int64_t j) {
    return j < p->K ? p->mem_v + ((int64_t)hk * p->K + j) * p->D
                    : v + (b * (p->v_bstride ? p->v_bstride : p->S) + (j - p->K)) * (int64_t)p->G * p->D +
                          (int64_t)hk * p->D;
}

size_t xtc_attention_ref_scratch(const struct xtc_attn_params *p) {
    return (size_t)((p->topk_straight_through ? 5 : 4) * (p->K + p->S)); /* + the row without top-k */
}

void xtc_attention_forward_head_ref(float *out, const float *q, const float *k, const float *v,
                                    const struct xtc_attn_params *p, int64_t b, int h, float *row) {
    const int64_t T = p->T, S = p->S, K = p->K;
    const int D = p->D, hk = h % p->G;
    const int64_t qstride = (int64_t)p->H * D;
    for (int64_t i = 0; i < T; i++) {
        float *o = out + (b * T + i) * qstride + (int64_t)h * D;
        memset(o, 0, sizeof(float) * (size_t)D);
        if (row_is_zeroed(p, b, i))
            continue;
        float mx = score_row(p, q, k, p->mem_k, b, h, i, row, row + (K + S));
        softmax_row(row, K + S, mx);
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

void xtc_attention_backward_ref(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                const float *dout, const float *q, const float *k, const float *v,
                                const struct xtc_attn_params *p, float *scratch) {
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K;
    const int H = p->H, G = p->G, D = p->D;
    const int64_t qstride = (int64_t)H * D, kstride = (int64_t)G * D;
    memset(dq, 0, sizeof(float) * (size_t)(B * T * qstride));
    memset(dk, 0, sizeof(float) * (size_t)(B * S * kstride));
    memset(dv, 0, sizeof(float) * (size_t)(B * S * kstride));
    float *P = scratch, *dP = P + (K + S), *fac = dP + (K + S), *Pf = fac + 2 * (K + S);
    /* straight-through top-k: the logits' gradient comes from the row's softmax without the drop */
    struct xtc_attn_params full = *p;
    full.sparse_topk = 0;
    const bool st = p->topk_straight_through && p->sparse_topk > 0;
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
                        softmax_row(Pf, K + S, mxf);
                    } else {
                        /* recover the mask from the logits: masked entries are exactly -FLT_MAX */
                        for (int64_t j = 0; j < K + S; j++)
                            dP[j] = P[j] == -FLT_MAX ? 1.0f : 0.0f;
                        /* y = c tanh(s / c): ds = dy (1 - (y / c)^2) */
                        for (int64_t j = 0; j < K + S; j++)
                            fac[j] = p->softclamp > 0 ? 1.0f - (P[j] / p->softclamp) * (P[j] / p->softclamp) : 1.0f;
                    }
                    softmax_row(P, K + S, mx);
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
                        float ds = (float)(Pg[j] * (dP[j] - Dsum)) * fac[j];
                        dP[j] = ds; /* the logit gradient, for a learned bias below */
                        if (ds == 0.0f)
                            continue;
                        const float *kv = j < K ? p->mem_k + ((int64_t)hk * K + j) * D
                                                : k + (b * S + (j - K)) * kstride + (int64_t)hk * D;
                        float *dkv = j < K ? (dmem_k ? dmem_k + ((int64_t)hk * K + j) * D : NULL)
                                           : dk + (b * S + (j - K)) * kstride + (int64_t)hk * D;
                        for (int d = 0; d < D; d++)
                            dqv[d] += ds * p->scale * kv[d];
                        if (dkv)
                            for (int d = 0; d < D; d++)
                                dkv[d] += ds * p->scale * qv[d];
                    }
                    if (dbias && p->bias.scheme && p->bias.scheme->grad_row)
                        xtc_attn_bias_grad_row(p, b, h, i, S, dP + K, dbias);
                }
    }
}
