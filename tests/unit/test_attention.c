/* Unit tests for xtc_attention_forward (src/attn/attention.h) against a naive
 * double-precision reference written here: the full (K + S) score row per query,
 * masked logits replaced by -FLT_MAX (so a row whose every key is hidden averages
 * all values, as torch does), softmax, then zeroed rows.
 *
 * Shape letters: B batch, T queries, S keys, K memory key/values, H query heads,
 * G kv heads (head h reads kv head h % G), D head dim.
 *
 * Zeroed rows follow x-transformers 2.26.4 (attend.py: out.masked_fill(~mask.any(-1), 0)
 * where the mask has already been padded with True for the memory key/values, and
 * Attention.forward: out = where(mask, out, 0) for query rows): a row is zeroed when its
 * query is masked, or when its key mask is all false AND there are no memory key/values.
 * Verified in Python: Encoder(dim=8, depth=1, heads=2, attn_dim_head=4, attn_num_mem_kv=2,
 * cross_attend=True) with context_mask[1] all False gives a non-zero output for batch 1.
 *
 * main() returns non-zero if any check fails. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attention.h"
#include "backend/ref/ref.h"
#include "check.h"
#include "pos/pos.h"

static uint64_t g_rng = 0xA4093822299F31D0ull;

static double rng_unit(void) {
    /* xorshift64*, uniform in [-1, 1) */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * 0x2545F4914F6CDD1Dull) >> 11) / 4503599627370496.0 - 1.0;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory in test\n");
        exit(2);
    }
    return p;
}

static float *rand_floats(size_t n) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_unit();
    return x;
}

// --------------------------------------------------------------- reference

/* T5 bias given by its learned embedding, independent of xtc_t5_table_fill's indexing. */
struct ref_t5 {
    const float *emb; /* (num_buckets, H) */
    int num_buckets, max_distance;
    bool causal;
    float scale;
};

static void ref_attention(double *out, const float *q, const float *k, const float *v, const struct xtc_attn_params *p,
                          const struct ref_t5 *t5) {
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K;
    const int H = p->H, G = p->G, D = p->D;
    double *s = xmalloc(sizeof(double) * (size_t)(K + S));
    for (int64_t b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h % G; /* GQA: query head h reads kv head h mod G (reference fact 4) */
            bool any_key = true;
            if (p->key_mask) {
                any_key = false;
                for (int64_t j = 0; j < S; j++)
                    any_key |= p->key_mask[b * S + j] != 0;
            }
            for (int64_t i = 0; i < T; i++) {
                double *o = out + (b * T + i) * H * D + (int64_t)h * D;
                const float *qi = q + (b * T + i) * H * D + (int64_t)h * D;
                bool query_masked = p->query_mask && !p->query_mask[b * T + i];
                bool row_all_masked = !any_key && K == 0; /* mem-kv columns count as visible keys */
                if (query_masked || row_all_masked) {
                    for (int d = 0; d < D; d++)
                        o[d] = 0.0;
                    continue;
                }
                for (int64_t j = 0; j < K; j++) { /* memory key/values: never masked, no bias */
                    double dot = 0;
                    for (int d = 0; d < D; d++)
                        dot += (double)qi[d] * p->mem_k[((int64_t)g * K + j) * D + d];
                    s[j] = dot * p->scale;
                }
                for (int64_t j = 0; j < S; j++) {
                    bool hidden = (p->causal && j > i + S - T) || (p->key_mask && !p->key_mask[b * S + j]);
                    if (hidden) {
                        s[K + j] = -FLT_MAX; /* replaced, not added to */
                        continue;
                    }
                    double dot = 0;
                    const float *kj = k + (b * S + j) * G * D + (int64_t)g * D;
                    for (int d = 0; d < D; d++)
                        dot += (double)qi[d] * kj[d];
                    double bias = 0;
                    int64_t qp = S - T + i, kp = j; /* right-aligned default positions */
                    if (p->bias.pos) {
                        const int64_t *pb = p->bias.pos + (p->bias.pos_batched ? b * T : 0);
                        qp = pb[i];
                        kp = pb[j];
                    }
                    if (p->bias.scheme == &xtc_alibi_scheme)
                        bias = -(double)p->bias.data[h] * fabs((double)(kp - qp));
                    else if (p->bias.scheme == &xtc_t5_scheme)
                        bias = (double)(t5->emb[(int64_t)xtc_t5_bucket(kp - qp, t5->causal, t5->num_buckets,
                                                                       t5->max_distance) * H + h] * t5->scale);
                    s[K + j] = dot * p->scale + bias;
                }
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < K + S; j++)
                    mx = s[j] > mx ? s[j] : mx;
                for (int64_t j = 0; j < K + S; j++) {
                    s[j] = exp(s[j] - mx);
                    sum += s[j];
                }
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int64_t j = 0; j < K + S; j++) {
                        const float *vj = j < K ? p->mem_v + ((int64_t)g * K + j) * D
                                                : v + (b * S + (j - K)) * G * D + (int64_t)g * D;
                        acc += s[j] * vj[d];
                    }
                    o[d] = acc / sum;
                }
            }
        }
    free(s);
}

// --------------------------------------------------------------- one case

enum bias_kind { XTC_BIAS_NONE, XTC_BIAS_ALIBI, XTC_BIAS_T5 };

struct acase {
    const char *name;
    int64_t B, T, S, K;
    int H, G, D;
    float scale;      /* 0: D^-0.5 */
    bool causal;
    int key_mask;     /* 0 none, 1 random (each row keeps >= 1), 2 random with batch B-1 all false */
    int query_mask;   /* 0 none, 1 random */
    enum bias_kind bias;
    int alibi_heads;  /* ALiBi: first n heads biased (0: all) */
    int pos;          /* ALiBi explicit positions: 0 default, 1 (T), 2 (B, T) */
    int t5_buckets, t5_max_distance;
    bool t5_causal;
    bool l2_qk;       /* l2-normalise q, k, mem_k rows (qk_norm style, with scale 10) */
    double atol;      /* 0: the default below */
};

/* Runs one case: library vs reference, plus exact zeros where the reference zeroes. */
static void run_case(const struct acase *c) {
    const int64_t B = c->B, T = c->T, S = c->S, K = c->K;
    const int H = c->H, G = c->G, D = c->D;
    size_t nq = (size_t)(B * T * H * D), nk = (size_t)(B * S * G * D), nm = (size_t)((int64_t)G * K * D);
    float *q = rand_floats(nq), *k = rand_floats(nk), *v = rand_floats(nk);
    float *mk = rand_floats(nm), *mv = rand_floats(nm);
    if (c->l2_qk) {
        float *rows[3] = {q, k, mk};
        size_t counts[3] = {nq / (size_t)D, nk / (size_t)D, nm / (size_t)D};
        for (int t = 0; t < 3; t++)
            for (size_t r = 0; r < counts[t]; r++) {
                double ss = 0;
                for (int d = 0; d < D; d++)
                    ss += (double)rows[t][r * D + d] * rows[t][r * D + d];
                for (int d = 0; d < D; d++)
                    rows[t][r * D + d] = (float)(rows[t][r * D + d] / sqrt(ss));
            }
    }
    uint8_t *km = NULL, *qm = NULL;
    if (c->key_mask) {
        km = xmalloc((size_t)(B * S));
        for (int64_t b = 0; b < B; b++) {
            bool any = false;
            for (int64_t j = 0; j < S; j++) {
                km[b * S + j] = rng_unit() > -0.3;
                any |= km[b * S + j];
            }
            if (!any)
                km[b * S + (S - 1)] = 1;
            if (c->key_mask == 2 && b == B - 1)
                memset(km + b * S, 0, (size_t)S);
        }
    }
    if (c->query_mask) {
        qm = xmalloc((size_t)(B * T));
        for (int64_t i = 0; i < B * T; i++)
            qm[i] = rng_unit() > -0.4;
        qm[0] = 0; /* at least one masked query */
    }
    float slopes[64] = {0};
    int64_t *pos = NULL;
    float *t5_emb = NULL, *t5_table = NULL;
    struct ref_t5 rt5 = {0};
    struct xtc_attn_params p = {
        .B = B, .T = T, .S = S, .K = K, .H = H, .G = G, .D = D,
        .scale = c->scale != 0 ? c->scale : (float)(1.0 / sqrt((double)D)),
        .causal = c->causal, .key_mask = km, .query_mask = qm,
        .mem_k = K ? mk : NULL, .mem_v = K ? mv : NULL,
    };
    if (c->bias == XTC_BIAS_ALIBI) {
        xtc_alibi_slopes(slopes, c->alibi_heads ? c->alibi_heads : H, H);
        p.bias = (struct xtc_attn_bias){.scheme = &xtc_alibi_scheme, .data = slopes};
        if (c->pos) {
            int64_t n = c->pos == 2 ? B * T : T;
            pos = xmalloc(sizeof(int64_t) * (size_t)n);
            for (int64_t i = 0; i < n; i++)
                pos[i] = (int64_t)((rng_unit() + 1.0) * 6.0) - 2; /* -2 .. 9, repeats and disorder */
            p.bias.pos = pos;
            p.bias.pos_batched = c->pos == 2;
        }
    } else if (c->bias == XTC_BIAS_T5) {
        t5_emb = rand_floats((size_t)c->t5_buckets * (size_t)H);
        t5_table = xmalloc(sizeof(float) * (size_t)H * (size_t)(2 * S - 1));
        float sc = (float)sqrt((double)D);
        xtc_t5_table_fill(t5_table, t5_emb, H, S, c->t5_causal, c->t5_buckets, c->t5_max_distance, sc);
        p.bias = (struct xtc_attn_bias){.scheme = &xtc_t5_scheme, .data = t5_table};
        rt5 = (struct ref_t5){t5_emb, c->t5_buckets, c->t5_max_distance, c->t5_causal, sc};
        /* the table itself: entry (h, r) is the bucket embedding of rel = r - (S - 1), times sqrt(D) */
        bool ok = true;
        for (int h = 0; h < H; h++)
            for (int64_t r = 0; r < 2 * S - 1; r++) {
                int bk = xtc_t5_bucket(r - (S - 1), c->t5_causal, c->t5_buckets, c->t5_max_distance);
                ok &= t5_table[(int64_t)h * (2 * S - 1) + r] == t5_emb[(int64_t)bk * H + h] * sc;
            }
        CHECK(ok, "%s: xtc_t5_table_fill entries differ from emb[bucket(rel)] * sqrt(D)", c->name);
    }

    float *out = xmalloc(sizeof(float) * nq);
    for (size_t i = 0; i < nq; i++)
        out[i] = NAN; /* every element must be written */
    /* scratch exactly as documented: omp_get_max_threads() * (K + S) floats (ASan catches overruns) */
    size_t nscratch = (size_t)omp_get_max_threads() * (size_t)(K + S);
    float *scratch = xmalloc(sizeof(float) * nscratch);
    xtc_attention_forward_ref(out, q, k, v, &p, scratch);

    double *want = xmalloc(sizeof(double) * nq);
    ref_attention(want, q, k, v, &p, &rt5);
    /* fp32 logits (D-term dot products of values <= 1, expf) and fp32 accumulation of K + S
     * weighted values <= 1: errors of a few 1e-7; 1e-5 leaves room, while a wrong mask, head,
     * bias or position changes outputs by ~1e-2 or more */
    double atol = c->atol ? c->atol : 1e-5;
    xtc_check_close(c->name, out, want, nq, atol, 1e-5);

    /* rows the reference zeroes must be exact zeros */
    bool zeros_exact = true;
    for (size_t i = 0; i < nq; i++)
        if (want[i] == 0.0 && out[i] != 0.0f)
            zeros_exact = false;
    CHECK(zeros_exact, "%s: zeroed rows are not exactly 0", c->name);

    free(q);
    free(k);
    free(v);
    free(mk);
    free(mv);
    free(km);
    free(qm);
    free(pos);
    free(t5_emb);
    free(t5_table);
    free(out);
    free(scratch);
    free(want);
}

// --------------------------------------------------------------- targeted cases

/* Query 0 of a causal S == T row sees only key 0; with key 0 masked every logit is -FLT_MAX
 * and torch's softmax gives the uniform average over all S keys (future ones included). */
static void test_all_visible_masked(void) {
    const int64_t B = 1, T = 4, S = 4;
    const int H = 1, G = 1, D = 3;
    float q[12], k[12], v[12], out[12];
    for (int i = 0; i < 12; i++) {
        q[i] = (float)rng_unit();
        k[i] = (float)rng_unit();
        v[i] = (float)rng_unit();
    }
    uint8_t km[4] = {0, 0, 1, 1};
    struct xtc_attn_params p = {.B = B, .T = T, .S = S, .K = 0, .H = H, .G = G, .D = D, .scale = 0.5f,
                                .causal = true, .key_mask = km};
    float *scratch = xmalloc(sizeof(float) * (size_t)omp_get_max_threads() * (size_t)S);
    xtc_attention_forward_ref(out, q, k, v, &p, scratch);
    double mean[3] = {0, 0, 0};
    for (int j = 0; j < 4; j++)
        for (int d = 0; d < 3; d++)
            mean[d] += v[j * 3 + d] / 4.0;
    /* uniform weights 1/4 in float: sums of 4 products */
    xtc_check_close("all visible keys masked: query 0 = mean of all values", out, mean, 3, 1e-6, 1e-6);
    xtc_check_close("all visible keys masked: query 1 = mean of all values", out + 3, mean, 3, 1e-6, 1e-6);
    /* query 2 sees key 2 only (keys 0, 1 masked): exactly v[2] up to float weights */
    double v2[3] = {v[6], v[7], v[8]};
    xtc_check_close("causal + key mask: query 2 attends key 2 only", out + 6, v2, 3, 1e-6, 1e-6);
    free(scratch);
}

/* The same computation with 1 and with 4 OpenMP threads: bit-identical (each row is
 * computed by one thread in a fixed order) and equal to the reference. */
static void test_threads(void) {
    const int64_t B = 3, T = 7, S = 9, K = 2;
    const int H = 5, G = 5, D = 8;
    size_t nq = (size_t)(B * T * H * D), nk = (size_t)(B * S * G * D), nm = (size_t)(G * K * D);
    float *q = rand_floats(nq), *k = rand_floats(nk), *v = rand_floats(nk), *mk = rand_floats(nm),
          *mv = rand_floats(nm);
    uint8_t km[27];
    for (int i = 0; i < 27; i++)
        km[i] = rng_unit() > -0.5;
    float slopes[5];
    xtc_alibi_slopes(slopes, 5, 5);
    struct xtc_attn_params p = {.B = B, .T = T, .S = S, .K = K, .H = H, .G = G, .D = D, .scale = 0.35f,
                                .causal = true, .key_mask = km, .mem_k = mk, .mem_v = mv};
    p.bias = (struct xtc_attn_bias){.scheme = &xtc_alibi_scheme, .data = slopes};
    int saved = omp_get_max_threads();
    float *out[2];
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r ? 4 : 1);
        size_t ns = (size_t)omp_get_max_threads() * (size_t)(K + S);
        float *scratch = xmalloc(sizeof(float) * ns);
        out[r] = xmalloc(sizeof(float) * nq);
        xtc_attention_forward_ref(out[r], q, k, v, &p, scratch);
        free(scratch);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(out[0], out[1], sizeof(float) * nq) == 0, "attention: 1 and 4 threads give different bits");
    double *want = xmalloc(sizeof(double) * nq);
    ref_attention(want, q, k, v, &p, NULL);
    xtc_check_close("attention with 4 threads", out[1], want, nq, 1e-5, 1e-5); /* as run_case */
    free(q);
    free(k);
    free(v);
    free(mk);
    free(mv);
    free(out[0]);
    free(out[1]);
    free(want);
}

int main(void) {
    const struct acase cases[] = {
        {.name = "plain", .B = 2, .T = 5, .S = 5, .H = 2, .G = 2, .D = 4},
        {.name = "causal S == T", .B = 2, .T = 6, .S = 6, .H = 2, .G = 2, .D = 8, .causal = true},
        {.name = "causal S > T (right-aligned)", .B = 2, .T = 3, .S = 7, .H = 2, .G = 2, .D = 8, .causal = true},
        {.name = "causal T = 1", .B = 2, .T = 1, .S = 5, .H = 3, .G = 3, .D = 4, .causal = true},
        {.name = "key mask", .B = 3, .T = 4, .S = 9, .H = 2, .G = 2, .D = 5, .key_mask = 1},
        {.name = "causal + key mask", .B = 3, .T = 6, .S = 6, .H = 2, .G = 2, .D = 4, .causal = true,
         .key_mask = 1},
        {.name = "query mask", .B = 2, .T = 5, .S = 5, .H = 2, .G = 2, .D = 4, .causal = true, .query_mask = 1},
        {.name = "query + key mask", .B = 2, .T = 4, .S = 7, .H = 2, .G = 2, .D = 4, .key_mask = 1,
         .query_mask = 1},
        {.name = "key mask all false (K = 0): zero rows", .B = 2, .T = 3, .S = 4, .H = 2, .G = 2, .D = 4,
         .key_mask = 2},
        {.name = "mem kv K = 3", .B = 2, .T = 4, .S = 4, .K = 3, .H = 2, .G = 2, .D = 4},
        {.name = "mem kv + causal S > T + key mask", .B = 2, .T = 4, .S = 6, .K = 3, .H = 4, .G = 2, .D = 4,
         .causal = true, .key_mask = 1},
        {.name = "GQA H = 6, G = 2", .B = 2, .T = 5, .S = 5, .H = 6, .G = 2, .D = 4, .causal = true},
        {.name = "GQA H = 6, G = 3, mem kv, S > T", .B = 2, .T = 3, .S = 6, .K = 2, .H = 6, .G = 3, .D = 4,
         .causal = true, .key_mask = 1},
        {.name = "MQA H = 4, G = 1", .B = 2, .T = 4, .S = 5, .H = 4, .G = 1, .D = 6},
        {.name = "ALiBi default positions, causal S > T, mem kv", .B = 2, .T = 4, .S = 7, .K = 2, .H = 4, .G = 4,
         .D = 4, .causal = true, .bias = XTC_BIAS_ALIBI},
        {.name = "ALiBi default positions, non-causal S > T", .B = 2, .T = 3, .S = 6, .H = 6, .G = 6, .D = 4,
         .bias = XTC_BIAS_ALIBI, .key_mask = 1},
        {.name = "ALiBi 3 of 8 heads + GQA", .B = 1, .T = 5, .S = 5, .H = 8, .G = 4, .D = 4, .causal = true,
         .bias = XTC_BIAS_ALIBI, .alibi_heads = 3},
        {.name = "ALiBi explicit 1-D positions", .B = 2, .T = 6, .S = 6, .H = 4, .G = 4, .D = 4, .causal = true,
         .bias = XTC_BIAS_ALIBI, .pos = 1, .key_mask = 1},
        {.name = "ALiBi explicit 2-D positions", .B = 3, .T = 5, .S = 5, .H = 2, .G = 2, .D = 4,
         .bias = XTC_BIAS_ALIBI, .pos = 2},
        {.name = "ALiBi explicit 2-D positions + mem kv", .B = 2, .T = 5, .S = 5, .K = 2, .H = 2, .G = 1, .D = 4,
         .causal = true, .bias = XTC_BIAS_ALIBI, .pos = 2},
        {.name = "T5 causal S > T", .B = 2, .T = 4, .S = 7, .H = 3, .G = 3, .D = 4, .causal = true,
         .bias = XTC_BIAS_T5, .t5_buckets = 8, .t5_max_distance = 16, .t5_causal = true},
        {.name = "T5 bidirectional", .B = 2, .T = 9, .S = 9, .H = 2, .G = 2, .D = 4, .bias = XTC_BIAS_T5,
         .t5_buckets = 8, .t5_max_distance = 12},
        {.name = "T5 bidirectional S > T + mem kv + key mask", .B = 2, .T = 3, .S = 8, .K = 2, .H = 4, .G = 2,
         .D = 4, .bias = XTC_BIAS_T5, .t5_buckets = 6, .t5_max_distance = 10, .key_mask = 1},
        {.name = "qk-norm style: unit rows, scale 10", .B = 2, .T = 5, .S = 7, .K = 2, .H = 2, .G = 2, .D = 16,
         .scale = 10.0f, .causal = true, .l2_qk = true},
        {.name = "large logits (scale 8, D 16)", .B = 1, .T = 4, .S = 6, .H = 2, .G = 2, .D = 16, .scale = 8.0f,
         .causal = true,
         /* logits up to ~100: float logit error ~100 * 2^-23 moves softmax weights by ~1e-5 relative */
         .atol = 5e-5},
        /* x-transformers pads the key mask with True for mem kv before `row_is_entirely_masked`,
         * so this row attends to the memory key/values only instead of being zeroed (cross-attention
         * with attn_num_mem_kv and a fully padded context row). */
        {.name = "key mask all false with mem kv K = 2: attends mem kv only", .B = 2, .T = 3, .S = 4, .K = 2,
         .H = 2, .G = 2, .D = 4, .key_mask = 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    test_all_visible_masked();
    test_threads();
    return xtc_check_report("test_attention");
}
