/* Models: loading (config -> parameter table -> validated checkpoint), the
 * parameter accessors, and the validation of every call's inputs at the public
 * boundary (the calls themselves run in a context: context.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "model/model.h"
#include "model/wrapper.h"
#include "attn/kv_cache.h"
#include "ops/ops.h"
#include "xtc/file.h"
#include "xtc/safetensors.h"

#define MAX_BATCH XTC_MAX_BATCH
#define MAX_LEN XTC_MAX_LEN
#define MAX_ROWS XTC_MAX_ROWS

/* ------------------------------------------------------------------ loading */

static void build_params(struct xtc_model *m, struct xtc_param_builder *b) {
    bool xt = m->cfg.model_class == XTC_MODEL_XTRANSFORMER;
    if (xt) {
        snprintf(b->prefix, sizeof b->prefix, "encoder.");
        xtc_net_params(b, &m->enc);
        snprintf(b->prefix, sizeof b->prefix, "decoder.net.");
    }
    xtc_net_params(b, &m->net);
    b->prefix[0] = '\0';
}

static void format_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t at = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < n)
        snprintf(buf + at, n - at, "]");
}

/* Every parameter present as F32 with its exact shape; nothing unexpected. */
static xtc_status check_checkpoint(const struct xtc_model *m, const struct xtc_safetensors *st,
                                   struct xtc_error *err) {
    for (int i = 0; i < m->n_params; i++) {
        const struct xtc_param *p = &m->params[i];
        const struct xtc_safetensors_entry *e = xtc_safetensors_find(st, p->name);
        char want[96], got[96];
        format_shape(want, sizeof want, p->ndim, p->shape);
        if (!e) {
            if (p->is_buffer)
                continue; /* persistent buffers can be recomputed from the config */
            XTC_FAIL(err, XTC_ERR_FORMAT, "missing parameter %s %s", p->name, want);
        }
        if (e->dtype != XTC_DTYPE_F32)
            XTC_FAIL(err, XTC_ERR_FORMAT, "parameter %s is %s; model weights must be F32", p->name,
                     xtc_dtype_name(e->dtype));
        bool same = e->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++)
            same = e->shape[d] == p->shape[d];
        if (!same) {
            format_shape(got, sizeof got, e->ndim, e->shape);
            XTC_FAIL(err, XTC_ERR_SHAPE, "parameter %s has shape %s but the configuration implies %s", p->name, got,
                     want);
        }
    }
    for (size_t i = 0; i < xtc_safetensors_count(st); i++) {
        const struct xtc_safetensors_entry *e = xtc_safetensors_entry(st, i);
        int j = 0;
        while (j < m->n_params && strcmp(m->params[j].name, e->name) != 0)
            j++;
        if (j == m->n_params)
            XTC_FAIL(err, XTC_ERR_FORMAT, "unexpected tensor %s: not a parameter of this configuration", e->name);
    }
    return XTC_OK;
}

static xtc_status init_net(struct xtc_net *net, const struct xtc_net_config *c, struct xtc_error *err) {
    memset(net, 0, sizeof *net);
    net->cfg = *c;
    /* rotary tables for the positions calls use: XL memories from -max_mem_len, the sequence up to
     * max_seq_len (the generation window); bare stacks get a few thousand */
    int64_t lo = c->has_wrapper ? -(int64_t)c->wrap.max_mem_len : 0;
    int64_t hi = c->has_wrapper && c->wrap.max_seq_len > 0 ? c->wrap.max_seq_len : 4096;
    return xtc_stack_init(&net->stack, &c->layers, lo, hi, err);
}

/* Rotary buffers absent from the file are filled from the tables the config implies. */
static void fill_missing_buffers(struct xtc_stack *s) {
    if (s->inv_freq_buf && s->rotary.inv_freq)
        memcpy(s->inv_freq_buf, s->rotary.inv_freq, sizeof(float) * (size_t)s->rotary.n_freq);
    if (s->xpos_scale_buf && s->rotary.xpos_scale)
        memcpy(s->xpos_scale_buf, s->rotary.xpos_scale, sizeof(float) * (size_t)s->rotary.n_freq);
    if (s->polar_inv_freq_buf && s->polar.inv_freq)
        memcpy(s->polar_inv_freq_buf, s->polar.inv_freq, sizeof(float) * (size_t)s->polar.D);
}

/* Pass 1: the parameter table of the configuration, no parameter memory yet. */
static xtc_status build_table(struct xtc_model *m, struct xtc_error *err) {
    struct xtc_param_builder b = {.err = err};
    build_params(m, &b);
    m->params = b.params;
    m->n_params = b.n;
    m->n_trainable = b.total;
    if (b.status == XTC_OK && __builtin_add_overflow(b.total, b.buf_total, &m->n_floats))
        return xtc_error_set(err, XTC_ERR_CONFIG, "model size overflows");
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].is_buffer)
            m->params[i].offset += m->n_trainable;
    return b.status;
}

/* Pass 2: the parameter block, and the nets' pointers into it. */
static xtc_status alloc_params(struct xtc_model *m, struct xtc_error *err) {
    m->data = xtc_alloc_large(sizeof(float) * (m->n_floats ? m->n_floats : 1));
    if (!m->data)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating %zu parameters", m->n_floats);
    struct xtc_param_builder b2 = {.data = m->data, .train_total = m->n_trainable, .err = err};
    build_params(m, &b2);
    free(b2.params);
    fill_missing_buffers(&m->net.stack);
    fill_missing_buffers(&m->enc.stack);
    return XTC_OK;
}

/* A checkpoint's weights must be finite: a NaN or infinity would only surface much later,
 * as NaN logits (and, in generation, token 0 emitted forever). */
static xtc_status check_finite(const struct xtc_param *p, const float *x, struct xtc_error *err) {
    for (size_t i = 0; i < p->numel; i++)
        if (!isfinite(x[i]))
            XTC_FAIL(err, XTC_ERR_FORMAT, "tensor %s holds a non-finite value (%g) at flat index %zu", p->name,
                     (double)x[i], i);
    return XTC_OK;
}

static xtc_status load_weights(struct xtc_model *m, const struct xtc_safetensors *st, struct xtc_error *err) {
    XTC_TRY(build_table(m, err));
    XTC_TRY(check_checkpoint(m, st, err));
    /* Only now, with every shape confirmed by the file, is the block allocated. */
    xtc_status rc = alloc_params(m, err);
    for (int i = 0; i < m->n_params && rc == XTC_OK; i++) {
        const struct xtc_safetensors_entry *e = xtc_safetensors_find(st, m->params[i].name);
        if (e)
            rc = xtc_safetensors_read_f32(e, m->data + m->params[i].offset, err);
        if (e && rc == XTC_OK)
            rc = check_finite(&m->params[i], m->data + m->params[i].offset, err);
    }
    if (rc == XTC_OK)
        rc = xtc_stack_check_buffers(&m->net.stack, err);
    if (rc == XTC_OK && m->cfg.model_class == XTC_MODEL_XTRANSFORMER)
        rc = xtc_stack_check_buffers(&m->enc.stack, err);
    return rc;
}

static xtc_status create(struct xtc_model **out, const char *config_json, size_t config_len, struct xtc_error *err) {
    *out = NULL;
    struct xtc_model *m = calloc(1, sizeof *m);
    if (!m)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the model");
    xtc_status rc = xtc_config_parse(&m->cfg, config_json, config_len, err);
    if (rc == XTC_OK)
        rc = init_net(&m->net, &m->cfg.net, err);
    if (rc == XTC_OK && m->cfg.model_class == XTC_MODEL_XTRANSFORMER)
        rc = init_net(&m->enc, &m->cfg.enc, err);
    m->config_json = rc == XTC_OK ? malloc(config_len + 1) : NULL;
    if (rc == XTC_OK && !m->config_json)
        rc = xtc_error_set(err, XTC_ERR_NOMEM, "out of memory allocating %zu bytes for the configuration",
                           config_len + 1);
    if (rc != XTC_OK) {
        xtc_model_free(m);
        return rc;
    }
    memcpy(m->config_json, config_json, config_len);
    m->config_json[config_len] = '\0';
    m->base.m = m;
    *out = m;
    return XTC_OK;
}

xtc_status xtc_model_load_safetensors(xtc_model_t *out, const char *config_json, size_t config_len,
                                      const struct xtc_safetensors *weights, struct xtc_error *err) {
    if (!out || !config_json || !weights)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_load_safetensors: NULL argument");
    *out = NULL;
    struct xtc_model *m;
    XTC_TRY(create(&m, config_json, config_len, err));
    xtc_status rc = load_weights(m, weights, err);
    if (rc != XTC_OK) {
        xtc_model_free(m);
        return rc;
    }
    *out = m;
    return XTC_OK;
}

xtc_status xtc_model_load(xtc_model_t *out, const char *config_json, size_t config_len, const char *safetensors_path,
                          struct xtc_error *err) {
    if (!out || !config_json || !safetensors_path)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_load: NULL argument");
    *out = NULL;
    xtc_safetensors_t st = NULL;
    xtc_status rc = xtc_safetensors_open(&st, safetensors_path, err);
    if (rc == XTC_OK)
        rc = xtc_model_load_safetensors(out, config_json, config_len, st, err);
    xtc_safetensors_free(st);
    /* errors of the weights name the file; configuration errors stand alone */
    if (rc != XTC_OK && rc != XTC_ERR_CONFIG)
        xtc_error_prefix(err, "%s: ", safetensors_path);
    return rc;
}

xtc_status xtc_model_create(xtc_model_t *out, const char *config_json, size_t config_len, uint64_t seed,
                            struct xtc_error *err) {
    if (!out || !config_json)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_create: NULL argument");
    *out = NULL;
    struct xtc_model *m;
    XTC_TRY(create(&m, config_json, config_len, err));
    xtc_status rc = build_table(m, err);
    if (rc == XTC_OK)
        rc = alloc_params(m, err);
    if (rc != XTC_OK) {
        xtc_model_free(m);
        return rc;
    }
    xtc_params_init(m, seed);
    *out = m;
    return XTC_OK;
}

const char *xtc_model_config_json(const struct xtc_model *m) { return m->config_json; }

xtc_status xtc_model_load_dir(xtc_model_t *out, const char *dir, struct xtc_error *err) {
    if (!out || !dir)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_load_dir: NULL argument");
    char cpath[4096], wpath[4096];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
    size_t len = 0;
    char *json = xtc_file_read_text(cpath, (size_t)64 << 20, &len, err);
    if (!json)
        return err ? err->code : XTC_ERR_IO;
    xtc_status rc = xtc_model_load(out, json, len, wpath, err);
    if (rc != XTC_OK && rc != XTC_ERR_IO && rc != XTC_ERR_FORMAT && rc != XTC_ERR_SHAPE)
        xtc_error_prefix(err, "%s: ", cpath);
    free(json);
    return rc;
}

void xtc_model_free(xtc_model_t m) {
    if (!m)
        return;
    xtc_stack_free(&m->net.stack);
    xtc_stack_free(&m->enc.stack);
    free(m->params);
    free(m->data);
    free(m->grad);
    xtc_model_drop_decode_weights(m);
    free(m->config_json);
    xtc_context_release(&m->base);
    free(m);
}

const struct xtc_config *xtc_model_config(const struct xtc_model *m) { return &m->cfg; }

int64_t xtc_model_num_params(const struct xtc_model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        n += m->params[i].is_buffer ? 0 : (int64_t)m->params[i].numel;
    return n;
}

int xtc_model_param_count(const struct xtc_model *m) { return m->n_params; }

struct xtc_param_info xtc_model_param(const struct xtc_model *m, int i) {
    struct xtc_param_info info = {0};
    if (i < 0 || i >= m->n_params)
        return info;
    const struct xtc_param *p = &m->params[i];
    info.name = p->name;
    info.ndim = p->ndim;
    memcpy(info.shape, p->shape, sizeof info.shape);
    info.data = m->data + p->offset;
    info.grad = m->grad && !p->is_buffer ? m->grad + p->offset : NULL;
    info.is_buffer = p->is_buffer;
    return info;
}

float *xtc_model_param_data(xtc_model_t m, int i) {
    return m && i >= 0 && i < m->n_params ? m->data + m->params[i].offset : NULL;
}

float *xtc_model_param_grad(xtc_model_t m, int i) {
    if (!m || i < 0 || i >= m->n_params || !m->grad || m->params[i].is_buffer)
        return NULL;
    return m->grad + m->params[i].offset;
}

/* ------------------------------------------------------------------ input validation */

static xtc_status check_tokens(const int64_t *ids, int64_t n, int64_t V, const char *what, struct xtc_error *err) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            XTC_FAIL(err, XTC_ERR_ARG, "%s[%lld] = %lld is not a token id (num_tokens %lld: valid ids 0..%lld)", what,
                     (long long)i, (long long)ids[i], (long long)V, (long long)V - 1);
    return XTC_OK;
}

#define MAX_POSITION ((int64_t)1 << 40)

static xtc_status check_positions(const int64_t *pos, int64_t n, const char *what, struct xtc_error *err) {
    for (int64_t i = 0; pos && i < n; i++)
        if (pos[i] < -MAX_POSITION || pos[i] > MAX_POSITION)
            XTC_FAIL(err, XTC_ERR_ARG, "%s[%lld] = %lld is outside the supported positions (|p| <= 2^40)", what,
                     (long long)i, (long long)pos[i]);
    return XTC_OK;
}

xtc_status xtc_net_check_inputs(const struct xtc_net *net, const struct xtc_inputs *in, bool tokens_checked,
                                   bool context_from_encoder, struct xtc_error *err) {
    const struct xtc_net_config *c = &net->cfg;
    const struct xtc_layers_config *lc = &c->layers;
    int64_t B = in->batch, T = in->len;
    if (B < 1 || B > MAX_BATCH || T < 1 || T > MAX_LEN || B * T > MAX_ROWS)
        XTC_FAIL(err, XTC_ERR_ARG, "batch %lld x length %lld is out of range", (long long)B, (long long)T);
    int64_t R = c->has_wrapper ? c->wrap.num_memory_tokens : 0, Tt = T + R;
    if (B * Tt > MAX_ROWS)
        XTC_FAIL(err, XTC_ERR_ARG, "batch %lld x (length %lld + %lld memory tokens) = %lld rows exceeds 2^28",
                 (long long)B, (long long)T, (long long)R, (long long)(B * Tt));
    if (c->has_wrapper && c->wrap.continuous) {
        if (!in->x || in->tokens)
            XTC_FAIL(err, XTC_ERR_ARG, "this model takes float inputs (x: float (batch, len, %d))", c->wrap.dim_in);
        if (in->cache)
            XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "ContinuousTransformerWrapper calls take no KV cache");
        if (c->wrap.use_abs_pos_emb && !c->wrap.scaled_sinu_pos_emb && T > c->wrap.max_seq_len)
            XTC_FAIL(err, XTC_ERR_SHAPE,
                     "sequence length %lld exceeds max_seq_len %d of the absolute positional embedding", (long long)T,
                     c->wrap.max_seq_len);
    } else if (c->has_wrapper) {
        if (!in->tokens)
            XTC_FAIL(err, XTC_ERR_ARG, "this model takes token ids (x: int64 (batch, len))");
        if (!tokens_checked)
            XTC_TRY(check_tokens(in->tokens, B * T, c->wrap.num_tokens, "x", err));
        if (c->wrap.use_abs_pos_emb && !c->wrap.scaled_sinu_pos_emb && T > c->wrap.max_seq_len)
            XTC_FAIL(err, XTC_ERR_SHAPE, "sequence length %lld exceeds max_seq_len %d of the absolute positional embedding",
                     (long long)T, c->wrap.max_seq_len);
    } else if (!in->x) {
        XTC_FAIL(err, XTC_ERR_ARG, "this model takes embeddings (x: float (batch, len, dim))");
    }
    /* memories */
    int n_self = net->stack.n_self;
    int64_t M = in->n_mems > 0 ? in->mem_len : 0;
    if (in->n_mems != 0 && in->n_mems != n_self)
        XTC_FAIL(err, XTC_ERR_SHAPE, "mems: got %d tensors, the model has %d self-attention layers", in->n_mems, n_self);
    if (in->n_mems > 0) {
        if (in->mem_len < 0 || in->mem_len > MAX_LEN || !in->mems)
            XTC_FAIL(err, XTC_ERR_ARG, "mems: invalid memory length %lld", (long long)in->mem_len);
        for (int l = 0; l < in->n_mems; l++)
            if (!in->mems[l])
                XTC_FAIL(err, XTC_ERR_ARG, "mems.%d is NULL", l);
    }
    if (in->mem_masks && in->n_mems == 0)
        XTC_FAIL(err, XTC_ERR_ARG, "mem_masks given without mems");
    /* data-dependent ALiBi's bias covers the call's own rows: x-transformers fails on memories
     * (a shape error), and with a KV cache its decoding steps get a 1 x 1 bias of 0 that spreads
     * over every key, so cached decoding is not the model (generation runs uncached instead) */
    if (lc->dda && M > 0)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "attn_data_dependent_alibi with Transformer-XL memories: x-transformers fails "
                 "(its bias covers the %lld new keys, not the %lld memories before them)", (long long)in->len,
                 (long long)M);
    if (lc->dda && in->cache)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "attn_data_dependent_alibi with a KV cache: x-transformers' cached steps see "
                 "only their own rows (the bias of a step is 0) and differ from the model; call without the cache");
    /* PolarEmbedding takes the positions of this call's tokens only (arange(n + cache length)),
     * so x-transformers' broadcast of n angles over M + n keys fails */
    if (lc->polar && M > 0)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "polar_pos_emb with Transformer-XL mems fails in x-transformers (its "
                                           "angles cover the %lld tokens, not the %lld memories before them)",
                 (long long)T, (long long)M);
    if (lc->polar && in->pos)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "explicit pos with polar_pos_emb is not implemented by xtc");
    if (in->return_mems && !c->has_wrapper)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "return_mems is a TransformerWrapper option");
    /* explicit positions: bounded (rotary angles and ALiBi distances stay exact and overflow-free),
     * and every consumer must be able to use them */
    XTC_TRY(check_positions(in->pos, in->pos ? (in->pos_batched ? B : 1) * in->pos_len : 0, "pos", err));
    XTC_TRY(check_positions(in->context_pos,
                            in->context_pos ? (in->context_pos_batched ? B : 1) * in->context_len : 0, "context_pos",
                            err));
    if (in->pos) {
        bool abs = c->has_wrapper && c->wrap.use_abs_pos_emb;
        /* ContinuousTransformerWrapper reads pos in its absolute embedding only */
        bool cont = c->has_wrapper && c->wrap.continuous, rotary = lc->rotary && !cont;
        const struct xtc_bias_scheme *bias = cont ? NULL : net->stack.bias.scheme;
        bool bias_pos = bias && bias->takes_explicit_pos;
        if (in->pos_len < 1 || in->pos_len > MAX_LEN)
            XTC_FAIL(err, XTC_ERR_SHAPE, "pos: invalid length %lld", (long long)in->pos_len);
        if (bias && !bias_pos)
            XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "explicit pos with the %s (x-transformers allows custom positions only "
                                               "for ALiBi)", bias->name);
        if (!abs && !rotary && !bias_pos)
            XTC_FAIL(err, XTC_ERR_ARG, "pos given, but this model has no positional scheme that reads positions");
        if (abs && in->pos_len != T)
            XTC_FAIL(err, XTC_ERR_SHAPE, "pos has %lld positions for %lld tokens", (long long)in->pos_len, (long long)T);
        if (rotary && in->pos_len < M + Tt)
            XTC_FAIL(err, XTC_ERR_SHAPE,
                     "pos has %lld positions; rotary needs one per key (%lld memories + %lld tokens)",
                     (long long)in->pos_len, (long long)M, (long long)Tt);
        if (bias_pos && (in->pos_len != Tt || M > 0))
            XTC_FAIL(err, XTC_ERR_SHAPE, "%s with explicit pos needs exactly one position per token and no mems",
                     bias->name);
        int64_t n = in->pos_batched ? B * in->pos_len : in->pos_len;
        for (int64_t i = 0; abs && i < n; i++)
            if (!c->wrap.scaled_sinu_pos_emb && (in->pos[i] < 0 || in->pos[i] >= c->wrap.max_seq_len))
                XTC_FAIL(err, XTC_ERR_ARG, "pos[%lld] = %lld is outside the absolute positional embedding (0..%d)",
                         (long long)i, (long long)in->pos[i], c->wrap.max_seq_len - 1);
    }
    if (in->seq_start_pos) {
        if (in->n_mems > 0 || R > 0 || in->pos)
            XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "seq_start_pos with mems, memory tokens or explicit pos");
        for (int64_t b = 0; b < B; b++)
            if (in->seq_start_pos[b] < 0 || in->seq_start_pos[b] > MAX_LEN)
                XTC_FAIL(err, XTC_ERR_ARG, "seq_start_pos[%lld] = %lld is out of range", (long long)b,
                         (long long)in->seq_start_pos[b]);
    }
    /* KV cache */
    if (in->cache) {
        const struct xtc_kv_cache *kc = in->cache;
        if (kc->n_layers != n_self)
            XTC_FAIL(err, XTC_ERR_ARG, "the KV cache was made for another model");
        if (kc->B != B)
            XTC_FAIL(err, XTC_ERR_SHAPE, "the KV cache holds %lld rows, the call %lld", (long long)kc->B, (long long)B);
        if (kc->len + T > kc->cap)
            XTC_FAIL(err, XTC_ERR_SHAPE, "the KV cache is full: %lld cached + %lld new > capacity %lld",
                     (long long)kc->len, (long long)T, (long long)kc->cap);
        /* return_mems is allowed: the memories are those of the positions this call feeds
         * (what x-transformers' cached XL generation keeps) */
        if (in->save_for_backward || in->mask || in->pos)
            XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "a KV cache call takes no mask, explicit pos or backward");
        if (!lc->causal || R > 0)
            XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "a KV cache needs a causal model without memory tokens");
        if (c->has_wrapper && c->wrap.use_abs_pos_emb && !c->wrap.scaled_sinu_pos_emb &&
            kc->len + T > c->wrap.max_seq_len)
            XTC_FAIL(err, XTC_ERR_SHAPE,
                     "absolute positions end at max_seq_len %d: %lld cached + %lld new tokens do not fit (relative "
                     "schemes can slide the window, absolute ones cannot)",
                     c->wrap.max_seq_len, (long long)kc->len, (long long)T);
    }
    /* every self-attention key: memories, cached and new tokens (each bounded above, so the
     * sum and the product cannot overflow) */
    int64_t keys = M + (in->cache ? in->cache->len : 0) + Tt;
    if (B * keys > XTC_MAX_KEY_ROWS)
        XTC_FAIL(err, XTC_ERR_ARG,
                 "batch %lld x %lld keys (%lld memories + %lld cached + %lld tokens) = %lld key rows exceeds 2^30",
                 (long long)B, (long long)keys, (long long)M, (long long)(in->cache ? in->cache->len : 0),
                 (long long)Tt, (long long)(B * keys));
    /* cross-attention */
    bool has_context = in->context || context_from_encoder;
    if (lc->cross_attend && !has_context)
        XTC_FAIL(err, XTC_ERR_ARG, "this model cross-attends: context is required");
    if (!lc->cross_attend && (has_context || in->context_mask || in->context_pos))
        XTC_FAIL(err, XTC_ERR_ARG, "%s given to a model without cross-attention",
                 in->context ? "context" : in->context_mask ? "context_mask" : "context_pos");
    if (has_context && (in->context_len < 1 || in->context_len > MAX_LEN || B * in->context_len > MAX_ROWS))
        XTC_FAIL(err, XTC_ERR_SHAPE, "context length %lld is out of range", (long long)in->context_len);
    if (in->context_pos && !lc->rotary)
        XTC_FAIL(err, XTC_ERR_ARG, "context_pos given, but the model has no rotary embedding to use it");
    return XTC_OK;
}

/* ------------------------------------------------------------------ gradients */

xtc_status xtc_model_zero_grad(xtc_model_t m, struct xtc_error *err) {
    if (!m)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_zero_grad: NULL model");
    if (!m->grad) {
        m->grad = xtc_alloc_large(sizeof(float) * (m->n_floats ? m->n_floats : 1));
        if (!m->grad)
            XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating %zu gradients", m->n_floats);
    } else {
        memset(m->grad, 0, sizeof(float) * m->n_floats);
    }
    return XTC_OK;
}

xtc_status xtc_net_check_vocab_head(const struct xtc_net_config *c, const char *what, struct xtc_error *err) {
    if (c->has_wrapper && !c->wrap.return_only_embed && c->wrap.logits_dim > c->wrap.num_tokens)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED,
                 "%s samples token ids from the logits: logits_dim %d exceeds num_tokens %d, so an id past the "
                 "vocabulary could be chosen and fed back (x-transformers then fails in its token embedding)", what,
                 c->wrap.logits_dim, c->wrap.num_tokens);
    return XTC_OK;
}
