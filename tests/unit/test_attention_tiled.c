/* The tiled BLAS attention (attention_tiled.c, what models run) against the
 * row-wise reference (attention.c), forward and backward, over every masking,
 * bias and memory combination, with T both below and above one tile (64 rows), T long enough
 * for the backward's taller tiles (T / 16 rows: 68 at T = 1100, the last one partial) and T = 1
 * (decoding's one-query products), at every kernel level up to the one in force (xtc/cpu.h,
 * forced through xtc_cpu_set_max_level; a failure's label names the level), with the flash
 * kernels (attention_flash.c) off and allowed; from level avx2 on also with the flash kernels'
 * 16-float source (attention_flash_v16.c, what level avx512 runs) in its AVX2 build, so that
 * source is checked on machines without AVX-512 too (on one with AVX-512, the level's own
 * kernels are also compared bit for bit with that build, and the count printed).
 * Also: the talking-heads kernels (attn/talking_heads.c) without mixings equal the
 * reference, and a straight-through top-k's gradients are those of the full softmax for
 * the logits (dq, dk, dmem_k, the bias table) and those of top-k for the values. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attention.h"
#include "backend/cpu/cpu.h"
#include "backend/ref/ref.h"
#include "check.h"
#include "xtc/cpu.h"

static uint64_t g_state = 12345;
static float frand(void) {
    g_state = g_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((g_state >> 40) / 16777216.0 * 2.0 - 1.0);
}

static float *rnd(size_t n) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        x[i] = frand();
    return x;
}

struct cfg {
    const char *name;
    int64_t B, T, S, K;
    int H, G, D;
    bool causal, key_mask, query_mask, alibi, alibi_pos, t5;
    int topk;
    bool straight_through;
    bool hidden_row, strided; /* a row sees no key; also run the forward on strided keys / values */
    float softclamp;
};

static int g_flash; /* enum xtc_flash_mode: the flash kernels off, allowed, or their 16-float source on AVX2 */
/* at level avx512: flash results compared bit for bit with the AVX2 build of the same source */
static int n_twins, n_twins_same;

static void run(const struct cfg *c) {
    int64_t B = c->B, T = c->T, S = c->S, K = c->K;
    int H = c->H, G = c->G, D = c->D;
    size_t nq = (size_t)(B * T * H * D), nk = (size_t)(B * S * G * D), nm = (size_t)(G * K * D);
    float *q = rnd(nq), *k = rnd(nk), *v = rnd(nk), *mk = rnd(nm), *mv = rnd(nm), *dout = rnd(nq);
    float *slopes = rnd((size_t)H), *t5 = rnd((size_t)(H * (2 * S - 1)));
    uint8_t *km = malloc((size_t)(B * S)), *qm = malloc((size_t)(B * T));
    for (int64_t i = 0; i < B * S; i++)
        km[i] = (i % 5) != 3;
    for (int64_t j = 0; c->key_mask && j < S; j++)
        km[j] = 0; /* batch 0: every key hidden (zero rows, or attention to memory key/values only) */
    for (int64_t i = 0; i < B * T; i++)
        qm[i] = (i % 7) != 2;
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)(B * T));
    for (int64_t i = 0; i < B * T; i++)
        pos[i] = (i * 37) % 11 - 3;
    struct xtc_attn_params p = {.B = B,
                                .T = T,
                                .S = S,
                                .K = K,
                                .H = H,
                                .G = G,
                                .D = D,
                                .scale = 0.3f,
                                .causal = c->causal,
                                .key_mask = c->key_mask ? km : NULL,
                                .query_mask = c->query_mask ? qm : NULL,
                                .mem_k = mk,
                                .mem_v = mv,
                                .sparse_topk = c->topk,
                                .topk_straight_through = c->straight_through,
                                .softclamp = c->softclamp};
    if (c->alibi) {
        p.bias = (struct xtc_attn_bias){.scheme = &xtc_alibi_scheme, .data = slopes};
        if (c->alibi_pos) {
            p.bias.pos = pos;
            p.bias.pos_batched = true;
        }
    } else if (c->t5) {
        p.bias = (struct xtc_attn_bias){.scheme = &xtc_t5_scheme, .data = t5};
        p.dbias_n = H * (2 * S - 1); /* the table's gradient is wanted */
    }
    size_t ns = xtc_attention_tiled_scratch(&p);
    size_t nr = (size_t)omp_get_max_threads() * xtc_attention_ref_scratch(&p);
    size_t nth = xtc_talking_heads_scratch(&p);
    ns = ns > nr ? ns : nr;
    float *scratch = malloc(sizeof(float) * (ns > nth ? ns : nth));
    float *o_ref = calloc(nq, sizeof(float)), *o_til = calloc(nq, sizeof(float));
    float *lse = malloc(sizeof(float) * (size_t)(B * H * T));
    xtc_attention_forward_ref(o_ref, q, k, v, &p, scratch);
    struct xtc_attn_params pf = p; /* the forward keeps its row statistics, the backward reads them */
    pf.lse = lse;
    lse[0] = NAN; /* as xtc_attention_forward leaves it for kernels that keep no statistics */
    xtc_attention_forward_tiled(o_til, q, k, v, &pf, scratch);
    pf.out = o_til;
    char label[200];
    const char *path = g_flash == XTC_FLASH_V16_ON_AVX2 ? "flash (avx512 source on avx2)"
                       : g_flash                        ? "flash allowed"
                                                        : "tiled";
    /* flash takes every call without top-k and of 8 queries or more, from AVX2 on */
    const bool want_flash = g_flash && xtc_cpu_level() >= XTC_CPU_AVX2 && c->topk == 0 && T >= 8;
    const bool twin = want_flash && g_flash == XTC_FLASH_ON && xtc_cpu_level() >= XTC_CPU_AVX512;
    snprintf(label, sizeof label, "%s %s %s: flash forward taken", xtc_cpu_level_name(xtc_cpu_level()), path, c->name);
    CHECK(xtc_attention_flash_forward_ok(&p) == want_flash && (lse[0] == lse[0]) == want_flash, "%s", label);
    /* both are float32 with different summation orders (BLAS vs row loops) */
    snprintf(label, sizeof label, "%s %s %s forward", xtc_cpu_level_name(xtc_cpu_level()), path, c->name);
    CHECK(xtc_check_close_f(label, o_til, o_ref, nq, 2e-5, 2e-4) == 0, "%s", label);
    if (twin) {
        float *o_twin = calloc(nq, sizeof(float));
        xtc_attention_flash_set(XTC_FLASH_V16_ON_AVX2);
        xtc_attention_forward_tiled(o_twin, q, k, v, &pf, scratch);
        xtc_attention_flash_set(g_flash);
        n_twins++;
        n_twins_same += memcmp(o_twin, o_til, sizeof(float) * nq) == 0;
        free(o_twin);
    }
    if (c->strided) { /* keys and values read in place from rows of a longer buffer (a KV cache) */
        const int64_t cap = S + 5;
        float *kc = calloc((size_t)(B * cap * G * D), sizeof(float)),
              *vc = calloc((size_t)(B * cap * G * D), sizeof(float));
        for (int64_t b = 0; b < B; b++) {
            memcpy(kc + b * cap * G * D, k + b * S * G * D, sizeof(float) * (size_t)(S * G * D));
            memcpy(vc + b * cap * G * D, v + b * S * G * D, sizeof(float) * (size_t)(S * G * D));
        }
        struct xtc_attn_params ps = p;
        ps.k_bstride = ps.v_bstride = cap;
        float *o_s = calloc(nq, sizeof(float));
        xtc_attention_forward_tiled(o_s, q, kc, vc, &ps, scratch);
        snprintf(label, sizeof label, "%s %s %s forward, strided keys", xtc_cpu_level_name(xtc_cpu_level()), path,
                 c->name);
        CHECK(xtc_check_close_f(label, o_s, o_ref, nq, 2e-5, 2e-4) == 0, "%s", label);
        free(kc), free(vc), free(o_s);
    }

    /* the talking-heads path with no mixing is plain attention, summed in the reference's order */
    struct xtc_attn_params pt = p;
    pt.talking_heads = true;
    float *o_th = calloc(nq, sizeof(float));
    xtc_talking_heads_forward(o_th, q, k, v, &pt, scratch);
    snprintf(label, sizeof label, "%s talking-heads kernel forward", c->name);
    CHECK(xtc_check_close_f(label, o_th, o_ref, nq, 1e-6, 1e-5) == 0, "%s", label);
    free(o_th);

    float *g[5][6];
    for (int r = 0; r < 5; r++) {
        g[r][0] = calloc(nq, sizeof(float));
        g[r][1] = calloc(nk, sizeof(float));
        g[r][2] = calloc(nk, sizeof(float));
        g[r][3] = calloc(nm ? nm : 1, sizeof(float));
        g[r][4] = calloc(nm ? nm : 1, sizeof(float));
        g[r][5] = calloc((size_t)(H * (2 * S - 1)), sizeof(float));
    }
    xtc_attention_backward_ref(g[0][0], g[0][1], g[0][2], K ? g[0][3] : NULL, K ? g[0][4] : NULL,
                               c->t5 ? g[0][5] : NULL, dout, q, k, v, &p, scratch);
    xtc_attention_backward_tiled(g[1][0], g[1][1], g[1][2], K ? g[1][3] : NULL, K ? g[1][4] : NULL,
                                 c->t5 ? g[1][5] : NULL, dout, q, k, v, &pf, scratch);
    if (twin && !c->hidden_row) { /* into g[3] (only the straight-through cases use it, never flash) */
        xtc_attention_flash_set(XTC_FLASH_V16_ON_AVX2);
        xtc_attention_backward_tiled(g[3][0], g[3][1], g[3][2], K ? g[3][3] : NULL, K ? g[3][4] : NULL,
                                     c->t5 ? g[3][5] : NULL, dout, q, k, v, &pf, scratch);
        xtc_attention_flash_set(g_flash);
        bool same = true;
        for (int i = 0; i < 3; i++) /* dq, dk, dv */
            same &= memcmp(g[3][i], g[1][i], sizeof(float) * (i ? nk : nq)) == 0;
        n_twins++;
        n_twins_same += same;
    }
    /* flash's backward runs unless a row saw no key (its log-sum-exp -inf) */
    snprintf(label, sizeof label, "%s %s %s: flash backward taken", xtc_cpu_level_name(xtc_cpu_level()), path, c->name);
    CHECK(xtc_attention_flash_backward_ok(&pf) == (want_flash && !c->hidden_row), "%s", label);
    xtc_talking_heads_backward(g[2][0], g[2][1], g[2][2], K ? g[2][3] : NULL, K ? g[2][4] : NULL,
                               c->t5 ? g[2][5] : NULL, dout, q, k, v, &pt, scratch);
    const char *names[6] = {"dq", "dk", "dv", "dmem_k", "dmem_v", "dt5"};
    size_t sizes[6] = {nq, nk, nk, nm, nm, (size_t)(H * (2 * S - 1))};
    for (int i = 0; i < 6; i++) {
        snprintf(label, sizeof label, "%s %s %s %s", xtc_cpu_level_name(xtc_cpu_level()), path, c->name, names[i]);
        /* gradients sum over many rows: a looser absolute floor for reordered float sums */
        CHECK(xtc_check_close_f(label, g[1][i], g[0][i], sizes[i], 1e-4, 1e-3) == 0, "%s", label);
        snprintf(label, sizeof label, "%s talking-heads kernel %s", c->name, names[i]);
        CHECK(xtc_check_close_f(label, g[2][i], g[0][i], sizes[i], 1e-4, 1e-3) == 0, "%s", label);
    }
    if (c->straight_through) {
        /* the same reference kernel without the straight-through (values) and without top-k (logits) */
        struct xtc_attn_params pv = p, pl = p;
        pv.topk_straight_through = false;
        pl.sparse_topk = 0, pl.topk_straight_through = false;
        xtc_attention_backward_ref(g[3][0], g[3][1], g[3][2], K ? g[3][3] : NULL, K ? g[3][4] : NULL,
                                   c->t5 ? g[3][5] : NULL, dout, q, k, v, &pv, scratch);
        xtc_attention_backward_ref(g[4][0], g[4][1], g[4][2], K ? g[4][3] : NULL, K ? g[4][4] : NULL,
                                   c->t5 ? g[4][5] : NULL, dout, q, k, v, &pl, scratch);
        for (int i = 0; i < 6; i++) {
            const int from = i == 2 || i == 4 ? 3 : 4; /* dv, dmem_v: top-k's; the others: the full softmax's */
            snprintf(label, sizeof label, "%s straight-through %s", c->name, names[i]);
            /* one kernel, the same sums: only the probabilities differ where they should */
            CHECK(xtc_check_close_f(label, g[0][i], g[from][i], sizes[i], 1e-6, 1e-5) == 0, "%s", label);
        }
    }
    for (int r = 0; r < 5; r++)
        for (int i = 0; i < 6; i++)
            free(g[r][i]);
    free(q), free(k), free(v), free(mk), free(mv), free(dout), free(slopes), free(t5), free(km), free(qm);
    free(pos), free(scratch), free(o_ref), free(o_til), free(lse);
}

int main(void) {
    const struct cfg cases[] = {
        {"plain", 2, 5, 5, 0, 2, 2, 8, false, false, false, false, false, false, 0, false, false, false, 0},
        {"causal S>T", 2, 7, 12, 0, 2, 2, 8, true, false, false, false, false, false, 0, false, false, false, 0},
        {"causal two tiles", 1, 150, 160, 0, 2, 1, 16, true, true, true, false, false, false, 0, false, false, false,
         0},
        {"masks + mem-kv", 3, 9, 9, 3, 4, 2, 8, true, true, true, false, false, false, 0, false, false, false, 0},
        {"masks no mem-kv", 3, 9, 9, 0, 4, 4, 8, false, true, true, false, false, false, 0, false, false, false, 0},
        {"alibi", 2, 70, 80, 0, 4, 4, 8, true, true, false, true, false, false, 0, false, false, false, 0},
        {"alibi explicit pos + mem-kv", 2, 11, 11, 2, 4, 2, 4, true, false, true, true, true, false, 0, false, false,
         false, 0},
        {"t5 bidirectional", 2, 13, 13, 2, 2, 2, 8, false, true, true, false, false, true, 0, false, false, false, 0},
        {"t5 causal S>T", 2, 66, 90, 0, 2, 1, 8, true, false, false, false, false, true, 0, false, false, false, 0},
        {"sparse top-3 + mem-kv", 2, 9, 11, 2, 2, 2, 8, true, true, true, false, false, false, 3, false, false, false,
         0},
        {"sparse top-4 straight-through + mem-kv + alibi", 2, 70, 75, 2, 4, 2, 8, true, true, true, true, false, false,
         4, true, false, false, 0},
        {"sparse top-2 straight-through + t5", 2, 13, 13, 0, 2, 2, 8, false, true, false, false, false, true, 2, true,
         false, false, 0},
        {"backward tiles of T / 16 rows, alibi + masks + mem-kv", 2, 1100, 1100, 2, 2, 1, 8, true, true, true, true,
         false, false, 0, false, false, false, 0},
        /* key 0 of batch 1 hidden (S = 8): its first row sees no key, torch averages all values */
        {"a row sees no key", 2, 8, 8, 0, 2, 2, 8, true, true, false, false, false, false, 0, false, true, false, 0},
        /* the flash kernels' blocks (48 query rows, 48 keys, D padded to 16): partial tiles,
         * blocks and panels, grouped heads, heads not a multiple of 16 wide */
        {"flash blocks causal S>T, D 20, grouped", 2, 100, 131, 0, 4, 2, 20, true, false, true, false, false, false, 0,
         false, false, true, 0},
        {"flash blocks bidirectional, D 64, masks", 1, 97, 97, 0, 2, 2, 64, false, true, true, false, false, false, 0,
         false, false, true, 0},
        {"flash blocks alibi explicit pos, D 6", 2, 50, 50, 0, 3, 3, 6, true, false, false, true, true, false, 0, false,
         false, false, 0},
        {"flash blocks t5 causal, D 32, one kv head", 1, 61, 61, 0, 4, 1, 32, true, true, true, false, false, true, 0,
         false, false, false, 0},
        {"flash short T 8", 3, 8, 8, 0, 2, 2, 16, true, false, false, true, false, false, 0, false, false, false, 0},
        {"one query + mem-kv", 2, 1, 37, 3, 4, 2, 16, true, true, false, false, false, false, 0, false, false, false,
         0},
        {"one query alibi", 1, 1, 20, 0, 2, 2, 8, true, false, false, true, false, false, 0, false, false, false, 0},
        {"flash soft clamp, causal S>T, masks, alibi", 2, 60, 70, 0, 2, 2, 16, true, true, true, true, false, false, 0,
         false, false, false, 0.5f},
        {"soft clamp + mem-kv + t5", 2, 50, 50, 3, 2, 1, 8, false, true, false, false, false, true, 0, false, false,
         false, 0.7f},
        /* many (batch row, kv head) groups: the flash forward packs one group per work item */
        {"flash groups per thread, mem-kv + alibi", 12, 30, 40, 2, 4, 2, 16, true, true, true, true, false, false, 0,
         false, false, true, 0},
        {"soft clamp one query + mem-kv", 2, 1, 9, 2, 2, 2, 8, true, false, false, false, false, false, 0, false, false,
         false, 0.5f},
    };
    const enum xtc_cpu_level top = xtc_cpu_level();
    for (int l = XTC_CPU_PORTABLE; l <= (int)top; l++) {
        xtc_cpu_set_max_level((enum xtc_cpu_level)l);
        /* the 16-float source's AVX2 build: once, at level avx2 (it needs AVX2, and is the same code at any level) */
        const int modes = l == XTC_CPU_AVX2 ? 3 : 2;
        for (g_flash = XTC_FLASH_OFF; g_flash < modes; g_flash++) {
            xtc_attention_flash_set(g_flash);
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                run(&cases[i]);
        }
    }
    xtc_cpu_set_max_level(top);
    xtc_attention_flash_set(XTC_FLASH_ON);
    if (n_twins)
        printf("test_attention_tiled: avx512 flash kernels equal their AVX2 build bit for bit in %d of %d calls\n",
               n_twins_same, n_twins);
    return xtc_check_report("test_attention_tiled");
}
