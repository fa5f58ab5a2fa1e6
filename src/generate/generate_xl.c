/* Transformer-XL generation (x-transformers XLAutoregressiveWrapper.generate,
 * golden README §9): the full max_seq_len segments of the prompt build the
 * memories; the current segment is decoded with those memories and a KV cache
 * of its own tokens. Where x-transformers 2.26.4 fails (a step that starts
 * with the sequence at a multiple of max_seq_len), xtc does what its code
 * intends: it runs the full segment, takes its last logits, and starts a new
 * segment whose memories come from that run. */
#include <stdlib.h>
#include <string.h>

#include "attn/kv_cache.h"
#include "core/rng.h"
#include "core/status.h"
#include "generate/decode.h"
#include "model/model.h"
#include "xtc/generate.h"

struct xl_state {
    int n_layers;
    int64_t B, C, len; /* memory length */
    float **mems;
};

static void mems_free(struct xl_state *x) {
    for (int l = 0; x->mems && l < x->n_layers; l++)
        free(x->mems[l]);
    free(x->mems);
    x->mems = NULL;
    x->len = 0;
}

/* Runs seq[:, from:from+n] with the current memories (and the cache when kc), replacing the
 * memories with the new ones when update. */
static xtc_status run(xtc_model_t m, struct xl_state *x, const int64_t *seq, int64_t cap, int64_t from, int64_t n,
                      int64_t *win, xtc_kv_cache_t kc, bool update, const float **logits, struct xtc_error *err) {
    for (int64_t b = 0; b < x->B; b++)
        memcpy(win + b * n, seq + b * cap + from, sizeof(int64_t) * (size_t)n);
    struct xtc_inputs in = {.batch = x->B, .len = n, .tokens = win, .cache = kc, .return_mems = update};
    if (x->len > 0) {
        in.mems = (const float *const *)x->mems;
        in.n_mems = x->n_layers;
        in.mem_len = x->len;
    }
    struct xtc_outputs out;
    XTC_TRY(xtc_model_forward(m, &in, &out, err));
    *logits = out.logits;
    if (update) {
        float **nm = calloc((size_t)x->n_layers, sizeof(float *));
        bool ok = nm != NULL;
        size_t bytes = sizeof(float) * (size_t)(x->B * out.mem_len * x->C);
        for (int l = 0; ok && l < x->n_layers; l++) {
            nm[l] = malloc(bytes ? bytes : 1);
            ok = nm[l] != NULL;
            if (ok)
                memcpy(nm[l], out.mems[l], bytes);
        }
        if (!ok) {
            for (int l = 0; nm && l < x->n_layers; l++)
                free(nm[l]);
            free(nm);
            XTC_FAIL(err, XTC_ERR_NOMEM, "memories");
        }
        mems_free(x);
        x->mems = nm;
        x->len = out.mem_len;
    }
    return XTC_OK;
}

xtc_status xtc_generate_xl(xtc_model_t m, const int64_t *prompts, int64_t B, int64_t T,
                           const struct xtc_gen_options *o, xtc_gen_callback cb, void *user, int64_t *out,
                           int64_t *n_out, float *step_logits, struct xtc_error *err) {
    if (!m || !prompts || !o || !out || !n_out || B < 1 || T < 1 || o->max_new_tokens < 0)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_generate_xl: invalid arguments");
    *n_out = 0;
    const struct xtc_config *c = &m->cfg;
    int64_t V = c->net.wrap.num_tokens, M = c->net.wrap.max_seq_len, S = o->max_new_tokens;
    if (c->model_class != XTC_MODEL_TRANSFORMER_WRAPPER || !c->net.layers.causal || M < 1 || c->net.layers.cross_attend)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "Transformer-XL generation needs a TransformerWrapper decoder with max_seq_len");
    for (int64_t i = 0; i < B * T; i++)
        if (prompts[i] < 0 || prompts[i] >= V)
            XTC_FAIL(err, XTC_ERR_ARG, "prompt token %lld is not a token id (num_tokens %lld)", (long long)prompts[i],
                     (long long)V);
    int64_t cap = T + S;
    struct xl_state x = {.n_layers = m->net.stack.n_self, .B = B, .C = c->net.layers.dim};
    int64_t *seq = malloc(sizeof(int64_t) * (size_t)(B * cap));
    int64_t *win = malloc(sizeof(int64_t) * (size_t)(B * (M > T ? M : T)));
    float *scratch = malloc(sizeof(float) * (size_t)(2 * V));
    int64_t *step_tokens = malloc(sizeof(int64_t) * (size_t)B);
    bool cached = o->cache_kv && c->net.wrap.num_memory_tokens == 0;
    xtc_kv_cache_t kc = NULL;
    xtc_status rc = seq && win && scratch && step_tokens ? XTC_OK : xtc_error_set(err, XTC_ERR_NOMEM, "buffers");
    if (rc == XTC_OK && cached)
        rc = xtc_kv_cache_create(&kc, m, B, M, err);
    for (int64_t b = 0; rc == XTC_OK && b < B; b++)
        memcpy(seq + b * cap, prompts + b * T, sizeof(int64_t) * (size_t)T);
    struct xtc_rng rng;
    xtc_rng_seed(&rng, o->seed);
    const float *logits = NULL;
    /* the full segments of the prompt (all pieces of split(M) but the last) build the memories */
    int64_t F = (T + M - 1) / M - 1, start = F * M;
    for (int64_t f = 0; rc == XTC_OK && f < F; f++)
        rc = run(m, &x, seq, cap, f * M, M, win, NULL, true, &logits, err);
    int64_t s = 0;
    for (; rc == XTC_OK && s < S; s++) {
        int64_t len = T + s, take; /* take: positions fed this step, the last one is sampled */
        if (len - start == M) {
            /* the segment is full: run it whole, its memories start the next segment */
            rc = run(m, &x, seq, cap, start, M, win, NULL, true, &logits, err);
            start += M;
            take = M;
            if (kc)
                xtc_kv_cache_reset(kc);
        } else if (kc && xtc_kv_cache_len(kc) == len - start - 1 && len - start > 1) {
            /* the cache holds the segment's earlier tokens: feed the newest one */
            take = 1;
            rc = run(m, &x, seq, cap, len - 1, 1, win, kc, false, &logits, err);
        } else {
            if (kc)
                xtc_kv_cache_reset(kc);
            take = len - start;
            rc = run(m, &x, seq, cap, start, take, win, kc, false, &logits, err);
        }
        if (rc != XTC_OK)
            break;
        struct xtc_decode_rows d = {.B = B, .V = V, .S = S, .cap = cap, .at = len, .o = o, .seq = seq, .out = out,
                                    .step_tokens = step_tokens, .step_logits = step_logits, .scratch = scratch};
        xtc_decode_step(logits, take, &d, s, rng.s);
        if (cb && !cb(step_tokens, B, user)) {
            s++;
            break;
        }
    }
    *n_out = s;
    xtc_kv_cache_free(kc);
    mems_free(&x);
    free(seq);
    free(win);
    free(scratch);
    free(step_tokens);
    return rc;
}
