/* The decoding loop of x-transformers' AutoregressiveWrapper.generate (golden
 * README §8): every step sees the last max_seq_len tokens; with the KV cache the
 * first step runs the window and later steps run only the newest token, the cache
 * cut to max_seq_len - 1 positions before each step; rows keep decoding after
 * their eos until every row holds one, then everything after a row's first eos
 * becomes pad_value. */
#include <stdlib.h>
#include <string.h>

#include "attn/kv_cache.h"
#include "core/checked.h"
#include "core/rng.h"
#include "core/status.h"
#include "generate/decode.h"
#include "model/model.h"
#include "xtc/generate.h"

/* The most tokens (batch x (prompt + new)) one generation holds: 64 GiB of token ids. */
#define GEN_MAX_TOKENS ((int64_t)1 << 33)

/* The encoder output a decoder cross-attends to at every step (XTransformer). */
struct source {
    const float *x;
    const uint8_t *mask;
    int64_t len;
};

xtc_status xtc_decode_prompts(int64_t *seq, int64_t cap, int64_t *start, const int64_t *prompts, int64_t B,
                              int64_t T, int64_t V, const int64_t *prompt_lens, int64_t pad, struct xtc_error *err) {
    for (int64_t i = 0; i < B * T; i++)
        if (prompts[i] < 0 || prompts[i] >= V)
            XTC_FAIL(err, XTC_ERR_ARG, "prompt token %lld at %lld is not a token id (num_tokens %lld)",
                     (long long)prompts[i], (long long)i, (long long)V);
    for (int64_t b = 0; prompt_lens && b < B; b++)
        if (prompt_lens[b] < 1 || prompt_lens[b] > T)
            XTC_FAIL(err, XTC_ERR_ARG, "prompt_lens[%lld] = %lld must be in 1..%lld", (long long)b,
                     (long long)prompt_lens[b], (long long)T);
    for (int64_t b = 0; b < B; b++) {
        if (prompt_lens) {
            /* align_right: the prompt ends at T, pad before it; keys before seq_start_pos are hidden */
            int64_t n = prompt_lens[b];
            start[b] = T - n;
            for (int64_t i = 0; i < T - n; i++)
                seq[b * cap + i] = pad;
            memcpy(seq + b * cap + T - n, prompts + b * T, sizeof(int64_t) * (size_t)n);
        } else {
            memcpy(seq + b * cap, prompts + b * T, sizeof(int64_t) * (size_t)T);
        }
    }
    return XTC_OK;
}

/* Runs in its own context ctx, so that generations may share a model across threads. */
static xtc_status decode(xtc_context_t ctx, const struct source *cx, const int64_t *prompts, int64_t B, int64_t T,
                         const struct xtc_gen_options *o, xtc_gen_callback cb, void *user, int64_t *out,
                         int64_t *n_out, float *step_logits, struct xtc_error *err) {
    xtc_model_t m = xtc_context_model(ctx);
    if (!prompts || !out || !n_out || B < 1 || T < 1)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate: invalid arguments (batch %lld, prompt length %lld)", (long long)B,
                 (long long)T);
    XTC_TRY(xtc_gen_options_check(o, m->cfg.net.wrap.num_tokens, "xtc_generate", err));
    /* prompt and new tokens are held together (B, T + S): T + S must not overflow */
    if (T > GEN_MAX_TOKENS)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate: prompt length %lld exceeds 2^33 tokens", (long long)T);
    XTC_TRY(xtc_net_check_vocab_head(&m->cfg.net, "generation", err));
    *n_out = 0;
    const struct xtc_config *c = &m->cfg;
    bool xt = c->model_class == XTC_MODEL_XTRANSFORMER;
    if ((c->model_class != XTC_MODEL_TRANSFORMER_WRAPPER && !xt) || !c->net.layers.causal ||
        c->net.wrap.return_only_embed)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "generation needs a TransformerWrapper around a Decoder, or an XTransformer");
    if (c->net.layers.cross_attend && !cx)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "a cross-attending decoder generates from a source: xtc_generate_seq2seq");
    /* V: the token ids of prompts; Vo: the logits sampled from (logits_dim <= V, checked above) */
    int64_t V = c->net.wrap.num_tokens, Vo = c->net.wrap.logits_dim, M = c->net.wrap.max_seq_len, S = o->max_new_tokens;
    /* no cache with memory tokens (as x-transformers) nor with data-dependent ALiBi, whose cached
     * steps differ from the model (model.c) */
    bool cached = o->cache_kv && c->net.wrap.num_memory_tokens == 0 && !c->net.layers.dda;
    bool abs = c->net.wrap.use_abs_pos_emb && !c->net.wrap.scaled_sinu_pos_emb;
    if (cached && abs && M > 0 && T + S - 1 > M)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED,
                 "generating %lld tokens after %lld would run past max_seq_len %lld: with learned absolute positions "
                 "the KV cache cannot slide (x-transformers asserts too); turn the cache off (cache_kv = false, xtc generate --no-cache)",
                 (long long)S, (long long)T, (long long)M);
    int64_t W = M > 0 ? M : T + S; /* window */
    int64_t cap = T + S;
    size_t rows;
    if (xtc_mul_overflow(B, cap, &rows) || rows > GEN_MAX_TOKENS)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate: batch %lld x %lld tokens (prompt and new) exceeds 2^33 tokens",
                 (long long)B, (long long)cap);
    int64_t *seq = malloc(sizeof(int64_t) * (size_t)(B * cap));
    int64_t *win = malloc(sizeof(int64_t) * (size_t)(B * (W < cap ? W : cap)));
    float *scratch = malloc(sizeof(float) * (size_t)(2 * Vo));
    bool *done = calloc((size_t)B, sizeof(bool));
    int64_t *step_tokens = malloc(sizeof(int64_t) * (size_t)B);
    xtc_kv_cache_t kc = NULL;
    xtc_status rc = XTC_OK;
    if (!seq || !win || !scratch || !done || !step_tokens)
        rc = xtc_error_set(err, XTC_ERR_NOMEM,
                           "xtc_generate: out of memory allocating the buffers of %lld rows x %lld tokens",
                           (long long)B, (long long)cap);
    if (rc == XTC_OK && cached)
        rc = xtc_kv_cache_create(&kc, m, B, W < cap ? W : cap, err);
    struct xtc_rng rng;
    xtc_rng_seed(&rng, o->seed);
    int64_t s = 0;
    int64_t *start = o->prompt_lens ? malloc(sizeof(int64_t) * (size_t)B) : NULL;
    if (o->prompt_lens && !start && rc == XTC_OK)
        rc = xtc_error_set(err, XTC_ERR_NOMEM, "xtc_generate: out of memory allocating %lld start positions",
                           (long long)B);
    if (rc == XTC_OK)
        rc = xtc_decode_prompts(seq, cap, start, prompts, B, T, V, o->prompt_lens, o->pad_value, err);
    for (int64_t b = 0; rc == XTC_OK && b < B; b++)
        for (int64_t i = 0; o->eos_token >= 0 && i < T; i++)
            done[b] |= seq[b * cap + i] == o->eos_token;
    for (; rc == XTC_OK && s < S; s++) {
        int64_t len = T + s, w = len < W ? len : W, feed = w;
        if (cached && s > 0) {
            xtc_kv_cache_keep_last(kc, W - 1);
            feed = 1;
        } else if (cached) {
            xtc_kv_cache_reset(kc);
        }
        for (int64_t b = 0; b < B; b++)
            memcpy(win + b * feed, seq + b * cap + len - feed, sizeof(int64_t) * (size_t)feed);
        struct xtc_inputs in = {.batch = B, .len = feed, .tokens = win, .cache = kc, .seq_start_pos = start};
        if (cx) {
            in.context = cx->x;
            in.context_mask = cx->mask;
            in.context_len = cx->len;
        }
        struct xtc_outputs res;
        rc = xtc_context_forward(ctx, &in, &res, err);
        if (rc != XTC_OK)
            break;
        struct xtc_decode_rows d = {.B = B, .V = Vo, .S = S, .cap = cap, .at = len, .o = o, .seq = seq, .out = out,
                                    .step_tokens = step_tokens, .step_logits = step_logits, .scratch = scratch};
        rc = xtc_decode_step(res.logits, feed, &d, s, rng.s, err);
        if (rc != XTC_OK)
            break;
        bool all_done = o->eos_token >= 0;
        for (int64_t b = 0; b < B; b++) {
            done[b] |= step_tokens[b] == o->eos_token;
            all_done &= done[b];
        }
        bool go_on = !cb || cb(step_tokens, B, user);
        if (all_done || !go_on) {
            s++;
            break;
        }
    }
    if (rc == XTC_OK && o->eos_token >= 0) {
        /* everything after a row's first eos (searching from the prompt) becomes pad_value */
        for (int64_t b = 0; b < B; b++) {
            int64_t i = 0;
            while (i < T + s && seq[b * cap + i] != o->eos_token)
                i++;
            for (int64_t j = (i < T ? T : i + 1); j < T + s; j++)
                out[b * S + (j - T)] = o->pad_value;
        }
    }
    *n_out = s;
    xtc_kv_cache_free(kc);
    free(seq);
    free(win);
    free(scratch);
    free(done);
    free(step_tokens);
    free(start);
    return rc;
}

xtc_status xtc_generate(xtc_model_t m, const int64_t *prompts, int64_t B, int64_t T, const struct xtc_gen_options *o,
                        xtc_gen_callback cb, void *user, int64_t *out, int64_t *n_out, float *step_logits,
                        struct xtc_error *err) {
    if (!m)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate: NULL model");
    xtc_context_t ctx;
    XTC_TRY(xtc_context_create(&ctx, m, err));
    xtc_status rc = decode(ctx, NULL, prompts, B, T, o, cb, user, out, n_out, step_logits, err);
    xtc_context_free(ctx);
    return rc;
}

xtc_status xtc_generate_seq2seq(xtc_model_t m, const int64_t *src, const uint8_t *src_mask, int64_t src_len,
                                const int64_t *prompts, int64_t B, int64_t T, const struct xtc_gen_options *o,
                                xtc_gen_callback cb, void *user, int64_t *out, int64_t *n_out, float *step_logits,
                                struct xtc_error *err) {
    if (!m || m->cfg.model_class != XTC_MODEL_XTRANSFORMER)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate_seq2seq needs an XTransformer");
    /* the encoder runs once; its output is the decoder's context at every step */
    xtc_context_t ctx;
    XTC_TRY(xtc_context_create(&ctx, m, err));
    const float *enc;
    float *copy = NULL;
    xtc_status rc = xtc_context_encode(ctx, src, src_mask, B, src_len, &enc, err);
    if (rc == XTC_OK) { /* the decoding steps reuse the context's activations: keep a copy */
        size_t n = (size_t)(B * src_len * m->cfg.enc.layers.dim); /* < 2^44: encode checked B x src_len */
        if (!(copy = malloc(sizeof(float) * n)))
            rc = xtc_error_set(err, XTC_ERR_NOMEM,
                               "xtc_generate_seq2seq: out of memory allocating %zu bytes for the encoder output",
                               sizeof(float) * n);
        else
            memcpy(copy, enc, sizeof(float) * n);
    }
    struct source cx = {.x = copy, .mask = src_mask, .len = src_len};
    if (rc == XTC_OK)
        rc = decode(ctx, &cx, prompts, B, T, o, cb, user, out, n_out, step_logits, err);
    free(copy);
    xtc_context_free(ctx);
    return rc;
}
