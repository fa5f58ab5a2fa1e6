/* KV cache: per self-attention layer, the pre-rotary keys and values of the
 * tokens seen so far, (B, capacity, G*D) each. The attention stack appends a
 * call's keys/values and reads the earlier ones (stack.c); rotary and XPOS are
 * re-applied to all keys every step, as x-transformers does. Beam search
 * regathers the rows by parent beam (xtc_kv_cache_reorder). */
#include "attn/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/status.h"
#include "model/model.h"
#include "xtc/generate.h"

/* Per-layer key and value buffers of `floats` each, for self- and cross-attention alike:
 * false (with whatever was allocated left for free_layers) when memory runs out. */
static bool alloc_layers(float ***k, float ***v, int n, size_t floats) {
    *k = calloc((size_t)(n ? n : 1), sizeof(float *));
    *v = calloc((size_t)(n ? n : 1), sizeof(float *));
    bool ok = *k && *v;
    for (int l = 0; ok && l < n; l++) {
        (*k)[l] = malloc(sizeof(float) * floats);
        (*v)[l] = malloc(sizeof(float) * floats);
        ok = (*k)[l] && (*v)[l];
    }
    return ok;
}

static void free_layers(float ***k, float ***v, int n) {
    for (int l = 0; l < n; l++) {
        if (*k)
            free((*k)[l]);
        if (*v)
            free((*v)[l]);
    }
    free(*k);
    free(*v);
    *k = *v = NULL;
}

xtc_status xtc_kv_cache_create(xtc_kv_cache_t *out, const struct xtc_model *m, int64_t batch, int64_t capacity,
                               struct xtc_error *err) {
    if (!out || !m || batch < 1 || capacity < 1 || batch > (1 << 20) || capacity > (1 << 24))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_kv_cache_create: invalid arguments");
    *out = NULL;
    const struct xtc_net_config *c = &m->cfg.net;
    if (c->has_wrapper && c->wrap.num_memory_tokens > 0)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "a KV cache cannot be used with memory tokens (x-transformers disables it too)");
    if (!c->layers.causal)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "a KV cache needs a causal model (Decoder)");
    if (c->layers.dda)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "a KV cache cannot be used with attn_data_dependent_alibi: x-transformers' "
                 "cached steps see only their own rows (their bias is 0) and differ from the model; generation runs "
                 "uncached");
    size_t floats;
    int64_t GD = (int64_t)c->layers.kv_heads * c->layers.dim_head;
    if (xtc_mul_overflow(batch * capacity, GD, &floats) || floats > SIZE_MAX / sizeof(float))
        XTC_FAIL(err, XTC_ERR_ARG, "a KV cache of %lld rows x %lld tokens x %lld features is too large",
                 (long long)batch, (long long)capacity, (long long)GD);
    struct xtc_kv_cache *kc = calloc(1, sizeof *kc);
    if (!kc)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating a KV cache");
    kc->model = m;
    kc->n_layers = m->net.stack.n_self;
    kc->B = batch;
    kc->cap = capacity;
    kc->GD = (int64_t)c->layers.kv_heads * c->layers.dim_head;
    kc->n_cross = c->layers.cross_attend ? c->layers.depth : 0;
    kc->rows = batch;
    if (!alloc_layers(&kc->k, &kc->v, kc->n_layers, floats)) {
        xtc_kv_cache_free(kc);
        XTC_FAIL(err, XTC_ERR_NOMEM,
                 "out of memory allocating a KV cache of %lld rows x %lld tokens (%zu bytes per layer)",
                 (long long)batch, (long long)capacity, 2 * sizeof(float) * floats);
    }
    *out = kc;
    return XTC_OK;
}

static void free_cross(struct xtc_kv_cache *c) {
    free_layers(&c->xk, &c->xv, c->n_cross);
    c->cross_ready = false;
}

xtc_status xtc_kv_cache_prepare_cross(struct xtc_kv_cache *c, int64_t ctx_len, struct xtc_error *err) {
    if (c->n_cross == 0)
        return XTC_OK;
    if (c->cross_ready) {
        if (ctx_len != c->ctx_len)
            XTC_FAIL(err, XTC_ERR_SHAPE, "the context changed length (%lld, cached %lld): reset the KV cache",
                     (long long)ctx_len, (long long)c->ctx_len);
        return XTC_OK;
    }
    if (c->xk && c->ctx_len == ctx_len)
        return XTC_OK;
    free_cross(c);
    /* B x ctx_len was bounded by the forward call's checks (2^28 rows) */
    if (!alloc_layers(&c->xk, &c->xv, c->n_cross, (size_t)(c->B * ctx_len * c->GD))) {
        free_cross(c);
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the cross-attention cache of a %lld-token context",
                 (long long)ctx_len);
    }
    c->ctx_len = ctx_len;
    return XTC_OK;
}

void xtc_kv_cache_free(xtc_kv_cache_t c) {
    if (!c)
        return;
    free_cross(c);
    free_layers(&c->k, &c->v, c->n_layers);
    free_layers(&c->k_spare, &c->v_spare, c->n_layers);
    free(c);
}

int64_t xtc_kv_cache_len(const struct xtc_kv_cache *c) { return c ? c->len : 0; }

void xtc_kv_cache_reset(xtc_kv_cache_t c) {
    if (c) {
        c->len = 0;
        c->cross_ready = false;
    }
}

void xtc_kv_cache_keep_last(xtc_kv_cache_t c, int64_t n) {
    if (!c || n >= c->len)
        return;
    if (n < 0)
        n = 0;
    int64_t drop = c->len - n;
    for (int l = 0; l < c->n_layers; l++)
        for (int64_t b = 0; b < c->B; b++) {
            float *kb = c->k[l] + b * c->cap * c->GD, *vb = c->v[l] + b * c->cap * c->GD;
            memmove(kb, kb + drop * c->GD, sizeof(float) * (size_t)(n * c->GD));
            memmove(vb, vb + drop * c->GD, sizeof(float) * (size_t)(n * c->GD));
        }
    c->len = n;
}

/* Copies rows parent[r] of src (rows of `stride` floats, the first `used` of them filled) to row r
 * of dst, for r < batch. */
static void gather_rows(float *dst, const float *src, const int64_t *parent, int64_t batch, int64_t stride,
                        int64_t used) {
    for (int64_t r = 0; r < batch; r++)
        memcpy(dst + r * stride, src + parent[r] * stride, sizeof(float) * (size_t)used);
}

xtc_status xtc_kv_cache_reorder(xtc_kv_cache_t c, const int64_t *parent, int64_t batch, struct xtc_error *err) {
    if (!c || !parent || batch < 1 || batch > (1 << 20))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_kv_cache_reorder: invalid arguments");
    for (int64_t r = 0; r < batch; r++)
        if (parent[r] < 0 || parent[r] >= c->B)
            XTC_FAIL(err, XTC_ERR_ARG, "xtc_kv_cache_reorder: parent[%lld] = %lld is not a row of the cache (%lld rows)",
                     (long long)r, (long long)parent[r], (long long)c->B);
    /* the cache was created with these per-row sizes checked, but batch may now exceed its rows */
    size_t self_floats, cross_floats = 0;
    if (xtc_mul3_overflow((size_t)batch, (size_t)c->cap, (size_t)c->GD, &self_floats) ||
        self_floats > SIZE_MAX / sizeof(float) ||
        xtc_mul3_overflow((size_t)batch, (size_t)c->ctx_len, (size_t)c->GD, &cross_floats) ||
        cross_floats > SIZE_MAX / sizeof(float))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_kv_cache_reorder: %lld rows x %lld tokens x %lld features is too large",
                 (long long)batch, (long long)(c->cap > c->ctx_len ? c->cap : c->ctx_len), (long long)c->GD);
    /* everything that can fail comes first, so that a failure leaves the cache as it was */
    float **xk = NULL, **xv = NULL;
    if (c->xk && !alloc_layers(&xk, &xv, c->n_cross, cross_floats)) {
        free_layers(&xk, &xv, c->n_cross);
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the cross-attention cache of %lld rows",
                 (long long)batch);
    }
    if (c->spare_rows < batch) {
        free_layers(&c->k_spare, &c->v_spare, c->n_layers);
        c->spare_rows = 0;
        if (!alloc_layers(&c->k_spare, &c->v_spare, c->n_layers, self_floats)) {
            free_layers(&c->k_spare, &c->v_spare, c->n_layers);
            free_layers(&xk, &xv, c->n_cross);
            XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating a KV cache of %lld rows", (long long)batch);
        }
        c->spare_rows = batch;
    }
    /* self-attention: the first len positions of each row, gathered into the spare buffers, which
     * then become the cache (x-transformers: t[parent_beam_indices] on every cached k and v) */
    int64_t stride = c->cap * c->GD;
    for (int l = 0; l < c->n_layers; l++) {
        gather_rows(c->k_spare[l], c->k[l], parent, batch, stride, c->len * c->GD);
        gather_rows(c->v_spare[l], c->v[l], parent, batch, stride, c->len * c->GD);
    }
    float **tk = c->k, **tv = c->v;
    int64_t trows = c->rows;
    c->k = c->k_spare, c->v = c->v_spare, c->rows = c->spare_rows;
    c->k_spare = tk, c->v_spare = tv, c->spare_rows = trows;
    /* cross-attention: the context's keys/values, whole rows */
    if (xk) {
        for (int l = 0; l < c->n_cross; l++) {
            gather_rows(xk[l], c->xk[l], parent, batch, c->ctx_len * c->GD, c->ctx_len * c->GD);
            gather_rows(xv[l], c->xv[l], parent, batch, c->ctx_len * c->GD, c->ctx_len * c->GD);
        }
        free_layers(&c->xk, &c->xv, c->n_cross);
        c->xk = xk, c->xv = xv;
    }
    c->B = batch;
    return XTC_OK;
}
