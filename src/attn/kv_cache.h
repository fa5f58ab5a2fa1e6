/* KV cache (private layout; the API is in xtc/generate.h). */
#ifndef XTC_KV_CACHE_H
#define XTC_KV_CACHE_H

#include <stdbool.h>
#include <stdint.h>

struct xtc_model;

struct xtc_kv_cache {
    const struct xtc_model *model; /* the model it was made for */
    int n_layers;                  /* self-attention layers */
    int64_t B, cap, len, GD;       /* batch, capacity and length in tokens, kv width G*D */
    float **k, **v;                /* n_layers tensors (rows, cap, G*D), pre-rotary; rows >= B */
    int64_t rows;                  /* rows allocated in k, v */
    /* xtc_kv_cache_reorder gathers rows into these and swaps them with k, v (beam search reorders
     * every step: no allocation after the first) */
    float **k_spare, **v_spare;
    int64_t spare_rows;
    /* cross-attention: the context's keys/values, computed at the first step and reused (the
     * encoder output does not change while decoding) */
    int n_cross;
    int64_t ctx_len;
    float **xk, **xv;              /* n_cross tensors (B, ctx_len, G*D), pre-rotary */
    bool cross_ready;
};

#include "xtc/status.h"

/* Makes room for the cross-attention keys/values of a context of ctx_len positions. */
xtc_status xtc_kv_cache_prepare_cross(struct xtc_kv_cache *c, int64_t ctx_len, struct xtc_error *err);

#endif
