/* Talking-heads attention (x-transformers Attend with pre_talking_heads, post_talking_heads,
 * pre_scale_post_talking_heads; Shazeer et al. 2020). The mixings are 1x1 convolutions across
 * heads, (H, H) matrices W[h][g] (out head h, in head g), applied at each (query, key):
 *
 *   raw  = q.k * scale                     every key, masked ones included
 *   sim  = raw + W_pre raw                 pre (dirac init: the logits start doubled)
 *   sim += bias; soft clamp; mask; top-k   as in every kernel (attention.h)
 *   P    = softmax(sim)                    per head, in fp32
 *   A    = W_post P                        post (dirac init: identity)
 *   A   *= W_ps raw                        pre_scale_post
 *   out  = A v                             query head h reads kv head h % G
 *
 * Masks do not depend on the head, so a masked key stays masked after the pre-mixing; a
 * row of every head is computed at once, here on the calling thread for any backend (the
 * feature is rare; the plain loops are the reference). Decoding takes the general forward
 * (xtc_stack_decode_ok). Shape letters as in attention.h; J = K + S keys of a row. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "attn/attention.h"

static inline float dot(const float *restrict a, const float *restrict b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static inline const float *key_at(const struct xtc_attn_params *p, const float *k, int64_t b, int hk, int64_t j) {
    return j < p->K ? p->mem_k + ((int64_t)hk * p->K + j) * p->D
                    : k + (b * (p->k_bstride ? p->k_bstride : p->S) + (j - p->K)) * (int64_t)p->G * p->D +
                          (int64_t)hk * p->D;
}

static inline const float *value_at(const struct xtc_attn_params *p, const float *v, int64_t b, int hk, int64_t j) {
    return j < p->K ? p->mem_v + ((int64_t)hk * p->K + j) * p->D
                    : v + (b * (p->v_bstride ? p->v_bstride : p->S) + (j - p->K)) * (int64_t)p->G * p->D +
                          (int64_t)hk * p->D;
}

/* Whether the output row (b, i) is forced to zero (as in every kernel: attention.h) */
static bool row_is_zeroed(const struct xtc_attn_params *p, int64_t b, int64_t i) {
    return xtc_attn_row_zeroed(p, b, i, xtc_attn_any_visible_key(p, b));
}

/* y[h][j] (+)= sum_g W[h][g] x[g][j] over H rows of J (transpose: W[g][h]) */
static void mix(float *y, const float *W, const float *x, int H, int64_t J, bool transpose, bool accumulate) {
    for (int h = 0; h < H; h++) {
        float *yh = y + (int64_t)h * J;
        if (!accumulate)
            memset(yh, 0, sizeof(float) * (size_t)J);
        for (int g = 0; g < H; g++) {
            float w = transpose ? W[(int64_t)g * H + h] : W[(int64_t)h * H + g];
            const float *xg = x + (int64_t)g * J;
            for (int64_t j = 0; j < J; j++)
                yh[j] += w * xg[j];
        }
    }
}

/* dW[h][g] += sum_j dy[h][j] x[g][j] */
static void mix_grad(float *dW, const float *dy, const float *x, int H, int64_t J) {
    for (int h = 0; h < H; h++)
        for (int g = 0; g < H; g++)
            dW[(int64_t)h * H + g] += dot(dy + (int64_t)h * J, x + (int64_t)g * J, (int)J);
}

/* The row's per-head buffers (H x J each) */
struct rows {
    float *raw;  /* scaled q.k */
    float *sim;  /* logits after mixing, bias, clamp, masks; then the probabilities P */
    float *post; /* W_post P (P without post) */
    float *sc;   /* W_ps raw (pre_scale_post) */
    float *fac;  /* soft clamp derivative; masked logits: 0 */
    float *tmp;  /* J floats for top-k */
    float *full; /* straight-through top-k: the masked logits before the drop (H x J) */
};

size_t xtc_talking_heads_scratch(const struct xtc_attn_params *p) {
    int64_t HJ = (int64_t)p->H * (p->K + p->S);
    /* struct rows (5 HJ + J), the backward's 3 HJ, the logits before a straight-through top-k */
    return (size_t)((p->topk_straight_through ? 9 : 8) * HJ + (p->K + p->S));
}

static struct rows carve(const struct xtc_attn_params *p, float *scratch) {
    int64_t HJ = (int64_t)p->H * (p->K + p->S);
    return (struct rows){scratch,          scratch + HJ,     scratch + 2 * HJ,
                         scratch + 3 * HJ, scratch + 4 * HJ, scratch + 5 * HJ,
                         p->topk_straight_through ? scratch + 8 * HJ + (p->K + p->S) : NULL};
}

/* Everything up to A = (W_post P) * (W_ps raw) for query row i of batch row b: r.sim holds P,
 * r.post A before the pre_scale_post factor (P itself without post), r.sc that factor. */
static void row_forward(const struct xtc_attn_params *p, const float *q, const float *k, int64_t b, int64_t i,
                        const struct rows *r) {
    const int64_t T = p->T, S = p->S, K = p->K, J = K + S;
    const int H = p->H, D = p->D;
    const uint8_t *km = p->key_mask ? p->key_mask + b * S : NULL;
    const int64_t last = p->causal ? i + S - T : S - 1;
    for (int h = 0; h < H; h++) {
        const float *qv = q + (b * T + i) * (int64_t)H * D + (int64_t)h * D;
        for (int64_t j = 0; j < J; j++)
            r->raw[h * J + j] = dot(qv, key_at(p, k, b, h % p->G, j), D) * p->scale;
    }
    memcpy(r->sim, r->raw, sizeof(float) * (size_t)(H * J));
    if (p->th_pre)
        mix(r->sim, p->th_pre, r->raw, H, J, false, true);
    for (int h = 0; h < H; h++) {
        float *row = r->sim + h * J, *fac = r->fac + h * J;
        if (p->bias.scheme)
            xtc_attn_bias_row(p, b, h, i, S, row + K);
        for (int64_t j = 0; j < J; j++) {
            if (p->softclamp > 0) {
                row[j] = p->softclamp * tanhf(row[j] / p->softclamp);
                fac[j] = 1.0f - (row[j] / p->softclamp) * (row[j] / p->softclamp);
            } else {
                fac[j] = 1.0f;
            }
        }
        for (int64_t j = 0; j < S; j++)
            if (j > last || (km && !km[j]))
                row[K + j] = -FLT_MAX;
        if (p->sparse_topk > 0 && r->full)
            memcpy(r->full + h * J, row, sizeof(float) * (size_t)J);
        if (p->sparse_topk > 0)
            xtc_attn_topk_row(row, J, p->sparse_topk, r->tmp);
        float mx = -FLT_MAX;
        for (int64_t j = 0; j < J; j++) {
            if (row[j] == -FLT_MAX)
                fac[j] = 0.0f; /* a constant: no gradient reaches its logit */
            mx = row[j] > mx ? row[j] : mx;
        }
        xtc_softmax_row(row, J, mx);
    }
    if (p->th_post)
        mix(r->post, p->th_post, r->sim, H, J, false, false);
    else
        memcpy(r->post, r->sim, sizeof(float) * (size_t)(H * J));
    if (p->th_pre_scale)
        mix(r->sc, p->th_pre_scale, r->raw, H, J, false, false);
}

void xtc_talking_heads_forward(float *out, const float *q, const float *k, const float *v,
                               const struct xtc_attn_params *p, float *scratch) {
    const int64_t T = p->T, J = p->K + p->S;
    const int H = p->H, D = p->D;
    struct rows r = carve(p, scratch);
    for (int64_t b = 0; b < p->B; b++)
        for (int64_t i = 0; i < T; i++) {
            float *o = out + (b * T + i) * (int64_t)H * D;
            memset(o, 0, sizeof(float) * (size_t)(H * D));
            if (row_is_zeroed(p, b, i))
                continue;
            row_forward(p, q, k, b, i, &r);
            for (int h = 0; h < H; h++)
                for (int64_t j = 0; j < J; j++) {
                    float w = r.post[h * J + j] * (p->th_pre_scale ? r.sc[h * J + j] : 1.0f);
                    const float *vv = value_at(p, v, b, h % p->G, j);
                    for (int d = 0; d < D; d++)
                        o[(int64_t)h * D + d] += w * vv[d];
                }
        }
}

void xtc_talking_heads_backward(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                const float *dout, const float *q, const float *k, const float *v,
                                const struct xtc_attn_params *p, float *scratch) {
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K, J = K + S;
    const int H = p->H, G = p->G, D = p->D;
    const int64_t qstride = (int64_t)H * D, kstride = (int64_t)G * D, HJ = (int64_t)H * J;
    memset(dq, 0, sizeof(float) * (size_t)(B * T * qstride));
    memset(dk, 0, sizeof(float) * (size_t)(B * S * kstride));
    memset(dv, 0, sizeof(float) * (size_t)(B * S * kstride));
    struct rows r = carve(p, scratch);
    float *dA = scratch + 5 * HJ + J, *dP = dA + HJ, *draw = dP + HJ;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < T; i++) {
            if (row_is_zeroed(p, b, i))
                continue;
            row_forward(p, q, k, b, i, &r);
            /* out_h = sum_j A[h][j] v_j: dA, and dv_j += A[h][j] dout_h */
            for (int h = 0; h < H; h++) {
                const float *dov = dout + (b * T + i) * qstride + (int64_t)h * D;
                for (int64_t j = 0; j < J; j++) {
                    const float a = r.post[h * J + j] * (p->th_pre_scale ? r.sc[h * J + j] : 1.0f);
                    dA[h * J + j] = dot(dov, value_at(p, v, b, h % G, j), D);
                    float *dvv = j < K ? (dmem_v ? dmem_v + ((int64_t)(h % G) * K + j) * D : NULL)
                                       : dv + (b * S + (j - K)) * kstride + (int64_t)(h % G) * D;
                    if (dvv && a != 0.0f)
                        for (int d = 0; d < D; d++)
                            dvv[d] += a * dov[d];
                }
            }
            memset(draw, 0, sizeof(float) * (size_t)HJ);
            if (p->th_pre_scale) { /* A = post * sc: dsc = dA * post (into dP for now), dpost = dA * sc */
                for (int64_t x = 0; x < HJ; x++) {
                    dP[x] = dA[x] * r.post[x];
                    dA[x] *= r.sc[x];
                }
                if (p->th_dpre_scale)
                    mix_grad(p->th_dpre_scale, dP, r.raw, H, J);
                mix(draw, p->th_pre_scale, dP, H, J, true, true);
            }
            /* post = W_post P */
            if (p->th_post) {
                if (p->th_dpost)
                    mix_grad(p->th_dpost, dA, r.sim, H, J);
                mix(dP, p->th_post, dA, H, J, true, false);
            } else {
                memcpy(dP, dA, sizeof(float) * (size_t)HJ);
            }
            /* softmax and soft clamp: ds = P (dP - sum P dP) * fac, 0 for masked logits; with a
             * straight-through top-k, P and fac are those of the row without the drop */
            for (int h = 0; h < H; h++) {
                const float *P = r.sim + h * J, *fac = r.fac + h * J;
                if (p->sparse_topk > 0 && r.full) {
                    float *f = r.full + h * J, *ff = r.fac + h * J, mx = -FLT_MAX;
                    for (int64_t j = 0; j < J; j++) {
                        ff[j] = f[j] == -FLT_MAX ? 0.0f
                                : p->softclamp > 0 ? 1.0f - (f[j] / p->softclamp) * (f[j] / p->softclamp)
                                                   : 1.0f;
                        mx = f[j] > mx ? f[j] : mx;
                    }
                    double sum = 0;
                    for (int64_t j = 0; j < J; j++) {
                        f[j] = expf(f[j] - mx);
                        sum += f[j];
                    }
                    for (int64_t j = 0; j < J; j++)
                        f[j] *= (float)(1.0 / sum);
                    P = f;
                }
                float *ds = dP + h * J;
                double Dsum = 0;
                for (int64_t j = 0; j < J; j++)
                    Dsum += (double)P[j] * ds[j];
                for (int64_t j = 0; j < J; j++)
                    ds[j] = fac[j] == 0.0f ? 0.0f : (float)(P[j] * (ds[j] - Dsum)) * fac[j];
                if (dbias && p->bias.scheme && p->bias.scheme->grad_row)
                    xtc_attn_bias_grad_row(p, b, h, i, S, ds + K, dbias);
            }
            /* sim = raw + W_pre raw */
            for (int64_t x = 0; x < HJ; x++)
                draw[x] += dP[x];
            if (p->th_pre) {
                if (p->th_dpre)
                    mix_grad(p->th_dpre, dP, r.raw, H, J);
                mix(draw, p->th_pre, dP, H, J, true, true);
            }
            /* raw = q.k * scale */
            for (int h = 0; h < H; h++) {
                const int hk = h % G;
                const float *qv = q + (b * T + i) * qstride + (int64_t)h * D;
                float *dqv = dq + (b * T + i) * qstride + (int64_t)h * D;
                for (int64_t j = 0; j < J; j++) {
                    const float g = draw[h * J + j] * p->scale;
                    if (g == 0.0f)
                        continue;
                    const float *kv = key_at(p, k, b, hk, j);
                    float *dkv = j < K ? (dmem_k ? dmem_k + ((int64_t)hk * K + j) * D : NULL)
                                       : dk + (b * S + (j - K)) * kstride + (int64_t)hk * D;
                    for (int d = 0; d < D; d++)
                        dqv[d] += g * kv[d];
                    if (dkv)
                        for (int d = 0; d < D; d++)
                            dkv[d] += g * qv[d];
                }
            }
        }
}
