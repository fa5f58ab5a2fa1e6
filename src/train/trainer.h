/* Trainer state (private; the public API is in xtc/train.h). */
#ifndef XTC_TRAINER_H
#define XTC_TRAINER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/rng.h"
#include "xtc/train.h"

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
    xtc_xl_workspace_t ws;     /* the loss loop's buffers (segments, logit gradients, XL memories) */
    uint64_t corpus_hash;      /* FNV-1a 64 of the corpus bytes: a resume on another corpus is detected */
    int lock_fd;               /* DIR/.lock held (flock) for the run directory (lock_dev, lock_ino), or -1 */
    dev_t lock_dev;
    ino_t lock_ino;
};

/* Releases the trainer's run-directory lock (xtc_trainer_free does it). */
void xtc_trainer_unlock(struct xtc_trainer *t);

/* Creates a trainer owning model (freed on failure too). */
xtc_status xtc_trainer_make(xtc_trainer_t *out, struct xtc_model *model, const uint8_t *corpus, size_t len,
                            const struct xtc_train_options *o, struct xtc_error *err);

/* A checkpoint's training state (train_state.safetensors), read in two parts because the
 * trainer is made in between: first the metadata (format, options (o's when flags has
 * XTC_RESUME_OPTIONS, else o's steps if o), corpus fingerprint against corpus, step,
 * AdamW's t, the generator), then the AdamW moments of n parameters into m and v (finite;
 * second moments >= 0). Every value is validated; errors name path and the field. */
struct xtc_train_state_meta {
    struct xtc_train_options opts;
    uint64_t step, adam_t, rng[4];
};
struct xtc_safetensors;
xtc_status xtc_train_state_read_meta(const struct xtc_safetensors *st, const char *path, const uint8_t *corpus,
                                     size_t len, unsigned flags, const struct xtc_train_options *o,
                                     struct xtc_train_state_meta *meta, struct xtc_error *err);
xtc_status xtc_train_state_read_moments(const struct xtc_safetensors *st, const char *path, size_t n, float *m,
                                        float *v, struct xtc_error *err);

#endif
