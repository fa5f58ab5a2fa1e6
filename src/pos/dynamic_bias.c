/* Dynamic position bias (x-transformers DynamicPositionBias, after SwinV2's
 * continuous position bias): an MLP of width W = dim // 4 maps each relative
 * distance to one bias per head.
 *
 *   x_r = r - (S - 1), r = 0 .. 2S-2          (query pos - key pos; log_distance:
 *                                              sign(x) log(|x| + 1))
 *   a_0 = silu(norm_0(W_0 x + b_0))          norm_0: LayerNorm with a gain only (x-transformers LayerNorm)
 *   a_l = silu(norm_l(W_l a_{l-1} + b_l))    l = 1 .. depth-1; norm_l: nn.LayerNorm (weight and bias)
 *   out = W_depth a_{depth-1} + b_depth      (2S - 1, H)
 *
 * norm_l is the identity without dynamic_pos_bias_norm. The per-call table is
 * (H, 2S - 1) by relative distance, index (q pos - k pos) + S - 1 (positions right-aligned,
 * as for T5); after it, the MLP's activations of the call, which the backward reads.
 * N = 2S - 1 points, W width, H heads. */
#include <math.h>
#include <string.h>

#include "core/status.h"
#include "pos/pos.h"
#include "xtc/config.h"

#define LN_EPS 1e-5 /* nn.LayerNorm default, also inside x-transformers' LayerNorm */

/* state_dict names: mlp.l is Sequential(Linear, [norm], SiLU) for l < depth, mlp.depth the last Linear */
#define NAMES(l)                                                                                                    \
    {"rel_pos.mlp." #l ".0.weight", "rel_pos.mlp." #l ".0.bias", "rel_pos.mlp." #l ".1.weight",                   \
     "rel_pos.mlp." #l ".1.bias", "rel_pos.mlp." #l ".weight", "rel_pos.mlp." #l ".bias"}
static const char *const names[16][6] = {NAMES(0),  NAMES(1),  NAMES(2),  NAMES(3), NAMES(4),  NAMES(5),
                                         NAMES(6),  NAMES(7),  NAMES(8),  NAMES(9), NAMES(10), NAMES(11),
                                         NAMES(12), NAMES(13), NAMES(14), NAMES(15)};
enum { N_W, N_B, N_NW, N_NB, N_FW, N_FB };

/* Indices into pb->params of layer l's tensors (-1: absent); l == depth is the last Linear. */
struct dpb_layer {
    int w, b, g, beta;
};

static struct dpb_layer layer_params(const struct xtc_pos_bias *pb, int l) {
    int i = 0;
    for (int k = 0; k < l; k++)
        i += 2 + (pb->mlp_norm ? (k == 0 ? 1 : 2) : 0);
    struct dpb_layer r = {i, i + 1, -1, -1};
    if (l < pb->mlp_depth && pb->mlp_norm) {
        r.g = i + 2;
        if (l > 0)
            r.beta = i + 3;
    }
    return r;
}

static bool enabled(const struct xtc_layers_config *c) { return c->dynamic_pos_bias; }

static xtc_status init(struct xtc_pos_bias *pb, const struct xtc_layers_config *c, struct xtc_error *err) {
    (void)err;
    pb->mlp_depth = c->dynamic_pos_bias_mlp_depth;
    pb->mlp_dim = c->dim / 4;
    pb->mlp_norm = c->dynamic_pos_bias_norm;
    pb->log_distance = c->dynamic_pos_bias_log_distance;
    return XTC_OK;
}

static int param(const struct xtc_pos_bias *pb, int i, const char **name, int64_t shape[4]) {
    const int W = pb->mlp_dim;
    for (int l = 0; l <= pb->mlp_depth; l++) {
        struct dpb_layer p = layer_params(pb, l);
        const int in = l == 0 ? 1 : W, out = l == pb->mlp_depth ? pb->heads : W;
        const bool last = l == pb->mlp_depth;
        if (i == p.w) {
            *name = names[l][last ? N_FW : N_W];
            shape[0] = out, shape[1] = in;
            return 2;
        }
        shape[0] = out;
        if (i == p.b) {
            *name = names[l][last ? N_FB : N_B];
            return 1;
        }
        if (i == p.g) {
            *name = l == 0 ? "rel_pos.mlp.0.1.gamma" : names[l][N_NW];
            return 1;
        }
        if (i == p.beta) {
            *name = names[l][N_NB];
            return 1;
        }
    }
    return 0;
}

static int64_t table_floats(const struct xtc_pos_bias *pb, int64_t S) { return (int64_t)pb->heads * (2 * S - 1); }

/* per layer: z (pre-norm), n (post-norm), a (post-SiLU), each (N, W), and the norm's mean and rstd (N) */
static int64_t work_floats(const struct xtc_pos_bias *pb, int64_t S) {
    const int64_t N = 2 * S - 1, W = pb->mlp_dim;
    return pb->mlp_depth * (3 * N * W + 2 * N);
}

struct dpb_acts {
    float *z, *n, *a, *mean, *rstd;
};

static struct dpb_acts acts_of(const struct xtc_pos_bias *pb, int64_t N, float *work, int l) {
    const int64_t W = pb->mlp_dim;
    float *base = work + (int64_t)l * (3 * N * W + 2 * N);
    return (struct dpb_acts){base, base + N * W, base + 2 * N * W, base + 3 * N * W, base + 3 * N * W + N};
}

static float input_of(const struct xtc_pos_bias *pb, int64_t r, int64_t S) {
    float x = (float)(r - (S - 1));
    if (pb->log_distance) /* torch.sign(pos) * torch.log(pos.abs() + 1), float32 */
        x = (x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f) * logf(fabsf(x) + 1.0f);
    return x;
}

static void table_fill(const struct xtc_pos_bias *pb, int64_t S, float *table) {
    const int64_t N = 2 * S - 1, W = pb->mlp_dim, H = pb->heads;
    float *work = table + H * N;
    const float *prev = NULL;
    for (int l = 0; l < pb->mlp_depth; l++) {
        struct dpb_layer p = layer_params(pb, l);
        struct dpb_acts A = acts_of(pb, N, work, l);
        const float *w = pb->params[p.w], *b = pb->params[p.b];
        for (int64_t r = 0; r < N; r++) {
            float *z = A.z + r * W, *n = A.n + r * W, *a = A.a + r * W;
            const float x = input_of(pb, r, S);
            for (int64_t o = 0; o < W; o++) {
                if (l == 0) {
                    z[o] = w[o] * x + b[o];
                } else {
                    double acc = 0;
                    for (int64_t k = 0; k < W; k++)
                        acc += (double)w[o * W + k] * prev[r * W + k];
                    z[o] = (float)(acc + b[o]);
                }
            }
            if (p.g >= 0) {
                double mu = 0, var = 0;
                for (int64_t o = 0; o < W; o++)
                    mu += z[o];
                mu /= (double)W;
                for (int64_t o = 0; o < W; o++)
                    var += (z[o] - mu) * (z[o] - mu);
                const double rs = 1.0 / sqrt(var / (double)W + LN_EPS);
                A.mean[r] = (float)mu, A.rstd[r] = (float)rs;
                const float *g = pb->params[p.g], *beta = p.beta >= 0 ? pb->params[p.beta] : NULL;
                for (int64_t o = 0; o < W; o++)
                    n[o] = (float)((z[o] - mu) * rs) * g[o] + (beta ? beta[o] : 0.0f);
            } else {
                memcpy(n, z, sizeof(float) * (size_t)W);
            }
            for (int64_t o = 0; o < W; o++)
                a[o] = n[o] / (1.0f + expf(-n[o]));
        }
        prev = A.a;
    }
    struct dpb_layer p = layer_params(pb, pb->mlp_depth);
    const float *w = pb->params[p.w], *b = pb->params[p.b];
    for (int64_t r = 0; r < N; r++)
        for (int64_t h = 0; h < H; h++) {
            double acc = 0;
            for (int64_t k = 0; k < W; k++)
                acc += (double)w[h * W + k] * prev[r * W + k];
            table[h * N + r] = (float)(acc + b[h]);
        }
}

static void add_row(const struct xtc_attn_bias *a, int h, int64_t qp, const int64_t *kp, int64_t k0, int64_t n,
                    int64_t S, float *row) {
    (void)kp; /* explicit positions are refused (takes_explicit_pos is false) */
    const float *t = a->data + (int64_t)h * (2 * S - 1) + (qp - k0) + S - 1;
    for (int64_t j = 0; j < n; j++)
        row[j] += t[-j];
}

static void grad_row(const struct xtc_attn_bias *a, int h, int64_t qp, const int64_t *kp, int64_t k0, int64_t n,
                     int64_t S, const float *drow, float *dtable) {
    (void)a, (void)kp;
    float *t = dtable + (int64_t)h * (2 * S - 1) + (qp - k0) + S - 1;
    for (int64_t j = 0; j < n; j++)
        t[-j] += drow[j];
}

static void table_backward(const struct xtc_pos_bias *pb, int64_t S, const float *table, float *dtable,
                           float *const *dparams) {
    const int64_t N = 2 * S - 1, W = pb->mlp_dim, H = pb->heads;
    const float *work = table + H * N;
    float *da = dtable + H * N, *dz = da + N * W; /* the gradient's work area: d/d a_l, d/d z_l */
    /* out = W_f a + b_f */
    struct dpb_layer p = layer_params(pb, pb->mlp_depth);
    const float *a_last = acts_of(pb, N, (float *)work, pb->mlp_depth - 1).a;
    const float *wf = pb->params[p.w];
    for (int64_t r = 0; r < N; r++) {
        for (int64_t k = 0; k < W; k++)
            da[r * W + k] = 0;
        for (int64_t h = 0; h < H; h++) {
            const float d = dtable[h * N + r];
            dparams[p.b][h] += d;
            for (int64_t k = 0; k < W; k++) {
                dparams[p.w][h * W + k] += d * a_last[r * W + k];
                da[r * W + k] += d * wf[h * W + k];
            }
        }
    }
    for (int l = pb->mlp_depth - 1; l >= 0; l--) {
        p = layer_params(pb, l);
        struct dpb_acts A = acts_of(pb, N, (float *)work, l);
        const float *prev = l > 0 ? acts_of(pb, N, (float *)work, l - 1).a : NULL;
        const float *g = p.g >= 0 ? pb->params[p.g] : NULL;
        for (int64_t r = 0; r < N; r++) {
            float *dzr = dz + r * W;
            for (int64_t o = 0; o < W; o++) { /* a = n sigmoid(n): a' = s (1 + n (1 - s)) */
                const float n = A.n[r * W + o], s = 1.0f / (1.0f + expf(-n));
                dzr[o] = da[r * W + o] * s * (1.0f + n * (1.0f - s));
            }
            if (g) { /* n = xhat g (+ beta), xhat = (z - mean) rstd */
                double m1 = 0, m2 = 0;
                for (int64_t o = 0; o < W; o++) {
                    const float xh = (A.z[r * W + o] - A.mean[r]) * A.rstd[r];
                    dparams[p.g][o] += dzr[o] * xh;
                    if (p.beta >= 0)
                        dparams[p.beta][o] += dzr[o];
                    const double dxh = (double)dzr[o] * g[o];
                    m1 += dxh, m2 += dxh * xh;
                }
                m1 /= (double)W, m2 /= (double)W;
                for (int64_t o = 0; o < W; o++) {
                    const double xh = (A.z[r * W + o] - A.mean[r]) * A.rstd[r];
                    dzr[o] = (float)(A.rstd[r] * ((double)dzr[o] * g[o] - m1 - xh * m2));
                }
            }
            /* z = W_l prev + b_l (l == 0: prev is the scalar input) */
            const float *w = pb->params[p.w];
            const float x = input_of(pb, r, S);
            for (int64_t o = 0; o < W; o++) {
                dparams[p.b][o] += dzr[o];
                if (l == 0)
                    dparams[p.w][o] += dzr[o] * x;
                else
                    for (int64_t k = 0; k < W; k++)
                        dparams[p.w][o * W + k] += dzr[o] * prev[r * W + k];
            }
            if (l > 0) { /* da_{l-1} = dz W_l; da's row r is no longer needed */
                for (int64_t k = 0; k < W; k++) {
                    double acc = 0;
                    for (int64_t o = 0; o < W; o++)
                        acc += (double)dzr[o] * w[o * W + k];
                    da[r * W + k] = (float)acc;
                }
            }
        }
    }
}

const struct xtc_bias_scheme xtc_dynamic_bias_scheme = {
    .name = "dynamic position bias", .enabled = enabled, .init = init, .param = param, .table_floats = table_floats,
    .work_floats = work_floats, .table_fill = table_fill, .add_row = add_row, .grad_row = grad_row,
    .table_backward = table_backward,
};
