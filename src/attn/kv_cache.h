/* KV cache (private layout; the API is in xtc/generate.h). */
#ifndef XTC_KV_CACHE_H
#define XTC_KV_CACHE_H

#include <stdint.h>

struct xtc_model;

struct xtc_kv_cache {
    const struct xtc_model *model; /* the model it was made for */
    int n_layers;                  /* self-attention layers */
    int64_t B, cap, len, GD;       /* batch, capacity and length in tokens, kv width G*D */
    float **k, **v;                /* n_layers tensors (B, cap, G*D), pre-rotary */
};

#endif
