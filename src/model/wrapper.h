/* TransformerWrapper (and bare stacks) forward, private. */
#ifndef XTC_WRAPPER_H
#define XTC_WRAPPER_H

#include "model/model.h"

struct xtc_net_bufs {
    float *x;        /* (B, Tt, C) residual stream */
    uint8_t *mask;   /* (B, Tt) padding mask with memory tokens, or NULL */
    float *out;      /* (B, T, V or C) */
    float **hiddens; /* with return_mems: n_self (B, Tt, C) */
    float **mems;    /* with return_mems: n_self (B, L, C) */
    struct xtc_stack_bufs stack;
};

int64_t xtc_net_out_dim(const struct xtc_net *net);
int64_t xtc_net_mem_out_len(const struct xtc_net *net, const struct xtc_inputs *in);
void xtc_net_plan(const struct xtc_net *net, const struct xtc_inputs *in, struct xtc_arena *a,
                  struct xtc_net_bufs *bufs);
void xtc_net_forward(const struct xtc_net *net, const struct xtc_inputs *in, const struct xtc_net_bufs *bufs);

#endif
