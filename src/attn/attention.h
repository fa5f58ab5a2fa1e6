/* Attention core (private): scores -> positional bias -> masks -> softmax -> values,
 * for self- and cross-attention, with memory key/values and XL memories.
 * Shape letters: B batch, T queries, S keys (XL memories + sequence, or context;
 * memory key/values excluded), K memory key/values, H query heads, G kv heads
 * (query head h reads kv head h % G), D head dim. */
#ifndef XTC_ATTENTION_H
#define XTC_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum xtc_bias_kind { XTC_BIAS_NONE, XTC_BIAS_ALIBI, XTC_BIAS_T5 };

/* Additive bias of query i against key j, a function of (key pos - query pos).
 * Default positions are right-aligned: key j at j, query i at S - T + i.
 * With explicit positions (ALiBi only), both come from pos[b] (S == T). */
struct xtc_attn_bias {
    enum xtc_bias_kind kind;
    const float *slopes;   /* ALiBi: (H), 0 for unbiased heads */
    const float *t5;       /* T5: (H, 2*S - 1) bias by relative distance, index rel + S - 1 */
    const int64_t *pos;    /* explicit positions (pos_b ? (B, T) : (T)), or NULL */
    bool pos_batched;
};

struct xtc_attn_params {
    int64_t B, T, S, K;
    int H, G, D;
    float scale;               /* dim_head^-0.5, or qk_norm_scale */
    bool causal;               /* right-aligned: key j hidden from query i when j > i + S - T */
    const uint8_t *key_mask;   /* (B, S) nonzero = visible, or NULL */
    const uint8_t *query_mask; /* (B, T): rows with 0 produce zeros, or NULL */
    const float *mem_k;        /* (G, K, D), already l2-normalised with qk_norm */
    const float *mem_v;        /* (G, K, D) */
    struct xtc_attn_bias bias;
    /* rows between batch rows of k and of v: 0 means S (packed). Only the forward kernels
     * honour other values (decoding reads the KV cache in place). */
    int64_t k_bstride, v_bstride;
};

/* The bias of query i against key j (one formula for every kernel). */
static inline float xtc_attn_bias_at(const struct xtc_attn_params *p, int64_t b, int h, int64_t i, int64_t j) {
    const struct xtc_attn_bias *bias = &p->bias;
    int64_t qp, kp;
    if (bias->pos) {
        const int64_t *pb = bias->pos + (bias->pos_batched ? b * p->T : 0);
        qp = pb[i], kp = pb[j];
    } else {
        qp = p->S - p->T + i, kp = j; /* right-aligned */
    }
    int64_t rel = kp - qp;
    if (bias->kind == XTC_BIAS_ALIBI)
        return -bias->slopes[h] * (float)(rel < 0 ? -rel : rel);
    return bias->t5[(int64_t)h * (2 * p->S - 1) + rel + p->S - 1];
}

/* out (B, T, H*D) = attention of q (B, T, H*D) over k, v (B, S, G*D).
 * scratch: omp_get_max_threads() * (K + S) floats. Masked logits are replaced by
 * -FLT_MAX (so a row with every key hidden averages all values, as torch does),
 * then masked query rows, and rows whose key_mask is all 0 when there are no memory
 * key/values (those pad the mask with True, so such rows attend to them only), are zeroed. */
void xtc_attention_forward(float *out, const float *q, const float *k, const float *v,
                           const struct xtc_attn_params *p, float *scratch);

/* Backward of xtc_attention_forward, recomputing the probabilities from q and k.
 * dq (B, T, H*D), dk, dv (B, S, G*D) are overwritten; dmem_k, dmem_v (G, K, D) and
 * dt5 (H, 2S-1, the bias table by relative distance) are accumulated when not NULL.
 * Masked logits are constants: they pass no gradient to q, k or the bias.
 * scratch: omp_get_max_threads() * 2 * (K + S) floats. */
void xtc_attention_backward(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dt5,
                            const float *dout, const float *q, const float *k, const float *v,
                            const struct xtc_attn_params *p, float *scratch);

/* The same two functions computed in query tiles through BLAS (attention_tiled.c):
 * what the model runs; the row-wise versions above are the reference they are tested
 * against. scratch: xtc_attention_tiled_scratch(p) floats. */
size_t xtc_attention_tiled_scratch(const struct xtc_attn_params *p);
void xtc_attention_forward_tiled(float *out, const float *q, const float *k, const float *v,
                                 const struct xtc_attn_params *p, float *scratch);
/* The forward of one (batch row b, query head h) of xtc_attention_forward_tiled, on the
 * calling thread; P: xtc_attention_tiled_scratch(p) / omp_get_max_threads() floats. */
void xtc_attention_forward_head(float *out, const float *q, const float *k, const float *v,
                                const struct xtc_attn_params *p, int64_t b, int h, float *P);
void xtc_attention_backward_tiled(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dt5,
                                  const float *dout, const float *q, const float *k, const float *v,
                                  const struct xtc_attn_params *p, float *scratch);

/* Fills the T5 table (H, 2*S - 1) from the learned (buckets, H) embedding. */
void xtc_t5_table_fill(float *table, const float *emb, int H, int64_t S, bool causal, int num_buckets,
                       int max_distance, float scale);

#endif
