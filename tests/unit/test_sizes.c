/* Size arithmetic at the public boundary: calls whose sizes or indices would overflow
 * (batch x keys x features, batch x prompt length, parameter counts, view strides, the
 * activation arena's total) must be refused with their status and a message naming the
 * quantity, before anything is allocated or read from the caller's arrays. The arrays passed
 * here are small on purpose: a call that believed the huge sizes would read or write past them.
 *
 * main() returns non-zero if any check fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/arena.h"
#include "xtc/generate.h"
#include "xtc/model.h"
#include "xtc/rope.h"
#include "xtc/safetensors.h"
#include "xtc/tensor.h"
#include "xtc/train.h"

/* A decoder with 128 heads of 4096 features (2^19 key features per token) on a model dimension
 * of 2: small parameters, wide keys. No positional embedding, so any length is allowed; a long
 * max_mem_len for the Transformer-XL sizes. */
static const char *WIDE_CONFIG =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 16, \"max_seq_len\": 8, "
    "\"max_mem_len\": 16777216, \"use_abs_pos_emb\": false, \"attn_layers\": {\"class\": \"Decoder\", "
    "\"kwargs\": {\"dim\": 2, \"depth\": 1, \"heads\": 128, \"attn_dim_head\": 4096}}}}";

/* The smallest byte-level model the trainer takes. */
static const char *BYTE_CONFIG =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
    "\"use_abs_pos_emb\": false, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 8, "
    "\"depth\": 1, \"heads\": 1, \"attn_dim_head\": 8}}}}";

static xtc_model_t make_model(const char *cfg) {
    xtc_model_t m = NULL;
    struct xtc_error err = {0};
    if (xtc_model_create(&m, cfg, strlen(cfg), 1, &err) != XTC_OK)
        fprintf(stderr, "model: %s\n", err.msg);
    return m;
}

/* rc == want and the message holds every word of `words` (NULL-terminated). */
static void expect(const char *what, xtc_status rc, xtc_status want, const struct xtc_error *err,
                   const char *const *words) {
    CHECK(rc == want, "%s: status %d (%s), want %d; message: %s", what, (int)rc, xtc_status_str(rc), (int)want,
          rc == XTC_OK ? "" : err->msg);
    for (int i = 0; rc == want && words[i]; i++)
        CHECK(strstr(err->msg, words[i]) != NULL, "%s: message \"%s\" does not name \"%s\"", what, err->msg,
              words[i]);
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* batch 2^20 x (2^24 memories + 1 token) x 2^19 key features is past 2^63. */
static void test_forward_key_rows(xtc_model_t m) {
    const int64_t B = (int64_t)1 << 20, M = (int64_t)1 << 24;
    int64_t *tokens = calloc((size_t)B, sizeof *tokens);
    float mem_row[16] = {0};
    const float *mems[1] = {mem_row};
    struct xtc_inputs in = {.batch = B, .len = 1, .tokens = tokens, .mems = mems, .n_mems = 1, .mem_len = M};
    struct xtc_outputs out;
    struct xtc_error err = {0};
    if (!tokens) {
        CHECK(0, "out of memory for the test's tokens");
        return;
    }
    expect("forward with 2^20 x 2^24 memory rows", xtc_model_forward(m, &in, &out, &err), XTC_ERR_ARG, &err,
           WORDS("batch 1048576", "key rows"));
    /* the same in a context of its own */
    xtc_context_t ctx = NULL;
    CHECK(xtc_context_create(&ctx, m, &err) == XTC_OK, "context: %s", err.msg);
    if (ctx)
        expect("context forward", xtc_context_forward(ctx, &in, &out, &err), XTC_ERR_ARG, &err, WORDS("key rows"));
    xtc_context_free(ctx);
    free(tokens);
}

/* The prompt ids (B, T) are read only after B x T is known to fit. */
static void test_generate_sizes(xtc_model_t m) {
    int64_t prompts[16] = {0}, out[16];
    int64_t n_out = 0;
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = 8;
    struct xtc_error err = {0};
    /* (2^32 + 1) x 2^32 wraps to 2^32 */
    expect("xtc_generate_xl with batch x prompt length past 2^64",
           xtc_generate_xl(m, prompts, ((int64_t)1 << 32) + 1, (int64_t)1 << 32, &o, NULL, NULL, out, &n_out, NULL,
                           &err),
           XTC_ERR_ARG, &err, WORDS("batch 4294967297", "prompt length 4294967296"));
    /* prompt length + max_new_tokens past INT64_MAX */
    expect("xtc_generate with a prompt length near INT64_MAX",
           xtc_generate(m, prompts, 1, INT64_MAX - 4, &o, NULL, NULL, out, &n_out, NULL, &err), XTC_ERR_ARG, &err,
           WORDS("prompt length 9223372036854775803"));
}

/* batch 2^40 x max_mem_len 2^24 memory rows wrap a 64-bit count. */
static void test_xl_sizes(xtc_model_t m) {
    struct xtc_error err = {0};
    xtc_xl_workspace_t w = NULL;
    expect("xtc_xl_workspace_create with batch 2^40",
           xtc_xl_workspace_create(&w, m, (int64_t)1 << 40, 1, &err), XTC_ERR_ARG, &err,
           WORDS("batch 1099511627776", "max_mem_len 16777216"));
    CHECK(w == NULL, "no workspace on failure");
    xtc_xl_workspace_free(w);

    /* a valid workspace, then x (1, 2^62): its logits (1, 2^62 - 1, 16) cannot exist */
    if (xtc_xl_workspace_create(&w, m, 1, 2, &err) != XTC_OK) {
        CHECK(0, "workspace: %s", err.msg);
        return;
    }
    int64_t x[4] = {0};
    float loss = 0;
    struct xtc_xl_loss_options o = {.segment = 2, .ignore_index = -100, .scale = 1.0f};
    expect("xtc_xl_loss with length 2^62", xtc_xl_loss(m, x, 1, (int64_t)1 << 62, &o, w, &loss, NULL, &err),
           XTC_ERR_ARG, &err, WORDS("length 4611686018427387904", "logits_dim 16"));
    xtc_xl_workspace_free(w);
}

/* Every step of batch 65536 x seq_len 2^20 would be one forward call of 2^36 tokens. */
static void test_trainer_sizes(void) {
    xtc_model_t m = make_model(BYTE_CONFIG);
    if (!m) {
        CHECK(0, "byte model");
        return;
    }
    size_t len = 22u << 20; /* enough for crops of 2^20 + 1 bytes, training and held out */
    uint8_t *corpus = malloc(len);
    if (!corpus) {
        xtc_model_free(m);
        CHECK(0, "out of memory for the test's corpus");
        return;
    }
    memset(corpus, 'a', len);
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.batch = 65536;
    o.seq_len = (int64_t)1 << 20;
    struct xtc_error err = {0};
    xtc_trainer_t t = NULL;
    expect("xtc_trainer_create with batch 65536 x seq_len 2^20", xtc_trainer_create(&t, m, corpus, len, &o, &err),
           XTC_ERR_ARG, &err, WORDS("batch 65536", "seq_len 1048576"));
    xtc_trainer_free(t); /* the model went with the failed call */
    free(corpus);
}

/* Row i of logits (N, V) starts at i * V: N x V floats must be an array that can exist. */
static void test_cross_entropy_sizes(void) {
    float logits[4] = {0};
    int64_t targets[2] = {0, 0};
    float loss = 0;
    struct xtc_error err = {0};
    expect("xtc_cross_entropy with V 2^62",
           xtc_cross_entropy(logits, targets, 2, (int64_t)1 << 62, -100, 1.0f, &loss, NULL, NULL, &err), XTC_ERR_ARG,
           &err, WORDS("N 2", "V 4611686018427387904"));
}

/* n floats of moments: 4 * (2^62 + 1) wraps to 4 bytes. */
static void test_adamw_sizes(void) {
    struct xtc_adamw opt;
    struct xtc_error err = {0};
    size_t n = ((size_t)1 << 62) + 1;
    xtc_status rc = xtc_adamw_init(&opt, n, 0.9f, 0.99f, 1e-8f, 0.0f, &err);
    expect("xtc_adamw_init with 2^62 + 1 parameters", rc, XTC_ERR_ARG, &err, WORDS("4611686018427387905 parameters"));
    if (rc == XTC_OK)
        xtc_adamw_free(&opt);
}

static void test_rope_sizes(void) {
    struct xtc_rope_params p;
    xtc_rope_params_default(&p);
    struct xtc_error err = {0};
    /* seq stride 2^62 elements: position 1 is 2^64 bytes away, which wraps to position 0 */
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct xtc_tensor x = xtc_tensor_make(XTC_DTYPE_F32, 4, (int64_t[]){1, 1, 2, 2}, data);
    x.stride[2] = (int64_t)1 << 62;
    expect("xtc_rope_apply with a 2^62 stride", xtc_rope_apply(&x, &x, &p, NULL, &err), XTC_ERR_SHAPE, &err,
           WORDS("strides (4, 4, 4611686018427387904, 1)", "PTRDIFF_MAX"));
    /* a table whose row stride reaches past the address space */
    struct xtc_tensor y = xtc_tensor_make(XTC_DTYPE_F32, 4, (int64_t[]){1, 1, 2, 2}, data);
    float cs[4] = {1, 1, 1, 1}, sn[4] = {0, 0, 0, 0};
    struct xtc_tensor cos_t = xtc_tensor_make(XTC_DTYPE_F32, 2, (int64_t[]){2, 2}, cs);
    struct xtc_tensor sin_t = xtc_tensor_make(XTC_DTYPE_F32, 2, (int64_t[]){2, 2}, sn);
    cos_t.stride[0] = (int64_t)1 << 62;
    expect("xtc_rope_apply_table with a 2^62 table stride",
           xtc_rope_apply_table(&y, &y, &cos_t, &sin_t, XTC_ROPE_HALF_SPLIT, &err), XTC_ERR_SHAPE, &err,
           WORDS("cos table", "PTRDIFF_MAX"));
    /* context_length x head_dim floats past the address space: the tables cannot be that long */
    expect("xtc_rope_tables with context_length 2^62", xtc_rope_tables(cs, sn, (int64_t)1 << 62, 4, 10000.0, &err),
           XTC_ERR_ARG, &err, WORDS("context_length 4611686018427387904", "head_dim 4"));
}

static void test_tensor_make(void) {
    const int64_t big = (int64_t)1 << 40;
    struct xtc_tensor t = xtc_tensor_make(XTC_DTYPE_F32, 3, (int64_t[]){big, big, big}, NULL);
    CHECK(t.ndim == -1, "2^120 elements: ndim %d, strides %lld %lld %lld", t.ndim, (long long)t.stride[0],
          (long long)t.stride[1], (long long)t.stride[2]);
    t = xtc_tensor_make(XTC_DTYPE_F32, 2, (int64_t[]){big, (int64_t)1 << 22}, NULL);
    CHECK(t.ndim == 2 && t.stride[0] == (int64_t)1 << 22 && t.stride[1] == 1, "2^40 x 2^22 elements fit: ndim %d",
          t.ndim);
}

static void test_safetensors_write_count(void) {
    struct xtc_safetensors_tensor one = {.name = "a", .dtype = XTC_DTYPE_F32, .ndim = 0};
    struct xtc_error err = {0};
    size_t n = SIZE_MAX / 16; /* n + 2 chunks of 16 bytes wrap */
    expect("xtc_safetensors_write with SIZE_MAX / 16 tensors",
           xtc_safetensors_write("/nonexistent-dir/x.safetensors", &one, n, NULL, 0, &err), XTC_ERR_ARG, &err,
           WORDS("too many"));
}

/* A plan whose total wraps size_t (thousands of large buffers in a deep stack) must not
 * commit a small block. */
static void test_arena_total(void) {
    struct xtc_arena a = {0};
    struct xtc_error err = {0};
    xtc_arena_measure(&a);
    xtc_arena_floats(&a, SIZE_MAX / 8);
    xtc_arena_floats(&a, SIZE_MAX / 8);
    expect("arena total past SIZE_MAX", xtc_arena_commit(&a, &err), XTC_ERR_NOMEM, &err,
           WORDS("activations", "more than"));
    /* the arena stays usable */
    xtc_arena_measure(&a);
    xtc_arena_floats(&a, 16);
    CHECK(xtc_arena_commit(&a, &err) == XTC_OK, "a small plan after the failed one: %s", err.msg);
    CHECK(xtc_arena_floats(&a, 16) != NULL, "a buffer from the committed arena");
    xtc_arena_free(&a);
}

int main(void) {
    xtc_model_t m = make_model(WIDE_CONFIG);
    CHECK(m != NULL, "wide model");
    if (m) {
        test_forward_key_rows(m);
        test_generate_sizes(m);
        test_xl_sizes(m);
    }
    xtc_model_free(m);
    test_trainer_sizes();
    test_adamw_sizes();
    test_cross_entropy_sizes();
    test_rope_sizes();
    test_tensor_make();
    test_safetensors_write_count();
    test_arena_total();
    return xtc_check_report("test_sizes");
}
