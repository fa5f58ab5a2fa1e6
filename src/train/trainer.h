/* Trainer state (private; the public API is in xtc/train.h). */
#ifndef XTC_TRAINER_H
#define XTC_TRAINER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/rng.h"
#include "dist/comm.h"
#include "xtc/train.h"

#define XTC_DP_MAX_BUCKETS 512

/* Data parallelism (data_parallel.c): the ranks of a job, the plan that splits the gradient
 * block into buckets summed while the backward pass goes on, and the timings. */
struct xtc_dp {
    struct xtc_comm *comm; /* not owned; NULL: one process */
    int rank, size;
    /* the plan: sub-layer l's parameters are [sub_lo[l], sub_lo[l + 1]) (the last one ends at
     * layers_hi); a learned bias table [layers_hi, tail_lo) is complete only after sub-layer 0;
     * final norm and logits [tail_lo, n) before any sub-layer; embeddings [0, sub_lo[0]) last */
    bool plan_ok; /* false: one bucket after the backward (an unexpected parameter layout) */
    size_t *sub_lo, layers_hi, tail_lo, n, bucket_floats;
    int n_sub;
    /* the step in progress */
    int n_backward, backward_seen; /* backward calls per micro-batch; of the last one, those seen */
    size_t pend_hi;                /* [sub_lo of the last completed sub-layer, pend_hi) waits to be sent */
    int n_req, req[XTC_DP_MAX_BUCKETS];
    double started[XTC_DP_MAX_BUCKETS];
    xtc_status hook_rc; /* a failure inside the backward's callback, reported after it */
    struct xtc_error hook_err;
    /* timings (xtc_trainer_comm_stats) */
    int64_t steps;
    int buckets;
    double exposed_s, in_flight_s, blocking_s;
    int ck_ranks; /* processes the resumed checkpoint was trained on (0: unknown / new run) */
    /* ZeRO-1: rank r keeps the AdamW moments of parameters [shard_lo[r], shard_lo[r + 1]) only
     * (opt.n of them); the buckets are reduce-scattered, each rank updates its shard, and the
     * parameters are all-gathered. */
    bool zero;
    size_t *shard_lo; /* size + 1 offsets */
    size_t *counts;   /* size: scratch for the per-bucket counts */
    double allgather_s;
};

struct xtc_trainer {
    struct xtc_model *model;
    struct xtc_train_options o;
    struct xtc_adamw opt;
    struct xtc_rng rng;
    int64_t step;
    int segment;               /* max_seq_len: the XL segment length */
    uint8_t *corpus;
    size_t len, n_train;       /* training bytes [0, n_train), held-out [n_train, len) */
    int64_t *x;                /* crops (B, L) */
    size_t *starts;            /* the step's crop offsets, all ranks' (N * accum * B) */
    struct xtc_dp dp;
    xtc_xl_workspace_t ws;     /* the loss loop's buffers (segments, logit gradients, XL memories) */
    uint64_t corpus_hash;      /* FNV-1a 64 of the corpus bytes: a resume on another corpus is detected */
    int lock_fd;               /* DIR/.lock held (flock) for the run directory (lock_dev, lock_ino), or -1 */
    dev_t lock_dev;
    ino_t lock_ino;
};

/* Releases the trainer's run-directory lock (xtc_trainer_free does it). */
void xtc_trainer_unlock(struct xtc_trainer *t);

/* Creates a trainer owning model (freed on failure too). Without with_opt the AdamW
 * moments are left unallocated (opt.n == 0): a rank of a sharded optimiser allocates its
 * shard only, never the whole state. */
xtc_status xtc_trainer_make(xtc_trainer_t *out, struct xtc_model *model, const uint8_t *corpus, size_t len,
                            const struct xtc_train_options *o, bool with_opt, struct xtc_error *err);

/* A checkpoint's training state (train_state.safetensors), read in two parts because the
 * trainer is made in between: first the metadata (format, options (o's when flags has
 * XTC_RESUME_OPTIONS, else o's steps if o), corpus fingerprint against corpus, step,
 * AdamW's t, the generator), then the AdamW moments of n parameters into m and v (finite;
 * second moments >= 0). Every value is validated; errors name path and the field. */
struct xtc_train_state_meta {
    struct xtc_train_options opts;
    uint64_t step, adam_t, rng[4];
    uint64_t ranks; /* processes that trained it; 0 when the state does not say */
};
struct xtc_safetensors;
xtc_status xtc_train_state_read_meta(const struct xtc_safetensors *st, const char *path, const uint8_t *corpus,
                                     size_t len, unsigned flags, const struct xtc_train_options *o,
                                     struct xtc_train_state_meta *meta, struct xtc_error *err);
xtc_status xtc_train_state_read_moments(const struct xtc_safetensors *st, const char *path, size_t n, float *m,
                                        float *v, struct xtc_error *err);

/* xtc_trainer_save of one process: every rank of a job computes, rank 0 writes. m and v are
 * the whole AdamW moments (n_trainable floats each): t->opt's, or a sharded state gathered. */
xtc_status xtc_trainer_save_local(struct xtc_trainer *t, const char *dir, const float *m, const float *v,
                                  struct xtc_error *err);

/* data_parallel.c: the step's collective parts. dp_arm before the last micro-batch's loss,
 * dp_finish after it (sums *loss too and waits for every bucket); dp_save is
 * xtc_trainer_save for a job of several ranks; dp_free releases the plan. */
void xtc_dp_arm(struct xtc_trainer *t);
xtc_status xtc_dp_finish(struct xtc_trainer *t, double *loss, struct xtc_error *err);
xtc_status xtc_dp_sum(struct xtc_trainer *t, double *v, size_t n, struct xtc_error *err);
xtc_status xtc_dp_save(struct xtc_trainer *t, const char *dir, struct xtc_error *err);
void xtc_dp_free(struct xtc_trainer *t);
/* The sharded optimiser's step after dp_finish: clipping to the global gradient norm (*norm, of
 * every rank's shard), then, given lr, the AdamW update of this rank's shard and the
 * all-gather of the parameters. */
xtc_status xtc_dp_zero_clip(struct xtc_trainer *t, double *norm, struct xtc_error *err);
xtc_status xtc_dp_zero_update(struct xtc_trainer *t, float lr, struct xtc_error *err);

/* The crop offsets of the last step (until the next step or evaluation), every rank's (n = ranks * accum * batch, rank r's are
 * [first, first + accum * batch)): tests count the windows each rank used. */
const size_t *xtc_trainer_step_windows(const struct xtc_trainer *t, size_t *n, size_t *first);

#endif
