/* ALiBi (Press et al. 2021), x-transformers AlibiPositionalBias: head h < n_alibi
 * gets bias -slope_h * |k_pos - q_pos|; the remaining heads get 0. Slopes for a
 * power-of-two count n are 2^(-8(h+1)/n); otherwise those of the largest power
 * of two c below n, followed by every other slope of 2c (reference B.5), unless
 * rel_pos_kwargs gives the slopes.
 * Positions: right-aligned (XL memories at 0..M-1, queries after them), or the
 * forward's explicit `pos` (AttentionLayers hands them to ALiBi as custom positions). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/status.h"
#include "pos/pos.h"
#include "xtc/config.h"

static double pow2_slope(int n, int h) {
    /* start = 2 ** (-2 ** -(log2(n) - 3)); slope_h = start ** (h + 1) */
    double start = pow(2.0, -pow(2.0, -(log2((double)n) - 3.0)));
    return pow(start, h + 1);
}

void xtc_alibi_slopes(float *slopes, int n_alibi, int n_heads) {
    int c = 1;
    while (c * 2 <= n_alibi)
        c *= 2;
    for (int h = 0; h < n_heads; h++) {
        double s = 0;
        if (h < c)
            s = pow2_slope(c, h);
        else if (h < n_alibi)
            s = pow2_slope(2 * c, 2 * (h - c));
        slopes[h] = (float)s;
    }
}

static bool enabled(const struct xtc_layers_config *c) { return c->alibi; }

static xtc_status init(struct xtc_pos_bias *pb, const struct xtc_layers_config *c, struct xtc_error *err) {
    pb->slopes = malloc(sizeof(float) * (size_t)c->heads);
    if (!pb->slopes)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the ALiBi slopes");
    if (c->alibi_n_slopes > 0) { /* rel_pos_kwargs slopes: their count, not alibi_num_heads, decides (pad_at_dim) */
        for (int h = 0; h < c->heads; h++)
            pb->slopes[h] = h < c->alibi_n_slopes ? c->alibi_slopes[h] : 0.0f;
    } else {
        xtc_alibi_slopes(pb->slopes, c->alibi_num_heads, c->heads);
    }
    return XTC_OK;
}

static void add_row(const struct xtc_attn_bias *a, int h, int64_t qp, const int64_t *kp, int64_t k0, int64_t n,
                    int64_t S, float *row) {
    (void)S;
    float slope = a->data[h];
    if (slope == 0.0f)
        return;
    if (kp) {
        for (int64_t j = 0; j < n; j++)
            row[j] -= slope * (float)llabs(kp[j] - qp);
    } else if (llabs(k0 - qp) + n < (1 << 24)) {
        /* the distances in int32 and float are exact below 2^24 (the same values as llabs), and
         * the loop vectorizes: it runs over every visible key of every query row */
        const int32_t d0 = (int32_t)(k0 - qp);
        for (int32_t j = 0; j < (int32_t)n; j++)
            row[j] -= slope * fabsf((float)(d0 + j));
    } else {
        for (int64_t j = 0; j < n; j++)
            row[j] -= slope * (float)llabs(k0 + j - qp);
    }
}

const struct xtc_bias_scheme xtc_alibi_scheme = {
    .name = "ALiBi", .takes_explicit_pos = true, .enabled = enabled, .init = init, .add_row = add_row,
};
