/* The training loop's step, evaluation and checkpoints (the CLI drives it and
 * prints). Byte-level language modelling as x-transformers' enwik8 example:
 * random crops of seq_len + 1 bytes; the model is fed the first seq_len and
 * scored on the next byte at every position (for a causal model this is the
 * AutoregressiveWrapper's loss: its extra last position is never scored).
 * Transformer-XL mode trains each crop segment by segment with memories,
 * detached between segments, loss weighted by segment length. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/status.h"
#include "io/config_json.h"
#include "model/model.h"
#include "train/trainer.h"
#include "xtc/train.h"

void xtc_train_options_default(struct xtc_train_options *o) {
    *o = (struct xtc_train_options){
        .batch = 4, .seq_len = 256, .accum = 1, .steps = 1000, .warmup = 100,
        .lr = 1e-3f, .min_lr = 1e-4f, .weight_decay = 0.01f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f,
        .grad_clip = 0.5f, .val_fraction = 0.05, .seed = 42, .xl_segments = 0, .dtype = XTC_DTYPE_F32,
    };
}

uint64_t xtc_corpus_fingerprint(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; p && i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static int64_t crop_len(const struct xtc_trainer *t) {
    return t->o.xl_segments > 0 ? (int64_t)t->o.xl_segments * t->segment + 1 : t->o.seq_len + 1;
}

/* Tokens per forward call: max_seq_len segments in XL mode, else the whole crop. */
static int64_t seg_len(const struct xtc_trainer *t) { return t->o.xl_segments > 0 ? t->segment : t->o.seq_len; }

static xtc_status check_options(const struct xtc_train_options *o, struct xtc_error *err) {
    if (o->batch < 1 || o->batch > 65536 || o->seq_len < 1 || o->seq_len > (1 << 20) || o->accum < 1 ||
        o->accum > 65536 || o->steps < 0 || o->warmup < 0)
        XTC_FAIL(err, XTC_ERR_ARG, "training options out of range (batch, seq_len, accum >= 1; steps, warmup >= 0)");
    if (!(o->lr > 0 && isfinite(o->lr)) || !(o->min_lr >= 0 && isfinite(o->min_lr)) ||
        !(o->grad_clip >= 0 && isfinite(o->grad_clip)) || !(o->val_fraction > 0 && o->val_fraction < 1))
        XTC_FAIL(err, XTC_ERR_ARG,
                 "training options: finite lr > 0, min_lr >= 0, grad_clip >= 0; 0 < val_fraction < 1");
    if (!(o->weight_decay >= 0 && isfinite(o->weight_decay)) || !(o->beta1 >= 0 && o->beta1 < 1) ||
        !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0 && isfinite(o->eps)))
        XTC_FAIL(err, XTC_ERR_ARG, "AdamW options: finite weight_decay >= 0, 0 <= beta1, beta2 < 1, finite eps > 0");
    if (o->xl_segments < 0 || o->xl_segments > 4096)
        XTC_FAIL(err, XTC_ERR_ARG, "xl_segments must be between 0 and 4096");
    if (o->dtype != XTC_DTYPE_F32 && o->dtype != XTC_DTYPE_BF16)
        XTC_FAIL(err, XTC_ERR_ARG, "training dtype must be F32 or BF16");
    return XTC_OK;
}

static xtc_status setup(struct xtc_trainer *t, const uint8_t *corpus, size_t len, struct xtc_error *err) {
    const struct xtc_config *c = &t->model->cfg;
    if (c->model_class != XTC_MODEL_TRANSFORMER_WRAPPER || !c->net.layers.causal || c->net.wrap.return_only_embed)
        XTC_FAIL(err, XTC_ERR_CONFIG, "byte-level training needs a TransformerWrapper around a Decoder");
    if (c->net.wrap.num_tokens < 256)
        XTC_FAIL(err, XTC_ERR_CONFIG, "byte-level training needs num_tokens >= 256 (got %d)", c->net.wrap.num_tokens);
    if (c->net.wrap.logits_dim < 256) /* every byte is a target: the cross-entropy needs a logit for it */
        XTC_FAIL(err, XTC_ERR_CONFIG, "byte-level training needs logits_dim >= 256 (got %d)", c->net.wrap.logits_dim);
    if (c->net.layers.cross_attend)
        XTC_FAIL(err, XTC_ERR_CONFIG, "byte-level training of a cross-attending decoder needs a context");
    t->segment = c->net.wrap.max_seq_len;
    if (t->o.xl_segments > 0) {
        if (t->segment < 1)
            XTC_FAIL(err, XTC_ERR_CONFIG, "Transformer-XL training splits crops into max_seq_len segments: set max_seq_len");
        if (c->net.wrap.max_mem_len < 1)
            XTC_FAIL(err, XTC_ERR_CONFIG,
                     "Transformer-XL training carries memories between segments: set max_mem_len > 0 (0 keeps none)");
        t->o.seq_len = (int64_t)t->o.xl_segments * t->segment;
    } else if (c->net.wrap.use_abs_pos_emb && !c->net.wrap.scaled_sinu_pos_emb && t->o.seq_len > t->segment) {
        XTC_FAIL(err, XTC_ERR_ARG, "seq_len %lld exceeds max_seq_len %d of the absolute positional embedding",
                 (long long)t->o.seq_len, t->segment);
    }
    /* every step feeds (batch, seg_len) tokens to one forward call: refuse what it would refuse
     * before anything is allocated for it */
    if (t->o.batch * seg_len(t) > XTC_MAX_ROWS)
        XTC_FAIL(err, XTC_ERR_ARG, "batch %lld x %s %lld = %lld tokens per forward call exceeds 2^28",
                 (long long)t->o.batch, t->o.xl_segments > 0 ? "max_seq_len" : "seq_len", (long long)seg_len(t),
                 (long long)(t->o.batch * seg_len(t)));
    int64_t L = crop_len(t);
    size_t n_val = (size_t)((double)len * t->o.val_fraction);
    if (len < (size_t)L * 2 || n_val < (size_t)L || len - n_val < (size_t)L)
        XTC_FAIL(err, XTC_ERR_ARG,
                 "the corpus has %zu bytes: too short for crops of %lld bytes in both the training part and the "
                 "held-out %.0f%% (it needs at least %lld bytes)",
                 len, (long long)L, t->o.val_fraction * 100, (long long)(L / t->o.val_fraction + L + 1));
    t->corpus = malloc(len);
    int64_t B = t->o.batch;
    t->x = malloc(sizeof(int64_t) * (size_t)(B * L));
    t->starts = malloc(sizeof(size_t) * (size_t)B * (size_t)t->o.accum);
    if (!t->corpus || !t->x || !t->starts)
        XTC_FAIL(err, XTC_ERR_NOMEM,
                 "out of memory allocating the training buffers (a %zu-byte corpus, %lld x %lld tokens)", len,
                 (long long)B, (long long)L);
    XTC_TRY(xtc_xl_workspace_create(&t->ws, t->model, B, seg_len(t), err));
    memcpy(t->corpus, corpus, len);
    t->corpus_hash = xtc_corpus_fingerprint(corpus, len);
    t->len = len;
    t->n_train = len - n_val;
    XTC_TRY(xtc_model_zero_grad(t->model, err));
    return XTC_OK;
}

xtc_status xtc_trainer_make(xtc_trainer_t *out, xtc_model_t model, const uint8_t *corpus, size_t len,
                            const struct xtc_train_options *o, bool with_opt, struct xtc_error *err) {
    struct xtc_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        xtc_model_free(model);
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating a trainer");
    }
    t->model = model;
    t->o = *o;
    t->lock_fd = -1;
    t->dp.size = 1;
    /* the checkpoints state the defaults that changed between x-transformers releases */
    char *explicit_cfg = xtc_config_json_explicit(model->config_json, strlen(model->config_json));
    if (explicit_cfg) {
        free(model->config_json);
        model->config_json = explicit_cfg;
    }
    xtc_rng_seed(&t->rng, o->seed);
    xtc_status rc = check_options(o, err);
    if (rc == XTC_OK)
        rc = setup(t, corpus, len, err);
    if (rc == XTC_OK)
        rc = xtc_model_set_compute_dtype(model, o->dtype, err);
    if (rc == XTC_OK)
        rc = xtc_adamw_init(&t->opt, with_opt ? model->n_trainable : 0, o->beta1, o->beta2, o->eps, o->weight_decay,
                            err);
    if (rc != XTC_OK) {
        xtc_trainer_free(t);
        return rc;
    }
    *out = t;
    return XTC_OK;
}

xtc_status xtc_trainer_create(xtc_trainer_t *out, xtc_model_t model, const uint8_t *corpus, size_t len,
                              const struct xtc_train_options *o, struct xtc_error *err) {
    if (!out || !model || !corpus || !o) {
        xtc_model_free(model);
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_create: NULL argument");
    }
    *out = NULL;
    return xtc_trainer_make(out, model, corpus, len, o, true, err);
}

void xtc_trainer_free(xtc_trainer_t t) {
    if (!t)
        return;
    xtc_model_free(t->model);
    xtc_adamw_free(&t->opt);
    free(t->corpus);
    free(t->x);
    free(t->starts);
    xtc_dp_free(t);
    xtc_xl_workspace_free(t->ws);
    xtc_trainer_unlock(t);
    free(t);
}

xtc_model_t xtc_trainer_model(xtc_trainer_t t) { return t->model; }
const struct xtc_train_options *xtc_trainer_options(const struct xtc_trainer *t) { return &t->o; }
int64_t xtc_trainer_step_count(const struct xtc_trainer *t) { return t->step; }

/* ------------------------------------------------------------------ one batch */

/* n crop offsets in [lo, hi - crop_len] from rng. */
static void draw_starts(const struct xtc_trainer *t, struct xtc_rng *rng, size_t lo, size_t hi, size_t *starts,
                        size_t n) {
    int64_t L = crop_len(t);
    for (size_t i = 0; i < n; i++)
        starts[i] = lo + (size_t)xtc_rng_below(rng, (uint64_t)(hi - lo - (size_t)L + 1));
}

/* The batch crops at starts[0 .. batch) into t->x. */
static void fill_crops(struct xtc_trainer *t, const size_t *starts) {
    int64_t L = crop_len(t);
    for (int64_t b = 0; b < t->o.batch; b++)
        for (int64_t i = 0; i < L; i++)
            t->x[b * L + i] = t->corpus[starts[b] + (size_t)i];
}

/* Loss of the crops in t->x (and, with backward, gradients scaled by `scale`): the
 * Transformer-XL loop, which with one segment per crop is the plain next-token loss
 * (bytes are never ignored, so its mean of row means is the mean over all targets). */
static xtc_status run_batch(struct xtc_trainer *t, bool backward, float scale, double *loss, struct xtc_error *err) {
    struct xtc_xl_loss_options o = {.segment = seg_len(t), .ignore_index = -1, .scale = scale, .backward = backward};
    float l;
    XTC_TRY(xtc_xl_loss(t->model, t->x, t->o.batch, crop_len(t), &o, t->ws, &l, NULL, err));
    *loss = l;
    return XTC_OK;
}

/* This rank's micro-batches of the step: their mean loss into *total, gradients accumulated. */
static xtc_status micro_batches(struct xtc_trainer *t, double *total, struct xtc_error *err) {
    /* every rank draws the whole global batch, so the generator stays the same everywhere and
     * equals one process's with accum * N; rank r trains micro-batches r * accum ... */
    const int A = t->o.accum, N = t->dp.size, r = t->dp.rank;
    const size_t B = (size_t)t->o.batch;
    draw_starts(t, &t->rng, 0, t->n_train, t->starts, B * (size_t)A * (size_t)N);
    *total = 0;
    for (int a = 0; a < A; a++) {
        fill_crops(t, t->starts + ((size_t)r * (size_t)A + (size_t)a) * B);
        if (N > 1 && a == A - 1)
            xtc_dp_arm(t); /* the last micro-batch's backward completes the gradients */
        double loss;
        XTC_TRY(run_batch(t, true, 1.0f / (float)(A * N), &loss, err));
        *total += loss / (A * N);
    }
    return XTC_OK;
}

xtc_status xtc_trainer_step(xtc_trainer_t t, struct xtc_step_stats *stats, struct xtc_error *err) {
    if (!t || !stats)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_step: NULL argument");
    xtc_model_t m = t->model;
    XTC_TRY(xtc_model_zero_grad(m, err));
    const int A = t->o.accum, N = t->dp.size;
    /* the weights change only in the update below: with bf16 products the micro-batches share
     * one rounded copy of them, made by the first forward call (compute_dtype.c) */
    double total;
    xtc_context_autocast_pin(&m->base);
    xtc_status rc = micro_batches(t, &total, err);
    xtc_context_autocast_unpin(&m->base);
    XTC_TRY(rc);
    if (N > 1)
        XTC_TRY(xtc_dp_finish(t, &total, err));
    double norm;
    if (t->dp.zero)
        XTC_TRY(xtc_dp_zero_clip(t, &norm, err));
    else
        norm = xtc_clip_grad_norm(m->grad, m->n_trainable, t->o.grad_clip);
    if (!isfinite(total) || !isfinite(norm))
        XTC_FAIL(err, XTC_ERR_ARG, "step %lld: the %s is not finite (loss %g, gradient norm %g); parameters unchanged",
                 (long long)t->step + 1, isfinite(total) ? "gradient" : "loss", total, norm);
    float lr = xtc_lr_schedule(t->step, t->o.warmup, t->o.steps, t->o.lr, t->o.min_lr);
    if (t->dp.zero)
        XTC_TRY(xtc_dp_zero_update(t, lr, err));
    else
        xtc_adamw_step(&t->opt, m->data, m->grad, lr);
    t->step++;
    *stats = (struct xtc_step_stats){.step = t->step, .loss = (float)total, .lr = lr, .grad_norm = norm,
                                     .tokens = t->o.batch * A * N * (crop_len(t) - 1)};
    return XTC_OK;
}

const size_t *xtc_trainer_step_windows(const struct xtc_trainer *t, size_t *n, size_t *first) {
    size_t per_rank = (size_t)t->o.batch * (size_t)t->o.accum;
    *n = per_rank * (size_t)t->dp.size;
    *first = per_rank * (size_t)t->dp.rank;
    return t->starts;
}

xtc_status xtc_trainer_evaluate(xtc_trainer_t t, int n_batches, float *loss, struct xtc_error *err) {
    if (!t || !loss || n_batches < 1)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_evaluate: invalid arguments");
    /* fixed held-out crops, drawn from their own generator: evaluation never moves the
     * training stream, so resumed runs stay identical */
    struct xtc_rng rng;
    xtc_rng_seed(&rng, t->o.seed ^ 0x5eedf00dULL);
    double total = 0;
    size_t *starts = t->starts; /* B of them: the step's are drawn again by the next step */
    xtc_status rc = XTC_OK;
    xtc_context_autocast_pin(&t->model->base); /* one rounded copy for all batches, as in a step */
    for (int i = 0; i < n_batches && rc == XTC_OK; i++) {
        draw_starts(t, &rng, t->n_train, t->len, starts, (size_t)t->o.batch);
        if (i % t->dp.size != t->dp.rank)
            continue; /* another rank's batch */
        fill_crops(t, starts);
        double l = 0;
        rc = run_batch(t, false, 1.0f, &l, err);
        total += l;
    }
    xtc_context_autocast_unpin(&t->model->base);
    XTC_TRY(rc);
    if (t->dp.size > 1)
        XTC_TRY(xtc_dp_sum(t, &total, 1, err));
    *loss = (float)(total / n_batches);
    return XTC_OK;
}
