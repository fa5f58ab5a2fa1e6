/* The steps of a sub-layer, each written once (private). The full forward (stack.c)
 * runs every step over its whole range with the parallel kernels; a decoding step
 * (stack_decode.c) runs the same steps over chunks inside one parallel region with
 * the row kernels. Only the scheduling differs, never the math.
 * Shape letters as in stack.h; N = B * T rows, I feed-forward inner width. */
#ifndef XTC_STEPS_H
#define XTC_STEPS_H

#include "layers/stack.h"

/* q or k head vector x (D) of position j of the L positions of batch row b: l2-normalised
 * with qk_norm, times dim_scale (D, qk_norm_dim_scale; NULL: none), then rotated (queries
 * and keys take their XPOS factors). rt NULL: no rotary. */
void xtc_step_qk_head(const struct xtc_stack *s, float *x, const float *dim_scale, const struct xtc_rotary_tables *rt,
                      int64_t b, int64_t L, int64_t j, bool keys);
/* The same over every head of x (B, L, nh heads of D), in parallel; dim_scale (nh, D) or NULL;
 * heads below h0 are not rotated. */
void xtc_step_qk_rows(const struct xtc_stack *s, float *x, const float *dim_scale, int64_t B, int64_t L, int nh,
                      int h0, const struct xtc_rotary_tables *rt, bool keys);

/* The first rotated head: rotate_num_heads rotates the last heads of self-attention only
 * (x-transformers passes it to the self-attention blocks; cross-attention rotates all). */
static inline int xtc_step_rot_h0(const struct xtc_stack *s, bool self) {
    return self ? s->cfg.heads - s->cfg.rotate_num_heads : 0;
}

/* Memory keys of kv heads [g0, g1) as attention reads them: l2-normalised into memk
 * (G, K, D) with qk_norm, times the layer's key scales with qk_norm_dim_scale (every call:
 * the parameters may change between calls).
 * Returns what attention reads: memk with qk_norm, else the parameter itself. */
const float *xtc_step_mem_keys(const struct xtc_stack *s, const struct xtc_sublayer *L, float *memk, int g0, int g1);

/* This call's keys and values of batch row b (rows M.. of knew / vnew (B, M+T, GD): the
 * memories' come first and are not cached), features [f0, f1), stored in the KV cache of
 * self-attention layer idx after its cached rows. */
void xtc_step_cache_append(const struct xtc_stack_io *io, int idx, const float *knew, const float *vnew, int64_t M,
                           int64_t b, int64_t f0, int64_t f1, int64_t GD);

/* Feed-forward activation of features [lo, hi) of the N rows: ffa (N, I) from ff1 (N, I,
 * or 2I = [value | gate] with GLU); the activation (GELU, SiLU, squared ReLU) with the
 * optional pre-activation soft clamp (ff1 is clamped in place: the backward reads the
 * clamped values), or GLU with its soft clamps. */
void xtc_step_ff_act(const struct xtc_stack *s, float *ffa, float *ff1, int64_t N, int64_t lo, int64_t hi);

/* ff_post_act_ln over rows [n0, n1) (whole rows of the I features: after every feature's
 * activation): A->ffn = LayerNorm(A->ffa) with the gain ff_gamma as stored (no unit offset);
 * statistics into A->ffn_mean / ffn_rstd when they exist. */
void xtc_step_ff_post_act_norm(const struct xtc_stack *s, const struct xtc_sublayer *L, struct xtc_sub_acts *A,
                               int64_t n0, int64_t n1);

/* The attention output as to_out reads it, rows [n0, n1) and features [f0, f1) of (N, H*D), in
 * Attention.forward's order: og = o * head_scale_params[head] (attn_head_scale) *
 * sigmoid(hgate[head]) (attn_gate_value_heads; hgate: (N, H) logits, or NULL) * act(gate)
 * (attn_gate_values; gate: the logits x @ to_v_gate^T, (N, H*D), or (N, H) headwise, or NULL;
 * act: sigmoid, or silu with swiglu_values). og may be o. */
void xtc_step_attn_out(const struct xtc_stack *s, const struct xtc_sublayer *L, float *og, const float *o,
                       const float *gate, const float *hgate, int64_t n0, int64_t n1, int64_t f0, int64_t f1);

/* With an output gate: og (N, H*D) = u * act(z), z = gate (value gate logits, per feature or per
 * head, or NULL) + ogate (output gate logits, per feature or per head with output_gate_headwise). */
void xtc_step_gates_apply(const struct xtc_stack *s, float *og, const float *u, const float *gate, const float *ogate,
                          int64_t N);

/* x[:, lo:hi] += y[:, lo:hi] for the N rows of C features. */
void xtc_step_residual(float *x, const float *y, int64_t N, int64_t C, int64_t lo, int64_t hi);

/* The branch input h (N, C) of sub-layer L: its pre-norm of x (statistics into mean / rstd,
 * NULL: not kept), or x itself under post-norm. */
void xtc_step_branch_in(const struct xtc_stack *s, const struct xtc_sublayer *L, float *h, float *mean, float *rstd,
                        const float *x, int64_t N);

/* shift_tokens (ShiftTokens): h (B, T, C), the branch input of sub-layer L, in place: feature
 * group g of the cfg.shift_tokens groups moves along the sequence by its shift (zeros
 * shifted in); in attention blocks tokens with mask 0 (mask (B, T) or NULL) are zeroed first
 * in the groups that move. backward: the same for the gradient, d/d(shifted h) -> d/dh. */
void xtc_step_shift_tokens(const struct xtc_stack *s, const struct xtc_sublayer *L, float *h, const uint8_t *mask,
                           int64_t B, int64_t T, bool backward);

/* Whether the end of a branch is the plain residual x += y, which may run over chunks of
 * features; otherwise (sandwich_norm, post-norm) it needs whole rows. */
bool xtc_step_branch_plain(const struct xtc_stack *s);
/* Whether the residual is scaled (scale_residual, scale_residual_constant != 1). */
bool xtc_step_residual_scaled(const struct xtc_stack *s);

/* The end of sub-layer L's branch for rows [n0, n1) of its output y: y <- y * branch_scale *
 * (layerscale + 1) (macaron's Scale(0.5), LayerScale), y <- norm(y) with sandwich_norm,
 * x <- x * residual_scale * scale_residual_constant + y (or with gate_residual
 * x <- GRUCell(y, x * residual_scale), which needs A), x <- norm(x) under post-norm
 * (x-transformers AttentionLayers: block wrappers, post_branch_norm, residual, post_main_norm).
 * A (the sub-layer's activations, or NULL when neither training nor gate_residual) receives
 * what the backward reads (y_ls, y_raw, gru_*, x_sum and the statistics); without it the
 * norms run in place. */
void xtc_step_branch_out(const struct xtc_stack *s, const struct xtc_sublayer *L, float *x, float *y,
                         struct xtc_sub_acts *A, int64_t n0, int64_t n1);

#endif
