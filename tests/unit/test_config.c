/* Unit tests for xtc_config_parse (include/xtc/config.h): the resolved defaults of
 * x-transformers 2.26.4 (reference §A), and one invalid configuration per defect,
 * each checked for the exact status code and a message naming the offending keyword.
 * Also: a rotary dimension below 32 is a warning through xtc_log_set, not an error.
 *
 * main() returns non-zero if any check fails. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xtc/config.h"
#include "xtc/status.h"

static xtc_status parse(struct xtc_config *cfg, const char *json, struct xtc_error *err) {
    memset(err, 0, sizeof *err);
    return xtc_config_parse(cfg, json, strlen(json), err);
}

/* TransformerWrapper(num_tokens=256, max_seq_len=LEN, attn_layers=CLASS(dim=DIM, depth=2, EXTRA)) */
static char *tw(const char *cls, int max_seq_len, const char *extra) {
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": %d, "
             "\"attn_layers\": {\"class\": \"%s\", \"kwargs\": {\"dim\": 64, \"depth\": 2%s%s}}}}",
             max_seq_len, cls, extra[0] ? ", " : "", extra);
    return buf;
}

// --------------------------------------------------------------- defaults

static void test_defaults(void) {
    struct xtc_config cfg;
    struct xtc_error err;
    xtc_status rc = parse(&cfg, tw("Decoder", 1024, ""), &err);
    CHECK(rc == XTC_OK, "default decoder: %d %s", (int)rc, err.msg);
    const struct xtc_layers_config *l = &cfg.net.layers;
    const struct xtc_wrapper_config *w = &cfg.net.wrap;
    CHECK(cfg.model_class == XTC_MODEL_TRANSFORMER_WRAPPER && cfg.net.has_wrapper, "class TransformerWrapper");
    CHECK(l->dim == 64 && l->depth == 2, "dim %d depth %d", l->dim, l->depth);
    CHECK(l->heads == 8, "default heads %d, want 8", l->heads);
    CHECK(l->dim_head == 64, "default attn_dim_head %d, want 64 (independent of dim)", l->dim_head);
    CHECK(l->kv_heads == 8, "default kv_heads %d, want heads", l->kv_heads);
    CHECK(l->rotary_emb_dim == 32, "default rotary_emb_dim %d, want dim_head / 2 = 32", l->rotary_emb_dim);
    CHECK(!l->rotary && !l->alibi && !l->rel_pos_bias && !l->rotary_xpos, "no relative positions by default");
    CHECK(l->ff_mult == 4.0 && l->ff_inner == 256 && !l->ff_glu, "ff_mult %g inner %d", l->ff_mult, l->ff_inner);
    CHECK(l->causal && !l->cross_attend && !l->only_cross, "Decoder is causal, no cross-attention");
    CHECK(l->norm == XTC_NORM_LAYERNORM, "default norm LayerNorm");
    CHECK(l->pre_norm && !l->sandwich_norm && l->final_norm, "pre-norm with a final norm by default");
    CHECK(l->ff_activation == XTC_FF_GELU && !l->ff_no_bias && !l->ff_post_act_ln, "GELU feed-forward with biases");
    CHECK(l->dim_context == 64, "dim_context defaults to dim: %d", l->dim_context);
    CHECK(l->alibi_num_heads == 8, "alibi_num_heads defaults to heads: %d", l->alibi_num_heads);
    CHECK(l->rel_pos_num_buckets == 32 && l->rel_pos_max_distance == 128, "T5 defaults 32 / 128");
    CHECK(l->rotary_xpos_scale_base == 512 && l->rotary_interpolation_factor == 1 &&
              l->rotary_base_rescale_factor == 1,
          "rotary defaults 512 / 1 / 1");
    CHECK(l->rotary_layout == XTC_ROPE_INTERLEAVED, "rotary layout defaults to interleaved (x-transformers >= 1.30)");
    CHECK(l->num_mem_kv == 0 && !l->qk_norm && l->qk_norm_scale == 10, "mem kv 0, qk_norm off, scale 10");
    CHECK(w->num_tokens == 256 && w->max_seq_len == 1024, "wrapper sizes %d %d", w->num_tokens, w->max_seq_len);
    CHECK(w->use_abs_pos_emb, "absolute positions on by default");
    CHECK(!w->scaled_sinu_pos_emb && !w->tie_embedding && !w->return_only_embed && w->num_memory_tokens == 0 &&
              w->max_mem_len == 0,
          "wrapper flags default off");
    CHECK(cfg.ignore_index == -100, "ignore_index -100: %d", cfg.ignore_index);

    /* abs pos: off under rotary or T5, still on under ALiBi, off with max_seq_len 0 */
    CHECK(parse(&cfg, tw("Decoder", 1024, "\"rotary_pos_emb\": true"), &err) == XTC_OK &&
              !cfg.net.wrap.use_abs_pos_emb && cfg.net.layers.rotary,
          "rotary disables abs pos: %s", err.msg);
    CHECK(parse(&cfg, tw("Decoder", 1024, "\"rotary_xpos\": true"), &err) == XTC_OK && cfg.net.layers.rotary &&
              cfg.net.layers.rotary_xpos && !cfg.net.wrap.use_abs_pos_emb,
          "rotary_xpos turns rotary on and abs pos off: %s", err.msg);
    CHECK(parse(&cfg, tw("Decoder", 1024, "\"rel_pos_bias\": true"), &err) == XTC_OK &&
              !cfg.net.wrap.use_abs_pos_emb && cfg.net.layers.rel_pos_bias,
          "rel_pos_bias disables abs pos: %s", err.msg);
    CHECK(parse(&cfg, tw("Decoder", 1024, "\"alibi_pos_bias\": true"), &err) == XTC_OK &&
              cfg.net.wrap.use_abs_pos_emb && cfg.net.layers.alibi,
          "alibi keeps abs pos (reference §C example 2): %s", err.msg);
    CHECK(parse(&cfg, tw("Decoder", 0, ""), &err) == XTC_OK && !cfg.net.wrap.use_abs_pos_emb &&
              cfg.net.wrap.max_seq_len == 0,
          "max_seq_len 0 turns abs pos off: %s", err.msg);
    CHECK(parse(&cfg,
                "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 10, \"max_seq_len\": 8, "
                "\"use_abs_pos_emb\": false, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, "
                "\"depth\": 1}}}}",
                &err) == XTC_OK &&
              !cfg.net.wrap.use_abs_pos_emb,
          "use_abs_pos_emb false: %s", err.msg);
    CHECK(parse(&cfg,
                "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 10, \"max_seq_len\": 8, "
                "\"scaled_sinu_pos_emb\": true, \"attn_layers\": {\"class\": \"Encoder\", \"kwargs\": {\"dim\": 16, "
                "\"depth\": 1}}}}",
                &err) == XTC_OK &&
              cfg.net.wrap.use_abs_pos_emb && cfg.net.wrap.scaled_sinu_pos_emb && !cfg.net.layers.causal,
          "scaled sinusoidal + Encoder: %s", err.msg);
    CHECK(parse(&cfg,
                "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 10, \"max_seq_len\": 8, "
                "\"scaled_sinu_pos_emb\": true, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, "
                "\"depth\": 1, \"rotary_pos_emb\": true}}}}",
                &err) == XTC_OK &&
              !cfg.net.wrap.use_abs_pos_emb && !cfg.net.wrap.scaled_sinu_pos_emb,
          "scaled sinusoidal resolved off under rotary: %s", err.msg);

    /* derived values */
    CHECK(parse(&cfg, tw("Decoder", 64, "\"attn_dim_head\": 48, \"heads\": 3, \"ff_mult\": 2.5"), &err) == XTC_OK &&
              cfg.net.layers.rotary_emb_dim == 24 && cfg.net.layers.ff_inner == 160 && cfg.net.layers.heads == 3,
          "rotary_emb_dim = dim_head/2, ff_inner = int(dim * ff_mult): %d %d (%s)", cfg.net.layers.rotary_emb_dim,
          cfg.net.layers.ff_inner, err.msg);
    CHECK(parse(&cfg, tw("Encoder", 64, "\"attn_one_kv_head\": true, \"use_rmsnorm\": true, \"ff_glu\": true"), &err) ==
                  XTC_OK &&
              cfg.net.layers.kv_heads == 1 && cfg.net.layers.norm == XTC_NORM_RMSNORM && cfg.net.layers.ff_glu,
          "one kv head, RMSNorm, GLU: %s", err.msg);
    CHECK(parse(&cfg, tw("Decoder", 64, "\"ff_glu\": true, \"ff_swish\": true, \"ff_no_bias\": true, "
                                         "\"use_scalenorm\": true, \"sandwich_norm\": true"), &err) == XTC_OK &&
              cfg.net.layers.ff_activation == XTC_FF_SWISH && cfg.net.layers.ff_no_bias &&
              cfg.net.layers.norm == XTC_NORM_SCALENORM && cfg.net.layers.sandwich_norm && cfg.net.layers.final_norm,
          "SwiGLU without biases, ScaleNorm, sandwich norm: %s", err.msg);
    CHECK(parse(&cfg, tw("Encoder", 64, "\"ff_swish\": true, \"ff_relu_squared\": true, \"ff_post_act_ln\": true, "
                                         "\"pre_norm\": false, \"use_simple_rmsnorm\": true"), &err) == XTC_OK &&
              cfg.net.layers.ff_activation == XTC_FF_RELU_SQUARED && cfg.net.layers.ff_post_act_ln &&
              !cfg.net.layers.pre_norm && !cfg.net.layers.final_norm &&
              cfg.net.layers.norm == XTC_NORM_SIMPLE_RMSNORM,
          "relu_squared wins over swish, post-norm has no final norm, SimpleRMSNorm: %s", err.msg);
    CHECK(parse(&cfg, tw("Decoder", 64, "\"pre_norm_has_final_norm\": false"), &err) == XTC_OK &&
              cfg.net.layers.pre_norm && !cfg.net.layers.final_norm,
          "pre-norm without a final norm: %s", err.msg);
    CHECK(parse(&cfg, tw("Decoder", 64, "\"attn_kv_heads\": 2, \"alibi_pos_bias\": true, \"alibi_num_heads\": 3"),
                &err) == XTC_OK &&
              cfg.net.layers.kv_heads == 2 && cfg.net.layers.alibi_num_heads == 3,
          "GQA and alibi_num_heads: %s", err.msg);

    /* bare stacks */
    CHECK(parse(&cfg, "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 32, \"depth\": 3}}", &err) == XTC_OK &&
              cfg.model_class == XTC_MODEL_ENCODER && !cfg.net.has_wrapper && !cfg.net.layers.causal &&
              cfg.net.layers.depth == 3,
          "bare Encoder: %s", err.msg);
    CHECK(parse(&cfg, "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1, \"cross_attend\": true, "
                      "\"cross_attn_dim_context\": 24}}",
                &err) == XTC_OK &&
              cfg.model_class == XTC_MODEL_DECODER && cfg.net.layers.causal && cfg.net.layers.cross_attend &&
              cfg.net.layers.dim_context == 24,
          "bare cross-attending Decoder: %s", err.msg);
    CHECK(parse(&cfg, "{\"class\": \"CrossAttender\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}", &err) == XTC_OK &&
              cfg.model_class == XTC_MODEL_CROSS_ATTENDER && cfg.net.layers.cross_attend &&
              cfg.net.layers.only_cross,
          "CrossAttender: %s", err.msg);
    /* rotary with a T5 / dynamic bias fails only in self-attention, which a CrossAttender lacks */
    CHECK(parse(&cfg, "{\"class\": \"CrossAttender\", \"kwargs\": {\"dim\": 32, \"depth\": 1, "
                      "\"rotary_pos_emb\": true, \"rel_pos_bias\": true}}", &err) == XTC_OK &&
              cfg.net.layers.rotary && cfg.net.layers.rel_pos_bias,
          "CrossAttender with rotary and rel_pos_bias: %s", err.msg);
    /* residual attention with (straight-through) sparse top-k: the reference kernels take both */
    CHECK(parse(&cfg, "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, \"residual_attn\": true, "
                      "\"attn_sparse_topk\": 2, \"attn_sparse_topk_straight_through\": true}}", &err) == XTC_OK,
          "residual_attn with straight-through sparse top-k: %s", err.msg);

    /* XTransformer splits enc_ / dec_ keys: wrapper keys to the wrappers, the rest to the stacks */
    rc = parse(&cfg,
               "{\"class\": \"XTransformer\", \"kwargs\": {\"dim\": 32, \"tie_token_emb\": false, "
               "\"enc_num_tokens\": 100, \"enc_depth\": 1, \"enc_heads\": 4, \"enc_max_seq_len\": 20, "
               "\"enc_num_memory_tokens\": 2, \"dec_num_tokens\": 90, \"dec_depth\": 2, \"dec_heads\": 2, "
               "\"dec_max_seq_len\": 30, \"dec_rotary_pos_emb\": true, \"ignore_index\": -1, \"pad_value\": 3}}",
               &err);
    CHECK(rc == XTC_OK, "XTransformer: %d %s", (int)rc, err.msg);
    CHECK(cfg.model_class == XTC_MODEL_XTRANSFORMER, "XTransformer class");
    CHECK(cfg.enc.has_wrapper && cfg.enc.wrap.num_tokens == 100 && cfg.enc.wrap.max_seq_len == 20 &&
              cfg.enc.wrap.return_only_embed && cfg.enc.wrap.use_abs_pos_emb && cfg.enc.wrap.num_memory_tokens == 2,
          "XTransformer encoder wrapper");
    CHECK(cfg.enc.layers.dim == 32 && cfg.enc.layers.depth == 1 && cfg.enc.layers.heads == 4 &&
              !cfg.enc.layers.causal && !cfg.enc.layers.cross_attend,
          "XTransformer encoder stack");
    CHECK(cfg.net.wrap.num_tokens == 90 && cfg.net.wrap.max_seq_len == 30 && !cfg.net.wrap.return_only_embed &&
              !cfg.net.wrap.use_abs_pos_emb,
          "XTransformer decoder wrapper (abs pos off under dec_rotary_pos_emb)");
    CHECK(cfg.net.layers.dim == 32 && cfg.net.layers.depth == 2 && cfg.net.layers.heads == 2 &&
              cfg.net.layers.causal && cfg.net.layers.cross_attend && cfg.net.layers.rotary && !cfg.enc.layers.rotary,
          "XTransformer decoder stack");
    CHECK(cfg.ignore_index == -1 && cfg.pad_value == 3 && !cfg.tie_token_emb, "XTransformer ignore_index / pad_value");

    /* xtc options */
    CHECK(parse(&cfg,
                "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1, \"rotary_pos_emb\": true}, "
                "\"xtc\": {\"rotary_layout\": \"half_split\"}}",
                &err) == XTC_OK &&
              cfg.net.layers.rotary_layout == XTC_ROPE_HALF_SPLIT,
          "xtc.rotary_layout half_split: %s", err.msg);

    /* len is honoured: trailing bytes past len are not parsed */
    const char *good = "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}}GARBAGE";
    memset(&err, 0, sizeof err);
    rc = xtc_config_parse(&cfg, good, strlen(good) - 7, &err);
    CHECK(rc == XTC_OK, "config_parse must stop at len: %d %s", (int)rc, err.msg);
}

// --------------------------------------------------------------- invalid configs

struct bad {
    const char *what;
    const char *json;
    xtc_status want;
    const char *needle; /* must appear in the message */
};

#define DEC(extra) \
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32, \"attn_layers\": " \
    "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1" extra "}}}}"
#define ENC(extra) \
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32, \"attn_layers\": " \
    "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1" extra "}}}}"
#define XT(extra)                                                                                              \
    "{\"class\": \"XTransformer\", \"kwargs\": {\"dim\": 32, \"enc_num_tokens\": 10, \"enc_depth\": 1, "       \
    "\"enc_max_seq_len\": 8, \"dec_num_tokens\": 10, \"dec_depth\": 1, \"dec_max_seq_len\": 8" extra "}}"

#define CONT(extra) \
    "{\"class\": \"ContinuousTransformerWrapper\", \"kwargs\": {\"dim_in\": 5" extra ", \"attn_layers\": " \
    "{\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}"

static const struct bad BAD[] = {
    {"not JSON", "{\"class\": \"TransformerWrapper\", \"kwargs\": {", XTC_ERR_FORMAT, "JSON"},
    {"empty text", "", XTC_ERR_FORMAT, "JSON"},
    {"JSON array at the top", "[1, 2]", XTC_ERR_CONFIG, "class"},
    {"unknown model class",
     "{\"class\": \"TransformerWrapperXL\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32}}", XTC_ERR_CONFIG,
     "TransformerWrapperXL"},
    {"unknown attention-layers class",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32, \"attn_layers\": "
     "{\"class\": \"GPT\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}",
     XTC_ERR_CONFIG, "GPT"},
    {"unknown keyword", DEC(", \"attn_flux_capacitor\": true"), XTC_ERR_CONFIG, "attn_flux_capacitor"},
    {"unknown wrapper keyword",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32, \"vocab\": 3, "
     "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}",
     XTC_ERR_CONFIG, "vocab"},
    {"unexpected top-level key",
     "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}, \"args\": []}", XTC_ERR_CONFIG, "args"},
    {"kwargs not an object", "{\"class\": \"Encoder\", \"kwargs\": [1]}", XTC_ERR_CONFIG, "kwargs"},
    {"depth is a string", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": \"two\"}}", XTC_ERR_CONFIG,
     "depth"},
    {"depth is null", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": null}}", XTC_ERR_CONFIG,
     "depth"},
    {"heads is a float", DEC(", \"heads\": 2.5"), XTC_ERR_CONFIG, "heads"},
    {"heads overflows to inf", DEC(", \"heads\": 1e400"), XTC_ERR_FORMAT, "beyond the range of a double"},
    {"bool as int (depth: true)", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": true}}",
     XTC_ERR_CONFIG, "depth"},
    {"int as bool (rotary_pos_emb: 1)", DEC(", \"rotary_pos_emb\": 1"), XTC_ERR_CONFIG, "rotary_pos_emb"},
    {"ff_mult is a string", DEC(", \"ff_mult\": \"4\""), XTC_ERR_CONFIG, "ff_mult"},
    {"depth 0", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 0}}", XTC_ERR_CONFIG, "depth"},
    {"negative heads", DEC(", \"heads\": -2"), XTC_ERR_CONFIG, "heads"},
    {"dim 2^31", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 2147483648, \"depth\": 1}}", XTC_ERR_CONFIG, "dim"},
    {"num_tokens 2^31",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 2147483648, \"max_seq_len\": 32, "
     "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}",
     XTC_ERR_CONFIG, "num_tokens"},
    {"negative max_seq_len",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": -1, "
     "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}",
     XTC_ERR_CONFIG, "max_seq_len"},
    {"rotary_interpolation_factor 0.5", DEC(", \"rotary_pos_emb\": true, \"rotary_interpolation_factor\": 0.5"),
     XTC_ERR_CONFIG, "rotary_interpolation_factor"},
    {"alibi_num_heads 0", DEC(", \"alibi_pos_bias\": true, \"alibi_num_heads\": 0"), XTC_ERR_CONFIG,
     "alibi_num_heads"},
    {"rel_pos_num_buckets 1", DEC(", \"rel_pos_bias\": true, \"rel_pos_num_buckets\": 1"), XTC_ERR_CONFIG,
     "rel_pos_num_buckets"},
    {"rotary_emb_dim > attn_dim_head", DEC(", \"rotary_pos_emb\": true, \"attn_dim_head\": 16, \"rotary_emb_dim\": 32"),
     XTC_ERR_CONFIG, "rotary_emb_dim"},
    {"rotary_xpos on an Encoder", ENC(", \"rotary_xpos\": true"), XTC_ERR_CONFIG, "rotary_xpos"},
    {"alibi + rel_pos_bias", DEC(", \"alibi_pos_bias\": true, \"rel_pos_bias\": true"), XTC_ERR_CONFIG,
     "rel_pos_bias"},
    {"alibi_num_heads > heads", DEC(", \"alibi_pos_bias\": true, \"heads\": 8, \"alibi_num_heads\": 9"),
     XTC_ERR_CONFIG, "alibi_num_heads"},
    {"heads 1 with attn_dim_head != dim", DEC(", \"heads\": 1, \"attn_dim_head\": 16"), XTC_ERR_CONFIG,
     "attn_dim_head"},
    {"heads not divisible by attn_kv_heads", DEC(", \"heads\": 6, \"attn_kv_heads\": 4"), XTC_ERR_CONFIG,
     "attn_kv_heads"},
    {"sandwich_norm with post-norm", DEC(", \"pre_norm\": false, \"sandwich_norm\": true"), XTC_ERR_CONFIG,
     "sandwich_norm"},
    {"use_scalenorm with use_rmsnorm", DEC(", \"use_scalenorm\": true, \"use_rmsnorm\": true"), XTC_ERR_CONFIG,
     "mutually exclusive"},
    {"use_simple_rmsnorm with use_scalenorm", DEC(", \"use_simple_rmsnorm\": true, \"use_scalenorm\": true"),
     XTC_ERR_CONFIG, "mutually exclusive"},
    {"ff_glu_softclamp with ff_relu_squared", DEC(", \"ff_glu\": true, \"ff_glu_softclamp\": true, "
                                                  "\"ff_relu_squared\": true"),
     XTC_ERR_CONFIG, "ff_relu_squared"},
    {"norm_add_unit_offset false", DEC(", \"norm_add_unit_offset\": false"), XTC_ERR_UNSUPPORTED,
     "norm_add_unit_offset"},
    {"attn_sparse_topk_straight_through with attn_use_rel_proj_pos_bias",
     DEC(", \"attn_use_rel_proj_pos_bias\": true, \"attn_sparse_topk\": 4, \"attn_sparse_topk_straight_through\": true"),
     XTC_ERR_UNSUPPORTED, "attn_use_rel_proj_pos_bias"},
    {"residual_attn with attn_use_cope", DEC(", \"residual_attn\": true, \"attn_use_cope\": true"),
     XTC_ERR_UNSUPPORTED, "attn_use_cope"},
    {"polar with CoPE", DEC(", \"polar_pos_emb\": true, \"attn_use_cope\": true"), XTC_ERR_UNSUPPORTED,
     "attn_use_cope"},
    {"rel_proj with residual_attn", DEC(", \"attn_use_rel_proj_pos_bias\": true, \"residual_attn\": true"),
     XTC_ERR_UNSUPPORTED, "attn_use_rel_proj_pos_bias"},
    {"residual_attn with attn_data_dependent_alibi",
     DEC(", \"residual_attn\": true, \"attn_data_dependent_alibi\": true"), XTC_ERR_UNSUPPORTED,
     "attn_data_dependent_alibi"},
    {"cross_residual_attn with attn_flash", DEC(", \"cross_residual_attn\": true, \"attn_flash\": true"),
     XTC_ERR_CONFIG, "cross_residual_attn"},
    {"scale_residual as a number", DEC(", \"scale_residual\": 0.5"), XTC_ERR_UNSUPPORTED, "scale_residual"},
    /* a JSON list is a Python list there, which AttentionLayers' cast_tuple does not take (it fails) */
    {"shift_tokens as a list", DEC(", \"shift_tokens\": [1, 0]"), XTC_ERR_CONFIG, "shift_tokens"},
    {"rotate_num_heads with GQA", DEC(", \"heads\": 4, \"attn_kv_heads\": 2, \"rotary_pos_emb\": true, "
                                      "\"rotate_num_heads\": 2"), XTC_ERR_CONFIG, "grouped-query"},
    {"rotary with dynamic_pos_bias", DEC(", \"rotary_pos_emb\": true, \"dynamic_pos_bias\": true"), XTC_ERR_CONFIG,
     "dynamic_pos_bias"},
    {"rotary with rel_pos_bias", DEC(", \"rotary_pos_emb\": true, \"rel_pos_bias\": true"), XTC_ERR_CONFIG,
     "rel_pos_bias"},
    {"dynamic_pos_bias with attn_flash", DEC(", \"dynamic_pos_bias\": true, \"attn_flash\": true"), XTC_ERR_CONFIG,
     "attn_flash"},
    {"dynamic_pos_bias with alibi", DEC(", \"dynamic_pos_bias\": true, \"alibi_pos_bias\": true"), XTC_ERR_CONFIG,
     "mutually exclusive"},
    {"CoPE in an encoder", ENC(", \"attn_use_cope\": true"), XTC_ERR_CONFIG, "attn_use_cope"},
    {"CoPE with cross_attend", DEC(", \"attn_use_cope\": true, \"cross_attend\": true"), XTC_ERR_CONFIG,
     "cross_attend"},
    {"CoPE soft one-hot", DEC(", \"attn_use_cope\": true, \"attn_cope_soft_onehot_pos\": true"), XTC_ERR_CONFIG,
     "attn_cope_soft_onehot_pos"},
    {"DDA with alibi", DEC(", \"attn_data_dependent_alibi\": true, \"alibi_pos_bias\": true"), XTC_ERR_CONFIG,
     "mutually exclusive"},
    {"DDA with dynamic_pos_bias", DEC(", \"attn_data_dependent_alibi\": true, \"dynamic_pos_bias\": true"),
     XTC_ERR_CONFIG, "replaces"},
    {"DDA per row in an encoder", ENC(", \"attn_data_dependent_alibi\": true, "
                                      "\"attn_data_dependent_alibi_per_row\": true"), XTC_ERR_CONFIG, "per_row"},
    {"DDA with cross_attend", DEC(", \"attn_data_dependent_alibi\": true, \"cross_attend\": true"), XTC_ERR_CONFIG,
     "cross_attend"},
    {"DDA per row bias_init", DEC(", \"attn_data_dependent_alibi\": true, \"attn_data_dependent_alibi_per_row\": "
                                  "true, \"attn_data_dependent_alibi_kwargs\": {\"bias_init\": 1}"), XTC_ERR_CONFIG,
     "bias_init"},
    {"CoPE with attn_flash", DEC(", \"attn_use_cope\": true, \"attn_flash\": true"), XTC_ERR_CONFIG, "attn_flash"},
    {"cope_max_pos 0", DEC(", \"attn_use_cope\": true, \"attn_cope_max_pos\": 0"), XTC_ERR_CONFIG,
     "attn_cope_max_pos"},
    /* polar_pos_emb (PoPE): x-transformers asserts the first, the others fail in its Attention */
    {"rel_proj_pos_bias with mem kv", DEC(", \"attn_use_rel_proj_pos_bias\": true, \"attn_num_mem_kv\": 1"),
     XTC_ERR_CONFIG, "attn_num_mem_kv"},
    {"polar_bias_uniform_init", DEC(", \"polar_pos_emb\": true, \"polar_bias_uniform_init\": true"), XTC_ERR_CONFIG,
     "polar_bias_uniform_init"},
    {"polar with rotary", DEC(", \"polar_pos_emb\": true, \"rotary_pos_emb\": true"), XTC_ERR_CONFIG,
     "rotary_pos_emb"},
    {"polar with rel_pos_bias", DEC(", \"polar_pos_emb\": true, \"rel_pos_bias\": true"), XTC_ERR_CONFIG,
     "rel_pos_bias"},
    {"polar with dynamic_pos_bias", DEC(", \"polar_pos_emb\": true, \"dynamic_pos_bias\": true"), XTC_ERR_CONFIG,
     "dynamic_pos_bias"},
    {"polar with mem kv", DEC(", \"polar_pos_emb\": true, \"attn_num_mem_kv\": 2"), XTC_ERR_CONFIG,
     "attn_num_mem_kv"},
    {"polar with GQA 4/2", DEC(", \"heads\": 4, \"attn_kv_heads\": 2, \"polar_pos_emb\": true"), XTC_ERR_CONFIG,
     "attn_kv_heads"},
    {"rotate_num_heads > heads", DEC(", \"heads\": 4, \"rotary_pos_emb\": true, \"rotate_num_heads\": 5"),
     XTC_ERR_CONFIG, "rotate_num_heads"},
    {"more ALiBi slopes than heads", DEC(", \"heads\": 2, \"alibi_pos_bias\": true, "
                                         "\"rel_pos_kwargs\": {\"slopes\": [1, 2, 3]}"), XTC_ERR_CONFIG, "slopes"},
    {"rel_pos_kwargs for T5", DEC(", \"rel_pos_bias\": true, \"rel_pos_kwargs\": {\"num_buckets\": 4}"),
     XTC_ERR_CONFIG, "num_buckets"},
    {"ALiBi slopes not numbers", DEC(", \"alibi_pos_bias\": true, \"rel_pos_kwargs\": {\"slopes\": [\"a\"]}"),
     XTC_ERR_CONFIG, "slopes"},
    /* x-transformers' Attend asserts both: its flash path has no soft clamp and no top-k */
    {"attn_flash with attn_softclamp_logits", DEC(", \"attn_flash\": true, \"attn_softclamp_logits\": true"),
     XTC_ERR_CONFIG, "attn_flash"},
    {"attn_flash with attn_sparse_topk", DEC(", \"attn_flash\": true, \"attn_sparse_topk\": 4"), XTC_ERR_CONFIG,
     "attn_flash"},
    {"shift_tokens out of range", DEC(", \"shift_tokens\": -70000"), XTC_ERR_CONFIG, "shift_tokens"},
    {"shift_tokens: more groups than dim", DEC(", \"shift_tokens\": 40"), XTC_ERR_CONFIG, "shift_tokens"},
    /* Attend asserts talking heads are not compatible with flash attention */
    {"attn_gate_values_rank with attn_gate_values_headwise",
     DEC(", \"attn_gate_values\": true, \"attn_gate_values_rank\": 4, \"attn_gate_values_headwise\": true"),
     XTC_ERR_CONFIG, "attn_gate_values_rank"},
    {"attn_output_gate_rank with attn_output_gate_headwise",
     DEC(", \"attn_output_gate\": true, \"attn_output_gate_rank\": 4, \"attn_output_gate_headwise\": true"),
     XTC_ERR_CONFIG, "attn_output_gate_rank"},
    {"attn_gate_values_rank too large", DEC(", \"attn_gate_values\": true, \"attn_gate_values_rank\": 4096"),
     XTC_ERR_CONFIG, "attn_gate_values_rank"},
    {"attn_flash with attn_post_talking_heads", DEC(", \"attn_flash\": true, \"attn_post_talking_heads\": true"),
     XTC_ERR_CONFIG, "attn_post_talking_heads"},
    /* x-transformers fails at the first forward: logits = x (dim) @ E^T (emb_dim) */
    {"tie_embedding with emb_dim != dim",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32, \"emb_dim\": 16, "
     "\"tie_embedding\": true, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}",
     XTC_ERR_CONFIG, "emb_dim"},
    /* repeated keys and trailing content make the document itself malformed (strict JSON) */
    {"duplicate keyword", DEC(", \"depth\": 2"), XTC_ERR_FORMAT, "kwargs.attn_layers.kwargs.depth"},
    {"duplicate wrapper keyword",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"num_tokens\": 65, \"max_seq_len\": 32, "
     "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}",
     XTC_ERR_FORMAT, "kwargs.num_tokens"},
    {"trailing object", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}}{}", XTC_ERR_FORMAT,
     "trailing content after the JSON document at byte 54"},
    {"trailing garbage", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}} garbage", XTC_ERR_FORMAT,
     "at byte 55"},
    {"syntax error position", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8,, \"depth\": 1}}", XTC_ERR_FORMAT,
     "at byte 42"},
    /* what cJSON lets through and JSON does not */
    {"leading zero", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 08, \"depth\": 1}}", XTC_ERR_FORMAT,
     "leading zero, at byte 39"},
    {"fraction without digits", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8., \"depth\": 1}}", XTC_ERR_FORMAT,
     "fraction has no digits"},
    {"number beyond a double", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1e999}}", XTC_ERR_FORMAT,
     "beyond the range of a double"},
    {"raw control character", "{\"class\": \"Enc\toder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}}", XTC_ERR_FORMAT,
     "control character inside a string"},
    {"repeated key in a nested object", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}, "
     "\"xtc\": {\"rotary_layout\": \"half_split\", \"rotary_layout\": \"interleaved\"}}", XTC_ERR_FORMAT,
     "xtc.rotary_layout"},
    {"missing num_tokens",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"max_seq_len\": 32, \"attn_layers\": {\"class\": "
     "\"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}",
     XTC_ERR_CONFIG, "num_tokens"},
    {"missing max_seq_len",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"attn_layers\": {\"class\": "
     "\"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}",
     XTC_ERR_CONFIG, "max_seq_len"},
    {"missing attn_layers", "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32}}",
     XTC_ERR_CONFIG, "attn_layers"},
    {"missing dim", "{\"class\": \"Encoder\", \"kwargs\": {\"depth\": 1}}", XTC_ERR_CONFIG, "dim"},
    {"scaled_sinu_pos_emb with odd dim",
     "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32, "
     "\"scaled_sinu_pos_emb\": true, \"attn_layers\": {\"class\": \"Encoder\", \"kwargs\": {\"dim\": 33, "
     "\"depth\": 1}}}}",
     XTC_ERR_CONFIG, "scaled_sinu_pos_emb"},
    {"XTransformer enc_dim", XT(", \"enc_dim\": 16"), XTC_ERR_CONFIG, "enc_dim"},
    {"XTransformer missing dim",
     "{\"class\": \"XTransformer\", \"kwargs\": {\"enc_num_tokens\": 10, \"enc_depth\": 1, \"enc_max_seq_len\": 8, "
     "\"dec_num_tokens\": 10, \"dec_depth\": 1, \"dec_max_seq_len\": 8}}",
     XTC_ERR_CONFIG, "dim"},
    {"XTransformer unknown top keyword", XT(", \"dim_head\": 8"), XTC_ERR_CONFIG, "dim_head"},
    {"XTransformer dec_num_memory_tokens", XT(", \"dec_num_memory_tokens\": 2"), XTC_ERR_CONFIG,
     "num_memory_tokens"},
    {"XTransformer encoder stack error", XT(", \"enc_heads\": 2.5"), XTC_ERR_CONFIG, "heads"},
    {"XTransformer tie_token_emb with different vocabularies",
     "{\"class\": \"XTransformer\", \"kwargs\": {\"dim\": 32, \"tie_token_emb\": true, \"enc_num_tokens\": 10, "
     "\"enc_depth\": 1, \"enc_max_seq_len\": 8, \"dec_num_tokens\": 11, \"dec_depth\": 1, \"dec_max_seq_len\": 8}}",
     XTC_ERR_CONFIG, "tie_token_emb"},
    {"unknown xtc option",
     "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}, \"xtc\": {\"flash_decoding\": true}}",
     XTC_ERR_CONFIG, "flash_decoding"},
    {"bad xtc rotary_layout",
     "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}, \"xtc\": {\"rotary_layout\": \"diagonal\"}}",
     XTC_ERR_CONFIG, "rotary_layout"},
    {"ContinuousTransformerWrapper probabilistic", CONT(", \"probabilistic\": true"), XTC_ERR_UNSUPPORTED,
     "probabilistic"},
    {"ContinuousTransformerWrapper num_tokens", CONT(", \"num_tokens\": 8"), XTC_ERR_CONFIG, "num_tokens"},
    {"ContinuousTransformerWrapper dim_out 0", CONT(", \"dim_out\": 0"), XTC_ERR_CONFIG, "dim_out"},
    {"xtc options not an object", "{\"class\": \"Encoder\", \"kwargs\": {\"dim\": 8, \"depth\": 1}, \"xtc\": 3}",
     XTC_ERR_CONFIG, "xtc"},
};

static void test_invalid(void) {
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        struct xtc_config cfg;
        struct xtc_error err;
        xtc_status rc = parse(&cfg, BAD[i].json, &err);
        CHECK(rc == BAD[i].want, "invalid config '%s': got %d (%s), want %d (%s); message: %s", BAD[i].what, (int)rc,
              xtc_status_str(rc), (int)BAD[i].want, xtc_status_str(BAD[i].want), err.msg);
        CHECK(err.code == rc, "invalid config '%s': err.code %d != returned %d", BAD[i].what, (int)err.code, (int)rc);
        CHECK(err.msg[0] != '\0' && strstr(err.msg, BAD[i].needle) != NULL,
              "invalid config '%s': message '%s' does not name '%s'", BAD[i].what, err.msg, BAD[i].needle);
        /* a NULL error buffer is allowed and gives the same status */
        CHECK(xtc_config_parse(&cfg, BAD[i].json, strlen(BAD[i].json), NULL) == rc,
              "invalid config '%s': status differs without an error buffer", BAD[i].what);
    }
    struct xtc_config cfg;
    struct xtc_error err = {0};
    CHECK(xtc_config_parse(&cfg, NULL, 0, &err) == XTC_ERR_ARG && err.msg[0], "NULL json: XTC_ERR_ARG");
    CHECK(xtc_config_parse(NULL, "{}", 2, &err) == XTC_ERR_ARG, "NULL cfg: XTC_ERR_ARG");
}

// --------------------------------------------------------------- x-transformers parity of the checks

/* Checks x-transformers 2.26.4 makes in AttentionLayers.__init__ / Attention.__init__ regardless of
 * whether the feature is switched on (verified by constructing each in Python):
 *   rotary_emb_dim <= dim_head          always asserted (even without rotary_pos_emb)
 *   rel_pos_num_buckets <= rel_pos_max_distance   always asserted
 *   attn_one_kv_head and attn_kv_heads  asserted mutually exclusive
 *   alibi_num_heads <= heads            asserted only under alibi_pos_bias (valid otherwise) */
static void test_parity(void) {
    struct xtc_config cfg;
    struct xtc_error err;
    const struct bad must_fail[] = {
        {"rotary_emb_dim > attn_dim_head without rotary", DEC(", \"attn_dim_head\": 16, \"rotary_emb_dim\": 32"),
         XTC_ERR_CONFIG, "rotary_emb_dim"},
        {"rel_pos_num_buckets 32 > rel_pos_max_distance 20", DEC(", \"rel_pos_bias\": true, \"rel_pos_max_distance\": 20"),
         XTC_ERR_CONFIG, "rel_pos_max_distance"},
        {"rel_pos_num_buckets > rel_pos_max_distance without rel_pos_bias", DEC(", \"rel_pos_max_distance\": 20"),
         XTC_ERR_CONFIG, "rel_pos_max_distance"},
        {"attn_one_kv_head together with attn_kv_heads",
         DEC(", \"heads\": 4, \"attn_one_kv_head\": true, \"attn_kv_heads\": 2"), XTC_ERR_CONFIG, "kv_head"},
    };
    for (size_t i = 0; i < sizeof must_fail / sizeof must_fail[0]; i++) {
        xtc_status rc = parse(&cfg, must_fail[i].json, &err);
        CHECK(rc == must_fail[i].want && strstr(err.msg, must_fail[i].needle),
              "parity: '%s' is rejected by x-transformers; xtc returned %d (%s) '%s'", must_fail[i].what, (int)rc,
              xtc_status_str(rc), err.msg);
    }
    xtc_status rc = parse(&cfg, DEC(", \"heads\": 8, \"alibi_num_heads\": 9"), &err);
    CHECK(rc == XTC_OK, "parity: alibi_num_heads 9 > heads 8 without alibi_pos_bias is valid in x-transformers; "
                        "xtc returned %d '%s'", (int)rc, err.msg);
}

// --------------------------------------------------------------- warnings

struct log_capture {
    int n_warn, n_other;
    char last[512];
};

static void capture_log(enum xtc_log_level level, const char *msg, void *user) {
    struct log_capture *c = user;
    if (level == XTC_LOG_WARN)
        c->n_warn++;
    else
        c->n_other++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static void test_warnings(void) {
    struct log_capture cap = {0};
    struct xtc_config cfg;
    struct xtc_error err;
    xtc_log_set(capture_log, &cap);

    /* attn_dim_head 16 -> rotary_emb_dim 8 < 32: a warning, and the parse succeeds */
    xtc_status rc = parse(&cfg, DEC(", \"rotary_pos_emb\": true, \"attn_dim_head\": 16"), &err);
    CHECK(rc == XTC_OK && cfg.net.layers.rotary_emb_dim == 8, "rotary dim 8 must parse: %d %s", (int)rc, err.msg);
    CHECK(cap.n_warn == 1, "rotary dim 8: %d warnings, want 1", cap.n_warn);
    CHECK(strstr(cap.last, "8") && strstr(cap.last, "32"), "rotary warning text '%s' should name 8 and 32", cap.last);

    /* explicit small rotary_emb_dim: warns as well */
    cap = (struct log_capture){0};
    rc = parse(&cfg, DEC(", \"rotary_pos_emb\": true, \"rotary_emb_dim\": 16"), &err);
    CHECK(rc == XTC_OK && cap.n_warn == 1, "rotary_emb_dim 16: rc %d, %d warnings", (int)rc, cap.n_warn);

    /* rotary dim 32 or no rotary at all: no warning */
    cap = (struct log_capture){0};
    rc = parse(&cfg, DEC(", \"rotary_pos_emb\": true"), &err); /* dim_head 64 -> 32 */
    CHECK(rc == XTC_OK && cap.n_warn == 0, "rotary dim 32: rc %d, %d warnings (%s)", (int)rc, cap.n_warn, cap.last);
    rc = parse(&cfg, DEC(", \"attn_dim_head\": 16"), &err);
    CHECK(rc == XTC_OK && cap.n_warn == 0, "no rotary, small dim_head: rc %d, %d warnings", (int)rc, cap.n_warn);
    CHECK(cap.n_other == 0, "unexpected non-warning log messages: %d (%s)", cap.n_other, cap.last);

    /* tie_embedding: x-transformers ties the logits to the token embedding and ignores logits_dim */
    cap = (struct log_capture){0};
    rc = parse(&cfg,
               "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 64, \"max_seq_len\": 32, "
               "\"tie_embedding\": true, \"logits_dim\": 40, \"attn_layers\": {\"class\": \"Decoder\", "
               "\"kwargs\": {\"dim\": 32, \"depth\": 1}}}}", &err);
    CHECK(rc == XTC_OK && cfg.net.wrap.logits_dim == 64 && cap.n_warn == 1 && strstr(cap.last, "logits_dim"),
          "tied logits_dim 40: rc %d, logits_dim %d (want 64), %d warnings (%s)", (int)rc, cfg.net.wrap.logits_dim,
          cap.n_warn, cap.last);

    /* with the callback removed, nothing is delivered */
    xtc_log_set(NULL, NULL);
    cap = (struct log_capture){0};
    rc = parse(&cfg, DEC(", \"rotary_pos_emb\": true, \"attn_dim_head\": 16"), &err);
    CHECK(rc == XTC_OK && cap.n_warn == 0, "log callback removed: still %d warnings", cap.n_warn);
}

/* ContinuousTransformerWrapper: None-valued keywords, identity projections, absolute positions
 * only with a max_seq_len (as x-transformers' no_abs_pos_emb) */
static void test_continuous(void) {
    struct xtc_config cfg;
    struct xtc_error err = {0};
    xtc_status rc = parse(&cfg, CONT(", \"dim_out\": 3, \"max_seq_len\": 16, \"num_memory_tokens\": null"), &err);
    CHECK(rc == XTC_OK, "continuous config: %s", err.msg);
    const struct xtc_wrapper_config *w = &cfg.net.wrap;
    CHECK(cfg.model_class == XTC_MODEL_CONTINUOUS_WRAPPER && w->continuous && w->project_in && w->dim_in == 5 &&
              !w->return_only_embed && w->logits_dim == 3 && w->use_abs_pos_emb && w->num_memory_tokens == 0,
          "continuous config resolved wrongly");
    rc = parse(&cfg, CONT(", \"max_seq_len\": null"), &err);
    CHECK(rc == XTC_OK && !cfg.net.wrap.use_abs_pos_emb && cfg.net.wrap.return_only_embed &&
              cfg.net.wrap.logits_dim == 32, "continuous config without max_seq_len / dim_out: %s", err.msg);
    rc = parse(&cfg,
               "{\"class\": \"ContinuousTransformerWrapper\", \"kwargs\": {\"dim_in\": 32, \"dim_out\": 32, "
               "\"use_identity_if_same_dim\": true, \"attn_layers\": {\"class\": \"Encoder\", \"kwargs\": "
               "{\"dim\": 32, \"depth\": 1}}}}", &err);
    CHECK(rc == XTC_OK && !cfg.net.wrap.project_in && cfg.net.wrap.return_only_embed,
          "use_identity_if_same_dim: %s", err.msg);
}

int main(void) {
    test_defaults();
    test_continuous();
    test_invalid();
    test_parity();
    test_warnings();
    return xtc_check_report("test_config");
}
