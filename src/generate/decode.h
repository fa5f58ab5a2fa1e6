/* Decoding loop internals shared by plain and Transformer-XL generation (private). */
#ifndef XTC_DECODE_H
#define XTC_DECODE_H

#include <stdint.h>

#include "xtc/generate.h"

/* Where one decoding step's tokens go: B rows of the running sequences (row stride cap),
 * the output (B, S), the optional step logits (B, S, V). */
struct xtc_decode_rows {
    int64_t B, V, S, cap, at; /* `at`: the column of seq the new tokens fill */
    const struct xtc_gen_options *o;
    int64_t *seq, *out, *step_tokens;
    float *step_logits, *scratch;
};

/* Validates the sampler options of every generation entry point; fn names the caller in the
 * message, which names the option and its value. */
xtc_status xtc_gen_options_check(const struct xtc_gen_options *o, const char *fn, struct xtc_error *err);

/* Samples each row's next token from the last position of logits (B, len, V) for step s. */
void xtc_decode_step(const float *logits, int64_t len, const struct xtc_decode_rows *d, int64_t s, uint64_t rng[4]);

#endif
