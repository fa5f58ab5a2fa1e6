/* The attention stack, x-transformers AttentionLayers.forward (reference B.2,
 * B.3, B.8, B.9): for each sub-layer x <- x + block(norm(x)), then the final
 * norm; or with sandwich_norm x <- x + norm2(block(norm(x))), or post-norm
 * x <- norm(x + block(x)) without a final norm. Blocks are self-attention
 * ('a'), cross-attention ('c') and feed-forward ('f') in the order (a, f),
 * (a, c, f) or (c, f) per depth, with macaron (f, a, f), ..., and only_attn without f;
 * with weight_tie_layers every block runs the first block's weights. A branch input may
 * be token-shifted (xtc_step_shift_tokens); the end of each branch may scale it (macaron's
 * 0.5, LayerScale) and the residual (scale_residual), or gate it with a GRU
 * (xtc_step_branch_out); with residual attention each attention hands its logits to the
 * next of its kind.
 * Shape letters as in stack.h. */
#include "layers/stack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attention.h"
#include "core/status.h"
#include "xtc/backend.h"
#include "layers/steps.h"
#include "ops/ops.h"

/* --------------------------------------------------------------- setup */

xtc_status xtc_stack_init(struct xtc_stack *s, const struct xtc_layers_config *c, int64_t pos_lo, int64_t pos_hi,
                          struct xtc_error *err) {
    memset(s, 0, sizeof *s);
    s->cfg = *c;
    s->glu = (struct xtc_glu_params){.act = c->ff_activation,
                                     .softclamp = c->ff_glu_softclamp,
                                     .gate_clamp = (float)c->ff_glu_gate_softclamp_value,
                                     .up_clamp = (float)c->ff_glu_up_softclamp_value};
    /* AttentionLayers' default_block: ('a', 'f'), ('a', 'c', 'f') or ('c', 'f'); macaron puts an
     * 'f' in front, only_attn drops every 'f' */
    enum xtc_sub_kind block[4];
    int per = 0;
    if (c->macaron && !c->only_attn)
        block[per++] = XTC_SUB_FF;
    if (!c->only_cross)
        block[per++] = XTC_SUB_SELF;
    if (c->cross_attend)
        block[per++] = XTC_SUB_CROSS;
    if (!c->only_attn)
        block[per++] = XTC_SUB_FF;
    s->per_block = per;
    s->n_sub = per * c->depth;
    s->sub = calloc((size_t)s->n_sub, sizeof *s->sub);
    if (!s->sub)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the stack's layers");
    for (int l = 0; l < s->n_sub; l++) {
        enum xtc_sub_kind k = block[l % per];
        s->sub[l].kind = k;
        /* macaron: both feed-forwards are Scale(0.5, FeedForward) */
        s->sub[l].branch_scale = c->macaron && k == XTC_SUB_FF ? 0.5f : 1.0f;
        s->n_self += k == XTC_SUB_SELF;
    }
    if (c->rotary) {
        struct xtc_rotary_config rc = {
            .rotary_emb_dim = c->rotary_emb_dim,
            .base = 10000.0, /* AttentionLayers never passes a base */
            .base_rescale_factor = c->rotary_base_rescale_factor,
            .interpolation_factor = c->rotary_interpolation_factor,
            .xpos = c->rotary_xpos,
            .xpos_scale_base = c->rotary_xpos_scale_base,
            .layout = c->rotary_layout,
            .cache_lo = pos_lo,
            .cache_hi = pos_hi,
        };
        xtc_status rc_ = xtc_rotary_init(&s->rotary, &rc, err);
        if (rc_ != XTC_OK) {
            xtc_stack_free(s);
            return rc_;
        }
    }
    if (c->polar) {
        xtc_status rc_ = xtc_polar_init(&s->polar, c->dim_head, err);
        if (rc_ != XTC_OK) {
            xtc_stack_free(s);
            return rc_;
        }
    }
    xtc_status rc = xtc_pos_bias_init(&s->bias, c, err);
    if (rc != XTC_OK)
        xtc_stack_free(s);
    return rc;
}

void xtc_stack_free(struct xtc_stack *s) {
    if (!s)
        return;
    free(s->sub);
    xtc_pos_bias_free(&s->bias);
    xtc_rotary_free(&s->rotary);
    xtc_polar_free(&s->polar);
    s->sub = NULL;
}

xtc_status xtc_stack_check_buffers(const struct xtc_stack *s, struct xtc_error *err) {
    const struct xtc_rotary *r = &s->rotary;
    for (int k = 0; s->inv_freq_buf && k < r->n_freq; k++) {
        float want = r->inv_freq[k], got = s->inv_freq_buf[k];
        if (!(fabsf(got - want) <= 1e-6f + 1e-4f * fabsf(want)))
            XTC_FAIL(err, XTC_ERR_FORMAT,
                     "rotary_pos_emb.inv_freq[%d] = %g but the configuration implies %g (rotary_emb_dim %d, "
                     "base 10000, rescale %g): checkpoint and config disagree",
                     k, got, want, s->cfg.rotary_emb_dim, s->cfg.rotary_base_rescale_factor);
    }
    for (int k = 0; s->xpos_scale_buf && r->xpos_scale && k < r->n_freq; k++) {
        float want = r->xpos_scale[k], got = s->xpos_scale_buf[k];
        if (!(fabsf(got - want) <= 1e-6f + 1e-5f * fabsf(want)))
            XTC_FAIL(err, XTC_ERR_FORMAT, "rotary_pos_emb.scale[%d] = %g but XPOS implies %g", k, got, want);
    }
    for (int d = 0; s->polar_inv_freq_buf && d < s->polar.D; d++) {
        float want = s->polar.inv_freq[d], got = s->polar_inv_freq_buf[d];
        if (!(fabsf(got - want) <= 1e-6f + 1e-4f * fabsf(want)))
            XTC_FAIL(err, XTC_ERR_FORMAT,
                     "polar_pos_emb.inv_freq[%d] = %g but the configuration implies %g (attn_dim_head %d, base 10000): "
                     "checkpoint and config disagree", d, got, want, s->cfg.dim_head);
    }
    return XTC_OK;
}

/* --------------------------------------------------------------- planning */

static int64_t kv_len(const struct xtc_stack_io *io) {
    int64_t s = io->M + io->C_cache + io->T;
    return io->S_ctx > s ? io->S_ctx : s;
}

static void plan_acts(const struct xtc_stack *s, const struct xtc_stack_io *io, bool train, enum xtc_sub_kind kind,
                      bool all, struct xtc_arena *a, struct xtc_sub_acts *x) {
    const struct xtc_layers_config *c = &s->cfg;
    int64_t B = io->B, T = io->T, M = io->M, C = c->dim, N = B * T, HD = (int64_t)c->heads * c->dim_head;
    int64_t GD = (int64_t)c->kv_heads * c->dim_head, S = kv_len(io);
    bool attn = all || kind != XTC_SUB_FF, ff = all || kind == XTC_SUB_FF;
    bool self = all || kind == XTC_SUB_SELF;
    memset(x, 0, sizeof *x);
    x->x_in = train ? xtc_arena_floats(a, (size_t)(N * C)) : NULL;
    x->h = xtc_arena_floats(a, (size_t)(N * C));
    x->mean = xtc_arena_floats(a, (size_t)N);
    x->rstd = xtc_arena_floats(a, (size_t)N);
    if (attn) {
        if (self && M > 0) {
            x->kvin = xtc_arena_floats(a, (size_t)(B * (M + T) * C));
            x->mem_mean = xtc_arena_floats(a, (size_t)(B * M));
            x->mem_rstd = xtc_arena_floats(a, (size_t)(B * M));
        }
        x->q = xtc_arena_floats(a, (size_t)(N * HD));
        x->k = xtc_arena_floats(a, (size_t)(B * S * GD));
        x->v = xtc_arena_floats(a, (size_t)(B * S * GD));
        x->o = xtc_arena_floats(a, (size_t)(N * HD));
        x->lse = train ? xtc_arena_floats(a, (size_t)(N * c->heads)) : NULL;
        if (self && io->cache_k) {
            x->knew = xtc_arena_floats(a, (size_t)(B * (M + T) * GD));
            x->vnew = xtc_arena_floats(a, (size_t)(B * (M + T) * GD));
            x->qkv = xtc_arena_floats(a, (size_t)(N * (HD + 2 * GD)));
        }
        if (self && c->polar) {
            const int64_t HP = 2 * HD; /* every query head 2 D wide, one key head per query head */
            x->qp = xtc_arena_floats(a, (size_t)(N * HP));
            x->kp = xtc_arena_floats(a, (size_t)(B * S * HP));
            x->vp = xtc_arena_floats(a, (size_t)(B * S * HP));
            x->op = xtc_arena_floats(a, (size_t)(N * HP));
        }
        if (c->rel_proj) {
            x->rp_w = xtc_arena_floats(a, (size_t)(N * c->heads * c->rel_proj_num_basis));
            x->rp_curves = xtc_arena_floats(a, (size_t)(B * c->heads * T * xtc_stack_relproj_W(s, S)));
        }
        if (train && c->qk_norm) {
            x->q_raw = xtc_arena_floats(a, (size_t)(N * HD));
            x->k_raw = xtc_arena_floats(a, (size_t)(B * S * GD));
        }
        if (c->gate_values)
            x->gate = xtc_arena_floats(a, (size_t)(N * HD));
        if (self && c->dda) {
            struct xtc_dda d = xtc_stack_dda(s, NULL, NULL, T);
            x->dda_y = xtc_arena_floats(a, (size_t)(N * xtc_dda_out_features(&d)));
            if (!d.per_row) /* per row, the kernels read y itself */
                x->dda_c = xtc_arena_floats(a, (size_t)(N * xtc_dda_out_features(&d)));
        }
        if (c->gate_value_heads)
            x->hgate = xtc_arena_floats(a, (size_t)(N * c->heads));
        if (c->gate_values_rank > 0) {
            x->gd = xtc_arena_floats(a, (size_t)(N * c->gate_values_rank));
            x->ga = xtc_arena_floats(a, (size_t)(N * c->gate_values_rank));
        }
        if (c->output_gate) {
            x->u = xtc_arena_floats(a, (size_t)(N * HD));
            x->ogate = xtc_arena_floats(a, (size_t)(N * HD));
            if (c->output_gate_rank > 0) {
                x->ogd = xtc_arena_floats(a, (size_t)(N * c->output_gate_rank));
                x->oga = xtc_arena_floats(a, (size_t)(N * c->output_gate_rank));
            }
        }
        if (train && (c->gate_values || c->head_scale || c->gate_value_heads || c->output_gate))
            x->og = xtc_arena_floats(a, (size_t)(N * HD));
    }
    if (ff) {
        x->ff1 = xtc_arena_floats(a, (size_t)(N * c->ff_inner * (c->ff_glu ? 2 : 1)));
        x->ffa = xtc_arena_floats(a, (size_t)(N * c->ff_inner));
        if (c->ff_post_act_ln) {
            x->ffn = xtc_arena_floats(a, (size_t)(N * c->ff_inner));
            x->ffn_mean = xtc_arena_floats(a, (size_t)N);
            x->ffn_rstd = xtc_arena_floats(a, (size_t)N);
        }
    }
    if (c->residual_attn && self)
        x->self_logits = xtc_arena_floats(a, (size_t)(N * c->heads * (c->num_mem_kv + M + io->C_cache + T)));
    if (c->cross_residual_attn && (all || kind == XTC_SUB_CROSS))
        x->cross_logits = xtc_arena_floats(a, (size_t)(N * c->heads * (c->num_mem_kv + io->S_ctx)));
    if (train && c->use_layerscale)
        x->y_ls = xtc_arena_floats(a, (size_t)(N * C));
    if (c->gate_residual) {
        x->gru_gi = xtc_arena_floats(a, (size_t)(N * 3 * C));
        x->gru_gh = xtc_arena_floats(a, (size_t)(N * 3 * C));
        x->gru_h = xtc_arena_floats(a, (size_t)(N * C));
        x->gru_y = train ? xtc_arena_floats(a, (size_t)(N * C)) : NULL;
    }
    if (train && c->sandwich_norm) {
        x->y_raw = xtc_arena_floats(a, (size_t)(N * C));
        x->sw_mean = xtc_arena_floats(a, (size_t)N);
        x->sw_rstd = xtc_arena_floats(a, (size_t)N);
    }
    if (train && !c->pre_norm) {
        x->x_sum = xtc_arena_floats(a, (size_t)(N * C));
        x->post_mean = xtc_arena_floats(a, (size_t)N);
        x->post_rstd = xtc_arena_floats(a, (size_t)N);
    }
}

void xtc_stack_plan(const struct xtc_stack *s, const struct xtc_stack_io *io, bool train, struct xtc_arena *a,
                    struct xtc_stack_bufs *bufs) {
    const struct xtc_layers_config *c = &s->cfg;
    int64_t B = io->B, T = io->T, M = io->M, C = c->dim, N = B * T, HD = (int64_t)c->heads * c->dim_head;
    int64_t GD = (int64_t)c->kv_heads * c->dim_head, S = kv_len(io), Sself = M + io->C_cache + T;
    int64_t Cin = c->dim_context > C ? c->dim_context : C, K = c->num_mem_kv;
    int64_t nf = s->rotary.n_freq, nthreads = xtc_threads_get();
    memset(bufs, 0, sizeof *bufs);
    bufs->train = train;
    if (train) {
        size_t n = ((size_t)s->n_sub * sizeof(struct xtc_sub_acts) + sizeof(float) - 1) / sizeof(float);
        bufs->acts = (struct xtc_sub_acts *)xtc_arena_floats(a, n);
        for (int l = 0; l < s->n_sub; l++) {
            struct xtc_sub_acts tmp;
            plan_acts(s, io, true, s->sub[l].kind, false, a, &tmp);
            if (bufs->acts)
                bufs->acts[l] = tmp;
        }
        bufs->final_in = c->final_norm || c->softclamp_output > 0 ? xtc_arena_floats(a, (size_t)(N * C)) : NULL;
    } else {
        plan_acts(s, io, false, XTC_SUB_FF, true, a, &bufs->shared);
    }
    if (xtc_stack_decode_ok(s, io, train)) {
        bufs->dec_threads = (int)nthreads;
        bufs->dec_h = xtc_arena_floats(a, (size_t)(nthreads * N * C));
    }
    bufs->final_mean = xtc_arena_floats(a, (size_t)N);
    bufs->final_rstd = xtc_arena_floats(a, (size_t)N);
    bufs->y = xtc_arena_floats(a, (size_t)(N * C));
    const struct xtc_bias_scheme *bs = s->bias.scheme;
    int64_t bias_n = bs && bs->table_floats ? bs->table_floats(&s->bias, Sself) : 0;
    int64_t bias_work = bias_n > 0 && bs->work_floats ? bs->work_floats(&s->bias, Sself) : 0;
    struct xtc_attn_params sizing = {.B = B, .T = T, .S = S, .K = K, .H = c->heads, .G = c->kv_heads, .D = c->dim_head,
                                     .dbias_n = train && bs && bs->grad_row ? bias_n : 0,
                                     .cope = {.max_pos = c->use_cope ? c->cope_max_pos : 0, .D = c->dim_head,
                                              .H = c->heads},
                                     .dda = {.on = c->dda}, .sparse_topk = c->sparse_topk,
                                     .topk_straight_through = c->sparse_topk > 0 && c->sparse_topk_straight_through};
    /* sized for every backend: the selection may change between calls on one plan; polar
     * self-attention reads heads of 2 D with one key head per query head */
    size_t scratch_n = xtc_backend_attention_scratch(&sizing, &bufs->scratch_per);
    if (c->polar) {
        size_t per_p = 0;
        sizing.D = 2 * c->dim_head;
        sizing.G = c->heads;
        size_t np = xtc_backend_attention_scratch(&sizing, &per_p);
        scratch_n = np > scratch_n ? np : scratch_n;
        bufs->scratch_per = per_p > bufs->scratch_per ? per_p : bufs->scratch_per;
    }
    if (c->pre_talking_heads || c->post_talking_heads || c->pre_scale_post_talking_heads) {
        size_t th = xtc_talking_heads_scratch(&sizing); /* one thread: the whole row of every head */
        scratch_n = th > scratch_n ? th : scratch_n;
    }
    bufs->scratch = xtc_arena_floats(a, scratch_n);
    bufs->memk = xtc_arena_floats(a, (size_t)((int64_t)c->kv_heads * K * c->dim_head));
    bufs->key_mask = (uint8_t *)xtc_arena_floats(a, (size_t)(B * S + 3) / 4);
    if (c->rotary) {
        int64_t nb = io->pos && io->pos_batched ? B : 1;
        int64_t Lp = io->pos ? io->pos_len : Sself;
        bufs->self_pos = (int64_t *)xtc_arena_floats(a, (size_t)(nb * Lp * 2));
        bufs->self_rt = (struct xtc_rotary_tables){.nb = nb, .Lp = Lp};
        bufs->self_rt.cos = xtc_arena_floats(a, (size_t)(nb * Lp * nf));
        bufs->self_rt.sin = xtc_arena_floats(a, (size_t)(nb * Lp * nf));
        bufs->self_rt.qfac = xtc_arena_floats(a, (size_t)(nb * Lp * nf));
        bufs->self_rt.kfac = xtc_arena_floats(a, (size_t)(nb * Lp * nf));
        if (io->context_pos) {
            int64_t nbc = io->context_pos_batched ? B : 1;
            bufs->ctx_rt = (struct xtc_rotary_tables){.nb = nbc, .Lp = io->S_ctx};
            bufs->ctx_pos = (int64_t *)xtc_arena_floats(a, (size_t)(nbc * io->S_ctx * 2));
            bufs->ctx_rt.cos = xtc_arena_floats(a, (size_t)(nbc * io->S_ctx * nf));
            bufs->ctx_rt.sin = xtc_arena_floats(a, (size_t)(nbc * io->S_ctx * nf));
            bufs->ctx_rt.kfac = xtc_arena_floats(a, (size_t)(nbc * io->S_ctx * nf));
        }
    }
    if (bias_n > 0)
        bufs->bias_table = xtc_arena_floats(a, (size_t)(bias_n + bias_work));
    if (train) {
        bufs->dres = xtc_arena_floats(a, (size_t)(N * C));
        bufs->dh = xtc_arena_floats(a, (size_t)(N * C));
        for (int r = 0; r < 2; r++) {
            if (c->residual_attn)
                bufs->dlogits[0][r] = xtc_arena_floats(a, (size_t)(N * c->heads * (K + Sself)));
            if (c->cross_residual_attn)
                bufs->dlogits[1][r] = xtc_arena_floats(a, (size_t)(N * c->heads * (K + io->S_ctx)));
        }
        if (c->gate_residual) {
            bufs->dgru = xtc_arena_floats(a, (size_t)(N * 6 * C));
            bufs->dgy = xtc_arena_floats(a, (size_t)(N * C));
        }
        if (!xtc_step_branch_plain(s))
            bufs->dtmp = xtc_arena_floats(a, (size_t)(N * C));
        bufs->dq = xtc_arena_floats(a, (size_t)(N * HD));
        if (c->gate_value_heads)
            bufs->dhgate = xtc_arena_floats(a, (size_t)(N * c->heads));
        const int64_t rank = c->gate_values_rank > c->output_gate_rank ? c->gate_values_rank : c->output_gate_rank;
        if (rank > 0)
            bufs->dlr = xtc_arena_floats(a, (size_t)(2 * N * rank));
        if (c->output_gate)
            bufs->dogate = xtc_arena_floats(a, (size_t)(N * HD));
        bufs->dk = xtc_arena_floats(a, (size_t)(B * S * GD));
        bufs->dv = xtc_arena_floats(a, (size_t)(B * S * GD));
        bufs->dout = xtc_arena_floats(a, (size_t)(N * HD));
        if (c->rel_proj) {
            bufs->drp_curves = xtc_arena_floats(a, (size_t)(B * c->heads * T * xtc_stack_relproj_W(s, S)));
            bufs->drp_w = xtc_arena_floats(a, (size_t)(N * c->heads * c->rel_proj_num_basis));
        }
        if (c->polar) {
            bufs->dqp = xtc_arena_floats(a, (size_t)(N * 2 * HD));
            bufs->dkp = xtc_arena_floats(a, (size_t)(B * S * 2 * HD));
            bufs->dvp = xtc_arena_floats(a, (size_t)(B * S * 2 * HD));
            bufs->dop = xtc_arena_floats(a, (size_t)(N * 2 * HD));
        }
        bufs->dkvin = xtc_arena_floats(a, (size_t)(B * S * Cin));
        bufs->dff1 = xtc_arena_floats(a, (size_t)(N * c->ff_inner * (c->ff_glu ? 2 : 1)));
        bufs->dffa = xtc_arena_floats(a, (size_t)(N * c->ff_inner));
        if (c->ff_post_act_ln)
            bufs->dffn = xtc_arena_floats(a, (size_t)(N * c->ff_inner));
        bufs->dmemk = xtc_arena_floats(a, (size_t)((int64_t)c->kv_heads * K * c->dim_head));
        bufs->dmem = xtc_arena_floats(a, (size_t)(M * C));
        if (bias_n > 0 && bs->grad_row)
            bufs->dbias = xtc_arena_floats(a, (size_t)(bias_n + bias_work));
        if (c->dda) {
            struct xtc_dda d = xtc_stack_dda(s, NULL, NULL, T);
            bufs->ddda_y = xtc_arena_floats(a, (size_t)(N * xtc_dda_out_features(&d)));
            if (!d.per_row)
                bufs->ddda_c = xtc_arena_floats(a, (size_t)(N * xtc_dda_out_features(&d)));
        }
    }
}

/* --------------------------------------------------------------- sub-layers */

struct xtc_norm_gain xtc_stack_norm_gain(const struct xtc_stack *s, const float *w) {
    /* every norm of the stack has the unit offset (norm_add_unit_offset); SimpleRMSNorm has no gain */
    return (struct xtc_norm_gain){.g = s->cfg.norm == XTC_NORM_SIMPLE_RMSNORM ? NULL : w,
                                  .offset = 1.0f,
                                  .scalar = s->cfg.norm == XTC_NORM_SCALENORM};
}

void xtc_stack_norm(const struct xtc_stack *s, float *out, float *mean, float *rstd, const float *inp, const float *w,
                    int64_t N) {
    const struct xtc_norm_gain gain = xtc_stack_norm_gain(s, w);
    if (s->cfg.norm == XTC_NORM_LAYERNORM)
        xtc_layernorm_forward(out, mean, rstd, inp, &gain, N, s->cfg.dim);
    else
        xtc_rmsnorm_forward(out, rstd, inp, &gain, N, s->cfg.dim);
}

const uint8_t *xtc_stack_self_key_mask(const struct xtc_stack_io *io, const struct xtc_stack_bufs *bf, int self_idx) {
    const int64_t B = io->B, T = io->T, M = io->M, Cc = io->C_cache, S = M + Cc + T;
    const uint8_t *mm = M > 0 && io->mem_masks ? io->mem_masks[self_idx] : NULL;
    if (!io->mask && !mm && !io->seq_start_pos)
        return NULL;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t j = 0; j < M; j++)
            bf->key_mask[b * S + j] = mm ? mm[b * M + j] : 1;
        for (int64_t j = 0; j < Cc; j++)
            bf->key_mask[b * S + M + j] = 1;
        for (int64_t j = 0; j < T; j++)
            bf->key_mask[b * S + M + Cc + j] = io->mask ? io->mask[b * T + j] : 1;
        /* left padding: sequence positions (cached and new) before the start are hidden */
        for (int64_t j = 0; io->seq_start_pos && j < Cc + T && j < io->seq_start_pos[b]; j++)
            bf->key_mask[b * S + M + j] = 0;
    }
    return bf->key_mask;
}

struct xtc_attn_params xtc_stack_attn_params_masked(const struct xtc_stack *s, const struct xtc_sublayer *L,
                                                    const struct xtc_stack_io *io, const struct xtc_stack_bufs *bf,
                                                    const uint8_t *key_mask) {
    const struct xtc_layers_config *c = &s->cfg;
    const bool self = L->kind == XTC_SUB_SELF;
    const int64_t S = self ? io->M + io->C_cache + io->T : io->S_ctx;
    struct xtc_attn_params p = {
        .B = io->B, .T = io->T, .S = S, .K = c->num_mem_kv, .H = c->heads, .G = c->kv_heads, .D = c->dim_head,
        /* qk_norm_dim_scale: the learned scales replace qk_norm_scale by dim_head^-0.5 */
        .scale = c->qk_norm && !c->qk_norm_dim_scale ? (float)c->qk_norm_scale : (float)(1.0 / sqrt((double)c->dim_head)),
        .softclamp = (float)c->logit_softclamp,
        .sparse_topk = c->sparse_topk,
        .topk_straight_through = c->sparse_topk > 0 && c->sparse_topk_straight_through,
        .causal = self && c->causal,
        .key_mask = key_mask,
        .query_mask = io->mask,
        .mem_k = c->qk_norm && c->num_mem_kv > 0 ? bf->memk : L->mem_k,
        .mem_v = L->mem_v,
        .talking_heads = c->pre_talking_heads || c->post_talking_heads || c->pre_scale_post_talking_heads,
        .th_pre = L->th_pre,
        .th_post = L->th_post,
        .th_pre_scale = L->th_pre_scale,
    };
    if (L->cope_emb)
        p.cope = (struct xtc_cope){.max_pos = c->cope_max_pos, .D = c->dim_head, .H = c->heads,
                                   .emb = L->cope_emb, .talk = L->cope_talk};
    if (self && s->bias.scheme) {
        /* explicit `pos` reach the schemes that take them (ALiBi's custom positions) */
        p.bias = xtc_pos_bias_for_call(&s->bias, bf->bias_table, io->pos, io->pos_batched);
        if (bf->dbias && s->bias.scheme->table_floats)
            p.dbias_n = s->bias.scheme->table_floats(&s->bias, S);
    }
    return p;
}

struct xtc_dda xtc_stack_dda(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_sub_acts *A,
                             int64_t T) {
    const struct xtc_layers_config *c = &s->cfg;
    if (!c->dda || (L && !L->dda_w))
        return (struct xtc_dda){0};
    struct xtc_dda d = {.on = true, .per_row = c->dda_per_row, .causal = c->causal, .H = c->heads,
                        .dh = c->dda_per_row_dim_head, .scale = (float)(1.0 / sqrt((double)c->dda_per_row_dim_head)),
                        .post_log_scale = (float)c->dda_post_log_scale, .T = T};
    if (A)
        d.table = d.per_row ? A->dda_y : A->dda_c;
    return d;
}

/* Attention parameters of sub-layer L for this call (shared by forward and backward). */
struct xtc_attn_params xtc_stack_attn_params(const struct xtc_stack *s, const struct xtc_sublayer *L,
                                             const struct xtc_stack_io *io, const struct xtc_stack_bufs *bf,
                                             int self_idx) {
    const uint8_t *key_mask = L->kind == XTC_SUB_SELF ? xtc_stack_self_key_mask(io, bf, self_idx) : io->context_mask;
    return xtc_stack_attn_params_masked(s, L, io, bf, key_mask);
}

/* The rows keys and values are projected from: [norm(mems) ; h] for self-attention with XL
 * memories (the memories go through this layer's pre-norm, and stay as they are under
 * post-norm, which has none; B.3), h for self-attention, the raw context for
 * cross-attention (not normed). */
static const float *kv_input(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_stack_io *io,
                             struct xtc_sub_acts *A, int idx) {
    const int64_t B = io->B, T = io->T, M = io->M, C = s->cfg.dim;
    if (L->kind == XTC_SUB_CROSS)
        return io->context;
    if (M == 0)
        return A->h;
    for (int64_t b = 0; b < B; b++) {
        if (s->cfg.pre_norm)
            xtc_stack_norm(s, A->kvin + b * (M + T) * C, A->mem_mean + b * M, A->mem_rstd + b * M,
                           io->mems[idx] + b * M * C, L->norm, M);
        else
            memcpy(A->kvin + b * (M + T) * C, io->mems[idx] + b * M * C, sizeof(float) * (size_t)(M * C));
        memcpy(A->kvin + (b * (M + T) + M) * C, A->h + b * T * C, sizeof(float) * (size_t)(T * C));
    }
    return A->kvin;
}

/* Self-attention with a KV cache: q, and k, v of [mems ; new] into knew / vnew; the new rows
 * go into the cache (pre-rotary, as x-transformers keeps them) and k, v become
 * [mems ; cached ; new] (x-transformers Attention with `cache`). */
static void project_cached(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_stack_io *io,
                           struct xtc_sub_acts *A, const float *kvin, int idx) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t B = io->B, T = io->T, M = io->M, Cc = io->C_cache, C = c->dim, S = M + Cc + T;
    const int64_t HD = (int64_t)c->heads * c->dim_head, GD = (int64_t)c->kv_heads * c->dim_head;
    if (M == 0 && L->wk == L->wq + HD * C && L->wv == L->wk + GD * C) {
        /* to_q, to_k, to_v sit next to each other in the parameter block: one product reads all
         * three (one BLAS call instead of three per layer and token) */
        const int64_t W3 = HD + 2 * GD;
        xtc_linear_forward(A->qkv, A->h, L->wq, NULL, B * T, C, W3);
        for (int64_t r = 0; r < B * T; r++) {
            memcpy(A->q + r * HD, A->qkv + r * W3, sizeof(float) * (size_t)HD);
            memcpy(A->knew + r * GD, A->qkv + r * W3 + HD, sizeof(float) * (size_t)GD);
            memcpy(A->vnew + r * GD, A->qkv + r * W3 + HD + GD, sizeof(float) * (size_t)GD);
        }
    } else {
        xtc_linear_forward(A->q, A->h, L->wq, NULL, B * T, C, HD);
        xtc_linear_forward(A->knew, kvin, L->wk, NULL, B * (M + T), C, GD);
        xtc_linear_forward(A->vnew, kvin, L->wv, NULL, B * (M + T), C, GD);
    }
    const size_t row = sizeof(float) * (size_t)GD;
    for (int64_t b = 0; b < B; b++) {
        xtc_step_cache_append(io, idx, A->knew, A->vnew, M, b, 0, GD, GD);
        const float *kn = A->knew + b * (M + T) * GD, *vn = A->vnew + b * (M + T) * GD;
        const float *ck = io->cache_k[idx] + b * io->cache_cap * GD, *cv = io->cache_v[idx] + b * io->cache_cap * GD;
        float *kb = A->k + b * S * GD, *vb = A->v + b * S * GD;
        memcpy(kb, kn, row * (size_t)M);
        memcpy(vb, vn, row * (size_t)M);
        memcpy(kb + M * GD, ck, row * (size_t)(Cc + T));
        memcpy(vb + M * GD, cv, row * (size_t)(Cc + T));
    }
}

/* q, k, v without a self-attention cache; cross-attention keys/values come from (or go to)
 * the cross cache when decoding with a context. */
static void project(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_stack_io *io,
                    struct xtc_sub_acts *A, const float *kvin, int64_t S, int idx) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t B = io->B, T = io->T, C = c->dim, Cin = L->kind == XTC_SUB_SELF ? C : c->dim_context;
    const int64_t HD = (int64_t)c->heads * c->dim_head, GD = (int64_t)c->kv_heads * c->dim_head;
    const bool cross = L->kind == XTC_SUB_CROSS;
    xtc_linear_forward(A->q, A->h, L->wq, NULL, B * T, C, HD);
    if (cross && io->cross_k && io->cross_ready) { /* computed at the first step */
        memcpy(A->k, io->cross_k[idx], sizeof(float) * (size_t)(B * S * GD));
        memcpy(A->v, io->cross_v[idx], sizeof(float) * (size_t)(B * S * GD));
        return;
    }
    xtc_linear_forward(A->k, kvin, L->wk, NULL, B * S, Cin, GD);
    xtc_linear_forward(A->v, kvin, L->wv, NULL, B * S, Cin, GD);
    if (cross && io->cross_k) {
        memcpy(io->cross_k[idx], A->k, sizeof(float) * (size_t)(B * S * GD));
        memcpy(io->cross_v[idx], A->v, sizeof(float) * (size_t)(B * S * GD));
    }
}

void xtc_stack_relproj(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_stack_io *io,
                       struct xtc_sub_acts *A, struct xtc_attn_params *p) {
    if (!L->rp_w)
        return;
    const struct xtc_layers_config *c = &s->cfg;
    const int R = c->rel_proj_num_basis;
    /* the projection of the queries' input (q_input: the normed sub-layer input, also in
     * cross-attention), then the curves over the distances this call can have */
    xtc_linear_forward(A->rp_w, A->h, L->rp_w, L->rp_b, io->B * io->T, c->dim, (int64_t)c->heads * R);
    p->rp_W = xtc_stack_relproj_W(s, p->S);
    xtc_relproj_curves(A->rp_curves, A->rp_w, L->rp_bank, io->B, io->T, c->heads, R, c->rel_proj_max_dist, p->rp_W);
    p->rp_curves = A->rp_curves;
}

struct xtc_attn_params xtc_stack_polar_params(const struct xtc_attn_params *p) {
    struct xtc_attn_params pp = *p;
    pp.D = 2 * p->D;
    pp.G = p->H;
    return pp;
}

struct polar_rows {
    const struct xtc_stack *s;
    struct xtc_sub_acts *A;
    int64_t T, S, NQ; /* NQ = B * T query rows come first, then the B * S key rows */
    int H, G, D;
};

static void polar_rows_range(void *arg, int64_t lo, int64_t hi, int tid) {
    const struct polar_rows *a = arg;
    const struct xtc_polar *pp = &a->s->polar;
    const int H = a->H, G = a->G, D = a->D;
    const int64_t HD = (int64_t)H * D, GD = (int64_t)G * D, HP = 2 * HD;
    (void)tid;
    for (int64_t r = lo; r < hi; r++) {
        if (r < a->NQ) { /* query row r = b * T + i at position S - T + i */
            const int64_t i = r % a->T;
            for (int h = 0; h < H; h++)
                xtc_polar_apply(pp, a->A->qp + r * HP + 2 * h * D, a->A->q + r * HD + h * D, a->S - a->T + i, NULL);
            continue;
        }
        const int64_t kr = r - a->NQ, j = kr % a->S; /* key row b * S + j at position j */
        for (int h = 0; h < H; h++) {
            const int g = h % G; /* G is 1 or H (config) */
            float *kp = a->A->kp + kr * HP + 2 * h * D, *vp = a->A->vp + kr * HP + 2 * h * D;
            xtc_polar_apply(pp, kp, a->A->k + kr * GD + g * D, j, a->s->polar_phase + h * D);
            memcpy(vp, a->A->v + kr * GD + g * D, sizeof(float) * (size_t)D);
            memset(vp + D, 0, sizeof(float) * (size_t)D);
        }
    }
}

void xtc_stack_polar_attention(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_sub_acts *A,
                               const struct xtc_attn_params *p, float *scratch) {
    const int64_t B = io->B, T = io->T, S = p->S;
    const int H = p->H, D = p->D;
    const int64_t HD = (int64_t)H * D, HP = 2 * HD;
    /* PolarEmbedding's positions are arange(n + seq_pos_offset): keys 0 .. S-1 (cached ones
     * included), the queries the last T of them */
    struct polar_rows a = {.s = s, .A = A, .T = T, .S = S, .NQ = B * T, .H = H, .G = p->G, .D = D};
    const int64_t rows = B * (T + S);
    xtc_backend_get()->parallel_for(rows, rows * HD > 32768, polar_rows_range, &a);
    struct xtc_attn_params pp = xtc_stack_polar_params(p);
    xtc_attention_forward(A->op, A->qp, A->kp, A->vp, &pp, scratch);
    for (int64_t r = 0; r < B * T; r++)
        for (int h = 0; h < H; h++)
            memcpy(A->o + r * HD + h * D, A->op + r * HP + 2 * h * D, sizeof(float) * (size_t)D);
}

/* idx: the index of this layer among the layers of its kind (self- or cross-attention) */
static void attention_sublayer(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_stack_io *io,
                               struct xtc_stack_bufs *bf, struct xtc_sub_acts *A, int idx, const float *prev_logits) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t B = io->B, T = io->T, C = c->dim;
    const int H = c->heads, G = c->kv_heads, D = c->dim_head;
    const bool self = L->kind == XTC_SUB_SELF;
    const int64_t S = self ? io->M + io->C_cache + T : io->S_ctx;

    const float *kvin = kv_input(s, L, io, A, idx);
    if (self && io->cache_k)
        project_cached(s, L, io, A, kvin, idx);
    else
        project(s, L, io, A, kvin, S, idx);
    if (A->q_raw) { /* training with qk_norm: the backward needs q, k before normalisation */
        memcpy(A->q_raw, A->q, sizeof(float) * (size_t)(B * T * H * D));
        memcpy(A->k_raw, A->k, sizeof(float) * (size_t)(B * S * G * D));
    }
    xtc_step_mem_keys(s, L, bf->memk, 0, G);
    /* rotary: self-attention always; cross-attention only with context_pos (reference B.9) */
    const bool rotary = c->rotary && (self || bf->ctx_rt.cos);
    const int h0 = xtc_step_rot_h0(s, self); /* kv_heads == heads when h0 > 0 (config) */
    xtc_step_qk_rows(s, A->q, L->q_scale, B, T, H, h0, rotary ? &bf->self_rt : NULL, false);
    xtc_step_qk_rows(s, A->k, L->k_scale, B, S, G, h0, !rotary ? NULL : self ? &bf->self_rt : &bf->ctx_rt, true);
    struct xtc_attn_params p = xtc_stack_attn_params(s, L, io, bf, idx);
    if (self && L->dda_w) { /* the forget gates read this layer's input; no XL memories, no cache (model.c) */
        p.dda = xtc_stack_dda(s, L, A, T);
        xtc_linear_forward(A->dda_y, A->h, L->dda_w, L->dda_b, B * T, C, xtc_dda_out_features(&p.dda));
        if (!p.dda.per_row)
            xtc_dda_gates(&p.dda, A->dda_y, B, T, A->dda_c);
    }
    p.prev_logits = prev_logits;
    p.logits_out = self ? A->self_logits : A->cross_logits;
    p.lse = A->lse;
    xtc_stack_relproj(s, L, io, A, &p);
    if (self && c->polar)
        xtc_stack_polar_attention(s, io, A, &p, bf->scratch);
    else
        xtc_attention_forward(A->o, A->q, A->k, A->v, &p, bf->scratch);
    const float *o = A->o;
    if (L->wgd) { /* LoRALinear: up(act(down(x))), act silu or none (low_rank_silu_gates) */
        const int64_t r = c->gate_values_rank;
        xtc_linear_forward(A->gd, A->h, L->wgd, NULL, B * T, C, r);
        if (c->low_rank_silu_gates)
            xtc_act_forward(A->ga, A->gd, B * T * r, XTC_FF_SWISH);
        else
            memcpy(A->ga, A->gd, sizeof(float) * (size_t)(B * T * r));
        xtc_linear_forward(A->gate, A->ga, L->wg, NULL, B * T, r, (int64_t)H * D);
    } else if (L->wg) { /* the gate reads the sub-layer's input x (the queries' side, also in cross-attention) */
        xtc_linear_forward(A->gate, A->h, L->wg, NULL, B * T, C, c->gate_values_headwise ? H : (int64_t)H * D);
    }
    if (L->wh) /* so does the per-head gate */
        xtc_linear_forward(A->hgate, A->h, L->wh, L->bh, B * T, C, H);
    if (L->wog) { /* u = o * head_scale * head gate; og = u * act(value gate + output gate(u)) */
        const int64_t HD = (int64_t)H * D, r = c->output_gate_rank;
        float *og = A->og ? A->og : A->o;
        xtc_step_attn_out(s, L, A->u, A->o, NULL, L->wh ? A->hgate : NULL, 0, B * T, 0, HD);
        if (L->wogd) { /* LoRALinear, as the value gate's */
            xtc_linear_forward(A->ogd, A->u, L->wogd, NULL, B * T, HD, r);
            if (c->low_rank_silu_gates)
                xtc_act_forward(A->oga, A->ogd, B * T * r, XTC_FF_SWISH);
            else
                memcpy(A->oga, A->ogd, sizeof(float) * (size_t)(B * T * r));
            xtc_linear_forward(A->ogate, A->oga, L->wog, NULL, B * T, r, HD);
        } else {
            xtc_linear_forward(A->ogate, A->u, L->wog, NULL, B * T, HD, c->output_gate_headwise ? H : HD);
        }
        xtc_step_gates_apply(s, og, A->u, L->wg ? A->gate : NULL, A->ogate, B * T);
        o = og;
    } else if (L->wg || L->head_scale || L->wh) {
        float *og = A->og ? A->og : A->o;
        xtc_step_attn_out(s, L, og, A->o, L->wg ? A->gate : NULL, L->wh ? A->hgate : NULL, 0, B * T, 0,
                          (int64_t)H * D);
        o = og;
    }
    if (L->wo)
        xtc_linear_forward(bf->y, o, L->wo, NULL, B * T, (int64_t)H * D, C);
    else
        memcpy(bf->y, o, sizeof(float) * (size_t)(B * T * C)); /* one head: H*D == C, no projection */
}

static void ff_sublayer(const struct xtc_stack *s, const struct xtc_sublayer *L, int64_t N, struct xtc_stack_bufs *bf,
                        struct xtc_sub_acts *A) {
    const struct xtc_layers_config *c = &s->cfg;
    int64_t C = c->dim, I = c->ff_inner;
    xtc_linear_forward(A->ff1, A->h, L->w1, L->b1, N, C, c->ff_glu ? 2 * I : I);
    xtc_step_ff_act(s, A->ffa, A->ff1, N, 0, I);
    if (c->ff_post_act_ln)
        xtc_step_ff_post_act_norm(s, L, A, 0, N);
    xtc_linear_forward(bf->y, c->ff_post_act_ln ? A->ffn : A->ffa, L->w2, L->b2, N, I, C);
}

/* --------------------------------------------------------------- forward */

/* Position tables, once per call. Self positions: -M .. T-1 unless explicit. */
static void position_tables(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bf) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t T = io->T, M = io->M;
    if (c->rotary) { /* self positions -M .. S-M-1 unless explicit; the context's its own */
        xtc_rotary_tables_fill(&s->rotary, &bf->self_rt, io->pos, -M, bf->self_pos);
        if (io->context_pos)
            xtc_rotary_tables_fill(&s->rotary, &bf->ctx_rt, io->context_pos, 0, bf->ctx_pos);
    }
    if (bf->bias_table)
        s->bias.scheme->table_fill(&s->bias, M + io->C_cache + T, bf->bias_table);
}

void xtc_stack_forward(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bf) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t B = io->B, T = io->T, C = c->dim, N = B * T;
    position_tables(s, io, bf);
    if (bf->dec_h && xtc_backend_get()->fused_decode) {
        xtc_stack_decode(s, io, bf);
        return;
    }

    int self_idx = 0, cross_idx = 0;
    const float *prev_logits[2] = {NULL, NULL}; /* residual attention: the last self / cross layer's logits */
    for (int l = 0; l < s->n_sub; l++) {
        const struct xtc_sublayer *L = &s->sub[l];
        struct xtc_sub_acts *A = bf->acts ? &bf->acts[l] : &bf->shared;
        if (L->kind == XTC_SUB_SELF && io->hiddens)
            memcpy(io->hiddens[self_idx], io->x, sizeof(float) * (size_t)(N * C));
        if (A->x_in)
            memcpy(A->x_in, io->x, sizeof(float) * (size_t)(N * C));
        xtc_step_branch_in(s, L, A->h, A->mean, A->rstd, io->x, N);
        xtc_step_shift_tokens(s, L, A->h, io->mask, B, T, false);
        const int kind = L->kind == XTC_SUB_CROSS; /* prev_logits index */
        if (L->kind == XTC_SUB_FF) {
            ff_sublayer(s, L, N, bf, A);
        } else {
            attention_sublayer(s, L, io, bf, A, kind ? cross_idx : self_idx, prev_logits[kind]);
            prev_logits[kind] = kind ? A->cross_logits : A->self_logits;
        }
        xtc_step_branch_out(s, L, io->x, bf->y, A, 0, N);
        self_idx += L->kind == XTC_SUB_SELF;
        cross_idx += L->kind == XTC_SUB_CROSS;
    }
    xtc_stack_final(s, io, bf);
}

void xtc_stack_final(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bf) {
    const int64_t N = io->B * io->T, C = s->cfg.dim;
    if (s->cfg.softclamp_output > 0) /* AttentionLayers softclamp_output: before the final norm */
        xtc_softclamp_forward(io->x, N * C, (float)s->cfg.softclamp_output);
    if (bf->final_in) /* read by the backward of the final norm and of the soft clamp */
        memcpy(bf->final_in, io->x, sizeof(float) * (size_t)(N * C));
    if (s->cfg.final_norm)
        xtc_stack_norm(s, io->x, bf->final_mean, bf->final_rstd, io->x, s->final_norm, N);
}
