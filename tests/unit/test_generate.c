/* Generation: greedy decoding with the KV cache equals decoding that recomputes
 * the whole window every step, for every positional scheme and memory mechanism
 * (while the sequence fits in max_seq_len: x-transformers' two paths are the same
 * function there); the samplers' filters; eos handling. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/q8.h"
#include "xtc/xtc.h"

/* Parameters that x-transformers initialises to one value (value gates 0, head scales 1,
 * qk-norm dim scales dim_head^0.25, the post-embedding norm's gain 1) get a deterministic
 * spread, so that decoding exercises them per feature and per head. */
static void spread_constant_inits(xtc_model_t m) {
    static const char *names[] = {"to_v_gate", "head_scale_params", "qk_norm_q_scale", "qk_norm_k_scale",
                                  "post_emb_norm"};
    uint32_t r = 12345;
    for (int i = 0; i < xtc_model_param_count(m); i++) {
        struct xtc_param_info pi = xtc_model_param(m, i);
        bool hit = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            hit |= strstr(pi.name, names[k]) != NULL;
        size_t n = 1;
        for (int d = 0; d < pi.ndim; d++)
            n *= (size_t)pi.shape[d];
        float *x = xtc_model_param_data(m, i);
        for (size_t j = 0; hit && j < n; j++) {
            r = r * 1664525u + 1013904223u;
            x[j] += 0.5f * ((float)(r >> 8) / (float)(1u << 24) - 0.5f);
        }
    }
}

static void cache_vs_recompute(const char *name, const char *layers_kwargs, const char *wrapper_kwargs) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 40, \"max_seq_len\": 24%s, "
             "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, %s}}}}",
             wrapper_kwargs, layers_kwargs);
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_create(&m, cfg, strlen(cfg), 3, &err) != XTC_OK) {
        CHECK(0, "%s: init: %s", name, err.msg);
        return;
    }
    spread_constant_inits(m);
    const int64_t B = 2, T = 5, S = 18, V = 40; /* T + S - 1 <= max_seq_len */
    int64_t prompts[10] = {1, 7, 3, 9, 2, 5, 5, 11, 30, 4};
    int64_t a[36], b[36], n_a, n_b;
    float *la = malloc(sizeof(float) * B * S * V), *lb = malloc(sizeof(float) * B * S * V);
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = S;
    o.cache_kv = true;
    CHECK(xtc_generate(m, prompts, B, T, &o, NULL, NULL, a, &n_a, la, &err) == XTC_OK, "%s cached: %s", name, err.msg);
    o.cache_kv = false;
    CHECK(xtc_generate(m, prompts, B, T, &o, NULL, NULL, b, &n_b, lb, &err) == XTC_OK, "%s recomputed: %s", name,
          err.msg);
    CHECK(n_a == S && n_b == S, "%s: steps", name);
    CHECK(memcmp(a, b, sizeof(int64_t) * B * S) == 0, "%s: cached tokens equal recomputed tokens", name);
    char label[128];
    snprintf(label, sizeof label, "%s step logits", name);
    /* same function, different summation order (one row vs the whole window) */
    CHECK(xtc_check_close_f(label, la, lb, (size_t)(B * S * V), 2e-5, 2e-4) == 0, "%s", label);
    /* sampler options are validated as for xtc_generate, the message names the option */
    o.top_p = -3;
    CHECK(xtc_generate_xl(m, prompts, B, T, &o, NULL, NULL, a, &n_a, la, &err) == XTC_ERR_ARG &&
              strstr(err.msg, "top_p"), "%s: XL generation refuses top_p -3 (%s)", name, err.msg);
    o.top_p = 1;
    o.min_p = 7;
    CHECK(xtc_generate_xl(m, prompts, B, T, &o, NULL, NULL, a, &n_a, la, &err) == XTC_ERR_ARG &&
              strstr(err.msg, "min_p"), "%s: XL generation refuses min_p 7 (%s)", name, err.msg);
    /* sizes computed from max_new_tokens must not wrap (2^61 tokens: a buffer of B * 2^61 * 8 bytes) */
    o.min_p = 0;
    o.eos_token = V;
    CHECK(xtc_generate(m, prompts, B, T, &o, NULL, NULL, a, &n_a, NULL, &err) == XTC_ERR_ARG &&
              strstr(err.msg, "eos_token"), "%s: an eos that is no token id is refused (%s)", name, err.msg);
    CHECK(xtc_generate_xl(m, prompts, B, T, &o, NULL, NULL, a, &n_a, NULL, &err) == XTC_ERR_ARG &&
              strstr(err.msg, "eos_token"), "%s: XL: an eos that is no token id is refused (%s)", name, err.msg);
    o.eos_token = -1;
    o.max_new_tokens = (int64_t)1 << 61;
    CHECK(xtc_generate_xl(m, prompts, B, T, &o, NULL, NULL, a, &n_a, NULL, &err) == XTC_ERR_ARG &&
              strstr(err.msg, "max_new_tokens"), "%s: XL generation refuses 2^61 new tokens (%s)", name, err.msg);
    CHECK(xtc_generate(m, prompts, B, T, &o, NULL, NULL, a, &n_a, NULL, &err) == XTC_ERR_ARG &&
              strstr(err.msg, "max_new_tokens"), "%s: generation refuses 2^61 new tokens (%s)", name, err.msg);
    free(la);
    free(lb);
    xtc_model_free(m);
}

/* Low-precision decoding weights (xtc_model_set_decode_dtype BF16 / I8): with a one-token
 * prompt every forward call is a decoding step, so decoding with the copy must equal fp32
 * decoding of the same model with its matrices rounded as the copy rounds them (bf16, or
 * int8 blocks of 32 times their scale; the kernels differ only in summation order); and it
 * stays close to exact fp32 decoding. */
static void low_precision_decoding(const char *name, enum xtc_dtype dtype, const char *layers_kwargs) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 40, \"max_seq_len\": 24, "
             "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 48, \"depth\": 2, %s}}}}",
             layers_kwargs);
    xtc_model_t m, r;
    struct xtc_error err;
    if (xtc_model_create(&m, cfg, strlen(cfg), 5, &err) != XTC_OK ||
        xtc_model_create(&r, cfg, strlen(cfg), 5, &err) != XTC_OK) {
        CHECK(0, "%s: init: %s", name, err.msg);
        return;
    }
    for (int i = 0; i < xtc_model_param_count(r); i++) {
        /* r: m with the matrices of the steps' products rounded (embedding lookups, norms,
         * biases and memory key/values are read in fp32 either way) */
        struct xtc_param_info p = xtc_model_param(r, i);
        if (p.ndim != 2 || strstr(p.name, "emb"))
            continue;
        float *d = xtc_model_param_data(r, i);
        const int64_t rows = p.shape[0], cols = p.shape[1], nb = xtc_q8_blocks(cols);
        int8_t q[512];
        float sc[16];
        for (int64_t o = 0; o < rows; o++) {
            float *row = d + o * cols;
            if (dtype == XTC_DTYPE_BF16) {
                for (int64_t k = 0; k < cols; k++)
                    row[k] = xtc_bf16_to_f32(xtc_f32_to_bf16(row[k]));
            } else if (cols <= 512 && nb <= 16 && xtc_q8_quantize_row(q, sc, row, cols)) {
                for (int64_t k = 0; k < cols; k++)
                    row[k] = sc[k / XTC_Q8_BLOCK] * (float)q[k];
            } else {
                CHECK(0, "%s: a row of %lld does not quantize", name, (long long)cols);
            }
        }
    }
    const char *what = dtype == XTC_DTYPE_BF16 ? "bf16" : "int8";
    const int64_t B = 3, S = 20, V = 40;
    int64_t prompts[3] = {1, 17, 33}, a[60], b[60], c[60], n_a, n_b, n_c;
    float *la = malloc(sizeof(float) * B * S * V), *lb = malloc(sizeof(float) * B * S * V),
          *lc = malloc(sizeof(float) * B * S * V);
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = S;
    CHECK(xtc_model_set_decode_dtype(m, dtype, &err) == XTC_OK, "%s: %s", name, err.msg);
    CHECK(xtc_generate(m, prompts, B, 1, &o, NULL, NULL, a, &n_a, la, &err) == XTC_OK, "%s %s: %s", name, what,
          err.msg);
    CHECK(xtc_generate(r, prompts, B, 1, &o, NULL, NULL, b, &n_b, lb, &err) == XTC_OK, "%s rounded: %s", name, err.msg);
    CHECK(n_a == S && n_b == S && memcmp(a, b, sizeof(int64_t) * B * S) == 0, "%s: %s tokens = rounded-model tokens",
          name, what);
    char label[128];
    snprintf(label, sizeof label, "%s %s step logits vs the rounded model", name, what);
    /* the same weights and fp32 arithmetic; only the products' summation order differs */
    CHECK(xtc_check_close_f(label, la, lb, (size_t)(B * S * V), 2e-5, 2e-4) == 0, "%s", label);
    CHECK(xtc_model_set_decode_dtype(m, XTC_DTYPE_F32, &err) == XTC_OK, "%s: back to f32", name);
    CHECK(xtc_generate(m, prompts, B, 1, &o, NULL, NULL, c, &n_c, lc, &err) == XTC_OK, "%s f32: %s", name, err.msg);
    /* the first step sees the same tokens: rounding the weights (bf16: 2^-9 relative; int8:
     * half a step of max|w| / 127 in each block) moves logits of this size by a few 1e-3 */
    snprintf(label, sizeof label, "%s first-step logits, %s vs f32 weights", name, what);
    float first_a[3 * 40], first_c[3 * 40];
    for (int64_t i = 0; i < B; i++) {
        memcpy(first_a + i * V, la + i * S * V, sizeof(float) * V);
        memcpy(first_c + i * V, lc + i * S * V, sizeof(float) * V);
    }
    const double tol = dtype == XTC_DTYPE_BF16 ? 3e-2 : 6e-2;
    CHECK(xtc_check_close_f(label, first_a, first_c, (size_t)(B * V), tol, tol) == 0, "%s", label);
    CHECK(memcmp(la, lc, sizeof(float) * B * V) != 0, "%s: the %s copy is what the steps read", name, what);
    CHECK(xtc_model_set_decode_dtype(m, XTC_DTYPE_F16, &err) == XTC_ERR_ARG, "%s: F16 is refused", name);
    free(la), free(lb), free(lc);
    xtc_model_free(m);
    xtc_model_free(r);
}

/* A cross-attending decoder fed token by token through the KV cache (after a 3-token
 * prefix) gives the logits of one forward over the whole sequence: self- and cross-attention
 * with rotary positions on both sides (context_pos), qk-norm, memory key/values, GQA and a
 * context mask, through the single-region decoding path. */
static void cross_attention_steps(void) {
    const char *cfg = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 30, \"max_seq_len\": 16, "
                      "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, \"heads\": 4, "
                      "\"attn_dim_head\": 8, \"attn_kv_heads\": 2, \"cross_attend\": true, \"rotary_pos_emb\": true, "
                      "\"attn_qk_norm\": true, \"attn_num_mem_kv\": 2, \"cross_attn_dim_context\": 24}}}}";
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_create(&m, cfg, strlen(cfg), 11, &err) != XTC_OK) {
        CHECK(0, "cross steps: init: %s", err.msg);
        return;
    }
    enum { B = 2, T = 9, S = 5, V = 30, P = 3 };
    int64_t tokens[B * T] = {1, 5, 9, 2, 7, 7, 3, 28, 11, 4, 4, 20, 13, 0, 6, 25, 17, 8};
    int64_t ctx_pos[S] = {0, 2, 4, 6, 8};
    uint8_t ctx_mask[B * S] = {1, 1, 1, 1, 1, 1, 0, 1, 1, 0};
    float ctx[B * S * 24], full[B * T * V], step[B * T * V];
    for (int i = 0; i < B * S * 24; i++)
        ctx[i] = (float)sin(0.37 * i);
    struct xtc_inputs in = {.batch = B, .len = T, .tokens = tokens, .context = ctx, .context_len = S,
                            .context_mask = ctx_mask, .context_pos = ctx_pos};
    struct xtc_outputs out;
    CHECK(xtc_model_forward(m, &in, &out, &err) == XTC_OK, "cross full forward: %s", err.msg);
    memcpy(full, out.logits, sizeof full);
    xtc_kv_cache_t kc;
    CHECK(xtc_kv_cache_create(&kc, m, B, T, &err) == XTC_OK, "cross cache: %s", err.msg);
    int64_t win[B * P];
    for (int64_t t0 = 0; t0 < T;) {
        int64_t n = t0 == 0 ? P : 1;
        for (int64_t b = 0; b < B; b++)
            memcpy(win + b * n, tokens + b * T + t0, sizeof(int64_t) * (size_t)n);
        struct xtc_inputs si = in;
        si.len = n, si.tokens = win, si.cache = kc;
        if (xtc_model_forward(m, &si, &out, &err) != XTC_OK) {
            CHECK(0, "cross step at %lld: %s", (long long)t0, err.msg);
            break;
        }
        for (int64_t b = 0; b < B; b++)
            memcpy(step + (b * T + t0) * V, out.logits + b * n * V, sizeof(float) * (size_t)(n * V));
        t0 += n;
    }
    /* the same function; one row at a time against the whole window changes the summation order */
    CHECK(xtc_check_close_f("cross-attention steps vs full forward", step, full, (size_t)(B * T * V), 2e-5, 2e-4) == 0,
          "cross-attention steps");
    xtc_kv_cache_free(kc);
    xtc_model_free(m);
}

/* Transformer-XL generation: cached equals recomputed, also across segment boundaries
 * (where x-transformers 2.26.4 itself fails) and for every batch row. */
static void xl_cache_vs_recompute(const char *name, const char *layers_kwargs) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 40, \"max_seq_len\": 6, "
             "\"max_mem_len\": 9, \"use_abs_pos_emb\": false, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": "
             "{\"dim\": 32, \"depth\": 2, %s}}}}",
             layers_kwargs);
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_create(&m, cfg, strlen(cfg), 5, &err) != XTC_OK) {
        CHECK(0, "%s: init: %s", name, err.msg);
        return;
    }
    spread_constant_inits(m);
    const int64_t B = 2, T = 8, S = 14, V = 40;
    int64_t prompts[16] = {1, 7, 3, 9, 2, 5, 5, 11, 30, 4, 8, 8, 1, 2, 3, 4};
    int64_t a[28], b[28], n_a, n_b;
    float *la = malloc(sizeof(float) * B * S * V), *lb = malloc(sizeof(float) * B * S * V);
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = S;
    CHECK(xtc_generate_xl(m, prompts, B, T, &o, NULL, NULL, a, &n_a, la, &err) == XTC_OK, "%s: %s", name, err.msg);
    o.cache_kv = false;
    CHECK(xtc_generate_xl(m, prompts, B, T, &o, NULL, NULL, b, &n_b, lb, &err) == XTC_OK, "%s: %s", name, err.msg);
    CHECK(n_a == S && n_b == S && memcmp(a, b, sizeof(int64_t) * B * S) == 0, "%s: XL cached tokens = recomputed",
          name);
    char label[128];
    snprintf(label, sizeof label, "%s XL step logits", name);
    /* same function, different summation order */
    CHECK(xtc_check_close_f(label, la, lb, (size_t)(B * S * V), 2e-5, 2e-4) == 0, "%s", label);
    free(la);
    free(lb);
    xtc_model_free(m);
}

/* Prompts of different lengths in one batch (left-padded, padding masked) decode as each
 * prompt alone would: positions are relative, or counted from each row's start. */
static void ragged_batch(const char *name, const char *layers_kwargs, const char *wrapper_kwargs) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 40, \"max_seq_len\": 32%s, "
             "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, %s}}}}",
             wrapper_kwargs, layers_kwargs);
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_create(&m, cfg, strlen(cfg), 9, &err) != XTC_OK) {
        CHECK(0, "%s: init: %s", name, err.msg);
        return;
    }
    const int64_t S = 10;
    int64_t prompts[12] = {4, 9, 1, 0, 0, 0, /* length 3, left-aligned */ 7, 2, 2, 30, 5, 12};
    int64_t lens[2] = {3, 6};
    for (int cached = 0; cached < 2; cached++) {
        struct xtc_gen_options o;
        xtc_gen_options_default(&o);
        o.max_new_tokens = S;
        o.cache_kv = cached;
        o.prompt_lens = lens;
        int64_t both[20], one[10], n;
        CHECK(xtc_generate(m, prompts, 2, 6, &o, NULL, NULL, both, &n, NULL, &err) == XTC_OK, "%s: %s", name, err.msg);
        o.prompt_lens = NULL;
        for (int b = 0; b < 2; b++) {
            CHECK(xtc_generate(m, prompts + 6 * b, 1, lens[b], &o, NULL, NULL, one, &n, NULL, &err) == XTC_OK,
                  "%s alone: %s", name, err.msg);
            CHECK(memcmp(one, both + b * S, sizeof one) == 0, "%s (cache %d): row %d of a ragged batch = alone", name,
                  cached, b);
        }
    }
    xtc_model_free(m);
}

/* Encoder-decoder: the encoder runs once, the decoder's self- and cross-attention keys are cached;
 * equal to recomputing every step. */
static void seq2seq_cache_vs_recompute(void) {
    const char *cfg = "{\"class\": \"XTransformer\", \"kwargs\": {\"dim\": 32, \"enc_num_tokens\": 30, "
                      "\"enc_depth\": 1, \"enc_heads\": 2, \"enc_max_seq_len\": 16, \"enc_attn_dim_head\": 16, "
                      "\"dec_num_tokens\": 40, \"dec_depth\": 2, \"dec_heads\": 2, \"dec_max_seq_len\": 24, "
                      "\"dec_attn_dim_head\": 16, \"dec_rotary_pos_emb\": true}}";
    xtc_model_t m;
    struct xtc_error err;
    CHECK(xtc_model_create(&m, cfg, strlen(cfg), 4, &err) == XTC_OK, "init: %s", err.msg);
    int64_t src[14] = {1, 5, 9, 2, 7, 3, 0, 4, 4, 8, 12, 29, 3, 3};
    uint8_t src_mask[14] = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1};
    int64_t prompts[4] = {1, 2, 1, 3}, a[24], b[24], n_a, n_b;
    float la[24 * 40], lb[24 * 40];
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = 12;
    CHECK(xtc_generate_seq2seq(m, src, src_mask, 7, prompts, 2, 2, &o, NULL, NULL, a, &n_a, la, &err) == XTC_OK,
          "seq2seq cached: %s", err.msg);
    o.cache_kv = false;
    CHECK(xtc_generate_seq2seq(m, src, src_mask, 7, prompts, 2, 2, &o, NULL, NULL, b, &n_b, lb, &err) == XTC_OK,
          "seq2seq recomputed: %s", err.msg);
    CHECK(n_a == 12 && n_b == 12 && memcmp(a, b, sizeof(int64_t) * 24) == 0, "seq2seq cached tokens = recomputed");
    /* same function, different summation order */
    CHECK(xtc_check_close_f("seq2seq step logits", la, lb, 24 * 40, 2e-5, 2e-4) == 0, "seq2seq step logits");
    xtc_model_free(m);
}

static void sliding_window_runs(void) {
    /* past max_seq_len relative schemes slide (x-transformers' semantics, golden gen_rope_window);
     * absolute positions refuse with the cache */
    const char *rope = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 40, \"max_seq_len\": 8, "
                       "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1, \"heads\": 2, "
                       "\"attn_dim_head\": 8, \"rotary_pos_emb\": true}}}}";
    const char *abs = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 40, \"max_seq_len\": 8, "
                      "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1, \"heads\": 2, "
                      "\"attn_dim_head\": 8}}}}";
    xtc_model_t m;
    struct xtc_error err;
    int64_t prompt[3] = {1, 2, 3}, out[20], n;
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = 20;
    CHECK(xtc_model_create(&m, rope, strlen(rope), 1, &err) == XTC_OK, "init");
    CHECK(xtc_generate(m, prompt, 1, 3, &o, NULL, NULL, out, &n, NULL, &err) == XTC_OK && n == 20,
          "rotary: the cached window slides past max_seq_len: %s", err.msg);
    xtc_model_free(m);
    CHECK(xtc_model_create(&m, abs, strlen(abs), 1, &err) == XTC_OK, "init");
    CHECK(xtc_generate(m, prompt, 1, 3, &o, NULL, NULL, out, &n, NULL, &err) == XTC_ERR_UNSUPPORTED &&
              strstr(err.msg, "max_seq_len"),
          "absolute positions past max_seq_len with the cache fail clearly: %s", err.msg);
    o.cache_kv = false;
    CHECK(xtc_generate(m, prompt, 1, 3, &o, NULL, NULL, out, &n, NULL, &err) == XTC_OK && n == 20,
          "absolute positions without the cache re-embed the window");
    xtc_model_free(m);
}

static void samplers(void) {
    float logits[6] = {1.0f, 3.0f, 2.0f, -1.0f, 2.9f, 0.0f};
    float scratch[12];
    uint64_t rng[4] = {1, 2, 3, 4};
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    CHECK(xtc_sample(logits, 6, &o, rng, scratch) == 1, "greedy takes the argmax");
    o.temperature = 1.0f;
    o.top_k = 2;
    int seen[6] = {0};
    for (int i = 0; i < 2000; i++)
        seen[xtc_sample(logits, 6, &o, rng, scratch)]++;
    CHECK(seen[1] > 0 && seen[4] > 0 && seen[0] + seen[2] + seen[3] + seen[5] == 0, "top-k 2 keeps tokens 1 and 4");
    /* p(1) ~ 0.45, p(1)+p(4) ~ 0.86: top-p 0.5 keeps {1, 4} */
    o.top_k = 0;
    o.top_p = 0.5f;
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 2000; i++)
        seen[xtc_sample(logits, 6, &o, rng, scratch)]++;
    CHECK(seen[1] > 0 && seen[4] > 0 && seen[2] == 0 && seen[0] == 0, "top-p 0.5 keeps the two most likely");
    /* min-p 0.5: keep p >= 0.5 p_max: logits >= 3 + ln 0.5 = 2.31 -> tokens 1 and 4 */
    o.top_p = 1.0f;
    o.min_p = 0.5f;
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 2000; i++)
        seen[xtc_sample(logits, 6, &o, rng, scratch)]++;
    CHECK(seen[1] > 0 && seen[4] > 0 && seen[2] == 0, "min-p 0.5 keeps tokens 1 and 4");
    /* frequencies follow softmax at temperature 1 (no filters) */
    o.min_p = 0.0f;
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 20000; i++)
        seen[xtc_sample(logits, 6, &o, rng, scratch)]++;
    double z = 0;
    for (int i = 0; i < 6; i++)
        z += exp(logits[i]);
    CHECK(fabs(seen[1] / 20000.0 - exp(3.0) / z) < 0.02, "sampling frequency of the top token %.3f vs %.3f",
          seen[1] / 20000.0, exp(3.0) / z);
    /* the same seed draws the same tokens */
    uint64_t r1[4] = {9, 9, 9, 9}, r2[4] = {9, 9, 9, 9};
    bool same = true;
    for (int i = 0; i < 100; i++)
        same &= xtc_sample(logits, 6, &o, r1, scratch) == xtc_sample(logits, 6, &o, r2, scratch);
    CHECK(same, "seeded sampling is deterministic");
}

/* Non-finite logits (a NaN weight, as a diverged training run or a caller's write leaves
 * them; loading refuses them) are an error of every generation function, not tokens chosen
 * from NaN (which used to come out as token 0, NUL bytes, with success). */
static void non_finite_logits(void) {
    const char *cfg = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 40, \"max_seq_len\": 16, "
                      "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1, \"heads\": 2, "
                      "\"attn_dim_head\": 8, \"rotary_pos_emb\": true}}}}";
    xtc_model_t m;
    struct xtc_error err;
    CHECK(xtc_model_create(&m, cfg, strlen(cfg), 1, &err) == XTC_OK, "init: %s", err.msg);
    for (int i = 0; i < xtc_model_param_count(m); i++)
        if (!strcmp(xtc_model_param(m, i).name, "to_logits.weight"))
            xtc_model_param_data(m, i)[5 * 16 + 3] = NAN; /* token 5's logit */
    int64_t prompt[3] = {1, 2, 3}, out[4 * 4], n = -1;
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = 4;
    for (int cached = 0; cached < 2; cached++) {
        o.cache_kv = cached;
        CHECK(xtc_generate(m, prompt, 1, 3, &o, NULL, NULL, out, &n, NULL, &err) == XTC_ERR_NUMERIC &&
                  strstr(err.msg, "not finite"), "generate (cache %d) refuses overflowing logits: %s", cached, err.msg);
        CHECK(xtc_generate_xl(m, prompt, 1, 3, &o, NULL, NULL, out, &n, NULL, &err) == XTC_ERR_NUMERIC,
              "XL generation (cache %d) refuses overflowing logits: %s", cached, err.msg);
    }
    struct xtc_beam_options bo;
    xtc_beam_options_default(&bo);
    bo.max_new_tokens = 4;
    CHECK(xtc_beam_search(m, prompt, 1, 3, &bo, out, NULL, &err) == XTC_ERR_NUMERIC,
          "beam search refuses overflowing logits: %s", err.msg);
    xtc_model_free(m);
}

/* A head of another width than the vocabulary (logits_dim): generation samples ids from its
 * logits, as x-transformers' AutoregressiveWrapper does, so a narrower head generates (ids below
 * logits_dim only) and a wider one is refused (it could pick an id that is no token). */
static void logits_dim_generation(void) {
    for (int wide = 0; wide < 2; wide++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg,
                 "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 40, \"max_seq_len\": 16, "
                 "\"logits_dim\": %d, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, "
                 "\"depth\": 1, \"heads\": 2, \"attn_dim_head\": 16}}}}", wide ? 50 : 30);
        const int64_t Vo = wide ? 50 : 30;
        xtc_model_t m;
        struct xtc_error err;
        if (xtc_model_create(&m, cfg, strlen(cfg), 3, &err) != XTC_OK) {
            CHECK(0, "logits_dim: init: %s", err.msg);
            return;
        }
        int64_t prompt[3] = {1, 2, 39}, out[2 * 6], n;
        float step_logits[2 * 6 * 50];
        struct xtc_gen_options o;
        xtc_gen_options_default(&o);
        o.max_new_tokens = 6;
        struct xtc_beam_options bo;
        xtc_beam_options_default(&bo);
        bo.beams = 2;
        bo.max_new_tokens = 2;
        xtc_status g = xtc_generate(m, prompt, 1, 3, &o, NULL, NULL, out, &n, step_logits, &err);
        if (wide) {
            CHECK(g == XTC_ERR_UNSUPPORTED && strstr(err.msg, "logits_dim"), "generation refuses logits_dim > "
                  "num_tokens (%s)", err.msg);
            CHECK(xtc_generate_xl(m, prompt, 1, 3, &o, NULL, NULL, out, &n, NULL, &err) == XTC_ERR_UNSUPPORTED &&
                      strstr(err.msg, "logits_dim"), "XL generation refuses logits_dim > num_tokens (%s)", err.msg);
            CHECK(xtc_beam_search(m, prompt, 1, 3, &bo, out, NULL, &err) == XTC_ERR_UNSUPPORTED &&
                      strstr(err.msg, "logits_dim"), "beam search refuses logits_dim > num_tokens (%s)", err.msg);
        } else {
            CHECK(g == XTC_OK && n == 6, "generation with logits_dim 30 < num_tokens 40: %s", err.msg);
            bool ok = true;
            for (int64_t i = 0; g == XTC_OK && i < n; i++) {
                ok &= out[i] >= 0 && out[i] < Vo;
                /* greedy: the id of the largest of the step's 30 logits */
                int64_t best = 0;
                for (int64_t v = 1; v < Vo; v++)
                    best = step_logits[i * Vo + v] > step_logits[i * Vo + best] ? v : best;
                ok &= out[i] == best;
            }
            CHECK(ok, "logits_dim 30: generated ids are the argmax of the 30 step logits");
            CHECK(xtc_generate_xl(m, prompt, 1, 3, &o, NULL, NULL, out, &n, NULL, &err) == XTC_OK,
                  "XL generation with logits_dim 30: %s", err.msg);
            CHECK(xtc_beam_search(m, prompt, 1, 3, &bo, out, NULL, &err) == XTC_OK && out[0] < Vo && out[1] < Vo,
                  "beam search with logits_dim 30: %s", err.msg);
        }
        struct xtc_inputs in = {.batch = 1, .len = 3, .tokens = prompt};
        struct xtc_outputs res;
        CHECK(xtc_model_forward(m, &in, &res, &err) == XTC_OK && res.out_dim == Vo, "logits_dim forward: %s", err.msg);
        xtc_model_free(m);
    }
}

int main(void) {
    cache_vs_recompute("absolute", "\"heads\": 2, \"attn_dim_head\": 16", "");
    cache_vs_recompute("scaled sinusoidal", "\"heads\": 2, \"attn_dim_head\": 16", ", \"scaled_sinu_pos_emb\": true");
    cache_vs_recompute("rotary", "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_pos_emb\": true", "");
    cache_vs_recompute("rotary partial + mem-kv",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_pos_emb\": true, \"attn_num_mem_kv\": 2", "");
    cache_vs_recompute("xpos", "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_xpos\": true, \"rotary_emb_dim\": 16, "
                               "\"rotary_xpos_scale_base\": 32", "");
    cache_vs_recompute("alibi", "\"heads\": 4, \"attn_dim_head\": 8, \"alibi_pos_bias\": true",
                       ", \"use_abs_pos_emb\": false");
    cache_vs_recompute("alibi 3 of 4 heads + mem-kv",
                       "\"heads\": 4, \"attn_dim_head\": 8, \"alibi_pos_bias\": true, \"alibi_num_heads\": 3, "
                       "\"attn_num_mem_kv\": 1", ", \"use_abs_pos_emb\": false");
    cache_vs_recompute("t5", "\"heads\": 2, \"attn_dim_head\": 16, \"rel_pos_bias\": true, \"rel_pos_num_buckets\": 8, "
                             "\"rel_pos_max_distance\": 16", "");
    cache_vs_recompute("gqa rotary", "\"heads\": 4, \"attn_dim_head\": 8, \"attn_kv_heads\": 2, \"rotary_pos_emb\": true",
                       "");
    cache_vs_recompute("qk-norm + mem-kv", "\"heads\": 2, \"attn_dim_head\": 16, \"attn_qk_norm\": true, "
                                           "\"attn_num_mem_kv\": 2", "");
    cache_vs_recompute("rotary + alibi", "\"heads\": 4, \"attn_dim_head\": 8, \"rotary_pos_emb\": true, "
                                         "\"alibi_pos_bias\": true", "");
    /* per-head gates: decoding takes the general forward */
    cache_vs_recompute("headwise swiglu value gate + head gate + rotary",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"attn_gate_values\": true, "
                       "\"attn_gate_values_headwise\": true, \"attn_swiglu_values\": true, "
                       "\"attn_gate_value_heads\": true, \"rotary_pos_emb\": true", "");
    cache_vs_recompute("output gate (low rank) + value gate + rotary",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"attn_gate_values\": true, \"attn_output_gate\": true, "
                       "\"attn_output_gate_rank\": 4, \"rotary_pos_emb\": true", "");
    cache_vs_recompute("low-rank value gate + alibi",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"attn_gate_values\": true, "
                       "\"attn_gate_values_rank\": 4, \"alibi_pos_bias\": true", ", \"use_abs_pos_emb\": false");
    /* talking heads: decoding takes the general forward (the mixings join the heads of a row) */
    cache_vs_recompute("talking heads + alibi + mem-kv",
                       "\"heads\": 3, \"attn_dim_head\": 8, \"attn_pre_talking_heads\": true, "
                       "\"attn_post_talking_heads\": true, \"attn_pre_scale_post_talking_heads\": true, "
                       "\"alibi_pos_bias\": true, \"attn_num_mem_kv\": 1", ", \"use_abs_pos_emb\": false");
    cache_vs_recompute("glu + rmsnorm + ff bias", "\"heads\": 2, \"attn_dim_head\": 16, \"ff_glu\": true, "
                                                  "\"use_rmsnorm\": true, \"rotary_pos_emb\": true", "");
    /* feed-forward variants and block structures: the decoding step's whole-row ends of a branch */
    cache_vs_recompute("post-norm rotary", "\"heads\": 2, \"attn_dim_head\": 16, \"pre_norm\": false, "
                                           "\"rotary_pos_emb\": true", "");
    cache_vs_recompute("sandwich scalenorm alibi", "\"heads\": 4, \"attn_dim_head\": 8, \"sandwich_norm\": true, "
                                                   "\"use_scalenorm\": true, \"alibi_pos_bias\": true",
                       ", \"use_abs_pos_emb\": false");
    cache_vs_recompute("swiglu no bias post-act-ln simple rmsnorm",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"ff_glu\": true, \"ff_swish\": true, "
                       "\"ff_no_bias\": true, \"ff_post_act_ln\": true, \"use_simple_rmsnorm\": true, "
                       "\"rotary_pos_emb\": true", "");
    cache_vs_recompute("relu squared + post-norm t5 + one head",
                       "\"heads\": 1, \"attn_dim_head\": 32, \"ff_relu_squared\": true, \"pre_norm\": false, "
                       "\"rel_pos_bias\": true, \"rel_pos_num_buckets\": 8, \"rel_pos_max_distance\": 16", "");
    low_precision_decoding("bf16 sandwich swiglu no bias post-act-ln", XTC_DTYPE_BF16, "\"heads\": 2, \"attn_dim_head\": 24, "
                                                               "\"sandwich_norm\": true, \"ff_glu\": true, "
                                                               "\"ff_swish\": true, \"ff_no_bias\": true, "
                                                               "\"ff_post_act_ln\": true");
    xl_cache_vs_recompute("post-norm rotary", "\"heads\": 2, \"attn_dim_head\": 16, \"pre_norm\": false, "
                                              "\"rotary_pos_emb\": true");
    xl_cache_vs_recompute("sandwich alibi swish", "\"heads\": 4, \"attn_dim_head\": 8, \"sandwich_norm\": true, "
                                                  "\"alibi_pos_bias\": true, \"ff_swish\": true");
    cache_vs_recompute("value gates + head scales + rotary + mem-kv",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"attn_gate_values\": true, \"attn_head_scale\": true, "
                       "\"rotary_pos_emb\": true, \"attn_num_mem_kv\": 2", "");
    cache_vs_recompute("qk-norm dim scales + gqa + mem-kv + alibi",
                       "\"heads\": 4, \"attn_dim_head\": 8, \"attn_kv_heads\": 2, \"attn_qk_norm\": true, "
                       "\"attn_qk_norm_dim_scale\": true, \"attn_num_mem_kv\": 1, \"alibi_pos_bias\": true",
                       ", \"use_abs_pos_emb\": false");
    cache_vs_recompute("logit + output soft clamps + t5",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"attn_softclamp_logits\": true, "
                       "\"attn_logit_softclamp_value\": 0.5, \"softclamp_output\": true, \"softclamp_output_value\": 1.5, "
                       "\"rel_pos_bias\": true, \"rel_pos_num_buckets\": 8, \"rel_pos_max_distance\": 16", "");
    cache_vs_recompute("emb_dim + post_emb_norm + l2norm_embed + abs",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"attn_gate_values\": true",
                       ", \"emb_dim\": 20, \"post_emb_norm\": true, \"l2norm_embed\": true");
    cache_vs_recompute("emb_dim + scaled sinusoidal + xpos",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_xpos\": true, \"rotary_emb_dim\": 16, "
                       "\"attn_head_scale\": true", ", \"emb_dim\": 48, \"scaled_sinu_pos_emb\": true");
    /* the first steps see fewer than 8 logits per row: they keep them all, cached or not */
    cache_vs_recompute("sparse top-8 + rotary + mem-kv",
                       "\"heads\": 2, \"attn_dim_head\": 16, \"attn_sparse_topk\": 8, \"rotary_pos_emb\": true, "
                       "\"attn_num_mem_kv\": 1", "");
    cache_vs_recompute("alibi custom slopes + mem-kv",
                       "\"heads\": 4, \"attn_dim_head\": 8, \"alibi_pos_bias\": true, \"attn_num_mem_kv\": 2, "
                       "\"rel_pos_kwargs\": {\"slopes\": [1.5, 0.25, 0.0]}", ", \"use_abs_pos_emb\": false");
    cache_vs_recompute("rotate_num_heads 2 of 4 + mem-kv",
                       "\"heads\": 4, \"attn_dim_head\": 8, \"rotary_pos_emb\": true, "
                       "\"rotate_num_heads\": 2, \"attn_num_mem_kv\": 1", "");
    cache_vs_recompute("dynamic bias + log distance + norm + mem-kv",
                       "\"heads\": 4, \"attn_dim_head\": 8, \"dynamic_pos_bias\": true, \"dynamic_pos_bias_norm\": true, "
                       "\"dynamic_pos_bias_log_distance\": true, \"dynamic_pos_bias_mlp_depth\": 3, \"attn_num_mem_kv\": 2", "");
    low_precision_decoding("bf16 absolute", XTC_DTYPE_BF16, "\"heads\": 2, \"attn_dim_head\": 24");
    low_precision_decoding("bf16 rotary glu gqa", XTC_DTYPE_BF16, "\"heads\": 4, \"attn_dim_head\": 12, \"attn_kv_heads\": 2, "
                                         "\"rotary_pos_emb\": true, \"ff_glu\": true");
    /* int8: rows of 48 (a full block and a short one), and of 24 and 12 (short blocks only) */
    low_precision_decoding("int8 absolute", XTC_DTYPE_I8, "\"heads\": 2, \"attn_dim_head\": 24");
    low_precision_decoding("int8 rotary glu gqa mem-kv", XTC_DTYPE_I8,
                           "\"heads\": 4, \"attn_dim_head\": 12, \"attn_kv_heads\": 2, \"rotary_pos_emb\": true, "
                           "\"ff_glu\": true, \"attn_num_mem_kv\": 2");
    low_precision_decoding("int8 sandwich swiglu no bias alibi", XTC_DTYPE_I8,
                           "\"heads\": 2, \"attn_dim_head\": 24, \"sandwich_norm\": true, \"ff_glu\": true, "
                           "\"ff_swish\": true, \"ff_no_bias\": true, \"alibi_pos_bias\": true");
    xl_cache_vs_recompute("rotary", "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_pos_emb\": true");
    xl_cache_vs_recompute("xpos", "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_xpos\": true, \"rotary_emb_dim\": 16, "
                                  "\"rotary_xpos_scale_base\": 32");
    xl_cache_vs_recompute("alibi + mem-kv", "\"heads\": 4, \"attn_dim_head\": 8, \"alibi_pos_bias\": true, "
                                            "\"attn_num_mem_kv\": 2");
    xl_cache_vs_recompute("rotate_num_heads 1 of 2", "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_pos_emb\": true, "
                                                  "\"rotate_num_heads\": 1");
    xl_cache_vs_recompute("alibi custom slopes", "\"heads\": 4, \"attn_dim_head\": 8, \"alibi_pos_bias\": true, "
                                                 "\"rel_pos_kwargs\": {\"slopes\": [0.5, 2.0]}");
    xl_cache_vs_recompute("dynamic bias", "\"heads\": 2, \"attn_dim_head\": 16, \"dynamic_pos_bias\": true, "
                                          "\"dynamic_pos_bias_norm\": true");
    xl_cache_vs_recompute("t5", "\"heads\": 2, \"attn_dim_head\": 16, \"rel_pos_bias\": true, "
                                "\"rel_pos_num_buckets\": 8, \"rel_pos_max_distance\": 16");
    xl_cache_vs_recompute("value gates + head scales + qk-norm dim scales + logit clamp + rotary",
                          "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_pos_emb\": true, \"attn_gate_values\": true, "
                          "\"attn_head_scale\": true, \"attn_qk_norm\": true, \"attn_qk_norm_dim_scale\": true, "
                          "\"attn_softclamp_logits\": true, \"attn_logit_softclamp_value\": 1.0, "
                          "\"softclamp_output\": true, \"softclamp_output_value\": 2.0");
    ragged_batch("ragged absolute", "\"heads\": 2, \"attn_dim_head\": 16", "");
    ragged_batch("ragged rotary", "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_pos_emb\": true", "");
    ragged_batch("ragged alibi", "\"heads\": 4, \"attn_dim_head\": 8, \"alibi_pos_bias\": true",
                 ", \"use_abs_pos_emb\": false");
    seq2seq_cache_vs_recompute();
    cross_attention_steps();
    sliding_window_runs();
    samplers();
    non_finite_logits();
    logits_dim_generation();
    return xtc_check_report("test_generate");
}
