/* Unit tests for the ops in src/ops/ops.h, each against a double-precision
 * scalar reference written here from the formulas of reference §B.2 (not
 * from the library's code).
 * Shape letters: N rows, C features, Cin/Cout linear widths, V vocab.
 *
 * main() returns non-zero if any check fails. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xtc/backend.h"
#include "ops/ops.h"

// --------------------------------------------------------------- helpers

static uint64_t g_rng = 0x243F6A8885A308D3ull;

static double rng_unit(void) {
    /* xorshift64*, uniform in [-1, 1): deterministic test data */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * 0x2545F4914F6CDD1Dull) >> 11) / 4503599627370496.0 - 1.0;
}

static float *rand_floats(size_t n, double amp) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x) {
        fprintf(stderr, "out of memory in test\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(amp * rng_unit());
    return x;
}

static double *alloc_d(size_t n) {
    double *x = calloc(n ? n : 1, sizeof *x);
    if (!x) {
        fprintf(stderr, "out of memory in test\n");
        exit(2);
    }
    return x;
}

// --------------------------------------------------------------- linear

static void ref_linear(double *out, const float *x, const float *w, const float *bias, int64_t N, int64_t Cin,
                       int64_t Cout) {
    for (int64_t i = 0; i < N; i++)
        for (int64_t o = 0; o < Cout; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int64_t c = 0; c < Cin; c++)
                s += (double)x[i * Cin + c] * w[o * Cin + c];
            out[i * Cout + o] = s;
        }
}

static void test_linear(void) {
    const int64_t sizes[][3] = {{7, 13, 5}, {1, 1, 1}, {33, 64, 17}, {2, 3, 129}};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t N = sizes[si][0], Cin = sizes[si][1], Cout = sizes[si][2];
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            float *x = rand_floats((size_t)(N * Cin), 1.0), *w = rand_floats((size_t)(Cout * Cin), 1.0);
            float *b = with_bias ? rand_floats((size_t)Cout, 1.0) : NULL;
            /* garbage in out: the op must overwrite, not accumulate */
            float *out = rand_floats((size_t)(N * Cout), 100.0);
            double *want = alloc_d((size_t)(N * Cout));
            xtc_linear_forward(out, x, w, b, N, Cin, Cout);
            ref_linear(want, x, w, b, N, Cin, Cout);
            char name[96];
            snprintf(name, sizeof name, "linear N=%lld Cin=%lld Cout=%lld bias=%d", (long long)N, (long long)Cin,
                     (long long)Cout, with_bias);
            /* fp32 sums of Cin products with |x w| <= 1: rounding grows about linearly with Cin
             * (2^-24 per add, partial sums up to ~Cin); 1e-6 * Cin covers BLAS blocking orders. */
            xtc_check_close(name, out, want, (size_t)(N * Cout), 1e-6 * (double)(Cin + 1), 1e-6);
            free(x);
            free(w);
            free(b);
            free(out);
            free(want);
        }
    }
    /* N == 0 leaves out untouched */
    float sentinel = 12345.0f, xin = 1, win = 1;
    xtc_linear_forward(&sentinel, &xin, &win, NULL, 0, 1, 1);
    CHECK(sentinel == 12345.0f, "linear with N=0 wrote to out");
}

// --------------------------------------------------------------- norms

static void test_layernorm(void) {
    const int64_t shapes[][2] = {{5, 7}, {3, 1}, {4, 64}, {1, 513}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t N = shapes[si][0], C = shapes[si][1];
        float *x = rand_floats((size_t)(N * C), 3.0), *g = rand_floats((size_t)C, 0.5);
        if (N > 1) /* a constant row: variance 0, output 0 (only eps keeps rstd finite) */
            for (int64_t c = 0; c < C; c++)
                x[C + c] = 2.5f;
        float *out = rand_floats((size_t)(N * C), 1.0), *mean = rand_floats((size_t)N, 1.0),
              *rstd = rand_floats((size_t)N, 1.0);
        double *want = alloc_d((size_t)(N * C)), *wmean = alloc_d((size_t)N), *wrstd = alloc_d((size_t)N);
        for (int64_t i = 0; i < N; i++) {
            double m = 0, v = 0;
            for (int64_t c = 0; c < C; c++)
                m += x[i * C + c];
            m /= (double)C;
            for (int64_t c = 0; c < C; c++)
                v += (x[i * C + c] - m) * (x[i * C + c] - m);
            v /= (double)C; /* biased variance, as torch layer_norm */
            double r = 1.0 / sqrt(v + 1e-5);
            for (int64_t c = 0; c < C; c++)
                want[i * C + c] = (x[i * C + c] - m) * r * (1.0 + g[c]); /* unit-offset gamma, no bias */
            wmean[i] = m;
            wrstd[i] = r;
        }
        const struct xtc_norm_gain gain = {.g = g, .offset = 1.0f};
        xtc_layernorm_forward(out, mean, rstd, x, &gain, N, C);
        char name[96];
        snprintf(name, sizeof name, "layernorm N=%lld C=%lld", (long long)N, (long long)C);
        /* statistics in double inside the op: only the final float rounding (2^-24 relative) remains;
         * atol for outputs that cancel to ~0 */
        xtc_check_close(name, out, want, (size_t)(N * C), 1e-6, 1e-6);
        snprintf(name, sizeof name, "layernorm mean N=%lld C=%lld", (long long)N, (long long)C);
        xtc_check_close(name, mean, wmean, (size_t)N, 1e-7, 1e-6); /* one float rounding */
        snprintf(name, sizeof name, "layernorm rstd N=%lld C=%lld", (long long)N, (long long)C);
        xtc_check_close(name, rstd, wrstd, (size_t)N, 0, 1e-6); /* one float rounding */
        /* mean and rstd may be NULL */
        float *out2 = rand_floats((size_t)(N * C), 1.0);
        xtc_layernorm_forward(out2, NULL, NULL, x, &gain, N, C);
        CHECK(memcmp(out, out2, sizeof(float) * (size_t)(N * C)) == 0, "layernorm with NULL mean/rstd differs");
        /* ff_post_act_ln's gain has no unit offset: y = xhat * g */
        const struct xtc_norm_gain plain = {.g = g, .offset = 0.0f};
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = 0; c < C; c++)
                want[i * C + c] = want[i * C + c] / (1.0 + g[c]) * g[c];
        xtc_layernorm_forward(out2, NULL, NULL, x, &plain, N, C);
        snprintf(name, sizeof name, "layernorm offset 0 N=%lld C=%lld", (long long)N, (long long)C);
        xtc_check_close(name, out2, want, (size_t)(N * C), 1e-6, 1e-5); /* the division above adds a rounding */
        /* in place (out == inp), as the stack's final norm runs */
        memcpy(out2, x, sizeof(float) * (size_t)(N * C));
        xtc_layernorm_forward(out2, NULL, NULL, out2, &gain, N, C);
        CHECK(memcmp(out, out2, sizeof(float) * (size_t)(N * C)) == 0, "layernorm in place differs");
        free(x);
        free(g);
        free(out);
        free(out2);
        free(mean);
        free(rstd);
        free(want);
        free(wmean);
        free(wrstd);
    }
}

/* g: per feature (gstride 1), one scalar (gstride 0) or none (NULL) */
static void ref_rmsnorm_row_g(double *out, double *rnorm, const float *x, const float *g, int gstride, int64_t C) {
    double ss = 0;
    for (int64_t c = 0; c < C; c++)
        ss += (double)x[c] * x[c];
    double norm = sqrt(ss);
    double r = 1.0 / fmax(norm, 1e-12); /* F.normalize clamps the norm, not the square */
    for (int64_t c = 0; c < C; c++)
        out[c] = x[c] * r * sqrt((double)C) * (g ? 1.0 + g[c * gstride] : 1.0);
    *rnorm = r;
}

static void ref_rmsnorm_row(double *out, double *rnorm, const float *x, const float *g, int64_t C) {
    ref_rmsnorm_row_g(out, rnorm, x, g, 1, C);
}

static void test_rmsnorm(void) {
    const int64_t shapes[][2] = {{4, 9}, {3, 1}, {5, 64}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t N = shapes[si][0], C = shapes[si][1];
        float *x = rand_floats((size_t)(N * C), 2.0), *g = rand_floats((size_t)C, 0.5);
        for (int64_t c = 0; c < C; c++) {
            x[1 * C + c] = 0.0f;   /* all-zero row: 0 / max(0, 1e-12) = 0 */
            x[2 * C + c] = 1e-14f; /* norm below 1e-12: the clamp decides the scale */
        }
        float *out = rand_floats((size_t)(N * C), 1.0), *rn = rand_floats((size_t)N, 1.0);
        double *want = alloc_d((size_t)(N * C)), *wrn = alloc_d((size_t)N);
        for (int64_t i = 0; i < N; i++)
            ref_rmsnorm_row(want + i * C, wrn + i, x + i * C, g, C);
        const struct xtc_norm_gain gain = {.g = g, .offset = 1.0f};
        xtc_rmsnorm_forward(out, rn, x, &gain, N, C);
        char name[96];
        snprintf(name, sizeof name, "rmsnorm N=%lld C=%lld", (long long)N, (long long)C);
        /* computed in double inside the op: one float rounding of the output */
        xtc_check_close(name, out, want, (size_t)(N * C), 1e-7, 1e-6);
        snprintf(name, sizeof name, "rmsnorm rnorm N=%lld C=%lld", (long long)N, (long long)C);
        xtc_check_close(name, rn, wrn, (size_t)N, 0, 1e-6); /* one float rounding */
        bool zero_ok = true;
        for (int64_t c = 0; c < C; c++)
            zero_ok &= out[C + c] == 0.0f;
        CHECK(zero_ok, "rmsnorm: all-zero row must give exactly 0 (C=%lld)", (long long)C);
        CHECK(rn[1] == 1e12f, "rmsnorm: rnorm of an all-zero row is 1/1e-12, got %g", (double)rn[1]);
        float *out2 = rand_floats((size_t)(N * C), 1.0);
        xtc_rmsnorm_forward(out2, NULL, x, &gain, N, C);
        CHECK(memcmp(out, out2, sizeof(float) * (size_t)(N * C)) == 0, "rmsnorm with NULL rnorm differs");
        /* ScaleNorm (one gain for every feature) and SimpleRMSNorm (no gain) */
        for (int kind = 0; kind < 2; kind++) {
            const struct xtc_norm_gain gk = {.g = kind ? NULL : g, .offset = 1.0f, .scalar = !kind};
            for (int64_t i = 0; i < N; i++)
                ref_rmsnorm_row_g(want + i * C, wrn + i, x + i * C, kind ? NULL : g, 0, C);
            xtc_rmsnorm_forward(out2, rn, x, &gk, N, C);
            snprintf(name, sizeof name, "%s N=%lld C=%lld", kind ? "simple rmsnorm" : "scalenorm", (long long)N,
                     (long long)C);
            xtc_check_close(name, out2, want, (size_t)(N * C), 1e-7, 1e-6);
        }
        free(x);
        free(g);
        free(out);
        free(out2);
        free(rn);
        free(want);
        free(wrn);
    }
}

static void test_l2norm(void) {
    int64_t N = 4, C = 11;
    float *x = rand_floats((size_t)(N * C), 3.0);
    for (int64_t c = 0; c < C; c++)
        x[2 * C + c] = 0.0f;
    double *want = alloc_d((size_t)(N * C));
    double rn;
    for (int64_t i = 0; i < N; i++) {
        ref_rmsnorm_row(want + i * C, &rn, x + i * C, NULL, C);
        for (int64_t c = 0; c < C; c++)
            want[i * C + c] /= sqrt((double)C); /* F.normalize = RMSNorm without sqrt(C) and g */
    }
    xtc_l2norm_rows(x, N, C);
    xtc_check_close("l2norm_rows", x, want, (size_t)(N * C), 1e-7, 1e-6); /* double inside, one rounding */
    double ss = 0;
    for (int64_t c = 0; c < C; c++)
        ss += (double)x[c] * x[c];
    CHECK(fabs(ss - 1.0) < 1e-6, "l2norm row 0 has squared norm %.9g", ss);
    free(x);
    free(want);
}

// --------------------------------------------------------------- activations

static double ref_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double ref_silu(double x) { return x / (1.0 + exp(-x)); }
static double ref_relu2(double x) { return x > 0 ? x * x : 0.0; }
static double ref_act(double x, enum xtc_ff_activation a) {
    return a == XTC_FF_SWISH ? ref_silu(x) : a == XTC_FF_RELU_SQUARED ? ref_relu2(x) : ref_gelu(x);
}

static void act_case(enum xtc_ff_activation act, const char *name, const float *x, float *out, double *want,
                     size_t n) {
    for (size_t i = 0; i < n; i++)
        want[i] = ref_act(x[i], act);
    xtc_act_forward(out, x, (int64_t)n, act);
    /* SiLU through the fast exp (relative error 2e-7) and one division */
    xtc_check_close(name, out, want, n, 1e-7, 1e-6);
    xtc_act_forward(out, x, 3, act); /* small n: serial path */
    xtc_check_close(name, out, want, 3, 1e-7, 1e-6);
}

static void test_gelu(void) {
    const float fixed[] = {0.0f, -0.0f, 1.0f, -1.0f, 3.0f, -3.0f, 10.0f, -10.0f, 40.0f, -40.0f, 1e-8f, -1e-8f,
                           0.5f, -0.5f, 2.5e3f, -2.5e3f};
    /* 70000 elements: above the op's OpenMP threshold (65536), so the parallel path runs too */
    size_t n = 70000;
    float *x = rand_floats(n, 6.0);
    memcpy(x, fixed, sizeof fixed);
    float *out = rand_floats(n, 1.0);
    double *want = alloc_d(n);
    for (size_t i = 0; i < n; i++)
        want[i] = ref_gelu(x[i]);
    xtc_act_forward(out, x, (int64_t)n, XTC_FF_GELU);
    /* exact erf form evaluated in double inside the op; tanh-approximate GELU differs by up to ~5e-4
     * around |x| = 2, so this tolerance tells the two apart */
    xtc_check_close("gelu (exact erf)", out, want, n, 1e-7, 1e-6);
    CHECK(out[8] == 40.0f && out[9] == 0.0f && out[15] == 0.0f, "gelu tails: %g %g %g", (double)out[8],
          (double)out[9], (double)out[15]);
    xtc_act_forward(out, x, 3, XTC_FF_GELU); /* small n: serial path */
    xtc_check_close("gelu n=3", out, want, 3, 1e-7, 1e-6);
    /* SiLU (ff_swish) and relu(x)^2 (ff_relu_squared) on the same values, both paths */
    act_case(XTC_FF_SWISH, "silu", x, out, want, n);
    act_case(XTC_FF_RELU_SQUARED, "relu squared", x, out, want, n);
    CHECK(out[9] == 0.0f, "relu squared of -40: %g", (double)out[9]);
    free(x);
    free(out);
    free(want);
}

static void test_glu(void) {
    const int64_t shapes[][2] = {{3, 5}, {1, 1}, {300, 230}}; /* the last: N*C > 65536, parallel path */
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t N = shapes[si][0], C = shapes[si][1];
        float *x = rand_floats((size_t)(N * 2 * C), 4.0), *out = rand_floats((size_t)(N * C), 1.0);
        double *want = alloc_d((size_t)(N * C));
        for (int a = XTC_FF_GELU; a <= XTC_FF_RELU_SQUARED; a++) {
            const struct xtc_glu_params p = {.act = (enum xtc_ff_activation)a};
            for (int64_t i = 0; i < N; i++)
                for (int64_t c = 0; c < C; c++) /* value = first half, gate = second half (x-transformers GLU) */
                    want[i * C + c] = (double)x[i * 2 * C + c] * ref_act(x[i * 2 * C + C + c], p.act);
            xtc_glu_forward(out, x, N, C, a == XTC_FF_GELU ? NULL : &p);
            char name[64];
            snprintf(name, sizeof name, "glu act %d N=%lld C=%lld", a, (long long)N, (long long)C);
            /* the activation rounded to float, then one float product: two roundings (the fast SiLU
             * carries its exp's 2e-7 on top) */
            xtc_check_close(name, out, want, (size_t)(N * C), 1e-7, a == XTC_FF_SWISH ? 1e-6 : 3e-7);
        }
        free(x);
        free(out);
        free(want);
    }
}

// --------------------------------------------------------------- embedding

static void test_embedding(void) {
    int64_t V = 10, C = 7, N = 6;
    float *table = rand_floats((size_t)(V * C), 1.0), *out = rand_floats((size_t)(N * C), 1.0);
    const int64_t ids[6] = {3, 0, 9, 3, 5, 9};
    xtc_embedding_forward(out, ids, table, N, C);
    bool ok = true;
    for (int64_t i = 0; i < N; i++)
        ok &= memcmp(out + i * C, table + ids[i] * C, sizeof(float) * (size_t)C) == 0;
    CHECK(ok, "embedding rows must be exact copies of the table rows");
    free(table);
    free(out);
}

// --------------------------------------------------------------- cross-entropy

static double ref_ce(const float *logits, const int64_t *t, int64_t N, int64_t V, int64_t ignore, int64_t *kept) {
    double total = 0;
    *kept = 0;
    for (int64_t i = 0; i < N; i++) {
        if (t[i] == ignore)
            continue;
        const float *row = logits + i * V;
        long double mx = -INFINITY, s = 0;
        for (int64_t v = 0; v < V; v++)
            mx = row[v] > mx ? row[v] : mx;
        for (int64_t v = 0; v < V; v++)
            s += expl((long double)row[v] - mx);
        total += (double)(mx + logl(s) - row[t[i]]);
        (*kept)++;
    }
    return *kept ? total / (double)*kept : NAN;
}

static void test_crossentropy(void) {
    int64_t N = 6, V = 11;
    float *logits = rand_floats((size_t)(N * V), 5.0);
    for (int64_t v = 0; v < V; v++)
        logits[4 * V + v] += 1000.0f; /* large logits: needs the max-subtracted log-sum-exp */
    const int64_t targets[6] = {3, -100, 10, 0, 7, -100};
    int64_t kept = -1, wkept;
    double want = ref_ce(logits, targets, N, V, -100, &wkept);
    double got = xtc_crossentropy_forward(logits, targets, N, V, -100, &kept);
    CHECK(kept == 4 && wkept == 4, "crossentropy n_kept %lld, want 4", (long long)kept);
    /* fast path: exp in float over each row (vectorizable exp, error below 2e-7 per term) */
    CHECK(fabs(got - want) <= 1e-6 * fabs(want) + 1e-7, "crossentropy %.17g, want %.17g", got, want);
    /* reference path: double from the same float logits, only summation order differs */
    xtc_backend_cpu_set_reference(1);
    double got_ref = xtc_crossentropy_forward(logits, targets, N, V, -100, NULL);
    xtc_backend_cpu_set_reference(0);
    CHECK(fabs(got_ref - want) <= 1e-12 * fabs(want) + 1e-12, "crossentropy (reference) %.17g, want %.17g", got_ref,
          want);
    CHECK(isfinite(got), "crossentropy with large logits is %g", got);

    /* a different ignore_index (7, a valid class id): rows with target 7 are skipped, -100 is not special */
    const int64_t t2[6] = {7, 1, 7, 2, 7, 3};
    want = ref_ce(logits, t2, N, V, 7, &wkept);
    got = xtc_crossentropy_forward(logits, t2, N, V, 7, NULL); /* n_kept may be NULL */
    CHECK(fabs(got - want) <= 1e-6 * fabs(want) + 1e-7, "crossentropy ignore_index=7: %.17g, want %.17g", got, want);

    /* every target ignored: NaN (torch's mean over zero elements), n_kept 0 */
    const int64_t all_ignored[6] = {-100, -100, -100, -100, -100, -100};
    kept = -1;
    got = xtc_crossentropy_forward(logits, all_ignored, N, V, -100, &kept);
    CHECK(isnan(got), "crossentropy with every target ignored: %g, want NaN", got);
    CHECK(kept == 0, "crossentropy with every target ignored: n_kept %lld", (long long)kept);

    /* a one-hot-like row: loss of the right class ~0, exact formula log(1 + 10 e^-100) */
    float row[11];
    for (int v = 0; v < 11; v++)
        row[v] = v == 2 ? 100.0f : 0.0f;
    int64_t t_one = 2;
    got = xtc_crossentropy_forward(row, &t_one, 1, 11, -100, NULL);
    CHECK(fabs(got - log1p(10.0 * exp(-100.0))) < 1e-15, "crossentropy confident row: %.17g", got);
    free(logits);
}

int main(void) {
    test_linear();
    test_layernorm();
    test_rmsnorm();
    test_l2norm();
    test_gelu();
    test_glu();
    test_embedding();
    test_crossentropy();
    return xtc_check_report("test_ops");
}
