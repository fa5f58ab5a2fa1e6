/* TransformerWrapper forward (reference B.1): token embedding (or, for
 * ContinuousTransformerWrapper, project_in of float inputs) + absolute
 * positions, memory tokens prepended, the attention stack, memory tokens
 * removed, logits (or embeddings). Also the Transformer-XL memory update
 * (B.8): new mems = the last max_mem_len rows of [mems ; residual input of
 * each self-attention layer].
 * Tied embeddings: logits = (h @ E^T) * tie_embedding_scale (2.30.5+).
 * Shape letters: B batch, T tokens, R memory tokens, Tt = R + T, C dim,
 * V vocab, M incoming memory length, L outgoing memory length. */
#include <math.h>
#include <string.h>

#include "model/model.h"
#include "model/wrapper.h"
#include "attn/kv_cache.h"
#include "ops/ops.h"
#include "xtc/generate.h"
#include "pos/pos.h"

static int64_t total_len(const struct xtc_net *net, const struct xtc_inputs *in) {
    return in->len + (net->cfg.has_wrapper ? net->cfg.wrap.num_memory_tokens : 0);
}

int64_t xtc_net_mem_out_len(const struct xtc_net *net, const struct xtc_inputs *in) {
    /* ContinuousTransformerWrapper keeps the last rows of the call's hidden states alone, not of
     * [mems ; hidden states] as TransformerWrapper does */
    bool continuous = net->cfg.has_wrapper && net->cfg.wrap.continuous;
    int64_t all = (continuous ? 0 : in->mem_len * (in->n_mems > 0)) + total_len(net, in);
    if (!net->cfg.has_wrapper) /* a bare stack returns every hidden state */
        return all;
    int64_t L = net->cfg.wrap.max_mem_len; /* 0 keeps none (x-transformers >= 2.31; 2.26.4 kept all) */
    return L < all ? L : all;
}

/* The factor on the logits: tie_embedding_scale with a tied embedding (x-transformers >= 2.30.5), else 1. */
static float head_scale(const struct xtc_net *net) {
    const struct xtc_net_config *c = &net->cfg;
    return c->has_wrapper && c->wrap.tie_embedding ? (float)c->wrap.tie_embedding_scale : 1.0f;
}

static void scale_rows(float *x, int64_t n, float s) {
    for (int64_t i = 0; s != 1.0f && i < n; i++)
        x[i] *= s;
}

int64_t xtc_net_out_dim(const struct xtc_net *net) {
    const struct xtc_net_config *c = &net->cfg;
    return c->has_wrapper && !c->wrap.return_only_embed ? c->wrap.logits_dim : c->layers.dim;
}

/* Whether the embeddings are built in bufs->emb first (then normed and / or projected into x)
 * rather than straight in the rows of x. */
static bool embed_apart(const struct xtc_net *net) {
    const struct xtc_wrapper_config *w = &net->cfg.wrap;
    return net->cfg.has_wrapper && (w->emb_dim != net->cfg.layers.dim || w->post_emb_norm || w->l2norm_embed);
}

/* The KV cache's keys and values join the self-attention of the stack. */
static void attach_cache(struct xtc_stack_io *io, const struct xtc_inputs *in) {
    if (!in->cache)
        return;
    io->C_cache = in->cache->len;
    io->cache_cap = in->cache->cap;
    io->cache_k = in->cache->k;
    io->cache_v = in->cache->v;
    if (in->cache->n_cross > 0 && in->cache->xk) {
        io->cross_k = in->cache->xk;
        io->cross_v = in->cache->xv;
        io->cross_ready = in->cache->cross_ready;
    }
}

void xtc_net_plan(const struct xtc_net *net, const struct xtc_inputs *in, bool train, struct xtc_arena *a,
                  struct xtc_net_bufs *bufs) {
    const struct xtc_stack *s = &net->stack;
    int64_t B = in->batch, T = in->len, Tt = total_len(net, in), C = s->cfg.dim;
    memset(bufs, 0, sizeof *bufs);
    bufs->x = xtc_arena_floats(a, (size_t)(B * Tt * C));
    bufs->mask = in->mask && Tt != T ? (uint8_t *)xtc_arena_floats(a, (size_t)(B * Tt + 3) / 4) : NULL;
    bufs->out = xtc_arena_floats(a, (size_t)(B * T * xtc_net_out_dim(net)));
    if (in->return_mems) {
        int64_t L = xtc_net_mem_out_len(net, in);
        size_t ptrs = ((size_t)s->n_self * sizeof(float *) + sizeof(float) - 1) / sizeof(float);
        bufs->hiddens = (float **)xtc_arena_floats(a, ptrs);
        bufs->mems = (float **)xtc_arena_floats(a, ptrs);
        for (int l = 0; l < s->n_self; l++) {
            float *h = xtc_arena_floats(a, (size_t)(B * Tt * C));
            float *m = xtc_arena_floats(a, (size_t)(B * L * C));
            if (bufs->hiddens) {
                bufs->hiddens[l] = h;
                bufs->mems[l] = m;
            }
        }
    }
    struct xtc_stack_io io = {.B = B, .T = Tt, .pos = in->pos, .pos_len = in->pos_len, .pos_batched = in->pos_batched,
                              .S_ctx = s->cfg.cross_attend ? in->context_len : 0, .context_pos = in->context_pos,
                              .context_pos_batched = in->context_pos_batched, .M = in->n_mems > 0 ? in->mem_len : 0,
                              .return_hiddens = in->return_mems};
    attach_cache(&io, in);
    xtc_stack_plan(s, &io, train, a, &bufs->stack);
    if (embed_apart(net)) {
        const struct xtc_wrapper_config *w = &net->cfg.wrap;
        const int64_t E = w->emb_dim;
        bufs->emb = xtc_arena_floats(a, (size_t)(B * T * E));
        if (w->post_emb_norm) {
            bufs->emb_n = xtc_arena_floats(a, (size_t)(B * T * E));
            bufs->emb_mean = xtc_arena_floats(a, (size_t)(B * T));
            bufs->emb_rstd = xtc_arena_floats(a, (size_t)(B * T));
        }
        if (train && w->l2norm_embed)
            bufs->tok_raw = xtc_arena_floats(a, (size_t)(B * T * E));
        bufs->emb_vec = xtc_arena_floats(a, (size_t)E);
        bufs->emb_zero = xtc_arena_floats(a, (size_t)E);
        if (train) {
            bufs->demb = xtc_arena_floats(a, (size_t)(B * T * E));
            bufs->demb2 = xtc_arena_floats(a, (size_t)(B * T * E));
        }
    }
    if (train && net->cfg.has_wrapper && net->cfg.wrap.continuous)
        bufs->dxin = xtc_arena_floats(a, (size_t)(B * T * net->cfg.wrap.dim_in));
    if (train) {
        bufs->dx = xtc_arena_floats(a, (size_t)(B * Tt * C));
        if (head_scale(net) != 1.0f)
            bufs->head_in = xtc_arena_floats(a, (size_t)(T * C));
        if (io.M > 0) {
            size_t ptrs = ((size_t)s->n_self * sizeof(float *) + sizeof(float) - 1) / sizeof(float);
            bufs->dmems = (float **)xtc_arena_floats(a, ptrs);
            for (int l = 0; l < s->n_self; l++) {
                float *d = xtc_arena_floats(a, (size_t)(B * io.M * C));
                if (bufs->dmems)
                    bufs->dmems[l] = d;
            }
        }
    }
}

/* Absolute position of token t of row b: explicit, or continuing the cached positions, then
 * counted from the row's start under left padding ((pos - seq_start_pos).clamp(min = 0)).
 * Forward and backward both read it here. */
static int64_t abs_position(const struct xtc_inputs *in, int64_t b, int64_t t) {
    int64_t p = in->pos ? in->pos[(in->pos_batched ? b * in->pos_len : 0) + t] : t + xtc_kv_cache_len(in->cache);
    if (in->seq_start_pos)
        p = p - in->seq_start_pos[b] > 0 ? p - in->seq_start_pos[b] : 0;
    return p;
}

/* AbsolutePositionalEmbedding.scale: emb_dim ** -0.5, 1 with l2norm_embed (the row is normalised) */
static float pos_scale_of(const struct xtc_wrapper_config *w) {
    return w->l2norm_embed ? 1.0f : (float)(1.0 / sqrt((double)w->emb_dim));
}

/* x (B, Tt, C): memory tokens in front of the embedded tokens. A token row is the token
 * embedding (l2-normalised with l2norm_embed) plus its absolute position (learned: the table
 * row times emb_dim^-0.5, or l2-normalised; or scaled sinusoidal); then post_emb_norm and
 * project_emb when configured (TransformerWrapper.forward order), with the E-wide rows built
 * in bufs->emb first. */
static void embed(const struct xtc_net *net, const struct xtc_inputs *in, struct xtc_net_bufs *bufs) {
    const struct xtc_wrapper_config *w = &net->cfg.wrap;
    int64_t B = in->batch, T = in->len, C = net->cfg.layers.dim, E = w->emb_dim, R = w->num_memory_tokens, Tt = R + T;
    const bool apart = embed_apart(net);
    const float pos_scale = pos_scale_of(w);
    float *x = bufs->x;
    for (int64_t b = 0; b < B; b++) {
        float *xb = x + b * Tt * C;
        for (int64_t r = 0; r < R; r++)
            memcpy(xb + r * C, net->memory_tokens + r * C, sizeof(float) * (size_t)C);
        float *e = apart ? bufs->emb + b * T * E : xb + R * C;
        if (w->continuous) { /* project_in(x); E == C */
            const float *xin = in->x + b * T * w->dim_in;
            if (net->project_in)
                xtc_linear_forward(e, xin, net->project_in, NULL, T, w->dim_in, C);
            else
                memcpy(e, xin, sizeof(float) * (size_t)(T * C));
        } else {
            xtc_embedding_forward(e, in->tokens + b * T, net->token_emb, T, E);
        }
        if (w->l2norm_embed) {
            if (bufs->tok_raw)
                memcpy(bufs->tok_raw + b * T * E, e, sizeof(float) * (size_t)(T * E));
            xtc_l2norm_rows(e, T, E);
        }
        if (!w->use_abs_pos_emb)
            continue;
        for (int64_t t = 0; t < T; t++) {
            int64_t p = abs_position(in, b, t);
            float *row = e + t * E;
            if (net->pos_scale) {
                xtc_sinusoidal_add(row, p, (int)E, net->pos_scale[0]);
            } else if (w->l2norm_embed) {
                memcpy(bufs->emb_vec, net->pos_emb + p * E, sizeof(float) * (size_t)E);
                xtc_l2norm_rows(bufs->emb_vec, 1, E);
                for (int64_t c = 0; c < E; c++)
                    row[c] += bufs->emb_vec[c];
            } else {
                const float *pe = net->pos_emb + p * E;
                for (int64_t c = 0; c < E; c++)
                    row[c] += pe[c] * pos_scale;
            }
        }
    }
    if (!apart)
        return;
    const float *cur = bufs->emb;
    if (net->post_emb_norm) { /* LayerNorm(E) without unit offset: normalise (gain 1 + 0), then * gamma */
        memset(bufs->emb_zero, 0, sizeof(float) * (size_t)E);
        xtc_layernorm_forward(bufs->emb_n, bufs->emb_mean, bufs->emb_rstd, bufs->emb,
                              &(struct xtc_norm_gain){.g = bufs->emb_zero, .offset = 1.0f}, B * T, E);
        for (int64_t i = 0; i < B * T; i++)
            for (int64_t c = 0; c < E; c++)
                bufs->emb_n[i * E + c] *= net->post_emb_norm[c];
        cur = bufs->emb_n;
    }
    for (int64_t b = 0; b < B; b++) {
        float *xr = x + (b * Tt + R) * C;
        if (net->project_w)
            xtc_linear_forward(xr, cur + b * T * E, net->project_w, net->project_b, T, E, C);
        else
            memcpy(xr, cur + b * T * E, sizeof(float) * (size_t)(T * C));
    }
}

/* Backward of embed for the real tokens: dx (B, Tt, C) as the stack left it. */
static void embed_backward(const struct xtc_net *net, const struct xtc_inputs *in, struct xtc_net_bufs *bufs,
                           const float *dx, const struct xtc_stack_grads *g) {
    const struct xtc_wrapper_config *w = &net->cfg.wrap;
    int64_t B = in->batch, T = in->len, C = net->cfg.layers.dim, E = w->emb_dim, R = w->num_memory_tokens, Tt = R + T;
    const bool apart = embed_apart(net);
    float *dmt = net->memory_tokens ? g->grads + (net->memory_tokens - g->params) : NULL;
    for (int64_t b = 0; dmt && b < B; b++)
        for (int64_t i = 0; i < R * C; i++)
            dmt[i] += dx[b * Tt * C + i];
    if (apart) {
        /* x rows = project(norm(emb)): demb = d/d emb */
        const float *cur = net->post_emb_norm ? bufs->emb_n : bufs->emb;
        float *dcur = net->post_emb_norm ? bufs->demb2 : bufs->demb;
        for (int64_t b = 0; b < B; b++) {
            const float *dxr = dx + (b * Tt + R) * C;
            if (net->project_w)
                xtc_linear_backward(dcur + b * T * E, g->grads + (net->project_w - g->params),
                                    g->grads + (net->project_b - g->params), dxr, cur + b * T * E, net->project_w, T,
                                    E, C, 0);
            else
                memcpy(dcur + b * T * E, dxr, sizeof(float) * (size_t)(T * C));
        }
        if (net->post_emb_norm) { /* emb_n = n * gamma, n = (emb - mean) * rstd */
            float *dgam = g->grads + (net->post_emb_norm - g->params);
            for (int64_t i = 0; i < B * T; i++)
                for (int64_t c = 0; c < E; c++) {
                    float n = (bufs->emb[i * E + c] - bufs->emb_mean[i]) * bufs->emb_rstd[i];
                    dgam[c] += dcur[i * E + c] * n;
                    dcur[i * E + c] *= net->post_emb_norm[c];
                }
            memset(bufs->demb, 0, sizeof(float) * (size_t)(B * T * E));
            memset(bufs->emb_zero, 0, sizeof(float) * (size_t)E);
            memset(bufs->emb_vec, 0, sizeof(float) * (size_t)E); /* the zero gain's gradient, unused */
            xtc_layernorm_backward(bufs->demb, bufs->emb_vec, dcur, bufs->emb,
                                   &(struct xtc_norm_gain){.g = bufs->emb_zero, .offset = 1.0f}, bufs->emb_mean,
                                   bufs->emb_rstd, B * T, E);
        }
    }
    float *dte = net->token_emb ? g->grads + (net->token_emb - g->params) : NULL;
    const float pos_scale = pos_scale_of(w);
    for (int64_t b = 0; b < B; b++) {
        const float *de = apart ? bufs->demb + b * T * E : dx + (b * Tt + R) * C;
        if (w->use_abs_pos_emb)
            for (int64_t t = 0; t < T; t++) {
                int64_t p = abs_position(in, b, t);
                const float *d = de + t * E;
                if (net->pos_scale) {
                    g->grads[net->pos_scale - g->params] += (float)xtc_sinusoidal_dot(d, p, (int)E);
                } else {
                    float *dpe = g->grads + (net->pos_emb - g->params) + p * E;
                    if (w->l2norm_embed) { /* row = l2norm(table row) */
                        memcpy(bufs->emb_vec, d, sizeof(float) * (size_t)E);
                        xtc_l2norm_backward(bufs->emb_vec, net->pos_emb + p * E, 1, E);
                        d = bufs->emb_vec;
                    }
                    for (int64_t k = 0; k < E; k++)
                        dpe[k] += d[k] * pos_scale;
                }
            }
        if (w->continuous) { /* e = x @ project_in^T */
            float *dxin = bufs->dxin + b * T * w->dim_in;
            if (net->project_in)
                xtc_linear_backward(dxin, g->grads + (net->project_in - g->params), NULL, de,
                                    in->x + b * T * w->dim_in, net->project_in, T, w->dim_in, C, 0);
            else
                memcpy(dxin, de, sizeof(float) * (size_t)(T * C));
        } else if (w->l2norm_embed) { /* demb is not read again: the token part goes through l2norm in place */
            float *dt = bufs->demb + b * T * E;
            xtc_l2norm_backward(dt, bufs->tok_raw + b * T * E, T, E);
            xtc_embedding_backward(dte, dt, in->tokens + b * T, T, E);
        } else {
            xtc_embedding_backward(dte, de, in->tokens + b * T, T, E);
        }
    }
}

void xtc_net_forward(const struct xtc_net *net, const struct xtc_inputs *in, struct xtc_net_bufs *bufs) {
    const struct xtc_net_config *c = &net->cfg;
    const struct xtc_stack *s = &net->stack;
    int64_t B = in->batch, T = in->len, C = c->layers.dim;
    int64_t R = c->has_wrapper ? c->wrap.num_memory_tokens : 0, Tt = R + T;
    int64_t M = in->n_mems > 0 ? in->mem_len : 0;

    if (c->has_wrapper)
        embed(net, in, bufs);
    else
        memcpy(bufs->x, in->x, sizeof(float) * (size_t)(B * T * C));

    /* memory tokens are always visible: the padding mask gets R true entries in front */
    const uint8_t *mask = in->mask;
    if (in->mask && R > 0) {
        for (int64_t b = 0; b < B; b++) {
            memset(bufs->mask + b * Tt, 1, (size_t)R);
            memcpy(bufs->mask + b * Tt + R, in->mask + b * T, (size_t)T);
        }
        mask = bufs->mask;
    }
    struct xtc_stack_io io = {
        .B = B, .T = Tt, .x = bufs->x, .mask = mask,
        .pos = in->pos, .pos_len = in->pos_len, .pos_batched = in->pos_batched,
        .context = in->context, .S_ctx = s->cfg.cross_attend ? in->context_len : 0, .context_mask = in->context_mask,
        .context_pos = in->context_pos, .context_pos_batched = in->context_pos_batched,
        .M = M, .mems = in->mems, .mem_masks = in->mem_masks,
        .hiddens = in->return_mems ? bufs->hiddens : NULL, .return_hiddens = in->return_mems,
        .seq_start_pos = in->seq_start_pos,
    };
    attach_cache(&io, in);
    /* explicit positions are for the absolute embedding only unless rotary / ALiBi read them */
    if (!s->cfg.rotary && !(s->bias.scheme && s->bias.scheme->takes_explicit_pos))
        io.pos = NULL;
    /* ContinuousTransformerWrapper hands pos and seq_start_pos to its absolute embedding only,
     * never to the attention layers */
    if (c->has_wrapper && c->wrap.continuous) {
        io.pos = NULL;
        io.seq_start_pos = NULL;
    }
    bufs->io = io;
    xtc_stack_forward(s, &bufs->io, &bufs->stack);

    if (in->return_mems) {
        int64_t L = xtc_net_mem_out_len(net, in);
        for (int l = 0; l < s->n_self; l++) {
            for (int64_t b = 0; b < B; b++) {
                /* last L rows of [mems[l][b] (M rows) ; hiddens[l][b] (Tt rows)] */
                for (int64_t r = 0; r < L; r++) {
                    int64_t src = M + Tt - L + r;
                    const float *row = src < M ? in->mems[l] + (b * M + src) * C
                                               : bufs->hiddens[l] + (b * Tt + src - M) * C;
                    memcpy(bufs->mems[l] + (b * L + r) * C, row, sizeof(float) * (size_t)C);
                }
            }
        }
    }

    /* drop memory tokens, then the output head */
    int64_t V = xtc_net_out_dim(net);
    const float *w_out = net->to_logits ? net->to_logits : net->token_emb;
    if (R == 0 && c->has_wrapper && !c->wrap.return_only_embed) {
        /* rows are contiguous: one product (a decoding step reads the head once, not per row) */
        xtc_linear_forward_mw(bufs->out, bufs->x, w_out, NULL, B * T, C, V, in->cache ? &s->decode_w : NULL);
        scale_rows(bufs->out, B * T * V, head_scale(net));
        return;
    }
    for (int64_t b = 0; b < B; b++) {
        const float *h = bufs->x + (b * Tt + R) * C;
        float *out = bufs->out + b * T * V;
        if (!c->has_wrapper || c->wrap.return_only_embed)
            memcpy(out, h, sizeof(float) * (size_t)(T * C));
        else
            xtc_linear_forward(out, h, w_out, NULL, T, C, V);
    }
    if (c->has_wrapper && !c->wrap.return_only_embed)
        scale_rows(bufs->out, B * T * V, head_scale(net));
}

void xtc_net_backward(const struct xtc_net *net, const struct xtc_inputs *in, struct xtc_net_bufs *bufs,
                      const float *dout, const struct xtc_stack_grads *g) {
    const struct xtc_net_config *c = &net->cfg;
    int64_t B = in->batch, T = in->len, C = c->layers.dim;
    int64_t R = c->has_wrapper ? c->wrap.num_memory_tokens : 0, Tt = R + T, V = xtc_net_out_dim(net);
    float *dx = bufs->dx;
    memset(dx, 0, sizeof(float) * (size_t)(B * Tt * C));
    bool head = c->has_wrapper && !c->wrap.return_only_embed;
    const float *w_out = net->to_logits ? net->to_logits : net->token_emb;
    float s = head_scale(net);
    for (int64_t b = 0; b < B; b++) {
        float *dxb = dx + (b * Tt + R) * C;
        const float *h = bufs->x + (b * Tt + R) * C;
        if (head && s != 1.0f) { /* logits = (h @ w_out^T) * s: dw += dout^T (s h), dh = s (dout @ w_out) */
            memcpy(bufs->head_in, h, sizeof(float) * (size_t)(T * C));
            scale_rows(bufs->head_in, T * C, s);
            xtc_linear_backward(dxb, g->grads + (w_out - g->params), NULL, dout + b * T * V, bufs->head_in, w_out, T,
                                C, V, 0);
            scale_rows(dxb, T * C, s);
        } else if (head) /* logits = h @ w_out^T */
            xtc_linear_backward(dxb, g->grads + (w_out - g->params), NULL, dout + b * T * V, h, w_out, T, C, V, 0);
        else
            memcpy(dxb, dout + b * T * V, sizeof(float) * (size_t)(T * C));
    }
    struct xtc_stack_grads sg = *g;
    sg.dmems = bufs->dmems;
    xtc_stack_backward(&net->stack, &bufs->io, &bufs->stack, dx, &sg);
    if (!c->has_wrapper)
        return; /* dx is the gradient of the float input */
    embed_backward(net, in, bufs, dx, g);
}
