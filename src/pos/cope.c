/* CoPE, contextual positions (x-transformers CoPE; pos.h has the formula). Float32 as torch
 * computes it, except the gates' suffix sums, which accumulate in double as torch's CPU cumsum
 * does. One query row at a time: the attention kernels call these between masking and the
 * softmax (backend/ref/attention.c). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "pos/pos.h"

int64_t xtc_cope_work_floats(const struct xtc_cope *c, int64_t n) { return 2 * n + 2 * (int64_t)c->max_pos + 8; }

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* g (n) = sigmoid(a), pos (n) = the suffix sums of g (unclamped), li (max_pos) = q . emb[k] */
static void gates_positions(const struct xtc_cope *c, const float *a, const float *q, int64_t n, float *g, float *pos,
                            float *li) {
    double acc = 0;
    for (int64_t j = n - 1; j >= 0; j--) {
        g[j] = sigmoidf(a[j]);
        acc += g[j];
        pos[j] = (float)acc;
    }
    for (int k = 0; k < c->max_pos; k++) {
        const float *e = c->emb + (int64_t)k * c->D;
        float s = 0;
        for (int d = 0; d < c->D; d++)
            s += q[d] * e[d];
        li[k] = s;
    }
}

void xtc_cope_forward_row(const struct xtc_cope *c, const float *a, const float *q, int64_t n, float *row,
                          float *work) {
    const int P = c->max_pos;
    float *g = work, *pos = g + n, *li = pos + n;
    const float top = (float)(P - 1);
    gates_positions(c, a, q, n, g, pos, li);
    for (int64_t j = 0; j < n; j++) {
        if (row[j] == -FLT_MAX)
            continue; /* -FLT_MAX + a small term rounds back to -FLT_MAX in torch */
        float p = pos[j] < top ? pos[j] : top;
        if (isnan(p)) { /* NaN logits (a diverged model): no index to read, the NaN carries on */
            row[j] = NAN;
            continue;
        }
        float fl = floorf(p), w = p - fl;
        int f = (int)fl, ce = (int)ceilf(p);
        row[j] += li[ce] * w + li[f] * (1.0f - w);
    }
}

void xtc_cope_backward_row(const struct xtc_cope *c, const float *a, const float *q, int64_t n, const float *dl,
                           float *da, float *dq, float *work) {
    const int P = c->max_pos;
    float *g = work, *pos = g + n, *li = pos + n, *dli = li + P;
    const float top = (float)(P - 1);
    gates_positions(c, a, q, n, g, pos, li);
    memset(dli, 0, sizeof(float) * (size_t)P);
    /* da first holds d/d(clamped position) */
    for (int64_t j = 0; j < n; j++) {
        float p = pos[j] < top ? pos[j] : top, dp = 0;
        if (dl[j] != 0.0f && !isnan(p)) { /* cope = e_ceil w + e_floor (1 - w), w = p - floor(p) */
            float fl = floorf(p), w = p - fl;
            int f = (int)fl, ce = (int)ceilf(p);
            dli[ce] += dl[j] * w;
            dli[f] += dl[j] * (1.0f - w);
            dp = dl[j] * (li[ce] - li[f]);
        }
        da[j] = pos[j] <= top ? dp : 0.0f; /* clamp(max): the gradient passes where the input <= max */
    }
    /* pos_j = sum_{j' >= j} g_j'  =>  dg_j' = sum_{j <= j'} dpos_j; then through the sigmoid */
    double acc = 0;
    for (int64_t j = 0; j < n; j++) {
        acc += da[j];
        da[j] = (float)acc * (1.0f - g[j]) * g[j];
    }
    for (int k = 0; k < P; k++) {
        if (dli[k] == 0.0f)
            continue;
        const float *e = c->emb + (int64_t)k * c->D;
        for (int d = 0; d < c->D; d++)
            dq[d] += dli[k] * e[d];
        if (c->demb)
            for (int d = 0; d < c->D; d++)
                c->demb[(int64_t)k * c->D + d] += dli[k] * q[d];
    }
}
