/* Transformer-XL generation (x-transformers 2.31.10 XLAutoregressiveWrapper.generate,
 * golden README §9). The prompt's full max_seq_len segments (all pieces of split(M) but
 * the last) build the memories. Within a segment every step decodes the segment so far
 * with that segment's fixed memories `seg` (with the KV cache: the first call runs all
 * its fed tokens, later calls only the newest). After each such step the *carried*
 * memories become the last max_mem_len rows of [seg ; H], H the hidden states of the
 * positions that call processed (all of them on the segment's first call, the newest
 * one afterwards: what the cached library keeps). A step that starts on a segment
 * boundary (running length a multiple of M) re-runs the last full segment with the
 * carried memories; its last logits give the token and its memories start the next
 * segment. The uncached path computes the same carried memories from the full call.
 * Shape letters: B batch, T prompt, S new tokens, M segment (max_seq_len), L max_mem_len,
 * C dim, V vocab. */
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
#define XL_MAX_TOKENS ((int64_t)1 << 33)

/* n_self memory tensors (B, len, C) of capacity L rows each. */
struct mems {
    int64_t len;
    float **t;
};

struct xl_state {
    int n_layers;
    int64_t B, C, L;
    struct mems seg, carried; /* the current segment's memories; those a boundary re-run reads */
};

static void mems_free(struct mems *x, int n) {
    for (int l = 0; x->t && l < n; l++)
        free(x->t[l]);
    free(x->t);
}

static bool mems_alloc(struct mems *x, int n, size_t bytes) {
    x->len = 0;
    x->t = calloc((size_t)n + 1, sizeof(float *));
    for (int l = 0; x->t && l < n; l++)
        if (!(x->t[l] = malloc(bytes ? bytes : 1)))
            return false;
    return x->t != NULL;
}

static void mems_copy(const struct xl_state *x, struct mems *dst, const struct mems *src) {
    for (int l = 0; l < x->n_layers; l++)
        memcpy(dst->t[l], src->t[l], sizeof(float) * (size_t)(x->B * src->len * x->C));
    dst->len = src->len;
}

/* dst = last L rows of [seg ; h], h the one row per batch row of every layer's tensor in rows
 * (taken at row index `at` of tensors with `len` rows). */
static void carry_last(const struct xl_state *x, struct mems *dst, const struct mems *seg, const float *const *rows,
                       int64_t len, int64_t at) {
    int64_t keep = seg->len + 1 < x->L ? seg->len + 1 : x->L, from_seg = keep - 1, C = x->C;
    for (int l = 0; l < x->n_layers; l++)
        for (int64_t b = 0; b < x->B; b++) {
            float *d = dst->t[l] + b * keep * C;
            if (from_seg > 0)
                memcpy(d, seg->t[l] + (b * seg->len + seg->len - from_seg) * C, sizeof(float) * (size_t)(from_seg * C));
            memcpy(d + from_seg * C, rows[l] + (b * len + at) * C, sizeof(float) * (size_t)C);
        }
    dst->len = keep;
}

/* Runs seq[:, from:from+n] (row stride cap) with memories `mems` (and the cache when kc);
 * out gets the call's outputs (its memories: last L rows of [mems ; hidden states]). */
static xtc_status run(xtc_context_t ctx, const struct xl_state *x, const struct mems *mems, const int64_t *seq,
                      int64_t cap, int64_t from, int64_t n, int64_t *win, xtc_kv_cache_t kc, struct xtc_outputs *out,
                      struct xtc_error *err) {
    for (int64_t b = 0; b < x->B; b++)
        memcpy(win + b * n, seq + b * cap + from, sizeof(int64_t) * (size_t)n);
    struct xtc_inputs in = {.batch = x->B, .len = n, .tokens = win, .cache = kc, .return_mems = x->L > 0};
    if (mems && mems->len > 0) {
        in.mems = (const float *const *)mems->t;
        in.n_mems = x->n_layers;
        in.mem_len = mems->len;
    }
    return xtc_context_forward(ctx, &in, out, err);
}

/* The memories of a call: last L rows of [mems ; all its hidden states] (the forward's own). */
static void take_all(const struct xl_state *x, struct mems *dst, const struct xtc_outputs *out) {
    for (int l = 0; l < x->n_layers; l++)
        memcpy(dst->t[l], out->mems[l], sizeof(float) * (size_t)(x->B * out->mem_len * x->C));
    dst->len = out->mem_len;
}

static xtc_status check_args(xtc_model_t m, const int64_t *prompts, int64_t B, int64_t T,
                             const struct xtc_gen_options *o, const int64_t *out, const int64_t *n_out,
                             struct xtc_error *err) {
    if (!m || !prompts || !out || !n_out || B < 1 || T < 1)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate_xl: invalid arguments (batch %lld, prompt length %lld)",
                 (long long)B, (long long)T);
    XTC_TRY(xtc_gen_options_check(o, m->cfg.net.wrap.num_tokens, "xtc_generate_xl", err));
    /* before reading the B x T prompt ids, and so that T + max_new_tokens cannot overflow */
    int64_t BT;
    if (T > XL_MAX_TOKENS || xtc_count_over(B, T, XL_MAX_TOKENS, &BT))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate_xl: batch %lld x prompt length %lld exceeds 2^33 tokens", (long long)B,
                 (long long)T);
    XTC_TRY(xtc_net_check_vocab_head(&m->cfg.net, "Transformer-XL generation", err));
    const struct xtc_config *c = &m->cfg;
    if (c->model_class != XTC_MODEL_TRANSFORMER_WRAPPER || !c->net.layers.causal || c->net.wrap.max_seq_len < 1 ||
        c->net.layers.cross_attend || c->net.wrap.return_only_embed)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "Transformer-XL generation needs a TransformerWrapper decoder with max_seq_len");
    int64_t V = c->net.wrap.num_tokens;
    for (int64_t i = 0; i < BT; i++)
        if (prompts[i] < 0 || prompts[i] >= V)
            XTC_FAIL(err, XTC_ERR_ARG, "prompt token %lld is not a token id (num_tokens %lld)", (long long)prompts[i],
                     (long long)V);
    return XTC_OK;
}

xtc_status xtc_generate_xl(xtc_model_t m, const int64_t *prompts, int64_t B, int64_t T,
                           const struct xtc_gen_options *o, xtc_gen_callback cb, void *user, int64_t *out,
                           int64_t *n_out, float *step_logits, struct xtc_error *err) {
    XTC_TRY(check_args(m, prompts, B, T, o, out, n_out, err));
    *n_out = 0;
    const struct xtc_config *c = &m->cfg;
    /* the logits sampled from: logits_dim <= num_tokens (check_args) */
    int64_t V = c->net.wrap.logits_dim, M = c->net.wrap.max_seq_len, S = o->max_new_tokens, cap = T + S;
    struct xl_state x = {.n_layers = m->net.stack.n_self, .B = B, .C = c->net.layers.dim, .L = c->net.wrap.max_mem_len};
    size_t seq_n, win_n, mem_bytes;
    if (xtc_mul_overflow(B, cap, &seq_n) || seq_n > XL_MAX_TOKENS || xtc_mul_overflow(B, M > T ? M : T, &win_n) ||
        xtc_mul3_overflow((size_t)B * (size_t)x.L, (size_t)x.C, sizeof(float), &mem_bytes))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate_xl: batch %lld x %lld tokens (prompt and new) exceeds 2^33 tokens",
                 (long long)B, (long long)cap);
    int64_t *seq = malloc(sizeof(int64_t) * seq_n);
    int64_t *win = malloc(sizeof(int64_t) * win_n);
    float *scratch = malloc(sizeof(float) * (size_t)(2 * V));
    int64_t *step_tokens = malloc(sizeof(int64_t) * (size_t)B);
    /* XLAutoregressiveWrapper always decodes with the cache; recomputing gives the same numbers
     * except with shift_tokens, whose cached steps shift within their new token: such models
     * take the cache whatever o->cache_kv says. No cache with memory tokens (as x-transformers)
     * nor with data-dependent ALiBi, whose cached steps differ from the model (model.c). */
    bool cached = (o->cache_kv || c->net.layers.shift_tokens > 0) && c->net.wrap.num_memory_tokens == 0 &&
                  !c->net.layers.dda;
    xtc_kv_cache_t kc = NULL;
    xtc_context_t ctx = NULL; /* its own: generations may share the model across threads */
    bool ok = seq && win && scratch && step_tokens && mems_alloc(&x.seg, x.n_layers, mem_bytes) &&
              mems_alloc(&x.carried, x.n_layers, mem_bytes);
    xtc_status rc =
        ok ? XTC_OK
           : xtc_error_set(err, XTC_ERR_NOMEM,
                           "xtc_generate_xl: out of memory allocating the buffers of %lld rows x %lld tokens",
                           (long long)B, (long long)cap);
    if (rc == XTC_OK)
        rc = xtc_context_create(&ctx, m, err);
    if (rc == XTC_OK && cached)
        rc = xtc_kv_cache_create(&kc, m, B, M, err);
    for (int64_t b = 0; rc == XTC_OK && b < B; b++)
        memcpy(seq + b * cap, prompts + b * T, sizeof(int64_t) * (size_t)T);
    struct xtc_rng rng;
    xtc_rng_seed(&rng, o->seed);
    struct xtc_outputs res;
    /* the full segments of the prompt build the memories */
    int64_t F = (T + M - 1) / M - 1, start = F * M;
    for (int64_t f = 0; rc == XTC_OK && f < F; f++)
        if ((rc = run(ctx, &x, &x.carried, seq, cap, f * M, M, win, NULL, &res, err)) == XTC_OK)
            take_all(&x, &x.carried, &res);
    if (rc == XTC_OK)
        mems_copy(&x, &x.seg, &x.carried);
    bool first = true; /* the next call is the current segment's first */
    int64_t s = 0;
    for (; rc == XTC_OK && s < S; s++) {
        int64_t n = T + s, take; /* take: positions fed this step, the last one is sampled */
        if (n % M == 0) {
            /* a boundary: the last full segment again, with the carried memories; its
             * memories start the next segment, whose first token is fed next step */
            take = M;
            if ((rc = run(ctx, &x, &x.carried, seq, cap, n - M, M, win, NULL, &res, err)) != XTC_OK)
                break;
            take_all(&x, &x.carried, &res);
            mems_copy(&x, &x.seg, &x.carried);
            start = n;
            first = true;
        } else {
            bool step1 = kc && !first && xtc_kv_cache_len(kc) == n - start - 1;
            if (kc && !step1)
                xtc_kv_cache_reset(kc);
            take = step1 ? 1 : n - start;
            if ((rc = run(ctx, &x, &x.seg, seq, cap, n - take, take, win, kc, &res, err)) != XTC_OK)
                break;
            if (x.L > 0 && first) {
                take_all(&x, &x.carried, &res);
            } else if (x.L > 0) {
                /* the newest position's hidden state is the last row of the call's memories */
                carry_last(&x, &x.carried, &x.seg, res.mems, res.mem_len, res.mem_len - 1);
            }
            first = false;
        }
        struct xtc_decode_rows d = {.B = B, .V = V, .S = S, .cap = cap, .at = n, .o = o, .seq = seq, .out = out,
                                    .step_tokens = step_tokens, .step_logits = step_logits, .scratch = scratch};
        rc = xtc_decode_step(res.logits, take, &d, s, rng.s, err);
        if (rc != XTC_OK)
            break;
        if (cb && !cb(step_tokens, B, user)) {
            s++;
            break;
        }
    }
    *n_out = s;
    xtc_kv_cache_free(kc);
    xtc_context_free(ctx);
    mems_free(&x.seg, x.n_layers);
    mems_free(&x.carried, x.n_layers);
    free(seq);
    free(win);
    free(scratch);
    free(step_tokens);
    return rc;
}
