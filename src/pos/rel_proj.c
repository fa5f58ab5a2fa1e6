/* Relative projection position bias (x-transformers RelativeProjPositionalBias, attn_use_rel_proj_pos_bias):
 * each attention layer projects its query input x (B, T, C) to weights w = x A^T + a, (B, T, H, R)
 * for R distance basis curves, and query row (b, h, t) gets the curve
 *     curve[d] = sum_r w[b, t, h, r] * bank[r, d]      (bank: (R, max_dist), learned),
 * added to the logit of every key at distance d = pos_q - pos_k in [0, max_dist) (0 elsewhere:
 * future keys and keys too far back). Only distances below S can occur, so W = min(max_dist, S)
 * of them are computed; the attention kernels read the curves (attn/attention.h). */
#include <string.h>

#include "pos/pos.h"

void xtc_relproj_curves_bh(float *curves, const float *w, const float *bank, int64_t b, int h, int64_t T, int H, int R,
                           int64_t max_dist, int64_t W) {
    for (int64_t t = 0; t < T; t++) {
        const float *wr = w + ((b * T + t) * H + h) * R;
        float *c = curves + ((b * H + h) * T + t) * W;
        memset(c, 0, sizeof(float) * (size_t)W);
        for (int r = 0; r < R; r++) {
            const float a = wr[r], *br = bank + r * max_dist;
            for (int64_t d = 0; d < W; d++)
                c[d] += a * br[d];
        }
    }
}

void xtc_relproj_curves(float *curves, const float *w, const float *bank, int64_t B, int64_t T, int H, int R,
                        int64_t max_dist, int64_t W) {
    for (int64_t b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            xtc_relproj_curves_bh(curves, w, bank, b, h, T, H, R, max_dist, W);
}

void xtc_relproj_backward(float *dw, float *dbank, const float *dcurves, const float *w, const float *bank, int64_t B,
                          int64_t T, int H, int R, int64_t max_dist, int64_t W) {
    for (int64_t b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                const float *wr = w + ((b * T + t) * H + h) * R;
                const float *dc = dcurves + ((b * H + h) * T + t) * W;
                float *dwr = dw + ((b * T + t) * H + h) * R;
                for (int r = 0; r < R; r++) {
                    const float *br = bank + r * max_dist;
                    float *dbr = dbank ? dbank + r * max_dist : NULL;
                    double acc = 0;
                    for (int64_t d = 0; d < W; d++) {
                        acc += (double)dc[d] * br[d];
                        if (dbr)
                            dbr[d] += wr[r] * dc[d];
                    }
                    dwr[r] = (float)acc;
                }
            }
}
