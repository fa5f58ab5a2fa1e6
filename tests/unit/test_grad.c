/* Gradient checks: every backward pass against central finite differences.
 *
 * Part 1 (ops): each backward in src/ops/ops.h, the rotary rotation (src/pos/pos.h) and
 * xtc_attention_backward (src/attn/attention.h) against central differences of the
 * library's own float forward. Objective S = sum(out * r) in double with a fixed random r,
 * so dS/dout = r is the cotangent handed to the backward. Gradient outputs are pre-filled
 * (garbage where the rule says "=", prior values where it says "+=") to check the
 * accumulation rules at the bottom of ops.h as well.
 *
 * Part 2 (models): golden x-transformers models from tests/golden/<case>/ (config from
 * case.json, weights from model.safetensors) with seeded random inputs of the right kind;
 * S = sum(first output * r) (XTransformer: loss * r0; its decoder alone: logits);
 * xtc_model_backward(m, r) against central differences over a sample of parameter elements
 * (perturbed in place through xtc_model_param_data(m, i)) and of the float inputs (x, context,
 * mems).
 *
 * Shape letters: B batch, T queries, S keys, K memory key/values, H heads, G kv heads,
 * D head dim, N rows, C features, V vocab.
 *
 * Each op check prints its max abs error and its worst err / tolerance ratio (< 1 passes);
 * models print one summary line (every sampled tensor with XTC_GRAD_VERBOSE=1 in the
 * environment, or when it fails); XTC_GRAD_SEED=n draws other random data. main() returns
 * non-zero when any check fails. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attn/attention.h"
#include "backend/ref/ref.h"
#include "check.h"
#include "ops/ops.h"
#include "pos/pos.h"
#include "xtc/model.h"
#include "xtc/train.h"

// --------------------------------------------------------------- helpers

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static double rng_unit(void) {
    /* xorshift64*, uniform in [-1, 1) */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * 0x2545F4914F6CDD1Dull) >> 11) / 4503599627370496.0 - 1.0;
}

static int64_t rng_int(int64_t n) {
    int64_t i = (int64_t)((rng_unit() + 1.0) * 0.5 * (double)n);
    return i < n ? i : n - 1;
}

static void *xmalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "out of memory in test\n");
        exit(2);
    }
    return p;
}

static float *rand_floats(size_t n, double scale) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * rng_unit());
    return x;
}

static float *fill_floats(size_t n, float v) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = v;
    return x;
}

static float *copy_floats(const float *src, size_t n) {
    float *x = xmalloc(n * sizeof *x);
    memcpy(x, src, n * sizeof *x);
    return x;
}

/* got - prior, for gradients that are accumulated (+=) into prior values */
static float *minus(const float *got, const float *prior, size_t n) {
    float *d = xmalloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = got[i] - prior[i];
    return d;
}

static double dot_r(const float *out, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * (double)r[i];
    return s;
}

// --------------------------------------------------------------- finite differences

typedef double (*objective_fn)(void *ctx);

/* Worst figures of a group of checks (one model), for the summary line. */
struct fd_worst {
    double max_abs, max_ratio, max_fd;
    size_t n;
};

/* Central differences of f with respect to x[idx[i]] (every element when idx is NULL),
 * against the analytic gradient grad[idx[i]]. The step is the float difference actually
 * applied, (x + eps) - (x - eps), so rounding of x itself does not bias the quotient.
 * Element passes when |grad - fd| <= atol + rtol * |fd| (xtc_check_close). */
static int fd_check(const char *name, objective_fn f, void *ctx, float *x, const float *grad, size_t n,
                    const size_t *idx, size_t n_idx, double eps, double atol, double rtol, struct fd_worst *worst) {
    size_t k = idx ? n_idx : n;
    float *got = xmalloc(k * sizeof *got);
    double *want = xmalloc(k * sizeof *want);
    double max_abs = 0, max_ratio = 0;
    for (size_t t = 0; t < k; t++) {
        size_t i = idx ? idx[t] : t;
        float x0 = x[i], xp = (float)(x0 + eps), xm = (float)(x0 - eps);
        x[i] = xp;
        double fp = f(ctx);
        x[i] = xm;
        double fm = f(ctx);
        x[i] = x0;
        want[t] = (fp - fm) / ((double)xp - (double)xm);
        got[t] = grad[i];
        double e = fabs((double)got[t] - want[t]), ratio = e / (atol + rtol * fabs(want[t]));
        max_abs = e > max_abs ? e : max_abs;
        max_ratio = ratio > max_ratio ? ratio : max_ratio;
    }
    f(ctx); /* leave the state of the unperturbed point behind */
    int rc = xtc_check_close(name, got, want, k, atol, rtol);
    if (!worst || rc || getenv("XTC_GRAD_VERBOSE"))
        printf("  %-44s %4zu el  max|err| %.2e  err/tol %.3f%s\n", name, k, max_abs, max_ratio, rc ? "  FAIL" : "");
    if (worst) {
        worst->max_abs = max_abs > worst->max_abs ? max_abs : worst->max_abs;
        worst->max_ratio = max_ratio > worst->max_ratio ? max_ratio : worst->max_ratio;
        for (size_t t = 0; t < k; t++)
            worst->max_fd = fabs(want[t]) > worst->max_fd ? fabs(want[t]) : worst->max_fd;
        worst->n += k;
    }
    free(got);
    free(want);
    return rc;
}

/* Op-level tolerance. The objective is a float forward summed in double over <= 210 outputs of
 * size ~1: each carries ~6e-8 relative rounding, so S carries ~1e-6 absolute noise, ~5e-5 after
 * dividing by 2 eps = 2e-2; the O(eps^2) truncation term of the central difference is
 * ~2e-5 * |f'''|; the analytic side is float (~1e-6 relative). Measured: max |err| 6e-5 with the
 * default data, 4e-4 over 40 seeds (norms of rows with a small variance), err/tol <= 0.16.
 * 5e-4 + 5e-3 |fd| keeps that margin, while a missing or wrong term of the chain rule moves a
 * gradient by O(|grad|) ~ 0.1..1 and fails. */
#define OP_EPS 1e-2
#define OP_ATOL 5e-4
#define OP_RTOL 5e-3

// --------------------------------------------------------------- ops: generic forward + r

/* One op evaluation: run() writes out from the inputs; the objective is sum(out * r). */
struct op {
    void (*run)(struct op *o);
    float *out;
    const float *r;
    size_t n_out;
    float *a, *b, *c;     /* inputs (meaning per op) */
    const int64_t *ids;   /* embedding ids */
    float *aux0, *aux1;   /* saved statistics written by the forward */
    int64_t N, C, Cout;
};

static double op_objective(void *ctx) {
    struct op *o = ctx;
    o->run(o);
    return dot_r(o->out, o->r, o->n_out);
}

static void run_linear(struct op *o) { xtc_linear_forward(o->out, o->a, o->b, o->c, o->N, o->C, o->Cout); }
/* the norms' gain (o->b is the gain vector it points to) and the activation of the op under test */
static struct xtc_norm_gain g_gain;
static enum xtc_ff_activation g_act;
static struct xtc_glu_params g_glu;
static void run_layernorm(struct op *o) { xtc_layernorm_forward(o->out, o->aux0, o->aux1, o->a, &g_gain, o->N, o->C); }
static void run_rmsnorm(struct op *o) { xtc_rmsnorm_forward(o->out, o->aux0, o->a, &g_gain, o->N, o->C); }
static void run_act(struct op *o) { xtc_act_forward(o->out, o->a, o->N, g_act); }
static void run_glu(struct op *o) { xtc_glu_forward(o->out, o->a, o->N, o->C, &g_glu); }
static void run_embedding(struct op *o) { xtc_embedding_forward(o->out, o->ids, o->a, o->N, o->C); }
static void run_l2norm(struct op *o) {
    memcpy(o->out, o->a, sizeof(float) * (size_t)(o->N * o->C));
    xtc_l2norm_rows(o->out, o->N, o->C);
}

static void test_linear(void) {
    const int64_t N = 5, Cin = 7, Cout = 3;
    float *inp = rand_floats((size_t)(N * Cin), 1.0), *w = rand_floats((size_t)(Cout * Cin), 0.5);
    float *bias = rand_floats((size_t)Cout, 0.5), *r = rand_floats((size_t)(N * Cout), 1.0);
    float *out = xmalloc(sizeof(float) * (size_t)(N * Cout));
    struct op o = {.run = run_linear, .out = out, .r = r, .n_out = (size_t)(N * Cout), .a = inp, .b = w, .c = bias,
                   .N = N, .C = Cin, .Cout = Cout};
    for (int acc = 0; acc < 2; acc++) {
        /* dinp: "=" without accumulate (garbage must be overwritten), "+=" with it */
        float *dinp0 = acc ? rand_floats((size_t)(N * Cin), 1.0) : fill_floats((size_t)(N * Cin), 123.0f);
        float *dw0 = rand_floats((size_t)(Cout * Cin), 1.0), *db0 = rand_floats((size_t)Cout, 1.0);
        float *dinp = copy_floats(dinp0, (size_t)(N * Cin)), *dw = copy_floats(dw0, (size_t)(Cout * Cin));
        float *db = copy_floats(db0, (size_t)Cout);
        xtc_linear_backward(dinp, dw, db, r, inp, w, N, Cin, Cout, acc);
        float *gi = acc ? minus(dinp, dinp0, (size_t)(N * Cin)) : copy_floats(dinp, (size_t)(N * Cin));
        float *gw = minus(dw, dw0, (size_t)(Cout * Cin)), *gb = minus(db, db0, (size_t)Cout);
        fd_check(acc ? "linear dinp (accumulate)" : "linear dinp", op_objective, &o, inp, gi, (size_t)(N * Cin), NULL,
                 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
        fd_check("linear dw (+=)", op_objective, &o, w, gw, (size_t)(Cout * Cin), NULL, 0, OP_EPS, OP_ATOL, OP_RTOL,
                 NULL);
        fd_check("linear db (+=)", op_objective, &o, bias, gb, (size_t)Cout, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
        free(dinp0), free(dw0), free(db0), free(dinp), free(dw), free(db), free(gi), free(gw), free(gb);
    }
    free(inp), free(w), free(bias), free(r), free(out);
}

static void test_norms(void) {
    const int64_t N = 3, C = 7;
    const size_t n = (size_t)(N * C);
    float *inp = rand_floats(n, 1.0), *gamma = rand_floats((size_t)C, 0.5), *r = rand_floats(n, 1.0);
    float *out = xmalloc(sizeof(float) * n), *mean = xmalloc(sizeof(float) * (size_t)N);
    float *rstd = xmalloc(sizeof(float) * (size_t)N);
    float *dinp0 = rand_floats(n, 1.0), *dg0 = rand_floats((size_t)C, 1.0);
    /* every gain: the stack's unit offset, ff_post_act_ln's plain gain, ScaleNorm's scalar,
     * SimpleRMSNorm's none; dinp and the gain's gradient are both += */
    const struct xtc_norm_gain gains[4] = {{.g = gamma, .offset = 1}, {.g = gamma, .offset = 0},
                                           {.g = gamma, .offset = 1, .scalar = true}, {.offset = 1}};
    static const char *gain_names[4] = {"unit offset", "offset 0", "scalar", "no gain"};
    for (int k = 0; k < 4; k++) {
        g_gain = gains[k];
        const size_t ng = gains[k].g ? (gains[k].scalar ? 1 : (size_t)C) : 0;
        for (int rms = 0; rms < 2; rms++) {
            struct op o = {.run = rms ? run_rmsnorm : run_layernorm, .out = out, .r = r, .n_out = n, .a = inp,
                           .b = gamma, .aux0 = mean, .aux1 = rms ? NULL : rstd, .N = N, .C = C};
            o.run(&o);
            float *dinp = copy_floats(dinp0, n), *dg = copy_floats(dg0, (size_t)C);
            if (rms)
                xtc_rmsnorm_backward(dinp, ng ? dg : NULL, r, inp, &g_gain, mean, N, C);
            else
                xtc_layernorm_backward(dinp, ng ? dg : NULL, r, inp, &g_gain, mean, rstd, N, C);
            float *gi = minus(dinp, dinp0, n), *gg = minus(dg, dg0, (size_t)C);
            char what[96];
            snprintf(what, sizeof what, "%s %s dinp (+=)", rms ? "rmsnorm" : "layernorm", gain_names[k]);
            fd_check(what, op_objective, &o, inp, gi, n, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
            if (ng) {
                snprintf(what, sizeof what, "%s %s dgain (+=)", rms ? "rmsnorm" : "layernorm", gain_names[k]);
                fd_check(what, op_objective, &o, gamma, gg, ng, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
            }
            bool untouched = true; /* the scalar gain's gradient is one float; no gain, none */
            for (size_t c = ng; c < (size_t)C; c++)
                untouched &= dg[c] == dg0[c];
            CHECK(untouched, "%s %s: gradient written past the gain", rms ? "rmsnorm" : "layernorm", gain_names[k]);
            free(dinp), free(dg), free(gi), free(gg);
        }
    }

    /* l2norm (F.normalize): in place, dx becomes the input gradient */
    struct op o = {.run = run_l2norm, .out = out, .r = r, .n_out = n, .a = inp, .N = N, .C = C};
    float *dx = copy_floats(r, n);
    xtc_l2norm_backward(dx, inp, N, C);
    fd_check("l2norm dx", op_objective, &o, inp, dx, n, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
    free(dx), free(dinp0), free(dg0);
    free(inp), free(gamma), free(r), free(out), free(mean), free(rstd);
}

static void test_activations(void) {
    const int64_t N = 4, C = 5;
    static const char *names[] = {"gelu", "silu", "relu squared"};
    /* over [-3, 3): both tails and the curved middle (relu^2's kink at 0 is measure zero) */
    float *x = rand_floats((size_t)(N * C), 3.0), *r = rand_floats((size_t)(N * 2 * C), 1.0);
    float *out = xmalloc(sizeof(float) * (size_t)(N * 2 * C));
    float *g = rand_floats((size_t)(N * 2 * C), 2.0); /* [value | gate] */
    for (int a = XTC_FF_GELU; a <= XTC_FF_RELU_SQUARED; a++) {
        char what[96];
        g_act = (enum xtc_ff_activation)a;
        struct op o = {.run = run_act, .out = out, .r = r, .n_out = (size_t)(N * C), .a = x, .N = N * C};
        float *dx = fill_floats((size_t)(N * C), 123.0f); /* "=": garbage must be overwritten */
        xtc_act_backward(dx, r, x, N * C, g_act);
        snprintf(what, sizeof what, "%s dinp", names[a]);
        fd_check(what, op_objective, &o, x, dx, (size_t)(N * C), NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
        free(dx);
        /* GLU, then with soft clamps small enough that the inputs (|x| < 2) reach their curved
         * part (GELU and SiLU gates: x-transformers refuses the clamp on relu^2) */
        for (int clamp = 0; clamp < (a == XTC_FF_RELU_SQUARED ? 1 : 2); clamp++) {
            g_glu = (struct xtc_glu_params){.act = g_act, .softclamp = clamp, .gate_clamp = 0.5f, .up_clamp = 0.75f};
            struct op og = {.run = run_glu, .out = out, .r = r, .n_out = (size_t)(N * C), .a = g, .N = N, .C = C};
            float *dg = fill_floats((size_t)(N * 2 * C), 123.0f);
            xtc_glu_backward(dg, r, g, N, C, &g_glu);
            snprintf(what, sizeof what, "glu %s%s dinp (value and gate)", names[a], clamp ? " softclamp" : "");
            fd_check(what, op_objective, &og, g, dg, (size_t)(N * 2 * C), NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
            free(dg);
        }
    }
    free(g), free(x), free(r), free(out);
}

static void test_embedding(void) {
    const int64_t V = 6, C = 5, N = 7;
    const int64_t ids[7] = {2, 0, 2, 5, 2, 0, 3}; /* repeated ids accumulate; ids 1 and 4 get nothing */
    float *table = rand_floats((size_t)(V * C), 1.0), *r = rand_floats((size_t)(N * C), 1.0);
    float *out = xmalloc(sizeof(float) * (size_t)(N * C));
    struct op o = {.run = run_embedding, .out = out, .r = r, .n_out = (size_t)(N * C), .a = table, .ids = ids,
                   .N = N, .C = C};
    float *d0 = rand_floats((size_t)(V * C), 1.0), *d = copy_floats(d0, (size_t)(V * C));
    xtc_embedding_backward(d, r, ids, N, C);
    float *gd = minus(d, d0, (size_t)(V * C));
    fd_check("embedding dtable (+=, repeated ids)", op_objective, &o, table, gd, (size_t)(V * C), NULL, 0, OP_EPS,
             OP_ATOL, OP_RTOL, NULL);
    free(d0), free(d), free(gd), free(table), free(r), free(out);
}

/* ---- cross-entropy: objective scale * loss (mean over kept), or scale * sum for the op */
struct ce_ctx {
    float *logits;
    const int64_t *targets;
    int64_t N, V, ignore;
    double scale;
    bool sum; /* scale * sum over kept rows instead of the mean */
};

static double ce_objective(void *ctx) {
    struct ce_ctx *c = ctx;
    int64_t kept = 0;
    double mean = xtc_crossentropy_forward(c->logits, c->targets, c->N, c->V, c->ignore, &kept);
    return c->scale * mean * (c->sum ? (double)kept : 1.0);
}

static void test_crossentropy(void) {
    const int64_t N = 5, V = 7, IGN = -100;
    const int64_t targets[5] = {3, IGN, 0, 6, IGN};
    const float scale = 0.7f;
    float *logits = rand_floats((size_t)(N * V), 2.0);
    struct ce_ctx c = {.logits = logits, .targets = targets, .N = N, .V = V, .ignore = IGN, .scale = scale};
    float *dl = fill_floats((size_t)(N * V), 123.0f), loss = 0;
    int64_t kept = -1;
    xtc_status rc = xtc_cross_entropy(logits, targets, N, V, IGN, scale, &loss, dl, &kept, NULL);
    CHECK(rc == XTC_OK, "xtc_cross_entropy: %s", xtc_status_str(rc));
    CHECK(kept == 3, "xtc_cross_entropy kept %lld rows, want 3", (long long)kept);
    double want_loss = ce_objective(&c) / scale;
    CHECK(fabs(loss - want_loss) <= 1e-6 * fabs(want_loss), "loss %.9g, forward %.9g", loss, want_loss);
    fd_check("xtc_cross_entropy dlogits (scale, ignore)", ce_objective, &c, logits, dl, (size_t)(N * V), NULL, 0,
             OP_EPS, OP_ATOL, OP_RTOL, NULL);

    c.sum = true;
    xtc_crossentropy_backward(dl, logits, targets, N, V, IGN, scale);
    fd_check("crossentropy_backward dlogits (scale*sum)", ce_objective, &c, logits, dl, (size_t)(N * V), NULL, 0,
             OP_EPS, OP_ATOL, OP_RTOL, NULL);

    /* nothing kept: loss 0, every gradient 0 */
    const int64_t none[5] = {IGN, IGN, IGN, IGN, IGN};
    for (size_t i = 0; i < (size_t)(N * V); i++)
        dl[i] = 123.0f;
    rc = xtc_cross_entropy(logits, none, N, V, IGN, scale, &loss, dl, &kept, NULL);
    bool zero = true;
    for (size_t i = 0; i < (size_t)(N * V); i++)
        zero &= dl[i] == 0.0f;
    CHECK(rc == XTC_OK && kept == 0 && loss == 0.0f && zero, "all-ignored targets: rc %d kept %lld loss %g zero %d",
          (int)rc, (long long)kept, loss, (int)zero);
    free(dl), free(logits);
}

/* ---- rotary: y = rotate(x) by theta with XPOS factors f; dx = rotate(dy) by -theta with the same f */
struct rot_ctx {
    float *x, *y;
    const float *r, *cos, *sin, *fac;
    int n_freq, D;
    enum xtc_rope_layout layout;
};

static double rot_objective(void *ctx) {
    struct rot_ctx *c = ctx;
    memcpy(c->y, c->x, sizeof(float) * (size_t)c->D);
    xtc_rotary_rotate(c->y, c->cos, c->sin, c->fac, c->n_freq, c->layout);
    return dot_r(c->y, c->r, (size_t)c->D);
}

static void test_rotary(void) {
    struct xtc_rotary rot;
    struct xtc_rotary_config cfg = {.rotary_emb_dim = 6, .base = 10000, .base_rescale_factor = 1,
                                    .interpolation_factor = 1, .xpos = true, .xpos_scale_base = 32};
    xtc_status rc = xtc_rotary_init(&rot, &cfg, NULL);
    CHECK(rc == XTC_OK, "xtc_rotary_init: %s", xtc_status_str(rc));
    if (rc != XTC_OK)
        return;
    const int D = 9, nf = rot.n_freq; /* 6 rotated features, 3 passed through */
    float cs[8], sn[8], nsn[8], fac[8];
    const int64_t positions[2] = {5, 23};
    for (int layout = 0; layout < 2; layout++)
        for (int pi = 0; pi < 2; pi++)
            for (int sign = -1; sign <= 1; sign += 2) {
                xtc_rotary_cos_sin(&rot, positions[pi], cs, sn);
                xtc_rotary_xpos(&rot, positions[pi], 7, (float)sign, fac);
                for (int k = 0; k < nf; k++)
                    nsn[k] = -sn[k];
                float *x = rand_floats((size_t)D, 1.0), *r = rand_floats((size_t)D, 1.0), y[16];
                struct rot_ctx c = {.x = x, .y = y, .r = r, .cos = cs, .sin = sn, .fac = fac, .n_freq = nf, .D = D,
                                    .layout = layout ? XTC_ROPE_HALF_SPLIT : XTC_ROPE_INTERLEAVED};
                float *dx = copy_floats(r, (size_t)D);
                xtc_rotary_rotate(dx, cs, nsn, fac, nf, c.layout); /* backward: the same call with sin negated */
                char name[96];
                snprintf(name, sizeof name, "rotary dx (%s, pos %lld, xpos %s)", layout ? "half" : "inter",
                         (long long)positions[pi], sign > 0 ? "q" : "k");
                fd_check(name, rot_objective, &c, x, dx, (size_t)D, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
                free(x), free(r), free(dx);
            }
    xtc_rotary_free(&rot);
}

// --------------------------------------------------------------- attention

struct attn_ctx {
    struct xtc_attn_params p;
    float *q, *k, *v, *mk, *mv, *t5, *out, *r, *scratch;
    size_t n_out;
};

static double attn_objective(void *ctx) {
    struct attn_ctx *c = ctx;
    if (c->p.talking_heads)
        xtc_talking_heads_forward(c->out, c->q, c->k, c->v, &c->p, c->scratch);
    else
        xtc_attention_forward_ref(c->out, c->q, c->k, c->v, &c->p, c->scratch);
    return dot_r(c->out, c->r, c->n_out);
}

/* Checks dq, dk, dv (overwritten) and dmem_k, dmem_v, dt5 (accumulated) of one configuration.
 * With p.talking_heads, the talking-heads kernels run instead, and the mixings p names (any
 * non-NULL th_* pointer: replaced by a random (H, H) matrix) get their gradients (accumulated)
 * checked too. */
static void attn_case(const char *name, struct xtc_attn_params p, bool with_t5) {
    const int64_t B = p.B, T = p.T, S = p.S, K = p.K;
    const size_t nq = (size_t)(B * T * p.H * p.D), nk = (size_t)(B * S * p.G * p.D), nm = (size_t)(p.G * K * p.D);
    const size_t nt5 = (size_t)(p.H * (2 * S - 1));
    struct attn_ctx c = {.p = p, .n_out = nq};
    c.q = rand_floats(nq, 1.0), c.k = rand_floats(nk, 1.0), c.v = rand_floats(nk, 1.0), c.r = rand_floats(nq, 1.0);
    c.mk = K ? rand_floats(nm, 1.0) : NULL, c.mv = K ? rand_floats(nm, 1.0) : NULL;
    c.t5 = with_t5 ? rand_floats(nt5, 1.0) : NULL;
    c.out = xmalloc(sizeof(float) * nq);
    size_t nscr = xtc_attention_ref_scratch(&p) * (size_t)omp_get_max_threads();
    if (p.talking_heads && xtc_talking_heads_scratch(&p) > nscr)
        nscr = xtc_talking_heads_scratch(&p);
    c.scratch = xmalloc(sizeof(float) * nscr);
    c.p.mem_k = c.mk, c.p.mem_v = c.mv;
    const size_t nw = (size_t)(p.H * p.H);
    float *th[3] = {0}, *dth0[3] = {0}, *dth[3] = {0};
    const float **th_slot[3] = {&c.p.th_pre, &c.p.th_post, &c.p.th_pre_scale};
    float **dth_slot[3] = {&c.p.th_dpre, &c.p.th_dpost, &c.p.th_dpre_scale};
    for (int w = 0; w < 3; w++)
        if (*th_slot[w]) {
            th[w] = rand_floats(nw, 1.0), dth0[w] = rand_floats(nw, 1.0), dth[w] = copy_floats(dth0[w], nw);
            *th_slot[w] = th[w], *dth_slot[w] = dth[w];
        }
    if (with_t5) {
        c.p.bias = (struct xtc_attn_bias){.scheme = &xtc_t5_scheme, .data = c.t5};
        c.p.dbias_n = (int64_t)nt5;
    }

    float *dq = fill_floats(nq, 123.0f), *dk = fill_floats(nk, 123.0f), *dv = fill_floats(nk, 123.0f);
    float *dmk0 = K ? rand_floats(nm, 1.0) : NULL, *dmv0 = K ? rand_floats(nm, 1.0) : NULL;
    float *dt50 = with_t5 ? rand_floats(nt5, 1.0) : NULL;
    float *dmk = K ? copy_floats(dmk0, nm) : NULL, *dmv = K ? copy_floats(dmv0, nm) : NULL;
    float *dt5 = with_t5 ? copy_floats(dt50, nt5) : NULL;
    if (c.p.talking_heads)
        xtc_talking_heads_backward(dq, dk, dv, dmk, dmv, dt5, c.r, c.q, c.k, c.v, &c.p, c.scratch);
    else
        xtc_attention_backward_ref(dq, dk, dv, dmk, dmv, dt5, c.r, c.q, c.k, c.v, &c.p, c.scratch);

    char buf[128];
    static const char *th_names[3] = {"pre", "post", "pre_scale_post"};
    for (int w = 0; w < 3; w++) {
        if (!th[w])
            continue;
        float *g = minus(dth[w], dth0[w], nw);
        snprintf(buf, sizeof buf, "attn %s: d talking heads %s (+=)", name, th_names[w]);
        fd_check(buf, attn_objective, &c, th[w], g, nw, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
        free(g);
    }
    snprintf(buf, sizeof buf, "attn %s: dq", name);
    fd_check(buf, attn_objective, &c, c.q, dq, nq, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
    snprintf(buf, sizeof buf, "attn %s: dk", name);
    fd_check(buf, attn_objective, &c, c.k, dk, nk, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
    snprintf(buf, sizeof buf, "attn %s: dv", name);
    fd_check(buf, attn_objective, &c, c.v, dv, nk, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
    if (K) {
        float *g = minus(dmk, dmk0, nm);
        snprintf(buf, sizeof buf, "attn %s: dmem_k (+=)", name);
        fd_check(buf, attn_objective, &c, c.mk, g, nm, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
        free(g);
        g = minus(dmv, dmv0, nm);
        snprintf(buf, sizeof buf, "attn %s: dmem_v (+=)", name);
        fd_check(buf, attn_objective, &c, c.mv, g, nm, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
        free(g);
    }
    if (with_t5) {
        float *g = minus(dt5, dt50, nt5);
        snprintf(buf, sizeof buf, "attn %s: dt5 (+=)", name);
        fd_check(buf, attn_objective, &c, c.t5, g, nt5, NULL, 0, OP_EPS, OP_ATOL, OP_RTOL, NULL);
        free(g);
    }
    for (int w = 0; w < 3; w++)
        free(th[w]), free(dth0[w]), free(dth[w]);
    free(dq), free(dk), free(dv), free(dmk0), free(dmv0), free(dt50), free(dmk), free(dmv), free(dt5);
    free(c.q), free(c.k), free(c.v), free(c.r), free(c.mk), free(c.mv), free(c.t5), free(c.out), free(c.scratch);
}

static void test_attention(void) {
    /* D = 5 keeps every size odd; scale = D^-0.5 */
    const float sc = 1.0f / sqrtf(5.0f);
    /* causal with S > T (XL memories: queries right-aligned) */
    attn_case("causal S>T", (struct xtc_attn_params){.B = 2, .T = 3, .S = 7, .H = 3, .G = 3, .D = 5, .scale = sc,
                                                      .causal = true},
              false);
    /* key padding mask; batch 1 has every key hidden (its rows are zeroed: no gradient at all) */
    static const uint8_t km[2 * 6] = {1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    attn_case("key mask + all-masked batch", (struct xtc_attn_params){.B = 2, .T = 4, .S = 6, .H = 2, .G = 2, .D = 5,
                                                                       .scale = sc, .key_mask = km},
              false);
    /* causal + key mask hiding key 0: query 0 sees no key at all, so its logits are all the
     * constant -FLT_MAX and it averages every value (torch's behaviour); S == T */
    static const uint8_t km0[2 * 5] = {0, 1, 1, 0, 1, 0, 0, 1, 1, 1};
    attn_case("causal, query with no visible key", (struct xtc_attn_params){.B = 2, .T = 5, .S = 5, .H = 2, .G = 2,
                                                                             .D = 5, .scale = sc, .causal = true,
                                                                             .key_mask = km0},
              false);
    /* query mask: masked rows produce zeros */
    static const uint8_t qm[2 * 4] = {1, 0, 1, 1, 0, 1, 1, 0};
    attn_case("query mask", (struct xtc_attn_params){.B = 2, .T = 4, .S = 4, .H = 2, .G = 2, .D = 5, .scale = sc,
                                                      .causal = true, .query_mask = qm},
              false);
    /* memory key/values with a key mask; batch 1 hides every sequence key (it then attends
     * to the memory key/values only, never zeroed) */
    attn_case("mem kv + key mask", (struct xtc_attn_params){.B = 2, .T = 4, .S = 6, .K = 2, .H = 2, .G = 2, .D = 5,
                                                             .scale = sc, .key_mask = km},
              false);
    /* logit soft clamp (attn_softclamp_logits) tight enough to bend every logit, memory key/values
     * included, with a key mask and causal masking */
    attn_case("softclamp 0.7 + mem kv + key mask", (struct xtc_attn_params){.B = 2, .T = 4, .S = 6, .K = 2, .H = 2,
                                                                             .G = 2, .D = 5, .scale = 1.0f,
                                                                             .softclamp = 0.7f, .causal = true,
                                                                             .key_mask = km},
              false);
    /* sparse top-k: dropped logits are constants (no gradient), rows with fewer visible keys keep all */
    attn_case("sparse top-3 + mem kv + key mask", (struct xtc_attn_params){.B = 2, .T = 4, .S = 6, .K = 1, .H = 2,
                                                                            .G = 2, .D = 5, .scale = 1.0f,
                                                                            .sparse_topk = 3, .causal = true,
                                                                            .key_mask = km},
              false);
    /* GQA: 4 query heads over 2 kv heads (head h reads h % G), with memory key/values */
    attn_case("GQA H=4 G=2 + mem kv", (struct xtc_attn_params){.B = 2, .T = 3, .S = 5, .K = 3, .H = 4, .G = 2,
                                                                .D = 5, .scale = sc, .causal = true},
              false);
    /* ALiBi, causal, S > T; head 2 unbiased (slope 0) */
    static const float slopes[3] = {0.5f, 0.25f, 0.0f};
    attn_case("ALiBi causal S>T", (struct xtc_attn_params){.B = 2, .T = 3, .S = 6, .H = 3, .G = 3, .D = 5,
                                                            .scale = sc, .causal = true,
                                                            .bias = {.scheme = &xtc_alibi_scheme, .data = slopes}},
              false);
    /* ALiBi with explicit per-batch positions (S == T) */
    static const int64_t pos[2 * 4] = {0, 2, 3, 7, 1, 4, 5, 6};
    attn_case("ALiBi explicit pos + GQA", (struct xtc_attn_params){.B = 2, .T = 4, .S = 4, .H = 3, .G = 1, .D = 5,
                                                                    .scale = sc, .causal = true,
                                                                    .bias = {.scheme = &xtc_alibi_scheme, .data = slopes,
                                                                             .pos = pos, .pos_batched = true}},
              false);
    /* T5 table, bidirectional, S > T, with a key mask and memory key/values */
    static const uint8_t km5[2 * 5] = {1, 1, 0, 1, 1, 1, 1, 1, 1, 0};
    attn_case("T5 S>T + key mask + mem kv", (struct xtc_attn_params){.B = 2, .T = 3, .S = 5, .K = 1, .H = 2, .G = 2,
                                                                      .D = 5, .scale = sc, .key_mask = km5},
              true);
    /* T5 table, causal */
    attn_case("T5 causal", (struct xtc_attn_params){.B = 1, .T = 4, .S = 4, .H = 2, .G = 2, .D = 5, .scale = sc,
                                                     .causal = true},
              true);
    /* talking heads (attn/talking_heads.c): every mixing, with GQA, memory key/values, a soft
     * clamp, causal masking with a query that sees no key (its probabilities are uniform, and
     * pre_scale_post mixes the logits of its masked keys), and a T5 table under the pre mixing */
    static const float flag = 1.0f; /* any non-NULL th_* asks attn_case for a random mixing */
    attn_case("talking heads all + GQA + mem kv + softclamp + key mask",
              (struct xtc_attn_params){.B = 2, .T = 5, .S = 5, .K = 1, .H = 3, .G = 1, .D = 5, .scale = sc,
                                       .softclamp = 2.0f, .causal = true, .key_mask = km0, .talking_heads = true,
                                       .th_pre = &flag, .th_post = &flag, .th_pre_scale = &flag},
              false);
    attn_case("talking heads pre_scale_post, query with no visible key",
              (struct xtc_attn_params){.B = 2, .T = 5, .S = 5, .H = 2, .G = 2, .D = 5, .scale = sc, .causal = true,
                                       .key_mask = km0, .talking_heads = true, .th_pre_scale = &flag},
              false);
    attn_case("talking heads pre + post, T5 S>T + key mask + sparse top-3",
              (struct xtc_attn_params){.B = 2, .T = 3, .S = 5, .H = 2, .G = 2, .D = 5, .scale = sc, .sparse_topk = 3,
                                       .key_mask = km5, .talking_heads = true, .th_pre = &flag, .th_post = &flag},
              true);
}

// --------------------------------------------------------------- models

/* Inputs of one golden model. Lengths are ours (odd where the model allows); the
 * configuration and weights are the golden case's. */
struct model_spec {
    const char *name;
    int64_t B, T;
    bool mask;        /* padding mask on the sequence (batch 1 loses its last 2 positions) */
    int64_t ctx_len;  /* context length for cross-attention, 0 without */
    bool ctx_mask;
    int ctx_pos;      /* 0 none, 1 shared (context_len), 2 per batch (B, context_len) */
    int64_t mem_len;  /* XL mems, one (B, mem_len, dim) tensor per self-attention layer */
    bool mem_masks;   /* per-layer mem masks hiding some memory slots */
    int pos;          /* explicit positions: 0 none, 2 per batch with gaps */
    int64_t src_len;  /* XTransformer source length, 0 otherwise */
    bool dec_only;    /* XTransformer's decoder alone: src NULL, context (ctx_len) given, logits out */
};

static const struct model_spec MODELS[] = {
    {.name = "decoder_abs_default", .B = 2, .T = 7},
    {.name = "rope_xpos_xl_mems", .B = 2, .T = 5, .mem_len = 6},
    {.name = "alibi_mem_kv", .B = 2, .T = 7},
    {.name = "alibi_xl_mems_mem_masks", .B = 2, .T = 5, .mem_len = 4, .mem_masks = true},
    {.name = "t5_rel_pos_bias_encoder", .B = 2, .T = 9, .mask = true},
    {.name = "cross_decoder_rope_context_pos", .B = 2, .T = 5, .ctx_len = 7, .ctx_mask = true, .ctx_pos = 2},
    {.name = "encoder_bare_rope_mask", .B = 2, .T = 7, .mask = true},
    {.name = "memory_tokens", .B = 2, .T = 7, .mask = true},
    {.name = "scaled_sinu_pos_emb", .B = 2, .T = 7},
    {.name = "qk_norm", .B = 2, .T = 7},
    {.name = "ff_glu", .B = 2, .T = 7},
    {.name = "rmsnorm_single_head", .B = 2, .T = 7},
    {.name = "tie_embedding", .B = 2, .T = 7},
    {.name = "rope_explicit_pos", .B = 2, .T = 7, .pos = 2},
    {.name = "alibi_fewer_heads", .B = 2, .T = 7},
    {.name = "xtransformer_small", .B = 2, .T = 7, .src_len = 9, .mask = true},
    {.name = "xtransformer_small", .B = 2, .T = 6, .ctx_len = 9, .ctx_mask = true, .dec_only = true},
    {.name = "crossattender_rope_context_pos", .B = 2, .T = 5, .ctx_len = 7, .ctx_pos = 1},
};

/* Models of tests/golden_extra (the feed-forward activations and block structures). */
static const struct model_spec MODELS_EXTRA[] = {
    {.name = "llama_swiglu_rmsnorm_rope_gqa", .B = 2, .T = 7, .mask = true},
    {.name = "swiglu_softclamp_rope_xl_mems", .B = 2, .T = 5, .mem_len = 3},
    {.name = "relu_squared_glu_no_bias_alibi", .B = 2, .T = 7},
    {.name = "post_act_ln_relu_squared_t5_cross", .B = 2, .T = 6, .ctx_len = 5, .ctx_mask = true},
    {.name = "post_norm_rmsnorm_rope_xl_gen", .B = 2, .T = 5, .mem_len = 4},
    {.name = "post_norm_encoder_alibi_mask", .B = 2, .T = 7, .mask = true},
    {.name = "sandwich_norm_rope_xl_mems", .B = 2, .T = 5, .mem_len = 3},
    {.name = "scalenorm_post_norm_alibi_xl_mems", .B = 2, .T = 5, .mem_len = 4, .mem_masks = true},
    {.name = "simple_rmsnorm_mem_kv_alibi_gen", .B = 2, .T = 7},
    {.name = "pre_norm_no_final_norm_rope", .B = 2, .T = 7},
    {.name = "crossattender_post_norm_rope_context_pos", .B = 2, .T = 5, .ctx_len = 6, .ctx_pos = 1},
    {.name = "xtransformer_post_norm_sandwich_swiglu", .B = 2, .T = 6, .src_len = 7, .mask = true},
};

struct model_ctx {
    xtc_model_t m;
    struct xtc_inputs in;
    const float *r;
    size_t n_out;
    bool loss;
};

static double model_objective(void *ctx) {
    struct model_ctx *c = ctx;
    struct xtc_outputs out;
    struct xtc_error err;
    xtc_status rc = xtc_model_forward(c->m, &c->in, &out, &err);
    if (rc != XTC_OK) {
        fprintf(stderr, "forward failed during finite differences: %s\n", err.msg);
        return NAN;
    }
    return c->loss ? (double)out.loss * c->r[0] : dot_r(out.logits, c->r, c->n_out);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = xmalloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = 0;
    return s;
}

/* Loads tests/golden/<name>: the "model" object of case.json and model.safetensors.
 * Returns 1 when the case is missing (skip), -1 on a load error, 0 on success. */
static int load_golden(xtc_model_t *m, const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s/case.json", dir, name);
    char *text = read_text(path);
    if (!text)
        return 1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *model = root ? cJSON_GetObjectItemCaseSensitive(root, "model") : NULL;
    char *json = model ? cJSON_PrintUnformatted(model) : NULL;
    cJSON_Delete(root);
    CHECK(json != NULL, "%s: case.json has no model object", name);
    if (!json)
        return -1;
    snprintf(path, sizeof path, "%s%s/model.safetensors", dir, name);
    struct xtc_error err = {0};
    xtc_status rc = xtc_model_load(m, json, strlen(json), path, &err);
    free(json);
    CHECK(rc == XTC_OK, "%s: xtc_model_load: %s", name, err.msg);
    return rc == XTC_OK ? 0 : -1;
}

/* n_pick element indices of a gradient of n: half uniform, half among the elements whose
 * analytic gradient is at least a tenth of the largest (so a sample is not all zeros). */
static size_t pick(size_t *idx, size_t n_pick, const float *grad, size_t n) {
    if (n_pick >= n) {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        return n;
    }
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = fabs(grad[i]) > mx ? fabs(grad[i]) : mx;
    size_t k = 0;
    for (; k < (n_pick + 1) / 2; k++)
        idx[k] = (size_t)rng_int((int64_t)n);
    for (int tries = 0; k < n_pick && tries < 1000; tries++) {
        size_t i = (size_t)rng_int((int64_t)n);
        if (fabs(grad[i]) >= 0.1 * mx)
            idx[k++] = i;
    }
    return k;
}

/* Model-level tolerance. Forward and backward run in float through 2-4 blocks; S sums
 * ~10^3 logits of size ~1, so its float noise is ~1e-5, up to ~1e-3 after dividing by
 * 2 eps = 2e-2; the truncation term is O(eps^2) (eps 1e-2 on weights of size ~0.1..1).
 * Gradients here are up to ~20; measured max |err| 3e-3 with the default data and err/tol
 * <= 0.34 over 40 seeds (XTC_GRAD_SEED=1..40). A wrong or
 * missing gradient path is off by O(|grad|) and fails the 3e-2 relative part.
 * XTransformer: S = loss * r0 with the loss returned as float (~4, ulp 4.8e-7), so its
 * rounding alone gives FD noise <= 2 * 2.4e-7 / 2e-2 = 2.4e-5; its gradients are <= ~0.05,
 * hence the smaller absolute part MODEL_ATOL_LOSS = 1e-4 (measured max |err| 2.3e-5 over 40 seeds). */
#define MODEL_EPS 1e-2
#define MODEL_ATOL 1e-3
#define MODEL_ATOL_LOSS 1e-4
#define MODEL_RTOL 3e-2
#define PARAM_SAMPLES 20 /* parameter elements per model, spread over the tensors */
#define INPUT_SAMPLES 8  /* elements per float input tensor */

static void model_case(const char *dir, const struct model_spec *s) {
    xtc_model_t m = NULL;
    int lr = load_golden(&m, dir, s->name);
    if (lr == 1) {
        printf("model %s: skipped (no golden case in %s)\n", s->name, dir);
        return;
    }
    if (lr < 0)
        return;
    char label[96];
    snprintf(label, sizeof label, "%s%s", s->name, s->dec_only ? " (decoder alone)" : "");
    const struct xtc_config *cfg = xtc_model_config(m);
    /* XTransformer with src: the full model, whose first output is the loss; without src
     * (dec_only) its decoder alone, whose first output is the logits */
    const bool xt = cfg->model_class == XTC_MODEL_XTRANSFORMER && !s->dec_only;
    const bool wrapped = cfg->net.has_wrapper;
    const int64_t B = s->B, T = s->T, C = cfg->net.layers.dim, Cc = cfg->net.layers.dim_context;
    struct xtc_inputs in = {.batch = B, .len = T, .save_for_backward = true};

    int64_t *tokens = NULL, *src = NULL, *pos = NULL, *cpos = NULL;
    uint8_t *mask = NULL, *cmask = NULL;
    float *x = NULL, *context = NULL, *mems[4] = {0};
    uint8_t *mem_masks[4] = {0};
    if (wrapped || cfg->model_class == XTC_MODEL_XTRANSFORMER) {
        tokens = xmalloc(sizeof(int64_t) * (size_t)(B * T));
        for (int64_t i = 0; i < B * T; i++)
            tokens[i] = rng_int(cfg->net.wrap.num_tokens);
        in.tokens = tokens;
    } else {
        x = rand_floats((size_t)(B * T * C), 1.0);
        in.x = x;
    }
    if (s->mask) {
        int64_t L = xt ? s->src_len : T;
        mask = xmalloc((size_t)(B * L));
        for (int64_t i = 0; i < B * L; i++)
            mask[i] = !(i / L == 1 && i % L >= L - 2);
        if (xt)
            in.src_mask = mask;
        else
            in.mask = mask;
    }
    if (xt) {
        src = xmalloc(sizeof(int64_t) * (size_t)(B * s->src_len));
        for (int64_t i = 0; i < B * s->src_len; i++)
            src[i] = rng_int(cfg->enc.wrap.num_tokens);
        in.src = src, in.src_len = s->src_len;
    }
    if (s->ctx_len) {
        const int64_t L = s->ctx_len;
        context = rand_floats((size_t)(B * L * Cc), 1.0);
        in.context = context, in.context_len = L;
        if (s->ctx_mask) {
            cmask = xmalloc((size_t)(B * L));
            for (int64_t i = 0; i < B * L; i++)
                cmask[i] = !((i / L == 0 && i % L == 2) || (i / L == 1 && i % L >= L - 2));
            in.context_mask = cmask;
        }
        if (s->ctx_pos) {
            int64_t n = s->ctx_pos == 2 ? B * L : L;
            cpos = xmalloc(sizeof(int64_t) * (size_t)n);
            for (int64_t i = 0; i < n; i++)
                cpos[i] = 1 + 2 * (i % L) + 3 * (i / L);
            in.context_pos = cpos, in.context_pos_batched = s->ctx_pos == 2;
        }
    }
    int n_mems = 0;
    if (s->mem_len) {
        n_mems = cfg->net.layers.depth;
        for (int l = 0; l < n_mems && l < 4; l++)
            mems[l] = rand_floats((size_t)(B * s->mem_len * C), 1.0);
        in.mems = (const float *const *)mems, in.n_mems = n_mems, in.mem_len = s->mem_len;
        if (s->mem_masks) {
            for (int l = 0; l < n_mems && l < 4; l++) { /* layer l hides slot l of batch 0, slots 0..1 of batch 1 */
                mem_masks[l] = xmalloc((size_t)(B * s->mem_len));
                for (int64_t i = 0; i < B * s->mem_len; i++)
                    mem_masks[l][i] = !((i / s->mem_len == 0 && i % s->mem_len == l) ||
                                        (i / s->mem_len == 1 && i % s->mem_len < 2));
            }
            in.mem_masks = (const uint8_t *const *)mem_masks;
        }
    }
    if (s->pos) {
        pos = xmalloc(sizeof(int64_t) * (size_t)(B * T));
        for (int64_t i = 0; i < B * T; i++) /* batch 0: 0,1,2,...; batch 1: 0,2,4,... plus a gap */
            pos[i] = (i % T) * (1 + i / T) + (i % T >= 3 ? 3 : 0);
        in.pos = pos, in.pos_len = T, in.pos_batched = true;
    }

    struct xtc_error err = {0};
    struct xtc_outputs out;
    xtc_status rc = xtc_model_forward(m, &in, &out, &err);
    CHECK(rc == XTC_OK, "%s: forward: %s", label, err.msg);
    if (rc != XTC_OK)
        goto done;
    const size_t n_out = xt ? 1 : (size_t)(B * T * out.out_dim);
    float *r = rand_floats(n_out, 1.0);
    struct model_ctx c = {.m = m, .in = in, .r = r, .n_out = n_out, .loss = xt};
    rc = xtc_model_zero_grad(m, &err);
    if (rc == XTC_OK)
        rc = xtc_model_backward(m, r, &err);
    CHECK(rc == XTC_OK, "%s: backward: %s", label, err.msg);
    if (rc != XTC_OK) {
        free(r);
        goto done;
    }
    /* copy the input gradients: the views die with the next forward */
    struct xtc_input_grads ig;
    xtc_model_input_grads(m, &ig);
    float *gx = x && ig.x ? copy_floats(ig.x, (size_t)(B * T * C)) : NULL;
    float *gctx = context && ig.context ? copy_floats(ig.context, (size_t)(B * s->ctx_len * Cc)) : NULL;
    float *gmem[4] = {0};
    for (int l = 0; l < n_mems && l < ig.n_mems && l < 4; l++)
        gmem[l] = copy_floats(ig.mems[l], (size_t)(B * s->mem_len * C));
    CHECK(!x || gx, "%s: no input gradient for x", label);
    CHECK(!context || gctx, "%s: no input gradient for context", label);
    CHECK(ig.n_mems == n_mems, "%s: %d mem gradients for %d mems", label, ig.n_mems, n_mems);

    struct fd_worst worst = {0};
    const double atol = xt ? MODEL_ATOL_LOSS : MODEL_ATOL;
    char name[160];
    /* parameters: one uniformly chosen tensor per sample, then the element within it */
    int np = xtc_model_param_count(m), n_train = 0;
    int *train = xmalloc(sizeof(int) * (size_t)np);
    for (int i = 0; i < np; i++)
        if (!xtc_model_param(m, i).is_buffer)
            train[n_train++] = i;
    for (int i = n_train - 1; i > 0; i--) { /* shuffle, then every tensor once first if few enough */
        int j = (int)rng_int(i + 1), t = train[i];
        train[i] = train[j], train[j] = t;
    }
    int *hits = xmalloc(sizeof(int) * (size_t)np);
    for (int t = 0; t < PARAM_SAMPLES && n_train; t++)
        hits[train[t < n_train ? t : rng_int(n_train)]]++;
    for (int i = 0; i < np; i++) {
        if (!hits[i])
            continue;
        struct xtc_param_info pi = xtc_model_param(m, i);
        size_t n = 1;
        for (int d = 0; d < pi.ndim; d++)
            n *= (size_t)pi.shape[d];
        CHECK(pi.grad != NULL, "%s: parameter %s has no gradient", label, pi.name);
        if (!pi.grad)
            continue;
        float *g = copy_floats(pi.grad, n);
        size_t idx[64];
        size_t k = pick(idx, (size_t)(2 * hits[i]), g, n);
        snprintf(name, sizeof name, "%s: %s", label, pi.name);
        fd_check(name, model_objective, &c, xtc_model_param_data(m, i), g, n, idx, k, MODEL_EPS, atol, MODEL_RTOL,
                 &worst);
        free(g);
    }
    free(train), free(hits);
    /* float inputs */
    size_t idx[INPUT_SAMPLES];
    if (gx) {
        size_t n = (size_t)(B * T * C), k = pick(idx, INPUT_SAMPLES, gx, n);
        snprintf(name, sizeof name, "%s: input x", label);
        fd_check(name, model_objective, &c, x, gx, n, idx, k, MODEL_EPS, atol, MODEL_RTOL, &worst);
    }
    if (gctx) {
        size_t n = (size_t)(B * s->ctx_len * Cc), k = pick(idx, INPUT_SAMPLES, gctx, n);
        snprintf(name, sizeof name, "%s: input context", label);
        fd_check(name, model_objective, &c, context, gctx, n, idx, k, MODEL_EPS, atol, MODEL_RTOL, &worst);
    }
    for (int l = 0; l < n_mems && l < 4; l++) {
        if (!gmem[l])
            continue;
        size_t n = (size_t)(B * s->mem_len * C), k = pick(idx, INPUT_SAMPLES, gmem[l], n);
        snprintf(name, sizeof name, "%s: input mems.%d", label, l);
        fd_check(name, model_objective, &c, mems[l], gmem[l], n, idx, k, MODEL_EPS, atol, MODEL_RTOL, &worst);
    }
    printf("model %-32s %3zu elements  max|fd| %.2e  max|err| %.2e  max err/tol %.3f\n", label, worst.n,
           worst.max_fd, worst.max_abs, worst.max_ratio);
    free(gx), free(gctx);
    for (int l = 0; l < 4; l++)
        free(gmem[l]);
    free(r);
done:
    xtc_model_free(m);
    free(tokens), free(src), free(pos), free(cpos), free(mask), free(cmask), free(x), free(context);
    for (int l = 0; l < 4; l++)
        free(mems[l]), free(mem_masks[l]);
}

/* Parameter gradients accumulate (+=) across backward calls until xtc_model_zero_grad. */
static void model_accumulation(const char *dir) {
    xtc_model_t m = NULL;
    if (load_golden(&m, dir, "decoder_abs_default") != 0)
        return;
    const struct xtc_config *cfg = xtc_model_config(m);
    const int64_t B = 2, T = 5;
    int64_t tokens[10];
    for (int i = 0; i < 10; i++)
        tokens[i] = rng_int(cfg->net.wrap.num_tokens);
    struct xtc_inputs in = {.batch = B, .len = T, .tokens = tokens, .save_for_backward = true};
    struct xtc_outputs out;
    struct xtc_error err = {0};
    float *r = NULL;
    xtc_status rc = xtc_model_forward(m, &in, &out, &err);
    if (rc == XTC_OK) {
        r = rand_floats((size_t)(B * T * out.out_dim), 1.0);
        rc = xtc_model_zero_grad(m, &err);
    }
    if (rc == XTC_OK)
        rc = xtc_model_backward(m, r, &err);
    CHECK(rc == XTC_OK, "accumulation: %s", err.msg);
    if (rc == XTC_OK) {
        int np = xtc_model_param_count(m);
        float **once = xmalloc(sizeof(float *) * (size_t)np);
        for (int i = 0; i < np; i++) {
            struct xtc_param_info pi = xtc_model_param(m, i);
            size_t n = 1;
            for (int d = 0; d < pi.ndim; d++)
                n *= (size_t)pi.shape[d];
            once[i] = pi.grad ? copy_floats(pi.grad, n) : NULL;
            if (once[i])
                for (size_t j = 0; j < n; j++)
                    once[i][j] *= 2.0f;
        }
        rc = xtc_model_forward(m, &in, &out, &err);
        if (rc == XTC_OK)
            rc = xtc_model_backward(m, r, &err);
        CHECK(rc == XTC_OK, "accumulation, second pass: %s", err.msg);
        int bad = 0;
        for (int i = 0; i < np && rc == XTC_OK; i++) {
            struct xtc_param_info pi = xtc_model_param(m, i);
            if (!once[i])
                continue;
            size_t n = 1;
            for (int d = 0; d < pi.ndim; d++)
                n *= (size_t)pi.shape[d];
            char name[160];
            snprintf(name, sizeof name, "accumulated grad %s", pi.name);
            /* the second pass adds its per-row terms (size <= ~1) onto the first pass's totals, so
             * the result differs from 2g by float-sum rounding, ~1e-6 absolute (measured 1e-6);
             * an overwritten (=) gradient would be off by |g| */
            bad += xtc_check_close_f(name, pi.grad, once[i], n, 2e-5, 1e-5);
        }
        printf("  %-44s %s\n", "parameter grads accumulate over 2 backwards", bad ? "FAIL" : "ok");
        for (int i = 0; i < np; i++)
            free(once[i]);
        free(once);
    }
    free(r);
    xtc_model_free(m);
}

/* XTransformer: the decoder alone (src NULL, context set; the decoding steps of XTransformer.generate)
 * fed with the encoder's output and the loss's d logits gives the same decoder gradients as the
 * full model's loss backward, and leaves the encoder's at zero (it did not run). Independent of
 * the golden cases: a seeded model from an inline configuration. */
static void xtransformer_decoder_alone(void) {
    static const char cfg[] =
        "{\"class\": \"XTransformer\", \"kwargs\": {\"dim\": 32, \"enc_num_tokens\": 40, \"enc_depth\": 1, "
        "\"enc_heads\": 2, \"enc_max_seq_len\": 16, \"enc_attn_dim_head\": 16, \"dec_num_tokens\": 48, "
        "\"dec_depth\": 2, \"dec_heads\": 2, \"dec_max_seq_len\": 16, \"dec_attn_dim_head\": 16, "
        "\"dec_rotary_pos_emb\": true}}";
    xtc_model_t m = NULL;
    struct xtc_error err = {0};
    xtc_status rc = xtc_model_create(&m, cfg, strlen(cfg), 11, &err);
    CHECK(rc == XTC_OK, "XTransformer init: %s", err.msg);
    if (rc != XTC_OK)
        return;
    const struct xtc_config *c = xtc_model_config(m);
    const int64_t B = 2, T = 6, S = 5, V = c->net.wrap.num_tokens, C = c->enc.layers.dim;
    int64_t tgt[12], src[10], targets[12];
    uint8_t src_mask[10];
    for (int64_t i = 0; i < B * T; i++)
        tgt[i] = rng_int(V);
    for (int64_t i = 0; i < B * S; i++)
        src[i] = rng_int(c->enc.wrap.num_tokens), src_mask[i] = !(i == B * S - 1);
    /* the full model: d loss = 1 */
    struct xtc_inputs full = {.batch = B, .len = T, .tokens = tgt, .src = src, .src_len = S, .src_mask = src_mask,
                              .save_for_backward = true};
    struct xtc_outputs out;
    const float one = 1.0f;
    rc = xtc_model_forward(m, &full, &out, &err);
    float full_loss = out.loss;
    if (rc == XTC_OK)
        rc = xtc_model_zero_grad(m, &err);
    if (rc == XTC_OK)
        rc = xtc_model_backward(m, &one, &err);
    CHECK(rc == XTC_OK, "XTransformer full backward: %s", err.msg);
    int np = xtc_model_param_count(m);
    float **want = xmalloc(sizeof(float *) * (size_t)np);
    size_t *numel = xmalloc(sizeof(size_t) * (size_t)np);
    for (int i = 0; i < np && rc == XTC_OK; i++) {
        struct xtc_param_info pi = xtc_model_param(m, i);
        numel[i] = 1;
        for (int d = 0; d < pi.ndim; d++)
            numel[i] *= (size_t)pi.shape[d];
        want[i] = pi.grad ? copy_floats(pi.grad, numel[i]) : NULL;
    }
    /* the encoder alone, then the decoder alone on its output */
    const float *enc = NULL;
    float *context = NULL, *dlogits = xmalloc(sizeof(float) * (size_t)(B * T * V));
    if (rc == XTC_OK)
        rc = xtc_model_encode(m, src, src_mask, B, S, &enc, &err);
    CHECK(rc == XTC_OK, "XTransformer encode: %s", err.msg);
    if (rc == XTC_OK) {
        context = copy_floats(enc, (size_t)(B * S * C));
        struct xtc_inputs dec = {.batch = B, .len = T, .tokens = tgt, .context = context, .context_len = S,
                                 .context_mask = src_mask, .save_for_backward = true};
        rc = xtc_model_forward(m, &dec, &out, &err);
        CHECK(rc == XTC_OK, "XTransformer decoder alone, forward: %s", err.msg);
        /* loss = CE(logits[:, :-1], tgt[:, 1:]): the last position of each row is not scored */
        for (int64_t i = 0; i < B * T; i++)
            targets[i] = i % T + 1 < T ? tgt[i + 1] : c->ignore_index;
        float loss = 0;
        int64_t kept = 0;
        if (rc == XTC_OK)
            rc = xtc_cross_entropy(out.logits, targets, B * T, V, c->ignore_index, 1.0f, &loss, dlogits, &kept, &err);
        /* the same float computation in both paths up to the order of the loss sum */
        CHECK(rc == XTC_OK && fabsf(loss - full_loss) <= 1e-5f * fabsf(full_loss), "decoder-alone loss %g, full %g",
              loss, full_loss);
        if (rc == XTC_OK)
            rc = xtc_model_zero_grad(m, &err);
        if (rc == XTC_OK)
            rc = xtc_model_backward(m, dlogits, &err);
        CHECK(rc == XTC_OK, "XTransformer decoder alone, backward: %s", err.msg);
    }
    int bad = 0, n_dec = 0;
    for (int i = 0; i < np && rc == XTC_OK; i++) {
        struct xtc_param_info pi = xtc_model_param(m, i);
        if (pi.is_buffer || !want[i])
            continue;
        if (strncmp(pi.name, "encoder.", 8) == 0) {
            for (size_t j = 0; j < numel[i]; j++)
                bad += pi.grad[j] != 0.0f;
            continue;
        }
        n_dec++;
        char name[200];
        snprintf(name, sizeof name, "decoder alone vs full model: %s", pi.name);
        /* identical kernels on identical inputs (measured: bitwise equal); the margin only allows
         * d logits to round differently (full: dout / kept inside the model, here xtc_cross_entropy) */
        bad += xtc_check_close_f(name, pi.grad, want[i], numel[i], 1e-6, 1e-5);
    }
    struct xtc_input_grads ig;
    xtc_model_input_grads(m, &ig);
    CHECK(rc != XTC_OK || ig.context != NULL, "decoder alone: no context gradient");
    CHECK(rc != XTC_OK || (n_dec > 0 && bad == 0), "decoder alone: %d mismatches over %d decoder tensors", bad, n_dec);
    printf("  %-44s %s\n", "XTransformer decoder alone = full model", rc == XTC_OK && !bad ? "ok" : "FAIL");
    for (int i = 0; i < np; i++)
        free(want[i]);
    free(want), free(numel), free(context), free(dlogits);
    xtc_model_free(m);
}

// --------------------------------------------------------------- main

int main(void) {
    const char *seed = getenv("XTC_GRAD_SEED"); /* another fixed draw, to probe the tolerances */
    if (seed && *seed) { /* splitmix64 of the seed; xorshift needs a non-zero state */
        uint64_t z = strtoull(seed, NULL, 10) + 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        g_rng = (z ^ (z >> 31)) | 1;
    }
    printf("ops (central differences, eps %g, |err| <= %g + %g |fd|):\n", OP_EPS, OP_ATOL, OP_RTOL);
    test_linear();
    test_norms();
    test_activations();
    test_embedding();
    test_crossentropy();
    test_rotary();
    test_attention();

    /* golden models: tests/golden/ next to this file's unit/ folder */
    char dir[1024];
    const char *f = __FILE__, *p = strstr(f, "unit/test_grad.c");
    FILE *probe = NULL;
    if (p) {
        snprintf(dir, sizeof dir, "%.*sgolden/", (int)(p - f), f);
        char path[1100];
        snprintf(path, sizeof path, "%sINDEX.md", dir);
        probe = fopen(path, "rb");
        if (!probe) {
            snprintf(path, sizeof path, "%sdecoder_abs_default/case.json", dir);
            probe = fopen(path, "rb");
        }
    }
    if (!probe) {
        printf("models: skipped (golden cases not found next to %s)\n", f);
    } else {
        fclose(probe);
        printf("models (central differences, eps %g, |err| <= %g + %g |fd|; XTransformer loss: %g + %g |fd|):\n",
               MODEL_EPS, MODEL_ATOL, MODEL_RTOL, MODEL_ATOL_LOSS, MODEL_RTOL);
        for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++)
            model_case(dir, &MODELS[i]);
        model_accumulation(dir);
        snprintf(dir, sizeof dir, "%.*sgolden_extra/", (int)(p - f), f);
        for (size_t i = 0; i < sizeof MODELS_EXTRA / sizeof MODELS_EXTRA[0]; i++)
            model_case(dir, &MODELS_EXTRA[i]);
    }
    xtransformer_decoder_alone();
    return xtc_check_report("test_grad");
}
