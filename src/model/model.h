/* Private model structures: a network is an optional TransformerWrapper around
 * an attention stack; a model is one network (two for XTransformer) plus the
 * one block of parameters they point into (params.c). */
#ifndef XTC_MODEL_PRIVATE_H
#define XTC_MODEL_PRIVATE_H

#include <stddef.h>

#include "backend/autocast.h"
#include "core/arena.h"
#include "layers/stack.h"
#include "model/wrapper.h"
#include "xtc/model.h"

struct xtc_net {
    struct xtc_net_config cfg;
    /* TransformerWrapper parameters (NULL when absent) */
    float *token_emb;     /* (V, E), E = emb_dim (default C) */
    float *pos_emb;       /* (max_seq_len, E) learned absolute */
    float *pos_scale;     /* (1) scaled sinusoidal */
    float *memory_tokens; /* (num_memory_tokens, C) */
    float *to_logits;     /* (logits_dim, C); NULL when tied or return_only_embed */
    float *post_emb_norm; /* (E) LayerNorm gain without unit offset, or NULL */
    float *project_w, *project_b; /* project_emb (C, E), (C) when emb_dim != dim, else NULL */
    float *project_in;    /* ContinuousTransformerWrapper: (C, dim_in), or NULL (identity) */
    struct xtc_stack stack;
};

struct xtc_param {
    char name[160];
    int ndim;
    int64_t shape[4];
    size_t offset; /* in floats, into the parameter block */
    size_t numel;
    bool is_buffer;
};

/* Two-pass builder: pass 1 (data == NULL) records names and shapes and counts floats;
 * pass 2 hands out pointers into the allocated block at the same offsets. */
struct xtc_param_builder {
    struct xtc_param *params;
    int n, cap;
    size_t total;       /* trainable floats: they come first in the block */
    size_t buf_total;   /* buffer floats, placed after all trainable ones */
    size_t train_total; /* pass 2: the trainable total found by pass 1 */
    float *data;
    char prefix[96];
    struct xtc_error *err;
    xtc_status status;
};

float *xtc_param_add(struct xtc_param_builder *b, const char *name, int ndim, const int64_t *shape, bool is_buffer);
/* x-transformers' initialisation of every parameter (init.c). */
void xtc_params_init(struct xtc_model *m, uint64_t seed);

/* Registers every parameter of a network under the builder's prefix. */
void xtc_net_params(struct xtc_param_builder *b, struct xtc_net *net);

/* What the last forward call left for backward. */
struct xtc_forward_state {
    bool valid;                    /* made with save_for_backward */
    bool bf16;                     /* ran with bf16 products: so does its backward */
    bool xt_full;                  /* XTransformer with src: encoder, decoder and loss (else one network) */
    struct xtc_inputs in;          /* the caller's inputs */
    struct xtc_inputs enc_in, dec_in; /* XTransformer: the two network calls */
    struct xtc_net_bufs enc, dec;  /* dec: the model's network (the decoder for XTransformer) */
    int64_t *tgt;                  /* XTransformer: tgt with ignore_index -> pad_value */
    int64_t kept;                  /* XTransformer: scored targets */
    float *dlogits, *dcontext;
};

/* Activations and the state for backward of the calls one thread makes on a model. */
struct xtc_context {
    struct xtc_model *m;
    struct xtc_arena arena; /* activations, re-planned when shapes grow */
    struct xtc_forward_state last;
    /* bf16 products (xtc_model_set_compute_dtype): the weights as this context's last forward
     * read them, rounded, and the products' scratch (compute_dtype.c) */
    struct xtc_autocast ac;
    uint16_t *ac_bf16;
    float *ac_f32;
    int ac_pins;           /* xtc_context_autocast_pin depth: > 0 while the weights stay as they are */
    bool ac_valid;         /* the copy holds the weights of the current pin (never true unpinned) */
    uint64_t ac_refreshes; /* copies made, for the tests */
};
/* Frees what a context holds (not the struct itself: the model's built-in one is embedded). */
void xtc_context_release(struct xtc_context *ctx);

/* compute_dtype.c: before a forward call with bf16 products, rounds the weights into the
 * context's copy and reserves the products' scratch; then the calls run between begin (which
 * makes the context's state the thread's, returning the one it replaces) and end (which puts
 * that one back and turns a product that could not run into an error). */
xtc_status xtc_context_autocast_refresh(struct xtc_context *ctx, struct xtc_error *err);
/* Between pin and unpin the caller promises that the model's weights do not change, so the
 * forward calls of that span round them once, in the first call, and the later ones reuse the
 * copy (a training step's micro-batches and XL segments: the optimiser runs after unpin).
 * Pins nest; the copy goes stale at the outermost pin and unpin. Unpinned, every forward call
 * rounds again: a caller of the public API may change the weights through their pointers
 * between two calls without telling the library. */
void xtc_context_autocast_pin(struct xtc_context *ctx);
void xtc_context_autocast_unpin(struct xtc_context *ctx);
/* Tests: with always set, pinned forward calls round the weights again too (the behaviour
 * without pins, to compare with). */
void xtc_context_autocast_force_refresh(bool always);
struct xtc_autocast *xtc_context_autocast_begin(struct xtc_context *ctx);
xtc_status xtc_context_autocast_end(struct xtc_context *ctx, struct xtc_autocast *prev, xtc_status st,
                                    struct xtc_error *err);
void xtc_context_autocast_release(struct xtc_context *ctx);

/* Limits of one call (xtc_net_check_inputs), shared by the code that sizes buffers for calls.
 * Query rows (batch x tokens, memory tokens included) and key rows (batch x keys: memories,
 * cached and new tokens) are bounded so that every activation size, a row count times at
 * most 2^23 features (the config's limits), stays below 2^53 floats. */
#define XTC_MAX_BATCH (1 << 20)
#define XTC_MAX_LEN (1 << 24)
#define XTC_MAX_ROWS ((int64_t)1 << 28)
#define XTC_MAX_KEY_ROWS ((int64_t)1 << 30)

/* Checks a call's inputs against a network (model.c); context_from_encoder: XTransformer's
 * decoder, whose context is produced inside the call. */
xtc_status xtc_net_check_inputs(const struct xtc_net *net, const struct xtc_inputs *in, bool tokens_checked,
                                bool context_from_encoder, struct xtc_error *err);

/* Generation samples token ids from the logits (as x-transformers: ids 0..logits_dim-1, so a
 * narrower head never proposes the last ids): a head wider than the vocabulary (logits_dim >
 * num_tokens) could choose an id that is no token, and is XTC_ERR_UNSUPPORTED there, naming
 * `what`. (Losses take any width: their targets must be below logits_dim, xtc_cross_entropy.) */
xtc_status xtc_net_check_vocab_head(const struct xtc_net_config *c, const char *what, struct xtc_error *err);

struct xtc_model {
    struct xtc_config cfg;
    struct xtc_net net, enc; /* enc only for XTransformer */
    struct xtc_param *params;
    int n_params;
    float *data;
    size_t n_floats;    /* trainable parameters [0, n_trainable), then buffers */
    size_t n_trainable;
    char *config_json;      /* the constructor call this model was built from */
    float *grad;            /* gradient block, same layout as data (NULL until first needed) */
    uint16_t *data_bf16;    /* bfloat16 copy of data for decoding (xtc_model_set_decode_dtype), or NULL */
    struct xtc_q8_matrix *q8; /* int8 copies of the matrices for decoding, sorted by offset, or NULL */
    int n_q8;
    int8_t *q8_values;      /* the int8 values and the block scales that q8's entries point into */
    float *q8_scales;
    bool compute_bf16;       /* xtc_model_set_compute_dtype(BF16) */
    struct xtc_context base; /* the built-in context of the xtc_model_* calls */
    /* handed to every backward of the built-in context (struct xtc_stack_grads.layer_done) */
    void (*grad_hook)(void *user, int sub);
    void *grad_hook_user;
};

/* Frees the decoding copies of the weights (decode_weights.c) and points the stacks at the
 * fp32 block again. */
void xtc_model_drop_decode_weights(struct xtc_model *m);

#endif
