/* The steps of a sub-layer shared by the full forward and the decoding step (steps.h). */
#include <math.h>
#include <string.h>

#include "layers/steps.h"
#include "ops/ops.h"

void xtc_step_qk_head(const struct xtc_stack *s, float *x, const float *dim_scale, const struct xtc_rotary_tables *rt,
                      int64_t b, int64_t L, int64_t j, bool keys) {
    const int D = s->cfg.dim_head;
    if (s->cfg.qk_norm) /* cosine-sim attention: F.normalize, then rotary (x-transformers order) */
        xtc_l2norm_rows(x, 1, D);
    for (int d = 0; dim_scale && d < D; d++) /* qk_norm_dim_scale: l2norm(q) * qk_norm_q_scale, before rotary */
        x[d] *= dim_scale[d];
    if (rt)
        xtc_rotary_rotate_head(&s->rotary, x, rt, b, L, j, keys);
}

struct qk_rows {
    const struct xtc_stack *s;
    float *x;
    const float *dim_scale;
    int64_t L;
    int nh, h0;
    const struct xtc_rotary_tables *rt;
    bool keys;
};

/* positions [lo, hi) of the B * L (batch row, position) pairs */
static void qk_rows_range(void *arg, int64_t lo, int64_t hi, int tid) {
    const struct qk_rows *a = arg;
    const int D = a->s->cfg.dim_head;
    (void)tid;
    for (int64_t bj = lo; bj < hi; bj++)
        for (int h = 0; h < a->nh; h++)
            xtc_step_qk_head(a->s, a->x + (bj * a->nh + h) * D, a->dim_scale ? a->dim_scale + h * D : NULL,
                             h >= a->h0 ? a->rt : NULL,
                             bj / a->L, a->L, bj % a->L, a->keys);
}

void xtc_step_qk_rows(const struct xtc_stack *s, float *x, const float *dim_scale, int64_t B, int64_t L, int nh,
                      int h0, const struct xtc_rotary_tables *rt, bool keys) {
    const int D = s->cfg.dim_head;
    if (!s->cfg.qk_norm && !rt)
        return;
    struct qk_rows a = {.s = s, .x = x, .dim_scale = dim_scale, .L = L, .nh = nh, .h0 = h0, .rt = rt, .keys = keys};
    xtc_backend_get()->parallel_for(B * L, B * L * nh * D > 32768, qk_rows_range, &a);
}

const float *xtc_step_mem_keys(const struct xtc_stack *s, const struct xtc_sublayer *L, float *memk, int g0, int g1) {
    const int64_t K = s->cfg.num_mem_kv, D = s->cfg.dim_head;
    if (!s->cfg.qk_norm || K == 0)
        return L->mem_k;
    for (int64_t g = g0; g < g1; g++) {
        float *mk = memk + g * K * D;
        memcpy(mk, L->mem_k + g * K * D, sizeof(float) * (size_t)(K * D));
        xtc_l2norm_rows(mk, K, D);
        for (int64_t i = 0; L->k_scale && i < K * D; i++) /* mem_k * qk_norm_k_scale, as the other keys */
            mk[i] *= L->k_scale[g * D + i % D];
    }
    return memk;
}

void xtc_step_cache_append(const struct xtc_stack_io *io, int idx, const float *knew, const float *vnew, int64_t M,
                           int64_t b, int64_t f0, int64_t f1, int64_t GD) {
    const int64_t T = io->T, at = b * io->cache_cap + io->C_cache;
    float *ck = io->cache_k[idx], *cv = io->cache_v[idx];
    for (int64_t t = 0; t < T; t++) {
        const int64_t src = (b * (M + T) + M + t) * GD + f0, dst = (at + t) * GD + f0;
        memcpy(ck + dst, knew + src, sizeof(float) * (size_t)(f1 - f0));
        memcpy(cv + dst, vnew + src, sizeof(float) * (size_t)(f1 - f0));
    }
}

void xtc_step_ff_act(const struct xtc_stack *s, float *ffa, float *ff1, int64_t N, int64_t lo, int64_t hi) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t I = c->ff_inner, W1 = c->ff_glu ? 2 * I : I;
    const float clamp = (float)c->ff_softclamp_value;
    if (lo == 0 && hi == I) { /* whole rows: the ops' own parallel loops */
        if (c->ff_glu) {
            xtc_glu_forward(ffa, ff1, N, I, &s->glu);
            return;
        }
        if (clamp > 0)
            xtc_softclamp_forward(ff1, N * I, clamp);
        xtc_act_forward(ffa, ff1, N * I, c->ff_activation);
        return;
    }
    for (int64_t n = 0; n < N; n++) {
        float *a = ffa + n * I, *f = ff1 + n * W1;
        if (c->ff_glu) {
            xtc_glu_span(a + lo, f + lo, f + I + lo, hi - lo, &s->glu);
            continue;
        }
        if (clamp > 0)
            xtc_softclamp_forward(f + lo, hi - lo, clamp);
        xtc_act_forward(a + lo, f + lo, hi - lo, c->ff_activation);
    }
}

void xtc_step_ff_post_act_norm(const struct xtc_stack *s, const struct xtc_sublayer *L, struct xtc_sub_acts *A,
                               int64_t n0, int64_t n1) {
    const int64_t I = s->cfg.ff_inner;
    /* FeedForward's LayerNorm(inner_dim) is built without unit_offset: gamma is the scale itself */
    const struct xtc_norm_gain gain = {.g = L->ff_gamma, .offset = 0.0f};
    xtc_layernorm_forward(A->ffn + n0 * I, A->ffn_mean ? A->ffn_mean + n0 : NULL, A->ffn_rstd ? A->ffn_rstd + n0 : NULL,
                          A->ffa + n0 * I, &gain, n1 - n0, I);
}

struct residual {
    float *x;
    const float *y;
};

static void residual_range(void *arg, int64_t lo, int64_t hi, int tid) {
    const struct residual *a = arg;
    float *restrict x = a->x;
    const float *restrict y = a->y;
    (void)tid;
    for (int64_t i = lo; i < hi; i++)
        x[i] += y[i];
}

void xtc_step_residual(float *x, const float *y, int64_t N, int64_t C, int64_t lo, int64_t hi) {
    if (lo == 0 && hi == C) {
        struct residual a = {.x = x, .y = y};
        xtc_backend_get()->parallel_for(N * C, N * C > 65536, residual_range, &a);
        return;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = lo; c < hi; c++)
            x[n * C + c] += y[n * C + c];
}

void xtc_step_branch_in(const struct xtc_stack *s, const struct xtc_sublayer *L, float *h, float *mean, float *rstd,
                        const float *x, int64_t N) {
    if (s->cfg.pre_norm)
        xtc_stack_norm(s, h, mean, rstd, x, L->norm, N);
    else
        memcpy(h, x, sizeof(float) * (size_t)(N * s->cfg.dim));
}

void xtc_step_shift_tokens(const struct xtc_stack *s, const struct xtc_sublayer *L, float *h, const uint8_t *mask,
                           int64_t B, int64_t T, bool backward) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t C = c->dim, lo = c->causal ? 0 : -c->shift_tokens, groups = c->shift_tokens - lo + 1;
    const int64_t fps = C / groups;
    if (c->shift_tokens <= 0)
        return;
    if (L->kind == XTC_SUB_FF) /* the feed-forward block is called without the mask */
        mask = NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t g = 0; g < groups; g++) {
            /* shift(): amount 0 returns the group untouched (not even masked) */
            const int64_t a = lo + g;
            if (a == 0)
                continue;
            float *hb = h + b * T * C + g * fps;
            const uint8_t *mb = mask ? mask + b * T : NULL;
            /* forward: out[t] = in[t - a] (masked: 0); backward: din[u] = dout[u + a] (u masked: 0);
             * each runs in the order that reads a row before it is overwritten */
            const bool down = backward ? a < 0 : a > 0;
            for (int64_t n = 0; n < T; n++) {
                const int64_t t = down ? T - 1 - n : n;
                const int64_t src = backward ? t + a : t - a, keep = backward ? t : src;
                const bool ok = src >= 0 && src < T && (!mb || mb[keep]);
                for (int64_t f = 0; f < fps; f++)
                    hb[t * C + f] = ok ? hb[src * C + f] : 0.0f;
            }
        }
}

bool xtc_step_branch_plain(const struct xtc_stack *s) {
    const struct xtc_layers_config *c = &s->cfg;
    return c->pre_norm && !c->sandwich_norm && !c->macaron && !c->use_layerscale && !c->gate_residual &&
           !xtc_step_residual_scaled(s);
}

bool xtc_step_residual_scaled(const struct xtc_stack *s) {
    return s->cfg.scale_residual || s->cfg.scale_residual_constant != 1.0;
}

/* x (rows of C) <- norm(x), keeping the input in `keep` and the statistics when training */
static void norm_rows(const struct xtc_stack *s, float *x, float *keep, float *mean, float *rstd, const float *w,
                      int64_t n) {
    if (keep) {
        memcpy(keep, x, sizeof(float) * (size_t)(n * s->cfg.dim));
        xtc_stack_norm(s, x, mean, rstd, keep, w, n);
    } else {
        xtc_stack_norm(s, x, NULL, NULL, x, w, n);
    }
}

/* GRUGating.forward: x <- GRUCell(y, x * residual_scale) over rows [n0, n1) (A's buffers):
 *   gi = y W_ih^T + b_ih, gh = h W_hh^T + b_hh, split (r, z, n)
 *   r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n)
 *   x = (1 - z) * n + z * h */
static void gru_gate(const struct xtc_stack *s, const struct xtc_sublayer *L, float *xr, const float *yr,
                     struct xtc_sub_acts *A, int64_t n0, int64_t n1) {
    const int64_t C = s->cfg.dim, n = n1 - n0;
    float *h = A->gru_h + n0 * C, *gi = A->gru_gi + n0 * 3 * C, *gh = A->gru_gh + n0 * 3 * C;
    for (int64_t i = 0; i < n * C; i++)
        h[i] = L->residual_scale ? xr[i] * L->residual_scale[i % C] : xr[i];
    if (A->gru_y)
        memcpy(A->gru_y + n0 * C, yr, sizeof(float) * (size_t)(n * C));
    xtc_linear_forward(gi, yr, L->gru_wih, L->gru_bih, n, C, 3 * C);
    xtc_linear_forward(gh, h, L->gru_whh, L->gru_bhh, n, C, 3 * C);
    for (int64_t r = 0; r < n; r++) {
        const float *a = gi + r * 3 * C, *b = gh + r * 3 * C;
        for (int64_t j = 0; j < C; j++) {
            const float rg = 1.0f / (1.0f + expf(-(a[j] + b[j])));
            const float z = 1.0f / (1.0f + expf(-(a[C + j] + b[C + j])));
            const float nn = tanhf(a[2 * C + j] + rg * b[2 * C + j]);
            xr[r * C + j] = (1.0f - z) * nn + z * h[r * C + j];
        }
    }
}

void xtc_step_branch_out(const struct xtc_stack *s, const struct xtc_sublayer *L, float *x, float *y,
                         struct xtc_sub_acts *A, int64_t n0, int64_t n1) {
    const struct xtc_layers_config *c = &s->cfg;
    const int64_t C = c->dim, n = n1 - n0;
    float *xr = x + n0 * C, *yr = y + n0 * C;
    const bool keep = A && A->x_in; /* training */
    if (L->layerscale || L->branch_scale != 1.0f) {
        /* LayerScale(Scale(0.5, ff)): (ff(x) * 0.5) * (gamma + 1) */
        if (keep && A->y_ls)
            memcpy(A->y_ls + n0 * C, yr, sizeof(float) * (size_t)(n * C));
        for (int64_t i = 0; i < n * C; i++) {
            float v = yr[i] * L->branch_scale;
            yr[i] = L->layerscale ? v * (L->layerscale[i % C] + 1.0f) : v;
        }
    }
    if (c->sandwich_norm)
        norm_rows(s, yr, keep ? A->y_raw + n0 * C : NULL, keep ? A->sw_mean + n0 : NULL, keep ? A->sw_rstd + n0 : NULL,
                  L->norm_sandwich, n);
    if (c->gate_residual) {
        gru_gate(s, L, xr, yr, A, n0, n1);
    } else if (xtc_step_residual_scaled(s)) {
        /* Residual.forward: residual * residual_scale, then * scale_residual_constant, then out + residual */
        const float k = (float)c->scale_residual_constant;
        for (int64_t i = 0; i < n * C; i++) {
            float r = L->residual_scale ? xr[i] * L->residual_scale[i % C] : xr[i];
            if (k != 1.0f)
                r *= k;
            xr[i] = yr[i] + r;
        }
    } else {
        xtc_step_residual(xr, yr, n, C, 0, C);
    }
    if (!c->pre_norm)
        norm_rows(s, xr, keep ? A->x_sum + n0 * C : NULL, keep ? A->post_mean + n0 : NULL,
                  keep ? A->post_rstd + n0 : NULL, L->norm_post, n);
}

/* sigmoid in float, as torch's F.sigmoid on float32 */
static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* the value gate's activation: sigmoid, or silu with swiglu_values (F.silu: x / (1 + exp(-x))) */
static inline float gate_act(const struct xtc_stack *s, float x) {
    return s->cfg.swiglu_values ? x / (1.0f + expf(-x)) : sigmoidf(x);
}

void xtc_step_gates_apply(const struct xtc_stack *s, float *og, const float *u, const float *gate, const float *ogate,
                          int64_t N) {
    const int64_t H = s->cfg.heads, D = s->cfg.dim_head, HD = H * D;
    const bool hx = s->cfg.gate_values_headwise, ho = s->cfg.output_gate_headwise;
    for (int64_t n = 0; n < N; n++)
        for (int64_t f = 0; f < HD; f++) {
            float z = (gate ? (hx ? gate[n * H + f / D] : gate[n * HD + f]) : 0.0f) +
                      (ho ? ogate[n * H + f / D] : ogate[n * HD + f]);
            og[n * HD + f] = u[n * HD + f] * gate_act(s, z);
        }
}

void xtc_step_attn_out(const struct xtc_stack *s, const struct xtc_sublayer *L, float *og, const float *o,
                       const float *gate, const float *hgate, int64_t n0, int64_t n1, int64_t f0, int64_t f1) {
    const int64_t H = s->cfg.heads, D = s->cfg.dim_head, HD = H * D;
    const bool headwise = s->cfg.gate_values_headwise;
    for (int64_t n = n0; n < n1; n++)
        for (int64_t f = f0; f < f1; f++) {
            float y = o[n * HD + f];
            if (L->head_scale) /* out * head_scale_params, then the gates (Attention.forward order) */
                y *= L->head_scale[f / D];
            if (hgate)
                y *= sigmoidf(hgate[n * H + f / D]);
            if (gate)
                y *= gate_act(s, headwise ? gate[n * H + f / D] : gate[n * HD + f]);
            og[n * HD + f] = y;
        }
}
