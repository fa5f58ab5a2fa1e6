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
 * step_logits (B, max_new_tokens, num_tokens) may be NULL.
 * Errors: XTC_ERR_ARG (token ids, options), XTC_ERR_SHAPE (absolute positions past
 * max_seq_len with the cache), XTC_ERR_UNSUPPORTED, XTC_ERR_NOMEM. */
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
 * are used and its memories start the next segment. eos_token is not used here. */
XTC_API xtc_status xtc_generate_xl(xtc_model_t m, const int64_t *prompts, int64_t batch, int64_t prompt_len,
                                   const struct xtc_gen_options *o, xtc_gen_callback cb, void *user, int64_t *out,
                                   int64_t *n_out, float *step_logits, struct xtc_error *err);

/* Samples one token from logits (V) with the filters of o (the caller's rng state is
 * advanced). Greedy when temperature is 0. */
XTC_API int64_t xtc_sample(const float *logits, int64_t V, const struct xtc_gen_options *o, uint64_t rng_state[4],
                           float *scratch);

#ifdef __cplusplus
}
#endif
#endif
