/* Backward of the attention stack: the sub-layers in reverse, each the mirror of
 * its forward in stack.c. The residual gradient dres runs down the stack; each
 * sub-layer takes it back through its post-norm (if any), then adds the gradient
 * through its branch, its sandwich norm and its pre-norm. Parameter gradients are
 * accumulated into the gradient block at the parameter's offset.
 * Shape letters as in stack.h. */
#include <math.h>
#include <string.h>

#include "core/status.h"
#include "layers/stack.h"
#include "layers/steps.h"
#include "ops/ops.h"

/* The gradient of a parameter lives at the same offset in the gradient block. */
static float *grad_of(const struct xtc_stack_grads *g, const float *param) {
    return param ? g->grads + (param - g->params) : NULL;
}

/* dinp += norm'(dout) for one of the stack's norms (gain w); its gain's gradient += */
static void norm_backward(const struct xtc_stack *s, float *dinp, const float *w, const float *dout, const float *inp,
                          const float *mean, const float *rstd, int64_t N, const struct xtc_stack_grads *g) {
    const struct xtc_norm_gain gain = xtc_stack_norm_gain(s, w);
    if (s->cfg.norm == XTC_NORM_LAYERNORM)
        xtc_layernorm_backward(dinp, grad_of(g, gain.g), dout, inp, &gain, mean, rstd, N, s->cfg.dim);
    else
        xtc_rmsnorm_backward(dinp, grad_of(g, gain.g), dout, inp, &gain, rstd, N, s->cfg.dim);
}

/* og = o * head_scale[head] * sigmoid(hgate[head]) * act(gate) (xtc_step_attn_out; act: sigmoid,
 * or silu with swiglu_values; gate per feature, or per head with gate_values_headwise) over N rows
 * of H*D: dog (in place) becomes d/do; dgate and dhgate (=, or NULL without that gate) the
 * gradients of the gate logits; the head scales' gradient is accumulated. */
static void attn_out_backward(const struct xtc_stack *s, const struct xtc_sublayer *L, float *dog, float *dgate,
                              float *dhgate, const float *o, const float *gate, const float *hgate, int64_t N,
                              const struct xtc_stack_grads *g) {
    const int64_t H = s->cfg.heads, D = s->cfg.dim_head, HD = H * D;
    const bool headwise = s->cfg.gate_values_headwise;
    float *dhs = grad_of(g, L->head_scale);
    if (dgate && headwise)
        memset(dgate, 0, sizeof(float) * (size_t)(N * H)); /* sums over the head's features */
    for (int64_t h = 0; h < H; h++) {
        double acc = 0;
        for (int64_t n = 0; n < N; n++) {
            /* the per-head gate: sigmoid(hgate), derivative sh (1 - sh) */
            const float sh = hgate ? 1.0f / (1.0f + expf(-hgate[n * H + h])) : 1.0f;
            double dsh = 0;
            for (int64_t f = h * D; f < (h + 1) * D; f++) {
                const int64_t i = n * HD + f, gi = headwise ? n * H + h : i;
                float sg = gate ? 1.0f / (1.0f + expf(-gate[gi])) : 1.0f;
                /* sigmoid: a = sg, a' = sg (1 - sg); silu: a = g sg, a' = sg (1 + g (1 - sg)) */
                float a = sg, da = sg * (1.0f - sg);
                if (gate && s->cfg.swiglu_values)
                    a = gate[gi] / (1.0f + expf(-gate[gi])), da = sg * (1.0f + gate[gi] * (1.0f - sg));
                float hs = L->head_scale ? L->head_scale[h] : 1.0f;
                if (dgate && headwise)
                    dgate[gi] += dog[i] * o[i] * hs * sh * da;
                else if (dgate)
                    dgate[i] = dog[i] * o[i] * hs * sh * da;
                acc += (double)dog[i] * o[i] * sh * a;
                dsh += (double)dog[i] * o[i] * hs * a;
                dog[i] *= hs * sh * a;
            }
            if (dhgate)
                dhgate[n * H + h] = (float)dsh * sh * (1.0f - sh);
        }
        if (dhs)
            dhs[h] += (float)acc;
    }
}

/* x = u * scale[head], u = l2norm(raw) (qk_norm_dim_scale), over rows of nh heads of D:
 * dx (in place) becomes d/du, dscale (nh, D) accumulates sum over rows of dx * u. */
static void dim_scale_backward(float *dx, float *dscale, const float *raw, const float *scale, int64_t rows, int64_t nh,
                               int64_t D) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t h = 0; h < nh; h++) {
            float *d = dx + (r * nh + h) * D;
            const float *x = raw + (r * nh + h) * D;
            double ss = 0;
            for (int64_t i = 0; i < D; i++)
                ss += (double)x[i] * x[i];
            double n = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12; /* F.normalize: x / max(||x||, eps) */
            for (int64_t i = 0; i < D; i++) {
                dscale[h * D + i] += (float)(d[i] * (x[i] / n));
                d[i] *= scale[h * D + i];
            }
        }
}

/* y' = y * branch_scale * (layerscale + 1) (macaron's Scale(0.5), LayerScale): dy (N, C) holds
 * d/dy' on entry and d/dy on return; the layerscale gain's gradient += dy' * y * branch_scale,
 * y the branch output kept in y_ls. */
static void branch_scale_backward(const struct xtc_stack *s, const struct xtc_sublayer *L, float *dy,
                                  const float *y_ls, int64_t N, const struct xtc_stack_grads *g) {
    const int64_t C = s->cfg.dim;
    float *dls = grad_of(g, L->layerscale);
    for (int64_t j = 0; dls && j < C; j++) {
        double acc = 0;
        for (int64_t n = 0; n < N; n++)
            acc += (double)dy[n * C + j] * (y_ls[n * C + j] * L->branch_scale);
        dls[j] += (float)acc;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < C; j++)
            dy[n * C + j] *= L->layerscale ? L->branch_scale * (L->layerscale[j] + 1.0f) : L->branch_scale;
}

/* x_sum = x_in * residual_scale * k + y2 (Residual, k = scale_residual_constant): dres (N, C)
 * holds d/dx_sum on entry and d/dx_in (the residual path's part) on return; the scale's
 * gradient += dres * x_in * k. */
static void residual_scale_backward(const struct xtc_stack *s, const struct xtc_sublayer *L, float *dres,
                                    const float *x_in, int64_t N, const struct xtc_stack_grads *g) {
    const int64_t C = s->cfg.dim;
    const float k = (float)s->cfg.scale_residual_constant;
    float *drs = grad_of(g, L->residual_scale);
    for (int64_t j = 0; drs && j < C; j++) {
        double acc = 0;
        for (int64_t n = 0; n < N; n++)
            acc += (double)dres[n * C + j] * x_in[n * C + j] * k;
        drs[j] += (float)acc;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < C; j++)
            dres[n * C + j] *= (L->residual_scale ? L->residual_scale[j] : 1.0f) * k;
}

/* x_out = (1 - z) * n + z * h, the GRU gate of the forward (steps.c gru_gate): dres (N, C) holds
 * d/dx_out on entry and d/dh on return; bf->dgy = d/dy2 (the GRU's input); the GRU's
 * parameter gradients are accumulated. */
static void gru_backward(const struct xtc_stack *s, const struct xtc_sublayer *L, struct xtc_stack_bufs *bf,
                         const struct xtc_sub_acts *A, int64_t N, const struct xtc_stack_grads *g) {
    const int64_t C = s->cfg.dim, C3 = 3 * C;
    float *dgi = bf->dgru, *dgh = bf->dgru + N * C3;
    for (int64_t r = 0; r < N; r++) {
        const float *a = A->gru_gi + r * C3, *b = A->gru_gh + r * C3, *h = A->gru_h + r * C;
        float *da = dgi + r * C3, *db = dgh + r * C3, *dx = bf->dres + r * C;
        for (int64_t j = 0; j < C; j++) {
            const float rg = 1.0f / (1.0f + expf(-(a[j] + b[j])));
            const float z = 1.0f / (1.0f + expf(-(a[C + j] + b[C + j])));
            const float nn = tanhf(a[2 * C + j] + rg * b[2 * C + j]);
            const float d = dx[j];
            const float dn = d * (1.0f - z) * (1.0f - nn * nn); /* d(gi_n + r * gh_n) */
            const float dz = d * (h[j] - nn) * z * (1.0f - z);
            const float dr = dn * b[2 * C + j] * rg * (1.0f - rg);
            da[j] = db[j] = dr;
            da[C + j] = db[C + j] = dz;
            da[2 * C + j] = dn;
            db[2 * C + j] = dn * rg;
            dx[j] = d * z; /* the direct path z * h */
        }
    }
    /* gi = y2 W_ih^T + b_ih;  gh = h W_hh^T + b_hh */
    xtc_linear_backward(bf->dgy, grad_of(g, L->gru_wih), grad_of(g, L->gru_bih), dgi, A->gru_y, L->gru_wih, N, C, C3,
                        0);
    xtc_linear_backward(bf->dres, grad_of(g, L->gru_whh), grad_of(g, L->gru_bhh), dgh, A->gru_h, L->gru_whh, N, C, C3,
                        1);
}

/* Backward of xtc_stack_polar_attention: dout (B, T, H*D) -> bf->dq (B, T, H*D), bf->dk,
 * bf->dv (B, S, G*D) (overwritten), the key phase's gradient accumulated. The output's
 * second D features of each head are the zero padding of v: they get no gradient. */
static void polar_backward(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bf,
                           const struct xtc_sub_acts *A, const struct xtc_attn_params *p, float *dbias,
                           const float *dout, const struct xtc_stack_grads *g) {
    const int64_t B = io->B, T = io->T, S = p->S;
    const int H = p->H, G = p->G, D = p->D;
    const int64_t HD = (int64_t)H * D, GD = (int64_t)G * D, HP = 2 * HD;
    for (int64_t r = 0; r < B * T; r++)
        for (int h = 0; h < H; h++) {
            float *d = bf->dop + r * HP + 2 * h * D;
            memcpy(d, dout + r * HD + h * D, sizeof(float) * (size_t)D);
            memset(d + D, 0, sizeof(float) * (size_t)D);
        }
    struct xtc_attn_params pp = xtc_stack_polar_params(p);
    pp.out = A->op; /* what the forward's kernels wrote, every head 2 D wide */
    xtc_attention_backward(bf->dqp, bf->dkp, bf->dvp, NULL, NULL, dbias, bf->dop, A->qp, A->kp, A->vp, &pp,
                           bf->scratch);
    memset(bf->dq, 0, sizeof(float) * (size_t)(B * T * HD));
    memset(bf->dk, 0, sizeof(float) * (size_t)(B * S * GD));
    memset(bf->dv, 0, sizeof(float) * (size_t)(B * S * GD));
    float *dphase = grad_of(g, s->polar_phase);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < T; i++)
            for (int h = 0; h < H; h++) {
                const int64_t r = b * T + i;
                xtc_polar_backward(&s->polar, bf->dq + r * HD + h * D, bf->dqp + r * HP + 2 * h * D,
                                   A->q + r * HD + h * D, S - T + i, NULL, NULL);
            }
        for (int64_t j = 0; j < S; j++)
            for (int h = 0; h < H; h++) {
                const int64_t r = b * S + j;
                const int gk = h % G;
                xtc_polar_backward(&s->polar, bf->dk + r * GD + gk * D, bf->dkp + r * HP + 2 * h * D,
                                   A->k + r * GD + gk * D, j, s->polar_phase + h * D, dphase + h * D);
                const float *dvp = bf->dvp + r * HP + 2 * h * D;
                float *dv = bf->dv + r * GD + gk * D;
                for (int e = 0; e < D; e++)
                    dv[e] += dvp[e];
            }
    }
}

/* dy (B, T, C) -> bf->dh, the gradient of the sub-layer's normed input. */
static void ff_backward(const struct xtc_stack *s, const struct xtc_sublayer *L, int64_t N,
                        struct xtc_stack_bufs *bf, const struct xtc_sub_acts *A, const float *dy,
                        const struct xtc_stack_grads *g) {
    const struct xtc_layers_config *c = &s->cfg;
    int64_t C = c->dim, I = c->ff_inner, I1 = c->ff_glu ? 2 * I : I;
    if (c->ff_post_act_ln) {
        /* y = ffn @ w2^T + b2;  ffn = LayerNorm(ffa) * ff_gamma (no unit offset) */
        xtc_linear_backward(bf->dffn, grad_of(g, L->w2), grad_of(g, L->b2), dy, A->ffn, L->w2, N, I, C, 0);
        const struct xtc_norm_gain gain = {.g = L->ff_gamma, .offset = 0.0f};
        memset(bf->dffa, 0, sizeof(float) * (size_t)(N * I));
        xtc_layernorm_backward(bf->dffa, grad_of(g, L->ff_gamma), bf->dffn, A->ffa, &gain, A->ffn_mean, A->ffn_rstd, N,
                               I);
    } else {
        /* y = ffa @ w2^T + b2 */
        xtc_linear_backward(bf->dffa, grad_of(g, L->w2), grad_of(g, L->b2), dy, A->ffa, L->w2, N, I, C, 0);
    }
    if (c->ff_glu)
        xtc_glu_backward(bf->dff1, bf->dffa, A->ff1, N, I, &s->glu);
    else
        xtc_act_backward(bf->dff1, bf->dffa, A->ff1, N * I, c->ff_activation);
    if (!c->ff_glu && c->ff_softclamp_value > 0) /* ff1 holds the clamped pre-activation */
        xtc_softclamp_backward(bf->dff1, A->ff1, N * I, (float)c->ff_softclamp_value);
    /* ff1 = h @ w1^T + b1 */
    xtc_linear_backward(bf->dh, grad_of(g, L->w1), grad_of(g, L->b1), bf->dff1, A->h, L->w1, N, C, I1, 0);
}

/* Residual attention of one layer in the backward: the logits it added (the previous layer's of
 * its kind, or NULL), the gradient reaching its own logits from the next layer (or NULL), and
 * where the gradient of the added logits goes (or NULL). */
struct resid_logits {
    const float *prev, *dlogits_in;
    float *dprev_out;
};

/* og = u * act(z), z = gate + ogate (xtc_step_gates_apply) over N rows of H*D: dog (in place)
 * becomes d/du from this product only; dgate (value gate logits: =, or NULL) and dogate (=) the
 * gradients of the two logit sets, summed over a head's features where that gate is headwise. */
static void gates_apply_backward(const struct xtc_stack *s, float *dog, float *dgate, float *dogate, const float *u,
                                 const float *gate, const float *ogate, int64_t N) {
    const int64_t H = s->cfg.heads, D = s->cfg.dim_head, HD = H * D;
    const bool hx = s->cfg.gate_values_headwise, ho = s->cfg.output_gate_headwise;
    if (dgate && hx)
        memset(dgate, 0, sizeof(float) * (size_t)(N * H));
    if (ho)
        memset(dogate, 0, sizeof(float) * (size_t)(N * H));
    for (int64_t n = 0; n < N; n++)
        for (int64_t f = 0; f < HD; f++) {
            const int64_t i = n * HD + f, ix = hx ? n * H + f / D : i, io = ho ? n * H + f / D : i;
            const float z = (gate ? gate[ix] : 0.0f) + ogate[io], sg = 1.0f / (1.0f + expf(-z));
            float a = sg, da = sg * (1.0f - sg); /* sigmoid, or silu with swiglu_values */
            if (s->cfg.swiglu_values)
                a = z / (1.0f + expf(-z)), da = sg * (1.0f + z * (1.0f - sg));
            const float dz = dog[i] * u[i] * da;
            if (dgate && hx)
                dgate[ix] += dz;
            else if (dgate)
                dgate[ix] = dz;
            if (ho)
                dogate[io] += dz;
            else
                dogate[io] = dz;
            dog[i] *= a;
        }
}

/* dinp (+= when accumulate) and the weights' gradients of a gate y = x @ w^T, or with a rank
 * (LoRALinear) y = act(x @ down^T) @ up^T (w: up; act silu or none; xd, xa: the saved
 * pre-activation and activation); dlr: 2 N rank floats. */
static void gate_linear_backward(const struct xtc_stack *s, float *dinp, const float *dy, const float *x,
                                 const float *w, const float *down, const float *xd, const float *xa, int64_t N,
                                 int64_t Cin, int64_t Cout, int64_t rank, float *dlr, int accumulate,
                                 const struct xtc_stack_grads *g) {
    if (!down) {
        xtc_linear_backward(dinp, grad_of(g, w), NULL, dy, x, w, N, Cin, Cout, accumulate);
        return;
    }
    float *dxa = dlr, *dxd = s->cfg.low_rank_silu_gates ? dlr + N * rank : dlr;
    xtc_linear_backward(dxa, grad_of(g, w), NULL, dy, xa, w, N, rank, Cout, 0);
    if (s->cfg.low_rank_silu_gates)
        xtc_act_backward(dxd, dxa, xd, N * rank, XTC_FF_SWISH);
    xtc_linear_backward(dinp, grad_of(g, down), NULL, dxd, x, down, N, Cin, rank, accumulate);
}

static void attention_backward(const struct xtc_stack *s, const struct xtc_sublayer *L, const struct xtc_stack_io *io,
                               struct xtc_stack_bufs *bf, const struct xtc_sub_acts *A, int self_idx, const float *dy,
                               const struct resid_logits *ra, const struct xtc_stack_grads *g) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t B = io->B, T = io->T, C = c->dim;
    const int H = c->heads, G = c->kv_heads, D = c->dim_head, K = c->num_mem_kv;
    const bool self = L->kind == XTC_SUB_SELF;
    const int64_t M = self ? io->M : 0, S = self ? M + T : io->S_ctx;
    const int64_t Cin = self ? C : c->dim_context, HD = (int64_t)H * D, GD = (int64_t)G * D;

    /* y = og @ wo^T (or y = og with one head); og = o without head scale or gate */
    const float *og = A->og ? A->og : A->o;
    const float *dout = dy;
    if (L->wo) {
        xtc_linear_backward(bf->dout, grad_of(g, L->wo), NULL, dy, og, L->wo, B * T, HD, C, 0);
        dout = bf->dout;
    }
    if (A->og && L->wog) { /* og = u * act(gate + ogate(u)), u = o * head_scale * head gate */
        if (dout != bf->dout)
            memcpy(bf->dout, dout, sizeof(float) * (size_t)(B * T * HD));
        gates_apply_backward(s, bf->dout, L->wg ? bf->dq : NULL, bf->dogate, A->u, A->gate, A->ogate, B * T);
        /* ogate = G(u): u's gradient gains G's input gradient */
        gate_linear_backward(s, bf->dout, bf->dogate, A->u, L->wog, L->wogd, A->ogd, A->oga, B * T, HD,
                             c->output_gate_headwise ? H : HD, c->output_gate_rank, bf->dlr, 1, g);
        attn_out_backward(s, L, bf->dout, NULL, L->wh ? bf->dhgate : NULL, A->o, NULL, A->hgate, B * T, g);
    } else if (A->og) { /* og = o * head_scale * gates: dout becomes d/do, dgate into dq (free until below) */
        if (dout != bf->dout)
            memcpy(bf->dout, dout, sizeof(float) * (size_t)(B * T * HD));
        attn_out_backward(s, L, bf->dout, L->wg ? bf->dq : NULL, L->wh ? bf->dhgate : NULL, A->o, A->gate, A->hgate,
                          B * T, g);
    }
    if (A->og) {
        dout = bf->dout;
        /* gate = h @ wg^T (or up(act(down(h))) with a rank); hgate = h @ wh^T + bh */
        if (L->wg)
            gate_linear_backward(s, bf->dh, bf->dq, A->h, L->wg, L->wgd, A->gd, A->ga, B * T, C,
                                 c->gate_values_headwise ? H : HD, c->gate_values_rank, bf->dlr, 0, g);
        if (L->wh)
            xtc_linear_backward(bf->dh, grad_of(g, L->wh), grad_of(g, L->bh), bf->dhgate, A->h, L->wh, B * T, C, H,
                                L->wg != NULL);
    }
    xtc_step_mem_keys(s, L, bf->memk, 0, G); /* the forward's memory keys of this layer */
    struct xtc_attn_params p = xtc_stack_attn_params(s, L, io, bf, self_idx);
    int O = 0;
    if (L->dda_w) { /* the kernel accumulates the gradient of the gates (or, per row, of their q | k) */
        p.dda = xtc_stack_dda(s, L, A, T);
        O = xtc_dda_out_features(&p.dda);
        p.dda.dtable = p.dda.per_row ? bf->ddda_y : bf->ddda_c;
        memset(p.dda.dtable, 0, sizeof(float) * (size_t)(B * T * O));
    }
    if (L->cope_emb) { /* accumulated by the kernel */
        p.cope.demb = grad_of(g, L->cope_emb);
        p.cope.dtalk = L->cope_talk ? grad_of(g, L->cope_talk) : NULL;
    }
    p.prev_logits = ra->prev;
    p.dlogits_in = ra->dlogits_in;
    p.lse = A->lse; /* the forward's row statistics and output: the backward need not recompute them */
    p.out = A->o;
    p.dprev_out = ra->dprev_out;
    float *dmem_k = K > 0 ? (c->qk_norm ? bf->dmemk : grad_of(g, L->mem_k)) : NULL;
    if (dmem_k == bf->dmemk && dmem_k)
        memset(dmem_k, 0, sizeof(float) * (size_t)G * K * D);
    p.th_dpre = grad_of(g, L->th_pre);
    p.th_dpost = grad_of(g, L->th_post);
    p.th_dpre_scale = grad_of(g, L->th_pre_scale);
    float *dbias = p.dbias_n > 0 ? bf->dbias : NULL; /* a learned bias scheme's table */
    if (dbias)
        memset(dbias, 0, sizeof(float) * (size_t)p.dbias_n);
    if (L->rp_w) { /* the forward's curves; the kernels accumulate their gradient */
        p.rp_W = xtc_stack_relproj_W(s, p.S);
        p.rp_curves = A->rp_curves;
        p.rp_dcurves = bf->drp_curves;
        memset(bf->drp_curves, 0, sizeof(float) * (size_t)(B * H * T * p.rp_W));
    }
    if (self && c->polar)
        polar_backward(s, io, bf, A, &p, dbias, dout, g);
    else
        xtc_attention_backward(bf->dq, bf->dk, bf->dv, dmem_k, K > 0 ? grad_of(g, L->mem_v) : NULL, dbias, dout, A->q,
                               A->k, A->v, &p, bf->scratch);
    if (dbias) {
        float *dparams[XTC_BIAS_MAX_PARAMS] = {0};
        for (int i = 0; i < XTC_BIAS_MAX_PARAMS && s->bias.params[i]; i++)
            dparams[i] = grad_of(g, s->bias.params[i]);
        s->bias.scheme->table_backward(&s->bias, S, bf->bias_table, dbias, dparams);
    }
    /* rotary backward: rotate by -theta with the same XPOS factor */
    if (c->rotary && (self || bf->ctx_rt.cos)) {
        const int h0 = xtc_step_rot_h0(s, self);
        xtc_rotary_rotate_rows(&s->rotary, bf->dq, B, T, H, h0, D, &bf->self_rt, false, -1.0f);
        xtc_rotary_rotate_rows(&s->rotary, bf->dk, B, S, G, h0, D, self ? &bf->self_rt : &bf->ctx_rt, true, -1.0f);
    }
    if (c->qk_norm) {
        if (L->q_scale) { /* q = l2norm(q_raw) * q_scale */
            dim_scale_backward(bf->dq, grad_of(g, L->q_scale), A->q_raw, L->q_scale, B * T, H, D);
            dim_scale_backward(bf->dk, grad_of(g, L->k_scale), A->k_raw, L->k_scale, B * S, G, D);
            for (int64_t gk = 0; K > 0 && gk < G; gk++) /* mem_k (G, K, D): K rows per kv head */
                dim_scale_backward(bf->dmemk + gk * K * D, grad_of(g, L->k_scale) + gk * D, L->mem_k + gk * K * D,
                                   L->k_scale + gk * D, K, 1, D);
        }
        xtc_l2norm_backward(bf->dq, A->q_raw, B * T * H, D);
        xtc_l2norm_backward(bf->dk, A->k_raw, B * S * G, D);
        if (K > 0) {
            xtc_l2norm_backward(bf->dmemk, L->mem_k, (int64_t)G * K, D);
            float *gk = grad_of(g, L->mem_k);
            for (int64_t i = 0; i < (int64_t)G * K * D; i++)
                gk[i] += bf->dmemk[i];
        }
    }
    /* q = h @ wq^T;  k = kvin @ wk^T;  v = kvin @ wv^T */
    const float *kvin = self ? (M > 0 ? A->kvin : A->h) : io->context;
    xtc_linear_backward(bf->dh, grad_of(g, L->wq), NULL, bf->dq, A->h, L->wq, B * T, C, HD, L->wg || L->wh);
    if (L->dda_w) { /* y = h @ to_forget_gates^T + b, then (not per row) the cumulative log-sigmoid gates */
        if (!p.dda.per_row)
            xtc_dda_gates_backward(&p.dda, A->dda_y, B, T, bf->ddda_c, bf->ddda_y);
        xtc_linear_backward(bf->dh, grad_of(g, L->dda_w), L->dda_b ? grad_of(g, L->dda_b) : NULL, bf->ddda_y, A->h,
                            L->dda_w, B * T, C, O, 1);
    }
    if (L->rp_w) { /* curves = (h A^T + a) bank over the kept distances */
        const int R = c->rel_proj_num_basis;
        xtc_relproj_backward(bf->drp_w, grad_of(g, L->rp_bank), bf->drp_curves, A->rp_w, L->rp_bank, B, T, H, R,
                             c->rel_proj_max_dist, p.rp_W);
        xtc_linear_backward(bf->dh, grad_of(g, L->rp_w), grad_of(g, L->rp_b), bf->drp_w, A->h, L->rp_w, B * T, C,
                            (int64_t)H * R, 1);
    }
    xtc_linear_backward(bf->dkvin, grad_of(g, L->wk), NULL, bf->dk, kvin, L->wk, B * S, Cin, GD, 0);
    xtc_linear_backward(bf->dkvin, grad_of(g, L->wv), NULL, bf->dv, kvin, L->wv, B * S, Cin, GD, 1);
    if (!self) {
        if (g->dcontext)
            for (int64_t i = 0; i < B * S * Cin; i++)
                g->dcontext[i] += bf->dkvin[i];
        return;
    }
    for (int64_t b = 0; b < B; b++) {
        /* kvin = [norm(mem) ; h]: the sequence part joins dh, the memory part goes through the norm */
        const float *dk_seq = bf->dkvin + (b * S + M) * C;
        float *dhb = bf->dh + b * T * C;
        for (int64_t i = 0; i < T * C; i++)
            dhb[i] += dk_seq[i];
        if (M > 0) {
            float *dmem = g->dmems ? g->dmems[self_idx] + b * M * C : NULL;
            if (dmem)
                memset(dmem, 0, sizeof(float) * (size_t)(M * C));
            if (!c->pre_norm) { /* post-norm: the memories enter the projections as they are */
                if (dmem)
                    memcpy(dmem, bf->dkvin + b * S * C, sizeof(float) * (size_t)(M * C));
                continue;
            }
            /* the norm gain still gets its gradient when d/dmems is not wanted */
            float *sink = dmem ? dmem : bf->dmem;
            if (!dmem)
                memset(sink, 0, sizeof(float) * (size_t)(M * C));
            norm_backward(s, sink, L->norm, bf->dkvin + b * S * C, io->mems[self_idx] + b * M * C,
                          A->mem_mean + b * M, A->mem_rstd + b * M, M, g);
        }
    }
}

void xtc_stack_backward(const struct xtc_stack *s, const struct xtc_stack_io *io, struct xtc_stack_bufs *bf,
                        float *dx, const struct xtc_stack_grads *g) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t B = io->B, T = io->T, C = c->dim, N = B * T;
    (void)B;
    const size_t NC = sizeof(float) * (size_t)(N * C);
    /* out = final_norm(x_last) (or x_last without a final norm), x_last soft-clamped first
     * with softclamp_output */
    if (c->final_norm) {
        memset(bf->dres, 0, NC);
        norm_backward(s, bf->dres, s->final_norm, dx, bf->final_in, bf->final_mean, bf->final_rstd, N, g);
    } else {
        memcpy(bf->dres, dx, NC);
    }
    if (c->softclamp_output > 0)
        xtc_softclamp_backward(bf->dres, bf->final_in, N * C, (float)c->softclamp_output);
    int self_idx = s->n_self;
    /* residual attention: dlogits[kind][cur[kind]] holds the gradient of the logits of the layer
     * of that kind below the next one processed (have_d: whether there is one) */
    int cur[2] = {0, 0};
    bool have_d[2] = {false, false};
    for (int l = s->n_sub - 1; l >= 0; l--) {
        const struct xtc_sublayer *L = &s->sub[l];
        const struct xtc_sub_acts *A = &bf->acts[l];
        self_idx -= L->kind == XTC_SUB_SELF;
        /* post-norm: x_out = norm(x_sum), x_sum = x_in + y2 */
        if (!c->pre_norm) {
            memset(bf->dtmp, 0, NC);
            norm_backward(s, bf->dtmp, L->norm_post, bf->dres, A->x_sum, A->post_mean, A->post_rstd, N, g);
            memcpy(bf->dres, bf->dtmp, NC);
        }
        /* x_sum = x_in * rs + y2 (rs: residual_scale * scale_residual_constant, else 1): dres is
         * the gradient of y2, and dres * rs that of x_in; with sandwich_norm y2 = norm(y'), else
         * y2 = y'; y' = y * branch_scale * (layerscale + 1) */
        const float *dy = bf->dres;
        if (c->gate_residual) { /* x_sum = GRUCell(y2, x_in * rs): dres becomes d/d(x_in * rs) */
            gru_backward(s, L, bf, A, N, g);
            dy = bf->dgy;
        }
        if (c->sandwich_norm) {
            memset(bf->dtmp, 0, NC);
            norm_backward(s, bf->dtmp, L->norm_sandwich, dy, A->y_raw, A->sw_mean, A->sw_rstd, N, g);
            dy = bf->dtmp;
        }
        if (L->layerscale || L->branch_scale != 1.0f) {
            if (dy != bf->dtmp)
                memcpy(bf->dtmp, dy, NC);
            dy = bf->dtmp;
            branch_scale_backward(s, L, bf->dtmp, A->y_ls, N, g);
        }
        if (xtc_step_residual_scaled(s)) {
            if (dy == bf->dres) { /* dres becomes the gradient of x_in below */
                memcpy(bf->dtmp, dy, NC);
                dy = bf->dtmp;
            }
            residual_scale_backward(s, L, bf->dres, A->x_in, N, g);
        }
        /* y = f(h) */
        if (L->kind == XTC_SUB_FF) {
            ff_backward(s, L, N, bf, A, dy, g);
        } else {
            const int kind = L->kind == XTC_SUB_CROSS;
            struct resid_logits ra = {.dlogits_in = have_d[kind] ? bf->dlogits[kind][cur[kind]] : NULL};
            for (int j = l - 1; j >= 0 && !ra.prev; j--)
                if (s->sub[j].kind == L->kind)
                    ra.prev = kind ? bf->acts[j].cross_logits : bf->acts[j].self_logits;
            if (ra.prev)
                ra.dprev_out = bf->dlogits[kind][1 - cur[kind]];
            attention_backward(s, L, io, bf, A, self_idx, dy, &ra, g);
            have_d[kind] = ra.dprev_out != NULL;
            cur[kind] = ra.dprev_out ? 1 - cur[kind] : cur[kind];
        }
        /* h = shift(h0) with shift_tokens (the projections read the shifted rows) */
        xtc_step_shift_tokens(s, L, bf->dh, io->mask, B, T, true);
        /* h0 = norm(x_in) under pre-norm, h0 = x_in under post-norm */
        if (c->pre_norm)
            norm_backward(s, bf->dres, L->norm, bf->dh, A->x_in, A->mean, A->rstd, N, g);
        else
            xtc_step_residual(bf->dres, bf->dh, N, C, 0, C);
        if (g->layer_done)
            g->layer_done(g->user, l);
    }
    memcpy(dx, bf->dres, NC);
}
