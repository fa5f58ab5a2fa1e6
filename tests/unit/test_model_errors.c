/* Error handling of the public model API (include/xtc/model.h), the way a user
 * calls it: tiny checkpoints written with xtc_safetensors_write, loaded with
 * xtc_model_load, then bad forward calls (each must return its status and a
 * message) and bad checkpoints (missing / extra / mis-shaped / F16 tensors,
 * config-weights mismatch, an inv_freq buffer that contradicts the config).
 * A valid call must succeed with finite, run-to-run bit-identical logits.
 *
 * Parameter names follow x-transformers' state_dict (reference §C, golden
 * README §6). Files live in a mkdtemp directory under /tmp, removed at the end.
 *
 * main() returns non-zero if any check fails. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "xtc/generate.h"
#include "xtc/model.h"
#include "xtc/safetensors.h"
#include "xtc/status.h"
#include "xtc/tensor.h"

static char g_dir[64];

static uint64_t g_rng = 0xB7E151628AED2A6Bull;

static double rng_unit(void) {
    /* xorshift64*, uniform in [-1, 1) */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * 0x2545F4914F6CDD1Dull) >> 11) / 4503599627370496.0 - 1.0;
}

// --------------------------------------------------------------- checkpoints

struct pspec {
    const char *name;
    int ndim;
    int64_t shape[2];
};

/* TransformerWrapper(num_tokens=16, max_seq_len=8, attn_layers=Decoder(dim=8, depth=1, heads=2, attn_dim_head=4)) */
static const char *TW_CONFIG =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 16, \"max_seq_len\": 8, \"attn_layers\": "
    "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1, \"heads\": 2, \"attn_dim_head\": 4}}}}";
static const struct pspec TW_PARAMS[] = {
    {"token_emb.emb.weight", 2, {16, 8}},
    {"pos_emb.emb.weight", 2, {8, 8}},
    {"attn_layers.layers.0.0.0.gamma", 1, {8}},
    {"attn_layers.layers.0.1.to_q.weight", 2, {8, 8}}, /* (heads * dim_head, dim) */
    {"attn_layers.layers.0.1.to_k.weight", 2, {8, 8}},
    {"attn_layers.layers.0.1.to_v.weight", 2, {8, 8}},
    {"attn_layers.layers.0.1.to_out.weight", 2, {8, 8}},
    {"attn_layers.layers.1.0.0.gamma", 1, {8}},
    {"attn_layers.layers.1.1.ff.0.0.weight", 2, {32, 8}}, /* ff_mult 4 */
    {"attn_layers.layers.1.1.ff.0.0.bias", 1, {32}},
    {"attn_layers.layers.1.1.ff.2.weight", 2, {8, 32}},
    {"attn_layers.layers.1.1.ff.2.bias", 1, {8}},
    {"attn_layers.final_norm.gamma", 1, {8}},
    {"to_logits.weight", 2, {16, 8}},
};

/* The same with rotary (attn_dim_head 8: rotary_emb_dim 4, inv_freq = 10000^(-2k/4) = [1, 0.01]); no pos_emb. */
static const char *ROT_CONFIG =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 16, \"max_seq_len\": 8, \"attn_layers\": "
    "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1, \"heads\": 2, \"attn_dim_head\": 8, "
    "\"rotary_pos_emb\": true}}}}";
static const struct pspec ROT_PARAMS[] = {
    {"token_emb.emb.weight", 2, {16, 8}},
    {"attn_layers.layers.0.0.0.gamma", 1, {8}},
    {"attn_layers.layers.0.1.to_q.weight", 2, {16, 8}},
    {"attn_layers.layers.0.1.to_k.weight", 2, {16, 8}},
    {"attn_layers.layers.0.1.to_v.weight", 2, {16, 8}},
    {"attn_layers.layers.0.1.to_out.weight", 2, {8, 16}},
    {"attn_layers.layers.1.0.0.gamma", 1, {8}},
    {"attn_layers.layers.1.1.ff.0.0.weight", 2, {32, 8}},
    {"attn_layers.layers.1.1.ff.0.0.bias", 1, {32}},
    {"attn_layers.layers.1.1.ff.2.weight", 2, {8, 32}},
    {"attn_layers.layers.1.1.ff.2.bias", 1, {8}},
    {"attn_layers.final_norm.gamma", 1, {8}},
    {"attn_layers.rotary_pos_emb.inv_freq", 1, {2}}, /* persistent buffer */
    {"to_logits.weight", 2, {16, 8}},
};

/* Bare Decoder(dim=8, depth=1, heads=2, attn_dim_head=4): no wrapper, no prefix. */
static const char *BARE_CONFIG =
    "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1, \"heads\": 2, \"attn_dim_head\": 4}}";
static const struct pspec BARE_PARAMS[] = {
    {"layers.0.0.0.gamma", 1, {8}},           {"layers.0.1.to_q.weight", 2, {8, 8}},
    {"layers.0.1.to_k.weight", 2, {8, 8}},    {"layers.0.1.to_v.weight", 2, {8, 8}},
    {"layers.0.1.to_out.weight", 2, {8, 8}},  {"layers.1.0.0.gamma", 1, {8}},
    {"layers.1.1.ff.0.0.weight", 2, {32, 8}}, {"layers.1.1.ff.0.0.bias", 1, {32}},
    {"layers.1.1.ff.2.weight", 2, {8, 32}},   {"layers.1.1.ff.2.bias", 1, {8}},
    {"final_norm.gamma", 1, {8}},
};

/* Bare Decoder(..., cross_attend=True, cross_attn_dim_context=6): layers self, cross, ff. */
static const char *CROSS_CONFIG =
    "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1, \"heads\": 2, \"attn_dim_head\": 4, "
    "\"cross_attend\": true, \"cross_attn_dim_context\": 6}}";
static const struct pspec CROSS_PARAMS[] = {
    {"layers.0.0.0.gamma", 1, {8}},           {"layers.0.1.to_q.weight", 2, {8, 8}},
    {"layers.0.1.to_k.weight", 2, {8, 8}},    {"layers.0.1.to_v.weight", 2, {8, 8}},
    {"layers.0.1.to_out.weight", 2, {8, 8}},  {"layers.1.0.0.gamma", 1, {8}},
    {"layers.1.1.to_q.weight", 2, {8, 8}},    {"layers.1.1.to_k.weight", 2, {8, 6}},
    {"layers.1.1.to_v.weight", 2, {8, 6}},    {"layers.1.1.to_out.weight", 2, {8, 8}},
    {"layers.2.0.0.gamma", 1, {8}},           {"layers.2.1.ff.0.0.weight", 2, {32, 8}},
    {"layers.2.1.ff.0.0.bias", 1, {32}},      {"layers.2.1.ff.2.weight", 2, {8, 32}},
    {"layers.2.1.ff.2.bias", 1, {8}},         {"final_norm.gamma", 1, {8}},
};

#define NSPEC(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_T 24

/* Tensors of a spec list with deterministic data (small values; gammas near 0 = unit scale),
 * ready for edits before writing. Buffers: inv_freq gets the values the config implies. */
struct ckpt {
    struct xtc_safetensors_tensor t[MAX_T];
    void *data[MAX_T];
    size_t n;
};

static void ckpt_build(struct ckpt *c, const struct pspec *s, size_t n) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        int64_t numel = s[i].ndim == 1 ? s[i].shape[0] : s[i].shape[0] * s[i].shape[1];
        float *d = malloc(sizeof(float) * (size_t)numel);
        if (!d) {
            fprintf(stderr, "out of memory in test\n");
            exit(2);
        }
        for (int64_t j = 0; j < numel; j++)
            d[j] = (float)(0.3 * rng_unit());
        if (strstr(s[i].name, "inv_freq"))
            for (int64_t j = 0; j < numel; j++)
                d[j] = (float)pow(10000.0, -2.0 * (double)j / (2.0 * (double)numel));
        c->t[i] = (struct xtc_safetensors_tensor){.name = s[i].name,
                                                  .dtype = XTC_DTYPE_F32,
                                                  .ndim = s[i].ndim,
                                                  .shape = {s[i].shape[0], s[i].shape[1]},
                                                  .data = d};
        c->data[i] = d;
    }
    c->n = n;
}

static void ckpt_free(struct ckpt *c) {
    for (size_t i = 0; i < MAX_T; i++)
        free(c->data[i]);
    memset(c, 0, sizeof *c);
}

static int ckpt_find(const struct ckpt *c, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->t[i].name, name) == 0)
            return (int)i;
    fprintf(stderr, "test bug: no tensor %s\n", name);
    exit(2);
}

static void ckpt_remove(struct ckpt *c, const char *name) {
    int i = ckpt_find(c, name);
    free(c->data[i]);
    for (size_t j = (size_t)i; j + 1 < c->n; j++) {
        c->t[j] = c->t[j + 1];
        c->data[j] = c->data[j + 1];
    }
    c->n--;
    c->data[c->n] = NULL;
}

static const char *ckpt_write(const struct ckpt *c, const char *file) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    struct xtc_error err = {0};
    xtc_status rc = xtc_safetensors_write(path, c->t, c->n, NULL, 0, &err);
    if (rc != XTC_OK) {
        fprintf(stderr, "test setup: cannot write %s: %s\n", path, err.msg);
        exit(2);
    }
    return path;
}

static xtc_model_t load(const char *config, const struct ckpt *c, const char *file, struct xtc_error *err,
                        xtc_status *rc) {
    const char *path = ckpt_write(c, file);
    xtc_model_t m = NULL;
    memset(err, 0, sizeof *err);
    *rc = xtc_model_load(&m, config, strlen(config), path, err);
    return m;
}

static void expect_load_error(const char *what, const char *config, const struct ckpt *c, xtc_status want,
                              xtc_status also_ok, const char *needle) {
    struct xtc_error err;
    xtc_status rc;
    xtc_model_t m = load(config, c, "bad.safetensors", &err, &rc);
    CHECK(rc == want || rc == also_ok, "load %s: got %d (%s), want %d (%s); message: %s", what, (int)rc,
          xtc_status_str(rc), (int)want, xtc_status_str(want), err.msg);
    CHECK(m == NULL, "load %s: handle set on failure", what);
    CHECK(err.msg[0] && strstr(err.msg, needle), "load %s: message '%s' does not name '%s'", what, err.msg, needle);
    xtc_model_free(m);
}

// --------------------------------------------------------------- loading

static void test_load_errors(void) {
    struct ckpt c;
    struct xtc_error err;
    xtc_status rc;

    /* the valid checkpoint loads, and the model's own table lists exactly these names in this order */
    ckpt_build(&c, TW_PARAMS, NSPEC(TW_PARAMS));
    xtc_model_t m = load(TW_CONFIG, &c, "tw.safetensors", &err, &rc);
    CHECK(rc == XTC_OK && m, "valid TransformerWrapper checkpoint: %d %s", (int)rc, err.msg);
    if (m) {
        int n = xtc_model_param_count(m);
        CHECK(n == (int)NSPEC(TW_PARAMS), "param count %d, want %zu", n, NSPEC(TW_PARAMS));
        bool same = n == (int)NSPEC(TW_PARAMS);
        int64_t total = 0;
        for (int i = 0; same && i < n; i++) {
            struct xtc_param_info pi = xtc_model_param(m, i);
            same = strcmp(pi.name, TW_PARAMS[i].name) == 0 && pi.ndim == TW_PARAMS[i].ndim &&
                   pi.shape[0] == TW_PARAMS[i].shape[0] && (pi.ndim == 1 || pi.shape[1] == TW_PARAMS[i].shape[1]);
            if (!same)
                fprintf(stderr, "  param %d: %s, want %s\n", i, pi.name, TW_PARAMS[i].name);
            /* the loaded values are the file's values */
            size_t numel = (size_t)(pi.ndim == 1 ? pi.shape[0] : pi.shape[0] * pi.shape[1]);
            same = same && memcmp(pi.data, c.data[i], numel * sizeof(float)) == 0;
            total += (int64_t)numel;
        }
        CHECK(same, "model parameter table differs from the x-transformers names / shapes / values");
        CHECK(xtc_model_num_params(m) == total, "num_params %lld, want %lld", (long long)xtc_model_num_params(m),
              (long long)total);
        const struct xtc_config *cfg = xtc_model_config(m);
        CHECK(cfg && cfg->net.layers.dim == 8 && cfg->net.wrap.num_tokens == 16, "xtc_model_config");
        /* the writable accessors point at the read-only views' memory; gradients appear with zero_grad */
        bool data_same = true, no_grad = true;
        for (int i = 0; i < n; i++) {
            data_same = data_same && xtc_model_param_data(m, i) == xtc_model_param(m, i).data;
            no_grad = no_grad && xtc_model_param_grad(m, i) == NULL && xtc_model_param(m, i).grad == NULL;
        }
        CHECK(data_same && no_grad, "xtc_model_param_data / _grad agree with xtc_model_param");
        CHECK(xtc_model_param_data(m, -1) == NULL && xtc_model_param_data(m, n) == NULL &&
                  xtc_model_param_grad(m, n) == NULL && xtc_model_param(m, n).name == NULL,
              "parameter accessors out of range give NULL");
        struct xtc_error gerr;
        CHECK(xtc_model_zero_grad(m, &gerr) == XTC_OK, "zero_grad: %s", gerr.msg);
        float *g0 = xtc_model_param_grad(m, 0);
        CHECK(g0 && g0 == xtc_model_param(m, 0).grad && g0[0] == 0.0f, "gradient of entry 0 after zero_grad");
    }
    xtc_model_free(m);
    ckpt_free(&c);

    ckpt_build(&c, TW_PARAMS, NSPEC(TW_PARAMS));
    ckpt_remove(&c, "attn_layers.layers.0.1.to_v.weight");
    expect_load_error("missing tensor", TW_CONFIG, &c, XTC_ERR_FORMAT, XTC_ERR_FORMAT,
                      "attn_layers.layers.0.1.to_v.weight");
    ckpt_free(&c);

    ckpt_build(&c, TW_PARAMS, NSPEC(TW_PARAMS));
    float extra[8] = {0};
    c.t[c.n++] = (struct xtc_safetensors_tensor){
        .name = "attn_layers.layers.0.1.to_q.bias", .dtype = XTC_DTYPE_F32, .ndim = 1, .shape = {8}, .data = extra};
    expect_load_error("extra tensor", TW_CONFIG, &c, XTC_ERR_FORMAT, XTC_ERR_FORMAT,
                      "attn_layers.layers.0.1.to_q.bias");
    c.n--;
    ckpt_free(&c);

    ckpt_build(&c, TW_PARAMS, NSPEC(TW_PARAMS));
    int i = ckpt_find(&c, "attn_layers.layers.1.1.ff.0.0.weight");
    c.t[i].shape[0] = 8; /* transposed: (8, 32) instead of (32, 8), same byte count */
    c.t[i].shape[1] = 32;
    expect_load_error("wrong shape", TW_CONFIG, &c, XTC_ERR_SHAPE, XTC_ERR_SHAPE,
                      "attn_layers.layers.1.1.ff.0.0.weight");
    ckpt_free(&c);

    ckpt_build(&c, TW_PARAMS, NSPEC(TW_PARAMS));
    i = ckpt_find(&c, "to_logits.weight");
    uint16_t half[16 * 8];
    for (int j = 0; j < 16 * 8; j++)
        half[j] = xtc_f32_to_f16(((float *)c.data[i])[j]);
    c.t[i].dtype = XTC_DTYPE_F16;
    c.t[i].data = half;
    /* model.h documents XTC_ERR_SHAPE for a parameter's dtype; model.c returns XTC_ERR_FORMAT.
     * Either is accepted until the two agree; what matters is the rejection and the name. */
    expect_load_error("F16 weight", TW_CONFIG, &c, XTC_ERR_SHAPE, XTC_ERR_FORMAT, "to_logits.weight");
    ckpt_free(&c);

    /* config says dim 12, weights are dim 8 */
    ckpt_build(&c, TW_PARAMS, NSPEC(TW_PARAMS));
    const char *dim12 =
        "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 16, \"max_seq_len\": 8, \"attn_layers\": "
        "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 12, \"depth\": 1, \"heads\": 2, \"attn_dim_head\": 4}}}}";
    expect_load_error("config dim 12 vs weights dim 8", dim12, &c, XTC_ERR_SHAPE, XTC_ERR_SHAPE,
                      "token_emb.emb.weight");
    /* an invalid config through the loader: the config's status, before any file is read */
    expect_load_error("invalid config through load", "{\"class\": \"Decoder\"", &c, XTC_ERR_FORMAT, XTC_ERR_FORMAT,
                      "JSON");
    ckpt_free(&c);

    /* rotary: the valid checkpoint loads with or without the persistent inv_freq buffer */
    ckpt_build(&c, ROT_PARAMS, NSPEC(ROT_PARAMS));
    m = load(ROT_CONFIG, &c, "rot.safetensors", &err, &rc);
    CHECK(rc == XTC_OK && m, "valid rotary checkpoint: %d %s", (int)rc, err.msg);
    xtc_model_free(m);
    i = ckpt_find(&c, "attn_layers.rotary_pos_emb.inv_freq");
    ((float *)c.data[i])[1] = 0.1f; /* 100^(-2/4): base 100 instead of 10000 */
    expect_load_error("inv_freq inconsistent with the config", ROT_CONFIG, &c, XTC_ERR_FORMAT, XTC_ERR_FORMAT,
                      "inv_freq");
    ckpt_remove(&c, "attn_layers.rotary_pos_emb.inv_freq");
    m = load(ROT_CONFIG, &c, "rot2.safetensors", &err, &rc);
    CHECK(rc == XTC_OK && m, "rotary checkpoint without the inv_freq buffer: %d %s", (int)rc, err.msg);
    xtc_model_free(m);
    ckpt_free(&c);

    /* file errors */
    m = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/does_not_exist.safetensors", g_dir);
    memset(&err, 0, sizeof err);
    rc = xtc_model_load(&m, TW_CONFIG, strlen(TW_CONFIG), path, &err);
    CHECK(rc == XTC_ERR_IO && m == NULL && err.msg[0], "missing file: %d %s", (int)rc, err.msg);
    rc = xtc_model_load(NULL, TW_CONFIG, strlen(TW_CONFIG), path, &err);
    CHECK(rc == XTC_ERR_ARG, "load with NULL out: %d", (int)rc);
    xtc_model_free(NULL); /* allowed */
}

// --------------------------------------------------------------- forward

static void expect_forward_error(const char *what, xtc_model_t m, const struct xtc_inputs *in, xtc_status want,
                                 const char *needle) {
    struct xtc_outputs out;
    struct xtc_error err = {0};
    xtc_status rc = xtc_model_forward(m, in, &out, &err);
    CHECK(rc == want, "forward %s: got %d (%s), want %d (%s); message: %s", what, (int)rc, xtc_status_str(rc),
          (int)want, xtc_status_str(want), err.msg);
    CHECK(err.msg[0] != '\0' && (!needle || strstr(err.msg, needle)), "forward %s: message '%s' lacks '%s'", what,
          err.msg, needle ? needle : "");
}

static bool all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

/* Inputs that are not what they claim: a FIFO or a directory where a model directory's
 * config.json or model.safetensors should be is refused at once (a FIFO used to block
 * forever), naming the file. */
static void test_not_regular_files(void) {
    char dir[] = "/tmp/xtc-fifo-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char cfg[300], st[300];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    struct xtc_error err;
    xtc_model_t m = NULL;
    CHECK(mkfifo(cfg, 0600) == 0, "mkfifo config.json");
    xtc_status rc = xtc_model_load_dir(&m, dir, &err);
    CHECK(rc == XTC_ERR_IO && strstr(err.msg, "not a regular file") && strstr(err.msg, "config.json"),
          "a FIFO config.json is refused: %d %s", (int)rc, err.msg);
    unlink(cfg);
    FILE *f = fopen(cfg, "w");
    if (f) {
        fputs(TW_CONFIG, f);
        fclose(f);
    }
    CHECK(mkfifo(st, 0600) == 0, "mkfifo model.safetensors");
    rc = xtc_model_load_dir(&m, dir, &err);
    CHECK(rc == XTC_ERR_IO && strstr(err.msg, "not a regular file") && strstr(err.msg, "model.safetensors"),
          "a FIFO model.safetensors is refused: %d %s", (int)rc, err.msg);
    unlink(st);
    CHECK(mkdir(st, 0700) == 0, "a directory as model.safetensors");
    rc = xtc_model_load_dir(&m, dir, &err);
    CHECK(rc == XTC_ERR_IO && strstr(err.msg, "not a regular file"), "a directory as model.safetensors is refused: "
          "%d %s", (int)rc, err.msg);
    rmdir(st);
    unlink(cfg);
    rmdir(dir);
    xtc_model_free(m);
}

static void test_forward_errors(void) {
    struct ckpt c;
    struct xtc_error err;
    xtc_status rc;
    ckpt_build(&c, TW_PARAMS, NSPEC(TW_PARAMS));
    xtc_model_t m = load(TW_CONFIG, &c, "tw_fwd.safetensors", &err, &rc);
    ckpt_free(&c);
    CHECK(rc == XTC_OK && m, "load for forward tests: %s", err.msg);
    if (!m)
        return;

    /* the valid call: OK, finite, and bit-identical when repeated */
    const int64_t tok[10] = {1, 5, 15, 0, 7, 3, 3, 9, 12, 2};
    struct xtc_inputs in = {.batch = 2, .len = 5, .tokens = tok};
    struct xtc_outputs out;
    memset(&err, 0, sizeof err);
    rc = xtc_model_forward(m, &in, &out, &err);
    CHECK(rc == XTC_OK, "valid forward: %d %s", (int)rc, err.msg);
    float first[2 * 5 * 16];
    if (rc == XTC_OK) {
        CHECK(out.logits && out.out_dim == 16, "logits %p out_dim %lld", (const void *)out.logits,
              (long long)out.out_dim);
        CHECK(all_finite(out.logits, 2 * 5 * 16), "valid forward: logits not finite");
        memcpy(first, out.logits, sizeof first);
        rc = xtc_model_forward(m, &in, &out, &err);
        CHECK(rc == XTC_OK && memcmp(first, out.logits, sizeof first) == 0,
              "the same input twice must give bit-identical logits");
    }
    /* batch rows are independent: batch 1 alone equals row 1 of the batch of 2 */
    struct xtc_inputs in1 = {.batch = 1, .len = 5, .tokens = tok + 5};
    rc = xtc_model_forward(m, &in1, &out, &err);
    CHECK(rc == XTC_OK, "batch row 1 alone: %s", err.msg);
    if (rc == XTC_OK) /* BLAS may block a 5-row GEMM differently from a 10-row one: summation order only */
        xtc_check_close_f("batch row 1 alone vs batched", out.logits, first + 5 * 16, 5 * 16, 1e-5, 1e-5);
    /* causal: a prefix gives the prefix's logits (up to BLAS blocking: compare with a tolerance) */
    struct xtc_inputs in3 = {.batch = 1, .len = 3, .tokens = tok};
    rc = xtc_model_forward(m, &in3, &out, &err);
    CHECK(rc == XTC_OK, "prefix forward: %s", err.msg);
    if (rc == XTC_OK) /* same fp32 maths on fewer rows; only summation order inside BLAS may differ */
        xtc_check_close_f("causal prefix logits", out.logits, first, 3 * 16, 1e-5, 1e-5);
    /* return_mems on a wrapper: one (B, L, dim) memory per self-attention layer; the default
     * max_mem_len 0 keeps none (x-transformers 2.31.10; 2.26.4 kept all) */
    struct xtc_inputs inm = in;
    inm.return_mems = true;
    rc = xtc_model_forward(m, &inm, &out, &err);
    CHECK(rc == XTC_OK && out.n_mems == 1 && out.mems && out.mem_len == 0,
          "return_mems: rc %d n_mems %d mem_len %lld (%s)", (int)rc, out.n_mems, (long long)out.mem_len, err.msg);

    /* bad calls */
    int64_t bad_tok[5] = {1, 2, 16, 3, 4};
    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = bad_tok};
    expect_forward_error("token id == num_tokens", m, &in, XTC_ERR_ARG, "16");
    bad_tok[2] = -1;
    expect_forward_error("negative token id", m, &in, XTC_ERR_ARG, "-1");
    bad_tok[2] = INT64_MAX;
    expect_forward_error("token id INT64_MAX", m, &in, XTC_ERR_ARG, "token");

    const int64_t long_tok[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    in = (struct xtc_inputs){.batch = 1, .len = 9, .tokens = long_tok};
    /* x-transformers asserts n <= max_seq_len with absolute positions; xtc reports the length */
    expect_forward_error("sequence longer than max_seq_len", m, &in, XTC_ERR_SHAPE, "max_seq_len");

    const int64_t pos_bad[5] = {0, 1, 2, 8, 3};
    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = tok, .pos = pos_bad, .pos_len = 5};
    expect_forward_error("pos outside the absolute table", m, &in, XTC_ERR_ARG, "pos");
    const int64_t pos_neg[5] = {0, 1, -1, 2, 3};
    in.pos = pos_neg;
    expect_forward_error("negative pos", m, &in, XTC_ERR_ARG, "pos");
    const int64_t pos_ok[5] = {7, 6, 5, 4, 3};
    in.pos = pos_ok;
    in.pos_len = 4;
    expect_forward_error("pos of the wrong length", m, &in, XTC_ERR_SHAPE, "pos");
    in.pos_len = 5;
    rc = xtc_model_forward(m, &in, &out, &err);
    CHECK(rc == XTC_OK, "valid explicit pos: %d %s", (int)rc, err.msg);
    const int64_t pos_b[10] = {0, 1, 2, 3, 4, 7, 7, 7, 7, 9};
    in = (struct xtc_inputs){.batch = 2, .len = 5, .tokens = tok, .pos = pos_b, .pos_len = 5, .pos_batched = true};
    expect_forward_error("batched pos outside the table (batch 1)", m, &in, XTC_ERR_ARG, "pos");

    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = NULL};
    expect_forward_error("NULL tokens", m, &in, XTC_ERR_ARG, "token");
    in = (struct xtc_inputs){.batch = 0, .len = 5, .tokens = tok};
    expect_forward_error("batch 0", m, &in, XTC_ERR_ARG, "batch");
    in = (struct xtc_inputs){.batch = -3, .len = 5, .tokens = tok};
    expect_forward_error("negative batch", m, &in, XTC_ERR_ARG, "batch");
    in = (struct xtc_inputs){.batch = 1, .len = 0, .tokens = tok};
    expect_forward_error("length 0", m, &in, XTC_ERR_ARG, NULL);

    float mem[3 * 8] = {0};
    const float *mems2[2] = {mem, mem};
    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = tok, .mems = mems2, .n_mems = 2, .mem_len = 3};
    expect_forward_error("2 mems for 1 self-attention layer", m, &in, XTC_ERR_SHAPE, "mems");
    const float *mems_null[1] = {NULL};
    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = tok, .mems = mems_null, .n_mems = 1, .mem_len = 3};
    expect_forward_error("NULL mem tensor", m, &in, XTC_ERR_ARG, "mems");
    uint8_t mmask[3] = {1, 1, 1};
    const uint8_t *mmasks[1] = {mmask};
    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = tok, .mem_masks = mmasks};
    expect_forward_error("mem_masks without mems", m, &in, XTC_ERR_ARG, "mem_masks");

    float ctx[3 * 8] = {0};
    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = tok, .context = ctx, .context_len = 3};
    expect_forward_error("context without cross-attention", m, &in, XTC_ERR_ARG, "context");
    uint8_t cmask[3] = {1, 1, 1};
    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = tok, .context_mask = cmask};
    expect_forward_error("context_mask without cross-attention", m, &in, XTC_ERR_ARG, "context_mask");
    const int64_t cpos[3] = {0, 1, 2};
    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = tok, .context_pos = cpos, .context_len = 3};
    expect_forward_error("context_pos without cross-attention", m, &in, XTC_ERR_ARG, "context_pos");

    in = (struct xtc_inputs){.batch = 1, .len = 5, .tokens = tok};
    CHECK(xtc_model_forward(NULL, &in, &out, &err) == XTC_ERR_ARG, "forward with NULL model");
    CHECK(xtc_model_forward(m, NULL, &out, &err) == XTC_ERR_ARG, "forward with NULL inputs");
    CHECK(xtc_model_forward(m, &in, NULL, &err) == XTC_ERR_ARG, "forward with NULL outputs");

    /* the failed calls left the model usable: the first valid call again, same bits */
    in = (struct xtc_inputs){.batch = 2, .len = 5, .tokens = tok};
    rc = xtc_model_forward(m, &in, &out, &err);
    CHECK(rc == XTC_OK && memcmp(first, out.logits, sizeof first) == 0, "valid call after errors differs");
    xtc_model_free(m);
}

static void test_stack_errors(void) {
    struct ckpt c;
    struct xtc_error err;
    xtc_status rc;
    float x[2 * 4 * 8];
    for (int i = 0; i < 64; i++)
        x[i] = (float)rng_unit();

    /* bare Decoder: float inputs; return_mems is a TransformerWrapper option */
    ckpt_build(&c, BARE_PARAMS, NSPEC(BARE_PARAMS));
    xtc_model_t m = load(BARE_CONFIG, &c, "bare.safetensors", &err, &rc);
    ckpt_free(&c);
    CHECK(rc == XTC_OK && m, "bare Decoder load: %d %s", (int)rc, err.msg);
    if (m) {
        struct xtc_inputs in = {.batch = 2, .len = 4, .x = x};
        struct xtc_outputs out;
        rc = xtc_model_forward(m, &in, &out, &err);
        CHECK(rc == XTC_OK && out.out_dim == 8 && all_finite(out.logits, 64), "bare Decoder forward: %d %s", (int)rc,
              err.msg);
        in.return_mems = true;
        expect_forward_error("return_mems on a bare stack", m, &in, XTC_ERR_UNSUPPORTED, "return_mems");
        const int64_t tok[8] = {0};
        in = (struct xtc_inputs){.batch = 2, .len = 4, .tokens = tok};
        expect_forward_error("token ids to a bare stack (x missing)", m, &in, XTC_ERR_ARG, "x");
    }
    xtc_model_free(m);

    /* cross-attending Decoder: context is required */
    ckpt_build(&c, CROSS_PARAMS, NSPEC(CROSS_PARAMS));
    m = load(CROSS_CONFIG, &c, "cross.safetensors", &err, &rc);
    ckpt_free(&c);
    CHECK(rc == XTC_OK && m, "cross Decoder load: %d %s", (int)rc, err.msg);
    if (m) {
        float ctx[2 * 3 * 6];
        for (int i = 0; i < 36; i++)
            ctx[i] = (float)rng_unit();
        struct xtc_inputs in = {.batch = 2, .len = 4, .x = x};
        expect_forward_error("missing context for a cross-attending model", m, &in, XTC_ERR_ARG, "context");
        in.context = ctx;
        in.context_len = 0;
        expect_forward_error("context of length 0", m, &in, XTC_ERR_SHAPE, "context");
        in.context_len = 3;
        struct xtc_outputs out;
        rc = xtc_model_forward(m, &in, &out, &err);
        CHECK(rc == XTC_OK && all_finite(out.logits, 64), "cross Decoder forward with context: %d %s", (int)rc,
              err.msg);
        const int64_t cpos[3] = {0, 1, 2};
        in.context_pos = cpos;
        expect_forward_error("context_pos without rotary", m, &in, XTC_ERR_ARG, "context_pos");
    }
    xtc_model_free(m);
}

/* polar_pos_emb: calls x-transformers fails on (Transformer-XL mems: its angles cover the tokens
 * only) or xtc does not implement (explicit pos) are refused with a message naming it; a plain call
 * and the call that returns mems work. */
static void test_polar_call_errors(void) {
    const char *cfg = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 16, \"max_seq_len\": 8, "
                      "\"max_mem_len\": 4, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 8, "
                      "\"depth\": 1, \"heads\": 2, \"attn_dim_head\": 4, \"polar_pos_emb\": true}}}}";
    struct xtc_error err = {0};
    xtc_model_t m = NULL;
    xtc_status rc = xtc_model_create(&m, cfg, strlen(cfg), 7, &err);
    CHECK(rc == XTC_OK && m, "polar create: %d %s", (int)rc, err.msg);
    if (!m)
        return;
    const int64_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct xtc_inputs in = {.batch = 2, .len = 4, .tokens = tok, .return_mems = true};
    struct xtc_outputs out;
    rc = xtc_model_forward(m, &in, &out, &err);
    CHECK(rc == XTC_OK && out.n_mems == 1 && all_finite(out.logits, 2 * 4 * 16), "polar forward: %d %s", (int)rc,
          err.msg);
    float mem[2 * 4 * 8] = {0};
    const float *mems[1] = {mem};
    in = (struct xtc_inputs){.batch = 2, .len = 4, .tokens = tok, .mems = mems, .n_mems = 1, .mem_len = 4};
    expect_forward_error("polar_pos_emb with XL mems", m, &in, XTC_ERR_UNSUPPORTED, "polar_pos_emb");
    const int64_t pos[4] = {0, 1, 2, 3};
    in = (struct xtc_inputs){.batch = 2, .len = 4, .tokens = tok, .pos = pos, .pos_len = 4};
    expect_forward_error("polar_pos_emb with explicit pos", m, &in, XTC_ERR_UNSUPPORTED, "polar_pos_emb");
    xtc_model_free(m);
}

/* ContinuousTransformerWrapper through the public API: float inputs only, no generation, pos only
 * with an absolute embedding, gradients of x of width dim_in; a created model saves and loads
 * back to the same outputs. */
static void test_continuous(void) {
    const char *cfg = "{\"class\": \"ContinuousTransformerWrapper\", \"kwargs\": {\"dim_in\": 3, \"dim_out\": 2, "
                      "\"max_seq_len\": 8, \"num_memory_tokens\": 1, \"attn_layers\": {\"class\": \"Decoder\", "
                      "\"kwargs\": {\"dim\": 8, \"depth\": 1, \"heads\": 2, \"attn_dim_head\": 4}}}}";
    struct xtc_error err = {0};
    xtc_model_t m = NULL, back = NULL;
    xtc_status rc = xtc_model_create(&m, cfg, strlen(cfg), 7, &err);
    CHECK(rc == XTC_OK && m, "continuous create: %d %s", (int)rc, err.msg);
    if (!m)
        return;
    float x[2 * 4 * 3], y[2 * 4 * 2];
    for (int i = 0; i < 24; i++)
        x[i] = (float)rng_unit();
    struct xtc_inputs in = {.batch = 2, .len = 4, .x = x, .save_for_backward = true};
    struct xtc_outputs out;
    rc = xtc_model_forward(m, &in, &out, &err);
    CHECK(rc == XTC_OK && out.out_dim == 2 && all_finite(out.logits, 16), "continuous forward: %d %s", (int)rc,
          err.msg);
    if (rc == XTC_OK)
        memcpy(y, out.logits, sizeof y);
    float dout[16];
    for (int i = 0; i < 16; i++)
        dout[i] = 1.0f;
    struct xtc_input_grads ig;
    rc = xtc_model_backward(m, dout, &err);
    xtc_model_input_grads(m, &ig);
    CHECK(rc == XTC_OK && ig.x && all_finite(ig.x, 24), "continuous backward: %d %s", (int)rc, err.msg);
    const int64_t tok[8] = {0};
    struct xtc_inputs bad = {.batch = 2, .len = 4, .tokens = tok};
    expect_forward_error("token ids to a continuous wrapper", m, &bad, XTC_ERR_ARG, "float");
    bad = (struct xtc_inputs){.batch = 2, .len = 9, .x = x};
    expect_forward_error("longer than max_seq_len", m, &bad, XTC_ERR_SHAPE, "max_seq_len");
    struct xtc_gen_options go;
    xtc_gen_options_default(&go);
    int64_t gen[4], n = 0;
    CHECK(xtc_generate(m, tok, 1, 2, &go, NULL, NULL, gen, &n, NULL, &err) == XTC_ERR_UNSUPPORTED,
          "generation on a continuous wrapper must be refused");
    char dir[96];
    snprintf(dir, sizeof dir, "%s/continuous", g_dir);
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    rc = xtc_model_save_dir(m, dir, &err);
    CHECK(rc == XTC_OK, "continuous save: %s", err.msg);
    rc = rc == XTC_OK ? xtc_model_load_dir(&back, dir, &err) : rc;
    CHECK(rc == XTC_OK, "continuous load back: %s", err.msg);
    in.save_for_backward = false;
    if (back && xtc_model_forward(back, &in, &out, &err) == XTC_OK)
        CHECK(memcmp(out.logits, y, sizeof y) == 0, "continuous model saved and loaded gives other outputs");
    else
        CHECK(0, "forward of the loaded continuous model: %s", err.msg);
    for (const char *f = "config.json"; f; f = strcmp(f, "config.json") == 0 ? "model.safetensors" : NULL) {
        char path[160];
        snprintf(path, sizeof path, "%s/%s", dir, f);
        unlink(path);
    }
    rmdir(dir);
    xtc_model_free(back);
    xtc_model_free(m);
}

/* Removes every file this test writes, then the directory. */
static void remove_files(void) {
    const char *files[] = {"tw.safetensors",   "bad.safetensors",   "rot.safetensors",     "rot2.safetensors",
                           "tw_fwd.safetensors", "bare.safetensors", "cross.safetensors", "rot_pos.safetensors",
                           "alibi_pos.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", g_dir, files[i]);
        unlink(path);
    }
    CHECK(rmdir(g_dir) == 0, "temporary directory %s not empty at the end", g_dir);
}

/* Explicit rotary / ALiBi positions are caller input too (STYLE.md: validate positions at the
 * public boundary). Extreme values must give an error with a message, or a finite result: never
 * signed overflow (max(pos) + 1 for the XPOS centre, key pos - query pos for ALiBi), which the
 * sanitizer build turns into an abort. Run last: an abort here loses only the summary line
 * (every earlier failure is already printed). */
static void test_position_overflow(void) {
    struct ckpt c;
    struct xtc_error err;
    xtc_status rc;
    struct xtc_outputs out;
    ckpt_build(&c, ROT_PARAMS, NSPEC(ROT_PARAMS));
    xtc_model_t rot = load(ROT_CONFIG, &c, "rot_pos.safetensors", &err, &rc);
    ckpt_free(&c);
    CHECK(rc == XTC_OK && rot, "rotary load: %d %s", (int)rc, err.msg);
    const char *alibi_cfg = "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1, \"heads\": 2, "
                            "\"attn_dim_head\": 4, \"alibi_pos_bias\": true}}";
    ckpt_build(&c, BARE_PARAMS, NSPEC(BARE_PARAMS));
    xtc_model_t alibi = load(alibi_cfg, &c, "alibi_pos.safetensors", &err, &rc);
    ckpt_free(&c);
    CHECK(rc == XTC_OK && alibi, "ALiBi Decoder load: %d %s", (int)rc, err.msg);
    /* the weights are in memory now: clean up the directory before calls that may abort */
    remove_files();

    if (rot) {
        const int64_t tok[3] = {1, 2, 3};
        const int64_t pos[3] = {0, INT64_MAX, 5};
        struct xtc_inputs in = {.batch = 1, .len = 3, .tokens = tok, .pos = pos, .pos_len = 3};
        fprintf(stderr, "test_model_errors: rotary pos INT64_MAX (an abort here is a library bug)\n");
        memset(&err, 0, sizeof err);
        rc = xtc_model_forward(rot, &in, &out, &err);
        CHECK((rc == XTC_OK && all_finite(out.logits, 3 * 16)) || (rc == XTC_ERR_ARG && err.msg[0]),
              "rotary pos INT64_MAX: rc %d '%s'", (int)rc, err.msg);
    }
    if (alibi) {
        float x[3 * 8];
        for (int i = 0; i < 24; i++)
            x[i] = (float)rng_unit();
        const int64_t pos[3] = {INT64_MIN, 3, 5};
        struct xtc_inputs in = {.batch = 1, .len = 3, .x = x, .pos = pos, .pos_len = 3};
        fprintf(stderr, "test_model_errors: ALiBi pos INT64_MIN (an abort here is a library bug)\n");
        memset(&err, 0, sizeof err);
        rc = xtc_model_forward(alibi, &in, &out, &err);
        CHECK((rc == XTC_OK && all_finite(out.logits, 3 * 8)) || (rc == XTC_ERR_ARG && err.msg[0]),
              "ALiBi pos INT64_MIN: rc %d '%s'", (int)rc, err.msg);
    }
    xtc_model_free(rot);
    xtc_model_free(alibi);
}

/* Data-dependent ALiBi: calls x-transformers cannot make consistently are refused (XL memories:
 * a shape error there; a KV cache: its cached steps differ from the model), and generation
 * with cache_kv runs uncached, so it equals the uncached generation. */
static void test_data_dependent_alibi(void) {
    static const char cfg[] =
        "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 16, \"max_seq_len\": 16, \"max_mem_len\": 4, "
        "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1, \"heads\": 2, "
        "\"attn_data_dependent_alibi\": true, \"attn_data_dependent_alibi_per_row\": true}}}}";
    struct xtc_error err = {0};
    xtc_model_t m = NULL;
    xtc_status rc = xtc_model_create(&m, cfg, strlen(cfg), 7, &err);
    CHECK(rc == XTC_OK && m, "data-dependent ALiBi model: %d %s", (int)rc, err.msg);
    if (!m)
        return;
    const int64_t tok[5] = {1, 5, 15, 0, 7};
    float mem[3 * 16] = {0};
    const float *mems[1] = {mem};
    struct xtc_inputs in = {.batch = 1, .len = 5, .tokens = tok, .mems = mems, .n_mems = 1, .mem_len = 3};
    expect_forward_error("data-dependent ALiBi with XL memories", m, &in, XTC_ERR_UNSUPPORTED,
                         "attn_data_dependent_alibi");
    in.mem_len = 0; /* zero-length memories: the bias still covers every key */
    struct xtc_outputs out;
    rc = xtc_model_forward(m, &in, &out, &err);
    CHECK(rc == XTC_OK, "data-dependent ALiBi with empty memories: %d %s", (int)rc, err.msg);
    xtc_kv_cache_t kc = NULL;
    rc = xtc_kv_cache_create(&kc, m, 1, 8, &err);
    CHECK(rc == XTC_ERR_UNSUPPORTED && !kc && strstr(err.msg, "attn_data_dependent_alibi"),
          "KV cache with data-dependent ALiBi: %d %s", (int)rc, err.msg);
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = 4;
    o.temperature = 0;
    int64_t a[4], b[4], na = 0, nb = 0;
    float la[4 * 16], lb[4 * 16];
    o.cache_kv = true;
    rc = xtc_generate(m, tok, 1, 5, &o, NULL, NULL, a, &na, la, &err);
    CHECK(rc == XTC_OK, "generate (cache_kv) with data-dependent ALiBi: %d %s", (int)rc, err.msg);
    o.cache_kv = false;
    xtc_status rc2 = xtc_generate(m, tok, 1, 5, &o, NULL, NULL, b, &nb, lb, &err);
    CHECK(rc2 == XTC_OK, "generate (no cache) with data-dependent ALiBi: %d %s", (int)rc2, err.msg);
    CHECK(rc == XTC_OK && rc2 == XTC_OK && na == nb && memcmp(a, b, sizeof a) == 0 && memcmp(la, lb, sizeof la) == 0,
          "data-dependent ALiBi: generation with cache_kv is not the uncached one");
    xtc_model_free(m);
}

int main(void) {
    test_not_regular_files();
    snprintf(g_dir, sizeof g_dir, "/tmp/xtc_test_model_errors_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_load_errors();
    test_forward_errors();
    test_stack_errors();
    test_polar_call_errors();
    test_continuous();
    test_data_dependent_alibi();
    test_position_overflow(); /* removes the directory */
    return xtc_check_report("test_model_errors");
}
