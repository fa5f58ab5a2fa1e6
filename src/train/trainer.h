/* Trainer state (private; the public API is in xtc/train.h). */
#ifndef XTC_TRAINER_H
#define XTC_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "xtc/train.h"

#define XTC_TRAINER_MAX_SELF 256

struct xtc_trainer {
    struct xtc_model *model;
    struct xtc_train_options o;
    struct xtc_adamw opt;
    struct xtc_rng rng;
    int64_t step;
    int segment;               /* max_seq_len: the XL segment length */
    uint8_t *corpus;
    size_t len, n_train;       /* training bytes [0, n_train), held-out [n_train, len) */
    int64_t *x, *inp, *tgt;    /* crops (B, L), one segment's inputs and targets */
    float *dlogits;
    float *mems[2 * XTC_TRAINER_MAX_SELF]; /* XL memories, double-buffered */
};

/* Creates a trainer owning model (freed on failure too). */
xtc_status xtc_trainer_make(xtc_trainer_t *out, struct xtc_model *model, const uint8_t *corpus, size_t len,
                            const struct xtc_train_options *o, struct xtc_error *err);

#endif
