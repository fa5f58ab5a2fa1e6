/* Positional schemes (private). One scheme per file; every backend uses the
 * tables computed here (inverse frequencies, XPOS scales, ALiBi slopes).
 *
 * Positions of Transformer-XL memories: rotary/XPOS keys run from -M to T-1
 * and queries from 0 to T-1; ALiBi and T5 use right-aligned non-negative
 * positions (memory keys 0..M-1, queries M..M+T-1). Only the difference
 * matters for ALiBi and T5, so callers pass (query pos, key pos) pairs. */
#ifndef XTC_POS_H
#define XTC_POS_H

#include <stdbool.h>
#include <stdint.h>

#include "xtc/rope.h"
#include "xtc/status.h"

/* ---------------------------------------------------------------- rotary */

/* x-transformers RotaryEmbedding + apply_rotary_pos_emb. R = rot_dim = 2 * n_freq. */
struct xtc_rotary {
    int n_freq;
    int rot_dim;
    float *inv_freq;   /* (n_freq) base'^(-2k/r), float32 as torch computes it */
    float *xpos_scale; /* (n_freq) (2k + 0.4 r) / (1.4 r), or NULL without XPOS */
    float interp;      /* rotary_interpolation_factor */
    struct xtc_rotary_cache *cache; /* cos/sin of the positions the config implies, computed once at init
                                       (read-only after it: many threads may share the tables) */
    float xpos_scale_base;
    enum xtc_rope_layout layout;
};

struct xtc_rotary_config {
    int rotary_emb_dim;         /* r; an odd r rotates r + 1 features, as x-transformers */
    double base;                /* 10000 */
    double base_rescale_factor; /* NTK: base *= f^(r / (r - 2)) */
    double interpolation_factor;
    bool xpos;
    double xpos_scale_base;
    enum xtc_rope_layout layout;
    int64_t cache_lo, cache_hi; /* positions [lo, hi) whose cos/sin are precomputed (a decoding step asks
                                   for all of them); others are computed per call. Empty: none. */
};

/* Builds the tables. XTC_ERR_CONFIG for r < 1, NTK rescale with r == 2
 * (r/(r-2) undefined), interpolation < 1, non-positive bases. */
xtc_status xtc_rotary_init(struct xtc_rotary *r, const struct xtc_rotary_config *c, struct xtc_error *err);
void xtc_rotary_free(struct xtc_rotary *r);

/* cos/sin of the n_freq angles of one position: (float)(pos * inv_freq[k]) / interp. */
void xtc_rotary_cos_sin(const struct xtc_rotary *r, int64_t pos, float *cos, float *sin);

/* XPOS factors scale[k]^(sign * (pos - half) / scale_base), half = floor(P/2) with P = 1 + the
 * largest position of the call; sign +1 for queries, -1 for keys. */
void xtc_rotary_xpos(const struct xtc_rotary *r, int64_t pos, int64_t half, float sign, float *factor);

/* Rotates the first 2*n_freq features of one head vector in place:
 * (a, b) -> ((a cos - b sin) f, (b cos + a sin) f), f = factor[k] or 1 when factor is NULL.
 * Pairs are (2k, 2k+1) (interleaved) or (k, k + n_freq) (half-split).
 * Backward is the same call with sin negated (rotation by -theta). */
void xtc_rotary_rotate(float *x, const float *cos, const float *sin, const float *factor, int n_freq,
                       enum xtc_rope_layout layout);

/* Tables for the n_pos positions of one call: cos, sin (n_pos, n_freq) and, with XPOS,
 * the query and key factors (n_pos, n_freq; qfac/kfac may be NULL otherwise). */
void xtc_rotary_table_fill(const struct xtc_rotary *r, const int64_t *pos, int64_t n_pos, int64_t xpos_half, float *cos,
                           float *sin, float *qfac, float *kfac);

/* floor(P / 2) with P = 1 + max(pos[0..n)): XPOS centres the powers of one call on it. */
int64_t xtc_rotary_xpos_half(const int64_t *pos, int64_t n);

/* The tables of one call: nb batch rows (1 or B) of Lp positions each, (nb * Lp, n_freq)
 * cos, sin and XPOS query / key factors (NULL without XPOS, or where not wanted). */
struct xtc_rotary_tables {
    int64_t nb, Lp;
    float *cos, *sin, *qfac, *kfac;
};

/* The table row of position j of the L right-aligned positions of batch row b
 * (x-transformers slices the position tables from the right: apply_rotary_pos_emb). */
static inline int64_t xtc_rotary_table_row(const struct xtc_rotary_tables *rt, int64_t b, int64_t L, int64_t j) {
    return (b % rt->nb) * rt->Lp + (rt->Lp - L + j);
}

/* Fills rt (nb, Lp set, buffers allocated) for positions pos (nb * Lp values), or, when pos
 * is NULL, first, first + 1, ... (self-attention with M memories: first = -M); pos_out
 * (nb * Lp) receives the positions used. Factors are dropped (NULL) without XPOS. */
void xtc_rotary_tables_fill(const struct xtc_rotary *r, struct xtc_rotary_tables *rt, const int64_t *pos,
                            int64_t first, int64_t *pos_out);

/* Rotates head vectors h0 .. nh-1 of x (B, L, nh heads of D) in place with table rows
 * xtc_rotary_table_row(rt, b, L, j) (h0 > 0: rotate_num_heads, the first heads stay as they
 * are); keys take the key factors. sign -1 rotates by -theta (the backward of the same
 * rotation; the XPOS factor is unchanged). */
void xtc_rotary_rotate_rows(const struct xtc_rotary *r, float *x, int64_t B, int64_t L, int nh, int h0, int D,
                            const struct xtc_rotary_tables *rt, bool keys, float sign);

/* One head vector x of position j of the L positions of batch row b (decoding's per-head form). */
void xtc_rotary_rotate_head(const struct xtc_rotary *r, float *x, const struct xtc_rotary_tables *rt, int64_t b,
                            int64_t L, int64_t j, bool keys);

/* ---------------------------------------------------------------- logit biases
 *
 * A scheme that adds a bias to the attention logits as a function of the query's and the
 * key's positions (ALiBi, T5, ...) is one file defining one `struct xtc_bias_scheme`,
 * listed in xtc_bias_schemes (schemes.c). Everything else is generic: the stack asks
 * the scheme for its parameters and its per-call table, every attention kernel (row-wise
 * reference, tiled, decoding) adds a row of biases through add_row, and the backward
 * hands each row's logit gradients to grad_row, then the table's gradient to
 * table_backward. A row's keys sit at positions kp[j] (explicit positions) or k0 + j. */

struct xtc_layers_config;

#define XTC_BIAS_MAX_PARAMS 64 /* the dynamic bias' MLP: 2 + 4 per layer, depth <= 15 */

/* A scheme as configured in one attention stack. */
struct xtc_pos_bias {
    const struct xtc_bias_scheme *scheme; /* NULL: no bias */
    int heads;
    bool causal;
    int num_buckets, max_distance; /* T5 */
    float scale;                   /* T5: sqrt(dim_head) */
    float *slopes;                 /* ALiBi: (heads), owned */
    int mlp_depth, mlp_dim;        /* dynamic bias: hidden layers, width */
    bool mlp_norm, log_distance;   /* dynamic bias */
    float *params[XTC_BIAS_MAX_PARAMS]; /* learned tensors, in the stack's parameter block */
};

/* The bias of one attention call (in struct xtc_attn_params). */
struct xtc_attn_bias {
    const struct xtc_bias_scheme *scheme; /* NULL: none */
    const float *data;     /* the scheme's per-call data: ALiBi slopes (H), T5 table (H, 2S-1) */
    const int64_t *pos;    /* explicit positions of queries and keys (pos_batched ? (B, T) : (T), S == T), or NULL */
    bool pos_batched;
};

struct xtc_bias_scheme {
    const char *name;
    bool takes_explicit_pos; /* forward `pos` are its positions (ALiBi's custom positions) */
    bool (*enabled)(const struct xtc_layers_config *c);
    xtc_status (*init)(struct xtc_pos_bias *pb, const struct xtc_layers_config *c, struct xtc_error *err);
    /* learned tensor i: its name under attn_layers. and shape; returns ndim, 0 past the last */
    int (*param)(const struct xtc_pos_bias *pb, int i, const char **name, int64_t shape[4]);
    /* floats of the per-call data for S keys, and filling it (NULL: data is fixed, e.g. slopes) */
    int64_t (*table_floats)(const struct xtc_pos_bias *pb, int64_t S);
    void (*table_fill)(const struct xtc_pos_bias *pb, int64_t S, float *table);
    /* floats the scheme keeps after the table (what its backward reads) and after the table's
     * gradient (its backward's scratch); NULL: none */
    int64_t (*work_floats)(const struct xtc_pos_bias *pb, int64_t S);
    /* row[j] += bias of head h, query at qp, key j (j < n), for a call with S keys */
    void (*add_row)(const struct xtc_attn_bias *a, int h, int64_t qp, const int64_t *kp, int64_t k0, int64_t n,
                    int64_t S, float *row);
    /* dtable += the logit gradients drow of that row (NULL: nothing learned) */
    void (*grad_row)(const struct xtc_attn_bias *a, int h, int64_t qp, const int64_t *kp, int64_t k0, int64_t n,
                     int64_t S, const float *drow, float *dtable);
    /* dparams[i] += the gradient of learned tensor i from dtable, given the forward's table */
    void (*table_backward)(const struct xtc_pos_bias *pb, int64_t S, const float *table, float *dtable,
                           float *const *dparams);
};

/* NULL-terminated list of every bias scheme (schemes.c). */
extern const struct xtc_bias_scheme *const xtc_bias_schemes[];

/* The scheme the config asks for (at most one: the config parser rejects two) set up in pb;
 * pb->scheme stays NULL when none is. */
xtc_status xtc_pos_bias_init(struct xtc_pos_bias *pb, const struct xtc_layers_config *c, struct xtc_error *err);
void xtc_pos_bias_free(struct xtc_pos_bias *pb);
/* The bias of a call: per-call data (the table, or the fixed data the scheme keeps). */
struct xtc_attn_bias xtc_pos_bias_for_call(const struct xtc_pos_bias *pb, const float *table, const int64_t *pos,
                                           bool pos_batched);

/* ---------------------------------------------------------------- alibi */

extern const struct xtc_bias_scheme xtc_alibi_scheme;

/* AlibiPositionalBias slopes for the first n_alibi of n_heads heads (the rest get 0).
 * slopes must hold n_heads floats. */
void xtc_alibi_slopes(float *slopes, int n_alibi, int n_heads);

/* ---------------------------------------------------------------- t5 */

extern const struct xtc_bias_scheme xtc_t5_scheme;

/* RelativePositionBias._relative_position_bucket for rel = key_pos - query_pos. */
int xtc_t5_bucket(int64_t rel, bool causal, int num_buckets, int max_distance);

/* Fills the T5 table (H, 2*S - 1) by relative distance from the learned (buckets, H) embedding. */
void xtc_t5_table_fill(float *table, const float *emb, int H, int64_t S, bool causal, int num_buckets,
                       int max_distance, float scale);

/* ---------------------------------------------------------------- dynamic */

extern const struct xtc_bias_scheme xtc_dynamic_bias_scheme;

/* ---------------------------------------------------------------- cope
 *
 * CoPE (x-transformers CoPE, contextual positions, arXiv 2405.18719 appendix B): not a
 * function of positions but of the logits themselves, so it is not a bias scheme above. For
 * query row i of head h, with the row's logits l_j after bias, soft clamp and masking (memory
 * key/values first; masked ones are -FLT_MAX) and gate inputs a_j (l_j itself, or with talking
 * heads the heads' logits mixed by a 1x1 convolution, causally hidden keys set back to -FLT_MAX):
 *   g_j = sigmoid(a_j),  p_j = min(sum_{j' >= j} g_j', max_pos - 1),  e_k = q . pos_emb[k],
 *   l_j += e_floor(p_j) (1 - w) + e_ceil(p_j) w,  w = p_j - floor(p_j).
 * Masked logits stay -FLT_MAX (torch adds a value far below their ulp). Sparse top-k comes
 * after, on l. (The soft one-hot variant fails in x-transformers 2.31.10; the config refuses it.) */

struct xtc_cope {
    int max_pos;       /* 0: no CoPE */
    int D, H;
    const float *emb;  /* (max_pos, D): this layer's attend.cope.pos_emb */
    const float *talk; /* (H, H): attend.cope.talking_heads.weight, or NULL */
    float *demb, *dtalk; /* backward: their gradients (accumulated), or NULL */
};

/* Floats of work xtc_cope_forward_row and xtc_cope_backward_row need for rows of n keys. */
int64_t xtc_cope_work_floats(const struct xtc_cope *c, int64_t n);

/* row[j] += the CoPE term of key j (j < n) for gate inputs a (n) and the query q (D);
 * entries of row that are -FLT_MAX stay so. */
void xtc_cope_forward_row(const struct xtc_cope *c, const float *a, const float *q, int64_t n, float *row,
                          float *work);

/* Backward of one row: dl (n) is the gradient of the row after CoPE (masked entries included:
 * a row with every key hidden spreads its softmax over them, and their CoPE terms are then
 * differentiated as in torch); da (n) receives the gradient of the gate inputs (overwritten; the
 * caller drops it where a was a masked constant), dq (D) and c->demb (when not NULL) are
 * accumulated. */
void xtc_cope_backward_row(const struct xtc_cope *c, const float *a, const float *q, int64_t n, const float *dl,
                           float *da, float *dq, float *work);

/* ---------------------------------------------------------------- data-dependent alibi
 *
 * x-transformers DataDependentAlibi / PerRowDataDependentAlibi (the forgetting transformer's
 * forget gates), one per self-attention layer, read from the layer's normed input x (B, T, C)
 * through one Linear into y. Not a function of positions, so not a bias scheme above.
 *   gates:   c = cumsum_t(post_log_scale * logsigmoid(y)) (B, O, T); causal: bias_ij = c_i - c_j;
 *            bidirectional (O = 2H, r the second H): bias_ij = c_i - c_j (j <= i), r_j - r_i (j >= i)
 *   per row: y = [q | k] (B, T, 2 H dh), f_ij = post_log_scale * logsigmoid(q_i . k_j dh^-0.5)
 *            for j < i (0 on and above the diagonal), bias_ij = sum_{j <= j' < i} f_ij' (causal only)
 * The bias covers the T keys of x only: no XL memories, no KV cache (the config and the
 * calls refuse them; memory key/values get 0). */
struct xtc_dda {
    bool on, per_row, causal;
    int H, dh;              /* heads; per row: the gates' head dim */
    float scale;            /* per row: dh^-0.5 */
    float post_log_scale;
    int64_t T;              /* the call's length: queries = keys */
    const float *table;     /* c (B, O, T), or per row y (B, T, 2 H dh) */
    float *dtable;          /* backward: its gradient (accumulated), or NULL */
};

/* O, the Linear's output features: H (causal), 2H (bidirectional), 2 H dh (per row). */
int xtc_dda_out_features(const struct xtc_dda *d);
/* c (B, O, T) from y (B, T, O) (not per row). */
void xtc_dda_gates(const struct xtc_dda *d, const float *y, int64_t B, int64_t T, float *c);
/* dy (B, T, O) (overwritten) from dc (B, O, T) and y. */
void xtc_dda_gates_backward(const struct xtc_dda *d, const float *y, int64_t B, int64_t T, const float *dc,
                            float *dy);
/* row[j] += the bias of head h, query i, key j < n, batch row b. */
void xtc_dda_add_row(const struct xtc_dda *d, int64_t b, int h, int64_t i, int64_t n, float *row);
/* d->dtable += the gradient from the logit gradients drow of that row. */
void xtc_dda_grad_row(const struct xtc_dda *d, int64_t b, int h, int64_t i, int64_t n, const float *drow);

/* ---------------------------------------------------------------- polar (PoPE) */

/* x-transformers PolarEmbedding (polar_pos_emb): q and k head vectors of D features become
 * 2 D wide, [softplus(x) cos(a) ; softplus(x) sin(a)], a = pos * inv_freq (+ the key phase). */
struct xtc_polar {
    int D;
    float *inv_freq; /* (D) 10000^(-d / D), float32 as torch computes it */
};

xtc_status xtc_polar_init(struct xtc_polar *pp, int dim_head, struct xtc_error *err);
void xtc_polar_free(struct xtc_polar *pp);

/* out (2 D) from x (D) at position pos; phase (D): the head's learned key phase as stored
 * (clamped to [-2 pi, 0] here), NULL for queries. out must not overlap x. */
void xtc_polar_apply(const struct xtc_polar *pp, float *out, const float *x, int64_t pos, const float *phase);

/* Backward of xtc_polar_apply: dx (D) += d/dx of dout (2 D); with a phase, dphase (D) += its
 * gradient (zero where the clamp saturates; dphase NULL: not wanted). */
void xtc_polar_backward(const struct xtc_polar *pp, float *dx, const float *dout, const float *x, int64_t pos,
                        const float *phase, float *dphase);

/* ---------------------------------------------------------------- relative projection bias */

/* curves (B, H, T, W): curve[b, h, t, d] = sum_r w[b, t, h, r] bank[r, d] for d < W (w: (B, T, H, R)
 * the projected query inputs, bank (R, max_dist)). */
void xtc_relproj_curves(float *curves, const float *w, const float *bank, int64_t B, int64_t T, int H, int R,
                        int64_t max_dist, int64_t W);
/* The same for the T rows of batch row b and head h only (decoding: one (b, h) per thread). */
void xtc_relproj_curves_bh(float *curves, const float *w, const float *bank, int64_t b, int h, int64_t T, int H, int R,
                           int64_t max_dist, int64_t W);
/* Its backward: dw (B, T, H, R) = (overwritten), dbank (R, max_dist) += (NULL: not wanted). */
void xtc_relproj_backward(float *dw, float *dbank, const float *dcurves, const float *w, const float *bank, int64_t B,
                          int64_t T, int H, int R, int64_t max_dist, int64_t W);

/* ---------------------------------------------------------------- absolute */

/* ScaledSinusoidalEmbedding: adds sin(p w_k) * scale to out[0..C/2) and cos(p w_k) * scale to
 * out[C/2..C), w_k = 10000^(-k / (C/2)), float32 like torch. */
void xtc_sinusoidal_add(float *out, int64_t pos, int C, float scale);

/* Backward of the learned scale: sum_k d[k] * sinusoid(p)[k] (the embedding at scale 1). */
double xtc_sinusoidal_dot(const float *d, int64_t pos, int C);

#endif
