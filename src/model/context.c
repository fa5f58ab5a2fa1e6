/* Contexts: what one thread needs to run calls on a model whose weights it only reads
 * (llama.cpp's llama_model / llama_context split). A context owns the activation arena,
 * planned per call, and the state a forward leaves for backward; the model owns the
 * weights, their gradients and the read-only tables. Every model has one built-in
 * context, used by the xtc_model_* calls; more can be created for concurrent calls.
 * A call validates its inputs (model.c), plans the arena, then runs TransformerWrapper,
 * a bare stack or XTransformer without further checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/kv_cache.h"
#include "core/status.h"
#include "model/model.h"
#include "model/wrapper.h"
#include "ops/ops.h"

xtc_status xtc_context_create(xtc_context_t *out, xtc_model_t m, struct xtc_error *err) {
    if (!out || !m)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_context_create: NULL argument");
    *out = calloc(1, sizeof **out);
    if (!*out)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating a context");
    (*out)->m = m;
    return XTC_OK;
}

void xtc_context_release(struct xtc_context *ctx) {
    xtc_arena_free(&ctx->arena);
    xtc_context_autocast_release(ctx);
    memset(&ctx->last, 0, sizeof ctx->last);
}

void xtc_context_free(xtc_context_t ctx) {
    if (!ctx)
        return;
    xtc_context_release(ctx);
    free(ctx);
}

xtc_model_t xtc_context_model(const struct xtc_context *ctx) { return ctx ? ctx->m : NULL; }

/* ------------------------------------------------------------------ forward */

/* Plans the call: the encoder when enc_in is set (XTransformer), the model's network when in is
 * set (the decoder for XTransformer; in == NULL plans the encoder alone). */
static void plan_all(struct xtc_context *ctx, const struct xtc_inputs *in, const struct xtc_inputs *enc_in) {
    const struct xtc_model *m = ctx->m;
    struct xtc_forward_state *f = &ctx->last;
    bool train = in && in->save_for_backward;
    if (enc_in)
        xtc_net_plan(&m->enc, enc_in, train, &ctx->arena, &f->enc);
    if (!in)
        return;
    if (enc_in) {
        f->tgt = (int64_t *)xtc_arena_floats(&ctx->arena, (size_t)(2 * in->batch * in->len));
        if (train) {
            f->dlogits = xtc_arena_floats(&ctx->arena, (size_t)(in->batch * in->len * xtc_net_out_dim(&m->net)));
            f->dcontext = xtc_arena_floats(&ctx->arena, (size_t)(in->batch * in->context_len * m->net.cfg.layers.dim));
        }
    } else if (train && m->net.cfg.layers.cross_attend) {
        f->dcontext = xtc_arena_floats(&ctx->arena, (size_t)(in->batch * in->context_len * m->net.cfg.layers.dim_context));
    }
    xtc_net_plan(&m->net, in, train, &ctx->arena, &f->dec);
}

/* Measures, reserves, then hands out every buffer of the call: no allocation afterwards. */
static xtc_status plan(struct xtc_context *ctx, const struct xtc_inputs *in, const struct xtc_inputs *enc_in,
                       struct xtc_error *err) {
    memset(&ctx->last, 0, sizeof ctx->last);
    xtc_arena_measure(&ctx->arena);
    plan_all(ctx, in, enc_in);
    XTC_TRY(xtc_arena_commit(&ctx->arena, err));
    memset(&ctx->last, 0, sizeof ctx->last);
    plan_all(ctx, in, enc_in);
    return XTC_OK;
}

static xtc_status forward_xtransformer(struct xtc_context *ctx, const struct xtc_inputs *in, struct xtc_outputs *out,
                                       struct xtc_error *err) {
    const struct xtc_model *m = ctx->m;
    const struct xtc_config *c = &m->cfg;
    struct xtc_forward_state *f = &ctx->last;
    int64_t B = in->batch, T = in->len, V = c->net.wrap.num_tokens;
    if (!in->src || !in->tokens)
        XTC_FAIL(err, XTC_ERR_ARG, "XTransformer needs src and tgt tokens");
    if (in->cache)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "XTransformer forward takes no KV cache (use xtc_generate)");
    for (int64_t i = 0; i < B * T; i++)
        if (in->tokens[i] != c->ignore_index && (in->tokens[i] < 0 || in->tokens[i] >= V))
            XTC_FAIL(err, XTC_ERR_ARG, "tgt[%lld] = %lld is not a token id (dec_num_tokens %lld) nor ignore_index",
                     (long long)i, (long long)in->tokens[i], (long long)V);
    struct xtc_inputs enc_in = {.batch = B, .len = in->src_len, .tokens = in->src, .mask = in->src_mask,
                                .save_for_backward = in->save_for_backward};
    struct xtc_inputs dec_in = {.batch = B, .len = T, .context_len = in->src_len, .context_mask = in->src_mask,
                                .tokens = in->tokens, .save_for_backward = in->save_for_backward};
    XTC_TRY(xtc_net_check_inputs(&m->enc, &enc_in, false, false, err));
    XTC_TRY(xtc_net_check_inputs(&m->net, &dec_in, true, true, err));
    XTC_TRY(plan(ctx, &dec_in, &enc_in, err));

    xtc_net_forward(&m->enc, &enc_in, &f->enc);
    /* AutoregressiveWrapper: ignore_index entries are fed as pad_value */
    for (int64_t i = 0; i < B * T; i++)
        f->tgt[i] = in->tokens[i] == c->ignore_index ? c->pad_value : in->tokens[i];
    dec_in.tokens = f->tgt;
    dec_in.context = f->enc.out;
    xtc_net_forward(&m->net, &dec_in, &f->dec);

    /* loss = CE(logits[:, :-1], tgt[:, 1:]), one mean over the kept targets of the batch */
    double total = 0;
    int64_t kept = 0;
    for (int64_t b = 0; b < B && T > 1; b++) {
        int64_t k = 0;
        double mean = xtc_crossentropy_forward(f->dec.out + b * T * V, in->tokens + b * T + 1, T - 1, V,
                                               c->ignore_index, &k);
        if (k > 0)
            total += mean * (double)k;
        kept += k;
    }
    f->kept = kept;
    f->in = *in;
    f->enc_in = enc_in;
    f->dec_in = dec_in;
    f->xt_full = true;
    f->valid = in->save_for_backward;
    *out = (struct xtc_outputs){.logits = f->dec.out, .out_dim = V, .encoder_out = f->enc.out,
                                .loss = kept ? (float)(total / (double)kept) : NAN};
    return XTC_OK;
}

static xtc_status forward_call(xtc_context_t ctx, const struct xtc_inputs *in, struct xtc_outputs *out,
                               struct xtc_error *err) {
    const struct xtc_model *m = ctx->m;
    memset(out, 0, sizeof *out);
    ctx->last.valid = false;
    if (m->cfg.model_class == XTC_MODEL_XTRANSFORMER && (in->src || !in->context))
        return forward_xtransformer(ctx, in, out, err);
    /* otherwise a TransformerWrapper, a bare stack, or an XTransformer's decoder alone */
    if (in->cache && in->cache->model != m)
        XTC_FAIL(err, XTC_ERR_ARG, "the KV cache was made for another model");
    XTC_TRY(xtc_net_check_inputs(&m->net, in, false, false, err));
    if (in->cache && in->context)
        XTC_TRY(xtc_kv_cache_prepare_cross(in->cache, in->context_len, err));
    XTC_TRY(plan(ctx, in, NULL, err));
    struct xtc_forward_state *f = &ctx->last;
    xtc_net_forward(&m->net, in, &f->dec);
    if (in->cache) {
        in->cache->len += in->len;
        in->cache->cross_ready = in->cache->n_cross > 0 && in->cache->xk;
    }
    f->in = *in;
    f->valid = in->save_for_backward;
    out->logits = f->dec.out;
    out->out_dim = xtc_net_out_dim(&m->net);
    if (in->return_mems) {
        out->mems = (const float *const *)f->dec.mems;
        out->n_mems = m->net.stack.n_self;
        out->mem_len = xtc_net_mem_out_len(&m->net, in);
    }
    return XTC_OK;
}

/* With bf16 products (xtc_model_set_compute_dtype) for calls without a KV cache: decoding
 * steps read the weights xtc_model_set_decode_dtype chose. */
xtc_status xtc_context_forward(xtc_context_t ctx, const struct xtc_inputs *in, struct xtc_outputs *out,
                               struct xtc_error *err) {
    if (!ctx || !in || !out)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_context_forward: NULL argument");
    ctx->last.bf16 = false;
    if (!ctx->m->compute_bf16 || in->cache)
        return forward_call(ctx, in, out, err);
    ctx->last.valid = false;
    XTC_TRY(xtc_context_autocast_refresh(ctx, err));
    struct xtc_autocast *prev = xtc_context_autocast_begin(ctx);
    xtc_status st = xtc_context_autocast_end(ctx, prev, forward_call(ctx, in, out, err), err);
    ctx->last.bf16 = st == XTC_OK;
    return st;
}

xtc_status xtc_context_encode(xtc_context_t ctx, const int64_t *src, const uint8_t *src_mask, int64_t batch,
                              int64_t src_len, const float **out, struct xtc_error *err) {
    if (!ctx || !src || !out)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_context_encode: NULL argument");
    const struct xtc_model *m = ctx->m;
    if (m->cfg.model_class != XTC_MODEL_XTRANSFORMER)
        XTC_FAIL(err, XTC_ERR_ARG, "encoding needs an XTransformer");
    ctx->last.valid = false;
    struct xtc_inputs enc_in = {.batch = batch, .len = src_len, .tokens = src, .mask = src_mask};
    XTC_TRY(xtc_net_check_inputs(&m->enc, &enc_in, false, false, err));
    XTC_TRY(plan(ctx, NULL, &enc_in, err));
    xtc_net_forward(&m->enc, &enc_in, &ctx->last.enc);
    *out = ctx->last.enc.out;
    return XTC_OK;
}

/* The xtc_model_* calls run in the model's built-in context. */
xtc_status xtc_model_forward(xtc_model_t m, const struct xtc_inputs *in, struct xtc_outputs *out,
                             struct xtc_error *err) {
    if (!m)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_forward: NULL model");
    return xtc_context_forward(&m->base, in, out, err);
}

xtc_status xtc_model_encode(xtc_model_t m, const int64_t *src, const uint8_t *src_mask, int64_t batch, int64_t src_len,
                            const float **out, struct xtc_error *err) {
    if (!m)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_encode: NULL model");
    return xtc_context_encode(&m->base, src, src_mask, batch, src_len, out, err);
}


/* ------------------------------------------------------------------ backward */

static xtc_status backward_call(xtc_context_t ctx, const float *dout, struct xtc_error *err) {
    struct xtc_model *m = ctx->m;
    struct xtc_forward_state *f = &ctx->last;
    if (!f->valid)
        XTC_FAIL(err, XTC_ERR_ARG, "backward needs a preceding forward call with save_for_backward (in the same context)");
    if (!m->grad)
        XTC_TRY(xtc_model_zero_grad(m, err));
    struct xtc_stack_grads g = {.params = m->data, .grads = m->grad,
                                .layer_done = ctx == &m->base ? m->grad_hook : NULL, .user = m->grad_hook_user};
    if (!f->xt_full) {
        /* one network: TransformerWrapper, a bare stack, or an XTransformer's decoder alone
         * (src NULL, context given), whose cotangent is d logits and whose context gets a gradient */
        if (f->dcontext) {
            memset(f->dcontext, 0,
                   sizeof(float) * (size_t)(f->in.batch * f->in.context_len * m->net.cfg.layers.dim_context));
            g.dcontext = f->dcontext;
        }
        xtc_net_backward(&m->net, &f->in, &f->dec, dout, &g);
        return XTC_OK;
    }
    /* XTransformer: d loss -> d logits (the last position is not scored) -> decoder -> encoder */
    int64_t B = f->in.batch, T = f->in.len, V = m->cfg.net.wrap.num_tokens, C = m->cfg.net.layers.dim;
    float scale = f->kept ? dout[0] / (float)f->kept : 0.0f;
    memset(f->dlogits, 0, sizeof(float) * (size_t)(B * T * V));
    for (int64_t b = 0; b < B && T > 1; b++)
        xtc_crossentropy_backward(f->dlogits + b * T * V, f->dec.out + b * T * V, f->in.tokens + b * T + 1, T - 1, V,
                                  m->cfg.ignore_index, scale);
    memset(f->dcontext, 0, sizeof(float) * (size_t)(B * f->in.src_len * C));
    g.dcontext = f->dcontext;
    xtc_net_backward(&m->net, &f->dec_in, &f->dec, f->dlogits, &g);
    g.dcontext = NULL;
    xtc_net_backward(&m->enc, &f->enc_in, &f->enc, f->dcontext, &g);
    return XTC_OK;
}

xtc_status xtc_context_backward(xtc_context_t ctx, const float *dout, struct xtc_error *err) {
    if (!ctx || !dout)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_context_backward: NULL argument");
    if (!ctx->last.valid || !ctx->last.bf16)
        return backward_call(ctx, dout, err);
    struct xtc_autocast *prev = xtc_context_autocast_begin(ctx);
    return xtc_context_autocast_end(ctx, prev, backward_call(ctx, dout, err), err);
}

void xtc_context_input_grads(const struct xtc_context *ctx, struct xtc_input_grads *out) {
    memset(out, 0, sizeof *out);
    const struct xtc_model *m = ctx->m;
    const struct xtc_forward_state *f = &ctx->last;
    if (!f->valid || f->xt_full)
        return;
    if (!m->net.cfg.has_wrapper)
        out->x = f->dec.dx;
    else if (m->net.cfg.wrap.continuous)
        out->x = f->dec.dxin;
    out->context = f->dcontext;
    if (f->dec.dmems) {
        out->mems = (const float *const *)f->dec.dmems;
        out->n_mems = m->net.stack.n_self;
    }
}

xtc_status xtc_model_backward(xtc_model_t m, const float *dout, struct xtc_error *err) {
    if (!m)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_backward: NULL model");
    return xtc_context_backward(&m->base, dout, err);
}

void xtc_model_input_grads(const struct xtc_model *m, struct xtc_input_grads *out) {
    xtc_context_input_grads(&m->base, out);
}
