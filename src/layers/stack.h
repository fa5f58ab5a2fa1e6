/* The attention stack (x-transformers AttentionLayers: Encoder, Decoder,
 * CrossAttender): pre-norm residual sub-layers, then a final norm.
 * Shape letters: B batch, T sequence (memory tokens included), C dim,
 * M XL memory length, S keys, H heads, G kv heads, D head dim. */
#ifndef XTC_STACK_H
#define XTC_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "pos/pos.h"
#include "xtc/config.h"

enum xtc_sub_kind { XTC_SUB_SELF, XTC_SUB_CROSS, XTC_SUB_FF };

struct xtc_sublayer {
    enum xtc_sub_kind kind;
    float *norm;              /* (C) LayerNorm gamma or RMSNorm g (unit offset) */
    float *wq, *wk, *wv, *wo; /* (H*D, C), (G*D, Cin), (G*D, Cin), (C, H*D) or NULL with one head */
    float *mem_k, *mem_v;     /* (G, K, D) or NULL */
    float *w1, *b1, *w2, *b2; /* (inner or 2*inner, C), (.), (C, inner), (C) */
};

struct xtc_stack {
    struct xtc_layers_config cfg;
    int n_sub, n_self;
    struct xtc_sublayer *sub;
    float *final_norm;      /* (C) */
    float *t5_emb;          /* (num_buckets, H) */
    float *inv_freq_buf;    /* checkpoint buffer rotary_pos_emb.inv_freq (n_freq) */
    float *xpos_scale_buf;  /* checkpoint buffer rotary_pos_emb.scale (n_freq) */
    struct xtc_rotary rotary;
    float *alibi_slopes;    /* (H), owned */
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
};

/* Scratch planned from (config, B, T, M, S_ctx) before the computation. */
struct xtc_stack_bufs {
    float *h, *kvin, *q, *k, *v, *o, *y, *ff1, *ffa, *scratch, *memk;
    uint8_t *key_mask;
    float *self_cos, *self_sin, *self_qfac, *self_kfac;
    float *ctx_cos, *ctx_sin, *ctx_kfac;
    int64_t *self_pos, *ctx_pos;
    float *t5;
};

xtc_status xtc_stack_init(struct xtc_stack *s, const struct xtc_layers_config *c, struct xtc_error *err);
void xtc_stack_free(struct xtc_stack *s);

/* Checks the checkpoint's persistent buffers against the tables the config implies. */
xtc_status xtc_stack_check_buffers(const struct xtc_stack *s, struct xtc_error *err);

void xtc_stack_plan(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_arena *a,
                    struct xtc_stack_bufs *bufs);
void xtc_stack_forward(const struct xtc_stack *s, const struct xtc_stack_io *io, const struct xtc_stack_bufs *bufs);

#endif
