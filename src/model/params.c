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

static void stack_params(struct xtc_param_builder *b, struct xtc_stack *s) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t C = c->dim, HD = (int64_t)c->heads * c->dim_head, GD = (int64_t)c->kv_heads * c->dim_head;
    const int64_t I = c->ff_inner;
    char name[96];
    for (int l = 0; l < s->n_sub; l++) {
        struct xtc_sublayer *L = &s->sub[l];
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
            snprintf(name, sizeof name, c->ff_glu ? "layers.%d.1.ff.0.proj.weight" : "layers.%d.1.ff.0.0.weight", l);
            L->w1 = ADD(name, c->ff_glu ? 2 * I : I, C);
            L->b1 = NULL;
            if (c->ff_glu || !c->ff_no_bias) {
                snprintf(name, sizeof name, c->ff_glu ? "layers.%d.1.ff.0.proj.bias" : "layers.%d.1.ff.0.0.bias", l);
                L->b1 = ADD(name, c->ff_glu ? 2 * I : I);
            }
            L->ff_gamma = NULL;
            if (c->ff_post_act_ln) {
                snprintf(name, sizeof name, "layers.%d.1.ff.1.gamma", l);
                L->ff_gamma = ADD(name, I);
            }
            const int out = c->ff_post_act_ln ? 3 : 2;
            snprintf(name, sizeof name, "layers.%d.1.ff.%d.weight", l, out);
            L->w2 = ADD(name, C, I);
            L->b2 = NULL;
            if (!c->ff_no_bias) {
                snprintf(name, sizeof name, "layers.%d.1.ff.%d.bias", l, out);
                L->b2 = ADD(name, C);
            }
            continue;
        }
        int64_t Cin = L->kind == XTC_SUB_CROSS ? c->dim_context : C;
        if (c->num_mem_kv > 0) {
            snprintf(name, sizeof name, "layers.%d.1.mem_k", l);
            L->mem_k = ADD(name, c->kv_heads, c->num_mem_kv, c->dim_head);
            snprintf(name, sizeof name, "layers.%d.1.mem_v", l);
            L->mem_v = ADD(name, c->kv_heads, c->num_mem_kv, c->dim_head);
        }
        snprintf(name, sizeof name, "layers.%d.1.to_q.weight", l);
        L->wq = ADD(name, HD, C);
        snprintf(name, sizeof name, "layers.%d.1.to_k.weight", l);
        L->wk = ADD(name, GD, Cin);
        snprintf(name, sizeof name, "layers.%d.1.to_v.weight", l);
        L->wv = ADD(name, GD, Cin);
        L->wgd = NULL;
        if (c->gate_values && c->gate_values_rank > 0) { /* LoRALinear: down, then up */
            snprintf(name, sizeof name, "layers.%d.1.to_v_gate.down.weight", l);
            L->wgd = ADD(name, c->gate_values_rank, C);
            snprintf(name, sizeof name, "layers.%d.1.to_v_gate.up.weight", l);
            L->wg = ADD(name, HD, c->gate_values_rank);
        } else if (c->gate_values) {
            snprintf(name, sizeof name, "layers.%d.1.to_v_gate.weight", l);
            L->wg = ADD(name, c->gate_values_headwise ? c->heads : HD, C);
        }
        L->wog = L->wogd = NULL;
        if (c->output_gate && c->output_gate_rank > 0) {
            snprintf(name, sizeof name, "layers.%d.1.to_output_gate.down.weight", l);
            L->wogd = ADD(name, c->output_gate_rank, HD);
            snprintf(name, sizeof name, "layers.%d.1.to_output_gate.up.weight", l);
            L->wog = ADD(name, HD, c->output_gate_rank);
        } else if (c->output_gate) {
            snprintf(name, sizeof name, "layers.%d.1.to_output_gate.weight", l);
            L->wog = ADD(name, c->output_gate_headwise ? c->heads : HD, HD);
        }
        L->wh = L->bh = NULL;
        if (c->gate_value_heads) {
            snprintf(name, sizeof name, "layers.%d.1.to_v_head_gate.weight", l);
            L->wh = ADD(name, c->heads, C);
            snprintf(name, sizeof name, "layers.%d.1.to_v_head_gate.bias", l);
            L->bh = ADD(name, c->heads);
        }
        if (c->qk_norm_dim_scale) {
            snprintf(name, sizeof name, "layers.%d.1.qk_norm_q_scale", l);
            L->q_scale = ADD(name, c->heads, 1, c->dim_head);
            snprintf(name, sizeof name, "layers.%d.1.qk_norm_k_scale", l);
            L->k_scale = ADD(name, c->kv_heads, 1, c->dim_head);
        }
        if (c->head_scale) {
            snprintf(name, sizeof name, "layers.%d.1.head_scale_params", l);
            L->head_scale = ADD(name, 1, c->heads, 1, 1);
        }
        /* Attend's 1x1 convolutions across heads */
        L->th_pre = L->th_post = L->th_pre_scale = NULL;
        if (c->pre_talking_heads) {
            snprintf(name, sizeof name, "layers.%d.1.attend.pre_softmax_talking_heads.weight", l);
            L->th_pre = ADD(name, c->heads, c->heads, 1, 1);
        }
        if (c->post_talking_heads) {
            snprintf(name, sizeof name, "layers.%d.1.attend.post_softmax_talking_heads.weight", l);
            L->th_post = ADD(name, c->heads, c->heads, 1, 1);
        }
        if (c->pre_scale_post_talking_heads) {
            snprintf(name, sizeof name, "layers.%d.1.attend.pre_scale_post_talking_heads.weight", l);
            L->th_pre_scale = ADD(name, c->heads, c->heads, 1, 1);
        }
        L->wo = NULL;
        if (c->heads > 1) {
            snprintf(name, sizeof name, "layers.%d.1.to_out.weight", l);
            L->wo = ADD(name, C, HD);
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
