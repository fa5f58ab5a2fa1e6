/* Data parallelism: N processes (ranks) train one model. Every rank holds the whole
 * model and optimiser state, computes the gradients of its share of the global batch,
 * and the ranks sum them; the updates are then the same everywhere.
 *
 * The sum overlaps the backward pass of the step's last micro-batch: the gradient
 * block is cut into buckets of whole sub-layers, and each bucket's all-reduce starts
 * as soon as the backward has finished its sub-layers (the last sub-layer's first:
 * backward runs top down). The step waits for them only before clipping and AdamW.
 * The parameter layout this relies on (params.c: embeddings, sub-layers in order, a
 * learned bias table, final norm, logits) is checked; any other layout falls back to
 * one bucket after the backward.
 *
 * With the optimiser state sharded (ZeRO-1, as llm.c), rank r owns the AdamW moments of
 * the contiguous parameters [shard_lo[r], shard_lo[r + 1]). Each bucket is reduce-scattered
 * instead of all-reduced: a rank receives the sum of the bucket's part that falls in its
 * shard, in its place in the gradient block (which is all the update needs). After the
 * update of its shard every rank all-gathers the parameters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/alloc.h"
#include "core/status.h"
#include "layers/stack.h"
#include "model/model.h"
#include "train/trainer.h"

/* Aim for about four buckets per step (enough to hide most of the sum behind the backward
 * of the later sub-layers), each at least 64 K floats (smaller ones cost more in latency
 * than they hide) and at most 4 M (16 MB, so that the first starts early in big models). */
static size_t bucket_size(size_t n) {
    size_t b = n / 4;
    return b < (1u << 16) ? (1u << 16) : b > (4u << 20) ? (4u << 20) : b;
}

static void plan_buckets(struct xtc_trainer *t) {
    struct xtc_dp *d = &t->dp;
    const struct xtc_model *m = t->model;
    const struct xtc_stack *s = &m->net.stack;
    d->n = m->n_trainable;
    d->bucket_floats = bucket_size(d->n);
    d->n_sub = s->n_sub;
    d->plan_ok = false;
    free(d->sub_lo);
    d->sub_lo = malloc(sizeof(size_t) * (size_t)(s->n_sub > 0 ? s->n_sub : 1));
    if (!d->sub_lo || s->n_sub < 1 || !s->final_norm)
        return;
    bool ok = true;
    for (int l = 0; l < s->n_sub; l++) {
        ok = ok && s->sub[l].norm && s->sub[l].norm >= m->data;
        d->sub_lo[l] = ok ? (size_t)(s->sub[l].norm - m->data) : 0;
        ok = ok && (l == 0 || d->sub_lo[l] > d->sub_lo[l - 1]);
    }
    const float *bias = s->bias.params[0] ? s->bias.params[0] : s->final_norm;
    d->layers_hi = (size_t)(bias - m->data);
    d->tail_lo = (size_t)(s->final_norm - m->data);
    d->plan_ok = ok && d->layers_hi > d->sub_lo[s->n_sub - 1] && d->tail_lo >= d->layers_hi && d->tail_lo < d->n;
}

/* d->counts[r]: how many of the floats [lo, hi) fall in rank r's shard (consecutive runs, in
 * rank order, as a reduce-scatter of [lo, hi) hands them out) */
static void counts_in_shards(struct xtc_dp *d, size_t lo, size_t hi) {
    for (int r = 0; r < d->size; r++) {
        size_t a = lo > d->shard_lo[r] ? lo : d->shard_lo[r];
        size_t b = hi < d->shard_lo[r + 1] ? hi : d->shard_lo[r + 1];
        d->counts[r] = b > a ? b - a : 0;
    }
}

static void start_range(struct xtc_trainer *t, size_t lo, size_t hi) {
    struct xtc_dp *d = &t->dp;
    const size_t piece = (size_t)1 << 30; /* MPI counts are ints */
    for (; lo < hi && d->hook_rc == XTC_OK; lo += piece) {
        size_t n = hi - lo < piece ? hi - lo : piece;
        if (d->n_req == XTC_DP_MAX_BUCKETS) {
            d->hook_rc = xtc_error_set(&d->hook_err, XTC_ERR_ARG, "more than %d gradient buckets", XTC_DP_MAX_BUCKETS);
            return;
        }
        d->started[d->n_req] = xtc_comm_now();
        if (d->zero) {
            counts_in_shards(d, lo, lo + n);
            d->hook_rc = d->comm->ops->reduce_scatter_start(d->comm, t->model->grad + lo, d->counts,
                                                            &d->req[d->n_req], &d->hook_err);
        } else {
            d->hook_rc =
                d->comm->ops->allreduce_start(d->comm, t->model->grad + lo, n, &d->req[d->n_req], &d->hook_err);
        }
        if (d->hook_rc == XTC_OK)
            d->n_req++;
    }
}

/* Sub-layer `sub` of a backward call is done. Only the last backward call of the step
 * completes gradients (a Transformer-XL crop makes one call per segment). */
static void on_layer_done(void *user, int sub) {
    struct xtc_trainer *t = user;
    struct xtc_dp *d = &t->dp;
    if (d->backward_seen < d->n_backward - 1) {
        d->backward_seen += sub == 0;
        return;
    }
    if (!d->plan_ok)
        return;
    if (sub == d->n_sub - 1 && d->tail_lo > d->layers_hi)
        start_range(t, d->tail_lo, d->n); /* final norm and logits, apart from a bias table */
    size_t lo = d->sub_lo[sub];
    if (d->pend_hi - lo >= d->bucket_floats) {
        start_range(t, lo, d->pend_hi);
        d->pend_hi = lo;
    }
    if (d->comm->ops->progress)
        d->comm->ops->progress(d->comm);
}

void xtc_dp_arm(struct xtc_trainer *t) {
    struct xtc_dp *d = &t->dp;
    int64_t targets = t->o.seq_len, seg = t->o.xl_segments > 0 ? t->segment : t->o.seq_len;
    d->n_backward = (int)((targets + seg - 1) / seg);
    d->backward_seen = 0;
    d->pend_hi = d->tail_lo > d->layers_hi ? d->layers_hi : d->n;
    d->n_req = 0;
    d->hook_rc = XTC_OK;
    t->model->grad_hook = on_layer_done;
    t->model->grad_hook_user = t;
}

xtc_status xtc_dp_sum(struct xtc_trainer *t, double *v, size_t n, struct xtc_error *err) {
    return t->dp.comm->ops->allreduce_f64(t->dp.comm, v, n, err);
}

xtc_status xtc_dp_finish(struct xtc_trainer *t, double *loss, struct xtc_error *err) {
    struct xtc_dp *d = &t->dp;
    t->model->grad_hook = NULL;
    t->model->grad_hook_user = NULL;
    if (d->plan_ok) {
        start_range(t, 0, d->pend_hi); /* the embeddings with what waited for more */
        if (d->tail_lo > d->layers_hi)
            start_range(t, d->layers_hi, d->tail_lo);
    } else {
        start_range(t, 0, d->n);
    }
    xtc_status rc = d->hook_rc;
    if (rc != XTC_OK)
        *err = d->hook_err;
    /* the loss travels while the buckets do */
    if (rc == XTC_OK)
        rc = d->comm->ops->allreduce_f64(d->comm, loss, 1, err);
    double t0 = xtc_comm_now(), last = t0;
    for (int i = 0; i < d->n_req; i++) {
        double done_at;
        xtc_status w = d->comm->ops->wait(d->comm, d->req[i], &done_at, err);
        if (w != XTC_OK && rc == XTC_OK)
            rc = w;
        last = done_at > last ? done_at : last;
    }
    if (rc != XTC_OK)
        return rc;
    double end = xtc_comm_now();
    d->exposed_s += end - t0;
    d->in_flight_s += (last > end ? end : last) - (d->n_req ? d->started[0] : t0);
    d->buckets = d->n_req;
    d->steps++;
    return XTC_OK;
}

// --- the sharded optimiser's update

xtc_status xtc_dp_zero_clip(struct xtc_trainer *t, double *norm, struct xtc_error *err) {
    struct xtc_dp *d = &t->dp;
    const struct xtc_backend *be = xtc_backend_get();
    float *g = t->model->grad + d->shard_lo[d->rank];
    size_t n = d->shard_lo[d->rank + 1] - d->shard_lo[d->rank];
    double sumsq = be->grad_sumsq(g, n);
    XTC_TRY(d->comm->ops->allreduce_f64(d->comm, &sumsq, 1, err));
    *norm = sqrt(sumsq);
    /* xtc_clip_grad_norm's coefficient, from the global norm */
    double max_norm = t->o.grad_clip;
    if (max_norm > 0 && isfinite(*norm)) {
        double coef = max_norm / (*norm + 1e-6);
        if (coef < 1.0)
            be->grad_scale(g, n, (float)coef);
    }
    return XTC_OK;
}

xtc_status xtc_dp_zero_update(struct xtc_trainer *t, float lr, struct xtc_error *err) {
    struct xtc_dp *d = &t->dp;
    size_t lo = d->shard_lo[d->rank];
    xtc_adamw_step(&t->opt, t->model->data + lo, t->model->grad + lo, lr);
    counts_in_shards(d, 0, d->n);
    double t0 = xtc_comm_now();
    XTC_TRY(d->comm->ops->allgather(d->comm, t->model->data + lo, t->model->data, d->counts, err));
    d->allgather_s += xtc_comm_now() - t0;
    return XTC_OK;
}

/* One blocking sum of the whole gradient block (zeros after zero_grad): what a step costs
 * without overlap (with a sharded optimiser: the reduce-scatter). The best of three, as the
 * first carries connection set-up. */
static xtc_status measure_blocking(struct xtc_trainer *t, struct xtc_error *err) {
    struct xtc_dp *d = &t->dp;
    double best = -1;
    for (int k = 0; k < 3; k++) {
        XTC_TRY(d->comm->ops->barrier(d->comm, err));
        double t0 = xtc_comm_now(), done_at;
        int req;
        for (size_t lo = 0; lo < d->n; lo += (size_t)1 << 30) {
            size_t n = d->n - lo < ((size_t)1 << 30) ? d->n - lo : (size_t)1 << 30;
            if (d->zero) {
                counts_in_shards(d, lo, lo + n);
                XTC_TRY(d->comm->ops->reduce_scatter_start(d->comm, t->model->grad + lo, d->counts, &req, err));
            } else {
                XTC_TRY(d->comm->ops->allreduce_start(d->comm, t->model->grad + lo, n, &req, err));
            }
            XTC_TRY(d->comm->ops->wait(d->comm, req, &done_at, err));
        }
        double dt = xtc_comm_now() - t0;
        best = best < 0 || dt < best ? dt : best;
    }
    d->blocking_s = best;
    return XTC_OK;
}

void xtc_dp_free(struct xtc_trainer *t) {
    free(t->dp.sub_lo);
    free(t->dp.shard_lo);
    free(t->dp.counts);
    t->dp.sub_lo = NULL;
    t->dp.shard_lo = t->dp.counts = NULL;
}

static xtc_status all_agree(struct xtc_comm *c, xtc_status mine, struct xtc_error *err);

/* Rank 0's whole AdamW state (t->opt, on rank 0 only) becomes every rank's shard of it.
 * Rank 0 stages each moment in the gradient block (n floats, zeros until the first step)
 * and frees it before allocating its shard, so that it never holds more than the whole
 * state it came with. */
static xtc_status shard_optimizer(struct xtc_trainer *t, struct xtc_comm *c, struct xtc_error *err) {
    struct xtc_dp *d = &t->dp;
    size_t n = t->model->n_trainable;
    d->rank = c->rank;
    d->size = c->size;
    d->shard_lo = malloc(sizeof(size_t) * ((size_t)c->size + 1));
    d->counts = malloc(sizeof(size_t) * (size_t)c->size);
    xtc_status rc = d->shard_lo && d->counts ? XTC_OK : xtc_error_set(err, XTC_ERR_NOMEM, "optimiser shards");
    if (all_agree(c, rc, err) != XTC_OK)
        return rc != XTC_OK ? rc : xtc_error_set(err, XTC_ERR_NOMEM, "another rank could not plan its shard");
    for (int r = 0; r <= c->size; r++)
        d->shard_lo[r] = n / (size_t)c->size * (size_t)r + n % (size_t)c->size * (size_t)r / (size_t)c->size;
    counts_in_shards(d, 0, n);
    const size_t mine = d->counts[c->rank];
    float *stage = t->model->grad;
    float **moment[2] = {&t->opt.m, &t->opt.v};
    for (int k = 0; k < 2 && rc == XTC_OK; k++) {
        if (c->rank == 0)
            memcpy(stage, *moment[k], n * sizeof(float));
        free(*moment[k]);
        *moment[k] = xtc_alloc_large(mine * sizeof(float));
        rc = *moment[k] ? XTC_OK : xtc_error_set(err, XTC_ERR_NOMEM, "AdamW shard of %zu parameters", mine);
        if (all_agree(c, rc, err) != XTC_OK) {
            rc = rc != XTC_OK ? rc : xtc_error_set(err, XTC_ERR_NOMEM, "another rank could not allocate its shard");
            break;
        }
        rc = c->ops->scatter(c, stage, *moment[k], d->counts, 0, err);
    }
    t->opt.n = mine;
    if (c->rank == 0)
        memset(stage, 0, n * sizeof(float));
    d->zero = rc == XTC_OK;
    return rc;
}

// --- joining a job

/* What rank 0 tells the others before they can make their trainer. */
struct share_header {
    int64_t ok;
    uint64_t config_len, corpus_len, corpus_hash, n_trainable;
    struct xtc_train_options opts;
    int64_t step, adam_t, ck_ranks, zero;
    uint64_t rng[4];
};

/* XTC_OK when mine is XTC_OK on every rank (a collective). */
static xtc_status all_agree(struct xtc_comm *c, xtc_status mine, struct xtc_error *err) {
    double bad = mine != XTC_OK;
    struct xtc_error ignored;
    if (c->ops->allreduce_f64(c, &bad, 1, mine != XTC_OK ? &ignored : err) != XTC_OK)
        return XTC_ERR_BACKEND;
    return bad > 0 ? XTC_ERR_ARG : XTC_OK;
}

xtc_status xtc_trainer_share(xtc_trainer_t *tp, xtc_comm_t comm, const uint8_t *corpus, size_t len,
                             struct xtc_error *err) {
    return xtc_trainer_share_ex(tp, comm, corpus, len, 0, err);
}

xtc_status xtc_trainer_share_ex(xtc_trainer_t *tp, xtc_comm_t comm, const uint8_t *corpus, size_t len,
                                unsigned flags, struct xtc_error *err) {
    if (!tp || !comm || !corpus)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_share: NULL argument");
    const int rank = comm->rank;
    struct xtc_trainer *t = rank == 0 ? *tp : NULL;
    if (rank != 0 && *tp) {
        xtc_trainer_free(*tp);
        *tp = NULL;
    }
    struct share_header h;
    memset(&h, 0, sizeof h);
    if (t) {
        h = (struct share_header){.ok = 1, .config_len = strlen(t->model->config_json), .corpus_len = t->len,
                                  .corpus_hash = t->corpus_hash, .n_trainable = t->model->n_trainable,
                                  .opts = t->o, .step = t->step, .adam_t = t->opt.t, .ck_ranks = t->dp.ck_ranks,
                                  .zero = comm->size > 1 && !(flags & XTC_SHARE_REPLICATE_OPTIMIZER)};
        memcpy(h.rng, t->rng.s, sizeof h.rng);
    }
    xtc_status rc = comm->ops->broadcast(comm, &h, sizeof h, 0, err);
    if (rc == XTC_OK && !h.ok)
        rc = xtc_error_set(err, XTC_ERR_ARG, rank == 0 ? "xtc_trainer_share: rank 0 brings no trainer"
                                                       : "rank 0 could not start the run (its message says why)");
    if (rc != XTC_OK)
        return rc; /* every rank fails here alike */
    char *config = rank != 0 ? malloc(h.config_len + 1) : t->model->config_json;
    if (!config)
        XTC_FAIL(err, XTC_ERR_NOMEM, "configuration"); /* the caller ends the job */
    rc = comm->ops->broadcast(comm, config, h.config_len, 0, err);
    /* from here every rank takes part in every collective, whatever failed locally, so that
     * a failure on one rank ends the call on all of them instead of leaving them waiting */
    if (rank != 0 && rc == XTC_OK) {
        config[h.config_len] = '\0';
        uint64_t fp = xtc_corpus_fingerprint(corpus, len);
        if (len != h.corpus_len || fp != h.corpus_hash) {
            rc = xtc_error_set(err, XTC_ERR_CONFIG,
                               "rank %d's corpus (%zu bytes, fingerprint %016llx) is not rank 0's (%llu bytes, "
                               "fingerprint %016llx): every process must read the same corpus",
                               rank, len, (unsigned long long)fp, (unsigned long long)h.corpus_len,
                               (unsigned long long)h.corpus_hash);
        } else {
            xtc_model_t m;
            rc = xtc_model_create(&m, config, h.config_len, h.opts.seed, err);
            if (rc == XTC_OK)
                rc = xtc_trainer_make(&t, m, corpus, len, &h.opts, !h.zero, err);
            if (rc == XTC_OK && t->model->n_trainable != h.n_trainable)
                rc = xtc_error_set(err, XTC_ERR_CONFIG, "rank %d's model has %zu parameters, rank 0's %llu", rank,
                                   t->model->n_trainable, (unsigned long long)h.n_trainable);
        }
    }
    if (rank != 0)
        free(config);
    xtc_status agreed = all_agree(comm, rc, err);
    if (rc == XTC_OK && agreed != XTC_OK)
        rc = xtc_error_set(err, XTC_ERR_CONFIG, "another rank could not join the run (its message says why)");
    size_t n = (size_t)h.n_trainable;
    if (rc == XTC_OK)
        rc = comm->ops->broadcast(comm, t->model->data, n * sizeof(float), 0, err);
    if (rc == XTC_OK && h.zero) {
        t->opt.t = h.adam_t;
        rc = shard_optimizer(t, comm, err);
    }
    if (rc == XTC_OK && !h.zero)
        rc = comm->ops->broadcast(comm, t->opt.m, n * sizeof(float), 0, err);
    if (rc == XTC_OK && !h.zero)
        rc = comm->ops->broadcast(comm, t->opt.v, n * sizeof(float), 0, err);
    size_t *starts = NULL;
    if (rc == XTC_OK) {
        starts = realloc(t->starts, sizeof(size_t) * (size_t)t->o.batch * (size_t)t->o.accum * (size_t)comm->size);
        if (starts)
            t->starts = starts;
        else
            rc = xtc_error_set(err, XTC_ERR_NOMEM, "crop offsets of %d ranks", comm->size);
    }
    if (rc == XTC_OK) {
        t->step = h.step;
        t->opt.t = h.adam_t;
        memcpy(t->rng.s, h.rng, sizeof h.rng);
        t->dp.comm = comm;
        t->dp.rank = rank;
        t->dp.size = comm->size;
        t->dp.ck_ranks = (int)h.ck_ranks;
        plan_buckets(t);
        if (!t->dp.sub_lo)
            rc = xtc_error_set(err, XTC_ERR_NOMEM, "gradient buckets");
    }
    if (rc == XTC_OK && comm->size > 1)
        rc = measure_blocking(t, err);
    if (rc != XTC_OK) {
        xtc_trainer_free(t);
        *tp = NULL;
        return rc;
    }
    *tp = t;
    return XTC_OK;
}

void xtc_trainer_comm_stats(const struct xtc_trainer *t, struct xtc_comm_stats *s) {
    memset(s, 0, sizeof *s);
    if (!t)
        return;
    s->ranks = t->dp.size;
    s->checkpoint_ranks = t->dp.ck_ranks;
    s->sharded = t->dp.zero;
    s->opt_bytes_full = 2.0 * sizeof(float) * (double)t->model->n_trainable;
    s->opt_bytes = s->opt_bytes_full;
    if (t->dp.zero) {
        size_t most = 0;
        for (int r = 0; r < t->dp.size; r++)
            most = t->dp.shard_lo[r + 1] - t->dp.shard_lo[r] > most ? t->dp.shard_lo[r + 1] - t->dp.shard_lo[r] : most;
        s->opt_bytes = 2.0 * sizeof(float) * (double)most;
    }
    s->allgather_s = t->dp.allgather_s;
    if (t->dp.size < 2)
        return;
    s->buckets = t->dp.buckets;
    s->bytes = (double)t->dp.n * sizeof(float);
    s->steps = t->dp.steps;
    s->exposed_s = t->dp.exposed_s;
    s->in_flight_s = t->dp.in_flight_s;
    s->blocking_s = t->dp.blocking_s;
}

// --- checkpoints

/* FNV-1a over the bytes of n floats */
static uint64_t fingerprint(const float *x, size_t n) {
    return xtc_corpus_fingerprint((const uint8_t *)x, n * sizeof(float));
}

xtc_status xtc_dp_save(struct xtc_trainer *t, const char *dir, struct xtc_error *err) {
    struct xtc_comm *c = t->dp.comm;
    /* the ranks apply the same sums and updates, so their parameters and moments must be
     * equal bit for bit; a checkpoint of diverged ranks would silently be rank 0's alone */
    size_t n = t->model->n_trainable;
    /* sharded moments differ by design; they are gathered below */
    uint64_t mine[3] = {fingerprint(t->model->data, n), t->dp.zero ? 0 : fingerprint(t->opt.m, n),
                        t->dp.zero ? 0 : fingerprint(t->opt.v, n)};
    uint64_t root[3];
    memcpy(root, mine, sizeof root);
    XTC_TRY(c->ops->broadcast(c, root, sizeof root, 0, err));
    double diverged = memcmp(root, mine, sizeof root) != 0;
    XTC_TRY(c->ops->allreduce_f64(c, &diverged, 1, err));
    if (diverged > 0)
        XTC_FAIL(err, XTC_ERR_NUMERIC,
                 "step %lld: the parameters or AdamW moments of %.0f rank(s) differ from rank 0's; no checkpoint "
                 "written", (long long)t->step, diverged);
    struct {
        int32_t rc;
        char msg[XTC_ERROR_MSG_MAX];
    } result = {0};
    /* a sharded state is written whole, so the file does not depend on the number of ranks:
     * rank 0 gathers it for the time of the save */
    float *m = t->opt.m, *v = t->opt.v;
    if (t->dp.zero) {
        m = v = NULL;
        xtc_status rc = XTC_OK;
        if (t->dp.rank == 0) {
            /* m goes into the gradient block, which the next step clears anyway (and which
             * outside this rank's shard holds no sums): rank 0 then holds no more than a
             * replicated state would */
            m = t->model->grad;
            v = xtc_alloc_large(n * sizeof(float));
            if (!v)
                rc = xtc_error_set(err, XTC_ERR_NOMEM, "out of memory gathering the AdamW state of %zu parameters", n);
        }
        rc = all_agree(c, rc, err) != XTC_OK && rc == XTC_OK
                 ? xtc_error_set(err, XTC_ERR_NOMEM, "rank 0 could not gather the AdamW state")
                 : rc;
        counts_in_shards(&t->dp, 0, n);
        if (rc == XTC_OK)
            rc = c->ops->gather(c, t->opt.m, m, t->dp.counts, 0, err);
        if (rc == XTC_OK)
            rc = c->ops->gather(c, t->opt.v, v, t->dp.counts, 0, err);
        if (rc != XTC_OK) {
            free(v);
            return rc;
        }
    }
    if (t->dp.rank == 0) {
        struct xtc_error e = {0};
        result.rc = (int32_t)xtc_trainer_save_local(t, dir, m, v, &e);
        memcpy(result.msg, e.msg, sizeof result.msg);
    }
    if (t->dp.zero)
        free(v);
    /* every rank learns whether the checkpoint exists before any goes on */
    XTC_TRY(c->ops->broadcast(c, &result, sizeof result, 0, err));
    if (result.rc != XTC_OK) {
        result.msg[sizeof result.msg - 1] = '\0';
        if (t->dp.rank == 0)
            XTC_FAIL(err, (xtc_status)result.rc, "%s", result.msg);
        XTC_FAIL(err, (xtc_status)result.rc, "rank 0: %s", result.msg);
    }
    return XTC_OK;
}
