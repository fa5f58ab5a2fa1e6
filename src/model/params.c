/* The one table of named parameters. Names and shapes follow x-transformers'
 * state_dict (reference §C); the same table drives checkpoint loading and
 * writing, and will drive gradients and optimiser state. Built in two passes
 * (see struct xtc_param_builder) so that shapes can be checked against a file
 * before a single parameter byte is allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/model.h"

float *xtc_param_add(struct xtc_param_builder *b, const char *name, int ndim, const int64_t *shape, bool is_buffer) {
    if (b->status != XTC_OK)
        return NULL;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (__builtin_mul_overflow(numel, (size_t)shape[i], &numel)) {
            b->status = xtc_error_set(b->err, XTC_ERR_CONFIG, "parameter %s%s: size overflows", b->prefix, name);
            return NULL;
        }
    }
    float *ptr = NULL;
    size_t *counter = is_buffer ? &b->buf_total : &b->total;
    if (b->data) {
        ptr = b->data + (is_buffer ? b->train_total : 0) + *counter;
    } else {
        if (b->n == b->cap) {
            int cap = b->cap ? 2 * b->cap : 64;
            struct xtc_param *p = realloc(b->params, sizeof *p * (size_t)cap);
            if (!p) {
                b->status = xtc_error_set(b->err, XTC_ERR_NOMEM, "out of memory allocating the parameter table");
                return NULL;
            }
            b->params = p;
            b->cap = cap;
        }
        struct xtc_param *p = &b->params[b->n++];
        memset(p, 0, sizeof *p);
        int len = snprintf(p->name, sizeof p->name, "%s%s", b->prefix, name);
        if (len < 0 || (size_t)len >= sizeof p->name) {
            b->status = xtc_error_set(b->err, XTC_ERR_CONFIG, "parameter name too long: %s%s", b->prefix, name);
            return NULL;
        }
        p->ndim = ndim;
        memcpy(p->shape, shape, sizeof(int64_t) * (size_t)ndim);
        p->offset = *counter; /* buffers are shifted behind the trainable block after pass 1 */
        p->numel = numel;
        p->is_buffer = is_buffer;
    }
    if (__builtin_add_overflow(*counter, numel, counter))
        b->status = xtc_error_set(b->err, XTC_ERR_CONFIG, "model size overflows");
    return ptr;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define ADD(name, ...) \
    xtc_param_add(b, name, (int)(sizeof(SHAPE(__VA_ARGS__)) / sizeof(int64_t)), SHAPE(__VA_ARGS__), false)

/* A gate's projection `bp mod`: a Linear (out, in), or with a rank a LoRALinear, `.down`
 * (rank, in) into *down then `.up` (out, rank) (a rank excludes head-wise gates: config). */
static float *gate_params(struct xtc_param_builder *b, const char *bp, const char *mod, int rank, int64_t out,
                          int64_t in, float **down) {
    char name[256];
    if (rank > 0) {
        snprintf(name, sizeof name, "%s%s.down.weight", bp, mod);
        *down = ADD(name, rank, in);
        snprintf(name, sizeof name, "%s%s.up.weight", bp, mod);
        return ADD(name, out, rank);
    }
    snprintf(name, sizeof name, "%s%s.weight", bp, mod);
    return ADD(name, out, in);
}

/* The gain of one of the stack's norms: `prefix.gamma` (C) for LayerNorm, `prefix.g` (C) for
 * RMSNorm, (1) for ScaleNorm; SimpleRMSNorm has none (NULL). */
static float *norm_param(struct xtc_param_builder *b, const struct xtc_layers_config *c, const char *prefix) {
    char name[112];
    switch (c->norm) {
    case XTC_NORM_SIMPLE_RMSNORM:
        return NULL;
    case XTC_NORM_SCALENORM:
        snprintf(name, sizeof name, "%s.g", prefix);
        return ADD(name, 1);
    case XTC_NORM_RMSNORM:
        snprintf(name, sizeof name, "%s.g", prefix);
        return ADD(name, c->dim);
    default:
        snprintf(name, sizeof name, "%s.gamma", prefix);
        return ADD(name, c->dim);
    }
}

/* Where sub-layer l's block module lives: layers.l.1., one "fn." deeper for each wrapper
 * around it (AttentionLayers: LayerScale(ShiftTokens(Scale(0.5, FeedForward))) with
 * use_layerscale, shift_tokens and macaron). */
static void branch_prefix(char *bp, size_t n, const struct xtc_layers_config *c, const struct xtc_sublayer *L, int l) {
    snprintf(bp, n, "layers.%d.1.%s%s%s", l, c->use_layerscale ? "fn." : "", c->shift_tokens > 0 ? "fn." : "",
             c->macaron && L->kind == XTC_SUB_FF ? "fn." : "");
}

static void stack_params(struct xtc_param_builder *b, struct xtc_stack *s) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t C = c->dim, HD = (int64_t)c->heads * c->dim_head, GD = (int64_t)c->kv_heads * c->dim_head;
    const int64_t I = c->ff_inner;
    char name[128], bp[48];
    for (int l = 0; l < s->n_sub; l++) {
        struct xtc_sublayer *L = &s->sub[l];
        if (c->weight_tie_layers && l >= s->per_block) {
            /* the state_dict holds the first block only; its tensors (and their gradients, summed
             * over every use) serve every block */
            *L = s->sub[l % s->per_block];
            continue;
        }
        branch_prefix(bp, sizeof bp, c, L, l);
        /* x-transformers' norms of layer l: [pre-branch, post-branch (sandwich), post-main] */
        snprintf(name, sizeof name, "layers.%d.0.0", l);
        L->norm = c->pre_norm ? norm_param(b, c, name) : NULL;
        snprintf(name, sizeof name, "layers.%d.0.1", l);
        L->norm_sandwich = c->sandwich_norm ? norm_param(b, c, name) : NULL;
        snprintf(name, sizeof name, "layers.%d.0.2", l);
        L->norm_post = !c->pre_norm ? norm_param(b, c, name) : NULL;
        if (L->kind == XTC_SUB_FF) {
            /* FeedForward's Sequential drops its None entries: ff.0 proj_in, [ff.1 post-activation
             * LayerNorm], dropout, proj_out (ff.2, or ff.3 after the LayerNorm). The GLU projection
             * keeps its bias under no_bias (x-transformers never passes it on). */
            snprintf(name, sizeof name, c->ff_glu ? "%sff.0.proj.weight" : "%sff.0.0.weight", bp);
            L->w1 = ADD(name, c->ff_glu ? 2 * I : I, C);
            L->b1 = NULL;
            if (c->ff_glu || !c->ff_no_bias) {
                snprintf(name, sizeof name, c->ff_glu ? "%sff.0.proj.bias" : "%sff.0.0.bias", bp);
                L->b1 = ADD(name, c->ff_glu ? 2 * I : I);
            }
            L->ff_gamma = NULL;
            if (c->ff_post_act_ln) {
                snprintf(name, sizeof name, "%sff.1.gamma", bp);
                L->ff_gamma = ADD(name, I);
            }
            const int out = c->ff_post_act_ln ? 3 : 2;
            snprintf(name, sizeof name, "%sff.%d.weight", bp, out);
            L->w2 = ADD(name, C, I);
            L->b2 = NULL;
            if (!c->ff_no_bias) {
                snprintf(name, sizeof name, "%sff.%d.bias", bp, out);
                L->b2 = ADD(name, C);
            }
        } else {
            int64_t Cin = L->kind == XTC_SUB_CROSS ? c->dim_context : C;
            if (c->num_mem_kv > 0) {
                snprintf(name, sizeof name, "%smem_k", bp);
                L->mem_k = ADD(name, c->kv_heads, c->num_mem_kv, c->dim_head);
                snprintf(name, sizeof name, "%smem_v", bp);
                L->mem_v = ADD(name, c->kv_heads, c->num_mem_kv, c->dim_head);
            }
            snprintf(name, sizeof name, "%sto_q.weight", bp);
            L->wq = ADD(name, HD, C);
            snprintf(name, sizeof name, "%sto_k.weight", bp);
            L->wk = ADD(name, GD, Cin);
            snprintf(name, sizeof name, "%sto_v.weight", bp);
            L->wv = ADD(name, GD, Cin);
            L->wg = L->wgd = L->wog = L->wogd = NULL;
            if (c->gate_values)
                L->wg = gate_params(b, bp, "to_v_gate", c->gate_values_rank, c->gate_values_headwise ? c->heads : HD, C,
                                    &L->wgd);
            if (c->output_gate)
                L->wog = gate_params(b, bp, "to_output_gate", c->output_gate_rank,
                                     c->output_gate_headwise ? c->heads : HD, HD, &L->wogd);
            L->wh = L->bh = NULL;
            if (c->gate_value_heads) {
                snprintf(name, sizeof name, "%sto_v_head_gate.weight", bp);
                L->wh = ADD(name, c->heads, C);
                snprintf(name, sizeof name, "%sto_v_head_gate.bias", bp);
                L->bh = ADD(name, c->heads);
            }
            if (c->qk_norm_dim_scale) {
                snprintf(name, sizeof name, "%sqk_norm_q_scale", bp);
                L->q_scale = ADD(name, c->heads, 1, c->dim_head);
                snprintf(name, sizeof name, "%sqk_norm_k_scale", bp);
                L->k_scale = ADD(name, c->kv_heads, 1, c->dim_head);
            }
            if (c->head_scale) {
                snprintf(name, sizeof name, "%shead_scale_params", bp);
                L->head_scale = ADD(name, 1, c->heads, 1, 1);
            }
            if (c->dda && L->kind == XTC_SUB_SELF) { /* config: never in cross-attention */
                const int64_t O = c->dda_per_row ? 2 * HD / c->dim_head * c->dda_per_row_dim_head
                                                 : (c->causal ? 1 : 2) * (int64_t)c->heads;
                snprintf(name, sizeof name, "%sdata_dependent_alibi.to_forget_gates.0.weight", bp);
                L->dda_w = ADD(name, O, C);
                if (!c->dda_per_row) {
                    snprintf(name, sizeof name, "%sdata_dependent_alibi.to_forget_gates.0.bias", bp);
                    L->dda_b = ADD(name, O);
                }
            }
            if (c->use_cope && L->kind == XTC_SUB_SELF) { /* config: CoPE never sits in cross-attention */
                snprintf(name, sizeof name, "%sattend.cope.pos_emb", bp);
                L->cope_emb = ADD(name, c->cope_max_pos, c->dim_head);
                if (c->cope_talking_heads) {
                    snprintf(name, sizeof name, "%sattend.cope.talking_heads.weight", bp);
                    L->cope_talk = ADD(name, c->heads, c->heads, 1, 1);
                }
            }
            if (c->rel_proj) {
                const int64_t HR = (int64_t)c->heads * c->rel_proj_num_basis;
                snprintf(name, sizeof name, "%srel_proj_pos_bias.to_distance_weights.0.weight", bp);
                L->rp_w = ADD(name, HR, C);
                snprintf(name, sizeof name, "%srel_proj_pos_bias.to_distance_weights.0.bias", bp);
                L->rp_b = ADD(name, HR);
                snprintf(name, sizeof name, "%srel_proj_pos_bias.distance_bank", bp);
                L->rp_bank = ADD(name, c->rel_proj_num_basis, c->rel_proj_max_dist);
            }
            /* Attend's 1x1 convolutions across heads */
            L->th_pre = L->th_post = L->th_pre_scale = NULL;
            if (c->pre_talking_heads) {
                snprintf(name, sizeof name, "%sattend.pre_softmax_talking_heads.weight", bp);
                L->th_pre = ADD(name, c->heads, c->heads, 1, 1);
            }
            if (c->post_talking_heads) {
                snprintf(name, sizeof name, "%sattend.post_softmax_talking_heads.weight", bp);
                L->th_post = ADD(name, c->heads, c->heads, 1, 1);
            }
            if (c->pre_scale_post_talking_heads) {
                snprintf(name, sizeof name, "%sattend.pre_scale_post_talking_heads.weight", bp);
                L->th_pre_scale = ADD(name, c->heads, c->heads, 1, 1);
            }
            L->wo = NULL;
            if (c->heads > 1) {
                snprintf(name, sizeof name, "%sto_out.weight", bp);
                L->wo = ADD(name, C, HD);
            }
        }
        /* LayerScale's gain sits beside the module it wraps; Residual's scale in layers.l.2 */
        L->layerscale = NULL;
        if (c->use_layerscale) {
            snprintf(name, sizeof name, "layers.%d.1.gamma", l);
            L->layerscale = ADD(name, C);
        }
        L->gru_wih = L->gru_whh = L->gru_bih = L->gru_bhh = NULL;
        if (c->gate_residual) { /* each bias after its weight: init.c takes a bias' fan-in from there */
            snprintf(name, sizeof name, "layers.%d.2.gru.weight_ih", l);
            L->gru_wih = ADD(name, 3 * C, C);
            snprintf(name, sizeof name, "layers.%d.2.gru.bias_ih", l);
            L->gru_bih = ADD(name, 3 * C);
            snprintf(name, sizeof name, "layers.%d.2.gru.weight_hh", l);
            L->gru_whh = ADD(name, 3 * C, C);
            snprintf(name, sizeof name, "layers.%d.2.gru.bias_hh", l);
            L->gru_bhh = ADD(name, 3 * C);
        }
        L->residual_scale = NULL;
        if (c->scale_residual) {
            snprintf(name, sizeof name, "layers.%d.2.residual_scale", l);
            L->residual_scale = ADD(name, C);
        }
    }
    /* the bias scheme's learned tensors (e.g. T5's bucket table) */
    const char *pname;
    int64_t pshape[4];
    int nd;
    for (int i = 0; s->bias.scheme && s->bias.scheme->param && i < XTC_BIAS_MAX_PARAMS &&
                    (nd = s->bias.scheme->param(&s->bias, i, &pname, pshape)) > 0;
         i++)
        s->bias.params[i] = xtc_param_add(b, pname, nd, pshape, false);
    s->final_norm = c->final_norm ? norm_param(b, c, "final_norm") : NULL;
    if (c->polar) { /* PolarEmbedding: the learned key phase and its persistent frequencies */
        s->polar_phase = ADD("polar_pos_emb.learned_bias", c->heads, 1, c->dim_head);
        s->polar_inv_freq_buf = xtc_param_add(b, "polar_pos_emb.inv_freq", 1, SHAPE(c->dim_head), true);
    }
    if (c->rotary) {
        int64_t nf = s->rotary.n_freq;
        s->inv_freq_buf = xtc_param_add(b, "rotary_pos_emb.inv_freq", 1, SHAPE(nf), true);
        if (c->rotary_xpos)
            s->xpos_scale_buf = xtc_param_add(b, "rotary_pos_emb.scale", 1, SHAPE(nf), true);
    }
}

void xtc_net_params(struct xtc_param_builder *b, struct xtc_net *net) {
    const struct xtc_net_config *c = &net->cfg;
    const int64_t C = c->layers.dim;
    size_t plen = strlen(b->prefix);
    if (c->has_wrapper) {
        const struct xtc_wrapper_config *w = &c->wrap;
        const int64_t E = w->emb_dim;
        if (w->num_memory_tokens > 0)
            net->memory_tokens = ADD("memory_tokens", w->num_memory_tokens, C);
        if (!w->continuous)
            net->token_emb = ADD("token_emb.emb.weight", w->num_tokens, E);
        if (w->use_abs_pos_emb && w->scaled_sinu_pos_emb)
            net->pos_scale = ADD("pos_emb.scale", 1);
        else if (w->use_abs_pos_emb)
            net->pos_emb = ADD("pos_emb.emb.weight", w->max_seq_len, E);
        if (w->post_emb_norm)
            net->post_emb_norm = ADD("post_emb_norm.gamma", E);
        if (E != C) {
            net->project_w = ADD("project_emb.weight", C, E);
            net->project_b = ADD("project_emb.bias", C);
        }
        if (plen + 12 < sizeof b->prefix)
            strcat(b->prefix, "attn_layers.");
    }
    stack_params(b, &net->stack);
    b->prefix[plen] = '\0';
    if (c->has_wrapper && c->wrap.continuous && c->wrap.project_in)
        net->project_in = ADD("project_in.weight", C, c->wrap.dim_in);
    /* ContinuousTransformerWrapper's project_out is the same bias-free head as to_logits */
    if (c->has_wrapper && !c->wrap.tie_embedding && !c->wrap.return_only_embed)
        net->to_logits = ADD(c->wrap.continuous ? "project_out.weight" : "to_logits.weight", c->wrap.logits_dim, C);
}
