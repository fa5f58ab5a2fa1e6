/* The attention stack (x-transformers AttentionLayers: Encoder, Decoder,
 * CrossAttender): residual sub-layers (pre-norm, sandwich or post-norm), then a final
 * norm (pre-norm only).
 * Shape letters: B batch, T sequence (memory tokens included), C dim,
 * M XL memory length, S keys, H heads, G kv heads, D head dim. */
#ifndef XTC_STACK_H
#define XTC_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "attn/attention.h"
#include "backend/backend.h"
#include "core/arena.h"
#include "ops/ops.h"
#include "pos/pos.h"
#include "xtc/config.h"

enum xtc_sub_kind { XTC_SUB_SELF, XTC_SUB_CROSS, XTC_SUB_FF };

struct xtc_sublayer {
    enum xtc_sub_kind kind;
    /* norm gains (unit offset): (C), (1) with ScaleNorm, NULL with SimpleRMSNorm or when the
     * slot is unused (cfg.pre_norm, sandwich_norm, !pre_norm say which slots exist) */
    float *norm;              /* pre-branch norm, layers.i.0.0 */
    float *norm_sandwich;     /* the branch output's norm (sandwich_norm), layers.i.0.1 */
    float *norm_post;         /* the residual sum's norm (post-norm), layers.i.0.2 */
    float *wq, *wk, *wv, *wo; /* (H*D, C), (G*D, Cin), (G*D, Cin), (C, H*D) or NULL with one head */
    float *mem_k, *mem_v;     /* (G, K, D) or NULL */
    float *q_scale, *k_scale; /* qk_norm_dim_scale: (H, 1, D), (G, 1, D), or NULL */
    float *wg;                /* gate_values: to_v_gate.weight (H*D, C), (H, C) headwise, or with a rank
                                 to_v_gate.up.weight (H*D, rank); NULL without gate_values */
    float *wgd;               /* gate_values_rank: to_v_gate.down.weight (rank, C), or NULL */
    float *wog, *wogd;        /* output_gate: to_output_gate.weight (H*D or H, H*D), or .up.weight (H*D, rank)
                                 and .down.weight (rank, H*D); NULL without it */
    float *wh, *bh;           /* gate_value_heads: to_v_head_gate.weight (H, C), .bias (H), or NULL */
    float *head_scale;        /* head_scale: head_scale_params (1, H, 1, 1), or NULL */
    float *cope_emb;          /* attn_use_cope: attend.cope.pos_emb (max_pos, D), or NULL */
    float *cope_talk;         /* attn_cope_talking_heads: attend.cope.talking_heads.weight (H, H, 1, 1), or NULL */
    float *dda_w, *dda_b;     /* attn_data_dependent_alibi: data_dependent_alibi.to_forget_gates.0 weight (O, C)
                                 and bias (O; NULL per row), or NULL */
    float *rp_w, *rp_b, *rp_bank; /* rel_proj_pos_bias: to_distance_weights.0 (H*R, C), (H*R), distance_bank
                                     (R, max_dist), or NULL */
    /* talking heads: attend.{pre_softmax,post_softmax,pre_scale_post}_talking_heads.weight
     * (H, H, 1, 1), or NULL */
    float *th_pre, *th_post, *th_pre_scale;
    float *w1, *b1, *w2, *b2; /* (inner or 2*inner, C), (.), (C, inner), (C); biases NULL with ff_no_bias */
    float *ff_gamma;          /* (inner) ff_post_act_ln gain (no unit offset), or NULL */
    /* the end of the branch: y <- y * branch_scale * (layerscale + 1), then the residual
     * x <- x * residual_scale * cfg.scale_residual_constant + y (x-transformers Scale (macaron),
     * LayerScale, Residual) */
    float branch_scale;       /* 0.5 for macaron's feed-forwards, else 1 */
    float *layerscale;        /* use_layerscale: layers.i.1.gamma (C), stored without the unit offset, or NULL */
    float *residual_scale;    /* scale_residual: layers.i.2.residual_scale (C), or NULL */
    /* gate_residual: GRUCell layers.i.2.gru: weight_ih, weight_hh (3C, C), bias_ih, bias_hh (3C),
     * gates in the order r, z, n (torch) */
    float *gru_wih, *gru_whh, *gru_bih, *gru_bhh;
};

struct xtc_stack {
    struct xtc_layers_config cfg;
    int n_sub, n_self;
    int per_block;          /* sub-layers per block; with weight_tie_layers sub-layer l runs l % per_block's weights */
    struct xtc_sublayer *sub;
    float *final_norm;      /* (C) gain of the final norm (cfg.final_norm), see norm */
    float *inv_freq_buf;    /* checkpoint buffer rotary_pos_emb.inv_freq (n_freq) */
    float *xpos_scale_buf;  /* checkpoint buffer rotary_pos_emb.scale (n_freq) */
    struct xtc_rotary rotary;
    struct xtc_polar polar;      /* polar_pos_emb (cfg.polar) frequencies */
    float *polar_phase;          /* polar_pos_emb.learned_bias (H, 1, D), or NULL */
    float *polar_inv_freq_buf;   /* checkpoint buffer polar_pos_emb.inv_freq (D), or NULL */
    struct xtc_pos_bias bias; /* positional bias of self-attention logits (ALiBi, T5, ...), or none */
    struct xtc_glu_params glu; /* feed-forward GLU soft clamps (ff_glu_softclamp) */
    struct xtc_matvec_weights decode_w; /* what decoding steps' products read (bf16 copy or not) */
};

/* What one forward call of the stack sees. x is the residual stream, updated in place;
 * on return it holds the output after the final norm. */
struct xtc_stack_io {
    int64_t B, T;
    float *x;                       /* (B, T, C) */
    const uint8_t *mask;            /* (B, T) or NULL */
    const int64_t *pos;             /* rotary / ALiBi explicit positions, (pos_len) or (B, pos_len) */
    int64_t pos_len;
    bool pos_batched;
    const float *context;           /* (B, S_ctx, dim_context) */
    int64_t S_ctx;
    const uint8_t *context_mask;    /* (B, S_ctx) or NULL */
    const int64_t *context_pos;     /* (S_ctx) or (B, S_ctx) */
    bool context_pos_batched;
    int64_t M;                      /* XL memory length (0: none) */
    const float *const *mems;       /* n_self tensors (B, M, C) */
    const uint8_t *const *mem_masks;/* n_self masks (B, M) or NULL */
    float *const *hiddens;          /* n_self outputs (B, T, C): residual input of each self-attention, or NULL */
    bool return_hiddens;            /* hiddens are wanted (set in planning too, where the pointers are not yet known) */
    /* KV cache (inference): C_cache earlier tokens whose pre-rotary keys/values sit in cache_k/v
     * (n_self tensors (B, cache_cap, G*D)); this call's keys/values are written at rows
     * C_cache .. C_cache+T-1. Keys are [mems ; cached ; new] at positions -M .. C_cache+T-1. */
    int64_t C_cache, cache_cap;
    const int64_t *seq_start_pos;   /* (B): self-attention keys at sequence positions below it are hidden */
    float *const *cache_k, *const *cache_v;
    /* cross-attention cache: n_cross tensors (B, S_ctx, G*D); filled when !cross_ready, read after */
    float *const *cross_k, *const *cross_v;
    bool cross_ready;
};

/* Activations of one sub-layer. At inference all sub-layers share one set; when
 * gradients are wanted every sub-layer keeps its own for the backward pass. */
struct xtc_sub_acts {
    float *x_in;               /* (B, T, C) residual stream entering the sub-layer (training only) */
    float *h, *mean, *rstd;    /* normed input (B, T, C) and its statistics (B*T) */
    float *mem_mean, *mem_rstd;/* statistics of the normed XL memories (B*M) */
    float *kvin;               /* (B, M+T, C) [norm(mem); h] when M > 0 */
    float *q, *k, *v, *o;      /* post-rotary q (B,T,H*D), k, v (B,S,G*D), attention output (B,T,H*D) */
    float *lse;                /* the attention rows' log-sum-exp (B, H, T), for the backward (training only) */
    float *q_raw, *k_raw;      /* qk_norm: q, k before l2-normalisation (training only) */
    float *dda_y, *dda_c;      /* data-dependent ALiBi: h @ to_forget_gates^T (B, T, O), its gates (B, O, T) */
    float *gate;               /* gate_values: gate logits h @ to_v_gate^T (B, T, H*D), (B, T, H) headwise */
    float *hgate;              /* gate_value_heads: per-head gate logits h @ to_v_head_gate^T + bias (B, T, H) */
    float *gd, *ga;            /* gate_values_rank: h @ down^T (B, T, rank) and its activation */
    float *u;                  /* output_gate: o after head_scale and the per-head gate (B, T, H*D) */
    float *ogate, *ogd, *oga;  /* output_gate: its logits (B, T, H*D or H); with a rank u @ down^T and activation */
    float *og;                 /* head_scale / gate_values: the output to_out reads (training only; else o in place) */
    /* polar_pos_emb, self-attention: q, k, v as attention reads them, every head 2 D wide (B, T, H*2D),
     * (B, S, H*2D): one key head per query head (the phase is per query head), v zero-padded to 2 D;
     * op (B, T, H*2D) the output whose first D features of each head are o */
    float *qp, *kp, *vp, *op;
    float *rp_w, *rp_curves;   /* rel_proj_pos_bias: projected query inputs (B, T, H*R), curves (B, H, T, W) */
    float *knew, *vnew;        /* with a KV cache: this call's projections (B, M+T, G*D) */
    float *qkv;                /* with a KV cache: fused q|k|v projections (B*T, H*D + 2*G*D) */
    float *ff1, *ffa;          /* feed-forward pre-activation and activation */
    float *ffn, *ffn_mean, *ffn_rstd; /* ff_post_act_ln: the normed activation (N, I) and its statistics */
    /* the end of the branch, kept for the backward (training only; otherwise the norms run in place) */
    float *y_raw, *sw_mean, *sw_rstd;     /* sandwich_norm: branch output (N, C) before its norm */
    float *y_ls;                          /* use_layerscale: branch output (N, C) before its scales */
    /* gate_residual: the GRU's input projections gi = y2 W_ih^T + b_ih and gh = h W_hh^T + b_hh
     * (N, 3C), its hidden input h = x * residual_scale (N, C), and (training) its input y2 (N, C) */
    float *gru_gi, *gru_gh, *gru_h, *gru_y;
    /* residual_attn / cross_residual_attn: this layer's pre-softmax logits (B, H, T, K + S), which
     * the next self- (cross-) attention adds to its own; at inference one buffer per kind,
     * updated in place by every layer */
    float *self_logits, *cross_logits;
    float *x_sum, *post_mean, *post_rstd; /* post-norm: x_in + branch output (N, C) before the norm */
};

/* Scratch planned from (config, B, T, M, S_ctx, training) before the computation. */
struct xtc_stack_bufs {
    bool train;
    struct xtc_sub_acts shared;
    struct xtc_sub_acts *acts; /* n_sub entries when training, else NULL (all use `shared`) */
    float *final_in, *final_mean, *final_rstd;
    float *y, *scratch, *memk;
    size_t scratch_per;        /* floats of scratch per thread (attention of one (b, h) in a decoding step) */
    uint8_t *key_mask;         /* (B, S) for self-attention */
    int64_t *self_pos, *ctx_pos; /* positions behind the rotary tables */
    struct xtc_rotary_tables self_rt, ctx_rt;
    float *bias_table;         /* the bias scheme's per-call table (e.g. T5 by relative distance), or NULL */
    /* single-region decoding (stack_decode.c): dec_threads private normed inputs (B*T, C) */
    int dec_threads;
    float *dec_h;
    /* backward scratch (training only) */
    float *ddda_y, *ddda_c;    /* data-dependent ALiBi: gradients of dda_y and dda_c */
    float *dgru, *dgy; /* gate_residual: d/d(gi, gh) (N, 6C) and d/dy2 (N, C) */
    float *dlogits[2][2]; /* residual attention: [self, cross] x two gradients of logits (B, H, T, K + S) */
    float *dqp, *dkp, *dvp, *dop; /* polar_pos_emb: gradients of qp, kp, vp, op */
    float *drp_curves, *drp_w;    /* rel_proj_pos_bias: gradients of rp_curves, rp_w */
    float *dres, *dh, *dtmp, *dq, *dk, *dv, *dout, *dkvin, *dff1, *dffa, *dffn, *dmemk, *dbias, *dmem;
    float *dhgate; /* gate_value_heads: the per-head gate logits' gradient (N, H) */
    float *dlr;    /* low-rank gates: the gradients of the low-rank activations and pre-activations (2, N, rank) */
    float *dogate; /* output_gate: its logits' gradient (N, H*D) */
};

/* Where backward puts the gradients: the parameter grad block (same layout as the
 * parameter block: grad of data[i] is grad[i]) and optional input grads. */
struct xtc_stack_grads {
    const float *params; /* base of the parameter block */
    float *grads;        /* base of the gradient block (accumulated) */
    float *dcontext;     /* (B, S_ctx, dim_context) accumulated, or NULL */
    float *const *dmems; /* n_self (B, M, C) overwritten, or NULL */
    /* Called as each sub-layer's parameter gradients become complete (last sub-layer first),
     * or NULL: a data-parallel trainer starts summing them across processes meanwhile. */
    void (*layer_done)(void *user, int sub);
    void *user;
};

/* Positions [pos_lo, pos_hi) get precomputed rotary tables (those the model's calls use). */
xtc_status xtc_stack_init(struct xtc_stack *s, const struct xtc_layers_config *c, int64_t pos_lo, int64_t pos_hi,
                          struct xtc_error *err);
void xtc_stack_free(struct xtc_stack *s);

/* Checks the checkpoint's persistent buffers against the tables the config implies. */
xtc_status xtc_stack_check_buffers(const struct xtc_stack *s, struct xtc_error *err);

void xtc_stack_plan(const struct xtc_stack *s, const struct xtc_stack_io *io, bool train, struct xtc_arena *a,
                    struct xtc_stack_bufs *bufs);
void xtc_stack_forward(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bufs);

/* The end of the stack, after the last sub-layer: the optional output soft clamp, then the
 * final norm (x in place; final_in keeps its input when training). */
void xtc_stack_final(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bf);

/* Shared by forward and backward (stack.c): the stack's norm (cfg.norm) with gain w (one of
 * the sub-layers' norm slots or the final norm), over N rows of C; in place allowed. */
struct xtc_norm_gain xtc_stack_norm_gain(const struct xtc_stack *s, const float *w);
void xtc_stack_norm(const struct xtc_stack *s, float *out, float *mean, float *rstd, const float *inp, const float *w,
                    int64_t N);
struct xtc_attn_params xtc_stack_attn_params(const struct xtc_stack *s, const struct xtc_sublayer *L,
                                             const struct xtc_stack_io *io, const struct xtc_stack_bufs *bf,
                                             int self_idx);
/* The key mask of self-attention layer self_idx (its XL memory mask, visible cache rows, the
 * padding mask, left padding), filled into bf->key_mask; NULL when every key is visible. */
const uint8_t *xtc_stack_self_key_mask(const struct xtc_stack_io *io, const struct xtc_stack_bufs *bf, int self_idx);
/* The same with the key mask given (self-attention: xtc_stack_self_key_mask's). */
struct xtc_attn_params xtc_stack_attn_params_masked(const struct xtc_stack *s, const struct xtc_sublayer *L,
                                                    const struct xtc_stack_io *io, const struct xtc_stack_bufs *bf,
                                                    const uint8_t *key_mask);

/* The data-dependent ALiBi of self-attention sub-layer L for a call of T rows (table pointers
 * from A; on false without it). */
struct xtc_dda xtc_stack_dda(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_sub_acts *A,
                             int64_t T);

/* Self-attention with polar_pos_emb (stack.c): A->q (B, T, H*D) and A->k, A->v (B, S, G*D),
 * after qk-norm, become A->qp, kp, vp (heads of 2 D, one key head per query head), the
 * attention (params p of the layer) runs on them into A->op, whose first D features per head
 * are copied to A->o. xtc_stack_polar_params: p as that attention reads it. */
/* rel_proj_pos_bias of sub-layer L (stack.c): A->rp_w and A->rp_curves from A->h, and p reading them
 * (nothing without the bias). The distances kept: min(max_dist, S). */
void xtc_stack_relproj(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_stack_io *io,
                       struct xtc_sub_acts *A, struct xtc_attn_params *p);
static inline int64_t xtc_stack_relproj_W(const struct xtc_stack *s, int64_t S) {
    return s->cfg.rel_proj_max_dist < S ? s->cfg.rel_proj_max_dist : S;
}

void xtc_stack_polar_attention(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_sub_acts *A,
                               const struct xtc_attn_params *p, float *scratch);
struct xtc_attn_params xtc_stack_polar_params(const struct xtc_attn_params *p);

/* Decoding steps (stack_decode.c): whether a call can take the single-region path (planned
 * when it can), and the forward through it, final norm included. */
bool xtc_stack_decode_ok(const struct xtc_stack *s, const struct xtc_stack_io *io, bool train);
void xtc_stack_decode(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bufs);

/* Backward of the last training forward with the same io and bufs: dx (B, T, C) holds the
 * gradient of the stack output on entry and of its input x on return. */
void xtc_stack_backward(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bufs,
                        float *dx, const struct xtc_stack_grads *g);

#endif
