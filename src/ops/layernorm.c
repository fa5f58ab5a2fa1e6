/* LayerNorm as x-transformers 2.x defines it (reference B.2): no bias, eps 1e-5,
 * unit-offset gain (the stored gamma starts at 0 and the scale is gamma + 1).
 * Statistics in double: the fp32 reference's own error is what the golden
 * tolerances are made of, so the closer to exact the better. */
#include <math.h>

#include "ops/ops.h"

static void layernorm_row(float *restrict y, float *mean, float *rstd, const float *restrict x,
                          const float *restrict gamma, int64_t C) {
    double m = 0, v = 0;
#pragma omp simd reduction(+ : m)
    for (int64_t c = 0; c < C; c++)
        m += x[c];
    m /= (double)C;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < C; c++)
        v += (x[c] - m) * (x[c] - m);
    v /= (double)C;
    double r = 1.0 / sqrt(v + 1e-5);
#pragma omp simd
    for (int64_t c = 0; c < C; c++)
        y[c] = (float)((x[c] - m) * r * (1.0 + (double)gamma[c]));
    if (mean)
        *mean = (float)m;
    if (rstd)
        *rstd = (float)r;
}

void xtc_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma, int64_t N,
                           int64_t C) {
    if (N * C <= 32768) { /* a few rows (decoding, maybe inside a parallel region): no team to start */
        for (int64_t i = 0; i < N; i++)
            layernorm_row(out + i * C, mean ? mean + i : NULL, rstd ? rstd + i : NULL, inp + i * C, gamma, C);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++)
        layernorm_row(out + i * C, mean ? mean + i : NULL, rstd ? rstd + i : NULL, inp + i * C, gamma, C);
}

void xtc_layernorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp, const float *gamma,
                            const float *mean, const float *rstd, int64_t N, int64_t C) {
    /* y = xhat * (1 + gamma), xhat = (x - mean) * rstd
     * dgamma += dy * xhat;  dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * (1 + gamma) */
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * C, *dy = dout + i * C;
        double m = mean[i], r = rstd[i], s1 = 0, s2 = 0;
        for (int64_t c = 0; c < C; c++) {
            double dxh = dy[c] * (1.0 + (double)gamma[c]);
            s1 += dxh;
            s2 += dxh * (x[c] - m) * r;
        }
        s1 /= (double)C;
        s2 /= (double)C;
        float *dx = dinp + i * C;
        for (int64_t c = 0; c < C; c++) {
            double xh = (x[c] - m) * r;
            double dxh = dy[c] * (1.0 + (double)gamma[c]);
            dx[c] += (float)(r * (dxh - s1 - xh * s2));
        }
    }
    /* parameter grad: a second loop over rows per feature, so threads never share a write */
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t c = 0; c < C; c++) {
        double g = 0;
        for (int64_t i = 0; i < N; i++)
            g += (double)dout[i * C + c] * (inp[i * C + c] - mean[i]) * rstd[i];
        dgamma[c] += (float)g;
    }
}
