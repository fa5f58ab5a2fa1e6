/* RMSNorm as x-transformers defines it (reference B.2): x / max(||x||, 1e-12)
 * * sqrt(C) * (1 + g). Not the eps-inside-the-sqrt RMSNorm of Llama. */
#include <math.h>
#include <stdbool.h>

#include "ops/ops.h"

static void rmsnorm_row(float *restrict y, float *rnorm, const float *restrict x, const float *restrict g,
                        int64_t C) {
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < C; c++)
        ss += (double)x[c] * x[c];
    double norm = sqrt(ss), scale = sqrt((double)C);
    double r = 1.0 / (norm > 1e-12 ? norm : 1e-12);
#pragma omp simd
    for (int64_t c = 0; c < C; c++)
        y[c] = (float)(x[c] * r * scale * (1.0 + (double)g[c]));
    if (rnorm)
        *rnorm = (float)r;
}

void xtc_rmsnorm_forward(float *out, float *rnorm, const float *inp, const float *g, int64_t N, int64_t C) {
    if (N * C <= 32768) { /* a few rows (decoding, maybe inside a parallel region): no team to start */
        for (int64_t i = 0; i < N; i++)
            rmsnorm_row(out + i * C, rnorm ? rnorm + i : NULL, inp + i * C, g, C);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++)
        rmsnorm_row(out + i * C, rnorm ? rnorm + i : NULL, inp + i * C, g, C);
}

void xtc_l2norm_rows(float *x, int64_t N, int64_t C) {
    for (int64_t i = 0; i < N; i++) {
        float *row = x + i * C;
        double ss = 0;
        for (int64_t c = 0; c < C; c++)
            ss += (double)row[c] * row[c];
        double norm = sqrt(ss);
        double r = 1.0 / (norm > 1e-12 ? norm : 1e-12);
        for (int64_t c = 0; c < C; c++)
            row[c] = (float)(row[c] * r);
    }
}

void xtc_rmsnorm_backward(float *dinp, float *dg, const float *dout, const float *inp, const float *g,
                          const float *rnorm, int64_t N, int64_t C) {
    /* y = x * r * sqrt(C) * (1 + g), r = 1 / ||x|| (constant once the 1e-12 clamp is active)
     * dx = sqrt(C) * r * (dy (1+g) - x r^2 sum(dy (1+g) x)) */
    double scale = sqrt((double)C);
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * C, *dy = dout + i * C;
        double r = rnorm[i], dot = 0, ss = 0;
        for (int64_t c = 0; c < C; c++) {
            dot += dy[c] * (1.0 + (double)g[c]) * x[c];
            ss += (double)x[c] * x[c];
        }
        bool clamped = sqrt(ss) <= 1e-12;
        float *dx = dinp + i * C;
        for (int64_t c = 0; c < C; c++) {
            double v = dy[c] * (1.0 + (double)g[c]);
            if (!clamped)
                v -= x[c] * r * r * dot;
            dx[c] += (float)(scale * r * v);
        }
    }
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t i = 0; i < N; i++)
            s += (double)dout[i * C + c] * inp[i * C + c] * rnorm[i] * scale;
        dg[c] += (float)s;
    }
}

void xtc_l2norm_backward(float *dx, const float *x, int64_t N, int64_t C) {
    /* y = x / n  =>  dx = (dy - y (y . dy)) / n, n = max(||x||, 1e-12) */
    for (int64_t i = 0; i < N; i++) {
        const float *row = x + i * C;
        float *d = dx + i * C;
        double ss = 0, dot = 0;
        for (int64_t c = 0; c < C; c++)
            ss += (double)row[c] * row[c];
        double n = sqrt(ss);
        bool clamped = n <= 1e-12;
        n = clamped ? 1e-12 : n;
        for (int64_t c = 0; c < C; c++)
            dot += (double)d[c] * row[c] / n;
        for (int64_t c = 0; c < C; c++)
            d[c] = (float)((d[c] - (clamped ? 0.0 : row[c] / n * dot)) / n);
    }
}
