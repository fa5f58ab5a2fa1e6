/* Model configuration from the JSON form of the x-transformers constructor
 * call (reference §A). Every keyword is matched against a table of the ones
 * xtc implements; keywords that only select behaviour xtc does not have are
 * accepted at their x-transformers default and rejected otherwise, and any
 * other keyword is an error naming it. Sizes are bounded here so that no
 * later step can be asked to allocate from an absurd configuration. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/json.h"
#include "xtc/config.h"

/* Upper bounds: far above any real model, far below what would overflow. */
#define MAX_DIM (1 << 16)
#define MAX_DEPTH 1024
#define MAX_HEADS 1024
#define MAX_DIM_HEAD 4096
#define MAX_TOKENS (1 << 24)
#define MAX_SEQ (1 << 24)
#define MAX_SMALL 65536

/* KW_INT_OR_NULL: an integer, or null (x-transformers' None default: dst keeps its value) */
enum kw_kind { KW_INT, KW_INT_OR_NULL, KW_BOOL, KW_NUM, KW_DEFAULT_ONLY_BOOL, KW_DEFAULT_ONLY_INT, KW_IGNORED_NUM };

struct kw {
    const char *name;
    enum kw_kind kind;
    void *dst;          /* int *, bool * or double * */
    double lo, hi;      /* range for KW_INT / KW_NUM */
    double dflt;        /* the only accepted value for KW_DEFAULT_ONLY_* */
    bool *seen;         /* optional: set when the keyword is present */
};

static xtc_status read_kw(const struct kw *k, const cJSON *v, const char *where, struct xtc_error *err) {
    switch (k->kind) {
    case KW_BOOL:
    case KW_DEFAULT_ONLY_BOOL:
        if (!cJSON_IsBool(v))
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: keyword '%s' must be true or false", where, k->name);
        if (k->kind == KW_DEFAULT_ONLY_BOOL) {
            if ((cJSON_IsTrue(v) ? 1.0 : 0.0) != k->dflt)
                XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "%s: keyword '%s' = %s is not supported by xtc (only %s)", where,
                         k->name, cJSON_IsTrue(v) ? "true" : "false", k->dflt != 0 ? "true" : "false");
        } else {
            *(bool *)k->dst = cJSON_IsTrue(v);
        }
        break;
    case KW_INT_OR_NULL:
        if (cJSON_IsNull(v))
            break;
        /* fall through */
    case KW_INT:
    case KW_DEFAULT_ONLY_INT: {
        if (!cJSON_IsNumber(v))
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: keyword '%s' must be an integer", where, k->name);
        double d = v->valuedouble;
        if (d != floor(d) || !isfinite(d))
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: keyword '%s' must be an integer (got %g)", where, k->name, d);
        if (k->kind == KW_DEFAULT_ONLY_INT) {
            if (d != k->dflt)
                XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "%s: keyword '%s' = %.0f is not supported by xtc (only %.0f)", where,
                         k->name, d, k->dflt);
            break;
        }
        if (d < k->lo || d > k->hi)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: keyword '%s' = %.0f is out of range [%.0f, %.0f]", where, k->name, d,
                     k->lo, k->hi);
        *(int *)k->dst = (int)d;
        break;
    }
    case KW_NUM:
    case KW_IGNORED_NUM: {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: keyword '%s' must be a number", where, k->name);
        double d = v->valuedouble;
        if (d < k->lo || d > k->hi)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: keyword '%s' = %g is out of range [%g, %g]", where, k->name, d, k->lo,
                     k->hi);
        if (k->dst)
            *(double *)k->dst = d;
        break;
    }
    }
    if (k->seen)
        *k->seen = true;
    return XTC_OK;
}

/* Applies every member of obj whose key is in table; unknown keys are errors
 * unless skip(key) says another parser owns them. */
static xtc_status read_kwargs(const cJSON *obj, const struct kw *table, size_t n, const char *where,
                              bool (*skip)(const char *), struct xtc_error *err) {
    for (const cJSON *v = obj->child; v; v = v->next) {
        const char *key = v->string ? v->string : "";
        if (skip && skip(key))
            continue;
        size_t i = 0;
        while (i < n && strcmp(table[i].name, key) != 0)
            i++;
        if (i == n)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: unknown or unsupported keyword '%s'", where, key);
        XTC_TRY(read_kw(&table[i], v, where, err));
    }
    return XTC_OK;
}

static xtc_status check_no_duplicates(const cJSON *obj, const char *where, struct xtc_error *err) {
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0)
                XTC_FAIL(err, XTC_ERR_CONFIG, "%s: keyword '%s' appears twice", where, a->string);
    return XTC_OK;
}

/* ------------------------------------------------------------ attention layers */

static void layers_defaults(struct xtc_layers_config *c) {
    *c = (struct xtc_layers_config){0};
    c->heads = 8;
    c->dim_head = 64;
    c->rotary_emb_dim = -1;
    c->rotary_xpos_scale_base = 512;
    c->rotary_interpolation_factor = 1;
    c->rotary_base_rescale_factor = 1;
    c->rotary_layout = XTC_ROPE_INTERLEAVED;
    c->alibi_num_heads = -1;
    c->rel_pos_num_buckets = 32;
    c->rel_pos_max_distance = 128;
    c->rotate_num_heads = -1;
    c->dynamic_pos_bias_mlp_depth = 2;
    c->cope_max_pos = 16;
    c->dda_per_row_dim_head = 8;
    c->dda_post_log_scale = 1;
    c->rel_proj_num_basis = 16;
    c->rel_proj_max_dist = 1024;
    c->qk_norm_scale = 10;
    c->ff_mult = 4;
    c->ff_glu_gate_softclamp_value = 4;
    c->ff_glu_up_softclamp_value = 25;
    c->kv_heads = -1;
    c->dim_context = -1;
    c->disable_abs_pos_emb = -1;
    c->pre_norm = true;
    c->scale_residual_constant = 1;
    c->low_rank_silu_gates = true;
}

/* Validates and resolves the defaults that depend on other keywords. */
static xtc_status layers_resolve(struct xtc_layers_config *c, const char *where, struct xtc_error *err) {
    if (c->dim <= 0)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: 'dim' is required", where);
    if (c->depth <= 0)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: 'depth' must be at least 1", where);
    if (c->rotary_xpos)
        c->rotary = true; /* x-transformers: rotary_pos_emb = rotary_pos_emb or rotary_xpos */
    if (c->rotary_xpos && !c->causal)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rotary_xpos requires a causal model (Decoder); XPOS on an encoder is invalid",
                 where);
    if (c->rotary_emb_dim < 0)
        c->rotary_emb_dim = c->dim_head / 2;
    /* AttentionLayers asserts at most one of ALiBi, T5 and data-dependent ALiBi; a dynamic bias
     * would be computed and then replaced by the data-dependent one (Attention), so xtc refuses it */
    if (c->dda && (c->alibi || c->rel_pos_bias || c->dynamic_pos_bias))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_data_dependent_alibi and %s are mutually exclusive%s", where,
                 c->alibi ? "alibi_pos_bias" : c->rel_pos_bias ? "rel_pos_bias" : "dynamic_pos_bias",
                 c->dynamic_pos_bias ? " (x-transformers replaces the dynamic bias by the data-dependent one)" : "");
    if (c->dda && c->dda_per_row && !c->causal)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_data_dependent_alibi_per_row needs a causal model (Decoder): "
                 "x-transformers asserts 'bidirectional not supported yet'", where);
    /* cross-attention layers get the attn_ keywords too: their gates span the queries, not the
     * context's keys (a shape error in x-transformers), or assert causality (per row) */
    if (c->dda && c->cross_attend)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_data_dependent_alibi with cross_attend fails in x-transformers (the "
                 "cross-attention layers get it too, and its bias covers the queries, not the context)", where);
    /* Attention asserts causality when it builds CoPE; cross-attention layers get the same attn_
     * keywords but are never causal, so they fail too */
    if (c->use_cope && !c->causal)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_use_cope needs a causal model (Decoder): x-transformers asserts "
                 "'CoPE was designed for causal attention'", where);
    if (c->use_cope && c->cross_attend)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_use_cope with cross_attend: x-transformers passes it to the "
                 "cross-attention layers too, which are not causal ('CoPE was designed for causal attention')", where);
    /* x-transformers asserts these whether or not the scheme is on */
    if (c->rotary_emb_dim > c->dim_head)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rotary_emb_dim %d exceeds attn_dim_head %d", where, c->rotary_emb_dim,
                 c->dim_head);
    if (c->rel_pos_num_buckets > c->rel_pos_max_distance)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rel_pos_num_buckets %d must not exceed rel_pos_max_distance %d", where,
                 c->rel_pos_num_buckets, c->rel_pos_max_distance);
    if (c->rotary) {
        if (c->rotary_emb_dim < 1)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rotary_emb_dim %d is too small (attn_dim_head %d)", where,
                     c->rotary_emb_dim, c->dim_head);
        int rot = 2 * ((c->rotary_emb_dim + 1) / 2);
        if (c->rotary_emb_dim > c->dim_head || rot > c->dim_head)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rotary_emb_dim %d exceeds attn_dim_head %d", where, c->rotary_emb_dim,
                     c->dim_head);
        if (c->rotary_emb_dim < 32)
            xtc_log(XTC_LOG_WARN, "rotary embedding dimension %d is below 32 (attn_dim_head %d): valid, but x-transformers "
                    "recommends at least 32 for language models", c->rotary_emb_dim, c->dim_head);
    }
    if (c->alibi + c->rel_pos_bias + c->dynamic_pos_bias > 1)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: alibi_pos_bias, rel_pos_bias and dynamic_pos_bias are mutually exclusive", where);
    /* AttentionLayers hands rotary's positions to every self-attention block as `pos`, and
     * Attention then asserts that only ALiBi takes custom positions; cross-attention blocks get
     * neither, so a CrossAttender runs (its T5 / dynamic bias is then unused) */
    if (c->rotary && (c->rel_pos_bias || c->dynamic_pos_bias) && !c->only_cross)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rotary_pos_emb with %s fails in x-transformers (only ALiBi takes the positions "
                 "rotary passes to attention)", where, c->rel_pos_bias ? "rel_pos_bias" : "dynamic_pos_bias");
    if (c->polar && c->polar_uniform_init)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: polar_bias_uniform_init fails in x-transformers 2.31.10 (PolarEmbedding "
                 "calls uniform_ in place on its learned bias, a parameter that requires grad)", where);
    if (c->polar && c->rotary) /* asserted by x-transformers */
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: polar_pos_emb with rotary_pos_emb: x-transformers asserts that only "
                 "one of rotary and polar positional embedding is on", where);
    /* these fail inside x-transformers' self-attention, which a CrossAttender does not have (its
     * polar embedding is then unused) */
    const bool polar_self = c->polar && !c->only_cross;
    if (polar_self) {
        if (c->rel_pos_bias || c->dynamic_pos_bias)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: polar_pos_emb with %s fails in x-transformers (polar hands positions to "
                     "attention, which takes them only for ALiBi)", where,
                     c->rel_pos_bias ? "rel_pos_bias" : "dynamic_pos_bias");
        if (c->num_mem_kv > 0)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: polar_pos_emb with attn_num_mem_kv fails in x-transformers (memory keys "
                     "of dim_head cannot join the polar keys of 2 * dim_head)", where);
    }
    if (c->rel_proj && c->num_mem_kv > 0)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_use_rel_proj_pos_bias with attn_num_mem_kv fails in x-transformers (its "
                 "bias spans the memory key/values and is then padded for them again)", where);
    if (c->dynamic_pos_bias && c->dim < 4)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: dynamic_pos_bias needs dim >= 4 (its MLP is dim // 4 wide)", where);
    if (c->alibi_n_slopes > c->heads)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rel_pos_kwargs has %d ALiBi slopes for %d heads", where, c->alibi_n_slopes,
                 c->heads);
    if (c->alibi_num_heads < 0)
        c->alibi_num_heads = c->heads;
    if (c->alibi && (c->alibi_num_heads < 1 || c->alibi_num_heads > c->heads))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: alibi_num_heads %d must be between 1 and heads %d", where,
                 c->alibi_num_heads, c->heads);
    if (c->rel_pos_bias) {
        int exact = (c->causal ? c->rel_pos_num_buckets : c->rel_pos_num_buckets / 2) / 2;
        if (exact < 1 || c->rel_pos_max_distance <= exact)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rel_pos_num_buckets %d / rel_pos_max_distance %d leave no log-spaced buckets",
                     where, c->rel_pos_num_buckets, c->rel_pos_max_distance);
    }
    if (c->kv_heads < 0)
        c->kv_heads = c->heads;
    if (c->kv_heads < 1 || c->heads % c->kv_heads != 0)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: heads %d must be a multiple of attn_kv_heads %d", where, c->heads, c->kv_heads);
    /* the per-head key phase (heads, 1, dim_head) broadcasts over the key heads: one, or one per head */
    if (c->polar && !c->only_cross && c->kv_heads != 1 && c->kv_heads != c->heads)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: polar_pos_emb with attn_kv_heads %d fails in x-transformers (its per-head "
                 "key phase broadcasts over 1 or heads %d key heads only)", where, c->kv_heads, c->heads);
    if (c->rotate_num_heads < 0)
        c->rotate_num_heads = c->heads;
    if (c->rotate_num_heads < 1 || c->rotate_num_heads > c->heads)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rotate_num_heads %d must be between 1 and heads %d", where,
                 c->rotate_num_heads, c->heads);
    if (c->rotate_num_heads < c->heads && c->kv_heads < c->heads)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rotate_num_heads %d < heads needs one key/value head per head (x-transformers "
                 "asserts that grouped-query attention is not compatible with partial rotate heads)", where,
                 c->rotate_num_heads);
    if (c->heads == 1 && c->dim_head != c->dim)
        XTC_FAIL(err, XTC_ERR_CONFIG,
                 "%s: a single head has no output projection, so attn_dim_head (%d) must equal dim (%d)", where,
                 c->dim_head, c->dim);
    if (c->dim_context < 0)
        c->dim_context = c->dim;
    if (!c->qk_norm)
        c->qk_norm_dim_scale = false; /* x-transformers creates the scales only with qk_norm */
    if (!c->gate_values)
        c->gate_values_headwise = false, c->gate_values_rank = 0; /* they shape the value gate only */
    if (!c->output_gate)
        c->output_gate_headwise = false, c->output_gate_rank = 0;
    if (!c->gate_values && !c->output_gate)
        c->swiglu_values = false; /* the activation of the gates' sum */
    if (c->output_gate_rank > 0 && c->output_gate_headwise)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_output_gate_rank cannot be set with attn_output_gate_headwise "
                 "(x-transformers asserts it: the headwise gate projects to heads directly)", where);
    if (c->output_gate_rank > 0 && c->output_gate_rank >= c->heads * c->dim_head)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_output_gate_rank %d must be less than heads * attn_dim_head %d "
                 "(x-transformers asserts it)", where, c->output_gate_rank, c->heads * c->dim_head);
    if (c->gate_values_rank > 0 && c->gate_values_headwise)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_gate_values_rank cannot be set with attn_gate_values_headwise "
                 "(x-transformers asserts it: the headwise gate projects to heads directly)", where);
    if (c->gate_values_rank > 0 && c->gate_values_rank >= c->dim && c->gate_values_rank >= c->heads * c->dim_head)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_gate_values_rank %d must be less than dim %d or heads * attn_dim_head %d "
                 "(x-transformers asserts it)", where, c->gate_values_rank, c->dim, c->heads * c->dim_head);
    double inner = floor(c->dim * c->ff_mult);
    if (inner < 1 || inner > (double)MAX_DIM * 64)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: ff_mult %g gives an inner width of %.0f", where, c->ff_mult, inner);
    c->ff_inner = (int)inner;
    return XTC_OK;
}

static bool skip_rel_pos_kwargs(const char *key) {
    return strcmp(key, "rel_pos_kwargs") == 0 || strcmp(key, "attn_data_dependent_alibi_kwargs") == 0;
}

/* attn_data_dependent_alibi_kwargs go to the DataDependentAlibi / PerRowDataDependentAlibi
 * constructor: post_log_scale, and bias_init (the gates' initial bias: initialisation only,
 * and PerRowDataDependentAlibi has none, so it fails there); anything else fails there too. */
static xtc_status parse_dda_kwargs(const cJSON *obj, struct xtc_layers_config *c, const char *where,
                                   struct xtc_error *err) {
    if (!obj)
        return XTC_OK;
    if (!cJSON_IsObject(obj))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_data_dependent_alibi_kwargs must be an object", where);
    for (const cJSON *v = obj->child; v; v = v->next) {
        bool pls = strcmp(v->string, "post_log_scale") == 0;
        bool init = strcmp(v->string, "bias_init") == 0 && !c->dda_per_row;
        if (!pls && !init)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_data_dependent_alibi_kwargs key '%s' is not accepted by %s", where,
                     v->string, c->dda_per_row ? "PerRowDataDependentAlibi" : "DataDependentAlibi");
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_data_dependent_alibi_kwargs %s must be a finite number", where,
                     v->string);
        if (pls)
            c->dda_post_log_scale = v->valuedouble;
    }
    return XTC_OK;
}

/* rel_pos_kwargs go to the bias module's constructor: AlibiPositionalBias takes `slopes` (a list,
 * one per ALiBi head, replacing the computed ones; alibi_num_heads is then unused); T5's and the
 * dynamic bias' constructors take nothing more, so x-transformers fails on any key there. Without
 * a bias scheme the dict is never used. */
static xtc_status parse_rel_pos_kwargs(const cJSON *obj, struct xtc_layers_config *c, const char *where,
                                       struct xtc_error *err) {
    if (!obj)
        return XTC_OK;
    if (!cJSON_IsObject(obj))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rel_pos_kwargs must be an object", where);
    for (const cJSON *v = obj->child; v; v = v->next) {
        if (!c->alibi && !c->rel_pos_bias && !c->dynamic_pos_bias)
            break;
        if (!c->alibi || strcmp(v->string, "slopes") != 0)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rel_pos_kwargs key '%s' is not accepted by the %s", where, v->string,
                     c->alibi ? "ALiBi bias (xtc takes only 'slopes')" : "configured bias scheme");
        if (cJSON_IsNull(v))
            continue; /* slopes = None: the computed slopes */
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > XTC_MAX_CUSTOM_SLOPES)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rel_pos_kwargs slopes must be a list of 1 to %d numbers", where,
                     XTC_MAX_CUSTOM_SLOPES);
        int n = 0;
        for (const cJSON *e = v->child; e; e = e->next) {
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
                XTC_FAIL(err, XTC_ERR_CONFIG, "%s: rel_pos_kwargs slopes must be finite numbers", where);
            c->alibi_slopes[n++] = (float)e->valuedouble;
        }
        c->alibi_n_slopes = n;
    }
    return XTC_OK;
}

/* kwargs of Encoder / Decoder / CrossAttender; prefix "" or "enc_"/"dec_" (XTransformer). */
static xtc_status parse_layers(const cJSON *kwargs, struct xtc_layers_config *c, const char *where,
                               struct xtc_error *err) {
    bool one_kv_head = false, disable_abs = false, disable_abs_seen = false, only_cross = false;
    bool rms = false, scalenorm = false, simple_rms = false, final_norm = true, swish = false, relu_squared = false;
    bool softclamp_logits = false, softclamp_output = false, flash = false, cope_soft_onehot = false, onnxable = false;
    double logit_softclamp_value = 50, softclamp_output_value = 30; /* Attend / AttentionLayers defaults */
    struct kw table[] = {
        {"disable_abs_pos_emb", KW_BOOL, &disable_abs, 0, 0, 0, &disable_abs_seen},
        {"only_cross", KW_BOOL, &only_cross, 0, 0, 0, NULL},
        {"dim", KW_INT, &c->dim, 1, MAX_DIM, 0, NULL},
        {"depth", KW_INT, &c->depth, 1, MAX_DEPTH, 0, NULL},
        {"heads", KW_INT, &c->heads, 1, MAX_HEADS, 0, NULL},
        {"attn_dim_head", KW_INT, &c->dim_head, 1, MAX_DIM_HEAD, 0, NULL},
        {"attn_kv_heads", KW_INT, &c->kv_heads, 1, MAX_HEADS, 0, NULL},
        {"attn_one_kv_head", KW_BOOL, &one_kv_head, 0, 0, 0, NULL},
        {"cross_attend", KW_BOOL, &c->cross_attend, 0, 0, 0, NULL},
        {"cross_attn_dim_context", KW_INT, &c->dim_context, 1, MAX_DIM, 0, NULL},
        {"rotary_pos_emb", KW_BOOL, &c->rotary, 0, 0, 0, NULL},
        {"rotary_emb_dim", KW_INT, &c->rotary_emb_dim, 1, MAX_DIM_HEAD, 0, NULL},
        {"rotary_xpos", KW_BOOL, &c->rotary_xpos, 0, 0, 0, NULL},
        {"rotary_xpos_scale_base", KW_NUM, &c->rotary_xpos_scale_base, 1e-6, 1e12, 0, NULL},
        {"rotary_interpolation_factor", KW_NUM, &c->rotary_interpolation_factor, 1, 1e12, 0, NULL},
        {"rotary_base_rescale_factor", KW_NUM, &c->rotary_base_rescale_factor, 1e-12, 1e12, 0, NULL},
        {"alibi_pos_bias", KW_BOOL, &c->alibi, 0, 0, 0, NULL},
        {"alibi_num_heads", KW_INT, &c->alibi_num_heads, 1, MAX_HEADS, 0, NULL},
        {"rel_pos_bias", KW_BOOL, &c->rel_pos_bias, 0, 0, 0, NULL},
        {"rel_pos_num_buckets", KW_INT, &c->rel_pos_num_buckets, 2, MAX_SMALL, 0, NULL},
        {"rel_pos_max_distance", KW_INT, &c->rel_pos_max_distance, 1, MAX_SEQ, 0, NULL},
        {"polar_pos_emb", KW_BOOL, &c->polar, 0, 0, 0, NULL},
        {"polar_bias_uniform_init", KW_BOOL, &c->polar_uniform_init, 0, 0, 0, NULL},
        {"attn_use_rel_proj_pos_bias", KW_BOOL, &c->rel_proj, 0, 0, 0, NULL},
        {"attn_rel_proj_num_distance_basis", KW_INT, &c->rel_proj_num_basis, 1, MAX_SMALL, 0, NULL},
        {"attn_rel_proj_max_dist", KW_INT, &c->rel_proj_max_dist, 1, MAX_SEQ, 0, NULL},
        {"rotate_num_heads", KW_INT, &c->rotate_num_heads, 1, MAX_HEADS, 0, NULL},
        {"dynamic_pos_bias", KW_BOOL, &c->dynamic_pos_bias, 0, 0, 0, NULL},
        {"dynamic_pos_bias_log_distance", KW_BOOL, &c->dynamic_pos_bias_log_distance, 0, 0, 0, NULL},
        {"dynamic_pos_bias_mlp_depth", KW_INT, &c->dynamic_pos_bias_mlp_depth, 1, 15, 0, NULL},
        {"dynamic_pos_bias_norm", KW_BOOL, &c->dynamic_pos_bias_norm, 0, 0, 0, NULL},
        {"attn_use_cope", KW_BOOL, &c->use_cope, 0, 0, 0, NULL},
        {"attn_cope_max_pos", KW_INT, &c->cope_max_pos, 1, MAX_SMALL, 0, NULL},
        {"attn_cope_soft_onehot_pos", KW_BOOL, &cope_soft_onehot, 0, 0, 0, NULL},
        {"attn_cope_talking_heads", KW_BOOL, &c->cope_talking_heads, 0, 0, 0, NULL},
        {"attn_data_dependent_alibi", KW_BOOL, &c->dda, 0, 0, 0, NULL},
        {"attn_data_dependent_alibi_per_row", KW_BOOL, &c->dda_per_row, 0, 0, 0, NULL},
        {"attn_data_dependent_alibi_per_row_dim_head", KW_INT, &c->dda_per_row_dim_head, 1, MAX_DIM_HEAD, 0, NULL},
        {"attn_num_mem_kv", KW_INT, &c->num_mem_kv, 0, MAX_SMALL, 0, NULL},
        {"attn_qk_norm", KW_BOOL, &c->qk_norm, 0, 0, 0, NULL},
        {"attn_qk_norm_scale", KW_NUM, &c->qk_norm_scale, 1e-12, 1e12, 0, NULL},
        {"attn_qk_norm_dim_scale", KW_BOOL, &c->qk_norm_dim_scale, 0, 0, 0, NULL},
        {"attn_gate_values", KW_BOOL, &c->gate_values, 0, 0, 0, NULL},
        /* Attention's value-gate activation: silu instead of sigmoid (used only with gate_values) */
        {"attn_swiglu_values", KW_BOOL, &c->swiglu_values, 0, 0, 0, NULL},
        {"attn_gate_values_headwise", KW_BOOL, &c->gate_values_headwise, 0, 0, 0, NULL},
        {"attn_gate_value_heads", KW_BOOL, &c->gate_value_heads, 0, 0, 0, NULL},
        {"attn_gate_values_rank", KW_INT_OR_NULL, &c->gate_values_rank, 1, MAX_DIM, 0, NULL},
        {"attn_output_gate", KW_BOOL, &c->output_gate, 0, 0, 0, NULL},
        {"attn_output_gate_headwise", KW_BOOL, &c->output_gate_headwise, 0, 0, 0, NULL},
        {"attn_output_gate_rank", KW_INT_OR_NULL, &c->output_gate_rank, 1, MAX_DIM, 0, NULL},
        /* the activation inside low-rank gates */
        {"attn_low_rank_silu_gates", KW_BOOL, &c->low_rank_silu_gates, 0, 0, 0, NULL},
        {"attn_head_scale", KW_BOOL, &c->head_scale, 0, 0, 0, NULL},
        {"attn_sparse_topk", KW_INT, &c->sparse_topk, 1, MAX_SEQ, 0, NULL},
        {"attn_sparse_topk_straight_through", KW_BOOL, &c->sparse_topk_straight_through, 0, 0, 0, NULL},
        {"attn_pre_talking_heads", KW_BOOL, &c->pre_talking_heads, 0, 0, 0, NULL},
        {"attn_post_talking_heads", KW_BOOL, &c->post_talking_heads, 0, 0, 0, NULL},
        {"attn_pre_scale_post_talking_heads", KW_BOOL, &c->pre_scale_post_talking_heads, 0, 0, 0, NULL},
        {"attn_softclamp_logits", KW_BOOL, &softclamp_logits, 0, 0, 0, NULL},
        {"attn_logit_softclamp_value", KW_NUM, &logit_softclamp_value, 1e-6, 1e12, 0, NULL},
        {"softclamp_output", KW_BOOL, &softclamp_output, 0, 0, 0, NULL},
        {"softclamp_output_value", KW_NUM, &softclamp_output_value, 1e-6, 1e12, 0, NULL},
        {"ff_mult", KW_NUM, &c->ff_mult, 1e-6, 1024, 0, NULL},
        {"ff_glu", KW_BOOL, &c->ff_glu, 0, 0, 0, NULL},
        {"ff_softclamp_value", KW_NUM, &c->ff_softclamp_value, 1e-6, 1e12, 0, NULL},
        {"ff_glu_softclamp", KW_BOOL, &c->ff_glu_softclamp, 0, 0, 0, NULL},
        {"ff_glu_gate_softclamp_value", KW_NUM, &c->ff_glu_gate_softclamp_value, 1e-6, 1e12, 0, NULL},
        {"ff_glu_up_softclamp_value", KW_NUM, &c->ff_glu_up_softclamp_value, 1e-6, 1e12, 0, NULL},
        /* Dropout has no effect in evaluation; the values are accepted for loading trained models. */
        {"attn_dropout", KW_IGNORED_NUM, NULL, 0, 1, 0, NULL},
        {"ff_dropout", KW_IGNORED_NUM, NULL, 0, 1, 0, NULL},
        {"layer_dropout", KW_IGNORED_NUM, NULL, 0, 1, 0, NULL},
        /* The same maths either way (reference: flash matches non-flash to 1e-6). */
        {"attn_flash", KW_BOOL, &flash, 0, 0, 0, NULL},
        {"pre_norm", KW_BOOL, &c->pre_norm, 0, 0, 0, NULL},
        {"pre_norm_has_final_norm", KW_BOOL, &final_norm, 0, 0, 0, NULL},
        {"sandwich_norm", KW_BOOL, &c->sandwich_norm, 0, 0, 0, NULL},
        {"use_rmsnorm", KW_BOOL, &rms, 0, 0, 0, NULL},
        {"use_scalenorm", KW_BOOL, &scalenorm, 0, 0, 0, NULL},
        {"use_simple_rmsnorm", KW_BOOL, &simple_rms, 0, 0, 0, NULL},
        {"ff_swish", KW_BOOL, &swish, 0, 0, 0, NULL},
        {"ff_relu_squared", KW_BOOL, &relu_squared, 0, 0, 0, NULL},
        {"ff_no_bias", KW_BOOL, &c->ff_no_bias, 0, 0, 0, NULL},
        {"ff_post_act_ln", KW_BOOL, &c->ff_post_act_ln, 0, 0, 0, NULL},
        /* Behaviour xtc implements only at the x-transformers default. */
        {"norm_add_unit_offset", KW_DEFAULT_ONLY_BOOL, NULL, 0, 0, 1, NULL},
        {"macaron", KW_BOOL, &c->macaron, 0, 0, 0, NULL},
        {"only_attn", KW_BOOL, &c->only_attn, 0, 0, 0, NULL},
        {"weight_tie_layers", KW_BOOL, &c->weight_tie_layers, 0, 0, 0, NULL},
        {"use_layerscale", KW_BOOL, &c->use_layerscale, 0, 0, 0, NULL},
        {"layerscale_init_value", KW_NUM, &c->layerscale_init_value, -1e12, 1e12, 0, NULL},
        {"scale_residual", KW_BOOL, &c->scale_residual, 0, 0, 0, NULL},
        {"scale_residual_constant", KW_NUM, &c->scale_residual_constant, -1e12, 1e12, 0, NULL},
        {"residual_attn", KW_BOOL, &c->residual_attn, 0, 0, 0, NULL},
        {"cross_residual_attn", KW_BOOL, &c->cross_residual_attn, 0, 0, 0, NULL},
        {"gate_residual", KW_BOOL, &c->gate_residual, 0, 0, 0, NULL},
        {"shift_tokens", KW_INT, &c->shift_tokens, -MAX_SMALL, MAX_SMALL, 0, NULL}, /* <= 0: none, as upstream */
        {"attn_on_attn", KW_DEFAULT_ONLY_BOOL, NULL, 0, 0, 0, NULL},
        {"attn_qk_norm_groups", KW_DEFAULT_ONLY_INT, NULL, 0, 0, 1, NULL},
        /* x-transformers builds the same causal mask without triu for ONNX export */
        {"attn_onnxable", KW_BOOL, &onnxable, 0, 0, 0, NULL},
        /* drops context tokens in training only, like the dropouts above */
        {"cross_attn_tokens_dropout", KW_IGNORED_NUM, NULL, 0, 1, 0, NULL},
    };
    /* A number there is AttentionLayers' float form: it wraps every branch in Scale(value) and still
     * creates the learned residual_scale (a truthy float), which xtc does not implement. */
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(kwargs, "scale_residual")))
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "%s: keyword 'scale_residual' as a number (a constant branch scale plus "
                 "the learned residual scale) is not supported by xtc: use true / false, and "
                 "scale_residual_constant for a constant residual scale", where);
    XTC_TRY(read_kwargs(kwargs, table, sizeof table / sizeof table[0], where, skip_rel_pos_kwargs, err));
    XTC_TRY(parse_rel_pos_kwargs(cJSON_GetObjectItemCaseSensitive(kwargs, "rel_pos_kwargs"), c, where, err));
    if (c->dda)
        XTC_TRY(parse_dda_kwargs(cJSON_GetObjectItemCaseSensitive(kwargs, "attn_data_dependent_alibi_kwargs"), c, where,
                                 err));
    if (flash && (c->rel_pos_bias || c->dynamic_pos_bias))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_flash is not compatible with %s (x-transformers asserts it)", where,
                 c->rel_pos_bias ? "rel_pos_bias" : "dynamic_pos_bias");
    /* x-transformers 2.31.10's soft one-hot CoPE cannot run: einx.subtract('i, j -> i j') is handed
     * the (b, h, i, j) positions and raises a RankError on every call */
    if (c->use_cope && cope_soft_onehot)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_cope_soft_onehot_pos fails in x-transformers 2.31.10 (its CoPE passes "
                 "4-d positions to einx.subtract('i, j -> i j')); xtc refuses it", where);
    /* Attention asserts it when it builds CoPE (causality: layers_resolve) */
    if (c->use_cope && flash)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_use_cope is not compatible with attn_flash (x-transformers asserts "
                 "'CoPE is not flash attention compatible')", where);
    if (one_kv_head && c->kv_heads >= 0)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_one_kv_head and attn_kv_heads are mutually exclusive", where);
    if (one_kv_head)
        c->kv_heads = 1;
    if (disable_abs_seen)
        c->disable_abs_pos_emb = disable_abs;
    if (only_cross) {
        if (!c->cross_attend)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: only_cross needs cross_attend", where);
        c->only_cross = true;
    }
    /* x-transformers asserts these */
    if (rms + scalenorm + simple_rms > 1)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: use_rmsnorm, use_scalenorm and use_simple_rmsnorm are mutually exclusive",
                 where);
    if (c->sandwich_norm && !c->pre_norm)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: sandwich_norm needs pre_norm (x-transformers: sandwich norm cannot be used "
                 "when not using prenorm)", where);
    c->norm = rms ? XTC_NORM_RMSNORM : scalenorm ? XTC_NORM_SCALENORM : simple_rms ? XTC_NORM_SIMPLE_RMSNORM
                                                                                    : XTC_NORM_LAYERNORM;
    c->final_norm = c->pre_norm && final_norm;
    /* FeedForward picks relu_squared before swish */
    c->ff_activation = relu_squared ? XTC_FF_RELU_SQUARED : swish ? XTC_FF_SWISH : XTC_FF_GELU;
    if (c->ff_glu && c->ff_glu_softclamp && c->ff_activation == XTC_FF_RELU_SQUARED)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: ff_glu_softclamp needs a GELU or swish gate, not ff_relu_squared "
                 "(x-transformers asserts it)", where);
    c->logit_softclamp = softclamp_logits ? logit_softclamp_value : 0;
    /* Attend asserts these: the flash path has neither */
    if (flash && softclamp_logits)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_softclamp_logits is not compatible with attn_flash", where);
    if (flash && c->sparse_topk > 0)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: attn_sparse_topk is not available with attn_flash", where);
    if (flash && (c->residual_attn || c->cross_residual_attn))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: %s is not compatible with attn_flash (x-transformers asserts it)", where,
                 c->residual_attn ? "residual_attn" : "cross_residual_attn");
    /* CoPE and data-dependent ALiBi rewrite the row the residual logits are taken from and
     * added to: which of them x-transformers passes on is not pinned by a reference case */
    if ((c->use_cope || c->dda) && (c->residual_attn || c->cross_residual_attn))
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "%s: %s with %s is not supported by xtc", where,
                 c->residual_attn ? "residual_attn" : "cross_residual_attn",
                 c->use_cope ? "attn_use_cope" : "attn_data_dependent_alibi");
    /* polar attention runs on its own widened heads, the relative projection bias beside the
     * scheme's: neither is combined with CoPE, data-dependent ALiBi or residual attention */
    const char *widened = c->polar && !c->only_cross ? "polar_pos_emb" : c->rel_proj ? "attn_use_rel_proj_pos_bias" : NULL;
    const char *rowwise = c->use_cope ? "attn_use_cope" : c->dda ? "attn_data_dependent_alibi" : c->residual_attn ? "residual_attn"
                          : c->cross_residual_attn ? "cross_residual_attn" : NULL;
    if (widened && rowwise)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "%s: %s with %s is not supported by xtc", where, widened, rowwise);
    if (flash && (c->pre_talking_heads || c->post_talking_heads || c->pre_scale_post_talking_heads))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: %s is not compatible with attn_flash (x-transformers asserts it)", where,
                 c->pre_talking_heads ? "attn_pre_talking_heads" : c->post_talking_heads ? "attn_post_talking_heads"
                                                                                      : "attn_pre_scale_post_talking_heads");
    /* talking heads compute whole rows of all heads in their own kernels (attn/talking_heads.c),
     * and the straight-through top-k's backward is the reference kernels' main loop: neither is
     * combined with the schemes that have paths of their own */
    const bool talking = c->pre_talking_heads || c->post_talking_heads || c->pre_scale_post_talking_heads;
    const char *own = c->use_cope ? "attn_use_cope" : c->dda ? "attn_data_dependent_alibi" : c->residual_attn ? "residual_attn"
                      : c->cross_residual_attn ? "cross_residual_attn" : c->polar && !c->only_cross ? "polar_pos_emb"
                      : c->rel_proj ? "attn_use_rel_proj_pos_bias" : NULL;
    /* residual attention runs in the reference kernels, whose main loop has the straight-through
     * backward too (the logits passed on are those before the drop either way) */
    const bool own_st = own && !((c->residual_attn || c->cross_residual_attn) && !c->use_cope && !c->dda &&
                                 !(c->polar && !c->only_cross) && !c->rel_proj);
    if ((talking && own) || (c->sparse_topk_straight_through && own_st))
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "%s: %s with %s is not supported by xtc", where,
                 c->pre_talking_heads ? "attn_pre_talking_heads" : c->post_talking_heads ? "attn_post_talking_heads"
                 : talking ? "attn_pre_scale_post_talking_heads" : "attn_sparse_topk_straight_through", own);
    c->softclamp_output = softclamp_output ? softclamp_output_value : 0;
    if (c->shift_tokens > 0 && (c->causal ? 1 : 2) * c->shift_tokens + 1 > c->dim)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: shift_tokens %d makes %d feature groups, more than dim %d (x-transformers "
                 "fails splitting the features)", where, c->shift_tokens, (c->causal ? 1 : 2) * c->shift_tokens + 1,
                 c->dim);
    if (c->gate_residual)
        c->scale_residual_constant = 1; /* GRUGating takes scale_residual_constant and never uses it */
    return XTC_OK;
}

static xtc_status parse_layers_class(const cJSON *obj, struct xtc_layers_config *c, const char *where,
                                     struct xtc_error *err) {
    if (!cJSON_IsObject(obj))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: expected {\"class\": ..., \"kwargs\": {...}}", where);
    XTC_TRY(check_no_duplicates(obj, where, err));
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(obj, "class");
    const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(obj, "kwargs");
    if (!cJSON_IsString(cls))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: missing \"class\"", where);
    if (kwargs && !cJSON_IsObject(kwargs))
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: \"kwargs\" must be an object", where);
    for (const cJSON *v = obj->child; v; v = v->next)
        if (strcmp(v->string, "class") != 0 && strcmp(v->string, "kwargs") != 0 && strcmp(v->string, "xtc") != 0)
            XTC_FAIL(err, XTC_ERR_CONFIG, "%s: unexpected key '%s'", where, v->string);
    layers_defaults(c);
    const char *name = cls->valuestring;
    if (strcmp(name, "Decoder") == 0)
        c->causal = true;
    else if (strcmp(name, "Encoder") == 0)
        c->causal = false;
    else if (strcmp(name, "CrossAttender") == 0)
        c->cross_attend = c->only_cross = true;
    else
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: unknown attention-layers class '%s' (expected Encoder, Decoder or CrossAttender)",
                 where, name);
    bool only_cross = c->only_cross;
    if (kwargs) {
        XTC_TRY(check_no_duplicates(kwargs, where, err));
        XTC_TRY(parse_layers(kwargs, c, where, err));
    }
    if (only_cross && !c->cross_attend)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: CrossAttender always cross-attends", where);
    return layers_resolve(c, where, err);
}

/* ------------------------------------------------------------ wrapper */

static void wrapper_defaults(struct xtc_wrapper_config *w) {
    *w = (struct xtc_wrapper_config){0};
    w->num_tokens = -1;
    w->max_seq_len = -1;
    w->use_abs_pos_emb = true;
}

static void wrapper_resolve(struct xtc_wrapper_config *w, const struct xtc_layers_config *l) {
    bool disable_abs = l->disable_abs_pos_emb >= 0 ? l->disable_abs_pos_emb != 0 : (l->rel_pos_bias || l->rotary || l->polar);
    bool no_abs = w->max_seq_len == 0 || !(w->use_abs_pos_emb && !disable_abs);
    w->use_abs_pos_emb = !no_abs;
    if (no_abs)
        w->scaled_sinu_pos_emb = false;
}

static bool skip_attn_layers(const char *key) { return strcmp(key, "attn_layers") == 0; }

static xtc_status parse_wrapper(const cJSON *kwargs, struct xtc_net_config *net, struct xtc_error *err) {
    const char *where = "TransformerWrapper";
    struct xtc_wrapper_config *w = &net->wrap;
    wrapper_defaults(w);
    bool tie_scale_seen = false;
    struct kw table[] = {
        {"num_tokens", KW_INT, &w->num_tokens, 1, MAX_TOKENS, 0, NULL},
        {"max_seq_len", KW_INT, &w->max_seq_len, 0, MAX_SEQ, 0, NULL},
        {"use_abs_pos_emb", KW_BOOL, &w->use_abs_pos_emb, 0, 0, 0, NULL},
        {"scaled_sinu_pos_emb", KW_BOOL, &w->scaled_sinu_pos_emb, 0, 0, 0, NULL},
        {"tie_embedding", KW_BOOL, &w->tie_embedding, 0, 0, 0, NULL},
        {"tie_embedding_scale", KW_NUM, &w->tie_embedding_scale, -1e12, 1e12, 0, &tie_scale_seen},
        {"num_memory_tokens", KW_INT, &w->num_memory_tokens, 0, MAX_SMALL, 0, NULL},
        {"max_mem_len", KW_INT, &w->max_mem_len, 0, MAX_SEQ, 0, NULL},
        {"return_only_embed", KW_BOOL, &w->return_only_embed, 0, 0, 0, NULL},
        {"emb_dim", KW_INT, &w->emb_dim, 1, MAX_DIM, 0, NULL},
        {"logits_dim", KW_INT, &w->logits_dim, 1, MAX_TOKENS, 0, NULL},
        {"emb_dropout", KW_IGNORED_NUM, NULL, 0, 1, 0, NULL},
        {"post_emb_norm", KW_BOOL, &w->post_emb_norm, 0, 0, 0, NULL},
        {"l2norm_embed", KW_BOOL, &w->l2norm_embed, 0, 0, 0, NULL},
        {"use_cls_token", KW_DEFAULT_ONLY_BOOL, NULL, 0, 0, 0, NULL},
        {"average_pool_embed", KW_DEFAULT_ONLY_BOOL, NULL, 0, 0, 0, NULL},
        /* a cached forward call takes the whole sequence in xtc's API */
        {"input_not_include_cache", KW_DEFAULT_ONLY_BOOL, NULL, 0, 0, 0, NULL},
    };
    XTC_TRY(check_no_duplicates(kwargs, where, err));
    XTC_TRY(read_kwargs(kwargs, table, sizeof table / sizeof table[0], where, skip_attn_layers, err));
    if (w->num_tokens < 0)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: 'num_tokens' is required", where);
    if (w->max_seq_len < 0)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: 'max_seq_len' is required", where);
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(kwargs, "attn_layers");
    if (!al)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: 'attn_layers' is required", where);
    XTC_TRY(parse_layers_class(al, &net->layers, "attn_layers", err));
    if (w->emb_dim <= 0)
        w->emb_dim = net->layers.dim;
    if (w->tie_embedding && w->logits_dim > 0 && w->logits_dim != w->num_tokens && !w->return_only_embed)
        xtc_log(XTC_LOG_WARN, "TransformerWrapper: tie_embedding: logits_dim %d is not used (x-transformers ties the "
                "logits to the %d token embeddings and ignores it)", w->logits_dim, w->num_tokens);
    if (w->logits_dim <= 0 || w->tie_embedding)
        w->logits_dim = w->num_tokens;
    if (w->tie_embedding && w->emb_dim != net->layers.dim)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: tie_embedding needs emb_dim == dim (got %d and %d)", where, w->emb_dim,
                 net->layers.dim);
    if (w->scaled_sinu_pos_emb && w->emb_dim % 2)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: scaled_sinu_pos_emb needs an even emb_dim (got %d)", where, w->emb_dim);
    /* x-transformers 2.30.5+: tie_embedding_scale defaults to dim ** -0.5 (dim of the stack) */
    if (!tie_scale_seen)
        w->tie_embedding_scale = 1.0 / sqrt((double)net->layers.dim);
    net->has_wrapper = true;
    wrapper_resolve(w, &net->layers);
    return XTC_OK;
}

/* ContinuousTransformerWrapper: the wrapper fields it shares with TransformerWrapper, with
 * project_in / project_out in place of the token embedding and the logits head. Keywords
 * whose x-transformers default is None (max_seq_len, dim_in, dim_out, num_memory_tokens)
 * may be null. */
static xtc_status parse_continuous(const cJSON *kwargs, struct xtc_net_config *net, struct xtc_error *err) {
    const char *where = "ContinuousTransformerWrapper";
    struct xtc_wrapper_config *w = &net->wrap;
    wrapper_defaults(w);
    w->max_seq_len = 0;
    int dim_in = 0, dim_out = 0;
    bool identity_if_same = false;
    struct kw table[] = {
        {"max_seq_len", KW_INT_OR_NULL, &w->max_seq_len, 0, MAX_SEQ, 0, NULL},
        {"dim_in", KW_INT_OR_NULL, &dim_in, 1, MAX_DIM, 0, NULL},
        {"dim_out", KW_INT_OR_NULL, &dim_out, 1, MAX_DIM, 0, NULL},
        {"max_mem_len", KW_INT, &w->max_mem_len, 0, MAX_SEQ, 0, NULL},
        {"num_memory_tokens", KW_INT_OR_NULL, &w->num_memory_tokens, 0, MAX_SMALL, 0, NULL},
        {"post_emb_norm", KW_BOOL, &w->post_emb_norm, 0, 0, 0, NULL},
        {"emb_dropout", KW_IGNORED_NUM, NULL, 0, 1, 0, NULL},
        {"use_abs_pos_emb", KW_BOOL, &w->use_abs_pos_emb, 0, 0, 0, NULL},
        {"scaled_sinu_pos_emb", KW_BOOL, &w->scaled_sinu_pos_emb, 0, 0, 0, NULL},
        {"use_identity_if_same_dim", KW_BOOL, &identity_if_same, 0, 0, 0, NULL},
        {"average_pool_embed", KW_DEFAULT_ONLY_BOOL, NULL, 0, 0, 0, NULL},
        {"probabilistic", KW_DEFAULT_ONLY_BOOL, NULL, 0, 0, 0, NULL},
    };
    XTC_TRY(check_no_duplicates(kwargs, where, err));
    XTC_TRY(read_kwargs(kwargs, table, sizeof table / sizeof table[0], where, skip_attn_layers, err));
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(kwargs, "attn_layers");
    if (!al)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: 'attn_layers' is required", where);
    XTC_TRY(parse_layers_class(al, &net->layers, "attn_layers", err));
    const int C = net->layers.dim;
    w->continuous = true;
    w->num_tokens = 0;
    w->emb_dim = C;
    w->project_in = dim_in > 0 && !(identity_if_same && dim_in == C);
    w->dim_in = dim_in > 0 ? dim_in : C;
    bool project_out = dim_out > 0 && !(identity_if_same && dim_out == C);
    w->return_only_embed = !project_out;
    w->logits_dim = project_out ? dim_out : C;
    if (w->scaled_sinu_pos_emb && C % 2)
        XTC_FAIL(err, XTC_ERR_CONFIG, "%s: scaled_sinu_pos_emb needs an even dim (got %d)", where, C);
    net->has_wrapper = true;
    wrapper_resolve(w, &net->layers);
    return XTC_OK;
}

/* ------------------------------------------------------------ XTransformer */

/* Splits XTransformer kwargs: dim, tie_token_emb, ignore_index, pad_value, then enc_* / dec_*
 * keys, of which num_tokens, max_seq_len, emb_dropout, scaled_sinu_pos_emb, use_abs_pos_emb
 * (and enc_num_memory_tokens) go to the wrappers and the rest to the stacks. */
static xtc_status parse_xtransformer(const cJSON *kwargs, struct xtc_config *cfg, struct xtc_error *err) {
    const char *where = "XTransformer";
    XTC_TRY(check_no_duplicates(kwargs, where, err));
    cJSON *side[2] = {cJSON_CreateObject(), cJSON_CreateObject()};
    cJSON *wrap[2] = {cJSON_CreateObject(), cJSON_CreateObject()};
    xtc_status rc = XTC_OK;
    int dim = -1;
    cfg->ignore_index = -100;
    cfg->pad_value = 0;
    if (!side[0] || !side[1] || !wrap[0] || !wrap[1]) {
        rc = xtc_error_set(err, XTC_ERR_NOMEM, "out of memory parsing the configuration");
        goto done;
    }
    static const char *wrapper_keys[] = {"num_tokens", "max_seq_len", "emb_dropout", "scaled_sinu_pos_emb",
                                         "use_abs_pos_emb", "num_memory_tokens"};
    for (const cJSON *v = kwargs->child; v; v = v->next) {
        const char *key = v->string;
        struct kw top[] = {
            {"dim", KW_INT, &dim, 1, MAX_DIM, 0, NULL},
            {"tie_token_emb", KW_BOOL, &cfg->tie_token_emb, 0, 0, 0, NULL},
            {"ignore_index", KW_INT, &cfg->ignore_index, -2147483647.0, 2147483647.0, 0, NULL},
            {"pad_value", KW_INT, &cfg->pad_value, -2147483647.0, 2147483647.0, 0, NULL},
            {"cross_attn_tokens_dropout", KW_IGNORED_NUM, NULL, 0, 1, 0, NULL},
        };
        int s = strncmp(key, "enc_", 4) == 0 ? 0 : strncmp(key, "dec_", 4) == 0 ? 1 : -1;
        if (s < 0) {
            size_t i = 0, n = sizeof top / sizeof top[0];
            while (i < n && strcmp(top[i].name, key) != 0)
                i++;
            if (i == n) {
                rc = xtc_error_set(err, XTC_ERR_CONFIG, "%s: unknown or unsupported keyword '%s'", where, key);
                goto done;
            }
            if ((rc = read_kw(&top[i], v, where, err)) != XTC_OK)
                goto done;
            continue;
        }
        const char *rest = key + 4;
        if (strcmp(rest, "dim") == 0) {
            rc = xtc_error_set(err, XTC_ERR_CONFIG, "%s: '%s' is not allowed; set the width with 'dim'", where, key);
            goto done;
        }
        bool to_wrapper = false;
        for (size_t i = 0; i < sizeof wrapper_keys / sizeof wrapper_keys[0]; i++)
            to_wrapper |= strcmp(rest, wrapper_keys[i]) == 0;
        if (s == 1 && strcmp(rest, "num_memory_tokens") == 0)
            to_wrapper = false; /* only the encoder wrapper takes memory tokens; the decoder stack rejects it */
        cJSON_AddItemToObject(to_wrapper ? wrap[s] : side[s], rest, cJSON_Duplicate(v, 1));
    }
    if (dim < 0) {
        rc = xtc_error_set(err, XTC_ERR_CONFIG, "%s: 'dim' is required", where);
        goto done;
    }
    for (int s = 0; s < 2; s++) {
        cJSON_AddNumberToObject(side[s], "dim", dim);
        if (s == 1)
            cJSON_AddBoolToObject(side[s], "cross_attend", 1);
        cJSON *al = cJSON_CreateObject();
        cJSON_AddStringToObject(al, "class", s == 0 ? "Encoder" : "Decoder");
        cJSON_AddItemToObject(al, "kwargs", side[s]);
        side[s] = NULL;
        cJSON_AddItemToObject(wrap[s], "attn_layers", al);
        if (s == 0)
            cJSON_AddBoolToObject(wrap[s], "return_only_embed", 1);
        struct xtc_net_config *net = s == 0 ? &cfg->enc : &cfg->net;
        if ((rc = parse_wrapper(wrap[s], net, err)) != XTC_OK) {
            xtc_error_prefix(err, "%s %s: ", where, s == 0 ? "encoder" : "decoder");
            goto done;
        }
    }
    if (cfg->tie_token_emb && cfg->enc.wrap.num_tokens != cfg->net.wrap.num_tokens) {
        rc = xtc_error_set(err, XTC_ERR_CONFIG, "%s: tie_token_emb needs enc_num_tokens == dec_num_tokens", where);
        goto done;
    }
done:
    for (int s = 0; s < 2; s++) {
        cJSON_Delete(side[s]);
        cJSON_Delete(wrap[s]);
    }
    return rc;
}

/* ------------------------------------------------------------ entry point */

static xtc_status parse_xtc_options(const cJSON *opts, struct xtc_config *cfg, struct xtc_error *err) {
    if (!cJSON_IsObject(opts))
        XTC_FAIL(err, XTC_ERR_CONFIG, "\"xtc\" options must be an object");
    for (const cJSON *v = opts->child; v; v = v->next) {
        if (strcmp(v->string, "rotary_layout") == 0 && cJSON_IsString(v)) {
            enum xtc_rope_layout l;
            if (strcmp(v->valuestring, "interleaved") == 0)
                l = XTC_ROPE_INTERLEAVED;
            else if (strcmp(v->valuestring, "half_split") == 0)
                l = XTC_ROPE_HALF_SPLIT;
            else
                XTC_FAIL(err, XTC_ERR_CONFIG, "xtc.rotary_layout must be \"interleaved\" or \"half_split\"");
            cfg->net.layers.rotary_layout = cfg->enc.layers.rotary_layout = l;
        } else {
            XTC_FAIL(err, XTC_ERR_CONFIG, "unknown xtc option '%s'", v->string);
        }
    }
    return XTC_OK;
}

xtc_status xtc_config_parse(struct xtc_config *cfg, const char *json, size_t len, struct xtc_error *err) {
    if (!cfg || !json)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_config_parse: NULL argument");
    memset(cfg, 0, sizeof *cfg);
    cJSON *root;
    XTC_TRY(xtc_json_parse_strict(json, len, "model config", &root, err));
    xtc_status rc = XTC_OK;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "class");
    const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(root, "kwargs");
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "xtc");
    if (!cJSON_IsObject(root) || !cJSON_IsString(cls) || !cJSON_IsObject(kwargs)) {
        rc = xtc_error_set(err, XTC_ERR_CONFIG, "model config must be {\"class\": NAME, \"kwargs\": {...}}");
        goto done;
    }
    if ((rc = check_no_duplicates(root, "model", err)) != XTC_OK)
        goto done;
    for (const cJSON *v = root->child; v; v = v->next)
        if (strcmp(v->string, "class") && strcmp(v->string, "kwargs") && strcmp(v->string, "xtc")) {
            rc = xtc_error_set(err, XTC_ERR_CONFIG, "model config: unexpected key '%s'", v->string);
            goto done;
        }
    const char *name = cls->valuestring;
    cfg->ignore_index = -100;
    if (strcmp(name, "TransformerWrapper") == 0) {
        cfg->model_class = XTC_MODEL_TRANSFORMER_WRAPPER;
        rc = parse_wrapper(kwargs, &cfg->net, err);
    } else if (strcmp(name, "Encoder") == 0 || strcmp(name, "Decoder") == 0 || strcmp(name, "CrossAttender") == 0) {
        cfg->model_class = name[0] == 'E' ? XTC_MODEL_ENCODER : name[0] == 'D' ? XTC_MODEL_DECODER
                                                                               : XTC_MODEL_CROSS_ATTENDER;
        rc = parse_layers_class(root, &cfg->net.layers, name, err);
    } else if (strcmp(name, "XTransformer") == 0) {
        cfg->model_class = XTC_MODEL_XTRANSFORMER;
        rc = parse_xtransformer(kwargs, cfg, err);
    } else if (strcmp(name, "ContinuousTransformerWrapper") == 0) {
        cfg->model_class = XTC_MODEL_CONTINUOUS_WRAPPER;
        rc = parse_continuous(kwargs, &cfg->net, err);
    } else {
        rc = xtc_error_set(err, XTC_ERR_CONFIG,
                           "unknown model class '%s' (expected TransformerWrapper, ContinuousTransformerWrapper, "
                           "Encoder, Decoder, CrossAttender or XTransformer)", name);
    }
    if (rc == XTC_OK && opts)
        rc = parse_xtc_options(opts, cfg, err);
done:
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------ explicit defaults */

char *xtc_config_json_explicit(const char *json, size_t len) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return NULL;
    cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "class");
    cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(root, "kwargs");
    cJSON *layers = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(kwargs, "attn_layers"), "kwargs");
    cJSON *dim = cJSON_GetObjectItemCaseSensitive(layers, "dim");
    bool ok = true;
    /* tie_embedding_scale: 1.0 before x-transformers 2.30.5, dim ** -0.5 since */
    if (cJSON_IsString(cls) && strcmp(cls->valuestring, "TransformerWrapper") == 0 && cJSON_IsObject(kwargs) &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(kwargs, "tie_embedding")) &&
        !cJSON_GetObjectItemCaseSensitive(kwargs, "tie_embedding_scale") && cJSON_IsNumber(dim) && dim->valuedouble > 0)
        ok = cJSON_AddNumberToObject(kwargs, "tie_embedding_scale", 1.0 / sqrt(dim->valuedouble)) != NULL;
    char *out = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return out;
}
