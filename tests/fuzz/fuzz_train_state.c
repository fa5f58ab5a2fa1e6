/* libFuzzer target for training states (a checkpoint's train_state.safetensors): arbitrary
 * bytes through the safetensors parser, the state's metadata (format, options JSON, corpus
 * fingerprint, counters, generator) and its AdamW moments, as xtc_trainer_resume reads them.
 * Besides crashes and sanitizer reports, it checks what acceptance promises: counters within
 * int64, a generator that is not all zeros, finite moments and non-negative second moments.
 * Seeds: tests/fuzz/corpus/train_state (tests/fuzz/README.md). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"
#include "fuzz.h"
#include "xtc/xtc.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t corpus[] = "the corpus the seeds were trained on\n";
    struct xtc_error err = {0};
    xtc_safetensors_t st = NULL;
    if (xtc_safetensors_parse(&st, data, size, &err) != XTC_OK) {
        TRAP_UNLESS(err.msg[0]);
        return 0;
    }
    /* the flags of a resume: the last byte chooses them, so both paths see every state */
    unsigned flags = size ? data[size - 1] & (XTC_RESUME_OPTIONS | XTC_RESUME_ANY_CORPUS) : 0;
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    struct xtc_train_state_meta meta;
    err.msg[0] = '\0';
    xtc_status rc = xtc_train_state_read_meta(st, "fuzz", corpus, sizeof corpus - 1, flags, &o, &meta, &err);
    if (rc != XTC_OK) {
        TRAP_UNLESS(err.msg[0]);
    } else {
        TRAP_UNLESS(meta.step <= INT64_MAX && meta.adam_t <= INT64_MAX);
        TRAP_UNLESS(meta.rng[0] | meta.rng[1] | meta.rng[2] | meta.rng[3]);
    }
    /* the moments of a model of adam.m's size when it is small, else of 16 parameters */
    const struct xtc_safetensors_entry *e = xtc_safetensors_find(st, "adam.m");
    size_t n = e && e->numel <= 4096 ? (size_t)e->numel : 16;
    float *m = malloc((n ? n : 1) * sizeof *m), *v = malloc((n ? n : 1) * sizeof *v);
    if (m && v) {
        err.msg[0] = '\0';
        if (xtc_train_state_read_moments(st, "fuzz", n, m, v, &err) != XTC_OK) {
            TRAP_UNLESS(err.msg[0]);
        } else {
            for (size_t i = 0; i < n; i++)
                TRAP_UNLESS(isfinite(m[i]) && isfinite(v[i]) && v[i] >= 0);
        }
    }
    free(m);
    free(v);
    xtc_safetensors_free(st);
    return 0;
}
