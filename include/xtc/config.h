/* xtc — model configuration: the x-transformers constructor call as data.
 *
 * A config is parsed from the JSON form of the constructor call, exactly the
 * `model` object of a golden case:
 *   {"class": "TransformerWrapper", "kwargs": {"num_tokens": 256, "max_seq_len": 1024,
 *     "attn_layers": {"class": "Decoder", "kwargs": {"dim": 512, "depth": 6, "rotary_pos_emb": true}}}}
 * Keyword names and defaults are those of x-transformers 2.31.10. A keyword
 * xtc does not implement is an error that names it, never silently ignored.
 * xtc-only settings live in an optional "xtc" object next to "class"
 * (e.g. {"rotary_layout": "half_split"} for checkpoints older than 1.30). */
#ifndef XTC_CONFIG_H
#define XTC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "xtc/export.h"
#include "xtc/rope.h"
#include "xtc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum xtc_model_class {
    XTC_MODEL_TRANSFORMER_WRAPPER, /* token ids in, logits (or embeddings) out */
    XTC_MODEL_ENCODER,             /* bare attention stacks: (B, T, dim) floats in and out */
    XTC_MODEL_DECODER,
    XTC_MODEL_CROSS_ATTENDER,
    XTC_MODEL_XTRANSFORMER,        /* encoder-decoder */
    XTC_MODEL_CONTINUOUS_WRAPPER,  /* ContinuousTransformerWrapper: (B, T, dim_in) floats in, (B, T, dim_out) out */
};

/* The norm of every norm slot of a stack (x-transformers AttentionLayers' norm_class), all with
 * the unit-offset gain (norm_add_unit_offset): LayerNorm (gamma, (C)), RMSNorm (g, (C)),
 * ScaleNorm (g, (1): one gain for every feature), SimpleRMSNorm (no gain). */
enum xtc_norm_kind { XTC_NORM_LAYERNORM, XTC_NORM_RMSNORM, XTC_NORM_SCALENORM, XTC_NORM_SIMPLE_RMSNORM };

/* The feed-forward activation (x-transformers FeedForward: relu_squared wins over swish). */
enum xtc_ff_activation { XTC_FF_GELU, XTC_FF_SWISH, XTC_FF_RELU_SQUARED };

#define XTC_MAX_CUSTOM_SLOPES 1024

/* AttentionLayers (Encoder / Decoder / CrossAttender). */
struct xtc_layers_config {
    int dim, depth, heads, dim_head, kv_heads;
    bool causal;       /* Decoder */
    int disable_abs_pos_emb; /* -1: x-transformers' default (rel_pos_bias or rotary), else 0 / 1 */
    bool cross_attend; /* blocks (self, cross, ff) */
    bool only_cross;   /* CrossAttender: blocks (cross, ff) */
    int dim_context;   /* width of the cross-attention context (default dim) */

    bool rotary;
    int rotary_emb_dim; /* default dim_head / 2 */
    bool rotary_xpos;
    double rotary_xpos_scale_base, rotary_interpolation_factor, rotary_base_rescale_factor;
    enum xtc_rope_layout rotary_layout; /* xtc-only; x-transformers >= 1.30 is interleaved */

    bool alibi;
    int alibi_num_heads;
    int alibi_n_slopes;  /* rel_pos_kwargs {"slopes": [...]}: 0 for the computed slopes, else the first n heads */
    float alibi_slopes[XTC_MAX_CUSTOM_SLOPES]; /* take these (float32, as Tensor(slopes)) and the rest get 0 */
    int rotate_num_heads; /* rotary on the last rotate_num_heads heads of self-attention only (default heads) */
    bool dynamic_pos_bias; /* DynamicPositionBias: an MLP of width dim / 4 over relative distances */
    bool dynamic_pos_bias_log_distance, dynamic_pos_bias_norm;
    int dynamic_pos_bias_mlp_depth;
    bool polar; /* polar_pos_emb (PoPE): softplus magnitudes at angles pos * inv_freq, keys offset by a learned
                   per-head phase; q, k become 2 * dim_head wide (src/pos/polar.c) */
    bool polar_uniform_init; /* polar_bias_uniform_init: refused (x-transformers 2.31.10 fails on it) */
    /* attn_use_rel_proj_pos_bias: every attention layer (self and cross) adds a bias from its own
     * RelativeProjPositionalBias: per query row and head a curve over distances 0..max_dist-1, a
     * projection of the query's input onto rel_proj_num_distance_basis learned basis curves */
    bool rel_proj;
    int rel_proj_num_basis, rel_proj_max_dist; /* 16, 1024 */
    bool rel_pos_bias; /* T5 */
    int rel_pos_num_buckets, rel_pos_max_distance;
    /* CoPE (attn_use_cope, contextual positions): per self-attention layer, gates sigmoid(logits)
     * summed from the right give each key a fractional position below cope_max_pos, whose
     * interpolated embedding dotted with the query is added to the logits; cope_talking_heads
     * mixes the heads' logits for the gates. */
    bool use_cope, cope_talking_heads;
    int cope_max_pos; /* 16 */
    /* data-dependent ALiBi (attn_data_dependent_alibi, the forgetting transformer): per
     * self-attention layer, forget gates read from the layer's input (pos/pos.h, xtc_dda) */
    bool dda, dda_per_row;
    int dda_per_row_dim_head; /* 8 */
    double dda_post_log_scale; /* attn_data_dependent_alibi_kwargs post_log_scale, 1 */

    int num_mem_kv;
    bool qk_norm;
    double qk_norm_scale;
    bool qk_norm_dim_scale;   /* with qk_norm: learned per-dim q / k scales, logit scale dim_head^-0.5 */
    bool gate_values;         /* attention output *= sigmoid(x @ to_v_gate^T), per feature */
    bool swiglu_values;       /* with gate_values: silu(gate logits) instead of sigmoid (attn_swiglu_values) */
    bool gate_values_headwise; /* with gate_values: one gate logit per head (to_v_gate (H, C)), broadcast over D */
    int gate_values_rank;     /* with gate_values, > 0: the gate logits are up(act(down(x))), down (rank, C), up
                                 (H*D, rank), act silu with low_rank_silu_gates (the default), else none */
    bool low_rank_silu_gates;
    /* output gate (x-transformers 2.31.10 HyGA): the gate logits also add to_output_gate(u), u the
     * attention output after head_scale and the per-head gate, per feature or per head, through a
     * rank like the value gate's; the activation (sigmoid or swiglu_values' silu) applies to the sum */
    bool output_gate, output_gate_headwise;
    int output_gate_rank;
    bool gate_value_heads;    /* attention output of head h *= sigmoid(x @ to_v_head_gate^T + bias)[h], after
                                 head_scale and before the value gate */
    bool head_scale;          /* attention output of head h *= head_scale_params[h] */
    double logit_softclamp;   /* 0: none; else logits (bias included) -> v tanh(logits / v) before masking */
    int sparse_topk;          /* 0: none; else each query row keeps its sparse_topk largest logits (ties kept) */
    bool sparse_topk_straight_through; /* with sparse_topk: gradients through the full softmax (forward unchanged) */
    /* talking heads (x-transformers Attend): H x H mixings across heads of the scaled logits,
     * before the positional bias (pre: logits += W_pre logits), of the probabilities (post:
     * p <- W_post p), and the probabilities scaled by a mixing of the scaled logits (pre_scale_post) */
    bool pre_talking_heads, post_talking_heads, pre_scale_post_talking_heads;
    double softclamp_output;  /* 0: none; else the stack output before the final norm is soft-clamped */

    enum xtc_norm_kind norm;
    /* Block structure (reference B.2): pre-norm x <- x + f(norm(x)); sandwich_norm also norms the
     * branch output, x <- x + norm2(f(norm(x))); post-norm (pre_norm false) x <- norm(x + f(x)).
     * final_norm: pre_norm and pre_norm_has_final_norm. */
    bool pre_norm, sandwich_norm, final_norm;
    /* Block layout and residual (reference B.2; x-transformers AttentionLayers):
     * macaron: a feed-forward before each block's attention, both feed-forwards' outputs
     * halved (Scale(0.5, FeedForward)); only_attn: no feed-forwards; weight_tie_layers: every
     * block runs the first block's parameters (layers_execute_order (0, 1, ..) * depth). */
    bool macaron, only_attn, weight_tie_layers;
    bool use_layerscale;           /* branch output * (gamma + 1) (LayerScale with unit offset) */
    double layerscale_init_value;  /* gamma starts at init_value - 1 (initialisation only) */
    bool scale_residual;           /* residual * residual_scale (C), learned */
    double scale_residual_constant; /* residual * constant (default 1; GRUGating ignores it: 1 there) */
    bool gate_residual;            /* x <- GRUCell(input: branch output, hidden: residual) (GRUGating) */
    /* residual attention: each self- (cross-) attention adds the pre-softmax logits of the
     * previous one to its scaled logits, before its bias (Attend prev_attn) */
    bool residual_attn, cross_residual_attn;
    /* shift_tokens s > 0 (s <= 0: none, as x-transformers): every block's input (after its pre-norm) is cut into s + 1 (Decoder:
     * shifts 0 .. s) or 2s + 1 (shifts -s .. s) groups of dim // groups features, group g moved
     * along the sequence by its shift (zeros shifted in; padded tokens zeroed first in attention
     * blocks); the features after the groups stay (ShiftTokens) */
    int shift_tokens;
    double ff_mult;
    bool ff_glu;
    enum xtc_ff_activation ff_activation;
    bool ff_no_bias;     /* no bias in either Linear, except the GLU projection's (GLU always has one) */
    bool ff_post_act_ln; /* LayerNorm (gain without unit offset, ff.1.gamma) of the inner activation */
    bool ff_glu_softclamp; /* 2.31.10: c(value, up) * c(gate, gate_clamp) * Phi(gate) (sigmoid(gate) with swish),
                              c(t, b) = b tanh(t / b) */
    double ff_glu_gate_softclamp_value, ff_glu_up_softclamp_value; /* 4, 25 */
    double ff_softclamp_value; /* 0: none; else the plain (non-GLU) pre-activation is soft-clamped first
                                  (2.31.10 applies it to the non-GLU feed-forward only) */
    int ff_inner; /* int(dim * ff_mult) */
};

/* TransformerWrapper around a stack. */
struct xtc_wrapper_config {
    int num_tokens, max_seq_len, num_memory_tokens, max_mem_len;
    bool use_abs_pos_emb;     /* resolved: false under rotary / T5 or max_seq_len 0 */
    bool scaled_sinu_pos_emb; /* resolved: only when an absolute embedding is used */
    bool tie_embedding;
    double tie_embedding_scale; /* logits = (x @ E^T) * scale; default dim^-0.5 (x-transformers >= 2.30.5),
                                   1.0 reproduces older tied checkpoints */
    bool return_only_embed;   /* no to_logits (XTransformer encoder) */
    int emb_dim;              /* width of the embeddings; != dim adds project_emb (Linear with bias) */
    int logits_dim;           /* width of to_logits (default num_tokens) */
    bool post_emb_norm;       /* LayerNorm without unit offset on the embedding sum */
    bool l2norm_embed;        /* token and learned position embeddings l2-normalised (position scale 1) */
    /* ContinuousTransformerWrapper: project_in (dim, dim_in) without bias replaces the token
     * embedding, project_out (dim_out, dim) without bias the logits head (logits_dim = dim_out;
     * none: return_only_embed). num_tokens is 0. */
    bool continuous;
    int dim_in;               /* width of the float input (dim without project_in) */
    bool project_in;
};

/* One network: a stack, optionally wrapped. */
struct xtc_net_config {
    bool has_wrapper;
    struct xtc_wrapper_config wrap;
    struct xtc_layers_config layers;
};

struct xtc_config {
    enum xtc_model_class model_class;
    struct xtc_net_config net; /* the model; for XTransformer the decoder */
    struct xtc_net_config enc; /* XTransformer only: the encoder (wrapper with return_only_embed) */
    bool tie_token_emb;        /* XTransformer */
    int ignore_index, pad_value;
};

/* Parses the JSON text of a constructor call into cfg, resolving defaults.
 * Errors: XTC_ERR_FORMAT (not JSON), XTC_ERR_CONFIG (unknown class or keyword,
 * wrong type, value out of range, contradictions such as rotary_emb_dim >
 * dim_head or XPOS on an encoder), XTC_ERR_UNSUPPORTED (a valid x-transformers
 * keyword with a value xtc does not implement). Soft problems (rotary dim
 * below 32) are logged as warnings. */
XTC_API xtc_status xtc_config_parse(struct xtc_config *cfg, const char *json, size_t len, struct xtc_error *err);

#ifdef __cplusplus
}
#endif
#endif
