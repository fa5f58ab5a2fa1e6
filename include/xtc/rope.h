/* xtc — rotary position embedding (RoPE) as a standalone function.
 *
 * Usable without a model, the way the common compute_rope(x, cos, sin) is:
 *
 *     struct xtc_rope_params p;
 *     xtc_rope_params_default(&p);            // base 10000, all features, half-split
 *     p.layout = XTC_ROPE_INTERLEAVED;         // x-transformers >= 1.30 pairs
 *     struct xtc_error err;
 *     if (xtc_rope_apply(&x, &x, &p, NULL, &err) != XTC_OK) fprintf(stderr, "%s\n", err.msg);
 *
 * x is a 4-D view (batch, heads, seq, head_dim) with arbitrary strides, so a
 * (batch, seq, heads, head_dim) buffer is passed by permuting its strides.
 * F32, BF16 and F16 are accepted; angles and arithmetic are float32 (the input
 * is widened exactly) and the result is rounded once to the input's dtype.
 * out must have x's shape and dtype; it may be the very same view as x (in
 * place) but must not otherwise overlap it. Features past rot_dim are copied
 * bit for bit.
 *
 * Pairs: XTC_ROPE_HALF_SPLIT rotates (x[i], x[i + R/2]) (GPT-NeoX, Llama-HF,
 * LLMs-from-scratch); XTC_ROPE_INTERLEAVED rotates (x[2i], x[2i+1])
 * (x-transformers >= 1.30, GPT-J). Same angles, different results.
 *
 * Errors: XTC_ERR_ARG (NULL, odd head_dim or rot_dim, rot_dim > head_dim,
 * non-positive base or base_rescale_factor, a rescale with R == 2,
 * interpolation factor < 1, unknown layout), XTC_ERR_SHAPE (ndim != 4,
 * out/x shape or dtype differ, non-positive sizes, table too short or of the
 * wrong width, a view or table whose strides span more than PTRDIFF_MAX bytes),
 * XTC_ERR_UNSUPPORTED (dtype of x, or a table that is not F32),
 * XTC_ERR_NOMEM (each call allocates its small angle tables and scratch).
 * Thread safety: reentrant; no global state. Large tensors (> 64K elements)
 * are processed with an OpenMP parallel loop over (batch, heads).
 *
 * Naming: C identifiers call the scheme rope (xtc_rope_*, XTC_ROPE_*); a model
 * configuration keeps x-transformers' keywords (rotary_pos_emb becomes
 * struct xtc_layers_config's `rotary`, with rotary_emb_dim and rotary_layout). */
#ifndef XTC_ROPE_H
#define XTC_ROPE_H

#include <stdint.h>

#include "xtc/export.h"
#include "xtc/status.h"
#include "xtc/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum xtc_rope_layout {
    XTC_ROPE_INTERLEAVED, /* (2i, 2i+1): x-transformers */
    XTC_ROPE_HALF_SPLIT,  /* (i, i + R/2): compute_rope, Llama-HF */
};

struct xtc_rope_params {
    int rot_dim;                 /* features rotated per head, even; 0 = head_dim. The rest pass through. */
    double base;                 /* theta base, default 10000 */
    double interpolation_factor; /* >= 1; angles are divided by it (position interpolation) */
    double base_rescale_factor;  /* NTK: base *= f^(R/(R-2)); 1 = off */
    enum xtc_rope_layout layout;
};

/* base 10000, rot_dim 0 (all), no interpolation or rescale, half-split. */
XTC_API void xtc_rope_params_default(struct xtc_rope_params *p);

/* Rotates x by angle pos[t] * base'^(-2k/R) / interpolation_factor, the angle
 * computed in float32 as torch does (x-transformers RotaryEmbedding).
 * pos: seq positions shared by all batches (negative allowed), or NULL for 0..seq-1. */
XTC_API xtc_status xtc_rope_apply(const struct xtc_tensor *out, const struct xtc_tensor *x,
                                  const struct xtc_rope_params *p, const int64_t *pos, struct xtc_error *err);

/* compute_rope(x, cos, sin): out = x*cos[:seq] + rotate(x)*sin[:seq], with cos and
 * sin F32 (context_length >= seq, head_dim) tables (any strides) as built by
 * xtc_rope_tables. Every feature takes its own table column: half-split
 * rotate(x) = concat(-x[D/2:], x[:D/2]); interleaved rotate maps the pair
 * (2i, 2i+1) to (-x[2i+1], x[2i]) (x-transformers tables repeat each angle in
 * columns 2i and 2i+1). All head_dim features are rotated. */
XTC_API xtc_status xtc_rope_apply_table(const struct xtc_tensor *out, const struct xtc_tensor *x,
                                        const struct xtc_tensor *cos, const struct xtc_tensor *sin,
                                        enum xtc_rope_layout layout, struct xtc_error *err);

/* Fills cos/sin (context_length * head_dim floats each, row-major) with the half-split
 * tables angle[p, k] = angle[p, k + D/2] = p * theta_base^(-2k/D), in float32 as
 * LLMs-from-scratch precompute_rope_params does.
 * XTC_ERR_ARG for NULL tables, context_length < 1, odd or non-positive head_dim,
 * non-positive theta_base, context_length x head_dim floats past PTRDIFF_MAX bytes. */
XTC_API xtc_status xtc_rope_tables(float *cos, float *sin, int64_t context_length, int head_dim, double theta_base,
                                   struct xtc_error *err);

#ifdef __cplusplus
}
#endif
#endif
