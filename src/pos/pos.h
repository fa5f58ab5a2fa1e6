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
    struct xtc_rotary_cache *cache; /* cos/sin by position, grown on demand (decoding asks every step) */
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

/* ---------------------------------------------------------------- alibi */

/* AlibiPositionalBias slopes for the first n_alibi of n_heads heads (the rest get 0).
 * slopes must hold n_heads floats. */
void xtc_alibi_slopes(float *slopes, int n_alibi, int n_heads);

/* ---------------------------------------------------------------- t5 */

/* RelativePositionBias._relative_position_bucket for rel = key_pos - query_pos. */
int xtc_t5_bucket(int64_t rel, bool causal, int num_buckets, int max_distance);

/* ---------------------------------------------------------------- absolute */

/* ScaledSinusoidalEmbedding: adds sin(p w_k) * scale to out[0..C/2) and cos(p w_k) * scale to
 * out[C/2..C), w_k = 10000^(-k / (C/2)), float32 like torch. */
void xtc_sinusoidal_add(float *out, int64_t pos, int C, float scale);

/* Backward of the learned scale: sum_k d[k] * sinusoid(p)[k] (the embedding at scale 1). */
double xtc_sinusoidal_dot(const float *d, int64_t pos, int C);

#endif
