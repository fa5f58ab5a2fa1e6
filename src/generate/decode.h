/* Decoding loop internals shared by plain and Transformer-XL generation (private). */
#ifndef XTC_DECODE_H
#define XTC_DECODE_H

#include <stdint.h>

#include "xtc/generate.h"
#include "xtc/status.h"

/* Where one decoding step's tokens go: B rows of the running sequences (row stride cap),
 * the output (B, S), the optional step logits (B, S, V). */
struct xtc_decode_rows {
    int64_t B, V, S, cap, at; /* `at`: the column of seq the new tokens fill */
    const struct xtc_gen_options *o;
    int64_t *seq, *out, *step_tokens;
    float *step_logits, *scratch;
};

/* Validates the sampler options of every generation entry point for a model of V token ids;
 * fn names the caller in the message, which names the option and its value. */
xtc_status xtc_gen_options_check(const struct xtc_gen_options *o, int64_t V, const char *fn, struct xtc_error *err);

/* The filters of o on logits l (V), in place: top-k, top-p, min-p (in that order; x-transformers'
 * top_k, top_p, min_p), removed tokens become -inf. tmp: V floats of scratch. */
void xtc_filter_logits(float *l, int64_t V, const struct xtc_gen_options *o, float *tmp);

/* XTC_ERR_NUMERIC when the next-token logits (V) of `row` at step `step` hold a NaN or +inf,
 * or are all -inf (one -inf is a masked token): sampling them would emit arbitrary tokens as
 * if all were well. */
xtc_status xtc_logits_check(const float *l, int64_t V, int64_t step, int64_t row, struct xtc_error *err);

/* Samples each row's next token from the last position of logits (B, len, V) for step s;
 * XTC_ERR_NUMERIC (nothing written) when a row's logits are not finite. */
xtc_status xtc_decode_step(const float *logits, int64_t len, const struct xtc_decode_rows *d, int64_t s,
                           uint64_t rng[4], struct xtc_error *err);

/* Checks that prompts (B, T) are token ids (< V) and writes them into the rows of seq (row
 * stride cap). With prompt_lens (B) each row's
 * first prompt_lens[b] tokens are right-aligned, pad before them, and start[b] = T - prompt_lens[b]
 * (x-transformers align_right and seq_start_pos); without, rows are copied and start is unused.
 * Errors: XTC_ERR_ARG (a token id, a length outside 1..T). */
xtc_status xtc_decode_prompts(int64_t *seq, int64_t cap, int64_t *start, const int64_t *prompts, int64_t B,
                              int64_t T, int64_t V, const int64_t *prompt_lens, int64_t pad, struct xtc_error *err);

#endif
