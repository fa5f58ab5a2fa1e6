/* Beam search (xtc_beam_search) and the KV cache regather it relies on (xtc_kv_cache_reorder):
 * - cached and uncached searches give the same beams and scores (inside max_seq_len, where the
 *   two are the same function), for several positional schemes and with ragged prompts;
 * - every score is the sum of the log-softmax of the beam's tokens, recomputed by one plain
 *   forward over the whole sequence, and the beams come sorted best first and distinct;
 * - with as many beams as tokens, two steps are exhaustive: the beams are the best sequences of
 *   all V^2, in order;
 * - one beam is greedy decoding (xtc_generate), also past max_seq_len and with ragged prompts;
 * - stochastic search is deterministic for a seed, depends on it, keeps exact scores, and its
 *   filters restrict the proposals;
 * - a regathered cache (cross-attention rows included) continues like a fresh one;
 * - argument errors come back as codes with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xtc/xtc.h"

static xtc_model_t model(int64_t V, int64_t M, const char *layers_kwargs, const char *wrapper_kwargs, uint64_t seed) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": %lld, \"max_seq_len\": %lld%s, "
             "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, %s}}}}",
             (long long)V, (long long)M, wrapper_kwargs, layers_kwargs);
    xtc_model_t m = NULL;
    struct xtc_error err;
    if (xtc_model_create(&m, cfg, strlen(cfg), seed, &err) != XTC_OK)
        CHECK(0, "init %s: %s", layers_kwargs, err.msg);
    return m;
}

/* Sum over s of log_softmax(last logits of prompt + new[:s])[new[s]]: one plain uncached forward per
 * step over the whole prefix (prompt right-aligned after pad 0 when plen > 0, its padding hidden
 * as beam search hides it; per step, since XPOS scales depend on the length). Valid while the
 * sequence fits in max_seq_len. */
static double seq_logprob(xtc_model_t m, const int64_t *prompt, int64_t T, int64_t plen, const int64_t *new_tokens,
                          int64_t S, int64_t V) {
    int64_t seq[64], start = plen > 0 ? T - plen : 0;
    for (int64_t i = 0; i < T; i++)
        seq[i] = plen > 0 ? (i < start ? 0 : prompt[i - start]) : prompt[i];
    for (int64_t s = 0; s < S; s++)
        seq[T + s] = new_tokens[s];
    double total = 0;
    for (int64_t s = 0; s < S; s++) {
        struct xtc_inputs in = {.batch = 1, .len = T + s, .tokens = seq, .seq_start_pos = plen > 0 ? &start : NULL};
        struct xtc_outputs out;
        struct xtc_error err;
        if (xtc_model_forward(m, &in, &out, &err) != XTC_OK) {
            CHECK(0, "recompute: %s", err.msg);
            return NAN;
        }
        const float *l = out.logits + (T + s - 1) * V;
        double mx = l[0], sum = 0;
        for (int64_t v = 1; v < V; v++)
            mx = l[v] > mx ? l[v] : mx;
        for (int64_t v = 0; v < V; v++)
            sum += exp(l[v] - mx);
        total += l[new_tokens[s]] - mx - log(sum);
    }
    return total;
}

/* Beams of each prompt: scores sorted best first (S >= 2), the beams pairwise different, each
 * score equal to the recomputed log-probability of its tokens. */
static void check_beams(const char *name, xtc_model_t m, const int64_t *prompts, int64_t B, int64_t T,
                        const int64_t *plens, int64_t K, int64_t S, int64_t V, const int64_t *tok, const float *score) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < K; k++) {
            const int64_t *t = tok + (b * K + k) * S;
            for (int64_t s = 0; s < S; s++)
                CHECK(t[s] >= 0 && t[s] < V, "%s: beam %lld token %lld = %lld", name, (long long)k, (long long)s,
                      (long long)t[s]);
            if (S >= 2 && k > 0)
                CHECK(score[b * K + k] <= score[b * K + k - 1], "%s: prompt %lld beams sorted by score", name,
                      (long long)b);
            for (int64_t j = 0; j < k; j++)
                CHECK(memcmp(t, tok + (b * K + j) * S, sizeof(int64_t) * (size_t)S) != 0,
                      "%s: prompt %lld beams %lld and %lld are the same", name, (long long)b, (long long)j, (long long)k);
            double want = seq_logprob(m, prompts + b * T, T, plens ? plens[b] : 0, t, S, V);
            /* a float sum of S float log-probs against a double recomputation by a differently
             * ordered (whole-sequence) forward: about 1e-6 relative per term */
            CHECK(fabs(score[b * K + k] - want) <= 1e-4 + 1e-5 * fabs(want),
                  "%s: prompt %lld beam %lld score %.7g, recomputed %.7g", name, (long long)b, (long long)k,
                  score[b * K + k], want);
        }
}

static void cached_vs_uncached(const char *name, const char *layers_kwargs, const char *wrapper_kwargs, int K,
                               bool ragged) {
    enum { B = 2, T = 6, S = 9, V = 40 };
    xtc_model_t m = model(V, 24, layers_kwargs, wrapper_kwargs, 7);
    if (!m)
        return;
    int64_t prompts[B * T] = {1, 7, 3, 9, 2, 5, 5, 11, 30, 4, 0, 0}, plens[B] = {6, 4};
    int64_t a[B * 8 * S], b[B * 8 * S];
    float sa[B * 8], sb[B * 8];
    struct xtc_beam_options o;
    xtc_beam_options_default(&o);
    o.beams = K;
    o.max_new_tokens = S;
    o.prompt_lens = ragged ? plens : NULL;
    struct xtc_error err;
    CHECK(xtc_beam_search(m, prompts, B, T, &o, a, sa, &err) == XTC_OK, "%s cached: %s", name, err.msg);
    o.cache_kv = false;
    CHECK(xtc_beam_search(m, prompts, B, T, &o, b, sb, &err) == XTC_OK, "%s uncached: %s", name, err.msg);
    CHECK(memcmp(a, b, sizeof(int64_t) * (size_t)(B * K * S)) == 0, "%s: cached beams equal uncached beams", name);
    char label[128];
    snprintf(label, sizeof label, "%s scores", name);
    /* the same function, summed in another order (one row against the whole window) */
    CHECK(xtc_check_close_f(label, sa, sb, (size_t)(B * K), 2e-5, 2e-5) == 0, "%s", label);
    check_beams(name, m, prompts, B, T, ragged ? plens : NULL, K, S, V, a, sa);
    xtc_model_free(m);
}

/* beams = num_tokens, 2 steps: the first step keeps every token, the second ranks all V^2 sequences. */
static void exhaustive(void) {
    enum { T = 4, V = 8, S = 2 };
    xtc_model_t m = model(V, 16, "\"heads\": 2, \"rotary_pos_emb\": true", "", 3);
    if (!m)
        return;
    int64_t prompt[T] = {3, 1, 4, 1}, tok[V * S];
    float score[V];
    struct xtc_beam_options o;
    xtc_beam_options_default(&o);
    o.beams = V;
    o.max_new_tokens = S;
    struct xtc_error err;
    CHECK(xtc_beam_search(m, prompt, 1, T, &o, tok, score, &err) == XTC_OK, "exhaustive: %s", err.msg);
    double all[V * V];
    for (int64_t i = 0; i < V * V; i++)
        all[i] = seq_logprob(m, prompt, T, 0, (int64_t[]){i / V, i % V}, S, V);
    for (int k = 0; k < V; k++) { /* the k-th best of all sequences, by selection */
        int64_t best = -1;
        for (int64_t i = 0; i < V * V; i++)
            if (!isnan(all[i]) && (best < 0 || all[i] > all[best]))
                best = i;
        CHECK(tok[k * S] == best / V && tok[k * S + 1] == best % V,
              "exhaustive: beam %d is (%lld, %lld), the %d-th best sequence is (%lld, %lld)", k, (long long)tok[k * S],
              (long long)tok[k * S + 1], k, (long long)(best / V), (long long)(best % V));
        /* float sums of two log-probs against double recomputation */
        CHECK(fabs(score[k] - all[best]) < 1e-5, "exhaustive: score %d %.7g vs %.7g", k, score[k], all[best]);
        all[best] = NAN;
    }
    xtc_model_free(m);
}

/* One beam keeps the most likely token each step: greedy decoding, window and cache included. */
static void one_beam_is_greedy(const char *name, const char *layers_kwargs, bool cached, bool ragged) {
    enum { B = 2, T = 5, S = 15, V = 40 };
    bool abs = !strstr(layers_kwargs, "rotary");
    xtc_model_t m = model(V, 12, layers_kwargs, abs && cached ? ", \"use_abs_pos_emb\": false" : "", 5); /* T + S - 1 > max_seq_len: the window slides */
    if (!m)
        return;
    int64_t prompts[B * T] = {2, 9, 3, 3, 17, 1, 8, 25, 0, 0}, plens[B] = {5, 3}, a[B * S], g[B * S], n;
    float score[B];
    struct xtc_beam_options o;
    xtc_beam_options_default(&o);
    o.beams = 1;
    o.max_new_tokens = S;
    o.cache_kv = cached;
    o.prompt_lens = ragged ? plens : NULL;
    struct xtc_gen_options go;
    xtc_gen_options_default(&go);
    go.max_new_tokens = S;
    go.cache_kv = cached;
    go.prompt_lens = o.prompt_lens;
    struct xtc_error err;
    CHECK(xtc_beam_search(m, prompts, B, T, &o, a, score, &err) == XTC_OK, "%s beam: %s", name, err.msg);
    CHECK(xtc_generate(m, prompts, B, T, &go, NULL, NULL, g, &n, NULL, &err) == XTC_OK, "%s greedy: %s", name, err.msg);
    CHECK(n == S && memcmp(a, g, sizeof a) == 0, "%s: one beam equals greedy decoding", name);
    CHECK(score[0] < 0 && score[1] < 0, "%s: scores are log-probabilities", name);
    xtc_model_free(m);
}

static void stochastic(void) {
    enum { B = 2, T = 5, S = 7, V = 40, K = 3 };
    xtc_model_t m = model(V, 24, "\"heads\": 2, \"rotary_pos_emb\": true", "", 9);
    if (!m)
        return;
    int64_t prompts[B * T] = {4, 4, 20, 13, 0, 6, 25, 17, 8, 1}, a[B * K * S], b[B * K * S], c[B * K * S];
    float sa[B * K], sb[B * K], sc[B * K];
    struct xtc_beam_options o;
    xtc_beam_options_default(&o);
    o.beams = K;
    o.max_new_tokens = S;
    o.stochastic = true;
    o.temperature = 1.5f;
    o.top_k = 20;
    o.seed = 42;
    struct xtc_error err;
    CHECK(xtc_beam_search(m, prompts, B, T, &o, a, sa, &err) == XTC_OK, "stochastic: %s", err.msg);
    CHECK(xtc_beam_search(m, prompts, B, T, &o, b, sb, &err) == XTC_OK, "stochastic again: %s", err.msg);
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(sa, sb, sizeof sa) == 0, "stochastic: the same seed, the same beams");
    check_beams("stochastic", m, prompts, B, T, NULL, K, S, V, a, sa);
    o.cache_kv = false;
    CHECK(xtc_beam_search(m, prompts, B, T, &o, c, sc, &err) == XTC_OK, "stochastic uncached: %s", err.msg);
    CHECK(memcmp(a, c, sizeof a) == 0, "stochastic: uncached draws the same beams");
    o.cache_kv = true;
    bool differs = false;
    for (uint64_t seed = 1; seed <= 4 && !differs; seed++) {
        o.seed = seed;
        CHECK(xtc_beam_search(m, prompts, B, T, &o, b, sb, &err) == XTC_OK, "stochastic seed: %s", err.msg);
        differs = memcmp(a, b, sizeof a) != 0;
    }
    CHECK(differs, "stochastic: other seeds give other beams");
    /* temperature 0 turns the noise off: the proposals are the top-k logits again */
    o.temperature = 0;
    CHECK(xtc_beam_search(m, prompts, B, T, &o, b, sb, &err) == XTC_OK, "stochastic t=0: %s", err.msg);
    o.stochastic = false;
    o.temperature = 1;
    CHECK(xtc_beam_search(m, prompts, B, T, &o, c, sc, &err) == XTC_OK, "greedy proposals: %s", err.msg);
    CHECK(memcmp(b, c, sizeof b) == 0, "stochastic with temperature 0 equals greedy proposals");
    /* a top-k filter of k = beams leaves exactly the greedy proposals (in random order): after the
     * first pruning the beams are the greedy ones, whatever the seed */
    o.stochastic = true;
    o.top_k = K;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        o.seed = seed;
        CHECK(xtc_beam_search(m, prompts, B, T, &o, b, sb, &err) == XTC_OK, "stochastic top-k: %s", err.msg);
        CHECK(memcmp(b, c, sizeof b) == 0, "stochastic with top_k = beams equals greedy proposals (seed %llu)",
              (unsigned long long)seed);
    }
    xtc_model_free(m);
}

/* Prefill two rows, regather them as (1, 0, 1), take one step: the logits equal those of a fresh
 * cache prefilled with the regathered rows (self- and cross-attention keys/values both follow). */
static void reorder_cache(void) {
    const char *cfg = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 30, \"max_seq_len\": 16, "
                      "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, \"heads\": 2, "
                      "\"cross_attend\": true, \"rotary_pos_emb\": true}}}}";
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_create(&m, cfg, strlen(cfg), 13, &err) != XTC_OK) {
        CHECK(0, "reorder: init: %s", err.msg);
        return;
    }
    enum { T = 5, C = 4, V = 30, D = 32 };
    int64_t prompts[2 * T] = {1, 5, 9, 2, 7, 7, 3, 28, 11, 4}, parent[3] = {1, 0, 1}, step[3] = {6, 12, 19};
    int64_t regathered[3 * T];
    float ctx[2 * C * D], ctx3[3 * C * D], got[3 * V], want[3 * V];
    for (int i = 0; i < 2 * C * D; i++)
        ctx[i] = (float)cos(0.23 * i);
    for (int r = 0; r < 3; r++) {
        memcpy(regathered + r * T, prompts + parent[r] * T, sizeof(int64_t) * T);
        memcpy(ctx3 + r * C * D, ctx + parent[r] * C * D, sizeof(float) * C * D);
    }
    xtc_kv_cache_t kc, fresh;
    CHECK(xtc_kv_cache_create(&kc, m, 2, 8, &err) == XTC_OK, "reorder: cache: %s", err.msg);
    CHECK(xtc_kv_cache_create(&fresh, m, 3, 8, &err) == XTC_OK, "reorder: cache: %s", err.msg);
    struct xtc_inputs in = {.batch = 2, .len = T, .tokens = prompts, .context = ctx, .context_len = C, .cache = kc};
    struct xtc_outputs out;
    CHECK(xtc_model_forward(m, &in, &out, &err) == XTC_OK, "reorder: prefill: %s", err.msg);
    CHECK(xtc_kv_cache_reorder(kc, (int64_t[]){0, 2}, 2, &err) == XTC_ERR_ARG && err.msg[0],
          "reorder: a parent that is not a row is refused");
    CHECK(xtc_kv_cache_reorder(kc, parent, 3, &err) == XTC_OK, "reorder: %s", err.msg);
    CHECK(xtc_kv_cache_len(kc) == T, "reorder keeps the cached length");
    in = (struct xtc_inputs){.batch = 3, .len = 1, .tokens = step, .context = ctx3, .context_len = C, .cache = kc};
    CHECK(xtc_model_forward(m, &in, &out, &err) == XTC_OK, "reorder: step: %s", err.msg);
    memcpy(got, out.logits, sizeof got);
    in = (struct xtc_inputs){.batch = 3, .len = T, .tokens = regathered, .context = ctx3, .context_len = C,
                             .cache = fresh};
    CHECK(xtc_model_forward(m, &in, &out, &err) == XTC_OK, "reorder: fresh prefill: %s", err.msg);
    in = (struct xtc_inputs){.batch = 3, .len = 1, .tokens = step, .context = ctx3, .context_len = C, .cache = fresh};
    CHECK(xtc_model_forward(m, &in, &out, &err) == XTC_OK, "reorder: fresh step: %s", err.msg);
    memcpy(want, out.logits, sizeof want);
    /* identical computations on identical rows: only the row count differs between the two calls */
    CHECK(xtc_check_close_f("reorder step logits", got, want, 3 * V, 1e-6, 1e-6) == 0, "reorder step logits");
    in.batch = 2;
    CHECK(xtc_model_forward(m, &in, &out, &err) == XTC_ERR_SHAPE, "a regathered cache takes its new row count only");
    xtc_kv_cache_free(kc);
    xtc_kv_cache_free(fresh);
    xtc_model_free(m);
}

static void errors(void) {
    enum { V = 20 };
    xtc_model_t m = model(V, 8, "\"heads\": 2", "", 1); /* learned absolute positions */
    if (!m)
        return;
    int64_t p[6] = {1, 2, 3, 4, 5, 6}, bad[2] = {1, 20}, lens[2] = {3, 0}, tok[64];
    float sc[8];
    struct xtc_beam_options o, d;
    xtc_beam_options_default(&d);
    d.max_new_tokens = 3;
    struct xtc_error err;
#define REFUSED(code, what, ...)                                                                                 \
    do {                                                                                                         \
        o = d;                                                                                                   \
        err.msg[0] = 0;                                                                                          \
        xtc_status rc_ = (__VA_ARGS__);                                                                          \
        CHECK(rc_ == (code) && err.msg[0], "%s: got %s (%s)", what, xtc_status_str(rc_), err.msg);               \
    } while (0)
    REFUSED(XTC_ERR_ARG, "NULL model", xtc_beam_search(NULL, p, 1, 3, &o, tok, sc, &err));
    REFUSED(XTC_ERR_ARG, "NULL prompts", xtc_beam_search(m, NULL, 1, 3, &o, tok, sc, &err));
    REFUSED(XTC_ERR_ARG, "NULL options", xtc_beam_search(m, p, 1, 3, NULL, tok, sc, &err));
    REFUSED(XTC_ERR_ARG, "NULL tokens", xtc_beam_search(m, p, 1, 3, &o, NULL, sc, &err));
    REFUSED(XTC_ERR_ARG, "batch 0", xtc_beam_search(m, p, 0, 3, &o, tok, sc, &err));
    REFUSED(XTC_ERR_ARG, "empty prompt", xtc_beam_search(m, p, 1, 0, &o, tok, sc, &err));
    REFUSED(XTC_ERR_ARG, "negative length", (o.max_new_tokens = -1, xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_ARG, "0 beams", (o.beams = 0, xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_ARG, "more beams than tokens", (o.beams = V + 1, xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_ARG, "negative temperature", (o.temperature = -1, xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_ARG, "NaN temperature", (o.temperature = NAN, xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_ARG, "top_p 0", (o.top_p = 0, xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_ARG, "min_p 1", (o.min_p = 1, xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_ARG, "negative top_k", (o.top_k = -1, xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_ARG, "token id", xtc_beam_search(m, bad, 1, 2, &o, tok, sc, &err));
    REFUSED(XTC_ERR_ARG, "prompt_lens 0", (o.prompt_lens = lens, xtc_beam_search(m, p, 2, 3, &o, tok, sc, &err)));
    REFUSED(XTC_ERR_UNSUPPORTED, "absolute positions past max_seq_len with the cache",
            (o.max_new_tokens = 6, xtc_beam_search(m, p, 1, 4, &o, tok, sc, &err)));
    o = d;
    o.max_new_tokens = 6;
    o.cache_kv = false;
    CHECK(xtc_beam_search(m, p, 1, 4, &o, tok, sc, &err) == XTC_OK, "uncached past max_seq_len: %s", err.msg);
    o.max_new_tokens = 0;
    sc[0] = 1;
    CHECK(xtc_beam_search(m, p, 1, 4, &o, tok, sc, &err) == XTC_OK && sc[0] == 0 && sc[3] == 0,
          "no new tokens: every score 0");
    xtc_model_free(m);
    const char *enc = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 20, \"max_seq_len\": 8, "
                      "\"attn_layers\": {\"class\": \"Encoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1}}}}";
    if (xtc_model_create(&m, enc, strlen(enc), 1, &err) == XTC_OK) {
        REFUSED(XTC_ERR_UNSUPPORTED, "an encoder", xtc_beam_search(m, p, 1, 3, &o, tok, sc, &err));
        xtc_model_free(m);
    }
#undef REFUSED
}

int main(void) {
    cached_vs_uncached("rope k4", "\"heads\": 2, \"rotary_pos_emb\": true", "", 4, false);
    cached_vs_uncached("rope ragged k3", "\"heads\": 2, \"rotary_pos_emb\": true", "", 3, true);
    cached_vs_uncached("alibi abs ragged k2", "\"heads\": 4, \"alibi_pos_bias\": true", "", 2, true);
    cached_vs_uncached("abs k5", "\"heads\": 2", "", 5, false);
    cached_vs_uncached("xpos gqa mem_kv k4",
                       "\"heads\": 4, \"attn_kv_heads\": 2, \"rotary_xpos\": true, \"attn_num_mem_kv\": 2", "", 4, false);
    cached_vs_uncached("t5 k2", "\"heads\": 2, \"rel_pos_bias\": true", "", 2, false);
    cached_vs_uncached("memory tokens k3", "\"heads\": 2, \"rotary_pos_emb\": true", ", \"num_memory_tokens\": 2", 3,
                       false);
    exhaustive();
    one_beam_is_greedy("rope cached", "\"heads\": 2, \"rotary_pos_emb\": true", true, false);
    one_beam_is_greedy("rope uncached", "\"heads\": 2, \"rotary_pos_emb\": true", false, false);
    one_beam_is_greedy("alibi cached ragged", "\"heads\": 4, \"alibi_pos_bias\": true", true, true);
    one_beam_is_greedy("abs uncached ragged", "\"heads\": 2", false, true);
    stochastic();
    reorder_cache();
    errors();
    return xtc_check_report("test_beam_search");
}
