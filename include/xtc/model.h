/* xtc — models: load an x-transformers checkpoint and run it.
 *
 *     xtc_model_t m;
 *     struct xtc_error err;
 *     if (xtc_model_load_dir(&m, "models/gpt", &err) != XTC_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
 *     struct xtc_inputs in = {.batch = 1, .len = n, .tokens = ids};
 *     struct xtc_outputs out;
 *     if (xtc_model_forward(m, &in, &out, &err) == XTC_OK) use(out.logits);  // (1, n, num_tokens)
 *     xtc_model_free(m);
 *
 * Ownership: outputs are views into memory the model owns, valid until the
 * next call on the same model (as sqlite3_errmsg).
 *
 * Models and contexts: a model holds the weights (and their gradients); a context
 * (xtc_context_create) holds the activations and the state of the calls one thread
 * makes. Many contexts may run forward calls on one model at the same time, each from
 * its own thread: the weights and the model's tables are only read. The xtc_model_*
 * call functions run in the model's built-in context, so they are for one thread at a
 * time; the generation functions (xtc/generate.h) each use a context of their own and
 * may run concurrently on one model. What writes the model: loading and creating,
 * xtc_model_set_decode_dtype, the parameter accessors, backward (gradients) and
 * training. Do those while no other thread uses the model. */
#ifndef XTC_MODEL_H
#define XTC_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xtc/config.h"
#include "xtc/export.h"
#include "xtc/status.h"

struct xtc_safetensors;

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xtc_model *xtc_model_t;

/* Builds the model described by config_json (the constructor call, see config.h)
 * and loads its weights from a safetensors file with x-transformers' names.
 * Every parameter the config implies must be present as F32 with the exact shape,
 * and nothing else may be (persistent buffers such as rotary inv_freq are checked
 * against what the config implies). Sizes are checked against the file before
 * anything is allocated. Errors: XTC_ERR_IO, XTC_ERR_FORMAT (malformed file, missing or
 * unexpected tensor, a weight that is not F32, buffers inconsistent with the config),
 * XTC_ERR_CONFIG, XTC_ERR_SHAPE (parameter shape), XTC_ERR_UNSUPPORTED, XTC_ERR_NOMEM. */
XTC_API xtc_status xtc_model_load(xtc_model_t *out, const char *config_json, size_t config_len,
                                  const char *safetensors_path, struct xtc_error *err);

/* xtc_model_load with the weights from an open safetensors handle (e.g. one parsed from
 * memory with xtc_safetensors_parse); the handle is only read, and may be freed after. */
XTC_API xtc_status xtc_model_load_safetensors(xtc_model_t *out, const char *config_json, size_t config_len,
                                              const struct xtc_safetensors *weights, struct xtc_error *err);

/* Builds the model described by config_json with freshly initialised parameters, the
 * way x-transformers initialises them (Kaiming-normal token embedding, N(0, 1)
 * positions, memory tokens and memory key/values, PyTorch's Linear default, zero
 * norm gains), from a seeded generator: the same seed gives the same model. */
XTC_API xtc_status xtc_model_create(xtc_model_t *out, const char *config_json, size_t config_len, uint64_t seed,
                                    struct xtc_error *err);

/* Writes DIR/config.json and DIR/model.safetensors (x-transformers names, loadable by
 * x-transformers' load_state_dict), each atomically; DIR must exist. */
XTC_API xtc_status xtc_model_save_dir(const struct xtc_model *m, const char *dir, struct xtc_error *err);

/* The configuration JSON the model was built from (owned by the model). */
XTC_API const char *xtc_model_config_json(const struct xtc_model *m);

/* Loads DIR/config.json and DIR/model.safetensors. */
XTC_API xtc_status xtc_model_load_dir(xtc_model_t *out, const char *dir, struct xtc_error *err);

/* Frees the model; NULL is allowed. */
XTC_API void xtc_model_free(xtc_model_t m);

XTC_API const struct xtc_config *xtc_model_config(const struct xtc_model *m);

/* Number of trainable parameters (buffers excluded). */
XTC_API int64_t xtc_model_num_params(const struct xtc_model *m);

/* Precision of the weights that KV-cache decoding steps read (xtc_generate and forward calls
 * with a cache): XTC_DTYPE_F32 (the default, exact); XTC_DTYPE_BF16, which keeps a bfloat16
 * copy of the parameters (round to nearest even, half the bytes: a decoding step is bound by
 * reading the weights) and reads it in the step's products; or XTC_DTYPE_I8, int8 copies of
 * the weight matrices with one fp32 scale per 32 consecutive weights of a row (max|w| / 127,
 * round to nearest: 1.125 bytes a weight). Activations, sums, the cache and everything else
 * stay fp32, and prompt processing and training keep using the fp32 weights. The copy is
 * taken now: call again after changing the weights (training, loading). On error the model
 * decodes in fp32. Errors: XTC_ERR_ARG (another dtype), XTC_ERR_NUMERIC (I8: a weight is inf
 * or NaN), XTC_ERR_NOMEM. */
XTC_API xtc_status xtc_model_set_decode_dtype(xtc_model_t m, enum xtc_dtype dtype, struct xtc_error *err);

/* Precision of the products of forward calls without a KV cache and of their backward (mixed-
 * precision training, PyTorch's bf16 autocast for the linear layers): XTC_DTYPE_F32 (the
 * default) or XTC_DTYPE_BF16, where every linear layer's products (the output, the input
 * gradient and the weight gradient) take bfloat16 operands (round to nearest even) and sum in
 * fp32 into fp32 results. Weights, gradients, optimiser state, norms, activations, attention
 * and the loss stay fp32: no loss scaling is needed. Each forward call rounds the current
 * weights into a copy of its context (half the parameters' size where the CPU has bf16
 * products, run through oneDNN; elsewhere the same products are emulated with fp32 sgemm on
 * the rounded values: the same results up to the order of the sums, not faster than fp32),
 * which its backward reads: weights changed between two calls are seen. xtc_trainer_step and
 * xtc_xl_loss, whose forward calls share the same weights, round them once for all of them. Errors: XTC_ERR_ARG (another dtype). A call then fails with
 * XTC_ERR_NOMEM when the copy cannot be made. */
XTC_API xtc_status xtc_model_set_compute_dtype(xtc_model_t m, enum xtc_dtype dtype, struct xtc_error *err);

/* Inputs of one forward call; x-transformers' forward() keywords. Unused fields are 0/NULL.
 * Masks are bytes, nonzero = keep / may be attended to. */
struct xtc_inputs {
    int64_t batch, len;          /* B, T */
    const int64_t *tokens;       /* (B, T) token ids: TransformerWrapper; XTransformer: tgt */
    const float *x;              /* (B, T, dim): bare Encoder / Decoder / CrossAttender;
                                    (B, T, dim_in): ContinuousTransformerWrapper */
    const uint8_t *mask;         /* (B, T) padding mask of the sequence, or NULL */
    const int64_t *pos;          /* explicit positions: (pos_len) or (B, pos_len), or NULL */
    int64_t pos_len;
    bool pos_batched;
    const float *context;        /* (B, context_len, dim_context) for cross-attention */
    int64_t context_len;
    const uint8_t *context_mask; /* (B, context_len) or NULL */
    const int64_t *context_pos;  /* (context_len) or (B, context_len): rotary positions of the context */
    bool context_pos_batched;
    const float *const *mems;    /* n_mems tensors (B, mem_len, dim), one per self-attention layer */
    const uint8_t *const *mem_masks; /* n_mems masks (B, mem_len) or NULL */
    int n_mems;
    int64_t mem_len;
    bool return_mems;
    const int64_t *src;          /* XTransformer: (B, src_len) source tokens */
    int64_t src_len;
    const uint8_t *src_mask;     /* XTransformer: (B, src_len), also the decoder's context mask */
    const int64_t *seq_start_pos; /* (B) left padding: keys before seq_start_pos[b] are hidden and absolute
                                   positions count from it (x-transformers seq_start_pos), or NULL */
    struct xtc_kv_cache *cache; /* KV cache (xtc/generate.h): tokens are the new tokens after the cached
                                   ones; positions continue from the cache length; their keys/values
                                   are appended. Decoders only, no mask, no save_for_backward. */
    bool save_for_backward;      /* keep activations for xtc_model_backward; the input arrays must then
                                    stay valid until that call */
};

struct xtc_outputs {
    const float *logits;      /* (B, T, out_dim): logits, or embeddings for stacks / return_only_embed;
                                 ContinuousTransformerWrapper: project_out's output (dim_out wide) */
    int64_t out_dim;
    const float *const *mems; /* with return_mems: n_mems tensors (B, mem_len, dim) */
    int n_mems;
    int64_t mem_len;
    const float *encoder_out; /* XTransformer: (B, src_len, dim) */
    float loss;               /* XTransformer: next-token cross-entropy of the decoder over tgt */
};

/* Runs the model in evaluation mode. Errors: XTC_ERR_ARG (missing input, token id out of
 * range, explicit positions outside the absolute table or beyond |p| <= 2^40, inputs the
 * model cannot use such as context without cross-attention, sizes past the limits of one
 * call: batch <= 2^20, len <= 2^24, batch x (len + memory tokens) <= 2^28, batch x keys
 * (memories + cached + new tokens) <= 2^30), XTC_ERR_SHAPE (a sequence
 * longer than the absolute table, position / mems / context lengths that do not fit),
 * XTC_ERR_UNSUPPORTED, XTC_ERR_NOMEM. */
XTC_API xtc_status xtc_model_forward(xtc_model_t m, const struct xtc_inputs *in, struct xtc_outputs *out,
                                     struct xtc_error *err);

/* XTransformer: runs the encoder alone on src (B, src_len) with its padding mask (or NULL);
 * *out is a view (B, src_len, dim) valid until the next call on the model. A later forward
 * with src == NULL and context set runs the decoder alone on tgt (`tokens`), with that
 * context (and a KV cache if given): the decoding steps of XTransformer.generate. */
XTC_API xtc_status xtc_model_encode(xtc_model_t m, const int64_t *src, const uint8_t *src_mask, int64_t batch,
                                    int64_t src_len, const float **out, struct xtc_error *err);

/* Backward of the last forward call, which must have been made with save_for_backward.
 * dout is the cotangent of the first output: logits (B, T, out_dim) for TransformerWrapper,
 * bare stacks and an XTransformer's decoder alone (src NULL, context set: only the decoder's
 * parameters and the context get gradients), or one float (d loss) for a full XTransformer
 * call (src given). Parameter gradients are accumulated
 * into the model's gradient block (xtc_model_param(m, i).grad; clear it with
 * xtc_model_zero_grad). Gradients flow into context, mems and a float x as well
 * (xtc_model_input_grads); mems are treated as constants otherwise (detach_mems).
 * Errors: XTC_ERR_ARG (no saved forward), XTC_ERR_NOMEM. */
XTC_API xtc_status xtc_model_backward(xtc_model_t m, const float *dout, struct xtc_error *err);

/* Sets every parameter gradient to zero (allocating the gradient block on first use). */
XTC_API xtc_status xtc_model_zero_grad(xtc_model_t m, struct xtc_error *err);

/* Gradients of the float inputs of the last backward, as views valid until the next call:
 * x (B, T, dim) for bare stacks and (B, T, dim_in) for ContinuousTransformerWrapper, context
 * (B, context_len, dim_context) (also of an XTransformer's decoder alone), mems (n_mems tensors).
 * A full XTransformer call has no float inputs: all NULL. */
struct xtc_input_grads {
    const float *x;
    const float *context;
    const float *const *mems;
    int n_mems;
};
XTC_API void xtc_model_input_grads(const struct xtc_model *m, struct xtc_input_grads *out);

/* ------------------------------------------------------------------ contexts */

typedef struct xtc_context *xtc_context_t;

/* A context for calls on m (which must outlive it). It allocates nothing until its first
 * call; its activation memory grows to the largest call and is kept. Errors: XTC_ERR_ARG,
 * XTC_ERR_NOMEM. Free with xtc_context_free (NULL is fine).
 *     xtc_context_t ctx;
 *     xtc_context_create(&ctx, m, &err);              // one per thread
 *     xtc_context_forward(ctx, &in, &out, &err);      // out: views into ctx, valid until its next call
 *     xtc_context_free(ctx); */
XTC_API xtc_status xtc_context_create(xtc_context_t *out, xtc_model_t m, struct xtc_error *err);
XTC_API void xtc_context_free(xtc_context_t ctx);
/* The model the context runs. */
XTC_API xtc_model_t xtc_context_model(const struct xtc_context *ctx);

/* xtc_model_forward / _encode / _backward / _input_grads in this context: outputs and the
 * state kept for backward belong to the context. Backward accumulates into the model's
 * gradient block, so it runs in one context at a time. */
XTC_API xtc_status xtc_context_forward(xtc_context_t ctx, const struct xtc_inputs *in, struct xtc_outputs *out,
                                       struct xtc_error *err);
XTC_API xtc_status xtc_context_encode(xtc_context_t ctx, const int64_t *src, const uint8_t *src_mask, int64_t batch,
                                      int64_t src_len, const float **out, struct xtc_error *err);
XTC_API xtc_status xtc_context_backward(xtc_context_t ctx, const float *dout, struct xtc_error *err);
XTC_API void xtc_context_input_grads(const struct xtc_context *ctx, struct xtc_input_grads *out);

/* Parameter table: names (x-transformers'), shapes and data, in checkpoint order. Entries are
 * tensors (xtc_model_param_count of them); xtc_model_num_params counts their trainable floats. */
struct xtc_param_info {
    const char *name;
    int ndim;
    int64_t shape[4];
    const float *data;
    const float *grad; /* NULL until gradients exist; buffers never get any */
    bool is_buffer;
};
XTC_API int xtc_model_param_count(const struct xtc_model *m);

/* Read-only view of entry i (0 <= i < xtc_model_param_count), owned by the model and valid
 * until it is freed; a zeroed struct (name NULL) for any other i. */
XTC_API struct xtc_param_info xtc_model_param(const struct xtc_model *m, int i);

/* Writable access, for callers that change the weights themselves (their own initialisation
 * or optimiser, finite differences): the data of entry i (numel(shape) floats) and its
 * gradient, or NULL for an i out of range, and for the gradient of a buffer or before
 * gradients exist (xtc_model_zero_grad allocates them). The trainable entries come first and
 * are contiguous: xtc_model_param_data(m, 0) spans all xtc_model_num_params floats, and so
 * does the gradient. After changing weights, call xtc_model_set_decode_dtype again if a
 * bfloat16 decoding copy is in use. Not while another thread runs the model. */
XTC_API float *xtc_model_param_data(xtc_model_t m, int i);
XTC_API float *xtc_model_param_grad(xtc_model_t m, int i);

#ifdef __cplusplus
}
#endif
#endif
