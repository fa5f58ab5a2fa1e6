/* Mixed-precision (bf16) products (backend/autocast.h, xtc_model_set_compute_dtype):
 *   - the cpu backend's linear products on every path this build and CPU have (sgemm on the
 *     rounded values; oneDNN on fp32 copies of them, which runs the native path's code on any
 *     CPU; oneDNN on bf16 where the CPU has bf16 products), with scratch small enough to
 *     split the rows into chunks, against double sums of the rounded operands, and the ref
 *     backend's products against the same sums; and that the rounding is really there;
 *   - a model's loss and gradients with bf16 products against fp32 (within bf16's precision),
 *     and the cpu backend's against the ref backend's and each path's against the others
 *     (the same rounding: far closer than to fp32);
 *   - training: the trainer's dtype option, bf16 losses close to fp32 ones, the dtype kept by
 *     checkpoints;
 *   - the rounded copy of the weights: made once per training step (micro-batches and XL
 *     segments share it), the same losses bit for bit as a copy made by every forward call,
 *     and still made by every forward call of the public API (a weight changed between two
 *     calls is seen). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/autocast.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/matmul_dnnl.h"
#include "backend/ref/ref.h"
#include "check.h"
#include "corpus_text.h"
#include "model/model.h"
#include "xtc/xtc.h"

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

static float *rand_floats(int64_t n, uint64_t seed) {
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        x[i] = frand(&seed);
    return x;
}

static double max_abs_diff(const float *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static const char *path_name(int p) {
    return p == XTC_AUTOCAST_EMULATED ? "emulated" : p == XTC_AUTOCAST_DNNL_F32 ? "oneDNN fp32" : "oneDNN bf16";
}

/* ------------------------------------------------------------------ products */

/* The paths this build and CPU can run. */
static int paths(int out[3]) {
    int n = 0;
    out[n++] = XTC_AUTOCAST_EMULATED;
    if (strcmp(xtc_dnnl_version(), "none") != 0)
        out[n++] = XTC_AUTOCAST_DNNL_F32;
    if (xtc_dnnl_bf16_native())
        out[n++] = XTC_AUTOCAST_DNNL_BF16;
    else
        printf("no bf16 products on this CPU or in this build (%s): the native path is not run here\n",
               xtc_dnnl_version());
    return n;
}

/* One linear layer's three products on `path` with `scratch` bytes of scratch. */
static void products_case(int path, int64_t N, int64_t Cin, int64_t Cout, size_t scratch, int with_bias) {
    uint64_t seed = (uint64_t)(N * 7919 + Cin * 31 + Cout);
    /* the weights sit inside a parameter block, after other parameters */
    const int64_t off = 5, nblock = off + Cout * Cin + 3;
    float *block = rand_floats(nblock, seed), *w = block + off;
    float *x = rand_floats(N * Cin, seed + 1), *g = rand_floats(N * Cout, seed + 2);
    float *bias = with_bias ? rand_floats(Cout, seed + 3) : NULL;
    float *wf = malloc(sizeof(float) * (size_t)nblock);
    uint16_t *wb = malloc(sizeof(uint16_t) * (size_t)nblock);
    for (int64_t i = 0; i < nblock; i++) {
        wf[i] = xtc_bf16_round(block[i]);
        wb[i] = xtc_f32_to_bf16(block[i]);
    }
    struct xtc_autocast ac = {.path = path, .base = block, .n = (size_t)nblock};
    if (path == XTC_AUTOCAST_DNNL_BF16)
        ac.w_bf16 = wb;
    else
        ac.w_f32 = wf;
    ac.scratch = malloc(scratch);
    ac.scratch_bytes = scratch;

    /* references: double sums of the rounded operands, and of the unrounded ones */
    double *y = malloc(sizeof(double) * (size_t)(N * Cout)), *y32 = malloc(sizeof(double) * (size_t)(N * Cout));
    double *dx = malloc(sizeof(double) * (size_t)(N * Cin)), *dw = malloc(sizeof(double) * (size_t)(Cout * Cin));
    double *db = malloc(sizeof(double) * (size_t)Cout);
    float *dw0 = rand_floats(Cout * Cin, seed + 4), *db0 = rand_floats(Cout, seed + 5),
          *dx0 = rand_floats(N * Cin, seed + 6);
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < Cout; o++) {
            double s = bias ? bias[o] : 0, s32 = s;
            for (int64_t k = 0; k < Cin; k++) {
                s += (double)xtc_bf16_round(w[o * Cin + k]) * xtc_bf16_round(x[n * Cin + k]);
                s32 += (double)w[o * Cin + k] * x[n * Cin + k];
            }
            y[n * Cout + o] = s, y32[n * Cout + o] = s32;
        }
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < Cin; k++) {
            double s = dx0[n * Cin + k]; /* accumulated onto */
            for (int64_t o = 0; o < Cout; o++)
                s += (double)xtc_bf16_round(g[n * Cout + o]) * xtc_bf16_round(w[o * Cin + k]);
            dx[n * Cin + k] = s;
        }
    for (int64_t o = 0; o < Cout; o++) {
        double sb = db0[o];
        for (int64_t n = 0; n < N; n++)
            sb += g[n * Cout + o];
        db[o] = sb;
        for (int64_t k = 0; k < Cin; k++) {
            double s = dw0[o * Cin + k];
            for (int64_t n = 0; n < N; n++)
                s += (double)xtc_bf16_round(g[n * Cout + o]) * xtc_bf16_round(x[n * Cin + k]);
            dw[o * Cin + k] = s;
        }
    }

    /* fp32 sums of exact products (a product of two bf16 values is exact in fp32): the sums'
     * rounding only, a few ulps of the magnitude of the terms times the length of the sum */
    const double tol_fwd = 4e-7 * (double)Cin + 1e-6, tol_dx = 4e-7 * (double)Cout + 1e-6,
                 tol_dw = 4e-7 * (double)N + 1e-6;
    float *got_y = malloc(sizeof(float) * (size_t)(N * Cout)), *got_dx = malloc(sizeof(float) * (size_t)(N * Cin));
    float *got_dw = malloc(sizeof(float) * (size_t)(Cout * Cin)), *got_db = malloc(sizeof(float) * (size_t)Cout);
    for (int backend = 0; backend < 2; backend++) { /* cpu, then ref */
        memcpy(got_dx, dx0, sizeof(float) * (size_t)(N * Cin));
        memcpy(got_dw, dw0, sizeof(float) * (size_t)(Cout * Cin));
        memcpy(got_db, db0, sizeof(float) * (size_t)Cout);
        struct xtc_autocast *prev = xtc_autocast_set(&ac);
        if (backend == 0) {
            xtc_cpu_linear_forward(got_y, x, w, bias, N, Cin, Cout, NULL);
            xtc_cpu_linear_backward(got_dx, got_dw, got_db, g, x, w, N, Cin, Cout, 1);
        } else {
            xtc_ref_linear_forward(got_y, x, w, bias, N, Cin, Cout, NULL);
            xtc_ref_linear_backward(got_dx, got_dw, got_db, g, x, w, N, Cin, Cout, 1);
        }
        xtc_autocast_set(prev);
        const char *who = backend == 0 ? path_name(path) : "ref";
        CHECK(ac.failed[0] == '\0', "%s: %s", who, ac.failed);
        double ey = max_abs_diff(got_y, y, N * Cout), ex = max_abs_diff(got_dx, dx, N * Cin),
               ew = max_abs_diff(got_dw, dw, Cout * Cin), eb = max_abs_diff(got_db, db, Cout);
        CHECK(ey <= tol_fwd && ex <= tol_dx && ew <= tol_dw && eb <= tol_dw,
              "%s N %lld Cin %lld Cout %lld scratch %zu: errors out %.3g dinp %.3g dw %.3g db %.3g", who, (long long)N,
              (long long)Cin, (long long)Cout, scratch, ey, ex, ew, eb);
        /* the rounding is really applied: bf16's 8-bit mantissa moves the outputs far more than
         * the fp32 sums' rounding */
        double e32 = max_abs_diff(got_y, y32, N * Cout);
        CHECK(Cin < 8 || e32 > 20 * tol_fwd, "%s: output within %.3g of the fp32 product: operands not rounded?", who,
              e32);
    }
    /* dinp overwritten (accumulate 0) */
    struct xtc_autocast *prev = xtc_autocast_set(&ac);
    xtc_cpu_linear_backward(got_dx, NULL, NULL, g, x, w, N, Cin, Cout, 0);
    xtc_autocast_set(prev);
    for (int64_t i = 0; i < N * Cin; i++)
        dx[i] -= dx0[i];
    CHECK(max_abs_diff(got_dx, dx, N * Cin) <= tol_dx, "%s: dinp without accumulation", path_name(path));

    free(block), free(x), free(g), free(bias), free(wf), free(wb), free(ac.scratch);
    free(y), free(y32), free(dx), free(dw), free(db), free(dw0), free(db0), free(dx0);
    free(got_y), free(got_dx), free(got_dw), free(got_db);
}

static void products(void) {
    int ps[3], np = paths(ps);
    for (int i = 0; i < np; i++) {
        const size_t big = (size_t)1 << 20, unit = ps[i] == XTC_AUTOCAST_DNNL_BF16 ? 2 : 4;
        products_case(ps[i], 37, 64, 48, big, 1);
        products_case(ps[i], 5, 19, 7, big, 0);
        products_case(ps[i], 2, 256, 3, big, 1); /* the matrix-vector regime's row count */
        /* scratch for 3 rows: the products run in row chunks (the last one shorter) */
        products_case(ps[i], 37, 64, 48, unit * 3 * (64 + 48), 1);
        products_case(ps[i], 11, 100, 30, unit * 4 * (100 + 30), 0);
    }
}

/* ------------------------------------------------------------------ a model's gradients */

static const char *model_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 64, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 64, \"depth\": 2, \"heads\": 4, "
    "\"rotary_pos_emb\": true, \"ff_glu\": true, \"attn_num_mem_kv\": 2}}}}";

enum { B = 2, T = 48, V = 256 };

/* Loss and parameter gradients of one batch (fresh gradients). */
static int loss_and_grads(xtc_model_t m, const int64_t *tokens, float *loss, float *grads, size_t n) {
    struct xtc_error err;
    static float dlogits[B * T * V];
    int64_t targets[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            targets[b * T + t] = t + 1 < T ? tokens[b * T + t + 1] : -100;
    struct xtc_inputs in = {.batch = B, .len = T, .tokens = tokens, .save_for_backward = true};
    struct xtc_outputs out;
    int64_t kept;
    if (xtc_model_zero_grad(m, &err) != XTC_OK || xtc_model_forward(m, &in, &out, &err) != XTC_OK ||
        xtc_cross_entropy(out.logits, targets, B * T, V, -100, 1.0f, loss, dlogits, &kept, &err) != XTC_OK ||
        xtc_model_backward(m, dlogits, &err) != XTC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    memcpy(grads, xtc_model_param_grad(m, 0), sizeof(float) * n);
    return 0;
}

/* ||a - b|| / ||b|| */
static double rel_l2(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return sqrt(d / (r > 0 ? r : 1));
}

static void model_gradients(void) {
    struct xtc_error err;
    xtc_model_t m;
    CHECK(xtc_model_create(&m, model_config, strlen(model_config), 3, &err) == XTC_OK, "model: %s", err.msg);
    const size_t n = (size_t)xtc_model_num_params(m);
    int64_t tokens[B * T];
    uint64_t s = 11;
    for (int i = 0; i < B * T; i++)
        tokens[i] = (int64_t)((frand(&s) + 1.0f) * 127.0f);
    float *g32 = malloc(sizeof(float) * n), *g16 = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    float l32, l16, l;
    CHECK(loss_and_grads(m, tokens, &l32, g32, n) == 0, "fp32 gradients");
    CHECK(xtc_model_set_compute_dtype(m, XTC_DTYPE_BF16, &err) == XTC_OK, "bf16: %s", err.msg);
    CHECK(xtc_model_set_compute_dtype(m, XTC_DTYPE_F16, &err) == XTC_ERR_ARG && strstr(err.msg, "F16"),
          "F16 products refused with a message: %s", err.msg);
    xtc_autocast_force_path(XTC_AUTOCAST_EMULATED);
    CHECK(loss_and_grads(m, tokens, &l16, g16, n) == 0, "bf16 gradients");
    /* bf16 keeps 8 bits of mantissa (relative rounding 2^-9) in every product's operands; over
     * two layers the gradients move by about a percent, the loss by far less */
    double e = rel_l2(g16, g32, n);
    printf("bf16 vs fp32: loss %.6f vs %.6f, gradients' relative L2 difference %.3g\n", l16, l32, e);
    CHECK(fabs(l16 - l32) <= 1e-2 * fabs(l32), "bf16 loss %.6f vs fp32 %.6f", l16, l32);
    CHECK(e < 3e-2, "bf16 gradients differ from fp32 by %.3g (relative L2)", e);
    CHECK(e > 1e-4, "bf16 gradients equal fp32 ones (%.3g): products not rounded?", e);

    /* The same rounding elsewhere: the ref backend, the other paths. Their products agree with
     * the emulated ones to the fp32 sums' rounding (products() checks that tightly), but an ulp
     * can move a value across a bf16 rounding boundary, and a flipped operand (2^-8 relative)
     * spreads through the layers: two bf16 implementations agree about as well as bf16 agrees
     * with fp32 (measured here: 0.03 to 0.3 of it), not to fp32 precision. */
    xtc_backend_cpu_set_reference(1);
    CHECK(loss_and_grads(m, tokens, &l, g, n) == 0, "ref bf16 gradients");
    xtc_backend_cpu_set_reference(0);
    double er = rel_l2(g, g16, n);
    printf("ref vs cpu: loss %.7f vs %.7f, gradients %.3g\n", l, l16, er);
    CHECK(er < e, "ref backend's bf16 gradients differ from the cpu backend's by %.3g (vs fp32: %.3g)", er, e);
    int ps[3], np = paths(ps);
    for (int i = 1; i < np; i++) {
        xtc_autocast_force_path(ps[i]);
        CHECK(loss_and_grads(m, tokens, &l, g, n) == 0, "%s gradients", path_name(ps[i]));
        double ep = rel_l2(g, g16, n);
        printf("%s vs emulated: loss %.7f vs %.7f, gradients %.3g\n", path_name(ps[i]), l, l16, ep);
        CHECK(ep < e, "%s gradients differ from the emulated ones by %.3g (vs fp32: %.3g)", path_name(ps[i]), ep, e);
    }
    xtc_autocast_force_path(-1);
    /* back to fp32: the very same gradients as before */
    CHECK(xtc_model_set_compute_dtype(m, XTC_DTYPE_F32, &err) == XTC_OK, "f32");
    CHECK(loss_and_grads(m, tokens, &l, g, n) == 0 && memcmp(g, g32, sizeof(float) * n) == 0 && l == l32,
          "fp32 again gives the fp32 gradients bit for bit");
    free(g32), free(g16), free(g);
    xtc_model_free(m);
}

/* ------------------------------------------------------------------ training */

static const char *train_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 32, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 64, \"depth\": 2, \"heads\": 4, "
    "\"rotary_pos_emb\": true}}}}";

static int train(enum xtc_dtype dtype, const uint8_t *corpus, size_t len, int steps, float *val, const char *save) {
    struct xtc_error err;
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.batch = 8, o.seq_len = 32, o.steps = steps, o.warmup = 10, o.lr = 3e-3f, o.min_lr = 3e-4f, o.dtype = dtype;
    xtc_model_t m;
    xtc_trainer_t t;
    if (xtc_model_create(&m, train_config, strlen(train_config), 1, &err) != XTC_OK ||
        xtc_trainer_create(&t, m, corpus, len, &o, &err) != XTC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct xtc_step_stats st;
    int rc = 0;
    for (int i = 0; i < steps && rc == 0; i++)
        rc = xtc_trainer_step(t, &st, &err) != XTC_OK;
    if (rc == 0)
        rc = xtc_trainer_evaluate(t, 8, val, &err) != XTC_OK;
    if (rc == 0 && save)
        rc = xtc_trainer_save(t, save, &err) != XTC_OK;
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    xtc_trainer_free(t);
    return rc;
}

static void training(void) {
    if (strcmp(xtc_backend_name(), "ref") == 0) { /* 300 steps on the scalar kernels: minutes */
        printf("training comparison: on the cpu backend only (products and gradients above cover ref)\n");
        return;
    }
    const size_t len = 200000;
    uint8_t *corpus = xtc_test_corpus(len, 5);
    char dir[] = "/tmp/xtc_bf16_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary directory");
    float v32, v16;
    CHECK(train(XTC_DTYPE_F32, corpus, len, 150, &v32, NULL) == 0, "fp32 training");
    CHECK(train(XTC_DTYPE_BF16, corpus, len, 150, &v16, dir) == 0, "bf16 training");
    printf("validation loss after 150 steps: fp32 %.4f, bf16 %.4f (%+.2f%%)\n", v32, v16, 100 * (v16 / v32 - 1));
    CHECK(v32 < 2.2f, "fp32 training learnt something (val %.4f; ln 256 = 5.55)", v32);
    CHECK(fabsf(v16 - v32) <= 0.02f * v32, "bf16 validation loss %.4f within 2%% of fp32's %.4f", v16, v32);
    /* the checkpoint keeps the dtype */
    struct xtc_error err;
    xtc_trainer_t t = NULL;
    CHECK(xtc_trainer_resume(&t, dir, NULL, corpus, len, NULL, &err) == XTC_OK, "resume: %s", err.msg);
    CHECK(t && xtc_trainer_options(t)->dtype == XTC_DTYPE_BF16, "resumed with bf16 products");
    xtc_trainer_free(t);
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.dtype = XTC_DTYPE_F16;
    xtc_model_t m;
    CHECK(xtc_model_create(&m, train_config, strlen(train_config), 1, &err) == XTC_OK, "model");
    t = NULL;
    CHECK(xtc_trainer_create(&t, m, corpus, len, &o, &err) == XTC_ERR_ARG && strstr(err.msg, "dtype"),
          "an F16 training dtype is refused with a message: %s", err.msg);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    free(corpus);
}

/* ------------------------------------------------------------------ the rounded copy */

static const char *xl_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, \"max_mem_len\": 16, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, \"heads\": 2, "
    "\"rotary_pos_emb\": true}}}}";

enum { STEPS = 3, ACCUM = 3, EVAL_BATCHES = 2 };

/* Losses of STEPS bf16 steps with accum ACCUM (xl segments per crop: 0 plain, else
 * Transformer-XL) and an evaluation, with the copies of the weights each made. */
static int copies_run(const uint8_t *corpus, size_t len, int xl, float losses[STEPS + 1], uint64_t copies[STEPS + 1]) {
    struct xtc_error err;
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.batch = 2, o.seq_len = 16, o.accum = ACCUM, o.steps = STEPS, o.warmup = 1, o.lr = 1e-2f, o.xl_segments = xl;
    o.dtype = XTC_DTYPE_BF16;
    xtc_model_t m;
    xtc_trainer_t t;
    if (xtc_model_create(&m, xl_config, strlen(xl_config), 2, &err) != XTC_OK ||
        xtc_trainer_create(&t, m, corpus, len, &o, &err) != XTC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct xtc_context *ctx = &xtc_trainer_model(t)->base;
    int rc = 0;
    for (int i = 0; i < STEPS && rc == 0; i++) {
        uint64_t before = ctx->ac_refreshes;
        struct xtc_step_stats st;
        rc = xtc_trainer_step(t, &st, &err) != XTC_OK;
        losses[i] = st.loss;
        copies[i] = ctx->ac_refreshes - before;
    }
    uint64_t before = ctx->ac_refreshes;
    if (rc == 0)
        rc = xtc_trainer_evaluate(t, EVAL_BATCHES, &losses[STEPS], &err) != XTC_OK;
    copies[STEPS] = ctx->ac_refreshes - before;
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    xtc_trainer_free(t);
    return rc;
}

static void copies_per_step(void) {
    const size_t len = 20000;
    uint8_t *corpus = xtc_test_corpus(len, 7);
    for (int xl = 0; xl <= 2; xl += 2) {
        const uint64_t segs = xl ? (uint64_t)xl : 1;
        float once[STEPS + 1], every[STEPS + 1];
        uint64_t n_once[STEPS + 1], n_every[STEPS + 1];
        CHECK(copies_run(corpus, len, xl, once, n_once) == 0, "xl %d: training, one copy per step", xl);
        xtc_context_autocast_force_refresh(true);
        CHECK(copies_run(corpus, len, xl, every, n_every) == 0, "xl %d: training, a copy per forward", xl);
        xtc_context_autocast_force_refresh(false);
        for (int i = 0; i < STEPS; i++) {
            CHECK(n_once[i] == 1, "xl %d, step %d: %llu copies of the weights (want 1 for %d micro-batches x %llu "
                  "segments)", xl, i + 1, (unsigned long long)n_once[i], ACCUM, (unsigned long long)segs);
            CHECK(n_every[i] == ACCUM * segs, "xl %d, step %d: %llu copies with the copy forced every forward (want "
                  "%llu)", xl, i + 1, (unsigned long long)n_every[i], (unsigned long long)(ACCUM * segs));
            /* the same copy, the same products: a copy left from before the last update differs */
            CHECK(memcmp(&once[i], &every[i], sizeof(float)) == 0,
                  "xl %d, step %d: loss %.9g with one copy per step, %.9g with one per forward", xl, i + 1, once[i],
                  every[i]);
        }
        CHECK(once[STEPS - 1] != once[0], "xl %d: the steps moved the weights (loss %.6g, then %.6g)", xl, once[0],
              once[STEPS - 1]);
        CHECK(n_once[STEPS] == 1 && n_every[STEPS] == EVAL_BATCHES * segs,
              "xl %d: evaluation made %llu copies (%llu forced)", xl, (unsigned long long)n_once[STEPS],
              (unsigned long long)n_every[STEPS]);
        CHECK(memcmp(&once[STEPS], &every[STEPS], sizeof(float)) == 0,
              "xl %d: validation loss %.9g vs %.9g", xl, once[STEPS], every[STEPS]);
    }
    free(corpus);
}

/* Calls of the public API make a copy each: a weight changed through its pointer between two
 * calls is seen. Pinned calls share one (and, as promised to them, miss such a change). */
static void copies_per_call(void) {
    struct xtc_error err;
    xtc_model_t m;
    xtc_context_t ctx;
    CHECK(xtc_model_create(&m, xl_config, strlen(xl_config), 4, &err) == XTC_OK, "model: %s", err.msg);
    CHECK(xtc_model_set_compute_dtype(m, XTC_DTYPE_BF16, &err) == XTC_OK, "bf16");
    CHECK(xtc_context_create(&ctx, m, &err) == XTC_OK, "context");
    /* a query projection: read by a linear layer's product only, so through the copy */
    int q = -1;
    for (int i = 0; i < xtc_model_param_count(m) && q < 0; i++)
        if (strstr(xtc_model_param(m, i).name, "to_q.weight"))
            q = i;
    CHECK(q >= 0, "a to_q.weight parameter");
    if (q < 0)
        return;
    float *w = xtc_model_param_data(m, q);
    enum { TL = 12 };
    int64_t tokens[TL];
    for (int i = 0; i < TL; i++)
        tokens[i] = (i * 37 + 5) % 256;
    struct xtc_inputs in = {.batch = 1, .len = TL, .tokens = tokens};
    struct xtc_outputs out;
    static float first[TL * 256];
    const size_t bytes = sizeof first;
    uint64_t before = ctx->ac_refreshes;
    CHECK(xtc_context_forward(ctx, &in, &out, &err) == XTC_OK, "forward: %s", err.msg);
    memcpy(first, out.logits, bytes);
    CHECK(xtc_context_forward(ctx, &in, &out, &err) == XTC_OK && memcmp(first, out.logits, bytes) == 0,
          "the same weights, the same logits");
    const float w0 = w[0];
    w[0] += 0.5f;
    CHECK(xtc_context_forward(ctx, &in, &out, &err) == XTC_OK && memcmp(first, out.logits, bytes) != 0,
          "a weight changed between two forward calls changes the logits");
    CHECK(ctx->ac_refreshes - before == 3, "three forward calls, %llu copies (want 3)",
          (unsigned long long)(ctx->ac_refreshes - before));
    /* pinned: one copy for the span (the change below breaks the promise, to show it is kept) */
    w[0] = w0;
    before = ctx->ac_refreshes;
    xtc_context_autocast_pin(ctx);
    CHECK(xtc_context_forward(ctx, &in, &out, &err) == XTC_OK && memcmp(first, out.logits, bytes) == 0,
          "pinned: the first call rounds the weights");
    w[0] += 0.5f;
    /* (the ref backend rounds the master weights in its products: it sees the change) */
    const bool ref = strcmp(xtc_backend_name(), "ref") == 0;
    CHECK(xtc_context_forward(ctx, &in, &out, &err) == XTC_OK && (memcmp(first, out.logits, bytes) == 0) != ref,
          "pinned: the second call reuses the copy (%s backend)", xtc_backend_name());
    xtc_context_autocast_unpin(ctx);
    CHECK(ctx->ac_refreshes - before == 1, "two pinned calls, %llu copies (want 1)",
          (unsigned long long)(ctx->ac_refreshes - before));
    CHECK(xtc_context_forward(ctx, &in, &out, &err) == XTC_OK && memcmp(first, out.logits, bytes) != 0,
          "unpinned again: the change is seen");
    xtc_context_free(ctx);
    xtc_model_free(m);
}

int main(void) {
    products();
    model_gradients();
    training();
    copies_per_step();
    copies_per_call();
    printf("%d checks, %d failed\n", xtc_checks_run, xtc_checks_failed);
    return xtc_checks_failed != 0;
}
