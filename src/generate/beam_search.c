/* Beam search: x-transformers 2.31.10 AutoregressiveWrapper.beam_search.
 *
 * B prompts, K beams, R = B*K rows after the first step, V logits (the vocabulary, or a
 * narrower logits_dim), T prompt length,
 * S new tokens, W the window (max_seq_len). Per step (upstream line mirrored on the right):
 *
 *   x      = last W tokens of each row (or the newest one with the cache)   x = out[:, -max_seq_len:]
 *   logp   = log_softmax(logits[:, -1])                                     log_probs = logits.log_softmax(-1)
 *   prop   = logits, or filter(logits) / temperature + Gumbel noise         if stochastic and not greedy
 *   top    = the K largest of prop per row, largest first                   samples = logits.topk(beams)
 *   cand   = parent score + logp[top]  (K per row, row-major)               scores + next_scores
 *   keep   = per prompt the K best of its (rows * K) candidates, stable     scores.sort(descending)[:beams]
 *            sort; at the first step (K candidates) all, in topk order
 *   cache  = rows regathered: parent of kept candidate c = its row (c / K)  t[flat_index // beams]
 *
 * The first step runs the B prompts; its cache rows and seq_start_pos are repeated per beam
 * (repeat 'b -> (b beams)'), which is the regather with parent = b. Scores are float sums of
 * (float) log-probs computed in double, as upstream sums float32 log-probs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/kv_cache.h"
#include "core/lse.h"
#include "core/rng.h"
#include "core/status.h"
#include "generate/decode.h"
#include "model/model.h"
#include "xtc/generate.h"

void xtc_beam_options_default(struct xtc_beam_options *o) {
    *o = (struct xtc_beam_options){.max_new_tokens = 64, .beams = 4, .stochastic = false, .temperature = 1.0f,
                                   .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 0, .cache_kv = true,
                                   .prompt_lens = NULL, .pad_value = 0};
}

/* ------------------------------------------------------------------ buffers */

struct beams {
    int64_t B, K, R, T, S, V, W, cap;
    int64_t *seq, *seq_next; /* (R, cap) running sequences, prompt first */
    int64_t *win;            /* (R, min(W, cap)) tokens fed this step */
    float *score, *score_next; /* (R) */
    int64_t *cand_tok;       /* (R, K) proposals of each row */
    float *cand_score;       /* (R, K) their scores */
    int64_t *parent;         /* (R) row each surviving beam comes from */
    int64_t *start_b, *start_r; /* (B), (R) seq_start_pos, or NULL */
    float *prop, *scratch;   /* (V), (2V) */
    struct xtc_beam_cand { float score; int32_t idx; } *order; /* (K*K) */
};

static void beams_free(struct beams *s) {
    free(s->seq), free(s->seq_next), free(s->win), free(s->score), free(s->score_next), free(s->cand_tok);
    free(s->cand_score), free(s->parent), free(s->start_b), free(s->start_r), free(s->prop), free(s->scratch);
    free(s->order);
}

static bool beams_alloc(struct beams *s, bool ragged) {
    size_t R = (size_t)s->R, cap = (size_t)s->cap, K = (size_t)s->K, V = (size_t)s->V;
    size_t w = (size_t)(s->W < s->cap ? s->W : s->cap);
    s->seq = malloc(sizeof(int64_t) * R * cap);
    s->seq_next = malloc(sizeof(int64_t) * R * cap);
    s->win = malloc(sizeof(int64_t) * R * w);
    s->score = calloc(R, sizeof(float));
    s->score_next = calloc(R, sizeof(float));
    s->cand_tok = malloc(sizeof(int64_t) * R * K);
    s->cand_score = malloc(sizeof(float) * R * K);
    s->parent = malloc(sizeof(int64_t) * R);
    s->start_b = ragged ? malloc(sizeof(int64_t) * (size_t)s->B) : NULL;
    s->start_r = ragged ? malloc(sizeof(int64_t) * R) : NULL;
    s->prop = malloc(sizeof(float) * V);
    s->scratch = malloc(sizeof(float) * 2 * V);
    s->order = malloc(sizeof *s->order * K * K);
    return s->seq && s->seq_next && s->win && s->score && s->score_next && s->cand_tok && s->cand_score &&
           s->parent && (!ragged || (s->start_b && s->start_r)) && s->prop && s->scratch && s->order;
}

/* ------------------------------------------------------------------ one step */

/* idx[0..k-1]: the k largest of x (n), largest first; equal values keep the lower index first. */
static void top_k_indices(const float *x, int64_t n, int k, int64_t *idx) {
    int have = 0;
    for (int64_t i = 0; i < n; i++) {
        if (have == k && !(x[i] > x[idx[k - 1]]))
            continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && x[i] > x[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
}

/* -log(-log(u)) with x-transformers' clamp at 1e-20 inside both logs (gumbel_noise). */
static float gumbel(struct xtc_rng *rng) {
    double u = xtc_rng_uniform(rng);
    double inner = -log(u > 1e-20 ? u : 1e-20);
    return (float)-log(inner > 1e-20 ? inner : 1e-20);
}

/* The K proposals of one row and their scores, from its last logits. */
static void propose(struct beams *s, int64_t r, const float *logits, const struct xtc_gen_options *filters,
                    bool noise, struct xtc_rng *rng) {
    int64_t V = s->V;
    double lse = xtc_row_logsumexp(logits, V);
    const float *prop = logits;
    if (noise) {
        /* logits = filter_logits_fn(logits); logits = logits / temperature + gumbel_noise(logits) */
        memcpy(s->prop, logits, sizeof(float) * (size_t)V);
        xtc_filter_logits(s->prop, V, filters, s->scratch);
        for (int64_t v = 0; v < V; v++)
            s->prop[v] = s->prop[v] / filters->temperature + gumbel(rng);
        prop = s->prop;
    }
    int64_t *tok = s->cand_tok + r * s->K;
    top_k_indices(prop, V, (int)s->K, tok);
    for (int64_t j = 0; j < s->K; j++)
        s->cand_score[r * s->K + j] = s->score[r] + (float)((double)logits[tok[j]] - lse);
}

static int by_score_desc(const void *a, const void *b) {
    const struct xtc_beam_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Keeps the K best candidates of each prompt (rows b*pb .. b*pb+pb-1 hold its pb parents):
 * new row b*K+k, its parent row, sequence and score. len: tokens per row before this step. */
static void prune(struct beams *s, int64_t pb, int64_t len) {
    int64_t K = s->K, n = pb * K;
    for (int64_t b = 0; b < s->B; b++) {
        const float *cs = s->cand_score + b * n;
        for (int64_t c = 0; c < n; c++)
            s->order[c] = (struct xtc_beam_cand){cs[c], (int32_t)c};
        if (n > K) /* the first step keeps its K candidates in topk order, as upstream does not sort then */
            qsort(s->order, (size_t)n, sizeof *s->order, by_score_desc);
        for (int64_t k = 0; k < K; k++) {
            int64_t c = s->order[k].idx, row = b * K + k, from = b * pb + c / K;
            s->parent[row] = from;
            s->score_next[row] = cs[c];
            memcpy(s->seq_next + row * s->cap, s->seq + from * s->cap, sizeof(int64_t) * (size_t)len);
            s->seq_next[row * s->cap + len] = s->cand_tok[b * n + c];
        }
    }
    int64_t *t = s->seq;
    s->seq = s->seq_next, s->seq_next = t;
    float *f = s->score;
    s->score = s->score_next, s->score_next = f;
}

/* ------------------------------------------------------------------ the search */

static xtc_status check_args(xtc_model_t m, const int64_t *prompts, int64_t B, int64_t T,
                             const struct xtc_beam_options *o, const int64_t *tokens, struct xtc_error *err) {
    if (!m || !prompts || !o || !tokens)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_beam_search: NULL argument");
    if (B < 1 || T < 1 || B > (1 << 20) || T > (1 << 24) || o->max_new_tokens < 0 || o->max_new_tokens > (1 << 24))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_beam_search: batch %lld, prompt length %lld and max_new_tokens %lld out of range",
                 (long long)B, (long long)T, (long long)o->max_new_tokens);
    const struct xtc_config *c = &m->cfg;
    if (c->model_class != XTC_MODEL_TRANSFORMER_WRAPPER || !c->net.layers.causal || c->net.wrap.return_only_embed)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "beam search needs a TransformerWrapper around a Decoder");
    if (c->net.layers.cross_attend)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "beam search over a cross-attending decoder is not supported (no context)");
    XTC_TRY(xtc_net_check_vocab_head(&c->net, "beam search", err));
    int64_t V = c->net.wrap.logits_dim; /* the proposals: logits_dim <= num_tokens, checked above */
    if (o->beams < 1 || o->beams > V || o->beams > 1024 || (int64_t)o->beams * B > (1 << 20))
        XTC_FAIL(err, XTC_ERR_ARG,
                 "beams = %d must be in 1..min(logits_dim = %lld, 1024) (logits_dim: num_tokens unless set), and "
                 "batch * beams at most 2^20", o->beams, (long long)V);
    /* the sampler options, checked as for every generation entry point */
    struct xtc_gen_options filters;
    xtc_gen_options_default(&filters);
    filters.max_new_tokens = o->max_new_tokens, filters.temperature = o->temperature, filters.top_k = o->top_k;
    filters.top_p = o->top_p, filters.min_p = o->min_p;
    return xtc_gen_options_check(&filters, V, "xtc_beam_search", err);
}

xtc_status xtc_beam_search(xtc_model_t m, const int64_t *prompts, int64_t B, int64_t T,
                           const struct xtc_beam_options *o, int64_t *tokens, float *scores, struct xtc_error *err) {
    XTC_TRY(check_args(m, prompts, B, T, o, tokens, err));
    const struct xtc_config *c = &m->cfg;
    int64_t K = o->beams, S = o->max_new_tokens, M = c->net.wrap.max_seq_len;
    /* no cache with memory tokens (as x-transformers) nor with data-dependent ALiBi, whose cached
     * steps differ from the model (model.c) */
    bool cached = o->cache_kv && c->net.wrap.num_memory_tokens == 0 && !c->net.layers.dda;
    bool abs = c->net.wrap.use_abs_pos_emb && !c->net.wrap.scaled_sinu_pos_emb;
    if (cached && abs && M > 0 && T + S - 1 > M)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED,
                 "beam search of %lld tokens after %lld would run past max_seq_len %lld: with learned absolute "
                 "positions the KV cache cannot slide (x-transformers asserts too); turn the cache off (cache_kv = false, "
                 "xtc generate --no-cache)",
                 (long long)S, (long long)T, (long long)M);
    struct beams s = {.B = B, .K = K, .R = B * K, .T = T, .S = S, .V = c->net.wrap.logits_dim, .cap = T + S};
    s.W = M > 0 ? M : s.cap;
    xtc_status rc =
        beams_alloc(&s, o->prompt_lens != NULL)
            ? XTC_OK
            : xtc_error_set(err, XTC_ERR_NOMEM,
                            "xtc_beam_search: out of memory allocating the buffers of %lld beams x %lld tokens",
                            (long long)s.R, (long long)s.cap);
    if (rc == XTC_OK)
        rc = xtc_decode_prompts(s.seq, s.cap, s.start_b, prompts, B, T, c->net.wrap.num_tokens, o->prompt_lens,
                                o->pad_value, err);
    for (int64_t r = 0; rc == XTC_OK && s.start_r && r < s.R; r++)
        s.start_r[r] = s.start_b[r / K]; /* seq_start_pos repeated per beam after the first step */
    xtc_kv_cache_t kc = NULL;
    xtc_context_t ctx = NULL; /* its own: searches may share the model across threads */
    if (rc == XTC_OK)
        rc = xtc_context_create(&ctx, m, err);
    if (rc == XTC_OK && cached)
        rc = xtc_kv_cache_create(&kc, m, B, s.W < s.cap ? s.W : s.cap, err);
    struct xtc_gen_options filters;
    xtc_gen_options_default(&filters);
    filters.temperature = o->temperature, filters.top_k = o->top_k, filters.top_p = o->top_p;
    filters.min_p = o->min_p;
    bool noise = o->stochastic && o->temperature > 0; /* greedy = temperature == 0: no noise */
    struct xtc_rng rng;
    xtc_rng_seed(&rng, o->seed);
    for (int64_t i = 0; rc == XTC_OK && i < S; i++) {
        int64_t rows = i == 0 ? B : s.R, pb = i == 0 ? 1 : K;
        int64_t len = T + i, feed = len < s.W ? len : s.W;
        if (cached && i > 0) {
            xtc_kv_cache_keep_last(kc, s.W - 1);
            feed = 1;
        }
        for (int64_t r = 0; r < rows; r++)
            memcpy(s.win + r * feed, s.seq + r * s.cap + len - feed, sizeof(int64_t) * (size_t)feed);
        struct xtc_inputs in = {.batch = rows, .len = feed, .tokens = s.win, .cache = kc,
                                .seq_start_pos = i == 0 ? s.start_b : s.start_r};
        struct xtc_outputs res;
        rc = xtc_context_forward(ctx, &in, &res, err);
        if (rc != XTC_OK)
            break;
        for (int64_t r = 0; r < rows && rc == XTC_OK; r++)
            rc = xtc_logits_check(res.logits + (r * feed + feed - 1) * s.V, s.V, i, r, err);
        if (rc != XTC_OK)
            break;
        for (int64_t r = 0; r < rows; r++)
            propose(&s, r, res.logits + (r * feed + feed - 1) * s.V, &filters, noise, &rng);
        prune(&s, pb, len);
        if (cached)
            rc = xtc_kv_cache_reorder(kc, s.parent, s.R, err);
    }
    if (rc == XTC_OK) {
        for (int64_t r = 0; r < s.R; r++)
            memcpy(tokens + r * S, s.seq + r * s.cap + T, sizeof(int64_t) * (size_t)S);
        if (scores)
            memcpy(scores, s.score, sizeof(float) * (size_t)s.R);
    }
    xtc_kv_cache_free(kc);
    xtc_context_free(ctx);
    beams_free(&s);
    return rc;
}
