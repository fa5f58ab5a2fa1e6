/* One decoding step of the stack in a single parallel region.
 *
 * Decoding feeds a few rows (B * T <= DECODE_ROWS: one new token per sequence, or a short
 * prompt) through every layer. Each product then reads its whole weight matrix for a
 * handful of multiply-adds, so a step is bound by memory bandwidth, and at small sizes by
 * the cost of starting threads: the general forward (stack.c) starts a team or a BLAS call
 * per operation, about ten per layer. Here the team starts once per step (the backend's
 * team_run) and the threads share out loops (team_for) and meet at barriers. Products are
 * split into chunks of output features, attention into (batch row, kv head) pairs, and each
 * thread normalises the residual stream into its own buffer (a few hundred values: cheaper
 * than a barrier). The operations are the general forward's (only the products sum in
 * another order; tests compare the two); the KV cache is read in place.
 *
 * Taken with a KV cache, without XL memories, gradients or talking heads, and for cross-attention once
 * the context keys/values are cached (from the second step on).
 * Shape letters as in stack.h; N = B * T rows, I feed-forward inner dim. */
#include <string.h>

#include "attn/attention.h"
#include "layers/stack.h"
#include "layers/steps.h"
#include "ops/ops.h"

/* Up to 16 rows the products read each weight block once for all rows (from L1 after the
 * first): a 16-token prompt of the small GPT took 2.2 ms this way against 2.9 through sgemm,
 * which packs every weight matrix for so few rows. */
#define DECODE_ROWS 16

/* What the threads of one step share. */
struct step {
    const struct xtc_backend *be;
    const struct xtc_stack *s;
    const struct xtc_stack_io *io;
    struct xtc_stack_bufs *bf;
    const uint8_t *self_mask; /* the self-attention key mask (the same for every layer without XL memories) */
};

/* One thread's view of the sub-layer it runs (every thread of the team walks the same ones). */
struct sub {
    const struct step *st;
    const struct xtc_sublayer *L;
    int idx;        /* index among the self- (or cross-) attention layers */
    const float *h; /* this thread's normed input (N, C) */
    float *P;       /* this thread's attention scratch */
};

bool xtc_stack_decode_ok(const struct xtc_stack *s, const struct xtc_stack_io *io, bool train) {
    /* the GRU gate (gate_residual), residual attention (the reference kernels pass the logits on)
     * and token shifts (whole sequences) run in the general forward; so do CoPE's talking heads,
     * which read every head's q and k, which this path transforms per kv head */
    const struct xtc_layers_config *c = &s->cfg;
    /* talking heads join the heads of a row: the general forward (attn/talking_heads.c); so do the
     * per-head gates (their logits are per head, not per feature: the general forward computes them) */
    if (c->pre_talking_heads || c->post_talking_heads || c->pre_scale_post_talking_heads ||
        c->gate_values_headwise || c->gate_value_heads || c->gate_values_rank > 0 || c->output_gate)
        return false;
    const bool blocks_ok = !c->gate_residual && !c->residual_attn && !c->cross_residual_attn && c->shift_tokens <= 0 &&
                           !(c->use_cope && c->cope_talking_heads);
    return !train && blocks_ok && io->cache_k && io->M == 0 && io->B * io->T <= DECODE_ROWS && !io->return_hiddens &&
           !io->mask && !io->pos && (!c->cross_attend || (io->cross_k && io->cross_ready));
}

/* polar_pos_emb self-attention of batch row b for the query heads reading kv head g (the
 * general forward's xtc_stack_polar_attention, per (b, g)): the raw cached keys of kv head g
 * (qk-normed when configured) become each query head's polar keys in A->kp, values padded to
 * 2 D in A->vp, queries A->qp; the output's first D features per head go to A->o. */
static void polar_kv_head(const struct sub *u, const struct xtc_attn_params *p, int64_t b, int g, const float *k,
                          const float *v, int64_t bstride) {
    const struct step *st = u->st;
    const struct xtc_stack *s = st->s;
    const struct xtc_sublayer *L = u->L;
    struct xtc_sub_acts *A = &st->bf->shared;
    const int64_t T = st->io->T, S = p->S;
    const int H = p->H, G = p->G, D = p->D;
    const int64_t HD = (int64_t)H * D, GD = (int64_t)G * D, HP = 2 * HD;
    for (int64_t j = 0; j < S; j++) {
        float *row = A->k + (b * S + j) * GD + g * D; /* this (b, g)'s own rows: no other thread writes them */
        memcpy(row, k + (b * bstride + j) * GD + g * D, sizeof(float) * (size_t)D);
        xtc_step_qk_head(s, row, L->k_scale ? L->k_scale + g * D : NULL, NULL, b, S, j, true);
        const float *vr = v + (b * bstride + j) * GD + g * D;
        for (int h = g; h < H; h += G) {
            float *vp = A->vp + (b * S + j) * HP + 2 * h * D;
            xtc_polar_apply(&s->polar, A->kp + (b * S + j) * HP + 2 * h * D, row, j, s->polar_phase + h * D);
            memcpy(vp, vr, sizeof(float) * (size_t)D);
            memset(vp + D, 0, sizeof(float) * (size_t)D);
        }
    }
    struct xtc_attn_params pp = xtc_stack_polar_params(p);
    pp.k_bstride = pp.v_bstride = 0; /* packed (B, S, H*2D) */
    for (int h = g; h < H; h += G) {
        for (int64_t t = 0; t < T; t++) {
            float *q = A->q + (b * T + t) * HD + h * D;
            xtc_step_qk_head(s, q, L->q_scale ? L->q_scale + h * D : NULL, NULL, b, T, t, false);
            xtc_polar_apply(&s->polar, A->qp + (b * T + t) * HP + 2 * h * D, q, S - T + t, NULL);
        }
        st->be->attention_forward_head(A->op, A->qp, A->kp, A->vp, &pp, b, h, u->P);
        for (int64_t t = 0; t < T; t++)
            memcpy(A->o + (b * T + t) * HD + h * D, A->op + (b * T + t) * HP + 2 * h * D, sizeof(float) * (size_t)D);
        if (L->wg || L->head_scale) /* the gate logits were computed with q */
            xtc_step_attn_out(s, L, A->o, A->o, L->wg ? A->gate : NULL, NULL, b * T, (b + 1) * T, h * D, (h + 1) * D);
    }
}

/* Attention of batch row b over kv head g and every query head reading it (h = g, g + G, ...).
 * Self-attention first stores the new rows' keys/values in the cache. Keys that qk-norm or
 * rotary change are gathered into A->k (B, S, G*D) and transformed there: the cache keeps
 * them raw, as x-transformers' does; otherwise keys and values are read from the cache. */
static void attend_kv_head(const struct sub *u, int64_t b, int g) {
    const struct step *st = u->st;
    const struct xtc_sublayer *L = u->L;
    const int idx = u->idx;
    const struct xtc_stack *s = st->s;
    const struct xtc_stack_io *io = st->io;
    struct xtc_stack_bufs *bf = st->bf;
    const struct xtc_layers_config *c = &s->cfg;
    struct xtc_sub_acts *A = &bf->shared;
    const bool self = L->kind == XTC_SUB_SELF;
    const int64_t T = io->T, D = c->dim_head, H = c->heads, G = c->kv_heads, HD = H * D, GD = G * D;
    struct xtc_attn_params p = xtc_stack_attn_params_masked(s, L, io, bf, self ? st->self_mask : io->context_mask);
    const int64_t S = p.S;
    const float *k, *v;
    int64_t bstride; /* rows between batch rows of the cache / context keys and values */
    if (self) {
        xtc_step_cache_append(io, idx, A->knew, A->vnew, 0, b, g * D, (g + 1) * D, GD);
        k = io->cache_k[idx], v = io->cache_v[idx];
        bstride = io->cache_cap;
    } else {
        k = io->cross_k[idx], v = io->cross_v[idx];
        bstride = S;
    }
    if (L->rp_w) { /* the curves of this (b, g)'s query heads; the kernels read rows (b, h) only */
        p.rp_W = xtc_stack_relproj_W(s, S);
        p.rp_curves = A->rp_curves;
        for (int h = g; h < H; h += G)
            xtc_relproj_curves_bh(A->rp_curves, A->rp_w, L->rp_bank, b, h, T, (int)H, c->rel_proj_num_basis,
                                  c->rel_proj_max_dist, p.rp_W);
    }
    if (self && c->polar) {
        polar_kv_head(u, &p, b, g, k, v, bstride);
        return;
    }
    const struct xtc_rotary_tables *krt = !c->rotary ? NULL : self ? &bf->self_rt : bf->ctx_rt.cos ? &bf->ctx_rt : NULL;
    const bool rotary = krt != NULL;
    const int h0 = xtc_step_rot_h0(s, self);
    p.v_bstride = bstride;
    if (c->qk_norm || rotary) {
        float *dst = A->k + b * S * GD + g * D;
        for (int64_t j = 0; j < S; j++) {
            float *row = dst + j * GD;
            memcpy(row, k + (b * bstride + j) * GD + g * D, sizeof(float) * (size_t)D);
            xtc_step_qk_head(s, row, L->k_scale ? L->k_scale + g * D : NULL, g >= h0 ? krt : NULL, b, S, j, true);
        }
        k = A->k; /* packed: k_bstride 0 */
    } else {
        p.k_bstride = bstride;
    }
    for (int64_t h = g; h < H; h += G) {
        for (int64_t t = 0; t < T; t++)
            xtc_step_qk_head(s, A->q + (b * T + t) * HD + h * D, L->q_scale ? L->q_scale + h * D : NULL,
                             rotary && h >= h0 ? &bf->self_rt : NULL, b, T, t, false);
        st->be->attention_forward_head(A->o, A->q, k, v, &p, b, (int)h, u->P);
        if (L->wg || L->head_scale) /* the gate logits were computed with q */
            xtc_step_attn_out(s, L, A->o, A->o, L->wg ? A->gate : NULL, NULL, b * T, (b + 1) * T, h * D, (h + 1) * D);
    }
}

/* Products are split into chunks of output features that whichever thread is free takes
 * next (omp for, dynamic): the two cores of a shared machine seldom run at the same speed,
 * and with a static split every barrier waits for the slower one (perf, small GPT step:
 * 17% of the samples in libgomp's barrier spinning with a static split, 13% with chunks). */
#define CHUNK 64

static int64_t n_chunks(int64_t rows) { return (rows + CHUNK - 1) / CHUNK; }

/* rows [lo, hi) of chunk c of a product with `rows` outputs */
static void chunk_rows(int64_t c, int64_t rows, int64_t *lo, int64_t *hi) {
    *lo = c * CHUNK;
    *hi = *lo + CHUNK < rows ? *lo + CHUNK : rows;
}

/* work item w of the q, k, v projections of the new rows: q's chunks, then k's, then v's
 * (self-attention), then the value gate's logits (gate_values) */
static void qkv_chunk(void *arg, int64_t w, struct xtc_team *team) {
    const struct sub *u = arg;
    const struct step *st = u->st;
    const struct xtc_layers_config *c = &st->s->cfg;
    struct xtc_sub_acts *A = &st->bf->shared;
    const int64_t N = st->io->B * st->io->T, C = c->dim, HD = (int64_t)c->heads * c->dim_head;
    const int64_t GD = (int64_t)c->kv_heads * c->dim_head, nq = n_chunks(HD), nkv = n_chunks(GD);
    int64_t lo, hi;
    (void)team;
    const int64_t nk = u->L->kind == XTC_SUB_SELF ? 2 * nkv : 0, ng = u->L->wg ? nq : 0;
    if (w >= nq + nk + ng) { /* rel_proj_pos_bias: the projection onto the distance basis */
        const int64_t HR = (int64_t)c->heads * c->rel_proj_num_basis;
        chunk_rows(w - nq - nk - ng, HR, &lo, &hi);
        st->be->matvec(&st->s->decode_w, A->rp_w, HR, u->h, N, u->L->rp_w, u->L->rp_b, C, lo, hi);
    } else if (w < nq) {
        chunk_rows(w, HD, &lo, &hi);
        st->be->matvec(&st->s->decode_w, A->q, HD, u->h, N, u->L->wq, NULL, C, lo, hi);
    } else if (w >= nq + nk) {
        chunk_rows(w - nq - nk, HD, &lo, &hi);
        st->be->matvec(&st->s->decode_w, A->gate, HD, u->h, N, u->L->wg, NULL, C, lo, hi);
    } else {
        bool is_k = w < nq + nkv;
        chunk_rows(w - nq - (is_k ? 0 : nkv), GD, &lo, &hi);
        st->be->matvec(&st->s->decode_w, is_k ? A->knew : A->vnew, GD, u->h, N, is_k ? u->L->wk : u->L->wv, NULL, C,
                       lo, hi);
    }
}

/* memory keys of kv head g, l2-normalised like the others, per call */
static void mem_keys_of(void *arg, int64_t g, struct xtc_team *team) {
    const struct sub *u = arg;
    (void)team;
    xtc_step_mem_keys(u->st->s, u->L, u->st->bf->memk, (int)g, (int)g + 1);
}

/* work item w = (batch row, kv head) of attention */
static void attend_item(void *arg, int64_t w, struct xtc_team *team) {
    const struct sub *u = arg;
    const int64_t G = u->st->s->cfg.kv_heads;
    (void)team;
    attend_kv_head(u, w / G, (int)(w % G));
}

/* row r of the end of a branch that needs whole rows (sandwich_norm, post-norm); the
 * branch output is in bf->y */
static void branch_out_row(void *arg, int64_t r, struct xtc_team *team) {
    const struct sub *u = arg;
    (void)team;
    xtc_step_branch_out(u->st->s, u->L, u->st->io->x, u->st->bf->y, NULL, r, r + 1);
}

/* chunk w of the output projection (none with one head: H*D == C) and the plain residual */
static void out_chunk(void *arg, int64_t w, struct xtc_team *team) {
    const struct sub *u = arg;
    const struct step *st = u->st;
    const struct xtc_layers_config *c = &st->s->cfg;
    struct xtc_stack_bufs *bf = st->bf;
    const int64_t N = st->io->B * st->io->T, C = c->dim, HD = (int64_t)c->heads * c->dim_head;
    int64_t lo, hi;
    (void)team;
    chunk_rows(w, C, &lo, &hi);
    if (u->L->wo)
        st->be->matvec(&st->s->decode_w, bf->y, C, bf->shared.o, N, u->L->wo, NULL, HD, lo, hi);
    else /* one head: H*D == C */
        for (int64_t n = 0; n < N; n++)
            memcpy(bf->y + n * C + lo, bf->shared.o + n * C + lo, sizeof(float) * (size_t)(hi - lo));
    if (xtc_step_branch_plain(st->s))
        xtc_step_residual(st->io->x, bf->y, N, C, lo, hi);
}

static void attention_sublayer(const struct sub *u, struct xtc_team *team) {
    const struct step *st = u->st;
    const struct xtc_backend *be = st->be;
    const struct xtc_layers_config *c = &st->s->cfg;
    const int64_t D = c->dim_head, G = c->kv_heads, HD = (int64_t)c->heads * D, GD = G * D;
    const bool self = u->L->kind == XTC_SUB_SELF;
    /* projections of the new rows: q, then k and v (self-attention) in one chunk space */
    const int64_t nrp = u->L->rp_w ? n_chunks((int64_t)c->heads * c->rel_proj_num_basis) : 0;
    be->team_for(team, n_chunks(HD) + (self ? 2 * n_chunks(GD) : 0) + (u->L->wg ? n_chunks(HD) : 0) + nrp,
                 XTC_FOR_DYNAMIC | XTC_FOR_NOWAIT, qkv_chunk, (void *)u);
    if (c->qk_norm && c->num_mem_kv > 0)
        be->team_for(team, G, XTC_FOR_STATIC | XTC_FOR_NOWAIT, mem_keys_of, (void *)u);
    be->team_barrier(team);
    be->team_for(team, st->io->B * G, XTC_FOR_DYNAMIC, attend_item, (void *)u);
    be->team_for(team, n_chunks(c->dim), XTC_FOR_DYNAMIC, out_chunk, (void *)u);
    if (!xtc_step_branch_plain(st->s))
        be->team_for(team, st->io->B * st->io->T, XTC_FOR_DYNAMIC, branch_out_row, (void *)u);
}

/* chunk w of the first feed-forward product (GLU: the first half is the value, the second
 * the gate) and its activation */
static void ff1_chunk(void *arg, int64_t w, struct xtc_team *team) {
    const struct sub *u = arg;
    const struct step *st = u->st;
    const struct xtc_layers_config *c = &st->s->cfg;
    struct xtc_sub_acts *A = &st->bf->shared;
    const int64_t N = st->io->B * st->io->T, C = c->dim, I = c->ff_inner, W1 = c->ff_glu ? 2 * I : I;
    int64_t lo, hi;
    (void)team;
    chunk_rows(w, I, &lo, &hi);
    st->be->matvec(&st->s->decode_w, A->ff1, W1, u->h, N, u->L->w1, u->L->b1, C, lo, hi);
    if (c->ff_glu)
        st->be->matvec(&st->s->decode_w, A->ff1, W1, u->h, N, u->L->w1, u->L->b1, C, I + lo, I + hi);
    xtc_step_ff_act(st->s, A->ffa, A->ff1, N, lo, hi);
}

/* row r of ff_post_act_ln, once every feature of the activation is there */
static void ff_norm_row(void *arg, int64_t r, struct xtc_team *team) {
    const struct sub *u = arg;
    (void)team;
    xtc_step_ff_post_act_norm(u->st->s, u->L, &u->st->bf->shared, r, r + 1);
}

/* chunk w of the second feed-forward product and the plain residual */
static void ff2_chunk(void *arg, int64_t w, struct xtc_team *team) {
    const struct sub *u = arg;
    const struct step *st = u->st;
    const struct xtc_layers_config *c = &st->s->cfg;
    struct xtc_stack_bufs *bf = st->bf;
    const int64_t N = st->io->B * st->io->T, C = c->dim, I = c->ff_inner;
    int64_t lo, hi;
    (void)team;
    chunk_rows(w, C, &lo, &hi);
    const float *act = c->ff_post_act_ln ? bf->shared.ffn : bf->shared.ffa;
    st->be->matvec(&st->s->decode_w, bf->y, C, act, N, u->L->w2, u->L->b2, I, lo, hi);
    if (xtc_step_branch_plain(st->s))
        xtc_step_residual(st->io->x, bf->y, N, C, lo, hi);
}

/* One thread of the step's team: every sub-layer, in order. */
static void step_thread(struct xtc_team *team, void *arg) {
    const struct step *st = arg;
    const struct xtc_stack *s = st->s;
    const int64_t N = st->io->B * st->io->T, C = s->cfg.dim;
    float *h = st->bf->dec_h + (size_t)team->thread * (size_t)(N * C);
    struct sub u = {.st = st, .h = h, .P = st->bf->scratch + st->bf->scratch_per * (size_t)team->thread};
    int self_idx = 0, cross_idx = 0;
    for (int l = 0; l < s->n_sub; l++) {
        u.L = &s->sub[l];
        xtc_step_branch_in(s, u.L, h, NULL, NULL, st->io->x, N);
        if (u.L->kind == XTC_SUB_FF) {
            st->be->team_for(team, n_chunks(s->cfg.ff_inner), XTC_FOR_DYNAMIC, ff1_chunk, &u);
            if (s->cfg.ff_post_act_ln)
                st->be->team_for(team, N, XTC_FOR_DYNAMIC, ff_norm_row, &u);
            st->be->team_for(team, n_chunks(C), XTC_FOR_DYNAMIC, ff2_chunk, &u);
            if (!xtc_step_branch_plain(s))
                st->be->team_for(team, N, XTC_FOR_DYNAMIC, branch_out_row, &u);
        } else {
            u.idx = u.L->kind == XTC_SUB_SELF ? self_idx++ : cross_idx++;
            attention_sublayer(&u, team);
        }
    }
}

void xtc_stack_decode(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bf) {
    /* the key mask is filled once, before the threads read it */
    struct step st = {.be = xtc_backend_get(), .s = s, .io = io, .bf = bf,
                      .self_mask = xtc_stack_self_key_mask(io, bf, 0)};
    st.be->team_run(bf->dec_threads, step_thread, &st);
    xtc_stack_final(s, io, bf);
}
