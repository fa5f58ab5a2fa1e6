/* xtc — generation: KV cache, samplers, the decoding loop.
 *
 *     struct xtc_gen_options g;
 *     xtc_gen_options_default(&g);            // greedy, KV cache on
 *     g.max_new_tokens = 100; g.temperature = 0.8f; g.top_k = 40;
 *     int64_t out[100]; int64_t n;
 *     xtc_generate(m, prompt, 1, prompt_len, &g, NULL, NULL, out, &n, &err);
 */
#ifndef XTC_GENERATE_H
#define XTC_GENERATE_H

#include <stdbool.h>
#include <stdint.h>

#include "xtc/export.h"
#include "xtc/model.h"
#include "xtc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Keys and values of the self-attention layers for the tokens seen so far, stored
 * before rotary (x-transformers stores pre-rotary keys and re-applies rotary / XPOS
 * to all of them every step). One cache serves one model and one batch size. */
typedef struct xtc_kv_cache *xtc_kv_cache_t;

/* Room for `capacity` tokens per row. Errors: XTC_ERR_ARG, XTC_ERR_UNSUPPORTED (a model
 * whose self-attention has no cacheable layout: memory tokens), XTC_ERR_NOMEM. */
XTC_API xtc_status xtc_kv_cache_create(xtc_kv_cache_t *out, const struct xtc_model *m, int64_t batch, int64_t capacity,
                                       struct xtc_error *err);
XTC_API void xtc_kv_cache_free(xtc_kv_cache_t c);
XTC_API int64_t xtc_kv_cache_len(const struct xtc_kv_cache *c);
XTC_API void xtc_kv_cache_reset(xtc_kv_cache_t c);
/* Keeps only the last n cached positions (the sliding window past max_seq_len). */
XTC_API void xtc_kv_cache_keep_last(xtc_kv_cache_t c, int64_t n);
/* Regathers the cache's rows: afterwards it holds `batch` rows and row r is what row parent[r]
 * was (self-attention keys/values of every cached position, and the cross-attention keys/values
 * of the context when they are cached). Rows may repeat or be dropped, and batch may differ from
 * the current row count: beam search repeats each prompt's row once per beam after the first
 * step, then keeps the parents of the surviving beams (x-transformers beam_search:
 * t[parent_beam_indices], parent = flat candidate index // beams). Later forward calls must then
 * use batch rows. The first call that grows the cache allocates; a failure leaves it unchanged.
 * Not thread-safe on one cache.
 *     int64_t parent[4] = {0, 0, 1, 1};             // 2 rows -> 4: each row twice
 *     xtc_kv_cache_reorder(kc, parent, 4, &err);
 * Errors: XTC_ERR_ARG (NULL, batch outside 1..2^20, a parent that is not a row), XTC_ERR_NOMEM. */
XTC_API xtc_status xtc_kv_cache_reorder(xtc_kv_cache_t c, const int64_t *parent, int64_t batch, struct xtc_error *err);

/* The most tokens one generation call may add (far beyond any memory; it keeps every size
 * computed from it well inside 64 bits). */
#define XTC_GEN_MAX_NEW_TOKENS ((int64_t)1 << 30)

/* Decoding options (x-transformers AutoregressiveWrapper.generate). Filters apply in the
 * order top-k, top-p, min-p, then temperature; temperature 0 is greedy (argmax). */
struct xtc_gen_options {
    int64_t max_new_tokens;
    float temperature; /* 0: greedy */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off; keep the smallest set with probability mass >= top_p */
    float min_p;       /* 0: off; keep tokens with p >= min_p * p_max */
    int64_t eos_token; /* < 0: none; rows keep decoding until every row has produced it */
    int64_t pad_value; /* what follows a row's eos in the output */
    uint64_t seed;
    bool cache_kv;     /* false: re-run the whole window every step */
    const int64_t *prompt_lens; /* (B) lengths of prompts of different lengths, each left-aligned in its
                                   row of the (B, T) array, or NULL; they are right-aligned (left-padded
                                   with pad_value) and the padding is masked, as x-transformers does */
};
XTC_API void xtc_gen_options_default(struct xtc_gen_options *o);

/* Called after every step with the B new tokens (row-major); return false to stop. */
typedef bool (*xtc_gen_callback)(const int64_t *tokens, int64_t batch, void *user);

/* Generates up to max_new_tokens after prompts (B, T) (all rows the same length) with a
 * TransformerWrapper decoder, x-transformers' windowing: each step sees the last
 * max_seq_len tokens; with the cache, keys of earlier tokens are reused and the cache is
 * cut to max_seq_len - 1 before each step (same as recomputing while the sequence fits
 * in the window). out: (B, max_new_tokens) new tokens; *n_out: steps run.
 * step_logits (B, max_new_tokens, logits_dim) may be NULL (logits_dim: num_tokens unless the
 * config sets it; a head wider than the vocabulary is XTC_ERR_UNSUPPORTED, since it could choose
 * an id that is no token).
 * Errors: XTC_ERR_ARG (token ids, options, batch x (prompt_len + max_new_tokens) beyond 2^33
 * tokens), XTC_ERR_SHAPE (absolute positions past max_seq_len with the cache),
 * XTC_ERR_UNSUPPORTED, XTC_ERR_NOMEM, XTC_ERR_NUMERIC (a step's logits hold NaN or +inf, or
 * are all -inf: the step's tokens are not written; so for every generation function here). */
XTC_API xtc_status xtc_generate(xtc_model_t m, const int64_t *prompts, int64_t batch, int64_t prompt_len,
                                const struct xtc_gen_options *o, xtc_gen_callback cb, void *user, int64_t *out,
                                int64_t *n_out, float *step_logits, struct xtc_error *err);

/* XTransformer.generate(src, prompts, seq_len, mask): the encoder runs once on src
 * (src_mask: (B, src_len) or NULL), its output is the context of every decoder step
 * (with src_mask as the context mask); otherwise as xtc_generate. */
XTC_API xtc_status xtc_generate_seq2seq(xtc_model_t m, const int64_t *src, const uint8_t *src_mask, int64_t src_len,
                                        const int64_t *prompts, int64_t batch, int64_t prompt_len,
                                        const struct xtc_gen_options *o, xtc_gen_callback cb, void *user, int64_t *out,
                                        int64_t *n_out, float *step_logits, struct xtc_error *err);

/* Transformer-XL generation (XLAutoregressiveWrapper.generate): the prompt's full
 * max_seq_len segments build the memories (truncated to max_mem_len), the current
 * segment is decoded with them (and a KV cache of its own tokens). Past the end of a
 * segment, where x-transformers 2.26.4 fails, the full segment is run, its last logits
 * are used and its memories start the next segment. eos_token is not used here.
 * With shift_tokens the KV cache is used even when o->cache_kv is false: x-transformers
 * always caches here, and its cached steps shift within their one new token (recomputing
 * would shift over the whole segment and give other numbers). */
XTC_API xtc_status xtc_generate_xl(xtc_model_t m, const int64_t *prompts, int64_t batch, int64_t prompt_len,
                                   const struct xtc_gen_options *o, xtc_gen_callback cb, void *user, int64_t *out,
                                   int64_t *n_out, float *step_logits, struct xtc_error *err);

/* Beam search options (x-transformers AutoregressiveWrapper.beam_search keywords). */
struct xtc_beam_options {
    int64_t max_new_tokens;     /* seq_len: tokens added to every beam */
    int beams;                  /* beams kept per prompt, 1..min(logits_dim, 1024) */
    bool stochastic;            /* propose each beam's children by Gumbel top-k (sampling without
                                   replacement from softmax(filtered logits / temperature)) instead
                                   of the top-k logits; scores and pruning stay exact log-probs */
    float temperature;          /* stochastic only; 0 turns the noise off (greedy proposals) */
    int top_k;                  /* stochastic only (filter_logits_fn): 0 = off */
    float top_p;                /* stochastic only: 1 = off */
    float min_p;                /* stochastic only: 0 = off */
    uint64_t seed;              /* the Gumbel noise (xtc's generator: torch's draws cannot be matched) */
    bool cache_kv;              /* false: re-run the whole window every step (same beams) */
    const int64_t *prompt_lens; /* (B) or NULL: as in xtc_gen_options (right-aligned, pad_value before,
                                   the padding hidden; every beam of a prompt keeps its start) */
    int64_t pad_value;
};
/* beams 4, temperature 1, no filters, cache on, pad 0, 64 tokens (beam_search's defaults). */
XTC_API void xtc_beam_options_default(struct xtc_beam_options *o);

/* Beam search over a TransformerWrapper decoder (AutoregressiveWrapper.beam_search of
 * x-transformers 2.31.10, with return_beams_and_scores). Each step every beam proposes its
 * `beams` most likely next tokens (or Gumbel-perturbed ones when stochastic); a candidate's
 * score is its parent's score plus the log-softmax of the unfiltered logits at its token; of the
 * beams*beams candidates of a prompt the `beams` best scores survive, sorted best first (after
 * the first step, where each prompt's candidates are its top-k tokens in proposal order). The
 * window and the KV cache follow xtc_generate (the cache's rows follow the surviving beams'
 * parents). tokens: (B, beams, max_new_tokens), the new tokens of each beam (x-transformers
 * returns them as (beams, B, n)); beam 0 is what beam_search returns without
 * return_beams_and_scores. scores: (B, beams) summed log-probabilities, or NULL. With
 * max_new_tokens 0 every score is 0 (x-transformers then returns a single beam). No eos
 * (x-transformers asserts eos_token is None).
 *     struct xtc_beam_options o;
 *     xtc_beam_options_default(&o);
 *     o.beams = 4; o.max_new_tokens = 16;
 *     int64_t tok[1 * 4 * 16]; float score[4];
 *     xtc_beam_search(m, prompt, 1, prompt_len, &o, tok, score, &err);   // best: tok[0..15]
 * Errors: XTC_ERR_ARG (NULL, sizes, token ids, options), XTC_ERR_SHAPE (as xtc_generate),
 * XTC_ERR_UNSUPPORTED (not a TransformerWrapper decoder; a cross-attending decoder; learned
 * absolute positions past max_seq_len with the cache), XTC_ERR_NOMEM, XTC_ERR_NUMERIC. Not thread-safe on one model. */
XTC_API xtc_status xtc_beam_search(xtc_model_t m, const int64_t *prompts, int64_t batch, int64_t prompt_len,
                           const struct xtc_beam_options *o, int64_t *tokens, float *scores, struct xtc_error *err);

/* Samples one token from logits (V) with the filters of o (the caller's rng state is
 * advanced). Greedy when temperature is 0. */
XTC_API int64_t xtc_sample(const float *logits, int64_t V, const struct xtc_gen_options *o, uint64_t rng_state[4],
                           float *scratch);

#ifdef __cplusplus
}
#endif
#endif
