/* Data-parallel training, run under mpirun -np N (N >= 2): each rank takes a disjoint
 * share of every global batch (the windows are counted), N ranks with accum A end with
 * the parameters of one process with accum A * N (within float summation error: only
 * the order of the gradient sums differs), all ranks hold the same parameters bit for
 * bit, and a run resumed on the same N is bit-identical to an uninterrupted one. The AdamW
 * state is sharded (ZeRO-1) by default: it holds 1/N of the moments per rank and gives the
 * parameters of the replicated state (within float rounding of the sums). For a
 * rotary model with memory key/values (plain and Transformer-XL training), a T5 bias
 * model with tied embeddings (a learned table outside the sub-layers), each with the
 * default buckets and with one bucket per sub-layer.
 *   mpirun -np N test_data_parallel SCRATCH_DIR */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "corpus_text.h"
#include "train/trainer.h"
#include "xtc/xtc.h"

static const char *rotary_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, \"max_mem_len\": 16, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, \"heads\": 2, "
    "\"attn_dim_head\": 16, \"rotary_pos_emb\": true, \"rotary_emb_dim\": 16, \"attn_num_mem_kv\": 1}}}}";
static const char *t5_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 32, "
    "\"tie_embedding\": true, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 3, "
    "\"heads\": 2, \"attn_dim_head\": 16, \"rel_pos_bias\": true}}}}";

static int rank, ranks;

static xtc_trainer_t make(const char *config, const uint8_t *corpus, size_t len, const struct xtc_train_options *o) {
    xtc_model_t m;
    xtc_trainer_t t = NULL;
    struct xtc_error err;
    if (xtc_model_create(&m, config, strlen(config), o->seed, &err) != XTC_OK ||
        xtc_trainer_create(&t, m, corpus, len, o, &err) != XTC_OK)
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
    return t;
}

/* rank 0's trainer t0 (NULL elsewhere) shared by every rank */
static xtc_trainer_t share_ex(xtc_trainer_t t0, xtc_comm_t comm, const uint8_t *corpus, size_t len, size_t bucket,
                              unsigned flags) {
    xtc_trainer_t t = rank == 0 ? t0 : NULL;
    struct xtc_error err;
    if (xtc_trainer_share_ex(&t, comm, corpus, len, flags, &err) != XTC_OK) {
        fprintf(stderr, "rank %d: share: %s\n", rank, err.msg);
        return NULL;
    }
    if (bucket)
        t->dp.bucket_floats = bucket;
    return t;
}

static xtc_trainer_t share(xtc_trainer_t t0, xtc_comm_t comm, const uint8_t *corpus, size_t len, size_t bucket) {
    return share_ex(t0, comm, corpus, len, bucket, 0);
}

static int steps(xtc_trainer_t t, int n) {
    struct xtc_error err;
    struct xtc_step_stats st;
    for (int i = 0; i < n; i++)
        if (xtc_trainer_step(t, &st, &err) != XTC_OK) {
            fprintf(stderr, "rank %d: step: %s\n", rank, err.msg);
            return 1;
        }
    return 0;
}

static const float *params(xtc_trainer_t t, size_t *n) {
    xtc_model_t m = xtc_trainer_model(t);
    *n = (size_t)xtc_model_num_params(m);
    return xtc_model_param_data(m, 0);
}

/* Every rank's parameters equal rank 0's, bit for bit. */
static bool same_everywhere(xtc_trainer_t t) {
    size_t n;
    const float *p = params(t, &n);
    float *root = malloc(n * sizeof(float));
    memcpy(root, p, n * sizeof(float));
    MPI_Bcast(root, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int differ = memcmp(root, p, n * sizeof(float)) != 0, any;
    MPI_Allreduce(&differ, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    free(root);
    return !any;
}

/* Each global window used by exactly one rank, and the global batch is the one a single
 * process with accum * N draws. */
static void check_windows(xtc_trainer_t t, xtc_trainer_t ref, const char *what) {
    size_t n, first, n_ref, first_ref;
    const size_t *w = xtc_trainer_step_windows(t, &n, &first);
    const size_t *w_ref = xtc_trainer_step_windows(ref, &n_ref, &first_ref);
    size_t per_rank = n / (size_t)ranks;
    CHECK(n_ref == n && first_ref == 0 && memcmp(w, w_ref, n * sizeof(size_t)) == 0,
          "%s: the global batch is the single process's with accum x %d", what, ranks);
    int *used = calloc(n, sizeof(int)), *count = calloc(n, sizeof(int));
    for (size_t i = first; i < first + per_rank; i++)
        used[i] = 1;
    MPI_Allreduce(used, count, (int)n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += count[i] != 1;
    CHECK(bad == 0 && per_rank * (size_t)ranks == n, "%s: %d of %zu windows not used by exactly one rank", what, bad,
          n);
    free(used);
    free(count);
}

/* K steps on N ranks against one process with accum A * N. */
static void test_equivalence(xtc_comm_t comm, const char *config, int xl, size_t bucket, const char *what) {
    size_t len = 60000;
    uint8_t *corpus = xtc_test_corpus(len, 7);
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.batch = 2, o.seq_len = 16, o.accum = 2, o.steps = 10, o.warmup = 2, o.lr = 3e-3f, o.xl_segments = xl;
    struct xtc_train_options o_ref = o;
    o_ref.accum = o.accum * ranks;
    xtc_trainer_t ref = make(config, corpus, len, &o_ref);
    xtc_trainer_t t = share(rank == 0 ? make(config, corpus, len, &o) : NULL, comm, corpus, len, bucket);
    xtc_trainer_t rep = share_ex(rank == 0 ? make(config, corpus, len, &o) : NULL, comm, corpus, len, bucket,
                                 XTC_SHARE_REPLICATE_OPTIMIZER);
    CHECK(t && ref && rep, "%s: trainers", what);
    if (!t || !ref || !rep)
        MPI_Abort(MPI_COMM_WORLD, 1);
    const int K = 4;
    CHECK(steps(t, 1) == 0 && steps(ref, 1) == 0 && steps(rep, 1) == 0, "%s: first step", what);
    check_windows(t, ref, what);
    /* the loss and the gradient norm before clipping: a wrong scale of the sum shows here (AdamW
     * and clipping to a norm would hide it in the parameters) */
    double worst_loss = 0, worst_norm = 0;
    for (int k = 1; k < K; k++) {
        struct xtc_step_stats a, b, c;
        struct xtc_error err;
        CHECK(xtc_trainer_step(t, &a, &err) == XTC_OK && xtc_trainer_step(ref, &b, &err) == XTC_OK &&
                  xtc_trainer_step(rep, &c, &err) == XTC_OK,
              "%s: step", what);
        worst_loss = fmax(worst_loss, fabs((double)a.loss - b.loss) / b.loss);
        worst_norm = fmax(worst_norm, fabs(a.grad_norm - b.grad_norm) / b.grad_norm);
        worst_loss = fmax(worst_loss, fabs((double)a.loss - c.loss) / c.loss);
        worst_norm = fmax(worst_norm, fabs(a.grad_norm - c.grad_norm) / c.grad_norm);
        CHECK(a.tokens == b.tokens, "%s: tokens per step %lld, one process %lld", what, (long long)a.tokens,
              (long long)b.tokens);
    }
    /* float sums in another order: a few ulps relative */
    CHECK(worst_loss < 1e-5 && worst_norm < 1e-4, "%s: loss differs by %.3g, gradient norm by %.3g (relative)", what,
          worst_loss, worst_norm);
    size_t n, n_ref;
    const float *p = params(t, &n), *q = params(ref, &n_ref);
    double max_abs = 0;
    for (size_t i = 0; i < n && n == n_ref; i++)
        max_abs = fmax(max_abs, fabs((double)p[i] - (double)q[i]));
    /* The gradient sums run in another order (each rank's share, then across ranks), a few
     * float ulps per element; AdamW divides by sqrt(v), which for the smallest gradients
     * turns that into a relative change of the update, at most lr per step. Parameters here
     * are O(0.1) and K = 4 steps of lr 3e-3: an error below 1e-5 is float rounding, a wrong
     * scale or a missing rank's gradient moves them by ~lr. */
    CHECK(n == n_ref && max_abs < 1e-5, "%s: max |parameter difference| %.3g after %d steps", what, max_abs, K);
    /* the sharded optimiser against the replicated one: the same updates, the sums of the
     * gradients (reduce-scatter against all-reduce) may round differently */
    const float *pr = params(rep, &n_ref);
    double max_rep = 0;
    for (size_t i = 0; i < n && n == n_ref; i++)
        max_rep = fmax(max_rep, fabs((double)p[i] - (double)pr[i]));
    CHECK(n == n_ref && max_rep < 1e-5, "%s: sharded against replicated AdamW state: max |difference| %.3g", what,
          max_rep);
    if (rank == 0)
        printf("%s: %d ranks (sharded AdamW state) vs one process with accum x %d: max |difference| %.3g after %d "
               "steps; vs %d ranks with a replicated state: %.3g\n",
               what, ranks, ranks, max_abs, K, ranks, max_rep);
    CHECK(same_everywhere(t), "%s: every rank holds rank 0's parameters", what);
    struct xtc_comm_stats cs, cs_rep;
    xtc_trainer_comm_stats(t, &cs);
    xtc_trainer_comm_stats(rep, &cs_rep);
    /* the shards differ by at most one float */
    CHECK(cs.sharded && !cs_rep.sharded && cs_rep.opt_bytes == cs.opt_bytes_full &&
              fabs(cs.opt_bytes - cs.opt_bytes_full / ranks) <= 8,
          "%s: AdamW state per rank %.0f bytes sharded, %.0f replicated (%d ranks)", what, cs.opt_bytes,
          cs_rep.opt_bytes, ranks);
    CHECK(cs.ranks == ranks && cs.steps == K && cs.buckets >= 1, "%s: communication stats (%d buckets)", what,
          cs.buckets);
    if (bucket == 1)
        CHECK(cs.buckets >= 3, "%s: one bucket per sub-layer gives several (%d)", what, cs.buckets);
    xtc_trainer_free(t);
    xtc_trainer_free(ref);
    xtc_trainer_free(rep);
    free(corpus);
}

/* 3 + 3 steps through a checkpoint equal 6 uninterrupted steps, bit for bit. */
static void test_resume(xtc_comm_t comm, const char *scratch, int xl) {
    size_t len = 60000;
    uint8_t *corpus = xtc_test_corpus(len, 7);
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.batch = 2, o.seq_len = 16, o.accum = 1, o.steps = 6, o.warmup = 2, o.lr = 3e-3f, o.xl_segments = xl;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/resume-xl%d", scratch, xl);
    if (rank == 0)
        mkdir(dir, 0755);
    struct xtc_error err;
    xtc_trainer_t t = share(rank == 0 ? make(rotary_config, corpus, len, &o) : NULL, comm, corpus, len, 0);
    CHECK(t && steps(t, 3) == 0, "resume xl %d: first half", xl);
    CHECK(xtc_trainer_save(t, dir, &err) == XTC_OK, "resume xl %d: save: %s", xl, err.msg);
    CHECK(steps(t, 3) == 0, "resume xl %d: second half", xl);
    size_t n;
    const float *p = params(t, &n);
    float *want = malloc(n * sizeof(float));
    memcpy(want, p, n * sizeof(float));
    xtc_trainer_free(t);
    xtc_trainer_t r = NULL;
    if (rank == 0 && xtc_trainer_resume(&r, dir, NULL, corpus, len, NULL, &err) != XTC_OK)
        fprintf(stderr, "resume: %s\n", err.msg);
    r = share(r, comm, corpus, len, 0);
    CHECK(r && xtc_trainer_step_count(r) == 3 && steps(r, 3) == 0, "resume xl %d: resumed run", xl);
    if (r) {
        p = params(r, &n);
        CHECK(memcmp(p, want, n * sizeof(float)) == 0, "resume xl %d: bit-identical to the uninterrupted run", xl);
    }
    xtc_trainer_free(r);
    free(want);
    free(corpus);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: mpirun -np N test_data_parallel SCRATCH_DIR\n");
        return 2;
    }
    xtc_threads_set(1); /* oversubscribed ranks */
    xtc_comm_t comm;
    struct xtc_error err;
    if (xtc_comm_create(&comm, &err) != XTC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    rank = xtc_comm_rank(comm), ranks = xtc_comm_size(comm);
    CHECK(ranks >= 2 && strcmp(xtc_comm_name(comm), "mpi") == 0, "started by mpirun with several ranks (%d, %s)",
          ranks, xtc_comm_name(comm));
    test_equivalence(comm, rotary_config, 0, 0, "rotary");
    test_equivalence(comm, rotary_config, 0, 1, "rotary, a bucket per sub-layer");
    test_equivalence(comm, rotary_config, 2, 1, "rotary Transformer-XL, a bucket per sub-layer");
    test_equivalence(comm, t5_config, 0, 1, "T5 bias, tied embedding, a bucket per sub-layer");
    test_resume(comm, argv[1], 0);
    test_resume(comm, argv[1], 2);
    int failed = xtc_check_report("test_data_parallel") != 0, any;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    xtc_comm_free(comm);
    return any;
}
