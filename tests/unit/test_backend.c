/* The backend tables (src/backend/backend.h): every op entry of the cpu backend against the
 * ref backend's on the same inputs (odd sizes, sizes past the kernels' parallel thresholds),
 * the thread primitives of both (each loop index visited once, barriers ordering the
 * phases of a team), the selection (xtc_backend_cpu_set_reference, XTC_BACKEND, the name).
 * The op comparisons run at every kernel level up to the one in force (xtc/cpu.h: each level
 * the machine has, unless XTC_CPU caps it), each forced through xtc_cpu_set_max_level.
 * Tolerances: the cpu kernels sum in float (BLAS, vectorizable exp/erf within 2e-6 of libm),
 * the ref ones in double; the error of a float sum of n terms of size ~1 grows like
 * sqrt(n) * 6e-8, so 1e-5 relative plus 1e-5 absolute covers every size used here. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attention.h"
#include "backend/backend.h"
#include "check.h"
#include "ops/ops.h"
#include "xtc/backend.h"
#include "xtc/cpu.h"

static const struct xtc_backend *const cpu = &xtc_backend_cpu, *const ref = &xtc_backend_ref;

static uint64_t seed = 42;

static float frand(void) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((seed >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

static float *rand_floats(size_t n, float scale) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        x[i] = frand() * scale;
    return x;
}

static float *copy(const float *x, size_t n) {
    float *y = malloc(sizeof(float) * (n ? n : 1));
    memcpy(y, x, sizeof(float) * n);
    return y;
}

#define ATOL 1e-5
#define RTOL 1e-5

static void same(const char *what, const float *got, const float *want, size_t n) {
    CHECK(xtc_check_close_f(what, got, want, n, ATOL, RTOL) == 0, "%s: cpu vs ref", what);
}

/* ---------------------------------------------------------------- products */

static void products(int64_t N, int64_t Cin, int64_t Cout) {
    float *x = rand_floats((size_t)(N * Cin), 1), *w = rand_floats((size_t)(Cout * Cin), 1);
    float *b = rand_floats((size_t)Cout, 1), *dout = rand_floats((size_t)(N * Cout), 1);
    float *o[2], *dx[2], *dw[2], *db[2];
    const struct xtc_backend *be[2] = {cpu, ref};
    float *dw0 = rand_floats((size_t)(Cout * Cin), 1), *db0 = rand_floats((size_t)Cout, 1);
    for (int i = 0; i < 2; i++) {
        o[i] = rand_floats((size_t)(N * Cout), 1);
        dx[i] = rand_floats((size_t)(N * Cin), 1);
        dw[i] = copy(dw0, (size_t)(Cout * Cin)), db[i] = copy(db0, (size_t)Cout);
        be[i]->linear_forward(o[i], x, w, b, N, Cin, Cout, NULL);
        be[i]->linear_backward(dx[i], dw[i], db[i], dout, x, w, N, Cin, Cout, 0);
    }
    char what[96];
    snprintf(what, sizeof what, "linear %lldx%lld->%lld", (long long)N, (long long)Cin, (long long)Cout);
    same(what, o[0], o[1], (size_t)(N * Cout));
    same("linear dinp", dx[0], dx[1], (size_t)(N * Cin));
    same("linear dw", dw[0], dw[1], (size_t)(Cout * Cin));
    same("linear db", db[0], db[1], (size_t)Cout);
    /* the decoding product over an output range */
    for (int i = 0; i < 2; i++) {
        memset(o[i], 0, sizeof(float) * (size_t)(N * Cout));
        be[i]->matvec(NULL, o[i], Cout, x, N < 4 ? N : 4, w, b, Cin, Cout / 3, Cout);
    }
    same("matvec", o[0], o[1], (size_t)((N < 4 ? N : 4) * Cout));
    free(x), free(w), free(b), free(dout), free(dw0), free(db0);
    for (int i = 0; i < 2; i++)
        free(o[i]), free(dx[i]), free(dw[i]), free(db[i]);
}

/* ---------------------------------------------------------------- norms, activations, loss */

static void rows(int64_t N, int64_t C) {
    const size_t n = (size_t)(N * C);
    float *x = rand_floats(n, 2), *g = rand_floats((size_t)C, 0.5f), *dy = rand_floats(n, 1);
    float *y[2], *st1[2], *st2[2], *dx[2], *dg[2];
    const struct xtc_backend *be[2] = {cpu, ref};
    for (int i = 0; i < 2; i++) {
        y[i] = malloc(sizeof(float) * n), st1[i] = malloc(sizeof(float) * (size_t)N);
        st2[i] = malloc(sizeof(float) * (size_t)N);
        dx[i] = calloc(n, sizeof(float)), dg[i] = calloc((size_t)C, sizeof(float));
    }
    /* every gain a norm takes: unit-offset per feature (the stack), plain per feature
     * (ff_post_act_ln), one scalar (ScaleNorm), none (SimpleRMSNorm) */
    const struct xtc_norm_gain gains[4] = {{.g = g, .offset = 1}, {.g = g, .offset = 0},
                                           {.g = g, .offset = 1, .scalar = true}, {.offset = 1}};
    for (int k = 0; k < 4; k++) {
        char what[64];
        for (int i = 0; i < 2; i++) {
            memset(dx[i], 0, sizeof(float) * n), memset(dg[i], 0, sizeof(float) * (size_t)C);
            be[i]->layernorm_forward(y[i], st1[i], st2[i], x, &gains[k], N, C);
            be[i]->layernorm_backward(dx[i], dg[i], dy, x, &gains[k], st1[i], st2[i], N, C);
        }
        snprintf(what, sizeof what, "layernorm gain %d", k);
        same(what, y[0], y[1], n);
        snprintf(what, sizeof what, "layernorm gain %d dinp", k);
        same(what, dx[0], dx[1], n);
        snprintf(what, sizeof what, "layernorm gain %d dgamma", k);
        same(what, dg[0], dg[1], (size_t)C);
        for (int i = 0; i < 2; i++) {
            memset(dx[i], 0, sizeof(float) * n), memset(dg[i], 0, sizeof(float) * (size_t)C);
            be[i]->rmsnorm_forward(y[i], st1[i], x, &gains[k], N, C);
            be[i]->rmsnorm_backward(dx[i], dg[i], dy, x, &gains[k], st1[i], N, C);
        }
        snprintf(what, sizeof what, "rmsnorm gain %d", k);
        same(what, y[0], y[1], n);
        snprintf(what, sizeof what, "rmsnorm gain %d dinp", k);
        same(what, dx[0], dx[1], n);
        snprintf(what, sizeof what, "rmsnorm gain %d dg", k);
        same(what, dg[0], dg[1], (size_t)C);
    }
    static const char *act_names[] = {"gelu", "silu", "relu squared"};
    for (int a = XTC_FF_GELU; a <= XTC_FF_RELU_SQUARED; a++) {
        char what[64];
        for (int i = 0; i < 2; i++) {
            be[i]->act_forward(y[i], x, (int64_t)n, (enum xtc_ff_activation)a);
            be[i]->act_backward(dx[i], dy, x, (int64_t)n, (enum xtc_ff_activation)a);
        }
        same(act_names[a], y[0], y[1], n);
        snprintf(what, sizeof what, "%s dinp", act_names[a]);
        same(what, dx[0], dx[1], n);
        /* GLU over N rows of C / 2 features, with and without the soft clamps (not on relu^2:
         * x-transformers refuses it) */
        for (int clamp = 0; clamp < (a == XTC_FF_RELU_SQUARED ? 1 : 2); clamp++) {
            struct xtc_glu_params p = {.act = (enum xtc_ff_activation)a, .softclamp = clamp, .gate_clamp = 4,
                                       .up_clamp = 25};
            for (int i = 0; i < 2; i++) {
                be[i]->glu_forward(y[i], x, N, C / 2, &p);
                be[i]->glu_backward(dx[i], dy, x, N, C / 2, &p);
            }
            snprintf(what, sizeof what, "glu %s%s", act_names[a], clamp ? " softclamp" : "");
            same(what, y[0], y[1], n / 2);
            snprintf(what, sizeof what, "glu %s%s dinp", act_names[a], clamp ? " softclamp" : "");
            same(what, dx[0], dx[1], n);
        }
    }
    /* cross-entropy: rows of C logits, every third target ignored */
    int64_t *t = malloc(sizeof(int64_t) * (size_t)N);
    for (int64_t r = 0; r < N; r++)
        t[r] = r % 3 == 1 ? -100 : (r * 7) % C;
    int64_t kept[2];
    double loss[2];
    for (int i = 0; i < 2; i++) {
        loss[i] = be[i]->crossentropy_forward(x, t, N, C, -100, &kept[i]);
        be[i]->crossentropy_backward(dx[i], x, t, N, C, -100, 0.25f);
    }
    CHECK(kept[0] == kept[1] && fabs(loss[0] - loss[1]) <= 1e-6 * fabs(loss[1]), "crossentropy %.9g vs %.9g",
          loss[0], loss[1]);
    same("crossentropy dlogits", dx[0], dx[1], n);
    free(t), free(x), free(g), free(dy);
    for (int i = 0; i < 2; i++)
        free(y[i]), free(st1[i]), free(st2[i]), free(dx[i]), free(dg[i]);
}

/* ---------------------------------------------------------------- attention */

static void attention(int64_t B, int64_t T, int64_t S, int64_t K, int H, int G, int D, float softclamp, int topk) {
    struct xtc_attn_params p = {.B = B, .T = T, .S = S, .K = K, .H = H, .G = G, .D = D, .scale = 0.3f, .causal = true,
                                .softclamp = softclamp, .sparse_topk = topk};
    const size_t nq = (size_t)(B * T * H * D), nk = (size_t)(B * S * G * D), nm = (size_t)(G * K * D);
    float *q = rand_floats(nq, 1), *k = rand_floats(nk, 1), *v = rand_floats(nk, 1), *dout = rand_floats(nq, 1);
    float *mk = rand_floats(nm, 1), *mv = rand_floats(nm, 1);
    p.mem_k = mk, p.mem_v = mv;
    float *scratch = malloc(sizeof(float) * xtc_backend_attention_scratch(&p, NULL));
    float *o[2], *g[2][5];
    const struct xtc_backend *be[2] = {cpu, ref};
    for (int i = 0; i < 2; i++) {
        o[i] = malloc(sizeof(float) * nq);
        g[i][0] = malloc(sizeof(float) * nq), g[i][1] = malloc(sizeof(float) * nk);
        g[i][2] = malloc(sizeof(float) * nk);
        g[i][3] = calloc(nm ? nm : 1, sizeof(float)), g[i][4] = calloc(nm ? nm : 1, sizeof(float));
        be[i]->attention_forward(o[i], q, k, v, &p, scratch);
        be[i]->attention_backward(g[i][0], g[i][1], g[i][2], K ? g[i][3] : NULL, K ? g[i][4] : NULL, NULL, dout, q, k,
                                  v, &p, scratch);
    }
    same("attention", o[0], o[1], nq);
    same("attention dq", g[0][0], g[1][0], nq);
    same("attention dk", g[0][1], g[1][1], nk);
    same("attention dv", g[0][2], g[1][2], nk);
    same("attention dmem_k", g[0][3], g[1][3], nm);
    same("attention dmem_v", g[0][4], g[1][4], nm);
    /* one (b, h) at a time, as the decoding step runs it */
    for (int i = 0; i < 2; i++) {
        for (int64_t b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                be[i]->attention_forward_head(o[i], q, k, v, &p, b, h, scratch);
    }
    same("attention by head", o[0], o[1], nq);
    free(q), free(k), free(v), free(dout), free(mk), free(mv), free(scratch);
    for (int i = 0; i < 2; i++) {
        free(o[i]);
        for (int j = 0; j < 5; j++)
            free(g[i][j]);
    }
}

/* ---------------------------------------------------------------- optimiser */

static void optimiser(size_t n) {
    float *p0 = rand_floats(n, 1), *gr = rand_floats(n, 0.1f), *m0 = rand_floats(n, 0.01f);
    float *v0 = rand_floats(n, 0.01f);
    for (size_t i = 0; i < n; i++)
        v0[i] = fabsf(v0[i]);
    struct xtc_adamw_consts k = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step_size = 1e-3f, .bc2_sqrt = 0.3f,
                                 .decay = 0.999f};
    float *p[2], *m[2], *v[2];
    const struct xtc_backend *be[2] = {cpu, ref};
    double ss[2];
    for (int i = 0; i < 2; i++) {
        p[i] = copy(p0, n), m[i] = copy(m0, n), v[i] = copy(v0, n);
        be[i]->adamw_update(p[i], gr, m[i], v[i], n, &k);
        ss[i] = be[i]->grad_sumsq(gr, n);
        be[i]->grad_scale(m[i], n, 0.5f);
    }
    /* elementwise in float, the same operations: exactly equal */
    CHECK(memcmp(p[0], p[1], sizeof(float) * n) == 0 && memcmp(m[0], m[1], sizeof(float) * n) == 0 &&
              memcmp(v[0], v[1], sizeof(float) * n) == 0,
          "adamw n=%zu: cpu and ref differ", n);
    /* the same fixed chunks summed in the same order */
    CHECK(ss[0] == ss[1], "grad_sumsq n=%zu: %.17g vs %.17g", n, ss[0], ss[1]);
    free(p0), free(gr), free(m0), free(v0);
    for (int i = 0; i < 2; i++)
        free(p[i]), free(m[i]), free(v[i]);
}

/* ---------------------------------------------------------------- threads */

#define N_ITEMS 1000

struct visits {
    int count[N_ITEMS];
    int phase_ok;
    int ranges_ok;
};

static void visit_range(void *arg, int64_t lo, int64_t hi, int tid) {
    struct visits *v = arg;
    for (int64_t i = lo; i < hi; i++)
        v->count[i]++;
    (void)tid;
}

static void visit_one(void *arg, int64_t i, struct xtc_team *team) {
    struct visits *v = arg;
    v->count[i]++;
    (void)team;
}

/* after the barrier, every index of the first loop has been visited by some thread */
static void check_all(void *arg, int64_t i, struct xtc_team *team) {
    struct visits *v = arg;
    (void)team;
    if (v->count[i] != 1)
        v->phase_ok = 0; /* only ever cleared: every writer stores the same value */
}

static void team_body(struct xtc_team *team, void *arg) {
    const struct xtc_backend *be = ((void *const *)arg)[0];
    struct visits *v = ((void *const *)arg)[1];
    be->team_for(team, N_ITEMS, XTC_FOR_DYNAMIC | XTC_FOR_NOWAIT, visit_one, v);
    be->team_barrier(team);
    be->team_for(team, N_ITEMS, XTC_FOR_STATIC, check_all, v);
}

static void threads(const struct xtc_backend *be) {
    static struct visits v;
    memset(&v, 0, sizeof v);
    be->parallel_for(N_ITEMS, true, visit_range, &v);
    int ok = 1;
    for (int i = 0; i < N_ITEMS; i++)
        ok &= v.count[i] == 1;
    CHECK(ok, "%s: parallel_for visits every index once", be->name);
    memset(&v, 0, sizeof v);
    v.phase_ok = 1;
    void *arg[2] = {(void *)be, &v};
    be->team_run(be->max_threads() > 1 ? 2 : 1, team_body, arg);
    ok = 1;
    for (int i = 0; i < N_ITEMS; i++)
        ok &= v.count[i] == 1;
    CHECK(ok && v.phase_ok, "%s: team_for visits every index once, and the barrier orders the loops", be->name);
}

int main(void) {
    const char *env = getenv("XTC_BACKEND");
    const char *want = env && strcmp(env, "ref") == 0 ? "ref" : "cpu";
    CHECK(strcmp(xtc_backend_name(), want) == 0, "default backend %s, want %s", xtc_backend_name(), want);
    xtc_backend_cpu_set_reference(1);
    CHECK(xtc_backend_get() == ref && strcmp(xtc_backend_name(), "ref") == 0, "set_reference(1) selects ref");
    xtc_backend_cpu_set_reference(0);
    CHECK(strcmp(xtc_backend_name(), want) == 0, "set_reference(0) returns to the default");

    const enum xtc_cpu_level top = xtc_cpu_level();
    for (int l = XTC_CPU_PORTABLE; l <= (int)top; l++) {
        xtc_cpu_set_max_level((enum xtc_cpu_level)l);
        /* names the level of a failure below */
        printf("test_backend: kernels %s\n", xtc_cpu_level_name(xtc_cpu_level()));
        products(1, 37, 19);
        products(5, 64, 48);
        products(300, 129, 260); /* past the parallel thresholds */
        rows(3, 10);
        rows(7, 66);
        rows(300, 260); /* past the parallel thresholds */
        attention(2, 5, 7, 0, 4, 2, 8, 0, 0);
        attention(2, 70, 70, 3, 4, 4, 16, 0, 0); /* two query tiles, memory key/values */
        attention(2, 70, 70, 3, 4, 2, 16, 0.8f, 0); /* logit soft clamp (attn_softclamp_logits), GQA */
        attention(2, 70, 75, 2, 4, 2, 16, 0, 6); /* sparse top-k: early rows keep all, later rows 6 */
        attention(1, 9, 9, 1, 2, 2, 8, 3.0f, 2); /* both */
        optimiser(1000);
        optimiser(100003); /* several chunks, parallel */
    }
    xtc_cpu_set_max_level(top);
    threads(cpu);
    threads(ref);
    return xtc_check_report("test_backend");
}
