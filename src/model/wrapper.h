/* TransformerWrapper (and bare stacks) forward, private. */
#ifndef XTC_WRAPPER_H
#define XTC_WRAPPER_H

#include "layers/stack.h"
#include "xtc/model.h"

struct xtc_net;

struct xtc_net_bufs {
    float *x;        /* (B, Tt, C) residual stream */
    uint8_t *mask;   /* (B, Tt) padding mask with memory tokens, or NULL */
    float *out;      /* (B, T, V or C) */
    float **hiddens; /* with return_mems: n_self (B, Tt, C) */
    float **mems;    /* with return_mems: n_self (B, L, C) */
    struct xtc_stack_bufs stack;
    struct xtc_stack_io io; /* the stack call of the last forward, for backward */
    float *dx;              /* training: (B, Tt, C) gradient of the stack input */
    float **dmems;          /* training with mems: n_self (B, M, C) */
    float *head_in;         /* training with a scaled tied head: (T, C) scaled output rows of one batch row */
    /* embeddings of width E = emb_dim that do not go straight into x (emb_dim != dim,
     * post_emb_norm or l2norm_embed) */
    float *emb;             /* (B, T, E) token + position embeddings */
    float *emb_n;           /* post_emb_norm: (B, T, E) its output; emb_mean, emb_rstd (B*T) */
    float *emb_mean, *emb_rstd;
    float *tok_raw;         /* training with l2norm_embed: (B, T, E) token embeddings before l2norm */
    float *emb_vec;         /* (E): zeros for the norm, a position row, a sink for gradients */
    float *emb_zero;        /* (E) zeros: the unit-offset LayerNorm with a zero gain is the plain normalisation */
    float *demb, *demb2;    /* training: (B, T, E) gradients */
    float *dxin;            /* training, ContinuousTransformerWrapper: (B, T, dim_in) gradient of the float input */
};

int64_t xtc_net_out_dim(const struct xtc_net *net);
int64_t xtc_net_mem_out_len(const struct xtc_net *net, const struct xtc_inputs *in);
void xtc_net_plan(const struct xtc_net *net, const struct xtc_inputs *in, bool train, struct xtc_arena *a,
                  struct xtc_net_bufs *bufs);
/* Backward of the last training forward: dout is (B, T, out_dim); parameter gradients go to
 * the block of g, d context is accumulated into g->dcontext when set. */
void xtc_net_backward(const struct xtc_net *net, const struct xtc_inputs *in, struct xtc_net_bufs *bufs,
                      const float *dout, const struct xtc_stack_grads *g);
void xtc_net_forward(const struct xtc_net *net, const struct xtc_inputs *in, struct xtc_net_bufs *bufs);

#endif
